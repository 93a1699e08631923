"""Read indexed clips into int16 batches (soundfile, fast path for 16 kHz mono PCM_16).

A clip that cannot be read is reported by path and reason, never dropped silently:
:func:`read_clips` returns the errors, :func:`load_split_audio` raises or warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf

from kws.audio import read_audio
from kws.data.index import CLIP_SAMPLES, SAMPLE_RATE_HZ, Clip, DatasetIndex, check_split
from kws.errors import AudioError, DataError, KwsError

READ_THREADS = 2
"""Threads reading WAV files (libsndfile runs without the GIL; 2 = this project's CI cores)."""


def read_clip(clip: Clip, clip_samples: int = CLIP_SAMPLES) -> np.ndarray:
    """Samples [start, start + clip_samples) of ``clip.path`` times ``clip.volume``.

    Returns int16 (clip_samples,), zero-padded at the end when the file is shorter; a
    volume other than 1 is applied with rounding and clipping. 16 kHz mono PCM_16 files are
    read directly; anything else goes through kws.audio.read_audio (resample, downmix).
    Raises AudioError naming the file when it is missing, corrupt or empty.
    """
    path = str(clip.path)
    try:
        with sf.SoundFile(path) as fh:
            fast = (fh.samplerate == SAMPLE_RATE_HZ and fh.channels == 1
                    and fh.subtype == "PCM_16")
            if fast:
                if clip.start:
                    fh.seek(clip.start)
                data = fh.read(frames=clip_samples, dtype="int16")
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"{path}: not a readable audio file ({detail})") from None
    if not fast:
        data = read_audio(path, SAMPLE_RATE_HZ)[clip.start:clip.start + clip_samples]
    if data.size == 0:
        raise AudioError(f"{path}: no samples at {clip.start} (empty or too short)")
    out = np.zeros(clip_samples, dtype=np.int16)
    out[:data.size] = data
    if clip.volume != 1.0:
        out = np.clip(np.rint(out * np.float32(clip.volume)), -32768, 32767).astype(np.int16)
    return out


def read_clips(clips: Sequence[Clip], clip_samples: int = CLIP_SAMPLES,
               threads: int = READ_THREADS) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Read many clips on ``threads`` threads.

    Returns (audio int16 (len(clips), clip_samples), errors): errors lists (row, message) of
    the clips that could not be read; their rows are zeros, the caller drops them.
    """
    audio = np.zeros((len(clips), clip_samples), dtype=np.int16)
    errors: list[tuple[int, str]] = []

    def one(i: int) -> None:
        try:
            audio[i] = read_clip(clips[i], clip_samples)
        except KwsError as exc:
            errors.append((i, str(exc)))

    if threads <= 1 or len(clips) < 2:
        for i in range(len(clips)):
            one(i)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, range(len(clips))))
    return audio, sorted(errors)


def load_split_audio(index: DatasetIndex, split: str, *, skip_unreadable: bool = False,
                     clip_samples: int = CLIP_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """All clips of ``split`` in memory, for per-epoch augmentation.

    Returns (audio int16 (N, clip_samples) at 16 kHz, labels int64 (N,) in 0..11), in index
    order. An unreadable clip raises DataError listing every bad file; with
    ``skip_unreadable=True`` they are dropped and named in a warning instead.
    (The full v0.02 train split is ~85k clips = 2.7 GB of int16.)
    """
    clips = index.split(split)
    audio, errors = read_clips(clips, clip_samples)
    labels = index.labels(split)
    if errors:
        listing = "; ".join(message for _, message in errors)
        if not skip_unreadable:
            raise DataError(f"{len(errors)} unreadable clips in {split}: {listing}")
        warnings.warn(f"skipped {len(errors)} unreadable clips in {split}: {listing}",
                      stacklevel=2)
        keep = np.ones(len(clips), dtype=bool)
        keep[[i for i, _ in errors]] = False
        audio, labels = audio[keep], labels[keep]
    return audio, labels


def load_noise(index: DatasetIndex, split: str = "train") -> list[np.ndarray]:
    """The background-noise audio reserved for ``split``: one int16 (n_i,) array per
    recording (n_i >= CLIP_SAMPLES; shorter regions are left out). Pass the "train" noise to
    :class:`kws.data.Augmenter`. Raises DataError when a recording cannot be read."""
    check_split(split)
    out = []
    for region in index.noise[split]:
        length = region.stop - region.start
        if length < CLIP_SAMPLES:
            continue
        try:
            out.append(read_clip(Clip(region.path, -1, region.start), length))
        except AudioError as exc:
            raise DataError(f"background noise: {exc}") from None
    return out

"""The training examples of an epoch: clips, stream windows and mined negatives, augmented.

    training clips (int16) --voice--> voiced clips --place--> clip examples   --noise--> int16
                                           |
                                           +--strips of three--> stream windows --noise--> int16
    mined negatives (kws mine-negatives) --voice--------------------------------noise--> int16

One pipeline (kws.data.augment.Augmenter) and one random stream per example:
``example_rng(seed, epoch, i)`` with i counting clips first, then windows, then negatives.
So the examples of an epoch are a pure function of (data, settings, seed, epoch).
:class:`SpeechCommandsData` is what kws.train trains on; its ``features(split, frontend)``
gives the clean features of a whole split (validation in training, the scored splits of
kws.quantize and kws.evaluate) through the feature cache (kws.data.cache).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.config import FrontendConfig, to_dict
from kws.data.augment import Augmenter, example_rng, to_int16
from kws.data.cache import FeatureCache, audio_digest, default_cache_dir
from kws.data.clips import load_noise, load_split_audio
from kws.data.config import ADDED_LATER, DataConfig
from kws.data.index import (
    BACKGROUND_NOISE_DIR,
    CLIP_SAMPLES,
    SAMPLE_RATE_HZ,
    SILENCE_ID,
    UNKNOWN_ID,
    index_dataset,
)
from kws.data.windows import WindowMaker
from kws.errors import DataError
from kws.frontend import mfcc_batch

NEGATIVES_FORMAT = 1
"""Layout version of a mined-negatives .npz (arrays ``audio``, ``labels``, ``format``)."""


@dataclass(frozen=True)
class ClipSet:
    """Examples: audio int16 (n, clip_samples) at 16 kHz, labels int64 (n,) indexing
    kws.labels.LABELS."""

    audio: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def concat(parts: list[ClipSet]) -> ClipSet:
    """One ClipSet of several, in order."""
    return ClipSet(np.concatenate([p.audio for p in parts]),
                   np.concatenate([p.labels for p in parts]))


def load_negatives(path: str | Path) -> ClipSet:
    """A mined-negatives file (``kws mine-negatives``); DataError when unreadable or malformed."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            audio, labels, version = npz["audio"], npz["labels"], int(npz["format"])
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a mined-negatives file ({exc})") from None
    if version != NEGATIVES_FORMAT or audio.dtype != np.int16 or audio.ndim != 2 \
            or labels.shape != (audio.shape[0],):
        raise DataError(f"{path}: mined negatives must be format {NEGATIVES_FORMAT}, int16 "
                        f"(n, samples) audio and (n,) labels")
    return ClipSet(audio, labels.astype(np.int64))


def save_negatives(path: str | Path, negatives: ClipSet) -> None:
    """Write a mined-negatives file atomically."""
    import io

    from kws.fileio import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, audio=negatives.audio.astype(np.int16),
             labels=negatives.labels.astype(np.int64), format=np.int64(NEGATIVES_FORMAT))
    atomic_write_bytes(Path(path), buf.getvalue())


def epoch_examples(augmenter: Augmenter, clips: ClipSet, seed: int, epoch: int,
                   negatives: ClipSet | None = None, silence_id: int = SILENCE_ID,
                   unknown_id: int = UNKNOWN_ID) -> ClipSet:
    """Every training example of one epoch (see the module docstring).

    clips: the training clips (int16 (n, samples)); ``augmenter.config.stream_windows``
    x n stream windows follow them (labelled by kws.data.windows' rule with these ids of
    _silence_ and _unknown_), then the negatives. Returns int16 audio and labels.
    """
    cfg = augmenter.config
    n, samples = clips.audio.shape
    windows = int(round(cfg.stream_windows * n))
    extra = len(negatives) if negatives is not None else 0
    audio = np.empty((n + windows + extra, samples), dtype=np.int16)
    labels = np.empty(n + windows + extra, dtype=np.int64)
    voiced = np.empty((n, samples), dtype=np.float32)
    for i in range(n):
        voice_rng, place_rng, noise_rng = augmenter.stages(example_rng(seed, epoch, i))
        voiced[i] = augmenter.voice(clips.audio[i], voice_rng)
        x = augmenter.place(voiced[i], place_rng)
        audio[i] = to_int16(augmenter.add_noise(x, noise_rng))
    labels[:n] = clips.labels
    maker = WindowMaker(clips.labels, silence_id, unknown_id)
    for j in range(windows):
        _, place_rng, noise_rng = augmenter.stages(example_rng(seed, epoch, n + j))
        window, labels[n + j] = maker.make(voiced, place_rng)
        audio[n + j] = to_int16(augmenter.add_noise(window, noise_rng))
    for k in range(extra):
        assert negatives is not None
        voice_rng, _, noise_rng = augmenter.stages(example_rng(seed, epoch, n + windows + k))
        x = augmenter.voice(negatives.audio[k], voice_rng)
        audio[n + windows + k] = to_int16(augmenter.add_noise(x, noise_rng))
        labels[n + windows + k] = negatives.labels[k]
    return ClipSet(audio, labels)


class SpeechCommandsData:
    """The 12-class Speech Commands task of a dataset folder, as kws.train trains on it.

    Splits, _silence_ / _unknown_, augmentation, stream windows, extra clips and mined
    negatives follow ``config`` (DataConfig). ``fingerprint``: sha256 of the data settings,
    the int16 audio and labels of the train and validation splits, the training noise, the
    extra clips and the mined negatives, i.e. of exactly what training sees.
    ``feature_cache``: folder of the clean-feature cache (kws.data.FeatureCache, filled by
    ``kws prepare``) that :meth:`features` reads and fills; default :func:`default_cache_dir`.
    """

    def __init__(self, data_dir: str | Path, config: DataConfig,
                 feature_cache: str | Path | None = None) -> None:
        self.config = config
        self.feature_cache = (Path(feature_cache).expanduser() if feature_cache
                              else default_cache_dir())
        self.index = index_dataset(data_dir, config)
        self._noise = load_noise(self.index, "train")
        self.augmenter = Augmenter(config, self._noise)
        self.negatives = (load_negatives(config.hard_negatives)
                          if config.hard_negatives else None)
        self.extra = [load_negatives(path) for path in config.extra_clips]
        self._clips: dict[str, ClipSet] = {}
        self._fingerprint: str | None = None

    def clips(self, split: str) -> ClipSet:
        """The clean clips of a split (cached)."""
        if split not in self._clips:
            audio, labels = load_split_audio(self.index, split)
            self._clips[split] = ClipSet(audio, labels)
        return self._clips[split]

    def features(self, split: str, frontend: FrontendConfig) -> np.ndarray:
        """Clean int8 features of :meth:`clips` ``(split)``: (N, frames, coeffs), 49 x 10 at
        the default front end, row i the front end's codes of clip i (same order, same N).

        Read from the feature cache when it holds ``split`` for this front end and file list
        with every clip readable and computed from the same samples (its ``audio_sha256``
        against the clips'); else ``mfcc_batch(clips(split).audio, frontend)``, stored in the
        cache for next time (a cache that cannot be written only warns). Equal to
        ``mfcc_batch(self.clips(split).audio, frontend)`` either way; what the cache saves is
        the front end, not the reading of the clips. An unreadable clip raises DataError as
        :meth:`clips` does.
        """
        clips = self.clips(split)
        if frontend.sample_rate_hz != SAMPLE_RATE_HZ or frontend.clip_samples != CLIP_SAMPLES:
            # The cache holds 1-s clips at 16 kHz (what clips() reads); other front ends
            # compute from the clips.
            return mfcc_batch(clips.audio, frontend)
        cache = FeatureCache(self.index, frontend, self.feature_cache)
        hit = cache.lookup(split)
        if hit is not None and not hit.skipped and hit.audio_sha256 == audio_digest(clips.audio):
            return hit.features
        features = mfcc_batch(clips.audio, frontend)
        try:
            cache.store(split, features, clips.audio)
        except DataError as exc:
            warnings.warn(f"{exc}; features of {split} not cached", stacklevel=2)
        return features

    def word_clip_mask(self, split: str) -> np.ndarray:
        """bool (n,): True for the clips of word folders (False for cut _silence_ clips)."""
        return np.array([clip.path.parent.name != BACKGROUND_NOISE_DIR
                         for clip in self.index.split(split)])

    def epoch_examples(self, splits: tuple[str, ...], seed: int, epoch: int) -> ClipSet:
        """The augmented examples of one epoch over the clips of ``splits``."""
        clips = concat([self.clips(s) for s in splits] + self.extra)
        return epoch_examples(self.augmenter, clips, seed, epoch, self.negatives)

    @property
    def fingerprint(self) -> str:
        """16 hex digits identifying the data training sees."""
        if self._fingerprint is None:
            settings = to_dict(self.config)
            for name, off in ADDED_LATER.items():
                if settings[name] == off:
                    del settings[name]      # off: older runs keep their hash
            digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
            for split in ("train", "validation"):
                clips = self.clips(split)
                digest.update(split.encode())
                digest.update(clips.labels.astype("<i8").tobytes())
                digest.update(np.ascontiguousarray(clips.audio).astype("<i2").tobytes())
            for recording in self._noise:
                digest.update(recording.astype("<i2").tobytes())
            for extra in [*([self.negatives] if self.negatives is not None else []),
                          *self.extra]:
                digest.update(extra.labels.astype("<i8").tobytes())
                digest.update(extra.audio.astype("<i2").tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

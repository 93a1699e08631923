"""Clean (non-augmented) int8 features of each split, cached on disk.

One ``.npz`` per split under the cache folder (default ``$XDG_CACHE_HOME/kws`` or
``~/.cache/kws``), named ``<split>-<key>.npz``. The key is a sha256 of the front-end config
and of the split's file list (relative path, label, start, volume and file size of every
clip), so a change of either gives a new key and the split is rebuilt; an unchanged split is
loaded, not recomputed. Each file also records the sha256 of the int16 audio its features
were computed from (:func:`audio_digest`), so that a reader holding the clips can check that
they are the same samples (a file edited in place at the same size changes no key).
Files are written to a temporary name and renamed into place, so a
cache file is complete or absent. Old entries are never needed again and can be deleted.

Filling reads WAVs with soundfile on a background thread while the fixed-point front end
(kws.frontend.mfcc_batch, itself multi-threaded) works on the previous chunk.

``kws prepare`` fills it; ``kws train`` (validation features), ``kws quantize`` and
``kws evaluate`` (the features of the splits they score) read it through
kws.data.SpeechCommandsData.features, which computes and stores a split that is missing.
The features are the front end's on the same int16 clips either way, so a model scores the
same with or without the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from kws.config import FrontendConfig, to_dict
from kws.data.clips import read_clips
from kws.data.index import SAMPLE_RATE_HZ, DatasetIndex
from kws.data.splits import SPLITS
from kws.errors import DataError
from kws.fileio import atomic_path
from kws.frontend import mfcc_batch

CACHE_VERSION = 2
"""Bump when the file format or the meaning of cached features changes (2: ``audio_sha256``)."""
CHUNK_CLIPS = 512
"""Clips per front-end call: large enough for numpy to vectorize well (~2x faster than 128)."""
KEY_CHARS = 20
"""Hex digits of the key kept in file names (80 bits)."""


class CachedSplit(NamedTuple):
    """A split's cache entry: features int8 (N, frames, coeffs), labels int64 (N,) in 0..11,
    skipped (relative path, reason) of the clips that could not be read (N = clips -
    skipped), audio_sha256 (:func:`audio_digest` of the int16 audio of the N clips)."""

    features: np.ndarray
    labels: np.ndarray
    skipped: list[tuple[str, str]]
    audio_sha256: str


def audio_digest(audio: np.ndarray) -> str:
    """Hex sha256 of int16 audio (N, samples) as little-endian bytes, row after row."""
    digest = hashlib.sha256()
    _update_digest(digest, audio)
    return digest.hexdigest()


def _update_digest(digest: Any, audio: np.ndarray) -> None:
    digest.update(np.ascontiguousarray(audio, dtype="<i2").tobytes())


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/kws`` when set, else ``~/.cache/kws``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "kws"


class FeatureCache:
    """On-disk cache of the clean features of an indexed dataset.

    index: the DatasetIndex; frontend: the front-end config (default FrontendConfig());
    cache_dir: folder of the .npz files (default :func:`default_cache_dir`), created on
    demand; progress: show a tqdm bar on stderr while filling.
    """

    def __init__(self, index: DatasetIndex, frontend: FrontendConfig | None = None,
                 cache_dir: str | Path | None = None, *, progress: bool = False) -> None:
        self.index = index
        self.frontend = frontend or FrontendConfig()
        if self.frontend.sample_rate_hz != SAMPLE_RATE_HZ:
            raise DataError(f"frontend.sample_rate_hz={self.frontend.sample_rate_hz}: the "
                            f"Speech Commands cache needs {SAMPLE_RATE_HZ} Hz")
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.progress = progress
        self._keys: dict[str, str] = {}

    def key(self, split: str) -> str:
        """sha256 (hex) of the cache version, front-end config and file list of ``split``."""
        if split not in self._keys:
            clips = self.index.split(split)
            listing = []
            for clip in clips:
                try:
                    size = clip.path.stat().st_size
                except OSError:
                    size = -1
                listing.append([self.index.relative(clip), clip.label_id, clip.start,
                                clip.volume, size])
            blob = json.dumps({"version": CACHE_VERSION, "frontend": to_dict(self.frontend),
                               "clips": listing}, sort_keys=True, separators=(",", ":"))
            self._keys[split] = hashlib.sha256(blob.encode("utf-8")).hexdigest()
        return self._keys[split]

    def path(self, split: str) -> Path:
        """The cache file of ``split`` for the current config and file list."""
        return self.cache_dir / f"{split}-{self.key(split)[:KEY_CHARS]}.npz"

    def is_fresh(self, split: str) -> bool:
        """Whether ``split`` is cached for the current config and file list."""
        return self._load(split) is not None

    def get(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Clean features of ``split``, built and cached on first use.

        Returns (features int8 (N, frames, coeffs) — 49 x 10 at the default front end —,
        labels int64 (N,) in 0..11), in index order without the unreadable clips (see
        :meth:`skipped`).
        """
        data = self._load(split) or self._build(split)
        return data["features"], data["labels"].astype(np.int64)

    def lookup(self, split: str) -> CachedSplit | None:
        """The cached entry of ``split`` without building it, or None when it is not cached
        for the current config and file list (a damaged file warns and gives None)."""
        data = self._load(split)
        if data is None:
            return None
        return CachedSplit(
            data["features"], data["labels"].astype(np.int64),
            list(zip(data["skipped"].tolist(), data["reasons"].tolist(), strict=True)),
            str(data["audio_sha256"]))

    def store(self, split: str, features: np.ndarray, audio: np.ndarray) -> Path:
        """Write features computed elsewhere as the entry of ``split``.

        audio: int16 (N, clip_samples), every clip of ``split`` in index order (N =
        len(index.split(split))); features: int8 (N, frames, coeffs), the front end's codes
        of that audio at this front end (:func:`kws.frontend.mfcc_batch`). Returns the file
        written; DataError when a shape or dtype does not fit or it cannot be written.
        """
        clips = self.index.split(split)
        want = (len(clips), self.frontend.frames_per_clip, self.frontend.num_coeffs)
        if features.dtype != np.int8 or features.shape != want or audio.dtype != np.int16 \
                or audio.shape != (len(clips), self.frontend.clip_samples):
            raise DataError(f"cannot cache {split}: features {features.dtype} "
                            f"{features.shape} and audio {audio.dtype} {audio.shape}, expected "
                            f"int8 {want} and int16 {(len(clips), self.frontend.clip_samples)}")
        _atomic_savez(self.path(split), self._entry(split, features,
                                                    np.ones(len(clips), dtype=bool), [],
                                                    audio_digest(audio)))
        return self.path(split)

    def skipped(self, split: str) -> list[tuple[str, str]]:
        """(relative path, reason) of the clips of ``split`` that could not be read."""
        data = self._load(split) or self._build(split)
        return list(zip(data["skipped"].tolist(), data["reasons"].tolist(), strict=True))

    def fill(self, splits: Iterable[str] = SPLITS) -> dict[str, bool]:
        """Build every split that is not fresh; returns {split: True if it was (re)built}."""
        built = {}
        for split in splits:
            built[split] = self._load(split) is None
            if built[split]:
                self._build(split)
        return built

    def _load(self, split: str) -> dict[str, np.ndarray] | None:
        path = self.path(split)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {name: npz[name] for name in npz.files}
            n = len(self.index.split(split)) - data["skipped"].size
            ok = (str(data["key"]) == self.key(split) and "audio_sha256" in data
                  and data["features"].dtype == np.int8
                  and data["features"].shape[0] == data["labels"].shape[0] == n)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            warnings.warn(f"cache file {path} is unreadable ({exc}); rebuilding", stacklevel=3)
            return None
        if not ok:
            warnings.warn(f"cache file {path} does not match its key; rebuilding", stacklevel=3)
            return None
        return data

    def _build(self, split: str) -> dict[str, np.ndarray]:
        clips = self.index.split(split)
        frames, coeffs = self.frontend.frames_per_clip, self.frontend.num_coeffs
        features = np.empty((len(clips), frames, coeffs), dtype=np.int8)
        keep = np.ones(len(clips), dtype=bool)
        errors: list[tuple[int, str]] = []
        starts = range(0, len(clips), CHUNK_CLIPS)
        digest = hashlib.sha256()       # of the readable clips' audio, in index order
        bar = _progress_bar(len(clips), f"features {split}", self.progress)

        def read(start: int) -> np.ndarray:
            audio, bad = read_clips(clips[start:start + CHUNK_CLIPS],
                                    self.frontend.clip_samples)
            errors.extend((start + i, message) for i, message in bad)
            return audio

        # One reader thread reads the next chunk while the front end works on this one
        # (at most two chunks in memory).
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(read, starts[0]) if starts else None
            for k, start in enumerate(starts):
                audio = pending.result()
                pending = reader.submit(read, starts[k + 1]) if k + 1 < len(starts) else None
                features[start:start + audio.shape[0]] = mfcc_batch(audio, self.frontend)
                bad = [i - start for i, _ in errors if start <= i < start + audio.shape[0]]
                _update_digest(digest, np.delete(audio, bad, axis=0) if bad else audio)
                bar(audio.shape[0])
        bar(None)
        for i, _ in errors:
            keep[i] = False
        data = self._entry(split, features[keep], keep, errors, digest.hexdigest())
        _atomic_savez(self.path(split), data)
        return data

    def _entry(self, split: str, features: np.ndarray, keep: np.ndarray,
               errors: list[tuple[int, str]], audio_sha256: str) -> dict[str, np.ndarray]:
        """The arrays of a cache file: features int8 (kept clips, frames, coeffs) of the
        clips where ``keep`` (bool (clips,)) is True; ``errors``: (row, reason) of the rest;
        ``audio_sha256``: :func:`audio_digest` of the kept clips' audio."""
        clips = self.index.split(split)
        return {
            "features": features,
            "labels": self.index.labels(split)[keep].astype(np.int16),
            "paths": np.array([self.index.relative(c) for c, k in zip(clips, keep, strict=True)
                               if k], dtype=str),
            "skipped": np.array([self.index.relative(clips[i]) for i, _ in sorted(errors)],
                                dtype=str),
            "reasons": np.array([message for _, message in sorted(errors)], dtype=str),
            "key": np.array(self.key(split)),
            "audio_sha256": np.array(audio_sha256),
            "frontend": np.array(json.dumps(to_dict(self.frontend), sort_keys=True)),
        }


def _progress_bar(total: int, desc: str, enabled: bool) -> Callable[[int | None], None]:
    """A tqdm bar on stderr as a function: bar(n) advances, bar(None) closes."""
    if not enabled:
        return lambda n: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="clip", file=sys.stderr, leave=True)

    def step(n: int | None) -> None:
        if n is None:
            bar.close()
        else:
            bar.update(n)

    return step


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez to a temporary file in the same folder, then rename over ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError as exc:
        raise DataError(f"cannot write cache file {path}: {exc.strerror or exc}") from None

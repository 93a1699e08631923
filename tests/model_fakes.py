"""A few clips per class of the mini corpus as kws.train TrainingData (kws.data splits and
augmentation), for fast training tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from kws.data import DataConfig
from kws.train import ClipSet, SpeechCommandsData


class SmallData:
    """The first ``per_class`` clips of every class of each split (train/validation/test)."""

    def __init__(self, mini: Path, per_class: int = 6) -> None:
        self.full = SpeechCommandsData(mini, DataConfig())
        self.per_class = per_class
        self._picked: dict[str, np.ndarray] = {}

    def _pick(self, split: str) -> np.ndarray:
        if split not in self._picked:
            labels = self.full.clips(split).labels
            rows = [np.flatnonzero(labels == c)[:self.per_class] for c in np.unique(labels)]
            self._picked[split] = np.sort(np.concatenate(rows))
        return self._picked[split]

    def clips(self, split: str) -> ClipSet:
        full, rows = self.full.clips(split), self._pick(split)
        return ClipSet(full.audio[rows], full.labels[rows])

    def word_clip_mask(self, split: str) -> np.ndarray:
        return self.full.word_clip_mask(split)[self._pick(split)]

    def augment(self, audio: np.ndarray, labels: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
        return self.full.augment(audio, labels, rng)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for split in ("train", "validation"):
            digest.update(self.clips(split).audio.tobytes())
        return digest.hexdigest()[:16]

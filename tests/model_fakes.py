"""A few clips per class of the mini corpus as kws.train TrainingData (kws.data splits and
augmentation), for fast training tests: only the picked clips are read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from kws.data import Augmenter, DataConfig, index_dataset, load_noise
from kws.data.clips import read_clips
from kws.data.index import BACKGROUND_NOISE_DIR
from kws.data.training import ClipSet, concat, epoch_examples


class SmallData:
    """The first ``per_class`` clips of every class of each split (train/validation/test)."""

    def __init__(self, mini: Path, per_class: int = 6, config: DataConfig | None = None) -> None:
        config = config or DataConfig()
        self.index = index_dataset(mini, config)
        self.augmenter = Augmenter(config, load_noise(self.index, "train"))
        self.per_class = per_class
        self._sets: dict[str, tuple[ClipSet, np.ndarray]] = {}

    def _load(self, split: str) -> tuple[ClipSet, np.ndarray]:
        if split not in self._sets:
            labels = self.index.labels(split)
            rows = np.sort(np.concatenate([np.flatnonzero(labels == c)[:self.per_class]
                                           for c in np.unique(labels)]))
            clips = [self.index.split(split)[i] for i in rows]
            audio, errors = read_clips(clips)
            assert not errors, errors
            words = np.array([c.path.parent.name != BACKGROUND_NOISE_DIR for c in clips])
            self._sets[split] = (ClipSet(audio, labels[rows]), words)
        return self._sets[split]

    def clips(self, split: str) -> ClipSet:
        return self._load(split)[0]

    def word_clip_mask(self, split: str) -> np.ndarray:
        return self._load(split)[1]

    def epoch_examples(self, splits: tuple[str, ...], seed: int, epoch: int) -> ClipSet:
        return epoch_examples(self.augmenter, concat([self.clips(s) for s in splits]), seed,
                              epoch)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for split in ("train", "validation"):
            digest.update(self.clips(split).audio.tobytes())
        return digest.hexdigest()[:16]

"""Index a Speech Commands folder (original layout) into the 12-class KWS task.

Layout read (v0.01 and v0.02 alike)::

    DATA_DIR/<word>/<speaker>_nohash_<n>.wav     one-second clips, 16 kHz mono int16
    DATA_DIR/_background_noise_/*.wav            long noise recordings
    DATA_DIR/validation_list.txt, testing_list.txt

Words of :data:`kws.labels.KEYWORDS` keep their class; every other word is ``_unknown_``.
``_silence_`` clips are cut from the background-noise recordings. Each recording is divided
in time between the splits (first 80 %, next 10 %, last 10 % at the default percentages), so
a test ``_silence_`` clip never shares audio with training silence or training noise.
Everything is deterministic: sorted file names and numpy Generators seeded from
``DataConfig.seed``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from kws.data.config import DataConfig
from kws.data.splits import (
    ALL_SPLITS,
    LIST_FILES,
    SPLITS,
    TUNING,
    in_tuning,
    read_split_list,
    speaker_of,
    which_set,
)
from kws.errors import DataError
from kws.labels import KEYWORDS, LABELS, SILENCE, UNKNOWN

SAMPLE_RATE_HZ = 16000
"""Sample rate of every Speech Commands recording."""
CLIP_SAMPLES = 16000
"""One clip = 1 s at 16 kHz; shorter clips are zero-padded at the end (as TensorFlow does)."""
BACKGROUND_NOISE_DIR = "_background_noise_"
"""Folder of the long noise recordings (silence clips and augmentation noise)."""
SILENCE_ID = LABELS.index(SILENCE)
UNKNOWN_ID = LABELS.index(UNKNOWN)
_SPLIT_STREAM = {"train": 0, "validation": 1, "test": 2, TUNING: 3}
"""Per-split random streams: Generator([seed, purpose, split]) so splits do not interact."""
_UNKNOWN_PURPOSE, _SILENCE_PURPOSE = 1, 2


class Clip(NamedTuple):
    """One classifier example: ``CLIP_SAMPLES`` samples of ``path`` from ``start``, times
    ``volume``. Word clips have start 0 and volume 1.0; a ``_silence_`` clip is a cut of a
    background-noise recording (start in samples, volume a linear gain in [0, 1])."""

    path: Path
    label_id: int
    start: int = 0
    volume: float = 1.0


class NoiseRegion(NamedTuple):
    """Samples [start, stop) of one background-noise recording, reserved for one split."""

    path: Path
    start: int
    stop: int


@dataclasses.dataclass(frozen=True)
class DatasetIndex:
    """The indexed dataset: per split, a tuple of :class:`Clip`, and the noise regions.

    ``clips[split]``: word clips sorted by relative path, then the ``_silence_`` clips.
    ``noise[split]``: the part of every background recording that belongs to ``split``.
    ``split_source``: "lists" (validation_list.txt / testing_list.txt) or "hash".
    """

    root: Path
    config: DataConfig
    clips: Mapping[str, tuple[Clip, ...]]
    noise: Mapping[str, tuple[NoiseRegion, ...]]
    split_source: str

    def split(self, split: str) -> tuple[Clip, ...]:
        """The clips of ``split`` ("train", "validation", "test" or "tuning")."""
        check_split(split)
        return self.clips[split]

    def labels(self, split: str) -> np.ndarray:
        """Class ids of ``split``: int64 (N,), values in 0..11 (index into kws.labels.LABELS)."""
        return np.array([c.label_id for c in self.split(split)], dtype=np.int64)

    def class_counts(self, split: str) -> np.ndarray:
        """Clips per class of ``split``: int64 (12,), in kws.labels.LABELS order."""
        return np.bincount(self.labels(split), minlength=len(LABELS)).astype(np.int64)

    def speakers(self, split: str) -> set[str]:
        """Speaker ids of the word clips of ``split`` (silence clips have no speaker)."""
        return {speaker_of(c.path) for c in self.split(split) if c.label_id != SILENCE_ID}

    def relative(self, clip: Clip) -> str:
        """``clip.path`` relative to the dataset folder, POSIX style ("yes/x_nohash_0.wav")."""
        return clip.path.relative_to(self.root).as_posix()


def check_split(split: str) -> None:
    """Raise DataError unless ``split`` is one of ALL_SPLITS."""
    if split not in ALL_SPLITS:
        raise DataError(f"unknown split {split!r} (expected one of {', '.join(ALL_SPLITS)})")


def label_of(word: str) -> int:
    """Class id of a dataset word folder: its keyword id, else the _unknown_ id."""
    return KEYWORDS.index(word) if word in KEYWORDS else UNKNOWN_ID


def index_dataset(data_dir: str | Path, config: DataConfig | None = None) -> DatasetIndex:
    """Index ``data_dir`` (Speech Commands layout) into train/validation/test clips.

    Splits come from validation_list.txt / testing_list.txt when both exist, else from the
    hash rule with ``config.validation_percent`` / ``config.testing_percent``. Unknown words
    are sampled to ``config.unknown_share`` (None keeps all); ``config.silence_share`` of
    ``_silence_`` clips is cut from ``_background_noise_``. Raises DataError for a missing
    folder, a folder without clips, one list file without the other, list entries that name
    absent clips or a clip listed twice, unusable background-noise recordings, and a word
    folder, clip, list file or noise folder that is a link leading outside ``data_dir``
    (a hostile archive must not make kws read files elsewhere), and an ``exclude_words``
    entry with no folder; the clips of ``config.exclude_words`` are in no split.
    """
    config = config or DataConfig()
    root = Path(data_dir).expanduser().absolute()
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist (run 'kws download' first)")
    words = _word_clips(root)
    _check_inside(root, [root / name for name in LIST_FILES.values()]
                  + [root / BACKGROUND_NOISE_DIR])
    if not words:
        raise DataError(f"{root} has no <word>/*.wav clips: not a Speech Commands folder")
    assignment, source = _assign_splits(root, words, config)
    if config.exclude_words:          # after the lists, which name every clip
        present = {rel.split("/", 1)[0] for rel in words}
        absent = [w for w in config.exclude_words if w not in present]
        if absent:
            raise DataError(f"exclude_words: {root} has no word folder {absent[0]!r}")
        words = {rel: label for rel, label in words.items()
                 if rel.split("/", 1)[0] not in config.exclude_words}

    if config.tuning_percent is not None:
        for rel, split in assignment.items():
            if split == "validation" and in_tuning(rel, config.tuning_percent):
                assignment[rel] = TUNING
    clips: dict[str, list[Clip]] = {s: [] for s in ALL_SPLITS}
    for rel, label_id in words.items():
        clips[assignment[rel]].append(Clip(root / rel, label_id))
    noise = _noise_regions(root, config)
    final: dict[str, tuple[Clip, ...]] = {}
    for split in ALL_SPLITS:
        kept = _sample_unknown(clips[split], config, split)
        kept += _cut_silence(noise[split], math.ceil(config.silence_share * len(kept)),
                             config, split, root)
        final[split] = tuple(kept)
    return DatasetIndex(root=root, config=config, clips=final, noise=noise,
                        split_source=source)


def _word_clips(root: Path) -> dict[str, int]:
    """{relative path: label id} of every <word>/*.wav, sorted by path.

    Raises DataError for a word folder or clip that is a link leading outside ``root``.
    """
    found: dict[str, int] = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith(("_", ".")):
            continue
        if entry.is_symlink():
            _check_inside(root, [Path(entry.path)])
        label_id = label_of(entry.name)
        for item in sorted(os.scandir(entry.path), key=lambda e: e.name):
            if item.name.lower().endswith(".wav") and item.is_file():
                if item.is_symlink():
                    _check_inside(root, [Path(item.path)])
                found[f"{entry.name}/{item.name}"] = label_id
    return found


def _check_inside(root: Path, paths: list[Path]) -> None:
    """Raise DataError if one of ``paths`` (under ``root``) really lies outside ``root``."""
    real_root = os.path.realpath(root)
    for path in paths:
        if not os.path.lexists(path):
            continue
        real = os.path.realpath(path)
        if os.path.commonpath([real, real_root]) != real_root:
            raise DataError(f"{path} leads to {real}, outside the dataset folder {root}; "
                            "refusing to read it (remove the link)")


def _assign_splits(root: Path, words: Mapping[str, int],
                   config: DataConfig) -> tuple[dict[str, str], str]:
    present = {split: (root / name).is_file() for split, name in LIST_FILES.items()}
    if not any(present.values()):
        return ({rel: which_set(rel, config.validation_percent, config.testing_percent)
                 for rel in words}, "hash")
    if not all(present.values()):
        have = [LIST_FILES[s] for s, ok in present.items() if ok]
        miss = [LIST_FILES[s] for s, ok in present.items() if not ok]
        raise DataError(f"{root} has {have[0]} but not {miss[0]}: add it, or remove both to "
                        "split by the hash rule")
    assignment = dict.fromkeys(words, "train")
    for split, name in LIST_FILES.items():
        entries = read_split_list(root / name)
        missing = [e for e in entries if e not in words]
        if missing:
            raise DataError(f"{root / name} names {len(missing)} clips that are not in {root} "
                            f"(first: {missing[0]}); is the dataset incomplete?")
        for entry in entries:
            if assignment[entry] != "train":
                raise DataError(f"{entry} is listed in both {LIST_FILES['validation']} and "
                                f"{LIST_FILES['test']}")
            assignment[entry] = split
    return assignment, "lists"


def _noise_regions(root: Path, config: DataConfig) -> dict[str, tuple[NoiseRegion, ...]]:
    folder = root / BACKGROUND_NOISE_DIR
    regions: dict[str, list[NoiseRegion]] = {s: [] for s in ALL_SPLITS}
    if not folder.is_dir():
        return {s: () for s in ALL_SPLITS}
    train_share = (100.0 - config.validation_percent - config.testing_percent) / 100.0
    for path in sorted(folder.glob("*.wav")):
        if path.is_symlink():
            _check_inside(root, [path])
        try:
            info = sf.info(str(path))
        except (RuntimeError, OSError, sf.SoundFileError) as exc:
            raise DataError(f"background noise {path} is not readable audio "
                            f"({str(exc).splitlines()[0]})") from None
        if info.samplerate != SAMPLE_RATE_HZ:
            raise DataError(f"background noise {path} is {info.samplerate} Hz, expected "
                            f"{SAMPLE_RATE_HZ}")
        bounds = [0, round(info.frames * train_share),
                  round(info.frames * (train_share + config.validation_percent / 100.0)),
                  info.frames]
        for split, start, stop in zip(SPLITS, bounds[:-1], bounds[1:], strict=True):
            if split == "validation" and config.tuning_percent is not None:
                # the tuning split takes the second half of the validation part
                middle = (start + stop) // 2
                regions[TUNING].append(NoiseRegion(path, middle, stop))
                stop = middle
            regions[split].append(NoiseRegion(path, start, stop))
    return {s: tuple(r) for s, r in regions.items()}


def _sample_unknown(clips: list[Clip], config: DataConfig, split: str) -> list[Clip]:
    """Keep ceil(unknown_share x keyword clips) unknown clips (all when share is None)."""
    if config.unknown_share is None:
        return list(clips)
    unknown = [i for i, c in enumerate(clips) if c.label_id == UNKNOWN_ID]
    keywords = len(clips) - len(unknown)
    wanted = math.ceil(config.unknown_share * keywords)
    if wanted >= len(unknown):
        return list(clips)
    rng = np.random.default_rng([config.seed, _UNKNOWN_PURPOSE, _SPLIT_STREAM[split]])
    dropped = set(np.asarray(unknown)[rng.permutation(len(unknown))[wanted:]].tolist())
    return [c for i, c in enumerate(clips) if i not in dropped]


def _cut_silence(regions: tuple[NoiseRegion, ...], count: int, config: DataConfig,
                 split: str, root: Path) -> list[Clip]:
    """``count`` _silence_ clips: random noise region, random start, random volume."""
    if count == 0:
        return []
    usable = [r for r in regions if r.stop - r.start >= CLIP_SAMPLES]
    if not usable:
        raise DataError(f"{root / BACKGROUND_NOISE_DIR} has no recording long enough to cut "
                        f"{split} _silence_ clips (set data.silence_share: 0 to go without)")
    rng = np.random.default_rng([config.seed, _SILENCE_PURPOSE, _SPLIT_STREAM[split]])
    low, high = config.silence_volume_range
    out = []
    for _ in range(count):
        region = usable[int(rng.integers(len(usable)))]
        start = int(rng.integers(region.start, region.stop - CLIP_SAMPLES + 1))
        volume = round(float(rng.uniform(low, high)), 6)
        out.append(Clip(region.path, SILENCE_ID, start, volume))
    return out

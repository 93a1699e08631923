"""Train / validation / test membership of a Speech Commands clip.

Two sources, as in the dataset itself: the list files shipped with it
(``validation_list.txt``, ``testing_list.txt``; every other clip is training), or, when they
are missing, the dataset's own hash rule (``which_set`` of the Speech Commands README and of
TensorFlow's ``speech_commands/input_data.py``): the speaker part of the file name is hashed,
so a speaker's clips always land in the same split, and adding clips never moves old ones.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from kws.errors import DataError

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names, in the order every table and cache lists them."""
TUNING = "tuning"
"""The optional fourth split: validation speakers held out for detector tuning
(DataConfig.tuning_percent); empty unless that is set."""
ALL_SPLITS: tuple[str, ...] = (*SPLITS, TUNING)
_TUNING_SALT = "kws-tuning"
"""Salt of the tuning hash, so that it is independent of the dataset's own split hash."""
LIST_FILES: dict[str, str] = {"validation": "validation_list.txt", "test": "testing_list.txt"}
"""The dataset's list file of each held-out split (paths relative to the dataset folder)."""
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1
"""The hash rule's modulus (~134M), exactly as in the dataset README: keep it, or every
published split changes. (The code takes sha1 % (this + 1), then scales by 100 / this.)"""
_NOHASH = re.compile(r"_nohash_.*$")


def speaker_of(filename: str | Path) -> str:
    """The speaker id of a clip: its file name up to ``_nohash_`` ("c50f55b8_nohash_0.wav" ->
    "c50f55b8"); a name without ``_nohash_`` is its own speaker."""
    return _NOHASH.sub("", Path(filename).name)


def hash_percentage(filename: str | Path) -> float:
    """The hash rule's position of a clip's speaker, a float in [0, 100]."""
    digest = hashlib.sha1(speaker_of(filename).encode("utf-8")).hexdigest()
    return (int(digest, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)


def in_tuning(filename: str | Path, percent: float) -> bool:
    """Whether a validation clip's speaker belongs to the tuning split: a salted sha1 of the
    speaker id, as a position in [0, 100), below ``percent``. Deterministic per speaker."""
    digest = hashlib.sha1(f"{_TUNING_SALT}/{speaker_of(filename)}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32 * 100.0 < percent


def which_set(filename: str | Path, validation_percent: float, testing_percent: float) -> str:
    """Split of a clip by the Speech Commands hash rule: "validation" below
    ``validation_percent``, "test" below ``validation_percent + testing_percent``, else
    "train". Deterministic; depends on the speaker part of the name only."""
    percentage = hash_percentage(filename)
    if percentage < validation_percent:
        return "validation"
    if percentage < validation_percent + testing_percent:
        return "test"
    return "train"


def read_split_list(path: Path) -> list[str]:
    """Entries of a list file: relative POSIX paths like "yes/0a7c2a8d_nohash_0.wav".

    Blank lines are skipped; a "./" prefix and Windows separators are normalized. Raises
    DataError for an unreadable file or an entry that is absolute or contains "..".
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read split list {path}: {exc}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip().replace("\\", "/")
        if not entry:
            continue
        while entry.startswith("./"):
            entry = entry[2:]
        if entry.startswith("/") or ".." in entry.split("/"):
            raise DataError(f"{path}:{number}: entry {entry!r} must be relative, without '..'")
        entries.append(entry)
    return entries

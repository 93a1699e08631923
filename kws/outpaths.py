"""Output paths of the commands: checked before the long work, written through kws.fileio.

A command that will write ``--out`` calls :func:`check_out_file` (or :func:`check_out_dir`)
first, so a missing folder, a folder where a file belongs (or the reverse) or a read-only
folder is a one-line :class:`kws.errors.ConfigError` before any training, scoring or
recording starts, not a traceback after it. :func:`writing` turns an OSError of the write
itself (disk full, a folder removed meanwhile) into the same kind of one-line error, and
:func:`write_wav` is kws.audio.write_wav (atomic) with that conversion.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kws.errors import ConfigError
from kws.fileio import remove_stale_temps


def _writable_folder(folder: Path, path: Path, option: str) -> None:
    if not folder.exists():
        raise ConfigError(f"{option} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: folder {folder} is not writable")


def check_out_file(path: str | Path, option: str = "--out") -> Path:
    """``path`` if a file can be written there: its folder exists and is writable, and
    ``path`` is not a folder or a device; ConfigError naming the option otherwise.
    Temporaries that killed kws runs left in the folder are removed."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder, expected a file name")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{option} {path}: exists and is not a regular file")
    folder = path.parent
    _writable_folder(folder, path, option)
    remove_stale_temps(folder)
    return path


def check_out_dir(path: str | Path, option: str = "--out") -> Path:
    """``path`` created as a folder (with its missing parents) if it can be: not a file, and
    its nearest existing ancestor a writable folder; ConfigError naming the option otherwise.
    Temporaries that killed kws runs left in it are removed."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is a file, expected a folder")
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{option} {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: folder {ancestor} is not writable")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create the folder ({exc.strerror})"
                          ) from None
    remove_stale_temps(path)
    return path


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an OSError raised inside the block into a ConfigError naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None



def write_wav(path: str | Path, samples: np.ndarray, rate_hz: int = 16000) -> None:
    """kws.audio.write_wav (atomic, through kws.fileio), an OSError as a one-line error."""
    from kws.audio import write_wav as _write_wav

    with writing(path):
        _write_wav(path, samples, rate_hz)

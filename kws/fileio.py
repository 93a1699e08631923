"""Atomic file writes: a synced temporary file beside the target, then a rename.

A reader never sees a half-written file, and a crash leaves the old file (or none). Every
temporary name is hidden and carries the marker ``.kws-tmp-`` and the writer's process id, so
that :func:`remove_stale_temps` can delete what an earlier, killed run left behind.

Public API
----------
``atomic_write_bytes(path, payload)`` / ``atomic_write_text(path, text)``
``atomic_path(path)``: a context manager that yields a temporary path beside ``path`` for a
    library that writes files itself (matplotlib, soundfile, numpy); on a clean exit the file
    is synced and renamed onto ``path``, on an exception it is removed.
``temp_name(path)``: the temporary path these use for ``path``.
``remove_stale_temps(folder)``: delete temporaries in ``folder`` whose writer is gone.
``pid_alive(pid)``: whether the process that wrote a temporary still runs.
``write_synced(path, payload)`` / ``fsync_dir(folder)``: the two durable steps that staged
    publications (kws.publish, the exporter) build on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

TEMP_MARKER = ".kws-tmp-"
"""Every temporary file or folder kws writes is named ``.<target name>.kws-tmp-<pid>-<hex>``."""


def temp_name(path: Path) -> Path:
    """A fresh hidden temporary path in the folder of ``path`` (same file system)."""
    path = Path(path)
    return path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_synced(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` (not atomically) and fsync it before returning."""
    with open(path, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(folder: Path) -> None:
    """fsync a folder so that the renames into it survive a power cut (best effort: file
    systems that cannot sync a folder are left as they are)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a synced temporary file and a rename."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write text (UTF-8) to ``path`` atomically (temporary file, fsync, rename)."""
    atomic_write_bytes(path, text.encode())


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``path``, on error it is removed.

    The temporary path keeps the suffix of ``path`` (``.png``, ``.wav``, ``.npz``) so that
    libraries choosing a format by extension write the right one.
    """
    path = Path(path)
    tmp = temp_name(path)
    tmp = tmp.with_name(tmp.name + path.suffix)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (this process counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete the temporary files and folders in ``folder`` left by kws runs that are gone.

    A temporary whose writer process still runs is kept. Returns the paths removed.
    """
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        name = entry.name
        if not name.startswith(".") or TEMP_MARKER not in name:
            continue
        pid_text = name.split(TEMP_MARKER, 1)[1].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed

"""Publish several files into a folder as one set: a reader finds all the new ones or none.

    stage   folder/.kws-publish-<pid>-<hex>/   each file written and synced there
    mark    <staging>/.kws-complete            the list of names, written last (a rename)
    move    os.replace each file into folder, then the staging folder is removed

A run killed before the mark leaves an incomplete staging folder beside the old set:
:func:`recover_published_set` deletes it (the folder keeps the old set). A run killed after
the mark, half-way through the moves, leaves a complete staging folder: the recovery finishes
the moves (the folder gets the whole new set). Every command that reads such a set (``kws
quantize``, ``kws export`` on a run's model) calls :func:`recover_published_set` on its folder
first. A staging folder whose writer still runs is left alone.

The staging name deliberately lacks kws.fileio's ``.kws-tmp-`` marker: ``remove_stale_temps``
must never delete a complete staging folder, which holds the only copy of the files not yet
moved.

Public API
----------
``publishing(folder)``: a context manager yielding a :class:`Publication`; ``write`` files into
    it (``path`` gives where a staged file is, to read it back before publishing); a clean exit
    publishes the set, an exception deletes the staging.
``publish_files(folder, {name: bytes})``: the same in one call.
``recover_published_set(folder)``: finish or delete what killed publications left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from kws.errors import KwsError
from kws.fileio import fsync_dir, pid_alive, write_synced

STAGING_PREFIX = ".kws-publish-"
"""Staging folders are named ``.kws-publish-<pid>-<hex>`` (pid: the writing process)."""
COMPLETE_NAME = ".kws-complete"
"""The marker inside a staging folder, written last: JSON ``{"files": [names]}``."""


def _check_name(name: str) -> None:
    if name in ("", ".", "..") or name != Path(name).name or name.startswith(COMPLETE_NAME):
        raise KwsError(f"cannot publish {name!r}: a set holds plain file names")


class Publication:
    """A staging folder being filled; see :func:`publishing`."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.staging = self.folder / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []
        os.mkdir(self.staging)

    def path(self, name: str) -> Path:
        """Where the staged file ``name`` is (valid until the set is published)."""
        _check_name(name)
        return self.staging / name

    def write(self, name: str, payload: bytes) -> Path:
        """Stage ``payload`` as ``name`` (synced); returns the staged path."""
        path = self.path(name)
        write_synced(path, payload)
        if name not in self.names:
            self.names.append(name)
        return path

    def commit(self) -> list[Path]:
        """Mark the staging complete, move every file into place, remove the staging.
        Returns the published paths."""
        marker = self.staging / f"{COMPLETE_NAME}.partial"
        write_synced(marker, json.dumps({"files": self.names}).encode())
        os.replace(marker, self.staging / COMPLETE_NAME)
        fsync_dir(self.staging)
        _finish(self.folder, self.staging, self.names)
        return [self.folder / name for name in self.names]

    def abort(self) -> None:
        """Delete the staging folder (the folder keeps its old files)."""
        shutil.rmtree(self.staging, ignore_errors=True)


def _finish(folder: Path, staging: Path, names: list[str]) -> list[Path]:
    moved = []
    for name in names:
        source = staging / name
        if source.exists():
            os.replace(source, folder / name)
            moved.append(folder / name)
    fsync_dir(folder)
    shutil.rmtree(staging, ignore_errors=True)
    return moved


@contextlib.contextmanager
def publishing(folder: str | Path) -> Iterator[Publication]:
    """Stage files in a hidden folder inside ``folder``; publish them as a set on a clean exit,
    delete the staging on an exception (the old files stay)."""
    pub = Publication(Path(folder))
    try:
        yield pub
        pub.commit()
    except BaseException:
        pub.abort()
        raise


def publish_files(folder: str | Path, files: Mapping[str, bytes]) -> list[Path]:
    """Replace ``folder/name`` by ``payload`` for every item of ``files``, as one set."""
    for name in files:
        _check_name(name)
    with publishing(folder) as pub:
        for name, payload in files.items():
            pub.write(name, payload)
    return [Path(folder) / name for name in files]


def _complete_names(staging: Path) -> list[str] | None:
    try:
        names = json.loads((staging / COMPLETE_NAME).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    try:
        for name in names:
            _check_name(name)
    except KwsError:
        return None
    return names


def recover_published_set(folder: str | Path) -> list[Path]:
    """Finish the publications in ``folder`` that were killed after their staging was complete
    and delete those killed before; staging folders of live processes are left alone.

    Returns the files moved into place (empty when there was nothing to finish).
    """
    folder = Path(folder)
    moved: list[Path] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return moved
    for entry in entries:
        if not entry.name.startswith(STAGING_PREFIX) or entry.is_symlink() or \
                not entry.is_dir():
            continue
        pid_text = entry.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        names = _complete_names(entry)
        if names is None:
            shutil.rmtree(entry, ignore_errors=True)
        else:
            moved += _finish(folder, entry, names)
    return moved

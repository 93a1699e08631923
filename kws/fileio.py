"""Atomic file writes: a synced temporary file beside the target, then a rename.

A reader never sees a half-written file, and a crash leaves the old file (or none).
"""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a synced temporary file and a rename."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to ``path`` atomically (temporary file, fsync, rename)."""
    atomic_write_bytes(path, text.encode())

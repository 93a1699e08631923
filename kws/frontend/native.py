"""The C front end compiled for this machine: the same integers as numpy, much faster.

firmware_export/c/kws_frontend.c (the code that runs on the board) and the tables generated
for a FrontendConfig (:mod:`kws.frontend.c_tables`) are compiled once with the host C compiler
into a shared library under the user cache (``$XDG_CACHE_HOME/kws/native``, keyed by a hash of
sources and config) and called through ctypes. Tests prove it equal to the numpy front end on
the whole mini corpus; :func:`kws.frontend.mfcc.frames_to_features` uses it when a compiler is
present (set ``KWS_FRONTEND=numpy`` to force numpy).

Why it reads C files from firmware_export/c: that is the one copy of the board's C front end
(the exporter ships it, the C tests and the Cortex-M4 build compile it), and the point of this
backend is to compute features with exactly the code the board runs. It reads them as data
files (package data of firmware_export) and imports nothing from firmware_export.

Failures (no compiler, a compile error, a library built for another configuration, the
library's platform self-check) raise :class:`kws.errors.BuildError`.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from kws.config import FrontendConfig, to_dict
from kws.errors import BuildError
from kws.frontend.c_tables import render_frontend_tables

_HERE = Path(__file__).resolve().parent
_C_DIR = _HERE.parent.parent / "firmware_export" / "c"
_SOURCES = (_C_DIR / "kws_frontend.c", _C_DIR / "kws_frontend.h", _HERE / "native_batch.c")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kws" / "native"


def compiler() -> str | None:
    """The host C compiler used for the native front end (``$CC``, cc or gcc), or None."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    return None


def available() -> bool:
    """True when the native front end can be used: sources present, a compiler on PATH, and
    not disabled by ``KWS_FRONTEND=numpy``."""
    return (os.environ.get("KWS_FRONTEND", "auto") != "numpy"
            and all(p.is_file() for p in _SOURCES) and compiler() is not None)


@functools.lru_cache(maxsize=4)
def load(config: FrontendConfig) -> ctypes.CDLL:
    """Build (once, cached on disk) and load the library for ``config``."""
    cc = compiler()
    if cc is None:
        raise BuildError("no C compiler (cc or gcc) found for the native front end")
    tables = render_frontend_tables(config)
    digest = hashlib.sha256(repr(sorted(to_dict(config).items())).encode())
    for path in _SOURCES:
        digest.update(path.read_bytes())
    for name in sorted(tables):
        digest.update(tables[name].encode())
    target = _cache_dir() / f"kws_frontend_{digest.hexdigest()[:20]}.so"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            for name, text in tables.items():
                Path(tmp, name).write_text(text)
            c_files = [str(p) for p in _SOURCES if p.suffix == ".c"]
            c_files += [str(Path(tmp, n)) for n in tables if n.endswith(".c")]
            out = Path(tmp, target.name)
            proc = subprocess.run(
                [cc, "-std=c99", "-O2", "-shared", "-fPIC", f"-I{_C_DIR}", f"-I{tmp}",
                 *c_files, "-o", str(out)], capture_output=True, text=True)
            if proc.returncode != 0:
                first = (proc.stderr.strip().splitlines() or ["unknown error"])[0]
                raise BuildError(f"building the native front end failed: {first}")
            os.replace(out, target)  # atomic: a half-built library is never loaded
    lib = ctypes.CDLL(str(target))
    lib.kws_native_frames.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    lib.kws_native_frames.restype = ctypes.c_int
    if (lib.kws_native_window_samples() != config.window_samples
            or lib.kws_native_num_coeffs() != config.num_coeffs):
        raise BuildError(f"native front end {target} was built for another configuration")
    return lib


def native_frames_to_features(frames: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """int8 (F, num_coeffs) codes of int16 frames (F, window_samples) via the C front end.

    ctypes releases the GIL during the call, so callers may run blocks on several threads.
    """
    lib = load(config)
    frames = np.ascontiguousarray(frames, dtype=np.int16)
    out = np.empty((frames.shape[0], config.num_coeffs), dtype=np.int8)
    rc = lib.kws_native_frames(frames.ctypes.data, frames.shape[0], out.ctypes.data)
    if rc != 0:
        raise BuildError(f"native front end failed with code {rc}")
    return out

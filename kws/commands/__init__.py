"""Sub-commands of the ``kws`` command line, one module each (see kws.cli).

Also the one place that knows which optional dependency comes with which extra of
pyproject.toml, and how to install it (:func:`missing_extra_message`).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlparse

from kws.errors import KwsError

OPTIONAL_MODULES: dict[str, tuple[str, str]] = {
    "tensorflow": ("TensorFlow", "train"),
    "keras": ("TensorFlow", "train"),
    "tflite_micro": ("TFLite Micro", "micro"),
}
"""Top-level module -> (what it is, the pyproject extra that installs it). The ``train``
extra also holds TFLite Micro, so one line installs everything the user's path needs."""


class MissingExtraError(KwsError):
    """An optional dependency of the command is not installed."""


def install_command(extra: str) -> str:
    """The pip line that adds ``extra`` to this installation of kws.

    A checkout installed with ``pip install -e .`` gets ``pip install -e '.[extra]'`` (the
    folder spelled out when it is not the current one), a non-editable install from a
    folder ``pip install '.[extra]'``, anything else ``pip install 'kws[extra]'``.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        info = json.loads(distribution("kws").read_text("direct_url.json") or "{}")
    except (PackageNotFoundError, ValueError):
        info = {}
    url = urlparse(str(info.get("url", "")))
    checkout = Path(__file__).resolve().parents[2]
    if url.scheme == "file":
        folder = Path(unquote(url.path))
        editable = bool(info.get("dir_info", {}).get("editable"))
    elif not info and (checkout / "pyproject.toml").is_file():  # run from a checkout
        folder, editable = checkout, True
    else:
        return f"pip install 'kws[{extra}]'"
    try:
        same = folder.resolve() == Path(os.getcwd()).resolve()
    except OSError:
        same = False
    where = "." if same else str(folder)
    return f"pip install {'-e ' if editable else ''}'{where}[{extra}]'"


def missing_extra_message(module: str | None) -> str | None:
    """One line for a missing optional module (None when ``module`` is not one of them)."""
    root = (module or "").split(".")[0]
    if root not in OPTIONAL_MODULES:
        return None
    what, extra = OPTIONAL_MODULES[root]
    return (f"needs {what}: Python module '{root}' is not installed; it comes with the "
            f"'{extra}' extra: {install_command(extra)}")


def require_module(module: str) -> None:
    """Raise MissingExtraError (one line with the pip command) unless ``module`` imports."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(missing_extra_message(module) or f"needs module {module!r}")


TENSORFLOW_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|rebuild TensorFlow "
    r"with the appropriate compiler flags|To enable the following instructions|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered|"
    r"Could not find cuda drivers|TF-TRT Warning")
"""Lines TensorFlow's native libraries write to stderr when they load, whatever
TF_CPP_MIN_LOG_LEVEL says (absl logs them before its own initialisation): CPU features,
oneDNN, missing CUDA. Nothing a user can act on."""



@contextlib.contextmanager
def stderr_without_tensorflow_noise() -> Iterator[None]:
    """Capture file descriptor 2 (the native libraries write there directly) in a temporary
    file, then write every line that is not TENSORFLOW_NOISE back to stderr. Nested uses
    capture once."""
    global _capturing
    if _capturing:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    _capturing = True
    try:
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                captured.seek(0)
                kept = [line for line in
                        captured.read().decode(errors="replace").splitlines(True)
                        if not TENSORFLOW_NOISE.search(line)]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()
    finally:
        os.close(saved)
        _capturing = False


_capturing = False


class _QuietLoader(importlib.abc.Loader):
    """A module loader that runs the real one with stderr_without_tensorflow_noise."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with stderr_without_tensorflow_noise():
            self._loader.exec_module(module)
        with contextlib.suppress(ImportError):  # Python's absl logging: errors only
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` and ``keras`` as usual, and loads them quietly (_QuietLoader)."""

    MODULES = frozenset({"tensorflow", "keras"})

    def find_spec(self, name: str, path: Any = None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if name not in self.MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def filter_tensorflow_noise() -> None:
    """From now on, TensorFlow and Keras load with their start-up chatter filtered out of
    stderr (CPU features, oneDNN: lines absl writes before its initialisation, whatever
    TF_CPP_MIN_LOG_LEVEL says). Imports nothing; idempotent."""
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())

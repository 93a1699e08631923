"""Sub-commands of the ``kws`` command line, one module each (see kws.cli).

The table of optional dependencies and their pip lines is kws.extras' (shared with the
TFLite Micro child, kws.micro); its names are re-exported here for the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from kws.extras import (
    OPTIONAL_MODULES,
    MissingExtraError,
    install_command,
    missing_extra_message,
    require_module,
)

__all__ = ["OPTIONAL_MODULES", "TENSORFLOW_NOISE", "MissingExtraError",
           "add_feature_cache_option", "filter_tensorflow_noise", "install_command",
           "missing_extra_message", "require_module", "stderr_without_tensorflow_noise"]

def add_feature_cache_option(parser: argparse.ArgumentParser) -> None:
    """``--feature-cache DIR``: the clean-feature cache (kws.data.FeatureCache) that
    ``kws prepare`` fills and ``kws train`` / ``quantize`` / ``evaluate`` read and fill."""
    from kws.data.cache import default_cache_dir

    parser.add_argument("--feature-cache", type=Path, metavar="DIR",
                        help="clean-feature cache of 'kws prepare' (its --cache), read for the "
                             "split features and filled when missing (default: "
                             f"{default_cache_dir()})")


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

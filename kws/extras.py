"""The optional dependencies of kws: which extra of pyproject.toml installs each, and the pip
line that adds it to this installation.

One table (:data:`OPTIONAL_MODULES`) for every layer that has to say what is missing: the
command line (kws.cli, kws.commands) and the TFLite Micro child process (kws.micro), which
is a program of its own. Standard library only, so any module may import it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
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
    checkout = Path(__file__).resolve().parents[1]   # kws/extras.py -> the checkout
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

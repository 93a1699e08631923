"""Layers run one way: what every module of kws/ and firmware_export/ imports, read with ast.

Every import counts, at module level or inside a function (a lazy import is still an arrow).
Below its command line, kws is the ground floor of firmware_export and data_scripts, never the
other way round; no import (not even a lazy one) leads from the runtime or the exporter to the
TensorFlow side (kws.quantize, kws.train). That the runtime path loads no TensorFlow when it
runs is tests/test_runtime.py's test_runtime_and_listen_path_do_not_import_tensorflow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("kws", "firmware_export", "data_scripts")


def module_name(path: Path) -> str:
    """Dotted module name of a file under the repository (``kws/frontend/__init__.py`` ->
    ``kws.frontend``)."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module the Python ``source`` of ``module`` imports (absolute names; relative
    imports resolved; for ``from a import b`` both ``a`` and ``a.b``, since b may be a
    submodule)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def imported_modules(path: Path) -> set[str]:
    """:func:`imports_of` the file ``path`` of the repository."""
    return imports_of(path.read_text(encoding="utf-8"), module_name(path),
                      path.name == "__init__.py")


def modules_of(*packages: str) -> dict[str, set[str]]:
    """{file path relative to the repository: imported modules} of every .py in packages."""
    return {path.relative_to(REPO).as_posix(): imported_modules(path)
            for package in packages for path in sorted((REPO / package).rglob("*.py"))}


def importers(target: str, *packages: str) -> list[str]:
    """Files of ``packages`` that import ``target`` or one of its submodules."""
    return sorted(path for path, mods in modules_of(*packages).items()
                  if any(m == target or m.startswith(target + ".") for m in mods))


def test_the_parser_sees_module_level_lazy_and_relative_imports() -> None:
    source = ("import os.path\nfrom . import x\nfrom ..y import z\n"
              "def f():\n    from kws.a import b\n")
    assert imports_of(source, "kws.frontend.probe") == {
        "os.path", "kws.frontend", "kws.frontend.x", "kws.y", "kws.y.z", "kws.a", "kws.a.b"}
    assert "kws.frontend.c_tables" in imported_modules(REPO / "kws" / "frontend" / "native.py")


COMMAND_LAYER = ("kws/cli.py", "kws/commands/")
"""The top floor of kws: the command line, which may use firmware_export and data_scripts."""


@pytest.mark.parametrize("upper", ["firmware_export", "data_scripts"])
def test_kws_imports_nothing_of_firmware_export_or_data_scripts(upper: str) -> None:
    """Below its command line, kws is the ground firmware_export and data_scripts stand on."""
    assert [p for p in importers(upper, "kws") if not p.startswith(COMMAND_LAYER)] == []


def reachable(start: str) -> set[str]:
    """Modules of the packages that ``start`` reaches through imports (any import, lazy ones
    too), plus any tensorflow / keras module on the way."""
    graph = {module_name(REPO / path): mods for path, mods in modules_of(*PACKAGES).items()}
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [m for m in graph.get(name, ())
                 if m in graph or m.split(".")[0] in ("tensorflow", "keras")]
    return seen


TENSORFLOW_SIDE = ("kws.quantize", "kws.train", "tensorflow", "keras")


@pytest.mark.parametrize("start", ["kws.runtime", "kws.stream", "kws.listen", "kws.model_edit",
                                   "kws.frontend", "firmware_export.export"])
def test_the_runtime_and_export_path_reach_no_tensorflow_side(start: str) -> None:
    """Not even a lazy import leads from the runtime or the exporter to kws.quantize,
    kws.train or TensorFlow: they edit models through kws.model_edit."""
    assert [m for m in reachable(start) if m.startswith(TENSORFLOW_SIDE)] == []


def test_evaluate_reaches_keras_only_for_a_float_model() -> None:
    """kws.evaluate loads a run's model.keras (through kws.run) for the float accuracy, and
    never the quantizer or the trainer."""
    assert [m for m in reachable("kws.evaluate")
            if m.startswith(("kws.quantize", "kws.train", "tensorflow"))] == []


def test_model_edit_stands_below_the_runtime() -> None:
    """kws.model_edit (no TensorFlow) imports neither the runtime nor the quantizer."""
    mods = imported_modules(REPO / "kws" / "model_edit.py")
    assert not {m for m in mods if m.split(".")[0] in ("tensorflow", "keras")}
    assert not {m for m in mods if m.startswith(("kws.runtime", "kws.quantize"))}


def test_the_frontend_imports_only_the_ground_floor() -> None:
    """kws.frontend builds on kws.config, kws.errors, kws.fileio and kws.validate only."""
    allowed = ("kws.frontend", "kws.config", "kws.errors", "kws.fileio", "kws.validate")
    for path, mods in modules_of("kws/frontend").items():
        ours = {m for m in mods if m.split(".")[0] == "kws"}
        assert all(m.startswith(allowed) for m in ours), (path, sorted(ours))

"""kws.extras: one table of optional dependencies, below the command line.

The command line (kws.commands) and the TFLite Micro child (kws.micro) give the same install
hint from it; no module under the command line imports kws.commands or kws.cli to get it.
"""

from __future__ import annotations

from test_layers import COMMAND_LAYER, REPO, imported_modules, importers

import kws.commands
import kws.extras


def test_nothing_below_the_command_line_imports_it() -> None:
    """kws.micro (and every other module under kws/ outside the command line) reaches the
    table of extras through kws.extras, never through kws.commands or kws.cli."""
    for upper in ("kws.commands", "kws.cli"):
        assert [p for p in importers(upper, "kws") if not p.startswith(COMMAND_LAYER)] == []
    assert "kws.extras" in imported_modules(REPO / "kws" / "micro.py")


def test_extras_is_ground_floor() -> None:
    """kws.extras imports only the standard library and kws.errors."""
    ours = {m for m in imported_modules(REPO / "kws" / "extras.py") if m.startswith("kws")}
    assert ours <= {"kws.errors", "kws.errors.KwsError"}


def test_the_command_line_re_exports_the_one_table() -> None:
    assert kws.commands.OPTIONAL_MODULES is kws.extras.OPTIONAL_MODULES
    assert kws.commands.missing_extra_message is kws.extras.missing_extra_message
    assert kws.commands.MissingExtraError is kws.extras.MissingExtraError
    assert kws.extras.missing_extra_message("tflite_micro") == (
        "needs TFLite Micro: Python module 'tflite_micro' is not installed; it comes with the "
        f"'micro' extra: {kws.extras.install_command('micro')}")

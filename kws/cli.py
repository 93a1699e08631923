"""The ``kws`` command: one sub-command per job, each defined in its own module.

Every sub-command module has ``register(subparsers)``, which adds its parser and sets
``func`` (args -> exit code). KwsError becomes a one-line message and exit code 2; so does a
missing optional dependency (TensorFlow, TFLite Micro), with the pip line that installs it.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any

from kws.commands import filter_tensorflow_noise, missing_extra_message
from kws.errors import KwsError

COMMAND_MODULES = [
    "kws.commands.download",
    "kws.commands.prepare",
    "kws.commands.features",
    "kws.commands.train",
    "kws.commands.quantize",
    "kws.commands.tune_detector",
    "kws.commands.evaluate",
    "kws.commands.evaluate_stream",
    "kws.commands.make_stream",
    "kws.commands.listen",
    "kws.commands.detect",
    "kws.commands.export",
    "kws.commands.measure_board",
    "kws.commands.mine_negatives",
    "kws.commands.synth_unknown",
    "kws.commands.wakeword",
    "kws.commands.record",
]
"""Modules that define sub-commands, in the order ``kws --help`` lists them (the user's
path first, then the tools in between)."""

INSTALL_ROOT = Path(__file__).resolve().parent.parent
"""The folder that holds the ``kws`` package: the checkout, or site-packages."""

_SAYS_DEFAULT = re.compile(r"\(default\b|\bdefault:|; default\b|\bby default\b",
                           re.IGNORECASE)
"""Help text that already states its default (then nothing is appended)."""


def _shown_default(value: Any) -> Any:
    """A default as a user types it: paths of the kws installation relative to it, lists
    space-separated (an empty one: none), floats without a trailing ``.0``."""
    if isinstance(value, Path) and value.is_absolute():
        try:
            return f"{value.resolve().relative_to(INSTALL_ROOT)}, shipped with kws"
        except ValueError:
            return str(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        return " ".join(str(_shown_default(v)) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return value


class HelpFormatter(argparse.HelpFormatter):
    """Shows every option's default: appends ``(default: X)`` unless the help states it
    (``(default: none)`` for an option that is simply not set), and renders the value the
    way it is typed (see _shown_default), never as a Python repr."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (action.help is argparse.SUPPRESS or _SAYS_DEFAULT.search(text)
                or action.default is argparse.SUPPRESS or action.required or action.nargs == 0
                or (not action.option_strings and action.nargs not in ("?", "*"))):
            return action.help
        if action.default is None:
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"

    def _expand_help(self, action: argparse.Action) -> str:
        shown = _shown_default(action.default)
        if shown is not action.default:
            action = copy.copy(action)
            action.default = shown
        return super()._expand_help(action)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help shows every default (sub-commands inherit it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def package_version() -> str:
    """The installed distribution's version (package metadata), else kws.__version__."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kws")
    except PackageNotFoundError:
        from kws import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``kws`` with every sub-command registered."""
    parser = _Parser(
        prog="kws", description="Keyword spotting that fits on a microcontroller. The user's "
                                "path: download, prepare, train, quantize, evaluate, listen, "
                                "export ('kws COMMAND --help' for each).")
    parser.add_argument("--version", action="version", version=f"kws {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


EXIT_BROKEN_PIPE = 141
"""Exit code when the reader of stdout went away (``kws ... | head``): 128 + SIGPIPE, what
the shell reports for a program the signal ended."""

TENSORFLOW_QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR"}
"""Environment that keeps TensorFlow's INFO and WARNING log lines off the terminal; set
before any command imports TensorFlow. A value the user exported wins."""




def quiet_tensorflow() -> None:
    """Set TENSORFLOW_QUIET and filter TensorFlow's load-time chatter, should a command
    import it (kws.commands.filter_tensorflow_noise); imports nothing heavy."""
    for name, value in TENSORFLOW_QUIET.items():
        os.environ.setdefault(name, value)
    filter_tensorflow_noise()


def _one_line(message: str) -> str:
    """The message on one line (an error quoting a file's text may carry newlines)."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _stdout_gone() -> int:
    """After a BrokenPipeError: point stdout at /dev/null, so that the flush at interpreter
    exit does not fail a second time ("Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kws`` console script; returns the process exit code."""
    quiet_tensorflow()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        if not argv:                    # a bare ``kws``: the full help, not a usage error
            parser.print_help()
            return 0
        args = parser.parse_args(argv)
    except BrokenPipeError:             # --help into a closed pipe
        return _stdout_gone()
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()              # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _stdout_gone()
    except KwsError as exc:
        print(f"kws {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        message = missing_extra_message(exc.name)
        if message is None:
            raise
        print(f"kws {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kws {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

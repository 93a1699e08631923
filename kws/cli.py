"""The ``kws`` command: one sub-command per job, each defined in its own module.

Every sub-command module has ``register(subparsers)``, which adds its parser and sets
``func`` (args -> exit code). KwsError becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from kws.errors import KwsError

COMMAND_MODULES = [
    "kws.commands.features",
    "kws.commands.train",
    "kws.commands.quantize",
    "kws.commands.tune_detector",
    "kws.commands.mine_negatives",
    "kws.commands.synth_unknown",
    "kws.commands.evaluate",
    "kws.commands.download",
    "kws.commands.prepare",
    "kws.commands.listen",
    "kws.commands.detect",
    "kws.commands.evaluate_stream",
    "kws.commands.make_stream",
    "kws.commands.export",
]
"""Modules that define sub-commands, in the order ``kws --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``kws`` with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="kws", description="Keyword spotting that fits on a microcontroller.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


EXIT_BROKEN_PIPE = 141
"""Exit code when the reader of stdout went away (``kws ... | head``): 128 + SIGPIPE, what
the shell reports for a program the signal ended."""


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
    try:
        args = build_parser().parse_args(argv)
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
    except KeyboardInterrupt:
        print(f"kws {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``kws`` command: one sub-command per job, each defined in its own module.

Every sub-command module has ``register(subparsers)``, which adds its parser and sets
``func`` (args -> exit code). KwsError becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kws`` console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KwsError as exc:
        print(f"kws {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kws {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``kws make-stream``: a long test recording of keywords among other words and noise."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``make-stream`` sub-command (the same as python -m data_scripts.make_stream)."""
    from data_scripts import make_stream

    p = sub.add_parser(
        "make-stream", help="build a test recording and its truth CSV from Speech Commands",
        description=make_stream.__doc__.splitlines()[0] if make_stream.__doc__ else None)
    make_stream.add_arguments(p)
    p.set_defaults(func=make_stream.run)

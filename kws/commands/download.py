"""``kws download``: fetch, verify and extract Speech Commands (see data_scripts)."""

from __future__ import annotations

import argparse

from data_scripts import download_speech_commands as script


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``download`` sub-command."""
    p = sub.add_parser("download", help="download and extract Google Speech Commands",
                       description="Download Google Speech Commands (resumable, sha256-checked, "
                                   "with a stall time-out and an overall deadline) and extract "
                                   "it safely (links resolved, size and member count bounded); "
                                   "a second run does nothing. See docs/download.md.")
    script.add_arguments(p)
    p.set_defaults(func=script.run)

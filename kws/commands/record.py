"""``kws record PHRASE --count N --out DIR``: your own takes of a wake phrase, checked."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``record`` sub-command."""
    p = sub.add_parser(
        "record", help="record takes of a wake phrase through the microphone",
        description="Prompt for PHRASE COUNT times, record one window per take from the "
                    "microphone, cut it to the spoken part, check length, level, clipping "
                    "and background noise (a refused take is said why and recorded again), "
                    "and save 16 kHz mono WAVs into DIR for 'kws wakeword PHRASE "
                    "--recordings DIR'.")
    p.add_argument("phrase", help="the wake phrase")
    p.add_argument("--count", type=int, default=20, help="takes to keep (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="folder of the WAV files")
    p.add_argument("--seconds", type=float, default=2.5,
                   help="length of each take's window in seconds (default: %(default)s)")
    p.add_argument("--device", default=None,
                   help="input device index or name (see kws listen --list-devices)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kws.record import record_takes
    from kws.sources import MicrophoneSource

    device = int(args.device) if args.device is not None and args.device.isdigit() \
        else args.device
    with MicrophoneSource(device=device) as mic:
        written = record_takes(mic, args.phrase, args.count, args.out, args.seconds,
                               say=lambda line: print(line, flush=True))
    print(f"{len(written)} takes in {args.out}: kws wakeword {args.phrase!r} --out runs/NAME "
          f"--recordings {args.out}")
    return 0

"""``kws synth-unknown --out FILE``: synthetic other words (espeak-ng) for _unknown_."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``synth-unknown`` sub-command."""
    p = sub.add_parser(
        "synth-unknown", help="synthetic words that are not keywords, for _unknown_",
        description="Speak random words of kws/data/words_en.txt (none a keyword nor sounding "
                    "like one) with espeak-ng in random English voices, rates and pitches, "
                    "as 1-s 16 kHz clips labelled _unknown_, for data.extra_clips of a "
                    "training config.")
    p.add_argument("--out", type=Path, required=True, help="output .npz")
    p.add_argument("--count", type=int, default=2000, help="clips (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from kws.data.synth import espeak_version, synth_words
    from kws.data.training import ClipSet, save_negatives
    from kws.errors import DataError
    from kws.labels import LABELS, UNKNOWN

    if args.count < 1:
        raise DataError(f"--count {args.count} must be at least 1")
    audio, _ = synth_words(args.count, args.seed, progress=True)
    save_negatives(args.out, ClipSet(audio, np.full(args.count, LABELS.index(UNKNOWN))))
    print(f"{args.out}: {args.count} synthetic _unknown_ clips ({espeak_version()})")
    return 0

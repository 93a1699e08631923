"""``kws mine-negatives MODEL --data DIR --out FILE``: hard negatives for training."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``mine-negatives`` sub-command."""
    from kws.mining import MiningSpec

    d = MiningSpec()
    p = sub.add_parser(
        "mine-negatives", help="windows of training-split streams where a model false-accepts",
        description="Build streams from the TRAINING split, run MODEL with its detector at a "
                    "lowered threshold, and save the 1-s windows of every false accept "
                    "(labelled by the stream-window rule of kws.data.windows) for "
                    "data.hard_negatives of a training config.")
    p.add_argument("model", type=Path, help="the model that false-accepts (.tflite)")
    p.add_argument("--data", type=Path, required=True, help="Speech Commands folder")
    p.add_argument("--out", type=Path, required=True, help="output .npz")
    p.add_argument("--minutes", type=float, default=d.minutes,
                   help="length of each stream (default: %(default)s)")
    p.add_argument("--snr", type=float, nargs="+", default=list(d.snrs_db),
                   help="one stream per SNR in dB (default: %(default)s)")
    p.add_argument("--threshold-margin", type=int, default=d.threshold_margin,
                   help="lower the model's threshold by this much (default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from kws.data.training import save_negatives
    from kws.labels import LABELS
    from kws.mining import MiningSpec, mine
    from kws.stream import load_classifier

    spec = MiningSpec(minutes=args.minutes, snrs_db=tuple(args.snr),
                      threshold_margin=args.threshold_margin, seed=args.seed)
    found = mine(load_classifier(args.model), args.data, spec,
                 progress=lambda m: print(m, flush=True))
    save_negatives(args.out, found)
    counts = np.bincount(found.labels, minlength=len(LABELS))
    print(f"{args.out}: {len(found)} windows (" + ", ".join(
        f"{LABELS[i]} {int(c)}" for i, c in enumerate(counts) if c) + ")")
    return 0

"""``kws evaluate MODEL``: accuracy, per-class accuracy, confusion matrix, TFLite Micro check."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    p = sub.add_parser("evaluate", help="accuracy of an int8 model on a split (+ TFLite Micro)",
                       description="Evaluate an int8 .tflite on a dataset split: float (if "
                                   "model.keras sits beside it) and int8 accuracy, per-class "
                                   "accuracy, confusion matrix PNG, LiteRT vs TFLite Micro "
                                   "outputs and the smallest tensor arena.")
    p.add_argument("model", type=Path, help="int8 .tflite with kws metadata")
    p.add_argument("--data", type=Path, required=True, help="Speech Commands folder")
    p.add_argument("--split", choices=("train", "validation", "test"), default="test",
                   help="dataset split (default: %(default)s)")
    p.add_argument("--out", type=Path, help="folder for the PNG and JSON (default: beside "
                                            "the model)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # only used for a float model
    from kws.evaluate import evaluate, format_report

    result = evaluate(args.model, args.data, args.split, args.out)
    print(format_report(result.report))
    print(f"wrote {result.out_dir / f'confusion_{args.split}.png'} and "
          f"{result.out_dir / f'evaluation_{args.split}.json'}")
    return 0

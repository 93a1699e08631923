"""``kws evaluate MODEL``: accuracy, per-class accuracy, confusion matrix, TFLite Micro check."""

from __future__ import annotations

import argparse
from pathlib import Path

from kws.commands import add_feature_cache_option, require_module

PACKAGE_DIR = Path(__file__).resolve().parent.parent
"""The installed ``kws`` package: its models are never written beside (kws/assets is the
package's data, not a work folder)."""


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
                                            "the model; the current folder for a model "
                                            "shipped inside the kws package)")
    add_feature_cache_option(p)
    p.set_defaults(func=run)


def default_out_dir(model: Path) -> Path | None:
    """None (beside the model), or the current folder for a model inside the package."""
    try:
        model.resolve().relative_to(PACKAGE_DIR)
    except (OSError, ValueError):
        return None
    return Path.cwd()


def run(args: argparse.Namespace) -> int:
    require_module("tflite_micro")
    from kws.evaluate import evaluate, format_report

    out = args.out if args.out is not None else default_out_dir(args.model)
    result = evaluate(args.model, args.data, args.split, out,
                      feature_cache=args.feature_cache)
    print(format_report(result.report))
    print(f"wrote {result.out_dir / f'confusion_{args.split}.png'} and "
          f"{result.out_dir / f'evaluation_{args.split}.json'}")
    return 0

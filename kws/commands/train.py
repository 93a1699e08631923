"""``kws train``: train a DS-CNN on Speech Commands into a run folder (needs TensorFlow)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kws.commands import add_feature_cache_option, require_module


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    p = sub.add_parser("train", help="train a DS-CNN (checkpoints each epoch, --resume)",
                       description="Train a DS-CNN from a config into a run folder.")
    p.add_argument("--config", type=Path, required=True,
                   help="YAML with model/train (and optional frontend/data) sections")
    p.add_argument("--data", type=Path, required=True, help="Speech Commands folder")
    p.add_argument("--out", type=Path, required=True, help="run folder, e.g. runs/NAME")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out from its last checkpoint")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--seed", type=int, help="override train.seed")
    p.add_argument("--warmup-epochs", type=int, metavar="N",
                   help="override train.warmup_epochs (epochs of learning-rate warm-up; "
                        "by default an --epochs at or below it shortens it to --epochs - 1)")
    p.add_argument("--cache", type=Path,
                   help="folder that keeps augmented epoch features for reuse across runs")
    add_feature_cache_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    require_module("tensorflow")        # before the run folder is made
    from kws.train import train

    result = train(args.config, args.data, args.out, resume=args.resume, epochs=args.epochs,
                   seed=args.seed, warmup_epochs=args.warmup_epochs, cache_dir=args.cache,
                   feature_cache=args.feature_cache)
    print(f"{result.run_dir}: kept epoch {result.best_epoch} of {result.epochs_run}, "
          f"validation accuracy {result.best_val_accuracy:.4f}")
    return 0

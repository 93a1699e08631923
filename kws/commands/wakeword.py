"""``kws wakeword "PHRASE" --out runs/NAME``: your own wake word, trained offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from kws.commands import require_module


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``wakeword`` sub-command."""
    from kws.wakeword.build import DEFAULT_CONFIG

    p = sub.add_parser(
        "wakeword", help="train a model for a wake phrase of your own, from synthetic voices",
        description="Speak PHRASE in every offline voice here (espeak-ng, flite, festival, "
                    "piper), add your recordings, make negatives by rule (near misses, other "
                    "words, fragments, Speech Commands words, noise, silence), train a small "
                    "DS-CNN with the labels (phrase, _unknown_, _silence_) on the fixed-point "
                    "front end, quantize it to int8 and tune its detector; then "
                    "'kws export OUT/model.tflite' makes the board's sketch. "
                    "docs/wakeword.md explains each step.")
    p.add_argument("phrase", help="the wake phrase, e.g. \"hey computer\"")
    p.add_argument("--out", type=Path, required=True, help="run folder to create")
    p.add_argument("--recordings", type=Path, default=None,
                   help="folder of your own takes of the phrase (WAV/FLAC/OGG; 'kws record' "
                        "makes them)")
    p.add_argument("--data", type=Path, default=None,
                   help="a Speech Commands folder: its words become negatives and its "
                        "background noise the training noise (without it: synthetic noise)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="recipe: model, train, data and wakeword sections")
    p.add_argument("--backbone", type=Path, default=None,
                   help="a 'kws train' run folder trained on real speech whose stem and "
                        "blocks the model starts from (docs/wakeword.md; default: the "
                        "config's wakeword.backbone, none in the shipped recipe)")
    p.add_argument("--epochs", type=int, default=None,
                   help="override the config's train.epochs (default: the config's)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_module("tensorflow")
    require_module("tflite_micro")     # the tensor arena is measured in TFLite Micro
    from kws.wakeword.build import build_wakeword

    overrides = {"backbone": str(args.backbone)} if args.backbone is not None else None
    result = build_wakeword(args.phrase, args.out, args.config, args.data, args.recordings,
                            args.epochs, progress=not args.no_progress,
                            spec_overrides=overrides)
    print(f"next: kws listen --model {result.model_path}   or   kws export "
          f"{result.model_path} --board nano33ble --out {result.out / 'nano'}")
    return 0

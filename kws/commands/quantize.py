"""``kws quantize RUN``: full-int8 .tflite files and a manifest from a training run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kws.commands import add_feature_cache_option
from kws.commands.tune_detector import add_tuning_options, tune_model, tuning_spec


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``quantize`` sub-command."""
    from kws.quantize import CALIBRATION_LIST

    p = sub.add_parser("quantize", help="int8-quantize a training run (needs TensorFlow)",
                       description="Write RUN/model.tflite (with kws metadata), "
                                   "RUN/model_device.tflite (stripped for TFLite Micro) and "
                                   "RUN/manifest.json from RUN/model.keras, then tune the "
                                   "detector (as 'kws tune-detector') and stamp it in.")
    p.add_argument("run", type=Path, help="training run folder (from 'kws train')")
    p.add_argument("--data", type=Path, required=True,
                   help="Speech Commands folder (calibration clips and accuracy)")
    p.add_argument("--calibration", type=Path, default=CALIBRATION_LIST,
                   help="calibration list, paths relative to --data (default: %(default)s)")
    p.add_argument("--detector", type=Path,
                   help="YAML with a 'detector' section: the detector defaults written into "
                        "the model's metadata instead of tuning them")
    p.add_argument("--no-tune", action="store_true",
                   help="skip the detector tuning (the metadata keeps the stock defaults)")
    add_feature_cache_option(p)
    add_tuning_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    from kws.config import DetectorConfig, load_section
    from kws.quantize import quantize_run

    detector = load_section(DetectorConfig, args.detector, "detector") if args.detector \
        else None
    result = quantize_run(args.run, args.data, args.calibration, detector=detector,
                          feature_cache=args.feature_cache)
    m = result.manifest
    for name, info in m["files"].items():
        print(f"{result.model_path.parent / name}: {info['bytes']} bytes")
    for split, acc in m["accuracy"].items():
        note = "" if acc["held_out"] else "  (trained on: not held out)"
        print(f"{split} ({acc['clips']} clips): float {acc['float']:.4f}  int8 {acc['int8']:.4f}"
              f"{note}")
    print(f"TFLite Micro tensor arena: {m['tensor_arena_bytes']} bytes")
    print(f"manifest: {result.manifest_path}")
    if args.detector is None and not args.no_tune:
        tune_model(result.model_path, args.data, tuning_spec(args), args.tune_split)
    return 0

"""``kws detect FILE...``: every keyword in recordings, as fast as the pipeline goes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kws.audio import read_audio
from kws.commands.listen import add_detector_options
from kws.listen import format_detection
from kws.stream import build_pipeline, detect_audio, load_classifier


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``detect`` sub-command."""
    p = sub.add_parser(
        "detect", help="find keywords in recordings (the streaming path, full speed)",
        description="Run recordings through the streaming pipeline as fast as possible and "
                    "print each detection: 'FILE: Heard yes (0.93) @1234ms'.")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="WAV/FLAC/OGG files")
    p.add_argument("--model", type=Path, help="model .tflite (default: the shipped model)")
    add_detector_options(p)
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {file, time_ms, label, score, probability}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model = load_classifier(args.model)
    pipeline = build_pipeline(model, args.keywords, args.threshold)
    rows = []
    for path in args.files:
        audio = read_audio(path, pipeline.frontend_config.sample_rate_hz)
        detections = detect_audio(model, audio, pipeline.frontend_config,
                                  pipeline.detector_config)
        if not detections and not args.json:
            seconds = audio.size / pipeline.frontend_config.sample_rate_hz
            print(f"{path}: no keyword heard ({seconds:.1f} s, threshold "
                  f"{pipeline.detector_config.threshold})", flush=True)
        for found in detections:
            if args.json:
                rows.append({"file": str(path), "time_ms": found.time_ms,
                             "label": found.label, "score": found.score,
                             "probability": found.probability})
            else:
                print(f"{path}: {format_detection(found)}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0

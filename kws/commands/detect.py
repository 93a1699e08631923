"""``kws detect FILE...``: every keyword in recordings, as fast as the pipeline goes.

Each file is decoded, downmixed and resampled block by block (kws.audio.read_blocks) and
streamed through one pipeline, so memory does not grow with a file's length. A file that
cannot be read is reported (one line naming it on stderr, or a JSON record with an "error"
field) and the other files still run; the exit code is then 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kws.audio import read_blocks
from kws.commands.listen import add_detector_options
from kws.detector import Detection
from kws.errors import KwsError
from kws.listen import format_detection
from kws.stream import Pipeline, build_pipeline, detect_blocks, load_classifier

FAILED_EXIT_CODE = 2
"""Exit code when at least one file failed (the code kws.cli uses for a KwsError)."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``detect`` sub-command."""
    p = sub.add_parser(
        "detect", help="find keywords in recordings (the streaming path, full speed)",
        description="Run recordings through the streaming pipeline as fast as possible and "
                    "print each detection: 'FILE: Heard yes (0.93) @1234ms'. A file that "
                    "cannot be read gives one error line and the others still run; the exit "
                    f"code is then {FAILED_EXIT_CODE}.")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="WAV/FLAC/OGG files")
    p.add_argument("--model", type=Path, help="model .tflite (default: the shipped model)")
    add_detector_options(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per line and file: {file, duration_s, "
                        "detections: [{time_ms, label, score, probability}]}, or "
                        "{file, error, detections (those before the error)} for a bad file")
    p.set_defaults(func=run)


def detection_record(found: Detection) -> dict[str, object]:
    """One detection as JSON: time_ms (int ms), label, score (int 0..255), probability."""
    return {"time_ms": found.time_ms, "label": found.label, "score": found.score,
            "probability": found.probability}


def error_text(path: Path, exc: KwsError) -> str:
    """The error's one-line message, starting with the file (once)."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    prefix = f"{path}: "
    return message if message.startswith(prefix) else prefix + message


def run(args: argparse.Namespace) -> int:
    model = load_classifier(args.model)
    pipeline = build_pipeline(model, args.keywords, args.threshold)
    failed = 0
    for path in args.files:
        failed += not detect_one(pipeline, path, args.json)
    return FAILED_EXIT_CODE if failed else 0


def detect_one(pipeline: Pipeline, path: Path, as_json: bool) -> bool:
    """Run one file, print its detections (plain: as they come) or its JSON record.

    Returns False when the file could not be read (a KwsError), after printing its JSON
    record with an "error" field, or one line 'kws detect: error: FILE: problem' on stderr;
    detections found before the problem are kept (printed, or in the record).
    """
    rate = pipeline.frontend_config.sample_rate_hz
    samples = [0]

    def counted(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            samples[0] += block.size
            yield block

    found: list[Detection] = []
    try:
        for hit in detect_blocks(pipeline, counted(read_blocks(path, rate))):
            found.append(hit)
            if not as_json:
                print(f"{path}: {format_detection(hit)}", flush=True)
    except KwsError as exc:
        message = error_text(path, exc)
        if as_json:
            print(json.dumps({"file": str(path), "error": message,
                              "detections": [detection_record(d) for d in found]}),
                  flush=True)
        else:
            print(f"kws detect: error: {message}", file=sys.stderr, flush=True)
        return False
    seconds = samples[0] / rate
    if as_json:
        print(json.dumps({"file": str(path), "duration_s": round(seconds, 3),
                          "detections": [detection_record(d) for d in found]}), flush=True)
    elif not found:
        print(f"{path}: no keyword heard ({seconds:.1f} s, threshold "
              f"{pipeline.detector_config.threshold})", flush=True)
    return True

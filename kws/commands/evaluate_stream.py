"""``kws evaluate-stream MODEL STREAM.wav TRUTH.csv``: false accepts/hour, false rejects."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kws.audio import read_audio
from kws.commands.listen import add_detector_options
from kws.detector import Detector
from kws.stream import build_pipeline, load_classifier, score_audio
from kws.stream_eval import (
    MATCH_AFTER_MS,
    delay_summary,
    format_report,
    match,
    read_truth,
    save_det_png,
    sweep_thresholds,
)

SWEEP = tuple(range(0, 256, 8)) + (255,)
"""Thresholds of the DET curve (0..255); the detector's own threshold is added."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate-stream`` sub-command."""
    p = sub.add_parser(
        "evaluate-stream", help="false accepts per hour and false rejects on a long recording",
        description="Run a long recording through the streaming path and score the "
                    "detections against its truth CSV: a detection matches a keyword clip "
                    f"of the same label between the clip start and {MATCH_AFTER_MS} ms after "
                    "its end. --png sweeps the threshold (the model runs once) and draws the "
                    "DET curve.")
    p.add_argument("model", type=Path, help="model .tflite")
    p.add_argument("stream", type=Path, help="the recording (WAV)")
    p.add_argument("truth", type=Path, help="its truth CSV (start_ms,end_ms,label)")
    add_detector_options(p)
    p.add_argument("--png", type=Path, help="save the DET curve (threshold sweep) here")
    p.add_argument("--json", type=Path, help="save the figures as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model = load_classifier(args.model)
    pipeline = build_pipeline(model, args.keywords, args.threshold)
    config = pipeline.detector_config
    truth = read_truth(args.truth)
    audio = read_audio(args.stream, pipeline.frontend_config.sample_rate_hz)
    duration_ms = audio.size * 1000 // pipeline.frontend_config.sample_rate_hz
    times, scores = score_audio(model, audio, pipeline.frontend_config, config.hop_frames)
    detector = Detector(config, pipeline.labels)
    keywords = [pipeline.labels[i] for i in detector.tables.wake]
    metrics = match(detector.run(times, scores), truth, keywords, duration_ms)
    print(f"{args.stream}: threshold {config.threshold}"
          + (f" (per keyword {config.keyword_thresholds})" if config.keyword_thresholds else "")
          + f", average {config.average_window_ms} ms, min count {config.min_count}, "
          f"suppression {config.suppression_ms} ms, hop {config.hop_frames} frames")
    print(format_report(metrics))
    out = {"stream": str(args.stream), "duration_ms": duration_ms,
           "detector": {"threshold": config.threshold,
                        "keyword_thresholds": config.keyword_thresholds,
                        "average_window_ms": config.average_window_ms,
                        "min_count": config.min_count, "suppression_ms": config.suppression_ms,
                        "hop_frames": config.hop_frames},
           "fa_per_hour": metrics.fa_per_hour(), "mean_frr": metrics.mean_frr,
           "pooled_frr": metrics.pooled_frr, "delay_ms": delay_summary(metrics.delays_ms),
           "keywords": {k.label: {"clips": k.clips, "false_rejects": k.false_rejects,
                                  "false_accepts": k.false_accepts,
                                  "fa_per_hour": metrics.fa_per_hour(k.label),
                                  "frr": k.false_reject_rate}
                        for k in metrics.keywords.values()}}
    if args.png is not None:
        thresholds = sorted(set(SWEEP) | {config.threshold})
        points = sweep_thresholds(times, scores, pipeline.labels, config, truth, duration_ms,
                                  thresholds)
        print(f"{'threshold':>9s} {'FA/h':>8s} {'mean FRR':>9s}")
        for p in points:
            print(f"{p.threshold:9d} {p.metrics.fa_per_hour():8.2f} "
                  f"{100 * p.metrics.mean_frr:8.1f}%")
        save_det_png(args.png, points,
                     f"{args.stream.name}: {metrics.hours * 60:.1f} min, "
                     f"average {config.average_window_ms} ms, min count {config.min_count}, "
                     f"suppression {config.suppression_ms} ms", config.threshold)
        print(f"saved {args.png}")
        out["sweep"] = [{"threshold": p.threshold, "fa_per_hour": p.metrics.fa_per_hour(),
                         "mean_frr": p.metrics.mean_frr} for p in points]
    if args.json is not None:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        tmp.replace(args.json)
        print(f"saved {args.json}")
    return 0

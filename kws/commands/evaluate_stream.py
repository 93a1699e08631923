"""``kws evaluate-stream MODEL``: false accepts/hour, false rejects and delays on streams.

Either one recording with its truth (``STREAM TRUTH``), or streams built from a split of the
dataset at one or more SNRs (``--data DIR --snr 40 20 10``), each scored the same way.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from kws.audio import read_audio
from kws.commands.listen import add_detector_options
from kws.errors import ConfigError
from kws.outpaths import check_out_file, writing
from kws.stream import build_pipeline, load_classifier
from kws.stream_eval import (
    MATCH_AFTER_MS,
    best_within_budget,
    delay_summary,
    format_report,
    read_truth,
    run_stream,
    save_det_png,
    word_delays,
    word_end_ms,
)

SWEEP = tuple(range(0, 256, 8)) + (255,)
"""Thresholds of the DET sweep (0..255); the detector's own threshold is added."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate-stream`` sub-command."""
    p = sub.add_parser(
        "evaluate-stream", help="false accepts per hour, false rejects and delays on streams",
        description="Run long recordings through the streaming path and score the "
                    "detections against their truth: a detection matches a keyword clip of "
                    f"the same label between the clip start and {MATCH_AFTER_MS} ms after its "
                    "end. Give one recording (STREAM TRUTH) or build streams of a dataset "
                    "split at one or more SNRs (--data, --snr). The threshold is swept (the "
                    "model runs once per stream) for the DET curve and the false-reject rate "
                    "at the false-accept budget.")
    p.add_argument("model", type=Path, nargs="?",
                   help="model .tflite (default: the shipped model; with exactly two paths "
                        "they are STREAM TRUTH)")
    p.add_argument("stream", type=Path, nargs="?",
                   help="a recording (WAV; default: none, build streams with --data)")
    p.add_argument("truth", type=Path, nargs="?",
                   help="its truth CSV (start_ms,end_ms,label; default: none)")
    p.add_argument("--data", type=Path,
                   help="Speech Commands folder: build the streams from it (and, with STREAM, "
                        "read the clean clips named in the truth's source column for the "
                        "delay after the spoken word; default: none)")
    p.add_argument("--split", default="test",
                   help="split of the built streams (default: %(default)s)")
    p.add_argument("--snr", type=float, nargs="+", default=[10.0],
                   help="SNRs of the built streams in dB (default: %(default)s)")
    p.add_argument("--minutes", type=float, default=20.0,
                   help="length of each built stream (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="seed of the built streams "
                                                       "(default: %(default)s)")
    p.add_argument("--fa-per-hour", type=float, default=1.0,
                   help="false-accept budget per keyword per hour for the 'FRR at budget' "
                        "figure (default: %(default)s)")
    add_detector_options(p)
    p.add_argument("--png", type=Path,
                   help="save the DET curve here (one stream) or NAME_<snr>dB.png (several; "
                        "default: none)")
    p.add_argument("--json", type=Path, help="save the figures as JSON here (default: none)")
    p.set_defaults(func=run)


def _streams(args: argparse.Namespace, rate_hz: int) -> list[tuple[str, np.ndarray, list,
                                                                     dict[int, int]]]:
    """(name, audio, truth, word ends by clip start) of every stream to evaluate."""
    from kws.data.streams import StreamSpec, make_stream, read_clip_file
    from kws.errors import DataError

    if args.stream is not None:
        if args.truth is None:
            raise DataError("STREAM needs its TRUTH CSV")
        truth = read_truth(args.truth)
        ends: dict[int, int] = {}
        if args.data is not None:
            import csv

            with open(args.truth, newline="") as fh:
                rows = list(csv.DictReader(fh))
            for row in rows:
                if row.get("source"):
                    clip = read_clip_file(args.data / row["source"])
                    ends[int(row["start_ms"])] = int(row["start_ms"]) + word_end_ms(clip)
        return [(str(args.stream), read_audio(args.stream, rate_hz), truth, ends)]
    if args.data is None:
        raise DataError("give STREAM TRUTH, or --data to build streams")
    out = []
    for snr in args.snr:
        spec = StreamSpec(split=args.split, duration_s=args.minutes * 60, seed=args.seed,
                          snr_db=snr, keyword_fraction=0.7, gap_min_s=0.5, gap_max_s=2.5)
        audio, truth, sources = make_stream(args.data, spec)
        ends = {e.start_ms: e.start_ms + word_end_ms(read_clip_file(args.data / rel))
                for e, rel in zip(truth, sources, strict=True)}
        out.append((f"{args.split} {args.minutes:g} min {snr:g} dB", audio, truth, ends))
    return out


def _check_options(args: argparse.Namespace) -> None:
    """Refuse bad numbers and unwritable outputs before the model runs."""
    from kws.data.config import MAX_SNR_DB
    from kws.data.streams import MAX_STREAM_S, MIN_STREAM_SNR_DB

    for option, values in (("--minutes", [args.minutes]), ("--snr", args.snr),
                           ("--fa-per-hour", [args.fa_per_hour])):
        for value in values:
            if not math.isfinite(value):
                raise ConfigError(f"{option} {value} must be a finite number")
    if args.stream is None:
        if not 0 < args.minutes * 60 <= MAX_STREAM_S:
            raise ConfigError(f"--minutes {args.minutes:g} must be in (0, "
                              f"{MAX_STREAM_S / 60:g}]")
        for snr in args.snr:
            if not MIN_STREAM_SNR_DB <= snr <= MAX_SNR_DB:
                raise ConfigError(f"--snr {snr:g} must be in [{MIN_STREAM_SNR_DB:g}, "
                                  f"{MAX_SNR_DB:g}] dB")
        if args.seed < 0:
            raise ConfigError(f"--seed {args.seed} must be >= 0")
    if args.fa_per_hour < 0:
        raise ConfigError(f"--fa-per-hour {args.fa_per_hour:g} must be >= 0")
    if args.png is not None:
        check_out_file(args.png, "--png")
    if args.json is not None:
        check_out_file(args.json, "--json")


def place_paths(args: argparse.Namespace) -> None:
    """MODEL is optional: two paths are STREAM TRUTH (the shipped model), one or three
    start with MODEL."""
    if args.stream is not None and args.truth is None:
        args.model, args.stream, args.truth = None, args.model, args.stream


def run(args: argparse.Namespace) -> int:
    place_paths(args)
    _check_options(args)
    model = load_classifier(args.model)
    pipeline = build_pipeline(model, args.keywords, args.threshold)
    config = pipeline.detector_config
    rate = pipeline.frontend_config.sample_rate_hz
    streams = _streams(args, rate)
    print(f"detector: threshold {config.threshold}"
          + (f" (per keyword {config.keyword_thresholds})" if config.keyword_thresholds else "")
          + f", average {config.average_window_ms} ms, min count {config.min_count}, "
          f"suppression {config.suppression_ms} ms, hop {config.hop_frames} frames")
    results: list[dict[str, Any]] = []
    for i, (name, audio, truth, ends) in enumerate(streams):
        duration_ms = audio.size * 1000 // rate
        run = run_stream(model, audio, truth, config, SWEEP)
        metrics, points, keywords = run.metrics, run.sweep, run.keywords
        budget = best_within_budget(points, args.fa_per_hour)
        delays = word_delays(metrics, ends)
        n = max(1, len(keywords))
        print(f"\n{name}")
        print(format_report(metrics))
        if ends:
            s = delay_summary(delays)
            print(f"delay after the spoken word: mean {s['mean']:.0f} ms, median "
                  f"{s['median']:.0f} ms, p90 {s['p90']:.0f} ms")
        print(f"at the detector's threshold: mean FRR {100 * metrics.mean_frr:.1f}%, "
              f"{metrics.fa_per_hour() / n:.2f} false accepts/hour per keyword")
        if budget is None:
            print(f"FRR at <= {args.fa_per_hour:g} false accepts/hour per keyword: no "
                  "threshold of the sweep reaches the budget")
        else:
            print(f"FRR at <= {args.fa_per_hour:g} false accepts/hour per keyword: "
                  f"{100 * budget.metrics.mean_frr:.1f}% (threshold {budget.threshold}, "
                  f"{budget.metrics.fa_per_hour() / n:.2f}/hour)")
        result = {
            "stream": name, "duration_ms": duration_ms,
            "fa_per_hour": metrics.fa_per_hour(), "fa_per_hour_per_keyword":
                metrics.fa_per_hour() / n, "mean_frr": metrics.mean_frr,
            "pooled_frr": metrics.pooled_frr, "delay_after_clip_ms":
                delay_summary(metrics.delays_ms),
            "delay_after_word_ms": delay_summary(delays) if ends else None,
            "frr_at_budget": None if budget is None else {
                "fa_per_hour_per_keyword_budget": args.fa_per_hour,
                "threshold": budget.threshold, "mean_frr": budget.metrics.mean_frr,
                "fa_per_hour_per_keyword": budget.metrics.fa_per_hour() / n},
            "keywords": {k.label: {"clips": k.clips, "false_rejects": k.false_rejects,
                                   "false_accepts": k.false_accepts,
                                   "fa_per_hour": metrics.fa_per_hour(k.label),
                                   "frr": k.false_reject_rate}
                         for k in metrics.keywords.values()},
            "sweep": [{"threshold": p.threshold, "fa_per_hour": p.metrics.fa_per_hour(),
                       "mean_frr": p.metrics.mean_frr} for p in points]}
        results.append(result)
        if args.png is not None:
            png = args.png if len(streams) == 1 else args.png.with_name(
                f"{args.png.stem}_{args.snr[i]:g}dB{args.png.suffix or '.png'}")
            save_det_png(png, points, f"{name}: average {config.average_window_ms} ms, min "
                         f"count {config.min_count}, suppression {config.suppression_ms} ms",
                         config.threshold)
            print(f"saved {png}")
    if args.json is not None:
        from kws.fileio import atomic_write_text

        with writing(args.json):
            atomic_write_text(args.json, json.dumps({
                "detector": {"threshold": config.threshold,
                             "keyword_thresholds": config.keyword_thresholds,
                             "average_window_ms": config.average_window_ms,
                             "min_count": config.min_count,
                             "suppression_ms": config.suppression_ms,
                             "hop_frames": config.hop_frames},
                "streams": results}, indent=1))
        print(f"saved {args.json}")
    return 0

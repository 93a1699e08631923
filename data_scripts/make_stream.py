"""Build a long test recording from Speech Commands clips, with its ground truth.

Run: python -m data_scripts.make_stream --data DIR --split test --duration 1200 --seed 1 \
         --snr 10 --out stream.wav --truth stream.csv        (also: kws make-stream ...)

The command line of kws.data.streams, whose docstring says how the recording is made (clips
of one split with random gaps over the split's part of _background_noise_, at an SNR on
active speech). The same arguments give the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kws.audio import active_power
from kws.data.config import MAX_SNR_DB
from kws.data.streams import (
    MAX_STREAM_S,
    MIN_STREAM_SNR_DB,
    RATE_HZ,
    SPLITS,
    StreamSpec,
    TruthEvent,
    make_stream,
    noise_bed,
    split_clips,
    split_noise,
    write_truth,
)
from kws.errors import ConfigError, KwsError
from kws.labels import KEYWORDS, UNKNOWN
from kws.outpaths import check_out_file, write_wav

__all__ = ["RATE_HZ", "StreamSpec", "active_power", "make_stream", "noise_bed", "split_clips",
           "split_noise", "write_stream"]


def write_stream(out: str | Path, truth: str | Path, audio: np.ndarray,
                 events: Sequence[TruthEvent], sources: Sequence[str]) -> None:
    """Write the WAV and its truth CSV (both atomically, kws.fileio)."""
    write_wav(out, audio, RATE_HZ)
    write_truth(truth, events, sources)


def _check_options(args: argparse.Namespace) -> Path:
    """Refuse bad numbers and unwritable outputs before the stream is built; returns the
    truth CSV path."""
    numbers = [("--duration", args.duration), ("--keyword-fraction", args.keyword_fraction),
               ("--gap", args.gap[0]), ("--gap", args.gap[1])]
    if not args.no_noise:
        numbers.append(("--snr", args.snr))
    if args.tuning_percent is not None:
        numbers.append(("--tuning-percent", args.tuning_percent))
    for option, value in numbers:
        if not math.isfinite(value):
            raise ConfigError(f"{option} {value} must be a finite number")
    if not 0 < args.duration <= MAX_STREAM_S:
        raise ConfigError(f"--duration {args.duration} must be in (0, {MAX_STREAM_S:g}] s")
    if not args.no_noise and not MIN_STREAM_SNR_DB <= args.snr <= MAX_SNR_DB:
        raise ConfigError(f"--snr {args.snr} must be in [{MIN_STREAM_SNR_DB:g}, "
                          f"{MAX_SNR_DB:g}] dB (--no-noise for none)")
    if not 0 <= args.keyword_fraction <= 1:
        raise ConfigError(f"--keyword-fraction {args.keyword_fraction} must be in [0, 1]")
    if not 0 <= args.gap[0] <= args.gap[1] <= args.duration:
        raise ConfigError(f"--gap {args.gap[0]} {args.gap[1]} must satisfy 0 <= MIN <= MAX "
                          f"<= --duration {args.duration}")
    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed} must be >= 0")
    truth = args.truth or args.out.with_suffix(".csv")
    check_out_file(args.out, "--out")
    check_out_file(truth, "--truth")
    if Path(os.path.abspath(truth)) == Path(os.path.abspath(args.out)):
        raise ConfigError(f"--truth {truth} is the same file as --out {args.out}")
    return truth


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command-line options (shared by ``python -m data_scripts.make_stream`` and
    ``kws make-stream``)."""
    p.add_argument("--data", type=Path, required=True, help="Speech Commands folder")
    p.add_argument("--split", choices=SPLITS, default="test", help="clips from this split")
    p.add_argument("--duration", type=float, default=60.0, help="length in seconds")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--snr", type=float, default=10.0,
                   help="speech-to-noise ratio in dB (default 10)")
    p.add_argument("--no-noise", action="store_true", help="no background noise")
    p.add_argument("--keyword-fraction", type=float, default=0.7,
                   help="share of events that are keywords (default 0.7)")
    p.add_argument("--gap", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                   help="seconds of noise after each clip (default 1 3)")
    p.add_argument("--keywords", type=lambda s: tuple(w for w in s.split(",") if w),
                   default=KEYWORDS, help="comma-separated keywords (default: all ten)")
    p.add_argument("--tuning-percent", type=float,
                   help="the model's data.tuning_percent: splits validation speakers into "
                        "'validation' and 'tuning' (needed for --split tuning)")
    p.add_argument("--out", type=Path, required=True, help="output WAV (16 kHz int16 mono)")
    p.add_argument("--truth", type=Path, help="output CSV (default: OUT with .csv)")


def run(args: argparse.Namespace) -> int:
    """Build and write the stream described by parsed arguments; print a summary."""
    truth = _check_options(args)
    spec = StreamSpec(split=args.split, duration_s=args.duration, seed=args.seed,
                      snr_db=None if args.no_noise else args.snr,
                      keyword_fraction=args.keyword_fraction, gap_min_s=args.gap[0],
                      gap_max_s=args.gap[1], keywords=args.keywords,
                      tuning_percent=args.tuning_percent)
    audio, events, sources = make_stream(args.data, spec)
    write_stream(args.out, truth, audio, events, sources)
    kws = sum(e.label != UNKNOWN for e in events)
    print(f"{args.out}: {audio.size / RATE_HZ:.1f} s, {len(events)} clips ({kws} keywords, "
          f"{len(events) - kws} unknown) from the {spec.split} split, "
          f"{'no noise' if spec.snr_db is None else f'noise at {spec.snr_db:g} dB SNR'}, "
          f"seed {spec.seed}; truth {truth}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m data_scripts.make_stream``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except KwsError as exc:
        print(f"make_stream: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

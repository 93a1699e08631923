"""The board's detector settings against the laptop's, on a long test-split stream.

Run: python benchmarks/bench_board_detector.py [--model M] [--minutes 20] [--seed 3]
                                               [--hops 4,8,12,19] [--cpu-mhz 64] [--data DIR]

The board runs the model every ``hop`` frames, a hop chosen by ``kws export`` from the model's
cost (firmware_export.settings.choose_hop_frames), and the laptop every ``hop_frames`` of the
model's metadata (2 = 40 ms). This script builds a stream with data_scripts/make_stream.py
(test split, 10 dB SNR), computes the model's scores once per hop, and reruns the detector
per threshold (kws.stream_eval.sweep_thresholds). At each hop (the laptop's, the board's and
any --hops) it compares:

- "metadata": the metadata's window and min count (min count lowered to what fits);
- "board rule": firmware_export.settings.device_detector_config, what the export writes.

Printed: the lowest mean false-reject rate over the keywords among the thresholds whose
false accepts per hour stay within each budget, and the rates at the model's threshold.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from data_scripts.make_stream import StreamSpec, make_stream  # noqa: E402
from firmware_export.settings import (  # noqa: E402
    FRONTEND_FRAME_MS,
    NANO33BLE_MHZ,
    choose_hop_frames,
    device_detector_config,
    estimate_inference_ms,
    results_in_window,
)
from kws.runtime import DEFAULT_MODEL, KwsModel  # noqa: E402
from kws.stream import score_audio  # noqa: E402
from kws.stream_eval import sweep_thresholds  # noqa: E402
from kws.tflite_ops import count_macs, parse_tflite  # noqa: E402

MINI = REPO.parent / "shared" / "data" / "speech_commands_mini_v0.02"
THRESHOLDS = range(100, 256, 5)
FA_BUDGETS = (60, 100, 150)
"""False accepts per hour at which the false-reject rates are compared."""


def best_frr(points: list, fa_per_hour: float) -> str:
    rates = [p.metrics.mean_frr for p in points if p.metrics.fa_per_hour() <= fa_per_hour]
    return f"{min(rates):6.1%}" if rates else "     -"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--data", type=Path, default=MINI)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--hops", default="", help="more hops to compare, frames (e.g. 4,8,12)")
    p.add_argument("--cpu-mhz", type=float, default=NANO33BLE_MHZ)
    args = p.parse_args()

    model = KwsModel(args.model)
    fe = model.frontend_config
    laptop = model.detector_config
    macs = count_macs(parse_tflite(args.model.read_bytes()))
    inference_ms = estimate_inference_ms(macs, args.cpu_mhz)
    board_hop = choose_hop_frames(inference_ms, FRONTEND_FRAME_MS * NANO33BLE_MHZ
                                  / args.cpu_mhz, fe, laptop.hop_frames)
    hops = sorted({laptop.hop_frames, board_hop, *(int(h) for h in args.hops.split(",") if h)})
    spec = StreamSpec(split="test", duration_s=args.minutes * 60, seed=args.seed, snr_db=10.0)
    audio, truth = make_stream(args.data, spec)[:2]
    duration_ms = int(audio.size * 1000 // fe.sample_rate_hz)
    print(f"{args.model.name}: {macs:,} MACs, ~{inference_ms:.0f} ms per inference at "
          f"{args.cpu_mhz:g} MHz -> board hop {board_hop} frames "
          f"({board_hop * fe.stride_ms:g} ms); stream {args.minutes:g} min, {len(truth)} "
          f"clips, test split, seed {args.seed}")
    print("hop ms  settings                    FRR at FA/h <= " +
          " ".join(f"{b:>6}" for b in FA_BUDGETS) + f"   at threshold {laptop.threshold}")
    for hop in hops:
        hop_ms = hop * fe.stride_ms
        times, scores = score_audio(model, audio, fe, hop)
        fits = results_in_window(laptop.average_window_ms, hop_ms)
        metadata = dataclasses.replace(laptop, hop_frames=hop,
                                       min_count=max(1, min(laptop.min_count, fits)))
        rule = device_detector_config(laptop, hop, fe)
        for name, cfg in (("metadata", metadata), ("board rule", rule)):
            points = sweep_thresholds(times, scores, model.labels, cfg, truth, duration_ms,
                                      THRESHOLDS)
            at = next(pt.metrics for pt in points if pt.threshold == laptop.threshold) \
                if laptop.threshold in THRESHOLDS else None
            mark = " (board)" if hop == board_hop and name == "board rule" else ""
            print(f"{hop_ms:6g}  {name:10s} {cfg.average_window_ms:4d} ms / {cfg.min_count}"
                  f"{mark:9s}             " + " ".join(best_frr(points, b) for b in FA_BUDGETS)
                  + (f"   {at.mean_frr:.1%} / {at.fa_per_hour():.0f} per hour" if at else ""))


if __name__ == "__main__":
    main()

"""The board's detector settings against the laptop's, on a long test-split stream.

Run: python benchmarks/bench_board_detector.py [--model M] [--minutes 20] [--seed 3]
                                               [--cpu-mhz 64] [--data DIR]

The board runs the model every ``hop`` frames, a hop chosen by ``kws export`` from the model's
cost (firmware_export.settings.choose_hop_frames), and the laptop every ``hop_frames`` of the
model's metadata (2 = 40 ms). This script builds a stream with data_scripts/make_stream.py
(test split, 10 dB SNR), computes the model's scores at both hops once, and reruns the
detector per threshold (kws.stream_eval.sweep_thresholds) for:

- laptop: the metadata's detector at its hop;
- board: firmware_export.settings.device_detector_config at the board's hop (what the export
  writes into kws_model_settings.h);
- board, averaged: the metadata's window and min count kept at the board's hop (min count
  lowered to what fits), the rule device_detector_config replaced.

Printed per threshold: mean false-reject rate over the keywords / false accepts per hour.
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
THRESHOLDS = range(150, 256, 10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--data", type=Path, default=MINI)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--cpu-mhz", type=float, default=NANO33BLE_MHZ)
    args = p.parse_args()

    model = KwsModel(args.model)
    fe = model.frontend_config
    laptop = model.detector_config
    macs = count_macs(parse_tflite(args.model.read_bytes()))
    inference_ms = estimate_inference_ms(macs, args.cpu_mhz)
    hop = choose_hop_frames(inference_ms, FRONTEND_FRAME_MS * NANO33BLE_MHZ / args.cpu_mhz, fe,
                            laptop.hop_frames)
    board = device_detector_config(laptop, hop, fe)
    fits = results_in_window(laptop.average_window_ms, hop * fe.stride_ms)
    averaged = dataclasses.replace(laptop, hop_frames=hop,
                                   min_count=max(1, min(laptop.min_count, fits)))
    spec = StreamSpec(split="test", duration_s=args.minutes * 60, seed=args.seed, snr_db=10.0)
    audio, truth = make_stream(args.data, spec)[:2]
    duration_ms = int(audio.size * 1000 // fe.sample_rate_hz)
    print(f"{args.model.name}: {macs:,} MACs, ~{inference_ms:.0f} ms per inference at "
          f"{args.cpu_mhz:g} MHz -> board hop {hop} frames ({hop * fe.stride_ms:g} ms); "
          f"stream {args.minutes:g} min, {len(truth)} clips, test split, seed {args.seed}")
    scores = {h: score_audio(model, audio, fe, h) for h in {laptop.hop_frames, hop}}
    runs = [("laptop", laptop), ("board", board), ("board, averaged", averaged)]
    for name, cfg in runs:
        times, s = scores[cfg.hop_frames]
        points = sweep_thresholds(times, s, model.labels, cfg, truth, duration_ms, THRESHOLDS)
        print(f"{name:16s} hop {cfg.hop_frames * fe.stride_ms:4g} ms, window "
              f"{cfg.average_window_ms} ms, min count {cfg.min_count}: FRR / FA per hour")
        print("   " + "  ".join(f"{pt.threshold}: {pt.metrics.mean_frr:.1%} / "
                                f"{pt.metrics.fa_per_hour():.0f}" for pt in points))


if __name__ == "__main__":
    main()

"""Wake-word figures of the default model on a long stream, and the cost of the streaming path.

Run: python benchmarks/bench_stream.py [--data DIR] [--model M] [--minutes 20] [--seed 1]
                                       [--split test] [--snr 10] [--png det.png]
                                       [--detector YAML] [--average-window-ms N] ...

1. Builds a stream with data_scripts/make_stream.py from the mini corpus (default: the TEST
   split, 20 minutes, seed 1): an event every 1.5-3.5 s (a 1 s clip then a 0.5-2.5 s gap),
   70% keywords (uniform over the ten), 30% unknown words, over _background_noise_ at 10 dB
   SNR under every clip.
2. Runs it through the whole streaming path (StreamingMfcc -> 49-frame history -> model every
   hop -> detector) in hop-sized chunks (640 samples at the default hop), exactly as
   ``kws listen`` does, measuring CPU time (time.process_time) and wall time.
3. Scores the detections at the model's own DetectorConfig (its metadata; or the
   ``detector`` section of --detector YAML, then any --average-window-ms, --min-count,
   --suppression-ms, --threshold): per keyword the
   false-reject rate and false accepts per hour, the total over all ten keywords (a device
   listening for all of them), and the mean per keyword (a device listening for one of
   them: "the wake keyword" of the goal); the delay from the end of the clip, and from the
   end of the spoken word (last 20 ms frame within WORD_END_DB of the clip's loudest) to the
   detection.
4. With --png: the DET curve (the model's scores reused, the detector rerun per threshold).

Goals: <= 1 false accept per hour at < 10% false rejects for the wake keyword; < 5% of one
core for the streaming path; the delays are reported, not judged.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from data_scripts.make_stream import StreamSpec, make_stream
from kws.audio import speech_end
from kws.config import DetectorConfig, load_section
from kws.detector import Detector
from kws.frontend import mfcc
from kws.labels import UNKNOWN
from kws.stream import DEFAULT_MODEL, ScoreStream, check_window_fits, load_classifier
from kws.stream_eval import (
    delay_summary,
    format_report,
    match,
    save_det_png,
    sweep_thresholds,
)

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/speech_commands_mini_v0.02"
WORD_END_DB = 20.0
"""The spoken word ends at the last 20 ms frame within this many dB of the clip's loudest."""


def word_end_ms(clip: np.ndarray) -> int:
    """ms from the clip start to the end of its last frame within WORD_END_DB of the peak."""
    return int(speech_end(clip, WORD_END_DB)) // 16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--split", default="test")
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--png", type=Path, help="save the DET curve here")
    ap.add_argument("--save-stream", type=Path, help="also write the stream WAV + CSV here")
    ap.add_argument("--detector", type=Path,
                    help="YAML whose 'detector' section replaces the model's detector")
    for name in ("average_window_ms", "min_count", "suppression_ms", "threshold"):
        ap.add_argument("--" + name.replace("_", "-"), type=int,
                        help=f"override the model's detector {name}")
    args = ap.parse_args()

    spec = StreamSpec(split=args.split, duration_s=args.minutes * 60, seed=args.seed,
                      snr_db=args.snr, keyword_fraction=0.7, gap_min_s=0.5, gap_max_s=2.5)
    audio, truth, sources = make_stream(args.data, spec)
    n_kw = sum(e.label != UNKNOWN for e in truth)
    print(f"stream: {audio.size / 16000 / 60:.1f} min from the {spec.split} split of "
          f"{args.data.name}, seed {spec.seed}, {len(truth)} clips ({n_kw} keywords, "
          f"{len(truth) - n_kw} unknown words), noise at {spec.snr_db:g} dB SNR")
    if args.save_stream:
        from data_scripts.make_stream import write_stream

        write_stream(args.save_stream, args.save_stream.with_suffix(".csv"), audio, truth,
                     sources)

    model = load_classifier(args.model)
    changes = {name: getattr(args, name) for name in
               ("average_window_ms", "min_count", "suppression_ms", "threshold")
               if getattr(args, name) is not None}
    config = (load_section(DetectorConfig, args.detector, "detector") if args.detector
              else model.detector_config)
    config = dataclasses.replace(config, **changes)
    fc = model.frontend_config
    print(f"model: {args.model} ({getattr(model, 'name', '?')}); detector {config}"
          + (f" from {args.detector}" if args.detector else "")
          + (f" (overridden: {changes})" if changes
             else "" if args.detector else " (the model's metadata)"))
    stream = ScoreStream(model, fc, config.hop_frames)
    check_window_fits(config, stream.hop_ms)
    detector = Detector(config, model.labels)
    chunk = config.hop_frames * fc.stride_samples
    # warm up (lazy imports and the front end's tables are built on first use, once)
    model.predict(np.zeros((1, fc.frames_per_clip, fc.num_coeffs), dtype=np.int8))
    mfcc(audio[:fc.clip_samples], fc)

    times_parts, score_parts, found = [], [], []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(0, audio.size, chunk):
        times, scores = stream.push(audio[i:i + chunk])
        for t, row in zip(times.tolist(), scores, strict=True):
            hit = detector.update(row, t)
            if hit is not None:
                found.append(hit)
        times_parts.append(times)
        score_parts.append(scores)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    seconds = audio.size / fc.sample_rate_hz
    times = np.concatenate(times_parts)
    scores = np.concatenate(score_parts)
    print(f"streaming path ({chunk}-sample chunks, {times.size} model runs): "
          f"CPU {cpu:.1f} s, wall {wall:.1f} s for {seconds:.0f} s of audio -> "
          f"{100 * cpu / seconds:.2f}% of one core by CPU time, {100 * wall / seconds:.2f}% "
          f"by wall time (goal < 5%)")

    keywords = [model.labels[i] for i in detector.tables.wake]
    metrics = match(found, truth, keywords, int(seconds * 1000))
    print(format_report(metrics))
    n = len(keywords)
    print(f"wake keyword (mean of the {n} keywords): FRR {100 * metrics.mean_frr:.1f}%, "
          f"{metrics.fa_per_hour() / n:.2f} false accepts/hour; all {n} together: "
          f"{metrics.false_accepts} false accepts in {metrics.hours * 60:.1f} min = "
          f"{metrics.fa_per_hour():.2f}/hour (goal <= 1/hour at FRR < 10%)")

    # delay from the end of the spoken word (the clip's loudness envelope) to the detection
    ends = {}
    for e, rel in zip(truth, sources, strict=True):
        if e.label != UNKNOWN:
            clip = sf.read(str(args.data / rel), dtype="int16")[0]
            ends[(e.start_ms, e.label)] = e.start_ms + word_end_ms(clip)
    word_delays = [d.time_ms - ends[(e.start_ms, e.label)] for d, e in metrics.matches]
    s = delay_summary(word_delays)
    print(f"delay after the end of the spoken word: mean {s['mean']:.0f} ms, median "
          f"{s['median']:.0f} ms, p90 {s['p90']:.0f} ms ({len(word_delays)} detections)")

    if args.png:
        thresholds = sorted(set(range(0, 256, 8)) | {255, config.threshold})
        points = sweep_thresholds(times, scores, model.labels, config, truth,
                                  int(seconds * 1000), thresholds)
        print(f"{'threshold':>9s} {'FA/h all':>9s} {'FA/h mean':>9s} {'mean FRR':>9s}")
        for p in points:
            print(f"{p.threshold:9d} {p.metrics.fa_per_hour():9.2f} "
                  f"{p.metrics.fa_per_hour() / n:9.2f} {100 * p.metrics.mean_frr:8.1f}%")
        save_det_png(args.png, points, f"{args.model.name} on {audio.size / 960000:.0f} min of "
                     f"the {spec.split} split at {spec.snr_db:g} dB SNR", config.threshold)
        print(f"saved {args.png}")


if __name__ == "__main__":
    main()

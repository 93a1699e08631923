"""Seconds per training epoch of ``kws train`` on a slice, projected for the full dataset.

Run: python benchmarks/bench_train_epoch.py [--config configs/ds_cnn_s.yaml] [--data DIR]
     [--epochs 5] [--out /tmp/kws_bench_train]

Runs ``kws train --config CONFIG --data DIR --out OUT --epochs N`` as a child process (the
command a user runs; its log goes to OUT/train.log), then reads the per-epoch seconds of
OUT/history.json: the time from the start of an epoch's features to the end of its
validation pass (kws.train's ``seconds``). Epoch 1 computes its own augmented features
before it trains (and TensorFlow traces its functions); in epochs 1..N-1 the next epoch's
features are computed on a background thread while the epoch trains (the two share the
cores); the last epoch has nothing to prefetch. So epochs 2..N-1 are the steady state of a
long run, the figure the projection uses (their median); the last epoch, training alone,
is printed beside it. The augmented features of one epoch are also timed alone, in this
process after the run (kws.data's epoch examples + kws.frontend.mfcc_batch).

Examples per epoch: the training clips (word clips + ``_silence_`` clips, ``config.json``'s
``train_clips``) + the config's stream windows (``data.stream_windows`` x clips) + extra
clips and mined negatives, if any. The validation pass is timed apart (the float model's
predict on as many clips as the validation split, batch 512, best of 3), so that the
projection scales training by training examples and validation by validation clips:

    seconds per epoch (full) = (steady epoch - validation) / examples x examples (full)
                               + validation / validation clips x validation clips (full)

The full Speech Commands v0.02 has 105,829 word clips; the config's data section gives its
_silence_ share (``silence_share``: ceil(share x clips) per split) and stream windows. Two
projections: every clip trained on (105,829 clips and their silence), and the train split
alone, taken as 80 % of the clips (``data.validation_percent`` and ``testing_percent``,
10 % each, the share of validation_list.txt / testing_list.txt) with a validation split of
10 %. Both are linear: per-example cost does not change with the epoch's size on the CPU,
but the full train split's audio (~2.7 GB of int16) must fit in memory.

This machine is shared: the load average (1-minute, sampled every 5 s during the run) is
printed beside the figures, with the CPU count and whether TensorFlow sees a GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "speech_commands_mini_v0.02"
FULL_DATASET_CLIPS = 105_829
"""Word clips of Speech Commands v0.02 (all splits)."""
SAMPLE_EVERY_S = 5.0
"""Interval of the load-average samples (seconds)."""


class LoadSampler:
    """Samples the 1-minute load average every SAMPLE_EVERY_S seconds on a thread."""

    def __init__(self) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        """'mean M (min A, max B)' of the samples."""
        return (f"mean {statistics.mean(self.samples):.2f} (min {min(self.samples):.2f}, "
                f"max {max(self.samples):.2f}, {len(self.samples)} samples)")


def examples_per_epoch(train_clips: int, data: dict) -> int:
    """Examples of one epoch: clips (+ extra clips), their stream windows, mined negatives
    (kws.data.training.epoch_examples)."""
    from kws.data.training import load_negatives

    clips = train_clips + sum(len(load_negatives(p)) for p in data.get("extra_clips", []))
    negatives = len(load_negatives(data["hard_negatives"])) if data.get("hard_negatives") else 0
    return clips + int(round(data["stream_windows"] * clips)) + negatives


def validation_seconds(run: Path, clips: int, frontend: dict) -> float:
    """Best of 3 seconds of the float model's predict on ``clips`` int8 feature maps (what
    kws.train does after every epoch)."""
    import numpy as np

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from kws.config import FrontendConfig, from_dict
    from kws.run import FLOAT_MODEL_NAME, load_float_model

    fc = from_dict(FrontendConfig, frontend, "frontend.")
    model = load_float_model(run / FLOAT_MODEL_NAME)
    x = np.random.default_rng(0).integers(-128, 128, (clips, fc.frames_per_clip,
                                                      fc.num_coeffs, 1)).astype(np.float32)
    best = math.inf
    for _ in range(3):
        began = time.perf_counter()
        model.predict(x, batch_size=512, verbose=0)
        best = min(best, time.perf_counter() - began)
    return best


def epoch_feature_seconds(config: Path, data_dir: Path) -> float:
    """Seconds to make the augmented int8 features of epoch 1 alone (what kws.train's
    background thread does for every epoch), after loading the data and a warm-up epoch 0
    (the first front-end call loads its native library)."""
    from kws.frontend import mfcc_batch
    from kws.run import load_run_config, make_training_data

    run = load_run_config(config)
    data = make_training_data(data_dir, run)
    for split in run.train.train_splits:
        data.clips(split)                       # audio loaded before the clock starts
    for epoch in (0, 1):
        began = time.perf_counter()
        examples = data.epoch_examples(run.train.train_splits, run.train.seed, epoch)
        mfcc_batch(examples.audio, run.frontend)
    return time.perf_counter() - began


def hms(seconds: float) -> str:
    """'1 h 02 min' / '3 min 05 s' / '12.3 s'."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "ds_cnn_s.yaml")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=5,
                    help="epochs to run (at least 3: epochs 2..N-1 are the steady state)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/kws_bench_train"),
                    help="run folder (must not hold a run)")
    args = ap.parse_args()
    if args.epochs < 3:
        ap.error("--epochs must be at least 3 (epochs 2..N-1 are the steady state)")

    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "train.log"
    command = [sys.executable, "-c", "import sys; from kws.cli import main; sys.exit(main())",
               "train", "--config", str(args.config), "--data", str(args.data),
               "--out", str(args.out), "--epochs", str(args.epochs)]
    began = time.perf_counter()
    with LoadSampler() as load, open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"kws train failed ({done.returncode}); see {log}")

    config = json.loads((args.out / "config.json").read_text())
    history = json.loads((args.out / "history.json").read_text())["epochs"]
    seconds = [row["seconds"] for row in history]
    steady = statistics.median(seconds[1:-1])
    data = config["data"]
    examples = examples_per_epoch(config["train_clips"], data)
    val_clips = config["validation_clips"]
    val_s = validation_seconds(args.out, val_clips, config["frontend"])
    features_s = epoch_feature_seconds(args.config, args.data)
    from kws.run import load_run_config

    epochs = load_run_config(args.config).train.epochs      # the config's, not --epochs
    train_per_example = (steady - val_s) / examples
    val_per_clip = val_s / val_clips

    print(f"machine: {os.cpu_count()} CPUs, no GPU seen by TensorFlow" if not _has_gpu()
          else f"machine: {os.cpu_count()} CPUs, TensorFlow sees a GPU")
    print(f"load average during the run: {load.summary()}")
    shown = args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config
    print(f"kws train --config {shown} --data {args.data} --epochs {args.epochs}: "
          f"{hms(wall)} in all (log {log})")
    print(f"examples per epoch: {examples:,} ({config['train_clips']:,} training clips + "
          f"{examples - config['train_clips']:,} stream windows / extra / negatives); "
          f"validation {val_clips:,} clips")
    print("seconds per epoch: " + ", ".join(f"{s:.1f}" for s in seconds)
          + f"; steady state (median of epochs 2-{len(seconds) - 1}): {steady:.2f} s, of "
            f"which validation {val_s:.2f} s; last epoch (no prefetch): {seconds[-1]:.2f} s; "
            f"one epoch's augmented features alone: {features_s:.2f} s")
    print(f"per training example: {1e3 * train_per_example:.2f} ms; per validation clip: "
          f"{1e3 * val_per_clip:.3f} ms")

    share = data["silence_share"]
    full = FULL_DATASET_CLIPS + math.ceil(share * FULL_DATASET_CLIPS)
    val_full = round(FULL_DATASET_CLIPS * data["validation_percent"] / 100)
    val_full += math.ceil(share * val_full)
    train_words = FULL_DATASET_CLIPS - round(FULL_DATASET_CLIPS * (
        data["validation_percent"] + data["testing_percent"]) / 100)
    train_full = train_words + math.ceil(share * train_words)
    for name, clips in ((f"every clip trained on ({FULL_DATASET_CLIPS:,} + silence = "
                         f"{full:,} clips)", full),
                        (f"train split (~{train_words:,} word clips + silence = "
                         f"{train_full:,} clips)", train_full)):
        n = examples_per_epoch(clips, {**data, "extra_clips": [], "hard_negatives": None})
        epoch = train_per_example * n + val_per_clip * val_full
        print(f"projected, {name}: {n:,} examples per epoch, {epoch:.0f} s per epoch; "
              f"{epochs} epochs of the config: {hms(epoch * epochs)}")


def _has_gpu() -> bool:
    """Whether TensorFlow lists a GPU (imports TensorFlow)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


if __name__ == "__main__":
    main()

"""Time to fill the feature cache for the mini corpus, and the projection for the full dataset.

Run: python benchmarks/bench_cache.py [--data DIR] [--repeats 3]

Fills a fresh temporary cache (kws.data.FeatureCache: WAVs read with soundfile on a reader
thread, the fixed-point front end kws.frontend.mfcc_batch on both cores) ``--repeats`` times
and keeps the fastest run; also times the two stages alone, and reading the filled cache
back (what ``kws train`` / ``quantize`` / ``evaluate`` do when their split is cached).
The projection for the full Speech Commands v0.02 (105,829 clips; goal: under 2 minutes)
scales the per-clip time of the mini corpus. The one-time table build of the front end is
reported apart. Reads come from the page cache here; a first fill of the full dataset also
reads ~3.4 GB from disk.

This machine may be shared with other jobs, so wall times depend on its load (printed
beside the figures). The CPU time of the fill (all threads of this process) does not, much:
the projection is also given from it, for one core (CPU time) and for two idle cores (CPU
time / 2, i.e. perfect use of both cores: an estimate, not a measurement).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

from kws.config import FrontendConfig
from kws.data import SPLITS, DataConfig, FeatureCache, index_dataset
from kws.data.cache import CHUNK_CLIPS
from kws.data.clips import read_clips
from kws.frontend import mfcc_batch
from kws.frontend.tables import build_tables

FULL_DATASET_CLIPS = 105_829
GOAL_S = 120.0
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/speech_commands_mini_v0.02"


def load() -> str:
    """The 1-minute load average and the CPU count, as text."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    frontend = FrontendConfig()
    data_config = DataConfig()

    began = time.perf_counter()
    build_tables(frontend)
    tables_s = time.perf_counter() - began
    began = time.perf_counter()
    index = index_dataset(args.data, data_config)
    index_s = time.perf_counter() - began
    clips = [c for split in SPLITS for c in index.split(split)]
    words = sum(1 for c in clips if c.label_id != 10)
    print(f"mini corpus {args.data}: {words} word clips + {len(clips) - words} silence = "
          f"{len(clips)} clips; index {index_s:.2f} s; front-end tables {tables_s:.2f} s "
          "(once per process)")
    print(f"before: {load()}")

    fills, cpus, reads = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cache = FeatureCache(index, frontend, tmp)
            began, began_cpu = time.perf_counter(), time.process_time()
            cache.fill()
            fills.append(time.perf_counter() - began)
            cpus.append(time.process_time() - began_cpu)
            # What kws train / quantize / evaluate do on a hit: a new cache object (a new
            # process) hashes the file list and loads the .npz of each split.
            again = FeatureCache(index, frontend, tmp)
            began = time.perf_counter()
            for split in SPLITS:
                again.get(split)
            reads.append(time.perf_counter() - began)
    fill_s, cpu_s, read_back_s = min(fills), min(cpus), min(reads)

    began = time.perf_counter()
    audio, _ = read_clips(clips)
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    for start in range(0, len(clips), CHUNK_CLIPS):
        mfcc_batch(audio[start:start + CHUNK_CLIPS], frontend)
    frontend_s = time.perf_counter() - began
    print(f"after: {load()}")

    per_clip = {"wall, as measured": fill_s / len(clips),
                "CPU time, 1 core": cpu_s / len(clips),
                "CPU time / 2, 2 idle cores": cpu_s / len(clips) / 2}
    print(f"fill cache, best of {args.repeats}: wall " + ", ".join(f"{t:.2f}" for t in fills)
          + f" s -> {fill_s:.2f} s = {len(clips) / fill_s:.0f} clips/s; CPU "
          + ", ".join(f"{t:.2f}" for t in cpus) + f" s -> {cpu_s:.2f} s")
    print(f"  stages alone (wall): read WAVs {len(clips) / read_s:.0f} clips/s, "
          f"front end {len(clips) / frontend_s:.0f} clips/s")
    print(f"read back from the cache (key + load, best of {args.repeats}): {read_back_s:.3f} s "
          f"= {len(clips) / read_back_s:.0f} clips/s")
    silence = math.ceil(data_config.silence_share * FULL_DATASET_CLIPS)
    for n in (FULL_DATASET_CLIPS, FULL_DATASET_CLIPS + silence):
        what = f"{n:,} clips" + (" (+10% silence)" if n > FULL_DATASET_CLIPS else "")
        parts = []
        for basis, seconds in per_clip.items():
            projected = n * seconds + tables_s
            parts.append(f"{projected:.0f} s ({basis}; "
                         f"{'under' if projected < GOAL_S else 'OVER'} {GOAL_S:.0f} s)")
        print(f"projected full dataset, {what}: " + ", ".join(parts))


if __name__ == "__main__":
    main()

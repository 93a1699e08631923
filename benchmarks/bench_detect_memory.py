"""Peak memory and wall time of ``kws detect`` on a long 48 kHz stereo recording.

Run: python benchmarks/bench_detect_memory.py [--minutes 60] [--model FILE]

Writes, block by block with soundfile, a ``--minutes``-long 16-bit 48 kHz stereo WAV (quiet
noise with a 440 Hz tone in one channel and 1 kHz in the other; 691 MB for an hour) and a
15-second one of the same kind into a temporary folder, then runs ``kws detect`` on each in
its own child process (``python -m kws.cli detect FILE``). Each child is started by a fresh
Python wrapper that waits for it and reads ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``
(KiB on Linux), so each figure is that one run's peak resident memory, not a maximum over
earlier runs. The short file is the baseline: what the interpreter, the model runtime and
the front end's tables cost before any audio. Goal (issue 13): the hour at most 300 MB.

Figures only, no asserts: wall times depend on the load of this shared machine (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE_HZ = 48000
"""Sample rate of the generated recordings (Hz): what laptops and USB microphones record."""
CHANNELS = 2
"""Channels of the generated recordings (stereo)."""
BLOCK_S = 10
"""Seconds generated and written per block (1.9 MB of int16 at 48 kHz stereo)."""
BASELINE_S = 15
"""Length of the short baseline recording (s)."""
GOAL_MB = 300.0
"""Issue 13: peak memory of ``kws detect`` on an hour of 48 kHz stereo."""
REPO = Path(__file__).resolve().parents[1]

_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.monotonic()
run = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": run.returncode, "wall_s": time.monotonic() - start,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "stdout_lines": len(run.stdout.splitlines()),
                  "stderr": run.stderr.strip().splitlines()[-1:] }))
"""
"""Runs one command as its only child and reports that child's peak RSS and wall time."""


def write_recording(path: Path, seconds: int, seed: int = 0) -> None:
    """A 16-bit ``RATE_HZ`` stereo WAV: noise at -40 dBFS plus a tone per channel (-20 dBFS),
    generated and written BLOCK_S seconds at a time (memory: one block)."""
    rng = np.random.default_rng(seed)
    tone_hz = np.array([440.0, 1000.0])
    with sf.SoundFile(str(path), "w", RATE_HZ, CHANNELS, subtype="PCM_16", format="WAV") as fh:
        for start in range(0, seconds, BLOCK_S):
            n = min(BLOCK_S, seconds - start) * RATE_HZ
            t = (start * RATE_HZ + np.arange(n))[:, None] / RATE_HZ
            block = 0.1 * np.sin(2 * np.pi * tone_hz * t) + 0.01 * rng.standard_normal((n, 2))
            fh.write(np.rint(block * 32767).astype(np.int16))


def measure(path: Path, model: Path | None) -> dict[str, object]:
    """Run ``kws detect path`` in a child; its exit code, wall time and peak RSS."""
    cmd = [sys.executable, "-m", "kws.cli", "detect", str(path)]
    if model is not None:
        cmd += ["--model", str(model)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True,
                         text=True, check=True, cwd=REPO, env=env).stdout
    return json.loads(out)


def report(name: str, seconds: int, size_bytes: int, result: dict[str, object]) -> None:
    """One line of figures for one run."""
    rss_mb = int(result["maxrss_kib"]) / 1024
    print(f"{name:>9}: {seconds / 60:6.1f} min, file {size_bytes / 2**20:7.1f} MB, "
          f"peak RSS {rss_mb:6.1f} MB, wall {float(result['wall_s']):7.1f} s "
          f"({seconds / float(result['wall_s']):.0f}x real time), exit {result['rc']}, "
          f"{result['stdout_lines']} output lines", flush=True)
    if result["rc"] != 0:
        print(f"           stderr: {result['stderr']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="length of the long recording (default: 60)")
    parser.add_argument("--model", type=Path, help="model .tflite (default: the shipped one)")
    args = parser.parse_args()
    long_s = int(round(args.minutes * 60))
    print(f"kws detect memory, {RATE_HZ} Hz {CHANNELS}-channel 16-bit WAV; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; goal: "
          f"<= {GOAL_MB:g} MB for 60 min", flush=True)
    with tempfile.TemporaryDirectory(prefix="kws-bench-detect-") as tmp:
        folder = Path(tmp)
        short, long = folder / "short_48k_stereo.wav", folder / "long_48k_stereo.wav"
        write_recording(short, BASELINE_S, seed=1)
        start = time.monotonic()
        write_recording(long, long_s, seed=2)
        print(f"wrote {long.name} in {time.monotonic() - start:.1f} s", flush=True)
        for name, path, seconds in (("baseline", short, BASELINE_S), ("long", long, long_s)):
            report(name, seconds, path.stat().st_size, measure(path, args.model))


if __name__ == "__main__":
    main()

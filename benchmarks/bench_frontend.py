"""Fidelity and speed of the fixed-point MFCC on the mini corpus.

Run: python benchmarks/bench_frontend.py [--data DIR]

Prints (1) how often the int8 features agree with the float librosa reference quantized the
same way, within +-1 code (goal: >= 99%), and (2) clips per second of the batch front end
against librosa.feature.mfcc with the same parameters, measured in this process, both
per clip (one call a clip, the usual use) and batched (one call for all clips), with the
projected time for the full Speech Commands (105,829 clips; goal: under 60 s).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from kws.config import FrontendConfig
from kws.frontend import mfcc_batch
from kws.frontend.reference import quantize_features, reference_mfcc

FULL_DATASET_CLIPS = 105_829
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/speech_commands_mini_v0.02"


def load_corpus(data: Path) -> np.ndarray:
    clips = sorted(p for p in data.glob("*/*.wav") if p.parent.name != "_background_noise_")
    out = np.zeros((len(clips), 16000), dtype=np.int16)
    for i, path in enumerate(clips):
        x, _ = sf.read(str(path), dtype="int16")
        out[i, : min(16000, x.size)] = x[:16000]
    return out


def best_of(fn, repeats: int = 3) -> float:
    """Smallest wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    audio = load_corpus(args.data)
    cfg = FrontendConfig()
    n = audio.shape[0]
    print(f"mini corpus: {n} clips of 1 s from {args.data}")

    fixed = mfcc_batch(audio, cfg).astype(int)
    ref = quantize_features(reference_mfcc(audio, cfg), cfg).astype(int)
    diff = np.abs(fixed - ref)
    print(f"fidelity: {fixed.size} values; exact {np.mean(diff == 0):.4%}, "
          f"within +-1 code {np.mean(diff <= 1):.4%} (goal >= 99%), max |diff| {diff.max()}")
    for k in range(cfg.num_coeffs):
        print(f"  c{k}: within +-1 {np.mean(diff[..., k] <= 1):.4%}")

    import librosa

    y = audio.astype(np.float32) / 32768.0
    params = dict(sr=16000, n_mfcc=cfg.num_coeffs, n_fft=cfg.fft_size,
                  hop_length=cfg.stride_samples, win_length=cfg.window_samples,
                  n_mels=cfg.num_mel, fmin=cfg.lower_hz, fmax=cfg.upper_hz, center=False)
    librosa.feature.mfcc(y=y[:8], **params)  # warm-up (caches, lazy imports)
    mfcc_batch(audio[:8], cfg)

    mfcc_batch(audio[:8], cfg, backend="native")  # builds the library once
    t_numpy = best_of(lambda: mfcc_batch(audio, cfg, backend="numpy"))
    t_native = best_of(lambda: mfcc_batch(audio, cfg, backend="native"))
    t_lib_batch = best_of(lambda: librosa.feature.mfcc(y=y, **params))
    t_lib_clip = best_of(lambda: [librosa.feature.mfcc(y=c, **params) for c in y], repeats=1)
    lib_rates = {"librosa.feature.mfcc, one call per clip": n / t_lib_clip,
                 "librosa.feature.mfcc, one batched call": n / t_lib_batch}
    for name, rate in lib_rates.items():
        print(f"{name}: {rate:8.0f} clips/s")
    for name, t in (("numpy", t_numpy), ("native (C twin via ctypes, the default)", t_native)):
        ours = n / t
        ratios = ", ".join(f"{ours / r:.2f}x" for r in lib_rates.values())
        print(f"kws mfcc_batch, {name}: {ours:8.0f} clips/s -> vs librosa per clip / batched "
              f"{ratios} (goal >= 2x); full dataset ({FULL_DATASET_CLIPS} clips) "
              f"{FULL_DATASET_CLIPS / ours:.1f} s (goal < 60 s)")


if __name__ == "__main__":
    main()

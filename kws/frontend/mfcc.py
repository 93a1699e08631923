"""The fixed-point MFCC, stage after stage: int16 audio -> int8 (frames, num_coeffs).

    audio int16 -> frames (framing) -> Q15 window + normalize (window) -> real FFT (fft)
      -> power (power) -> mel filterbank (mel) -> log2 (log) -> DCT + int8 (dct)

Each stage is integer-only; the C twin in firmware_export/c/kws_frontend.c does the same
operations in the same order, so the int8 codes are equal bit for bit.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kws.config import FrontendConfig
from kws.errors import ArgumentError, AudioError
from kws.frontend import native
from kws.frontend.dct import dct_int8
from kws.frontend.fft import real_fft
from kws.frontend.framing import frame_audio
from kws.frontend.log import log_mel
from kws.frontend.mel import mel_energies
from kws.frontend.power import power_spectrum
from kws.frontend.tables import FrontendTables, build_tables
from kws.frontend.window import window_and_normalize

BLOCK_FRAMES = 512
"""Frames processed per numpy pass: keeps the int64 work arrays within the CPU caches."""


def _block_features(frames: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """int8 (F, num_coeffs) codes of int16 frames (F, window_samples), stage by stage."""
    v, shift = window_and_normalize(frames, tables)  # Q15 window, block floating point
    re, im = real_fft(v, tables)                     # X / fft_size, int32 re and im
    power = power_spectrum(re, im)                   # re**2 + im**2, uint64
    acc = mel_energies(power, tables)                # Q15 triangular filters, uint64
    log_q16 = log_mel(acc, shift, tables)            # log2(mel + floor), Q16
    return dct_int8(log_q16, tables)                 # DCT-II, gain, offset -> int8


def frames_to_features(frames: np.ndarray, config: FrontendConfig,
                       workers: int | None = None) -> np.ndarray:
    """MFCC codes of already-cut frames.

    frames: int16 (F, window_samples). Returns int8 (F, num_coeffs). Blocks of
    BLOCK_FRAMES run on ``workers`` threads (numpy releases the GIL in its loops); the
    default is one thread per CPU. The result does not depend on the thread count.
    """
    tables = build_tables(config)
    out = np.empty((frames.shape[0], config.num_coeffs), dtype=np.int8)
    starts = range(0, frames.shape[0], BLOCK_FRAMES)

    def run(start: int) -> None:
        out[start:start + BLOCK_FRAMES] = _block_features(
            frames[start:start + BLOCK_FRAMES], tables)

    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(starts) == 1:
        for start in starts:
            run(start)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, starts))
    return out


def _check_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.dtype != np.int16:
        raise AudioError(f"front end expects int16 samples, got {audio.dtype} "
                         "(use kws.audio.float_to_int16 for float audio)")
    return audio


def mfcc(audio: np.ndarray, config: FrontendConfig | None = None) -> np.ndarray:
    """Fixed-point MFCC of one signal.

    audio: int16 (n,) at config.sample_rate_hz. Returns int8 (config.num_frames(n),
    num_coeffs); 49 x 10 for a one-second clip at the defaults.
    """
    config = config or FrontendConfig()
    audio = _check_audio(audio)
    if audio.ndim != 1:
        raise AudioError(f"mfcc expects a 1-D signal, got shape {audio.shape}")
    return frames_to_features(np.ascontiguousarray(frame_audio(audio, config)), config)


def mfcc_batch(audio: np.ndarray, config: FrontendConfig | None = None,
               backend: str = "auto") -> np.ndarray:
    """Fixed-point MFCC of many equal-length clips at once.

    audio: int16 (clips, n). Returns int8 (clips, config.num_frames(n), num_coeffs).
    backend: "numpy" (vectorized over all frames), "native" (the board's C front end
    compiled for this machine, see kws.frontend.native) or "auto" (native when a C compiler
    is present). Both give the same integers; tests hold them equal on the whole corpus.
    Raises ArgumentError (a ConfigError) for another backend, AudioError for audio that is not
    int16 (clips, samples).
    """
    config = config or FrontendConfig()
    if backend not in ("auto", "numpy", "native"):
        raise ArgumentError(f"backend={backend!r} must be 'auto', 'numpy' or 'native'")
    audio = _check_audio(audio)
    if audio.ndim != 2:
        raise AudioError(f"mfcc_batch expects (clips, samples), got shape {audio.shape}")
    frames = frame_audio(audio, config)
    clips, count = frames.shape[:2]
    flat = np.ascontiguousarray(frames).reshape(clips * count, config.window_samples)
    if backend == "native" or (backend == "auto" and native.available()):
        feats = _native_blocks(flat, config)
    else:
        feats = frames_to_features(flat, config)
    return feats.reshape(clips, count, config.num_coeffs)


def _native_blocks(frames: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """The native front end on one thread per CPU (ctypes releases the GIL)."""
    native.load(config)  # build or load the library once, before any thread needs it
    workers = os.cpu_count() or 1
    if workers == 1 or frames.shape[0] < 2 * BLOCK_FRAMES:
        return native.native_frames_to_features(frames, config)
    parts = np.array_split(frames, workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.concatenate(list(pool.map(
            lambda part: native.native_frames_to_features(part, config), parts)))

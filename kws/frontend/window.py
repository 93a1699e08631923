"""Window and normalize: int16 frame x Q15 Hann -> int32 block-floating frame.

Per frame: v[n] = x[n] * w[n] (int16 x Q15 -> int32, |v| < 2**30), then the frame is shifted
left by s bits, the largest shift with max |v << s| < 2**NORM_TARGET_BITS, capped at
MAX_NORM_SHIFT (s = MAX_NORM_SHIFT for an all-zero frame). The shift is undone in the log
domain, so quiet frames keep their precision through the FFT.

C: ``v = (int32_t)x * w``; ``s = clz(max|v|) - 2`` (32-bit clz), capped; ``v << s`` never
overflows because max |v| << s < 2**30.
"""

from __future__ import annotations

import numpy as np

from kws.frontend.tables import MAX_NORM_SHIFT, NORM_TARGET_BITS, FrontendTables


def bit_length(values: np.ndarray) -> np.ndarray:
    """Exact bit length of non-negative integers < 2**63 (0 for 0), as int64.

    Like Python's int.bit_length and 64 - clz64(v) in C. A float log2 gives a first guess
    that is corrected by one integer comparison either way, so rounding cannot misplace it.
    """
    v = np.asarray(values, dtype=np.int64)
    guess = np.floor(np.log2(np.maximum(v, 1).astype(np.float64))).astype(np.int64) + 1
    guess = np.clip(guess, 1, 63)
    one = np.int64(1)
    too_big = (one << (guess - 1)) > v
    guess = guess - too_big
    too_small = (guess < 63) & ((one << np.minimum(guess, 62)) <= v)
    guess = guess + too_small
    return np.where(v == 0, 0, guess)


def window_and_normalize(frames: np.ndarray, tables: FrontendTables
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Apply the Q15 window and the block-floating normalization.

    frames: int16 (F, window_samples). Returns (v, s): v int64 (F, window_samples) holding
    int32 values with max |v| < 2**30, and s int64 (F,) in [0, MAX_NORM_SHIFT], the left
    shift applied to each frame.
    """
    v = frames.astype(np.int64) * tables.window.astype(np.int64)
    peak = np.abs(v).max(axis=-1) if v.shape[-1] else np.zeros(v.shape[:-1], np.int64)
    shift = np.minimum(NORM_TARGET_BITS - bit_length(peak), MAX_NORM_SHIFT)
    return v << shift[:, None], shift

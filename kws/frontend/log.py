"""Fixed-point log: uint64 mel energy -> int32 Q16 log2 of the float mel energy plus floor.

y = acc + (log_floor_q << 2 s) (the floor, added in the same units as acc; 1 <= y < 2**56,
docs/fixed_point.md, "6. Log"), then
log2(y) = n + log2(1 + f) with n = bit_length(y) - 1 and f the next 16 bits below the leading
one; log2(1 + f) comes from a 65-entry Q16 table with linear interpolation between entries
(error < 6e-6). Finally the scale of acc is removed: L = log2(y) - (mel_scale_log2 + 2 s),
so L is log2(float mel + log_floor) in Q16. The natural log's ln 2 is folded into the DCT.
"""

from __future__ import annotations

import numpy as np

from kws.frontend.tables import LOG_BITS, LOG_INTERP_BITS, FrontendTables
from kws.frontend.window import bit_length


def log2_q16(y: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """int64 Q16 log2 of positive integers y < 2**63 (int64, any shape)."""
    n = bit_length(y) - 1
    up = np.maximum(LOG_BITS - n, 0)
    down = np.maximum(n - LOG_BITS, 0)
    frac = ((y >> down) << up) & ((1 << LOG_BITS) - 1)
    idx = frac >> LOG_INTERP_BITS
    rem = frac & ((1 << LOG_INTERP_BITS) - 1)
    table = tables.log_table.astype(np.int64)
    lo, hi = table[idx], table[idx + 1]
    return (n << LOG_BITS) + lo + (((hi - lo) * rem) >> LOG_INTERP_BITS)


def log_mel(acc: np.ndarray, shift: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """int64 (F, num_mel) Q16 log2(mel + floor) from accumulators (F, num_mel) and shifts (F,)."""
    y = acc + (np.int64(tables.log_floor_q) << (2 * shift))[:, None]
    scale = ((tables.mel_scale_log2 + 2 * shift) << LOG_BITS)[:, None]
    return log2_q16(y, tables) - scale

"""DCT-II and int8 output: Q16 log2 mel -> int8 codes.

code[i] = clip((sum_j dct[i, j] * L[j] + dct_offset[i]) >> 36, -128, 127), where dct holds the
orthonormal DCT-II times ln 2 (log2 -> natural log) times the per-coefficient output gain in
Q20, and dct_offset the output offset in Q36 plus one half, so the shift rounds half up.
|L| < 2**22 and |dct| * num_mel < 2**31 (build_tables checks it), so every partial sum is an
integer below 2**53 (below 2**50 at the defaults: docs/fixed_point.md, "7. DCT and int8"): the
float64 matmul numpy uses here is exact, and equals the int64 loop of the C code.
"""

from __future__ import annotations

import numpy as np

from kws.frontend.tables import OUTPUT_SHIFT, FrontendTables


def dct_int8(log_q16: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """int8 (F, num_coeffs) codes from int64 Q16 log2 mel (F, num_mel)."""
    acc = (log_q16.astype(np.float64) @ tables.dct.T.astype(np.float64)).astype(np.int64)
    codes = (acc + tables.dct_offset) >> OUTPUT_SHIFT
    return np.clip(codes, -128, 127).astype(np.int8)

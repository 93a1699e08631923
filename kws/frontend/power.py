"""Power spectrum: P[k] = X_re**2 + X_im**2.

re, im are int32 values below 2**31 in magnitude after the real FFT, and in practice below
2**30.5 (the halving FFT keeps |X| <= max |v| * sqrt(2)), so P < 2**62 fits uint64 (int64 in
numpy). C: ``(uint64_t)((int64_t)re * re) + (uint64_t)((int64_t)im * im)``.
"""

from __future__ import annotations

import numpy as np


def power_spectrum(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """int64 (F, num_bins) power from int32-valued re, im of the same shape; values >= 0."""
    return re * re + im * im

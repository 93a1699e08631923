"""Power spectrum: P[k] = X_re**2 + X_im**2.

re, im are the int32 bins of the real FFT (|X| < 2**30.5), and P < 2**60 (Parseval; the
derivation is docs/fixed_point.md, "4. Power"), so P fits int64 in numpy and uint64 in C:
``(uint64_t)((int64_t)re * re) + (uint64_t)((int64_t)im * im)``.
"""

from __future__ import annotations

import numpy as np


def power_spectrum(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """int64 (F, num_bins) power from int32-valued re, im of the same shape; values >= 0."""
    return re * re + im * im

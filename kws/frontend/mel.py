"""Mel filterbank: uint64 power -> uint64 mel energies, sparse triangular Q15 weights.

acc[j] = sum over the bins of filter j of weight (Q15) * (P[k] >> MEL_INPUT_SHIFT).
P >> 20 < 2**40 and weight <= 2**15, and the bins of one filter hold less than the whole
spectrum's power (< 2**60, Parseval), so acc < 2**55 (docs/fixed_point.md, "5. Mel
filterbank"). The accumulator equals the float mel energy times 2**(mel_scale_log2 + 2 s).
"""

from __future__ import annotations

import numpy as np

from kws.frontend.tables import MEL_INPUT_SHIFT, FrontendTables


def _flat_index(tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """FFT bin of every weight, and the start of every filter in the flat weight array."""
    bins = np.concatenate([np.arange(s, s + n) for s, n in
                           zip(tables.mel_start, tables.mel_length, strict=True)])
    offsets = np.concatenate(([0], np.cumsum(tables.mel_length)[:-1]))
    return bins, offsets


def mel_energies(power: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """int64 (F, num_mel) mel accumulators (non-negative) from int64 power (F, num_bins)."""
    bins, offsets = _flat_index(tables)
    shifted = power >> MEL_INPUT_SHIFT
    products = shifted[:, bins] * tables.mel_weights.astype(np.int64)
    return np.add.reduceat(products, offsets, axis=1)

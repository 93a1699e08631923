"""Every table and constant of the fixed-point MFCC, built once from a FrontendConfig.

This is the only place where floating point appears in the front end: the per-frame
stages (window, fft, power, mel, log, dct) touch integers only. The same
:class:`FrontendTables` is written into the C build by ``firmware_export``, so Python and C
never keep a table in sync by hand.

Fixed-point formats (name = bits after the binary point):

=================  ======  =================================================================
constant           value   meaning
=================  ======  =================================================================
WINDOW_BITS        15      Hann window, int16 Q15 (1.0 clipped to 32767)
NORM_TARGET_BITS   30      windowed frame shifted left until max |v| < 2**30 (int32)
MAX_NORM_SHIFT     16      cap on that left shift (quiet frames), keeps the floor in 64 bits
TWIDDLE_BITS       31      FFT twiddles cos/sin, int32 Q31 (1.0 clipped to 2**31 - 1)
MEL_INPUT_SHIFT    20      power (uint64) shifted right by 20 before the mel weights
MEL_WEIGHT_BITS    15      mel weights, uint16 Q15 (1.0 = 32768)
LOG_BITS           16      log2 results, int32 Q16
LOG_TABLE_BITS     6       log2(1 + f) table: 2**6 segments, linear interpolation
DCT_BITS           20      DCT-II (orthonormal) x ln 2 x output gain, int32 Q20
=================  ======  =================================================================
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from kws.config import FrontendConfig
from kws.errors import ConfigError

SAMPLE_BITS = 15
"""int16 input: float sample = int16 / 2**15."""
WINDOW_BITS = 15
NORM_TARGET_BITS = 30
MAX_NORM_SHIFT = 16
TWIDDLE_BITS = 31
MEL_INPUT_SHIFT = 20
MEL_WEIGHT_BITS = 15
LOG_BITS = 16
LOG_TABLE_BITS = 6
LOG_INTERP_BITS = LOG_BITS - LOG_TABLE_BITS
DCT_BITS = 20
OUTPUT_SHIFT = LOG_BITS + DCT_BITS
"""The DCT accumulator is int64 in Q(LOG_BITS + DCT_BITS) = Q36; >> 36 gives int8 codes."""


@dataclasses.dataclass(frozen=True, eq=False)
class FrontendTables:
    """Integer tables and constants for one FrontendConfig (see the module docstring)."""

    config: FrontendConfig
    window: np.ndarray
    """int16 (window_samples,), Q15 periodic Hann."""
    twiddle_cos: np.ndarray
    """int32 (fft_size/2 + 1,), Q31 cos(2 pi k / fft_size)."""
    twiddle_sin: np.ndarray
    """int32 (fft_size/2 + 1,), Q31 sin(2 pi k / fft_size)."""
    bitrev: np.ndarray
    """int32 (fft_size/2,), bit-reversal permutation of the complex FFT input."""
    num_bins: int
    """Spectrum bins 0..num_bins-1 are computed (the last bin any mel filter touches + 1)."""
    mel_start: np.ndarray
    """int32 (num_mel,), first FFT bin of each mel filter."""
    mel_length: np.ndarray
    """int32 (num_mel,), number of FFT bins in each filter."""
    mel_weights: np.ndarray
    """uint16 (sum(mel_length),), Q15 weights of all filters, filter after filter."""
    log_table: np.ndarray
    """uint32 (2**LOG_TABLE_BITS + 1,), Q16 log2(1 + i / 2**LOG_TABLE_BITS)."""
    mel_scale_log2: int
    """mel accumulator = float mel energy * 2**(mel_scale_log2 + 2 * norm_shift)."""
    log_floor_q: int
    """log_floor in accumulator units at norm_shift 0 (shifted left by 2 * norm_shift)."""
    dct: np.ndarray
    """int32 (num_coeffs, num_mel), Q20 orthonormal DCT-II * ln(2) * output_gain."""
    dct_offset: np.ndarray
    """int64 (num_coeffs,), output_offset in Q36 plus one half (round half up)."""

    @property
    def fft_log2(self) -> int:
        """log2 of the real FFT size (9 at the defaults)."""
        return int(self.config.fft_size).bit_length() - 1


def hann_periodic(length: int) -> np.ndarray:
    """float64 (length,) periodic Hann window, as scipy.signal.get_window('hann', length)."""
    n = np.arange(length)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


def _q(values: np.ndarray, bits: int, lo: int, hi: int) -> np.ndarray:
    """Round to Q``bits`` and clip to [lo, hi]: the one quantize helper for tables."""
    return np.clip(np.rint(np.asarray(values, dtype=np.float64) * (1 << bits)), lo, hi)


def mel_matrix(config: FrontendConfig) -> np.ndarray:
    """float64 (num_mel, fft_size/2 + 1) HTK-mel triangular filters, unnormalized (peak 1)."""
    import warnings

    import librosa

    with warnings.catch_warnings():  # empty filters are reported by build_tables instead
        warnings.simplefilter("ignore", UserWarning)
        return librosa.filters.mel(sr=config.sample_rate_hz, n_fft=config.fft_size,
                                   n_mels=config.num_mel, fmin=config.lower_hz,
                                   fmax=config.upper_hz, htk=True, norm=None,
                                   dtype=np.float64)


def dct_matrix(num_coeffs: int, num_mel: int) -> np.ndarray:
    """float64 (num_coeffs, num_mel) orthonormal DCT-II, as scipy.fft.dct(norm='ortho')."""
    k = np.arange(num_coeffs)[:, None]
    n = np.arange(num_mel)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * num_mel)) * math.sqrt(2.0 / num_mel)
    m[0] /= math.sqrt(2.0)
    return m


@functools.lru_cache(maxsize=8)
def build_tables(config: FrontendConfig) -> FrontendTables:
    """Build (and cache) the integer tables for ``config``; checks every overflow bound."""
    n_fft = config.fft_size
    half = n_fft // 2
    fft_log2 = n_fft.bit_length() - 1

    window = _q(hann_periodic(config.window_samples), WINDOW_BITS, -32768, 32767)

    k = np.arange(half + 1)
    tmax = (1 << TWIDDLE_BITS) - 1
    tw_cos = _q(np.cos(2 * np.pi * k / n_fft), TWIDDLE_BITS, -tmax, tmax)
    tw_sin = _q(np.sin(2 * np.pi * k / n_fft), TWIDDLE_BITS, -tmax, tmax)

    bits = fft_log2 - 1
    bitrev = np.array([int(format(i, f"0{bits}b")[::-1], 2) if bits else 0
                       for i in range(half)])

    mel = mel_matrix(config)
    mel_q = _q(mel, MEL_WEIGHT_BITS, 0, 65535)
    starts, lengths, weights = [], [], []
    for row in mel_q:
        nz = np.nonzero(row)[0]
        if nz.size == 0:
            raise ConfigError(
                f"num_mel={config.num_mel} is too many for fft_size={n_fft} between "
                f"{config.lower_hz} and {config.upper_hz} Hz: a mel filter covers no FFT bin")
        s, e = int(nz[0]), int(nz[-1]) + 1
        starts.append(s)
        lengths.append(e - s)
        weights.extend(row[s:e])
    num_bins = max(s + n for s, n in zip(starts, lengths, strict=True))

    seg = np.arange((1 << LOG_TABLE_BITS) + 1) / (1 << LOG_TABLE_BITS)
    log_table = _q(np.log2(1.0 + seg), LOG_BITS, 0, 1 << LOG_BITS)

    # X_fixed = X_float * 2**(SAMPLE_BITS + WINDOW_BITS + s - fft_log2): the complex FFT and
    # the real split halve at each of their fft_log2 stages. Power doubles the exponent; the
    # mel stage shifts right by MEL_INPUT_SHIFT and multiplies by Q15 weights.
    mel_scale_log2 = (2 * (SAMPLE_BITS + WINDOW_BITS - fft_log2) - MEL_INPUT_SHIFT
                      + MEL_WEIGHT_BITS)
    log_floor_q = round(config.log_floor * 2.0 ** mel_scale_log2)
    if log_floor_q < 1 or log_floor_q << (2 * MAX_NORM_SHIFT) >= 1 << 62:
        raise ConfigError(f"log_floor={config.log_floor} is not representable in the "
                          f"fixed-point mel domain (2**{mel_scale_log2} scale)")

    gains = np.asarray(config.output_gain, dtype=np.float64)[:, None]
    dct = _q(dct_matrix(config.num_coeffs, config.num_mel) * math.log(2.0) * gains, DCT_BITS,
             -(1 << 31) + 1, (1 << 31) - 1)
    offsets = np.array([round(o * 2.0 ** OUTPUT_SHIFT) + (1 << (OUTPUT_SHIFT - 1))
                        for o in config.output_offset], dtype=np.int64)

    # Bounds that make the int64 DCT exact even when numpy runs it as a float64 matmul:
    # |log2 Q16| < 2**22 and |dct| * num_mel * 2**22 < 2**53.
    if np.abs(dct).max() * config.num_mel * (1 << 22) >= 2**53:
        raise ConfigError(f"output_gain={config.output_gain} is too large for the Q20 DCT")

    return FrontendTables(
        config=config,
        window=window.astype(np.int16),
        twiddle_cos=tw_cos.astype(np.int32),
        twiddle_sin=tw_sin.astype(np.int32),
        bitrev=bitrev.astype(np.int32),
        num_bins=int(num_bins),
        mel_start=np.array(starts, dtype=np.int32),
        mel_length=np.array(lengths, dtype=np.int32),
        mel_weights=np.array(weights, dtype=np.uint16),
        log_table=log_table.astype(np.uint32),
        mel_scale_log2=int(mel_scale_log2),
        log_floor_q=int(log_floor_q),
        dct=dct.astype(np.int32),
        dct_offset=offsets,
    )

"""Fixed-point real FFT: int32 frame (zero-padded to fft_size) -> int32 complex bins.

The N-point real FFT runs as an N/2-point complex FFT (radix 2, decimation in time,
bit-reversed input) on z[n] = v[2n] + i v[2n+1], followed by the real split.

Arithmetic, identical in C:
- ``mulh(a, b) = (a * b) >> 32`` with a 64-bit product and an arithmetic (floor) shift:
  for a Q31 twiddle it returns a * b_real / 2. On a Cortex-M4 this is one SMULL whose
  high word is kept.
- Butterfly (each stage halves, so the complex modulus stays below the input's
  2**30 * sqrt(2) = 2**30.5 and nothing overflows int32; docs/fixed_point.md, "3. FFT"):
  ``t = W b / 2`` (t_re = mulh(b_re, c) + mulh(b_im, s), t_im = mulh(b_im, c) - mulh(b_re, s)
  for W = c - i s); ``a' = (a >> 1) + t``; ``b' = (a >> 1) - t``.
- Real split for bin k: ``Zc = conj Z[(N/2 - k) mod N/2]``, ``e = (Z[k] >> 1) + (Zc >> 1)``,
  ``d = (Z[k] >> 1) - (Zc >> 1)``, ``u = -i W_N^k d / 2``, ``X[k] = (e >> 1) + u``.
Result: X_fixed[k] = DFT_N(v)[k] / N (fft_log2 halvings), |X| < 2**30.5 (int32 components).
"""

from __future__ import annotations

import numpy as np

from kws.frontend.tables import FrontendTables


def mulh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """High word of the 64-bit product: floor(a * b / 2**32); a, b int32 values in int64."""
    return (a * b) >> 32


def real_fft(v: np.ndarray, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point FFT of real frames.

    v: int64 (F, window_samples) holding int32 values with |v| < 2**30 (from
    window_and_normalize); zero-padded to fft_size. Returns (re, im), int64 (F, num_bins)
    holding int32 values: X[k] = DFT_fft_size(v)[k] / fft_size for k < num_bins.

    numpy works frames-last ((bins, F) arrays) so that every operation runs over long
    contiguous rows whatever the butterfly span; the arithmetic is the C loop's.
    """
    frames = v.shape[0]
    n_fft = tables.config.fft_size
    half = n_fft // 2
    padded = np.zeros((n_fft, frames), dtype=np.int64)
    padded[: v.shape[1]] = v.T
    re = padded[0::2][tables.bitrev]
    im = padded[1::2][tables.bitrev]
    new_re, new_im = np.empty_like(re), np.empty_like(im)
    cos = tables.twiddle_cos.astype(np.int64)
    sin = tables.twiddle_sin.astype(np.int64)
    work = np.empty((4, half // 2, frames), dtype=np.int64)

    span = 1
    while span < half:
        # Groups of 2 * span: a = first half, b = second half, twiddle W_half^j.
        groups = half // (2 * span)
        shape, half_shape = (groups, 2, span, frames), (groups, span, frames)
        re4, im4 = re.reshape(shape), im.reshape(shape)
        idx = np.arange(span) * (n_fft // (2 * span))
        c, s = cos[idx][:, None], sin[idx][:, None]
        p, q, t_re, t_im = (w.reshape(half_shape) for w in work)
        a_re, a_im, b_re, b_im = re4[:, 0], im4[:, 0], re4[:, 1], im4[:, 1]
        np.multiply(b_re, c, out=p)                      # t = W b / 2
        p >>= 32
        np.multiply(b_im, s, out=q)
        q >>= 32
        np.add(p, q, out=t_re)
        np.multiply(b_im, c, out=p)
        p >>= 32
        np.multiply(b_re, s, out=q)
        q >>= 32
        np.subtract(p, q, out=t_im)
        a_re >>= 1                                       # a / 2
        a_im >>= 1
        out_re, out_im = new_re.reshape(shape), new_im.reshape(shape)
        np.add(a_re, t_re, out=out_re[:, 0])             # a' = a/2 + t, b' = a/2 - t
        np.subtract(a_re, t_re, out=out_re[:, 1])
        np.add(a_im, t_im, out=out_im[:, 0])
        np.subtract(a_im, t_im, out=out_im[:, 1])
        re, new_re, im, new_im = new_re, re, new_im, im
        span *= 2

    # Real split: X[k] = (e >> 1) + u with e, d from Z[k] and conj Z[half - k].
    k = np.arange(tables.num_bins)
    mirror = (half - k) % half
    zk_re, zk_im = re[k % half] >> 1, im[k % half] >> 1
    zc_re, zc_im = re[mirror] >> 1, (-im[mirror]) >> 1
    e_re, e_im = zk_re + zc_re, zk_im + zc_im
    d_re, d_im = zk_re - zc_re, zk_im - zc_im
    c, s = cos[k][:, None], sin[k][:, None]
    u_re = mulh(d_im, c) - mulh(d_re, s)
    u_im = -mulh(d_im, s) - mulh(d_re, c)
    return ((e_re >> 1) + u_re).T, ((e_im >> 1) + u_im).T

"""Each fixed-point stage on tiny inputs whose integers can be checked by hand."""

import math

import numpy as np
import pytest

from kws.config import FrontendConfig
from kws.errors import AudioError, ConfigError
from kws.frontend import build_tables, mfcc
from kws.frontend.dct import dct_int8
from kws.frontend.fft import mulh, real_fft
from kws.frontend.framing import frame_audio
from kws.frontend.log import log2_q16, log_mel
from kws.frontend.mel import mel_energies
from kws.frontend.power import power_spectrum
from kws.frontend.window import bit_length, window_and_normalize

T = build_tables(FrontendConfig())
Q16 = 1 << 16


def test_tables_pin_their_formats() -> None:
    assert T.window.dtype == np.int16 and T.window.shape == (480,)
    # Periodic Hann: w[0] = 0, w[120] = 0.5 -> 16384 (Q15), w[240] = 1.0 -> clipped to 32767.
    assert (T.window[0], T.window[120], T.window[240]) == (0, 16384, 32767)
    assert T.twiddle_cos[0] == 2**31 - 1 and T.twiddle_sin[0] == 0
    assert T.twiddle_cos[128] == 0 and T.twiddle_sin[128] == 2**31 - 1  # pi / 2
    assert T.bitrev[:4].tolist() == [0, 128, 64, 192]
    assert T.num_bins == 128  # the 4000 Hz filter ends below bin 128 (4000 Hz)
    assert T.mel_weights.max() <= 32768 and T.mel_start[0] == 1
    assert T.log_table[0] == 0 and T.log_table[-1] == Q16 and T.log_table[32] == round(
        math.log2(1.5) * Q16)
    # mel accumulator scale: 2 * (15 + 15 - 9) - 20 + 15 = 37, floor 1e-6 * 2**37 = 137439
    assert T.mel_scale_log2 == 37 and T.log_floor_q == 137439


def test_framing_counts_and_overlap() -> None:
    x = np.arange(1120, dtype=np.int16)
    f = frame_audio(x, FrontendConfig())
    assert f.shape == (3, 480)
    assert f[1, 0] == 320 and f[2, -1] == 1119
    assert frame_audio(x[:479], FrontendConfig()).shape == (0, 480)


def test_bit_length_is_exact_near_powers_of_two() -> None:
    v = np.array([0, 1, 2, 3, 4, 2**30 - 1, 2**30, 2**53 + 1, 2**62 - 1, 2**62], dtype=np.int64)
    assert bit_length(v).tolist() == [int(x).bit_length() for x in v.tolist()]


def test_window_and_normalization_shift() -> None:
    frames = np.zeros((3, 480), dtype=np.int16)
    frames[0, 240] = 16384          # v = 16384 * 32767 = 536854528 < 2**29 -> shift 1
    frames[1, 120] = 1              # v = 16384 = 2**14 -> 30 - 15 = 15
    v, s = window_and_normalize(frames, T)   # frame 2 all zero -> capped at 16
    assert s.tolist() == [1, 15, 16]
    assert v[0, 240] == 536854528 * 2 and v[1, 120] == 16384 << 15 and not v[2].any()


def test_mulh_floors() -> None:
    a = np.array([2**30, -3, 7, -(2**31)], dtype=np.int64)
    b = np.array([2**31 - 1, 2**31 - 1, -(2**31 - 1), 2**31 - 1], dtype=np.int64)
    # floor(2**30 * (2**31-1) / 2**32) = 2**29 - 1; floor(-3 * (2**31-1) / 2**32) = -2
    assert mulh(a, b).tolist() == [2**29 - 1, -2, -4, -(2**30)]  # -(2**30 - 0.5) floors


def test_fft_of_an_impulse_is_flat() -> None:
    v = np.zeros((1, 480), dtype=np.int64)
    v[0, 0] = 2**29
    re, im = real_fft(v, T)
    # Every stage halves: Z[k] = 2**29 >> 8 = 2**21, split halves twice more -> 2**20
    # = DFT(impulse) / 512 exactly.
    np.testing.assert_array_equal(re, np.full((1, 128), 2**20))
    np.testing.assert_array_equal(im, np.zeros((1, 128)))


def test_fft_matches_float_dft_of_a_tone() -> None:
    n = np.arange(480)
    v = np.rint(2**28 * np.cos(2 * np.pi * 10 * n / 512 + 0.3)).astype(np.int64)[None]
    re, im = real_fft(v, T)
    ref = np.fft.rfft(v[0].astype(float), 512)[:128] / 512
    err = np.abs(re[0] + 1j * im[0] - ref).max()
    assert err < 64, err               # a few LSB of rounding at 2**27-size bins


def test_power_is_exact() -> None:
    re = np.array([[3, -2**30, 0]], dtype=np.int64)
    im = np.array([[4, 2**30, -5]], dtype=np.int64)
    assert power_spectrum(re, im).tolist() == [[25, 2**61, 25]]


def test_mel_single_bin() -> None:
    power = np.zeros((1, 128), dtype=np.int64)
    power[0, 5] = 1000 << 20
    acc = mel_energies(power, T)
    expect = np.zeros(40, dtype=np.int64)
    for j in range(40):
        s, n = T.mel_start[j], T.mel_length[j]
        if s <= 5 < s + n:
            expect[j] = 1000 * int(T.mel_weights[T.mel_length[:j].sum() + 5 - s])
    assert np.count_nonzero(expect) == 2   # bin 5 lies in two overlapping triangles
    np.testing.assert_array_equal(acc[0], expect)


def test_log2_q16() -> None:
    y = np.array([2**20, 3 * 2**20, 5, 2**62], dtype=np.int64)
    got = log2_q16(y, T)
    assert got[0] == 20 * Q16
    assert got[1] == 21 * Q16 + round(math.log2(1.5) * Q16)     # a table entry, no interp
    assert got[3] == 62 * Q16
    assert abs(got[2] / Q16 - math.log2(5)) < 1e-4              # interpolated


def test_log_removes_the_scale() -> None:
    # mel 1.0 at shift 0 is acc = 2**37; plus floor 1e-6 -> log2(1 + 1e-6) ~ 0
    acc = np.array([[2**37, 0]], dtype=np.int64)
    got = log_mel(acc, np.array([0]), T)
    assert got[0, 0] == 0 or abs(got[0, 0]) <= 1
    assert abs(got[0, 1] / Q16 - math.log2(1e-6)) < 1e-4


def test_dct_offsets_and_rounding() -> None:
    codes = dct_int8(np.zeros((1, 40), dtype=np.int64), T)
    assert codes.tolist() == [[50, 0, 0, 0, 0, 0, 0, 0, 0, 0]]


def test_digital_silence_gives_the_floor_code() -> None:
    # Every mel energy at the floor: c0 = sqrt(40) * ln(1e-6) = -87.38; 2 * c0 + 50 -> -125.
    feats = mfcc(np.zeros(16000, dtype=np.int16))
    assert feats.shape == (49, 10)
    np.testing.assert_array_equal(feats, np.tile([-125] + [0] * 9, (49, 1)))


def test_wrong_dtype_and_shape_are_refused() -> None:
    with pytest.raises(AudioError, match="int16"):
        mfcc(np.zeros(16000, dtype=np.float32))
    with pytest.raises(AudioError, match="1-D"):
        mfcc(np.zeros((2, 16000), dtype=np.int16))


def test_too_many_mel_filters_for_the_fft() -> None:
    with pytest.raises(ConfigError, match="num_mel"):
        build_tables(FrontendConfig(num_mel=120, num_coeffs=10, fft_size=512, upper_hz=500.0))

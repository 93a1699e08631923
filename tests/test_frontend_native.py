"""The native backend (the board's C front end compiled for this machine) equals numpy."""

import numpy as np
import pytest

from kws.config import FrontendConfig
from kws.frontend import mfcc_batch, native


def _edge_signals() -> np.ndarray:
    n = 16000
    t = np.arange(n)
    square = np.where((t // 40) % 2 == 0, 32767, -32768)
    impulse = np.zeros(n)
    impulse[8000] = 32767
    chirp = 32767 * np.sin(2 * np.pi * (50 + 3950 * t / n) * t / 16000)
    return np.stack([np.zeros(n), square, np.full(n, -32768), impulse,
                     np.clip(3 * chirp, -32768, 32767), np.full(n, 1)]).astype(np.int16)


@pytest.fixture(scope="module")
def need_native() -> None:
    if not native.available():
        pytest.fail("native front end unavailable: no C compiler found (CI installs gcc)")


def test_native_equals_numpy_on_the_whole_corpus(mini_audio: np.ndarray, need_native) -> None:
    np.testing.assert_array_equal(mfcc_batch(mini_audio, backend="native"),
                                  mfcc_batch(mini_audio, backend="numpy"))


def test_native_equals_numpy_on_edge_signals_and_another_config(need_native) -> None:
    edges = _edge_signals()
    np.testing.assert_array_equal(mfcc_batch(edges, backend="native"),
                                  mfcc_batch(edges, backend="numpy"))
    other = FrontendConfig(window_ms=25.0, stride_ms=10.0, num_mel=32, num_coeffs=13,
                           upper_hz=7600.0, output_gain=(2.0,) * 13, output_offset=(0.0,) * 13)
    np.testing.assert_array_equal(mfcc_batch(edges, other, backend="native"),
                                  mfcc_batch(edges, other, backend="numpy"))


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        mfcc_batch(np.zeros((1, 16000), np.int16), backend="gpu")

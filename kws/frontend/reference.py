"""The same MFCC in floating point with librosa: the yardstick for fidelity tests only.

Framing as the fixed-point path (frame f = samples [f * stride, f * stride + window), Hann
periodic, zero-padded to fft_size), power spectrum, librosa's HTK mel filters, natural log of
mel + log_floor, orthonormal DCT-II, then the same int8 quantization rule.
"""

from __future__ import annotations

import numpy as np

from kws.config import FrontendConfig
from kws.frontend.tables import dct_matrix, mel_matrix


def reference_mfcc(audio: np.ndarray, config: FrontendConfig | None = None) -> np.ndarray:
    """float64 (..., F, num_coeffs) MFCCs (natural-log units) of int16 audio (..., n)."""
    import librosa

    config = config or FrontendConfig()
    x = np.asarray(audio, dtype=np.float64) / 32768.0
    frames = librosa.util.frame(x, frame_length=config.window_samples,
                                hop_length=config.stride_samples, axis=-1)
    frames = np.swapaxes(frames, -1, -2)  # (..., F, window)
    window = librosa.filters.get_window("hann", config.window_samples, fftbins=True)
    spec = np.abs(np.fft.rfft(frames * window, n=config.fft_size, axis=-1)) ** 2
    mel = spec @ mel_matrix(config).T
    log_mel = np.log(mel + config.log_floor)
    return log_mel @ dct_matrix(config.num_coeffs, config.num_mel).T


def quantize_features(coeffs: np.ndarray, config: FrontendConfig | None = None) -> np.ndarray:
    """int8 codes: clip(floor(coeff * gain + offset + 0.5), -128, 127), as the fixed path."""
    config = config or FrontendConfig()
    gain = np.asarray(config.output_gain)
    offset = np.asarray(config.output_offset)
    return np.clip(np.floor(coeffs * gain + offset + 0.5), -128, 127).astype(np.int8)

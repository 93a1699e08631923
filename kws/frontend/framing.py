"""Framing: int16 audio -> overlapping frames of window_samples, one every stride_samples."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from kws.config import FrontendConfig


def frame_audio(audio: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Cut audio into frames.

    audio: int16 (..., n). Returns a read-only int16 view (..., F, window_samples) with
    F = config.num_frames(n); frame f covers samples [f * stride, f * stride + window).
    A tail shorter than one stride is left for the next call (streaming keeps it).
    """
    n = audio.shape[-1]
    count = config.num_frames(n)
    win, hop = config.window_samples, config.stride_samples
    if count == 0:
        return np.zeros(audio.shape[:-1] + (0, win), dtype=np.int16)
    view = sliding_window_view(audio[..., : (count - 1) * hop + win], win, axis=-1)
    return view[..., ::hop, :]

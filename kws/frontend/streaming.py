"""Streaming front end: int16 chunks of any size in, int8 frames out as they complete.

Equal to :func:`kws.frontend.mfcc.mfcc` on the concatenated audio, frame for frame: the
state is the last (window - stride) samples plus whatever has not yet filled a stride,
exactly as the C twin's fixed ring buffer of window_samples.
"""

from __future__ import annotations

import numpy as np

from kws.config import FrontendConfig
from kws.errors import AudioError
from kws.frontend.framing import frame_audio
from kws.frontend.mfcc import frames_to_features


class StreamingMfcc:
    """Push int16 audio, get int8 MFCC frames (F, num_coeffs) as soon as they complete."""

    def __init__(self, config: FrontendConfig | None = None) -> None:
        self.config = config or FrontendConfig()
        self._pending = np.zeros(0, dtype=np.int16)
        self.frames_emitted = 0
        """Frames returned since the last reset; frame f starts at sample f * stride."""

    def reset(self) -> None:
        """Forget all audio: the next push starts a new signal at sample 0."""
        self._pending = np.zeros(0, dtype=np.int16)
        self.frames_emitted = 0

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Feed int16 samples (n,), n >= 0; returns int8 (k, num_coeffs), k >= 0 new frames."""
        chunk = np.asarray(chunk)
        if chunk.dtype != np.int16 or chunk.ndim != 1:
            raise AudioError(f"push expects 1-D int16 samples, got {chunk.dtype} "
                             f"of shape {chunk.shape}")
        buf = np.concatenate((self._pending, chunk))
        count = self.config.num_frames(buf.size)
        if count == 0:
            self._pending = buf
            return np.zeros((0, self.config.num_coeffs), dtype=np.int8)
        frames = np.ascontiguousarray(frame_audio(buf, self.config))
        self._pending = buf[count * self.config.stride_samples:]
        self.frames_emitted += count
        return frames_to_features(frames, self.config)

"""A deterministic stand-in for the model: integer-only, so batch size never changes a score."""

from __future__ import annotations

import types

import numpy as np

from kws.config import DetectorConfig, FrontendConfig
from kws.labels import LABELS


class FakeClassifier:
    """int8 (N, 49, 10) -> int8 (N, 12) 'softmax-like' scores from a fixed random projection.

    logits = (sum of the last 25 frames, per coefficient) . W (int64, exact);
    weight_i = 2 ** -((max - logit_i) // step); score_i = weight_i * 256 // sum(weights) - 128
    (clipped to int8). Scores move smoothly as the window slides, so the detector sees rises
    and falls like a real model's.
    """

    labels = LABELS
    frontend_config = FrontendConfig()

    def __init__(self, seed: int = 0, step: int = 300,
                 detector_config: DetectorConfig | None = None) -> None:
        rng = np.random.default_rng(seed)
        self.w = rng.integers(-8, 9, size=(10, len(LABELS))).astype(np.int64)
        self.step = step
        self.detector_config = detector_config or DetectorConfig(threshold=160)
        self.calls: list[int] = []
        """Batch size of every predict call."""

    def predict(self, features: np.ndarray) -> np.ndarray:
        assert features.dtype == np.int8 and features.shape[1:] == (49, 10), features.shape
        self.calls.append(features.shape[0])
        logits = features[:, -25:].astype(np.int64).sum(axis=1) @ self.w
        drop = np.minimum((logits.max(axis=1, keepdims=True) - logits) // self.step, 30)
        weights = np.int64(1 << 30) >> drop
        scores = weights * 256 // weights.sum(axis=1, keepdims=True)
        return np.clip(scores - 128, -128, 127).astype(np.int8)


class WindowRecorder(FakeClassifier):
    """A FakeClassifier that also keeps every window it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.windows: list[np.ndarray] = []

    def predict(self, features: np.ndarray) -> np.ndarray:
        self.windows.extend(features.copy())
        return super().predict(features)


class Flags:
    """sounddevice's CallbackFlags, as far as the microphone source reads them."""

    def __init__(self, overflow: bool = False) -> None:
        self.input_overflow = overflow


def fake_sounddevice(fail: bool = False, rates: tuple[int, ...] = (16000,),
                     default_rate: int = 16000) -> types.ModuleType:
    """A stand-in sounddevice module: InputStream records its arguments (or fails); the
    device records at ``rates`` only, ``default_rate`` by default."""
    sd = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    class InputStream:
        def __init__(self, **kw: object) -> None:
            if fail:
                raise PortAudioError("Error querying device -1")
            self.kw = kw
            self.started = self.closed = False

        def start(self) -> None:
            self.started = True

        def stop(self) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    def check_input_settings(device: object = None, samplerate: float = 0, **kw: object) -> None:
        if samplerate not in rates:
            raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    def query_devices(device: object = None, kind: str | None = None) -> dict:
        return {"name": "fake", "default_samplerate": float(default_rate)}

    sd.PortAudioError = PortAudioError  # type: ignore[attr-defined]
    sd.InputStream = InputStream  # type: ignore[attr-defined]
    sd.check_input_settings = check_input_settings  # type: ignore[attr-defined]
    sd.query_devices = query_devices  # type: ignore[attr-defined]
    return sd

"""The streaming pipeline: int16 audio chunks in, detections out.

    audio int16 (any chunking)
      -> StreamingMfcc                      int8 frames (49 per second at the defaults)
      -> history of the last frames_per_clip frames
      -> classifier every hop_frames frames int8 scores (num_labels,) at an int ms time
      -> Detector                           Detection(label, time_ms, score)

:class:`ScoreStream` is the first three steps (audio -> timed scores); :class:`Pipeline`
adds the detector. A result is computed for the window of frames ``f - frames_per_clip + 1
.. f`` whenever ``f + 1 >= frames_per_clip`` and ``(f + 1 - frames_per_clip) % hop_frames ==
0`` (f counted from the start of the stream), and it is stamped with the end of frame f's
audio: ``time_ms = (f * stride_samples + window_samples) * 1000 // sample_rate_hz``. So the
results, and therefore the detections, do not depend on how the audio was cut into chunks;
the windows completed by one chunk go to the classifier as one batch (fast on whole files).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from kws.config import DetectorConfig, FrontendConfig
from kws.detector import Detection, Detector
from kws.errors import ConfigError, ModelError
from kws.frontend import StreamingMfcc, build_tables
from kws.runtime import DEFAULT_MODEL

MAX_BATCH = 256
"""Windows per classifier call: bounds memory when a whole file arrives as one chunk."""
CHUNK_SAMPLES = 16000 * 4
"""Samples per push when a recording is streamed through the pipeline (4 s at 16 kHz): the
front end's intermediates for one push are about 1.6 MB per second of audio, so this keeps
them near 7 MB, while 100 frames per push keep the per-call overhead small. Results do not
depend on it."""


@runtime_checkable
class Classifier(Protocol):
    """What the pipeline needs from a model (kws.runtime's model is one)."""

    @property
    def labels(self) -> tuple[str, ...]:
        """Output labels, index = score column."""
        ...

    def predict(self, features: np.ndarray) -> np.ndarray:
        """int8 (N, frames_per_clip, num_coeffs) features -> int8 (N, num_labels) scores."""
        ...


def frontend_config_of(classifier: object) -> FrontendConfig:
    """The classifier's ``frontend_config`` if it has one, else the default FrontendConfig."""
    config = getattr(classifier, "frontend_config", None)
    return config if isinstance(config, FrontendConfig) else FrontendConfig()


def detector_config_of(classifier: object) -> DetectorConfig:
    """The classifier's ``detector_config`` (the model's metadata) if any, else the default."""
    config = getattr(classifier, "detector_config", None)
    return config if isinstance(config, DetectorConfig) else DetectorConfig()


def result_time_ms(frame_index: np.ndarray | int, config: FrontendConfig) -> np.ndarray:
    """int64 ms at the end of frame ``frame_index``'s audio (frame 0 ends at window_ms)."""
    end_sample = np.asarray(frame_index, dtype=np.int64) * config.stride_samples \
        + config.window_samples
    return end_sample * 1000 // config.sample_rate_hz


class ScoreStream:
    """Audio chunks -> classifier results every ``hop_frames`` frames.

    classifier: a :class:`Classifier`; frontend_config: must be the config the model was
    trained with (default: the classifier's own); hop_frames: frames between results (>= 1).
    """

    def __init__(self, classifier: Classifier, frontend_config: FrontendConfig | None = None,
                 hop_frames: int = 2) -> None:
        if isinstance(hop_frames, bool) or not isinstance(hop_frames, int) or hop_frames < 1:
            raise ConfigError(f"hop_frames={hop_frames!r} must be an int >= 1")
        self.classifier = classifier
        self.frontend_config = frontend_config or frontend_config_of(classifier)
        self.hop_frames = hop_frames
        self.labels: tuple[str, ...] = tuple(classifier.labels)
        self._mfcc = StreamingMfcc(self.frontend_config)
        fc = self.frontend_config
        self._clip = fc.frames_per_clip
        self._history = np.zeros((self._clip - 1, fc.num_coeffs), dtype=np.int8)
        self.frames_seen = 0
        """Front-end frames produced since the last reset."""

    @property
    def hop_ms(self) -> float:
        """Time between two results in ms (40 at the defaults)."""
        return self.hop_frames * self.frontend_config.stride_samples * 1000 \
            / self.frontend_config.sample_rate_hz

    def reset(self) -> None:
        """Forget all audio: the next push starts a new stream at time 0."""
        self._mfcc.reset()
        self._history[:] = 0
        self.frames_seen = 0

    def push(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed int16 samples (n,), n >= 0.

        Returns (times_ms int64 (R,), scores int8 (R, num_labels)): the results completed by
        this chunk, in time order (R >= 0).
        """
        new = self._mfcc.push(chunk)
        first = self.frames_seen
        k = new.shape[0]
        buf = np.concatenate((self._history, new))        # buf row j = frame first - clip + 1 + j
        self._history = buf[buf.shape[0] - (self._clip - 1):].copy()
        self.frames_seen += k
        ends = np.arange(first, first + k)                 # candidate last frames
        ends = ends[(ends >= self._clip - 1) & ((ends - (self._clip - 1)) % self.hop_frames == 0)]
        if ends.size == 0:
            return (np.zeros(0, dtype=np.int64),
                    np.zeros((0, len(self.labels)), dtype=np.int8))
        rows = ends - first + self._clip - 1               # row of the last frame in buf
        windows = np.lib.stride_tricks.sliding_window_view(buf, self._clip, axis=0)
        windows = windows.transpose(0, 2, 1)[rows - (self._clip - 1)]  # (R, clip, coeffs)
        scores = np.concatenate([self._predict(windows[i:i + MAX_BATCH])
                                 for i in range(0, windows.shape[0], MAX_BATCH)])
        return result_time_ms(ends, self.frontend_config), scores

    def _predict(self, windows: np.ndarray) -> np.ndarray:
        out = np.asarray(self.classifier.predict(np.ascontiguousarray(windows)))
        if out.dtype != np.int8 or out.shape != (windows.shape[0], len(self.labels)):
            raise ModelError(f"classifier returned {out.dtype} {out.shape}, expected int8 "
                             f"({windows.shape[0]}, {len(self.labels)})")
        return out


class Pipeline:
    """Audio chunks -> detections: a :class:`ScoreStream` followed by a :class:`Detector`.

    The configs default to the classifier's metadata (``frontend_config``,
    ``detector_config``); see :func:`with_overrides` for command-line changes.
    """

    def __init__(self, classifier: Classifier, frontend_config: FrontendConfig | None = None,
                 detector_config: DetectorConfig | None = None) -> None:
        self.detector_config = detector_config or detector_config_of(classifier)
        self.scores = ScoreStream(classifier, frontend_config, self.detector_config.hop_frames)
        check_window_fits(self.detector_config, self.scores.hop_ms)
        self.detector = Detector(self.detector_config, self.scores.labels)
        self.last_time_ms = -1
        """Time of the newest result (-1 before the first)."""
        self.last_scores = np.full(len(self.scores.labels), -128, dtype=np.int8)
        """int8 (num_labels,): the newest raw result (for displays)."""

    @property
    def labels(self) -> tuple[str, ...]:
        """The classifier's labels."""
        return self.scores.labels

    @property
    def frontend_config(self) -> FrontendConfig:
        """The front end in use."""
        return self.scores.frontend_config

    def warm_up(self) -> None:
        """Build the front end's tables and run the classifier once on zeros, so the first
        live chunk is not slowed by one-time work (imports, table building). No state
        changes."""
        fc = self.frontend_config
        build_tables(fc)
        self.scores.classifier.predict(
            np.zeros((1, fc.frames_per_clip, fc.num_coeffs), dtype=np.int8))

    def reset(self) -> None:
        """Start a new stream at time 0 (front end, frame history and detector)."""
        self.scores.reset()
        self.detector.reset()
        self.last_time_ms = -1
        self.last_scores[:] = -128

    def push(self, chunk: np.ndarray) -> list[Detection]:
        """Feed int16 samples (n,); return the detections they complete, in time order."""
        times, scores = self.scores.push(chunk)
        found = []
        for time_ms, row in zip(times.tolist(), scores, strict=True):
            hit = self.detector.update(row, time_ms)
            if hit is not None:
                found.append(hit)
        if times.size:
            self.last_time_ms = int(times[-1])
            self.last_scores = scores[-1].copy()
        return found


def check_window_fits(config: DetectorConfig, hop_ms: float) -> None:
    """Refuse a detector whose averaging window holds more results than its ring."""
    needed = int(np.ceil(config.average_window_ms / hop_ms))
    if needed > config.max_results:
        raise ConfigError(f"average_window_ms={config.average_window_ms} holds {needed} results "
                          f"at a {hop_ms:g} ms hop, more than max_results={config.max_results}")


def score_audio(classifier: Classifier, audio: np.ndarray,
                frontend_config: FrontendConfig | None = None, hop_frames: int = 2,
                chunk_samples: int = 16000 * 60) -> tuple[np.ndarray, np.ndarray]:
    """All results of one recording, through the streaming path in big chunks.

    audio: int16 (n,). Returns (times_ms int64 (R,), scores int8 (R, num_labels)).
    """
    stream = ScoreStream(classifier, frontend_config, hop_frames)
    parts = [stream.push(audio[i:i + chunk_samples])
             for i in range(0, audio.size, chunk_samples)]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros((0, len(stream.labels)), dtype=np.int8)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def detect_audio(classifier: Classifier, audio: np.ndarray,
                 frontend_config: FrontendConfig | None = None,
                 detector_config: DetectorConfig | None = None,
                 chunk_samples: int = 16000 * 60) -> list[Detection]:
    """Every detection in one recording (int16 (n,)), as fast as the pipeline goes."""
    pipe = Pipeline(classifier, frontend_config, detector_config)
    found: list[Detection] = []
    for i in range(0, audio.size, chunk_samples):
        found += pipe.push(audio[i:i + chunk_samples])
    return found


def rechunk(blocks: Iterable[np.ndarray], chunk_samples: int) -> Iterator[np.ndarray]:
    """Cut a stream of 1-D blocks (any sizes) into chunks of exactly ``chunk_samples``
    samples (>= 1), the last one shorter (and non-empty); the dtype is kept. Holds at most
    one chunk plus one block."""
    if isinstance(chunk_samples, bool) or not isinstance(chunk_samples, int) \
            or chunk_samples < 1:
        raise ConfigError(f"chunk_samples={chunk_samples!r} must be an int >= 1")
    parts: list[np.ndarray] = []
    have = 0
    for block in blocks:
        parts.append(block)
        have += block.size
        if have < chunk_samples:
            continue
        buf = np.concatenate(parts)
        cut = buf.size - buf.size % chunk_samples
        for i in range(0, cut, chunk_samples):
            yield buf[i:i + chunk_samples]
        parts, have = [buf[cut:].copy()], buf.size - cut
    if have:
        yield np.concatenate(parts)


def detect_blocks(pipeline: Pipeline, blocks: Iterable[np.ndarray],
                  chunk_samples: int = CHUNK_SAMPLES) -> Iterator[Detection]:
    """Run a recording given as int16 (n,) blocks through ``pipeline`` (reset first),
    re-cut into ``chunk_samples`` pushes, yielding each detection as soon as it completes.

    Memory is one chunk plus one block, whatever the recording's length (e.g. the blocks of
    kws.audio.read_blocks); the detections equal detect_audio on the whole recording.
    """
    pipeline.reset()
    for chunk in rechunk(blocks, chunk_samples):
        yield from pipeline.push(chunk)


def with_overrides(config: DetectorConfig, keywords: Sequence[str] | None = None,
                   threshold: int | None = None) -> DetectorConfig:
    """A copy of ``config`` with command-line overrides (None keeps the config's value).

    A new ``threshold`` replaces the per-keyword thresholds too.
    """
    changes: dict[str, object] = {}
    if keywords:
        changes["keywords"] = tuple(keywords)
    if threshold is not None:
        changes["threshold"] = threshold
        changes["keyword_thresholds"] = {}
    return dataclasses.replace(config, **changes) if changes else config


def load_classifier(path: str | Path | None = None) -> Classifier:
    """Load a self-describing .tflite (default: DEFAULT_MODEL) through kws.runtime.

    The model brings its labels, front-end config and detector defaults. Raises ModelError
    when the file is missing or unusable.
    """
    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.is_file():
        raise ModelError(f"{path}: no such model file" + (
            " (the default model is not built yet; pass --model)" if path == DEFAULT_MODEL
            else ""))
    from kws.runtime import KwsModel

    return KwsModel(path)


def build_pipeline(classifier: Classifier, keywords: Sequence[str] | None = None,
                   threshold: int | None = None) -> Pipeline:
    """A Pipeline with the classifier's own configs and command-line overrides applied."""
    config = with_overrides(detector_config_of(classifier), keywords, threshold)
    return Pipeline(classifier, frontend_config_of(classifier), config)

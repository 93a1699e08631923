"""The streaming detector: class scores over time in, "heard <word> @ t ms" out.

In the spirit of TensorFlow Lite Micro's ``RecognizeCommands``: the detector keeps the
results of the last ``average_window_ms``, averages them per class, and reports a wake
keyword when its average reaches the keyword's threshold, at most once per
``suppression_ms``. Written so that the C twin (``kws_detector.c``) follows it line for line:

- configuration (:class:`kws.config.DetectorConfig`, human units) is turned once into
  integer tables by :func:`build_detector_tables` (the only place strings and dicts appear);
- the working state (:class:`DetectorState`) is fixed-size: a ring of ``max_results`` rows of
  uint8 scores, an int32 timestamp per row, int32 running sums, two int32 counters and the
  time of the last detection;
- the per-result path (:meth:`Detector.update`) is integer-only: uint8 scores, int32 ms,
  floor division for the average. No floats.

One result (:meth:`Detector.update`), step by step (the C twin uses the same names)::

    1. check       time_ms is an int in [0, 2**31 - 1] and not before the previous result's;
                   scores is int8 (num_labels,) (0..255 after + 128)
    2. store       if the ring is full, drop the oldest row (subtract it from sums);
                   write uint8 scores = int8 + 128 and time_ms at the head; add to sums
    3. evict       drop the oldest rows while time_ms - their time >= average_window_ms
                   (the newest row always stays: the window is (time_ms - window, time_ms])
    4. count       if count < min_count: no decision (return None)
    5. average     avg[i] = sums[i] // count   (floor; sums < 2**31 since 255 * max_results)
    6. candidate   the wake label with the highest avg (ties: the lowest label index)
    7. suppress    if a detection happened and time_ms - last_detection_ms < suppression_ms:
                   return None
    8. decide      if avg[candidate] >= thresholds[candidate]: remember last_detection_ms =
                   time_ms and return Detection(label, time_ms, avg[candidate])

Scores are the model's int8 softmax outputs (scale 1/256, zero point -128), so the uint8
score s means probability s / 256 and thresholds are on the same 0..255 scale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from kws.config import MAX_RESULTS_LIMIT, DetectorConfig
from kws.errors import ConfigError, DetectorError
from kws.labels import SILENCE, UNKNOWN

SCORE_OFFSET = 128
"""int8 score + SCORE_OFFSET = uint8 score 0..255 (the model's zero point is -128)."""
SCORE_SCALE = 256
"""uint8 score / SCORE_SCALE = probability (the model's output scale is 1/256)."""
INT32_MAX = 2**31 - 1
"""Timestamps are int32 milliseconds: a stream may run for 24.8 days before they overflow."""
NEVER = -1
"""``last_detection_ms`` before the first detection (valid times are >= 0)."""


@dataclasses.dataclass(frozen=True)
class Detection:
    """One detected keyword.

    label: the keyword; time_ms: int, ms since the start of the stream, the end of the
    audio that completed the detection; score: int 0..255, the averaged uint8 score
    (probability = score / 256).
    """

    label: str
    time_ms: int
    score: int

    @property
    def probability(self) -> float:
        """The averaged score as a probability in [0, 1)."""
        return self.score / SCORE_SCALE


@dataclasses.dataclass(frozen=True)
class DetectorTables:
    """Integer form of a DetectorConfig for one label list (what the C build compiles in).

    thresholds: int32 (num_labels,), 0..255 for a wake label, 256 (unreachable) otherwise.
    wake: int32 (num_wake,), the label indices that can wake the detector, ascending.
    """

    labels: tuple[str, ...]
    thresholds: np.ndarray
    wake: np.ndarray
    average_window_ms: int
    min_count: int
    suppression_ms: int
    max_results: int


def build_detector_tables(config: DetectorConfig, labels: Sequence[str]) -> DetectorTables:
    """Resolve keywords and per-keyword thresholds against the model's labels.

    An empty ``config.keywords`` means every label except _silence_ and _unknown_. A keyword
    or a per-keyword threshold naming a label the model lacks raises ConfigError.
    """
    labels = tuple(labels)
    if config.max_results > MAX_RESULTS_LIMIT:
        raise ConfigError(f"max_results={config.max_results} exceeds {MAX_RESULTS_LIMIT}")
    if not labels:
        raise ConfigError("the detector needs at least one label")
    if len(set(labels)) != len(labels):
        raise ConfigError(f"labels {labels} contain duplicates")
    keywords = config.keywords or tuple(x for x in labels if x not in (SILENCE, UNKNOWN))
    for name in (*keywords, *config.keyword_thresholds):
        if name not in labels:
            raise ConfigError(f"keyword {name!r} is not a label of the model "
                              f"(labels: {', '.join(labels)})")
    if not keywords:
        raise ConfigError("no keyword can wake the detector (keywords is empty and the model "
                          "has only _silence_/_unknown_)")
    unreachable = SCORE_SCALE
    thresholds = np.full(len(labels), unreachable, dtype=np.int32)
    for name in keywords:
        thresholds[labels.index(name)] = config.keyword_thresholds.get(name, config.threshold)
    wake = np.array(sorted(labels.index(name) for name in set(keywords)), dtype=np.int32)
    return DetectorTables(labels=labels, thresholds=thresholds, wake=wake,
                          average_window_ms=config.average_window_ms,
                          min_count=config.min_count, suppression_ms=config.suppression_ms,
                          max_results=config.max_results)


class DetectorState:
    """The detector's working memory: fixed-size arrays, sized once (a C struct).

    scores: uint8 (max_results, num_labels), the ring of stored results.
    times_ms: int32 (max_results,), their timestamps.
    sums: int32 (num_labels,), the per-label sum of the stored rows.
    oldest: index of the oldest stored row; count: number of stored rows (0..max_results).
    last_time_ms: time of the newest result, NEVER before the first.
    last_detection_ms: time of the last detection, NEVER before the first.
    """

    def __init__(self, max_results: int, num_labels: int) -> None:
        self.scores = np.zeros((max_results, num_labels), dtype=np.uint8)
        self.times_ms = np.zeros(max_results, dtype=np.int32)
        self.sums = np.zeros(num_labels, dtype=np.int32)
        self.oldest = 0
        self.count = 0
        self.last_time_ms = NEVER
        self.last_detection_ms = NEVER

    def clear(self) -> None:
        """Back to the state of a fresh detector (arrays zeroed, nothing stored)."""
        self.scores[:] = 0
        self.times_ms[:] = 0
        self.sums[:] = 0
        self.oldest = 0
        self.count = 0
        self.last_time_ms = NEVER
        self.last_detection_ms = NEVER


class Detector:
    """Average recent scores, threshold them, suppress repeats.

    config: the knobs (normally the model's ``detector_config``); labels: the model's output
    labels, in output order. Feed :meth:`update` one result at a time, in time order.
    """

    def __init__(self, config: DetectorConfig, labels: Sequence[str]) -> None:
        self.config = config
        self.tables = build_detector_tables(config, labels)
        self.state = DetectorState(config.max_results, len(self.tables.labels))

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's labels, index = score column."""
        return self.tables.labels

    def reset(self) -> None:
        """Forget every result and detection: the next update starts a new stream."""
        self.state.clear()

    def update(self, scores: np.ndarray, time_ms: int) -> Detection | None:
        """Add one classifier result; return a Detection when a wake keyword fires.

        scores: int8 (num_labels,), the model's output (zero point -128, scale 1/256).
        time_ms: int, ms since the start of the stream (0 .. 2**31 - 1), never before the
        previous result's time. Raises DetectorError on a bad shape, dtype or time.
        """
        t = self.tables
        s = self.state
        # 1. check
        scores = np.asarray(scores)
        if scores.dtype != np.int8 or scores.shape != (len(t.labels),):
            raise DetectorError(f"scores must be int8 of shape ({len(t.labels)},), got "
                                f"{scores.dtype} of shape {scores.shape}")
        if isinstance(time_ms, bool) or not isinstance(time_ms, (int, np.integer)) \
                or not 0 <= time_ms <= INT32_MAX:
            raise DetectorError(f"time_ms={time_ms!r} must be an int in 0..{INT32_MAX}")
        time_ms = int(time_ms)
        if time_ms < s.last_time_ms:
            raise DetectorError(f"time_ms={time_ms} goes back in time (previous result at "
                                f"{s.last_time_ms} ms); call reset() to start a new stream")
        s.last_time_ms = time_ms
        # 2. store (uint8 = int8 + 128, exact in int16)
        if s.count == t.max_results:
            s.sums -= s.scores[s.oldest]
            s.oldest = (s.oldest + 1) % t.max_results
            s.count -= 1
        head = (s.oldest + s.count) % t.max_results
        s.scores[head] = (scores.astype(np.int16) + SCORE_OFFSET).astype(np.uint8)
        s.times_ms[head] = time_ms
        s.sums += s.scores[head]
        s.count += 1
        # 3. evict results that left the window (time_ms - window, time_ms]
        while s.count > 1 and time_ms - int(s.times_ms[s.oldest]) >= t.average_window_ms:
            s.sums -= s.scores[s.oldest]
            s.oldest = (s.oldest + 1) % t.max_results
            s.count -= 1
        # 4. count
        if s.count < t.min_count:
            return None
        # 5. average (floor) and 6. candidate: the first wake label with the highest average
        avg = s.sums[t.wake] // s.count
        k = int(np.argmax(avg))
        best = int(t.wake[k])
        best_avg = int(avg[k])
        # 7. suppress
        if s.last_detection_ms != NEVER and time_ms - s.last_detection_ms < t.suppression_ms:
            return None
        # 8. decide
        if best_avg >= int(t.thresholds[best]):
            s.last_detection_ms = time_ms
            return Detection(label=t.labels[best], time_ms=time_ms, score=best_avg)
        return None

    def run(self, times_ms: np.ndarray, scores: np.ndarray) -> list[Detection]:
        """Feed many results in order; return every detection.

        times_ms: int (R,), non-decreasing ms; scores: int8 (R, num_labels).
        """
        times_ms = np.asarray(times_ms)
        scores = np.asarray(scores)
        if scores.ndim != 2 or times_ms.shape != (scores.shape[0],):
            raise DetectorError(f"times_ms {times_ms.shape} and scores {scores.shape} must be "
                                "(R,) and (R, num_labels)")
        out = []
        for time_ms, row in zip(times_ms.tolist(), scores, strict=True):
            found = self.update(row, time_ms)
            if found is not None:
                out.append(found)
        return out

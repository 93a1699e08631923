"""Tune a model's detector on streams of speakers it never heard, for one or more hops.

    the model's metadata -> the split to tune on (never one it trained on, never test)
      -> streams of that split: keywords among other words at each SNR (TuningSpec.snrs_db),
         and a keywords-only stream at 20 dB for the latency bound
      -> the model's scores, once per stream and hop (kws.stream.score_audio)
      -> every detector setting of the grid, rerun on the stored scores (fast_detect, the
         vectorized twin of kws.detector.Detector, checked against it before use)
      -> the setting with the lowest mean false-reject rate (mean over keywords and over the
         SNR streams) whose false accepts per hour per keyword stay within the budget on every
         SNR stream and that has no late detection (the right word more than 500 ms after its
         clip, kws.stream_eval.late_detections) on any stream

Ties go to the larger min_count, the longer average window, the higher threshold, then the
shorter suppression. When no setting meets the budget, the one with the fewest false accepts
(then the lowest FRR) is taken and :attr:`TunedDetector.within_budget` says so.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kws import validate as check
from kws.config import DetectorConfig
from kws.data.splits import TUNING
from kws.data.streams import StreamSpec, TruthEvent, make_stream
from kws.detector import SCORE_OFFSET, Detection, Detector, build_detector_tables
from kws.errors import ConfigError
from kws.stream import Classifier, frontend_config_of, score_audio
from kws.stream_eval import StreamMetrics, late_detections, match

WINDOWS_MS = (160, 240, 320, 400, 560, 720, 880)
"""Averaging windows tried at the laptop's hop (at a longer hop: multiples of the hop)."""
MIN_COUNTS = (1, 2, 3, 5)
SUPPRESSIONS_MS = (1000, 1500)
THRESHOLDS = (*range(100, 256, 4), 255)
MAX_STREAM_MINUTES = 600.0
"""Longest tuning or mining stream, in minutes (ten hours: a typo guard)."""
BOUND_SNR_DB = 20.0
"""SNR of the keywords-only stream on which no detection may come late."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TuningSpec:
    """What the tuner builds and what it asks for."""

    fa_per_hour: float = 1.0
    """False-accept budget per keyword per hour, on every SNR stream."""
    snrs_db: tuple[float, ...] = (20.0, 10.0)
    """SNRs of the tuning streams (keywords among other words)."""
    minutes: float = 30.0
    """Length of each SNR stream."""
    bound_minutes: float = 10.0
    """Length of the keywords-only stream of the latency bound (0: no such stream)."""
    seed: int = 2
    """Seed of the first stream (the others use seed + 1, + 2, ...)."""

    def __post_init__(self) -> None:
        check.positive("fa_per_hour", self.fa_per_hour)
        check.numbers("snrs_db", self.snrs_db, empty=False)
        check.number_in("minutes", self.minutes, 0.0, MAX_STREAM_MINUTES, open_low=True)
        check.number_in("bound_minutes", self.bound_minutes, 0.0, MAX_STREAM_MINUTES)
        check.seed("seed", self.seed)


@dataclasses.dataclass(frozen=True)
class StreamFigures:
    """One setting on one stream."""

    name: str
    fa_per_hour_per_keyword: float
    mean_frr: float
    late: int


@dataclasses.dataclass(frozen=True)
class TunedDetector:
    """The chosen setting at one hop and its figures on every tuning stream."""

    config: DetectorConfig
    figures: tuple[StreamFigures, ...]
    within_budget: bool
    settings_tried: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the metadata's ``detector_tuning`` entry of one hop)."""
        return {"hop_frames": self.config.hop_frames, "within_budget": self.within_budget,
                "settings_tried": self.settings_tried,
                "streams": [{"name": f.name, "fa_per_hour_per_keyword":
                             round(f.fa_per_hour_per_keyword, 3),
                             "mean_frr": round(f.mean_frr, 4), "late": f.late}
                            for f in self.figures]}


def trained_splits(metadata: dict[str, Any]) -> tuple[tuple[str, ...], float | None] | None:
    """(train_splits, tuning_percent) recorded in a model's metadata, None if unrecorded."""
    training = metadata.get("training")
    if not isinstance(training, dict):
        return None
    splits = tuple(str(s) for s in training.get("train_splits", ()))
    percent = training.get("tuning_percent")
    return splits, (float(percent) if percent is not None else None)


def choose_split(metadata: dict[str, Any], split: str | None = None) -> tuple[str, float | None]:
    """The split to tune on and the tuning percent to build it with.

    ``split`` None picks "validation" for a model trained on train only, "tuning" for one
    trained on train + validation with a tuning split. Raises ConfigError for the test split
    (it is for the figures), for a split the model trained on, and when no split is left.
    """
    record = trained_splits(metadata)
    if split == "test":
        raise ConfigError("refusing to tune on the test split: it is kept for the figures "
                          "(tune on validation, or on the tuning split)")
    if record is None:
        if split is None:
            raise ConfigError("the model's metadata does not record the splits it trained on "
                              "(quantized before that was recorded); name one with --split")
        return split, None
    trained, percent = record
    if split is None:
        if "validation" not in trained:
            return "validation", percent
        if percent is None:
            raise ConfigError("the model trained on train + validation and has no tuning "
                              "split (data.tuning_percent): no split it never heard is left")
        split = TUNING
    if split in trained:
        raise ConfigError(f"refusing to tune on the {split!r} split: the model trained on it "
                          f"(trained on {' + '.join(trained)})")
    if split == TUNING and percent is None:
        raise ConfigError("the model has no tuning split (its data.tuning_percent is unset)")
    return split, percent


def fast_detect(config: DetectorConfig, labels: tuple[str, ...], times: np.ndarray,
                scores: np.ndarray) -> list[Detection]:
    """Detector.run's output, vectorized over results (same integer arithmetic)."""
    tables = build_detector_tables(config, labels)
    u = scores.astype(np.int64) + SCORE_OFFSET
    csum = np.concatenate((np.zeros((1, u.shape[1]), np.int64), np.cumsum(u, axis=0)))
    idx = np.arange(times.size)
    lo = np.searchsorted(times, times - config.average_window_ms, side="right")
    lo = np.maximum(lo, idx - config.max_results + 1)
    count = idx - lo + 1
    avg = (csum[idx + 1][:, tables.wake] - csum[lo][:, tables.wake]) // count[:, None]
    k = np.argmax(avg, axis=1)
    best = tables.wake[k]
    best_avg = avg[idx, k]
    ok = (count >= config.min_count) & (best_avg >= tables.thresholds[best])
    out, last = [], None
    for i in np.nonzero(ok)[0].tolist():
        t = int(times[i])
        if last is None or t - last >= config.suppression_ms:
            out.append(Detection(labels[int(best[i])], t, int(best_avg[i])))
            last = t
    return out


@dataclasses.dataclass(frozen=True)
class TuningStream:
    """One tuning stream: its audio, truth and name; ``scored`` holds the scores per hop."""

    name: str
    audio: np.ndarray
    truth: list[TruthEvent]
    keyword_stream: bool
    """True for the keywords-only latency-bound stream (its FRR is not optimized)."""

    @property
    def duration_ms(self) -> int:
        return int(self.audio.size // 16)


def build_streams(data_dir: str | Path, split: str, tuning_percent: float | None,
                  spec: TuningSpec) -> list[TuningStream]:
    """The SNR streams (70 % keywords, 0.5-2.5 s gaps, as bench_stream.py) and the
    keywords-only 20 dB bound stream of ``split``."""
    streams = []
    for i, snr in enumerate(spec.snrs_db):
        s = StreamSpec(split=split, duration_s=spec.minutes * 60, seed=spec.seed + i,
                       snr_db=snr, keyword_fraction=0.7, gap_min_s=0.5, gap_max_s=2.5,
                       tuning_percent=tuning_percent)
        audio, truth, _ = make_stream(data_dir, s)
        streams.append(TuningStream(f"{split} {snr:g} dB", audio, truth, False))
    if spec.bound_minutes > 0:
        s = StreamSpec(split=split, duration_s=spec.bound_minutes * 60,
                       seed=spec.seed + len(spec.snrs_db), snr_db=BOUND_SNR_DB,
                       keyword_fraction=1.0, tuning_percent=tuning_percent)
        audio, truth, _ = make_stream(data_dir, s)
        streams.append(TuningStream(f"{split} keywords only {BOUND_SNR_DB:g} dB", audio,
                                    truth, True))
    return streams


def grid(base: DetectorConfig, hop_ms: float) -> list[DetectorConfig]:
    """Every setting tried at a hop of ``hop_ms``: windows of at least one hop (at a long
    hop, one to four hops), min counts that fit the window, suppressions, thresholds."""
    windows = sorted({w for w in WINDOWS_MS if w >= hop_ms}
                     | {math.ceil(k * hop_ms) for k in (1, 2, 3, 4) if k * hop_ms <= 1300})
    out = []
    for window, min_count, suppression, threshold in itertools.product(
            windows, MIN_COUNTS, SUPPRESSIONS_MS, THRESHOLDS):
        if min_count > math.ceil(window / hop_ms - 1e-9) or min_count > base.max_results:
            continue
        out.append(dataclasses.replace(base, average_window_ms=window, min_count=min_count,
                                       suppression_ms=suppression, threshold=threshold,
                                       keyword_thresholds={}))
    return out


@dataclasses.dataclass(frozen=True)
class GridRow:
    """One setting of the grid: its figures, worst FA/h per keyword and mean FRR over the
    SNR streams, and its late detections on all streams."""

    config: DetectorConfig
    figures: tuple[StreamFigures, ...]
    fa_per_hour_per_keyword: float
    mean_frr: float
    late: int


def evaluate_grid(classifier: Classifier, streams: Sequence[TuningStream],
                  base: DetectorConfig, hop_frames: int,
                  progress: Callable[[str], None] | None = None) -> list[GridRow]:
    """Every setting of :func:`grid` at ``hop_frames`` on ``streams`` (the model runs once
    per stream). ``base`` gives keywords and max_results; its knobs are replaced."""
    fc = frontend_config_of(classifier)
    labels = tuple(classifier.labels)
    base = dataclasses.replace(base, hop_frames=hop_frames)
    hop_ms = hop_frames * fc.stride_samples * 1000 / fc.sample_rate_hz
    scored = []
    for s in streams:
        if progress:
            progress(f"scoring {s.name} ({s.duration_ms / 60000:.0f} min) at a "
                     f"{hop_ms:g} ms hop")
        scored.append(score_audio(classifier, s.audio, fc, hop_frames))
    settings = grid(base, hop_ms)
    rng = np.random.default_rng(0)
    times, scores = scored[0]
    for i in rng.choice(len(settings), size=min(4, len(settings)), replace=False):
        config = settings[int(i)]
        if fast_detect(config, labels, times, scores) != Detector(config, labels).run(times,
                                                                                      scores):
            raise AssertionError(f"fast_detect differs from Detector at {config}")
    keywords = [labels[i] for i in build_detector_tables(base, labels).wake]
    if progress:
        progress(f"trying {len(settings)} detector settings")
    rows = []
    for config in settings:
        figures = []
        for s, (t, sc) in zip(streams, scored, strict=True):
            found = fast_detect(config, labels, t, sc)
            m: StreamMetrics = match(found, s.truth, keywords, s.duration_ms)
            figures.append(StreamFigures(s.name, m.fa_per_hour() / len(keywords), m.mean_frr,
                                         len(late_detections(found, s.truth))))
        main = [f for f, s in zip(figures, streams, strict=True) if not s.keyword_stream]
        rows.append(GridRow(config, tuple(figures),
                            max(f.fa_per_hour_per_keyword for f in main),
                            float(np.mean([f.mean_frr for f in main])),
                            sum(f.late for f in figures)))
    return rows


def choose(rows: Sequence[GridRow], fa_per_hour: float) -> TunedDetector:
    """The setting of the module docstring's rule within ``fa_per_hour`` (per keyword)."""
    def key(r: GridRow) -> tuple[float, ...]:
        c = r.config
        return (round(r.mean_frr, 6), round(r.fa_per_hour_per_keyword, 6), -c.min_count,
                -c.average_window_ms, -c.threshold, c.suppression_ms)

    ok = [r for r in rows if r.fa_per_hour_per_keyword <= fa_per_hour + 1e-9 and r.late == 0]
    if ok:
        best = min(ok, key=key)
    else:
        on_time = [r for r in rows if r.late == 0] or list(rows)
        best = min(on_time, key=lambda r: (round(r.fa_per_hour_per_keyword, 6), *key(r)))
    return TunedDetector(best.config, best.figures, bool(ok), len(rows))


def tune(classifier: Classifier, streams: Sequence[TuningStream], base: DetectorConfig,
         hop_frames: int, spec: TuningSpec,
         progress: Callable[[str], None] | None = None) -> TunedDetector:
    """The best detector setting at ``hop_frames`` on ``streams`` within the budget of
    ``spec`` (see the module docstring)."""
    return choose(evaluate_grid(classifier, streams, base, hop_frames, progress),
                  spec.fa_per_hour)

"""Wake-word metrics on a long recording with known keyword times.

A truth CSV (``start_ms,end_ms,label[,source]``, written by ``data_scripts/make_stream.py``)
lists every spoken clip. A detection *matches* a truth keyword when it has the same label and
``start_ms <= time_ms <= end_ms + MATCH_AFTER_MS``; each truth keyword matches at most one
detection (the earliest). Then, per wake keyword k:

- false rejects: truth k clips that no detection matched; rate = count / truth k clips;
- false accepts: detections labelled k that matched nothing (a repeat on an already matched
  clip, a detection on another word, on noise); per hour = count / stream hours.

Truth clips of labels that are not wake keywords (``_unknown_``, or keywords left out of the
detector's ``keywords``) are just other speech. The delay of a match is
``time_ms - end_ms`` of its clip (negative when the detector fired before the clip ended).
The DET sweep computes the model's scores once and reruns only the detector per threshold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kws.config import DetectorConfig
from kws.data.streams import TRUTH_FIELDS, TruthEvent, read_truth, write_truth
from kws.detector import Detection, Detector
from kws.errors import DataError
from kws.fileio import atomic_path
from kws.stream import frontend_config_of, score_audio, with_overrides

__all__ = ["MATCH_AFTER_MS", "TRUTH_FIELDS", "WORD_END_DB", "KeywordMetrics", "StreamMetrics",
           "StreamRun", "SweepPoint", "TruthEvent", "best_within_budget", "delay_summary",
           "format_report", "late_detections", "match", "read_truth", "run_stream",
           "save_det_png", "sweep_thresholds", "word_delays", "word_end_ms", "write_truth"]

MATCH_AFTER_MS = 500
"""A detection may come this long after the end of its keyword's clip and still count."""
MS_PER_HOUR = 3_600_000


@dataclasses.dataclass
class KeywordMetrics:
    """Counts for one wake keyword."""

    label: str
    clips: int = 0
    """Truth clips of this keyword."""
    hits: int = 0
    """Truth clips matched by a detection."""
    false_accepts: int = 0
    """Detections of this keyword that matched no clip."""

    @property
    def false_rejects(self) -> int:
        """Truth clips no detection matched."""
        return self.clips - self.hits

    @property
    def false_reject_rate(self) -> float:
        """false_rejects / clips in [0, 1] (NaN without clips)."""
        return self.false_rejects / self.clips if self.clips else float("nan")


@dataclasses.dataclass
class StreamMetrics:
    """Wake-word metrics of one detector run over one stream."""

    duration_ms: int
    keywords: dict[str, KeywordMetrics]
    delays_ms: list[int]
    """time_ms - end_ms of every matched clip, in detection order."""
    matches: list[tuple[Detection, TruthEvent]] = dataclasses.field(default_factory=list)
    """Every (detection, truth clip) pair that matched, in detection order."""

    @property
    def hours(self) -> float:
        """Stream length in hours."""
        return self.duration_ms / MS_PER_HOUR

    def fa_per_hour(self, label: str | None = None) -> float:
        """False accepts per hour of one keyword, or of all of them (None)."""
        items = [self.keywords[label]] if label else list(self.keywords.values())
        return sum(k.false_accepts for k in items) / self.hours

    @property
    def false_accepts(self) -> int:
        """All false accepts."""
        return sum(k.false_accepts for k in self.keywords.values())

    @property
    def mean_frr(self) -> float:
        """Mean over keywords (that have clips) of the false-reject rate."""
        rates = [k.false_reject_rate for k in self.keywords.values() if k.clips]
        return float(np.mean(rates)) if rates else float("nan")

    @property
    def pooled_frr(self) -> float:
        """All false rejects / all keyword clips."""
        clips = sum(k.clips for k in self.keywords.values())
        return sum(k.false_rejects for k in self.keywords.values()) / clips if clips \
            else float("nan")


def match(detections: Sequence[Detection], truth: Sequence[TruthEvent],
          keywords: Sequence[str], duration_ms: int,
          after_ms: int = MATCH_AFTER_MS) -> StreamMetrics:
    """Score detections against the truth for the wake ``keywords`` (see module docstring)."""
    if duration_ms <= 0:
        raise DataError(f"stream duration {duration_ms} ms must be positive")
    per = {k: KeywordMetrics(k) for k in keywords}
    open_events: dict[str, list[TruthEvent]] = {k: [] for k in keywords}
    for e in truth:
        if e.label in per:
            per[e.label].clips += 1
            open_events[e.label].append(e)
    delays = []
    pairs = []
    for d in sorted(detections, key=lambda d: d.time_ms):
        if d.label not in per:
            raise DataError(f"detection of {d.label!r} is not one of the keywords "
                            f"{', '.join(keywords)}")
        candidates = open_events[d.label]
        hit = next((e for e in candidates
                    if e.start_ms <= d.time_ms <= e.end_ms + after_ms), None)
        if hit is None:
            per[d.label].false_accepts += 1
        else:
            candidates.remove(hit)
            per[d.label].hits += 1
            delays.append(d.time_ms - hit.end_ms)
            pairs.append((d, hit))
    return StreamMetrics(duration_ms=duration_ms, keywords=per, delays_ms=delays,
                         matches=pairs)


LATE_HORIZON_MS = 1000
"""A detection this long or less after a clip's end may still be that clip's evidence: the
model's 1 s input holds part of the clip until then."""


def late_detections(detections: Sequence[Detection], truth: Sequence[TruthEvent],
                    after_ms: int = MATCH_AFTER_MS,
                    horizon_ms: int = LATE_HORIZON_MS) -> list[Detection]:
    """Detections that found their word but too late: the same label as the last clip that
    ended before them, more than ``after_ms`` and at most ``horizon_ms`` after its end, and
    inside no clip's ``[start_ms, end_ms + after_ms]``. Each is a false accept and (unless
    another detection matched) a false reject for :func:`match`; counted apart, they tell a
    detection that came too late from one that heard the wrong thing."""
    events = sorted(truth, key=lambda e: e.end_ms)
    ends = np.array([e.end_ms for e in events], dtype=np.int64)
    starts = np.array([e.start_ms for e in events], dtype=np.int64)
    late = []
    for d in detections:
        if np.any((starts <= d.time_ms) & (d.time_ms <= ends + after_ms)):
            continue
        i = int(np.searchsorted(ends, d.time_ms, side="left")) - 1
        if i >= 0 and events[i].label == d.label and \
                after_ms < d.time_ms - events[i].end_ms <= horizon_ms:
            late.append(d)
    return late


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """The metrics at one global threshold (0..255)."""

    threshold: int
    metrics: StreamMetrics


def sweep_thresholds(times_ms: np.ndarray, scores: np.ndarray, labels: Sequence[str],
                     config: DetectorConfig, truth: Sequence[TruthEvent], duration_ms: int,
                     thresholds: Iterable[int]) -> list[SweepPoint]:
    """Rerun the detector on precomputed results at each threshold.

    times_ms: int (R,); scores: int8 (R, num_labels) from :func:`kws.stream.score_audio`.
    Each threshold replaces ``config.threshold`` and the per-keyword thresholds.
    """
    points = []
    for threshold in thresholds:
        detector = Detector(with_overrides(config, threshold=int(threshold)), labels)
        found = detector.run(times_ms, scores)
        keywords = [detector.labels[i] for i in detector.tables.wake]
        points.append(SweepPoint(int(threshold),
                                 match(found, truth, keywords, duration_ms)))
    return points


@dataclasses.dataclass(frozen=True)
class StreamRun:
    """One detector on one recording: the metrics at its threshold and the sweep."""

    metrics: StreamMetrics
    sweep: list[SweepPoint]
    keywords: list[str]


def run_stream(classifier: Any, audio: np.ndarray, truth: Sequence[TruthEvent],
               config: DetectorConfig, thresholds: Iterable[int]) -> StreamRun:
    """Score ``audio`` (int16 (n,) at the model's rate) once at ``config``'s hop, then the
    detections at ``config`` and at each threshold of the sweep (its own included)."""
    fc = frontend_config_of(classifier)
    duration_ms = audio.size * 1000 // fc.sample_rate_hz
    times, scores = score_audio(classifier, audio, fc, config.hop_frames)
    detector = Detector(config, classifier.labels)
    keywords = [detector.labels[k] for k in detector.tables.wake]
    metrics = match(detector.run(times, scores), truth, keywords, duration_ms)
    points = sweep_thresholds(times, scores, detector.labels, config, truth, duration_ms,
                              sorted(set(thresholds) | {config.threshold}))
    return StreamRun(metrics, points, keywords)


def best_within_budget(points: Sequence[SweepPoint], fa_per_hour_per_keyword: float
                       ) -> SweepPoint | None:
    """The sweep point with the lowest mean FRR whose false accepts per hour per keyword
    (all false accepts / keywords / hours) are within the budget; None if none is."""
    ok = [p for p in points
          if p.metrics.fa_per_hour() / max(1, len(p.metrics.keywords))
          <= fa_per_hour_per_keyword + 1e-9]
    return min(ok, key=lambda p: (p.metrics.mean_frr, -p.threshold)) if ok else None


WORD_END_DB = 20.0
"""The spoken word ends at the last 20 ms frame within this many dB of its clip's loudest."""


def word_end_ms(clip: np.ndarray) -> int:
    """ms from a clean clip's start (int16 (n,) at 16 kHz) to the end of its spoken word: the
    end of its last 20 ms frame within WORD_END_DB of the loudest (kws.audio.speech_end)."""
    from kws.audio import speech_end

    return int(speech_end(clip, WORD_END_DB)) // 16


def word_delays(metrics: StreamMetrics, word_ends_ms: dict[int, int]) -> list[int]:
    """time_ms - end of the spoken word of every matched clip; ``word_ends_ms`` maps a truth
    clip's start_ms to its word's end (ms in the stream)."""
    return [d.time_ms - word_ends_ms[e.start_ms] for d, e in metrics.matches
            if e.start_ms in word_ends_ms]


def delay_summary(delays_ms: Sequence[int]) -> dict[str, float]:
    """Mean, median and 90th percentile of delays in ms (NaN when empty)."""
    if not delays_ms:
        return {"mean": float("nan"), "median": float("nan"), "p90": float("nan")}
    d = np.asarray(delays_ms, dtype=np.float64)
    return {"mean": float(d.mean()), "median": float(np.median(d)),
            "p90": float(np.percentile(d, 90))}


def format_report(metrics: StreamMetrics) -> str:
    """A plain-text table: per keyword clips, false rejects, FRR, false accepts, FA/hour."""
    lines = [f"stream {metrics.duration_ms / 1000:.1f} s ({metrics.hours:.3f} h)",
             f"{'keyword':>9s} {'clips':>6s} {'missed':>7s} {'FRR':>7s} {'FA':>4s} {'FA/h':>7s}"]
    for k in metrics.keywords.values():
        lines.append(f"{k.label:>9s} {k.clips:6d} {k.false_rejects:7d} "
                     f"{100 * k.false_reject_rate:6.1f}% {k.false_accepts:4d} "
                     f"{metrics.fa_per_hour(k.label):7.2f}")
    n = max(1, len(metrics.keywords))
    lines.append(f"{'all':>9s} {sum(k.clips for k in metrics.keywords.values()):6d} "
                 f"{sum(k.false_rejects for k in metrics.keywords.values()):7d} "
                 f"{100 * metrics.pooled_frr:6.1f}% {metrics.false_accepts:4d} "
                 f"{metrics.fa_per_hour():7.2f}")
    lines.append(f"{'mean':>9s} {'':6s} {'':7s} {100 * metrics.mean_frr:6.1f}% "
                 f"{metrics.false_accepts / n:4.1f} {metrics.fa_per_hour() / n:7.2f}")
    s = delay_summary(metrics.delays_ms)
    lines.append(f"delay after clip end: mean {s['mean']:.0f} ms, median {s['median']:.0f} ms,"
                 f" p90 {s['p90']:.0f} ms")
    return "\n".join(lines)


def save_det_png(path: str | Path, points: Sequence[SweepPoint], title: str,
                 default_threshold: int | None = None) -> None:
    """Draw the DET trade-off: false-reject rate (%) against false accepts per hour.

    One thin line per keyword, a thick line for all keywords (FA/hour summed, FRR averaged),
    a dashed one for the mean keyword (FA/hour divided by the number of keywords), the goal
    region shaded and the default threshold marked. Written atomically (temp, then rename).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 5))
    labels = list(points[0].metrics.keywords) if points else []
    for label in labels:
        ax.plot([p.metrics.fa_per_hour(label) for p in points],
                [100 * p.metrics.keywords[label].false_reject_rate for p in points],
                lw=0.8, alpha=0.5, label=label)
    n = max(1, len(labels))
    ax.plot([p.metrics.fa_per_hour() for p in points],
            [100 * p.metrics.mean_frr for p in points], color="black", lw=2.2,
            label="all keywords (FA/h summed, FRR mean)")
    ax.plot([p.metrics.fa_per_hour() / n for p in points],
            [100 * p.metrics.mean_frr for p in points], color="black", lw=1.5, ls="--",
            label="mean keyword (FA/h / keywords, FRR mean)")
    ax.add_patch(matplotlib.patches.Rectangle((0, 0), 1, 10, color="green", alpha=0.15,
                                              label="goal: <= 1 FA/h, FRR < 10%"))
    for p in points:
        if p.threshold == default_threshold:
            ax.plot([p.metrics.fa_per_hour(), p.metrics.fa_per_hour() / n],
                    [100 * p.metrics.mean_frr] * 2, "o", color="red", ms=7,
                    label=f"default threshold {p.threshold}")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("false accepts per hour")
    ax.set_ylabel("false-reject rate (%)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)

"""The streaming detector: hand-checked numbers, a brute-force twin, resets and rejections."""

from __future__ import annotations

import numpy as np
import pytest

from kws.config import DetectorConfig
from kws.detector import Detection, Detector, DetectorError, build_detector_tables
from kws.errors import ConfigError, KwsError
from kws.labels import LABELS

TOY = ("a", "b", "_silence_", "_unknown_")


def row(*probs_256: int) -> np.ndarray:
    """int8 scores from uint8 values (probability * 256)."""
    return (np.array(probs_256, dtype=np.int16) - 128).astype(np.int8)


def toy(**kw: object) -> Detector:
    base = dict(average_window_ms=100, min_count=2, threshold=150, suppression_ms=300,
                max_results=8)
    base.update(kw)
    return Detector(DetectorConfig(**base), TOY)  # type: ignore[arg-type]


def test_average_floor_min_count_and_threshold_by_hand() -> None:
    d = toy()
    assert d.update(row(200, 0, 0, 56), 0) is None          # one result < min_count 2
    # (200 + 101) // 2 = 150 reaches the threshold 150 exactly
    assert d.update(row(101, 0, 0, 155), 40) == Detection("a", 40, 150)


def test_average_just_below_threshold() -> None:
    d = toy()
    d.update(row(200, 0, 0, 56), 0)
    assert d.update(row(99, 0, 0, 157), 40) is None        # (200 + 99) // 2 = 149


def test_window_is_half_open() -> None:
    """Results older than average_window_ms (time - t >= window) leave the average."""
    d = toy(threshold=200, min_count=1)
    d.update(row(0, 0, 0, 256 - 1), 0)
    d.update(row(255, 0, 0, 0), 60)                        # avg a = 127: nothing
    assert d.state.count == 2
    hit = d.update(row(255, 0, 0, 0), 100)                 # t=0 leaves (100 - 0 >= 100)
    assert d.state.count == 2 and hit == Detection("a", 100, 255)


def test_ring_drops_the_oldest_when_full() -> None:
    d = toy(average_window_ms=10_000, max_results=3, min_count=3, threshold=170)
    assert d.update(row(0, 0, 0, 255), 0) is None
    assert d.update(row(0, 0, 0, 255), 1) is None
    assert d.update(row(255, 0, 0, 0), 2) is None           # a = 255 // 3 = 85
    # a fourth row pushes out the first: a = 510 // 3 = 170
    assert d.update(row(255, 0, 0, 0), 3) == Detection("a", 3, 170)
    assert d.state.count == 3 and d.state.oldest == 1
    np.testing.assert_array_equal(d.state.sums, [510, 0, 0, 255])


def test_suppression_is_global_and_then_rearms() -> None:
    d = toy(min_count=1)
    assert d.update(row(255, 0, 0, 0), 0) == Detection("a", 0, 255)
    assert d.update(row(0, 255, 0, 0), 200) is None        # b high, but 200 < 300 after a
    assert d.update(row(0, 255, 0, 0), 299) is None
    assert d.update(row(0, 255, 0, 0), 300) == Detection("b", 300, 255)


def test_per_keyword_thresholds_and_wake_keywords() -> None:
    d = toy(min_count=1, keyword_thresholds={"b": 100})
    assert d.update(row(0, 120, 0, 136), 0) == Detection("b", 0, 120)
    d = toy(min_count=1, keywords=("a",))
    assert d.update(row(0, 255, 0, 0), 0) is None          # b does not wake it
    assert d.update(row(255, 0, 0, 0), 1000) == Detection("a", 1000, 255)


def test_silence_and_unknown_never_wake_by_default() -> None:
    d = toy(min_count=1, threshold=0)
    hit = d.update(row(0, 1, 255, 0), 0)                   # top class is _silence_
    assert hit == Detection("b", 0, 1)                      # best wake label, threshold 0
    t = build_detector_tables(DetectorConfig(), LABELS)
    assert [LABELS[i] for i in t.wake] == list(LABELS[:10])
    assert t.thresholds[LABELS.index("_unknown_")] == 256


def test_tie_goes_to_the_lowest_label_index() -> None:
    d = toy(min_count=1, threshold=100)
    assert d.update(row(128, 128, 0, 0), 0) == Detection("a", 0, 128)


def test_equal_times_are_allowed_and_going_back_raises() -> None:
    d = toy()
    d.update(row(1, 2, 3, 250), 100)
    d.update(row(1, 2, 3, 250), 100)
    with pytest.raises(DetectorError, match=r"time_ms=99 goes back in time.*100 ms"):
        d.update(row(1, 2, 3, 250), 99)


@pytest.mark.parametrize("scores, time_ms, message", [
    (np.zeros(4, dtype=np.int16), 0, "int8 of shape"),
    (np.zeros(5, dtype=np.int8), 0, "int8 of shape"),
    (np.zeros((1, 4), dtype=np.int8), 0, "int8 of shape"),
    (np.zeros(4, dtype=np.int8), -1, "time_ms=-1"),
    (np.zeros(4, dtype=np.int8), 2**31, "time_ms=2147483648"),
    (np.zeros(4, dtype=np.int8), 1.5, "time_ms=1.5"),
    (np.zeros(4, dtype=np.int8), True, "time_ms=True"),
])
def test_bad_input_is_refused(scores: np.ndarray, time_ms: object, message: str) -> None:
    with pytest.raises(KwsError, match=message):
        toy().update(scores, time_ms)  # type: ignore[arg-type]


@pytest.mark.parametrize("kw, message", [
    ({"keywords": ("maybe",)}, "keyword 'maybe' is not a label"),
    ({"keyword_thresholds": {"nope": 10}}, "keyword 'nope' is not a label"),
    ({"max_results": 70000}, "max_results=70000 must be an int in \\[1, 65535\\]"),
])
def test_bad_config_is_refused(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        toy(**kw)


def test_only_silence_and_unknown_labels_is_refused() -> None:
    with pytest.raises(ConfigError, match="no keyword can wake"):
        Detector(DetectorConfig(), ("_silence_", "_unknown_"))


def reference_detector(config: DetectorConfig, labels: tuple[str, ...], times: np.ndarray,
                       scores: np.ndarray) -> list[Detection]:
    """The algorithm restated with Python lists (no ring, no running sums)."""
    wake = [i for i, x in enumerate(labels)
            if (x in config.keywords if config.keywords else x not in TOY[2:])]
    history: list[tuple[int, list[int]]] = []
    last = None
    out = []
    for t, s in zip(times.tolist(), scores.tolist(), strict=True):
        history = (history + [(t, [v + 128 for v in s])])[-config.max_results:]
        window = [r for u, r in history if t - u < config.average_window_ms]
        if len(window) < config.min_count:
            continue
        avg = {i: sum(r[i] for r in window) // len(window) for i in wake}
        best = max(wake, key=lambda i: (avg[i], -i))
        if last is not None and t - last < config.suppression_ms:
            continue
        if avg[best] >= config.keyword_thresholds.get(labels[best], config.threshold):
            out.append(Detection(labels[best], t, avg[best]))
            last = t
    return out


@pytest.mark.parametrize("seed", range(12))
def test_matches_the_brute_force_twin_on_random_streams(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    # smooth-ish random scores: a random label dominates for a while
    top = np.repeat(rng.integers(0, 4, n // 20 + 1), 20)[:n]
    raw = rng.integers(0, 60, (n, 4))
    raw[np.arange(n), top] += rng.integers(100, 256, n)
    scores = (np.clip(raw, 0, 255) - 128).astype(np.int8)
    times = np.cumsum(rng.integers(0, 60, n))
    config = DetectorConfig(average_window_ms=int(rng.integers(50, 900)),
                            min_count=int(rng.integers(1, 5)),
                            threshold=int(rng.integers(100, 220)),
                            keyword_thresholds={"b": int(rng.integers(100, 220))},
                            suppression_ms=int(rng.integers(0, 1500)),
                            max_results=int(rng.integers(5, 30)),
                            keywords=(("a",), ("a", "b"), ())[seed % 3])
    expect = reference_detector(config, TOY, times, scores)
    assert len(expect) > 0
    assert Detector(config, TOY).run(times, scores) == expect


def test_reset_then_replay_equals_a_fresh_detector() -> None:
    rng = np.random.default_rng(5)
    scores = rng.integers(-128, 128, (400, 4)).astype(np.int8)
    times = np.arange(400) * 40
    config = DetectorConfig(average_window_ms=200, min_count=2, threshold=140,
                            suppression_ms=500, max_results=10)
    fresh = Detector(config, TOY).run(times, scores)
    used = Detector(config, TOY)
    used.run(times[:250], scores[::-1][:250])
    used.reset()
    assert used.run(times, scores) == fresh and len(fresh) > 3
    new = Detector(config, TOY)
    new.run(times, scores)
    for name in ("scores", "times_ms", "sums"):
        np.testing.assert_array_equal(getattr(used.state, name), getattr(new.state, name))


def test_config_is_not_working_state() -> None:
    config = DetectorConfig(min_count=1)
    d = Detector(config, LABELS)
    d.update(np.full(12, -128, dtype=np.int8), 10)
    assert d.config is config and DetectorConfig(min_count=1) == config
    assert d.state.scores.shape == (config.max_results, 12)
    assert d.state.scores.dtype == np.uint8 and d.state.times_ms.dtype == np.int32

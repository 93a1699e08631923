"""Wake-word metrics: the matching rule by hand, the truth CSV, the threshold sweep."""

from __future__ import annotations

import numpy as np
import pytest
from stream_fakes import FakeClassifier

from kws.config import DetectorConfig
from kws.detector import Detection, Detector
from kws.errors import DataError
from kws.stream_eval import (
    TruthEvent,
    delay_summary,
    format_report,
    late_detections,
    match,
    read_truth,
    save_det_png,
    sweep_thresholds,
    write_truth,
)

TRUTH = [TruthEvent(1000, 2000, "yes"), TruthEvent(5000, 6000, "no"),
         TruthEvent(8000, 9000, "_unknown_"), TruthEvent(10000, 11000, "yes")]
HOUR = 3_600_000


def test_matching_window_is_clip_start_to_500_ms_after_its_end() -> None:
    found = [Detection("yes", 999, 200),      # before the start: false accept
             Detection("yes", 1000, 200),     # the start: hit
             Detection("yes", 2500, 200),     # repeat on a matched clip: false accept
             Detection("no", 6500, 200),      # end + 500 exactly: hit
             Detection("yes", 11501, 200)]    # end + 501: false accept, clip missed
    m = match(found, TRUTH, ["yes", "no"], HOUR)
    assert (m.keywords["yes"].clips, m.keywords["yes"].hits) == (2, 1)
    assert m.keywords["yes"].false_accepts == 3 and m.keywords["no"].false_accepts == 0
    assert m.keywords["yes"].false_reject_rate == 0.5 and m.keywords["no"].false_rejects == 0
    assert m.fa_per_hour() == 3.0 and m.fa_per_hour("yes") == 3.0
    assert m.mean_frr == 0.25 and m.pooled_frr == pytest.approx(1 / 3)
    assert m.delays_ms == [-1000, 500]
    assert [(d.time_ms, e.start_ms) for d, e in m.matches] == [(1000, 1000), (6500, 5000)]


def test_wrong_label_is_a_false_accept_and_a_false_reject() -> None:
    m = match([Detection("no", 1500, 250)], TRUTH, ["yes", "no"], HOUR // 2)
    assert m.keywords["no"].false_accepts == 1 and m.keywords["yes"].false_rejects == 2
    assert m.fa_per_hour() == 2.0


def test_keywords_outside_the_wake_set_are_just_speech() -> None:
    m = match([], TRUTH, ["no"], HOUR)
    assert list(m.keywords) == ["no"] and m.keywords["no"].clips == 1
    with pytest.raises(DataError, match="detection of 'yes' is not one of the keywords no"):
        match([Detection("yes", 1500, 250)], TRUTH, ["no"], HOUR)


def test_late_detections_are_the_right_word_after_the_bound() -> None:
    found = [Detection("yes", 2500, 200),     # end + 500: in the bound, not late
             Detection("yes", 2501, 200),     # end + 501, label of the clip before: late
             Detection("no", 2600, 200),      # wrong label: a plain false accept
             Detection("no", 7000, 200),      # end + 1000 of 'no': still late
             Detection("no", 7001, 200),      # past the 1 s horizon: not late
             Detection("yes", 9600, 200),     # after '_unknown_': not late
             Detection("yes", 10500, 200)]    # inside the next 'yes' clip: not late
    late = late_detections(found, TRUTH)
    assert [(d.label, d.time_ms) for d in late] == [("yes", 2501), ("no", 7000)]
    assert late_detections(found, TRUTH, after_ms=600) == [found[3]]
    assert late_detections([], TRUTH) == []


def test_each_detection_takes_the_earliest_open_clip() -> None:
    truth = [TruthEvent(0, 1000, "go"), TruthEvent(1200, 2200, "go")]
    m = match([Detection("go", 1300, 200), Detection("go", 1400, 200)], truth, ["go"], HOUR)
    assert m.keywords["go"].hits == 2 and m.false_accepts == 0


def test_truth_csv_round_trip_and_errors(tmp_path) -> None:
    path = tmp_path / "t.csv"
    write_truth(path, TRUTH, ["a.wav", "b.wav", "c.wav", "d.wav"])
    assert path.read_text().splitlines()[:2] == ["start_ms,end_ms,label,source",
                                                 "1000,2000,yes,a.wav"]
    assert read_truth(path) == TRUTH
    (tmp_path / "bad.csv").write_text("start_ms,label\n1,yes\n")
    with pytest.raises(DataError, match="lacks column 'end_ms'"):
        read_truth(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("start_ms,end_ms,label\n1,x,yes\n")
    with pytest.raises(DataError, match=r"bad2.csv:2: start_ms/end_ms must be integers"):
        read_truth(tmp_path / "bad2.csv")
    (tmp_path / "bad3.csv").write_text("start_ms,end_ms,label\n5,5,yes\n")
    with pytest.raises(DataError, match="bad event 5..5"):
        read_truth(tmp_path / "bad3.csv")
    with pytest.raises(DataError, match="cannot read truth CSV"):
        read_truth(tmp_path / "missing.csv")


def test_delay_summary() -> None:
    s = delay_summary([100, 200, 300, 1000])
    assert s["mean"] == 400 and s["median"] == 250 and s["p90"] == pytest.approx(790)
    assert np.isnan(delay_summary([])["mean"])


def test_sweep_reruns_the_detector_at_each_threshold(tmp_path) -> None:
    rng = np.random.default_rng(3)
    n = 3000
    top = np.repeat(rng.integers(0, 12, n // 25 + 1), 25)[:n]
    raw = rng.integers(0, 40, (n, 12))
    raw[np.arange(n), top] += rng.integers(60, 230, n)
    scores = (np.clip(raw, 0, 255) - 128).astype(np.int8)
    times = 990 + 40 * np.arange(n)
    fake = FakeClassifier()
    truth = [TruthEvent(int(t) - 600, int(t) + 200, fake.labels[int(k)])
             for t, k in zip(times[::200], top[::200], strict=True) if k < 10]
    config = DetectorConfig(threshold=150, keyword_thresholds={"yes": 10})
    points = sweep_thresholds(times, scores, fake.labels, config, truth, 120_000,
                              [100, 150, 200, 255])
    assert [p.threshold for p in points] == [100, 150, 200, 255]
    direct = Detector(DetectorConfig(threshold=150), fake.labels).run(times, scores)
    expect = match(direct, truth, list(fake.labels[:10]), 120_000)
    assert points[1].metrics.fa_per_hour() == expect.fa_per_hour()
    assert points[1].metrics.mean_frr == expect.mean_frr
    fa = [p.metrics.fa_per_hour() for p in points]
    assert fa[0] > fa[-1] and points[-1].metrics.mean_frr > points[0].metrics.mean_frr
    assert "delay after clip end" in format_report(points[1].metrics)
    save_det_png(tmp_path / "det.png", points, "test", default_threshold=150)
    assert (tmp_path / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))

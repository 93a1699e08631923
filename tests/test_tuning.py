"""kws.tuning: the split it may use, and a tuned setting's figures re-measured with the real
detector (a fake model on short validation streams)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from stream_fakes import FakeClassifier

from kws.config import DetectorConfig
from kws.detector import Detector
from kws.errors import ConfigError
from kws.stream import score_audio
from kws.stream_eval import late_detections, match
from kws.tuning import TuningSpec, build_streams, choose_split, fast_detect, grid, tune


def _meta(splits: list[str], percent: float | None) -> dict:
    return {"training": {"train_splits": splits, "tuning_percent": percent}}


def test_choose_split_never_takes_a_split_the_model_heard() -> None:
    assert choose_split(_meta(["train"], None)) == ("validation", None)
    assert choose_split(_meta(["train"], 50.0)) == ("validation", 50.0)
    assert choose_split(_meta(["train", "validation"], 50.0)) == ("tuning", 50.0)
    with pytest.raises(ConfigError, match="trained on it"):
        choose_split(_meta(["train", "validation"], 50.0), "validation")
    with pytest.raises(ConfigError, match="no split it never heard"):
        choose_split(_meta(["train", "validation"], None))
    with pytest.raises(ConfigError, match="test split"):
        choose_split(_meta(["train"], None), "test")
    with pytest.raises(ConfigError, match="no tuning split"):
        choose_split(_meta(["train"], None), "tuning")
    with pytest.raises(ConfigError, match="does not record"):
        choose_split({})
    assert choose_split({}, "validation") == ("validation", None)


def test_grid_fits_the_hop() -> None:
    laptop = grid(DetectorConfig(), 40.0)
    board = grid(DetectorConfig(), 620.0)
    assert {c.average_window_ms for c in board} == {620, 720, 880, 1240}
    assert all(c.min_count <= -(-c.average_window_ms // 620) for c in board)
    assert min(c.average_window_ms for c in laptop) == 40 and len(laptop) > len(board)


def test_tuned_setting_is_what_the_detector_measures(mini_dir) -> None:
    spec = TuningSpec(fa_per_hour=20.0, minutes=1.0, bound_minutes=0.5, snrs_db=(20.0, 10.0))
    streams = build_streams(mini_dir, "validation", None, spec)
    assert [s.keyword_stream for s in streams] == [False, False, True]
    model = FakeClassifier()
    tuned = tune(model, streams, DetectorConfig(), 2, spec)
    config = tuned.config
    assert config.hop_frames == 2 and tuned.settings_tried == len(grid(DetectorConfig(), 40.0))
    for s, fig in zip(streams, tuned.figures, strict=True):
        times, scores = score_audio(model, s.audio, model.frontend_config, 2)
        found = Detector(config, model.labels).run(times, scores)
        assert found == fast_detect(config, model.labels, times, scores)
        m = match(found, s.truth, [x for x in model.labels if not x.startswith("_")],
                  s.duration_ms)
        assert fig.fa_per_hour_per_keyword == pytest.approx(m.fa_per_hour() / 10)
        assert fig.mean_frr == pytest.approx(m.mean_frr)
        assert fig.late == len(late_detections(found, s.truth))
    main = [f for f, s in zip(tuned.figures, streams, strict=True) if not s.keyword_stream]
    if tuned.within_budget:
        assert max(f.fa_per_hour_per_keyword for f in main) <= 20.0
        assert sum(f.late for f in tuned.figures) == 0
    # a stricter budget can only cost false rejects
    strict = tune(model, streams, DetectorConfig(), 2, dataclasses.replace(spec, fa_per_hour=1.0))
    if strict.within_budget and tuned.within_budget:
        assert np.mean([f.mean_frr for f in strict.figures[:2]]) >= \
            np.mean([f.mean_frr for f in main]) - 1e-9


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ConfigError, match="fa_per_hour"):
        TuningSpec(fa_per_hour=0)
    with pytest.raises(ConfigError, match="minutes"):
        TuningSpec(minutes=float("nan"))


def test_mined_negatives_are_the_windows_of_false_accepts(mini_dir) -> None:
    """kws.mining on a fake model: every mined window is stream audio ending at a false
    accept (or 2 or 4 hops before it), labelled by the stream-window rule."""
    from kws.data.streams import StreamSpec, make_stream, read_clip_file
    from kws.mining import MiningSpec, label_window, mine

    model = FakeClassifier(detector_config=DetectorConfig(threshold=200))
    spec = MiningSpec(minutes=0.5, snrs_db=(10.0,), threshold_margin=60, seed=7)
    found = mine(model, mini_dir, spec)
    assert found.audio.dtype == np.int16 and found.audio.shape[1:] == (16000,)
    assert len(found) > 0 and len(found) % 3 == 0
    audio, truth, sources = make_stream(mini_dir, StreamSpec(
        split="train", duration_s=30, seed=7, snr_db=10.0, keyword_fraction=0.7,
        gap_min_s=0.5, gap_max_s=2.5))
    clips = {i: read_clip_file(mini_dir / rel) for i, rel in enumerate(sources)}
    for window, label in zip(found.audio, found.labels, strict=True):
        hits = [e for e in range(16000, audio.size + 1, 16)
                if np.array_equal(audio[e - 16000:e], window)]
        assert hits, "a mined window is not a piece of the training stream"
        assert label == label_window(hits[0] - 16000, 16000, truth, clips)

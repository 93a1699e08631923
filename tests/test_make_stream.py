"""data_scripts/make_stream.py: seeded, split-true, clips where the truth says, SNR as asked."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from data_scripts.make_stream import StreamSpec, active_power, make_stream, split_clips
from kws.errors import DataError
from kws.labels import KEYWORDS, UNKNOWN


def test_same_seed_same_stream_other_seed_other_stream(mini_dir) -> None:
    spec = StreamSpec(split="test", duration_s=20, seed=4)
    a, ev_a, src_a = make_stream(mini_dir, spec)
    b, ev_b, src_b = make_stream(mini_dir, spec)
    np.testing.assert_array_equal(a, b)
    assert ev_a == ev_b and src_a == src_b
    c, ev_c, _ = make_stream(mini_dir, StreamSpec(split="test", duration_s=20, seed=5))
    assert ev_c != ev_a
    assert a.dtype == np.int16 and a.size == 20 * 16000


def test_clips_sit_exactly_where_the_truth_says(mini_dir) -> None:
    audio, events, sources = make_stream(
        mini_dir, StreamSpec(split="validation", duration_s=30, seed=1, snr_db=None))
    assert len(events) >= 6
    covered = np.zeros(audio.size, dtype=bool)
    for e, rel in zip(events, sources, strict=True):
        clip = sf.read(str(mini_dir / rel), dtype="int16")[0]
        a = e.start_ms * 16
        np.testing.assert_array_equal(audio[a:a + clip.size], clip)
        assert e.end_ms == e.start_ms + -(-clip.size // 16)
        word = rel.split("/")[0]
        assert e.label == (word if word in KEYWORDS else UNKNOWN)
        covered[a:a + clip.size] = True
    assert not audio[~covered].any()                           # no noise asked: silence
    starts = [e.start_ms for e in events]
    assert starts[0] == 1000
    gaps = [b.start_ms - a.end_ms for a, b in zip(events, events[1:], strict=False)]
    assert min(gaps) >= 1000 and max(gaps) <= 3000


def test_clips_come_from_the_asked_split_only(mini_dir) -> None:
    test_list = set((mini_dir / "testing_list.txt").read_text().split())
    val_list = set((mini_dir / "validation_list.txt").read_text().split())
    _, _, sources = make_stream(mini_dir, StreamSpec(split="test", duration_s=60, seed=2))
    assert set(sources) <= test_list
    train = split_clips(mini_dir, "train")
    assert not set(train) & (test_list | val_list) and len(train) == 2654 - 503 - 476


def test_noise_is_at_the_asked_snr_under_each_clip(mini_dir) -> None:
    spec = dict(split="test", duration_s=30, seed=7)
    clean, events, _ = make_stream(mini_dir, StreamSpec(snr_db=None, **spec))
    noisy, events2, _ = make_stream(mini_dir, StreamSpec(snr_db=10.0, **spec))
    assert events == events2
    noise = noisy.astype(np.float64) - clean
    for e in events:
        a, b = e.start_ms * 16, e.end_ms * 16
        speech = clean[a:b]
        if np.abs(speech).max() > 30000:                       # clipping changes the noise
            continue
        snr = 10 * np.log10(active_power(speech) / np.mean(noise[a:b] ** 2))
        assert snr == pytest.approx(10.0, abs=0.2)
    assert np.mean(noise[:16000] ** 2) > 0                      # noise before the first clip


def test_noise_comes_from_the_part_of_each_recording_kept_for_the_split(mini_dir,
                                                                        monkeypatch) -> None:
    import kws.data.streams as ms

    asked = []
    real = ms.split_noise
    monkeypatch.setattr(ms, "split_noise", lambda data, split, percent=None:
                        asked.append(split) or real(data, split, percent))
    ms.make_stream(mini_dir, StreamSpec(split="test", duration_s=5, seed=3))
    assert asked == ["test"]
    files = sorted((mini_dir / "_background_noise_").glob("*.wav"))
    parts = {split: real(mini_dir, split) for split in ("train", "validation", "test")}
    for i, f in enumerate(files):
        whole = sf.read(str(f), dtype="int16")[0]
        joined = np.concatenate([parts[s][i] for s in ("train", "validation", "test")])
        np.testing.assert_array_equal(joined, whole)            # disjoint, in time order
        assert parts["test"][i].size == pytest.approx(0.1 * whole.size, abs=1)


@pytest.mark.parametrize("kw, message", [
    ({"split": "dev"}, "split='dev'"),
    ({"duration_s": 0}, "duration_s=0"),
    ({"keywords": ("hello",)}, "subset of"),
    ({"gap_min_s": 2, "gap_max_s": 1}, "gaps 2..1"),
])
def test_bad_specs_are_refused(kw: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        StreamSpec(**kw)


def test_missing_dataset_is_refused(tmp_path) -> None:
    with pytest.raises(DataError, match="no such dataset folder"):
        make_stream(tmp_path / "nope", StreamSpec())
    with pytest.raises(DataError, match="validation_list.txt: missing"):
        make_stream(tmp_path, StreamSpec())


def test_the_bundled_demo_is_what_make_stream_builds(mini_dir) -> None:
    from pathlib import Path

    from kws.audio import read_audio
    from kws.stream_eval import read_truth

    assets = Path(__file__).resolve().parents[1] / "kws" / "assets"
    audio, events, _ = make_stream(mini_dir, StreamSpec(split="test", duration_s=15, seed=0,
                                                        snr_db=20.0, gap_min_s=0.8,
                                                        gap_max_s=1.5))
    np.testing.assert_array_equal(read_audio(assets / "demo.wav"), audio)
    assert read_truth(assets / "demo.csv") == events


def test_tuning_split_divides_the_validation_speakers(mini_dir) -> None:
    """With a tuning percent, "validation" and "tuning" share no speaker and together are
    the validation list; their noise is the two halves of the validation part."""
    from kws.data.splits import speaker_of
    from kws.data.streams import split_noise

    whole = split_clips(mini_dir, "validation")
    val = split_clips(mini_dir, "validation", 50.0)
    tune = split_clips(mini_dir, "tuning", 50.0)
    assert sorted(val + tune) == whole and val and tune
    assert not {speaker_of(p) for p in val} & {speaker_of(p) for p in tune}
    halves = [split_noise(mini_dir, s, 50.0) for s in ("validation", "tuning")]
    for a, b, c in zip(*halves, split_noise(mini_dir, "validation"), strict=True):
        np.testing.assert_array_equal(np.concatenate([a, b]), c)
    audio, truth, sources = make_stream(mini_dir, StreamSpec(
        split="tuning", duration_s=30, seed=1, tuning_percent=50.0))
    assert truth and set(sources) <= set(tune)
    with pytest.raises(DataError, match="tuning_percent"):
        StreamSpec(split="tuning")


@pytest.mark.parametrize("kw, message", [
    ({"snr_db": float("nan")}, "snr_db=nan"),
    ({"snr_db": 500.0}, "snr_db=500.0"),
    ({"duration_s": float("inf")}, "duration_s=inf"),
    ({"duration_s": 1e7}, "duration_s=10000000.0"),
    ({"lead_s": float("nan")}, "lead_s=nan"),
    ({"gap_max_s": float("inf")}, "gap_max_s=inf"),
    ({"seed": -1}, "seed=-1"),
    ({"tuning_percent": 150.0}, "tuning_percent=150.0"),
])
def test_non_finite_and_absurd_numbers_are_refused(kw: dict, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        StreamSpec(**kw)

"""kws.wakeword.data and the tuning streams of kws.wakeword.build, on hand-made takes (no
synthesis): labels in the phrase's order, the window length, the held-out share, stream
windows labelled by the kws.data.windows rule, streams with their truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kws.audio import active_power
from kws.config import FrontendConfig
from kws.data.config import DataConfig
from kws.errors import DataError
from kws.wakeword.build import clip_stream
from kws.wakeword.data import (
    PHRASE,
    SILENCE_OUT,
    UNKNOWN_OUT,
    Takes,
    WakewordData,
    WakewordSpec,
)


def _tone(hz: float, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    x = np.sin(2 * np.pi * hz * t) * np.hanning(t.size) * 8000 + rng.normal(0, 50, t.size)
    return np.rint(x).astype(np.int16)


def _takes(n_phrase: int = 20, n_other: int = 20) -> Takes:
    audio = [_tone(300, 1.2, i) for i in range(n_phrase)]
    audio += [_tone(900, 0.5, 100 + i) for i in range(n_other)]
    kinds = ["phrase"] * n_phrase + ["other"] * n_other
    held = [i % 5 == 4 for i in range(n_phrase)] + [i % 5 == 4 for i in range(n_other)]
    return Takes(audio, kinds, [f"t{i}" for i in range(len(audio))], held)


@pytest.fixture(scope="module")
def data() -> WakewordData:
    spec = WakewordSpec(positives=20, silence_clips=8, fragments=1.0, seed=1)
    config = DataConfig(stream_windows=2.0, noise_snr_db_range=(10.0, 20.0))
    return WakewordData("hey there", spec, _takes(), config, FrontendConfig(clip_ms=1500.0))


def test_clips_have_the_window_length_and_the_phrase_labels(data: WakewordData) -> None:
    assert data.labels == ("hey_there", "_unknown_", "_silence_")
    train, val = data.clips("train"), data.clips("validation")
    assert train.audio.shape[1] == val.audio.shape[1] == 24000 and train.audio.dtype == np.int16
    counts = data.counts()
    # 16 training takes of the phrase, 16 fragments of them, 16 other takes; 8 silence
    assert counts["train"] == {"hey_there": 16, "_unknown_": 32, "_silence_": 8}
    assert counts["validation"] == {"hey_there": 4, "_unknown_": 4, "_silence_": 1}
    assert len(data.tuning["phrase"]) == 4 and len(data.tuning["other"]) == 4
    assert data.word_clip_mask("train").sum() == 48
    with pytest.raises(DataError, match="'test'"):
        data.clips("test")


def test_epoch_examples_keep_the_label_order_and_make_fragments(data: WakewordData) -> None:
    out = data.epoch_examples(("train",), seed=0, epoch=0)
    n = len(data.clips("train"))
    assert out.audio.shape == (n + 2 * n, 24000)
    assert set(np.unique(out.labels)) <= {PHRASE, UNKNOWN_OUT, SILENCE_OUT}
    np.testing.assert_array_equal(out.labels[:n], data.clips("train").labels)
    windows = out.labels[n:]
    assert (windows == PHRASE).any() and (windows == UNKNOWN_OUT).any()
    again = data.epoch_examples(("train",), seed=0, epoch=0)
    np.testing.assert_array_equal(out.audio, again.audio)
    assert data.fingerprint == data.fingerprint and len(data.fingerprint) == 16


def test_no_held_out_phrase_is_refused() -> None:
    takes = _takes()
    takes = dataclasses.replace(takes, held_out=[False] * len(takes.audio))
    with pytest.raises(DataError, match="validation split"):
        WakewordData("stop", WakewordSpec(positives=20), takes, DataConfig(), FrontendConfig())


def test_clip_stream_truth_and_snr() -> None:
    phrase = [_tone(300, 1.0, i) for i in range(3)]
    other = [_tone(900, 0.5, 10 + i) for i in range(3)]
    noise = [np.random.default_rng(5).normal(0, 1000, 16000 * 20).astype(np.int16)]
    audio, truth = clip_stream(phrase, other, noise, "stop", 1.0, 10.0, seed=3)
    assert audio.shape == (960000,) and audio.dtype == np.int16
    assert {e.label for e in truth} == {"stop", "_unknown_"} and len(truth) > 15
    assert all(a.end_ms <= b.start_ms for a, b in zip(truth, truth[1:], strict=False))
    clean, truth2 = clip_stream(phrase, other, noise, "stop", 1.0, None, seed=3)
    assert truth2 == truth
    e = next(e for e in truth if e.label == "stop")
    speech = clean[e.start_ms * 16:e.end_ms * 16]
    added = audio[e.start_ms * 16:e.end_ms * 16].astype(float) - speech
    snr = 10 * np.log10(active_power(speech) / np.mean(added ** 2))
    assert snr == pytest.approx(10.0, abs=0.5)
    only, truth3 = clip_stream(phrase, other, noise, "stop", 0.5, 20.0, seed=4,
                               keyword_fraction=1.0)
    assert {e.label for e in truth3} == {"stop"}

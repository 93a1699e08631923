"""The streaming pipeline: windows equal batch features, chunking never changes a result."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from stream_fakes import FakeClassifier, WindowRecorder

from kws.config import DetectorConfig, FrontendConfig
from kws.detector import Detector
from kws.errors import ConfigError, ModelError
from kws.frontend import mfcc
from kws.stream import (
    Pipeline,
    ScoreStream,
    build_pipeline,
    detect_audio,
    detect_blocks,
    rechunk,
    result_time_ms,
    score_audio,
    with_overrides,
)


@pytest.fixture(scope="module")
def speech(mini_dir) -> np.ndarray:
    """int16: 24 s of real clips (every 100th clip of the corpus) back to back."""
    import soundfile as sf

    clips = sorted(p for p in mini_dir.glob("*/*.wav") if p.parent.name != "_background_noise_")
    return np.concatenate([sf.read(str(p), dtype="int16")[0] for p in clips[::110]])


def test_result_times_by_hand() -> None:
    fc = FrontendConfig()
    # frame 48 (the 49th) ends at 48 * 320 + 480 = 15840 samples = 990 ms
    np.testing.assert_array_equal(result_time_ms(np.array([48, 50, 51]), fc), [990, 1030, 1050])


def test_results_every_hop_after_the_first_full_window() -> None:
    x = (np.arange(16000 + 320 * 5) % 97 * 50).astype(np.int16)
    stream = ScoreStream(FakeClassifier(), hop_frames=2)
    times, scores = stream.push(x)
    assert stream.frames_seen == 54                         # 1 + (16000+1600-480)//320
    np.testing.assert_array_equal(times, [990, 1030, 1070])  # frames 48, 50, 52
    assert scores.shape == (3, 12) and scores.dtype == np.int8
    times, _ = ScoreStream(FakeClassifier(), hop_frames=3).push(x)
    np.testing.assert_array_equal(times, [990, 1050])        # frames 48, 51
    times, _ = ScoreStream(FakeClassifier(), hop_frames=5).push(x)
    np.testing.assert_array_equal(times, [990, 1090])        # frames 48, 53


def test_windows_are_the_batch_features(speech: np.ndarray) -> None:
    x = speech[:16000 * 4]
    feats = mfcc(x)
    rec = WindowRecorder()
    stream = ScoreStream(rec, hop_frames=2)
    for i in range(0, x.size, 1234):
        stream.push(x[i:i + 1234])
    ends = range(48, feats.shape[0], 2)
    assert len(rec.windows) == len(ends)
    for window, f in zip(rec.windows, ends, strict=True):
        np.testing.assert_array_equal(window, feats[f - 48:f + 1])


def test_not_enough_audio_yet() -> None:
    stream = ScoreStream(FakeClassifier())
    times, scores = stream.push(np.zeros(15839, dtype=np.int16))
    assert times.shape == (0,) and scores.shape == (0, 12)
    times, _ = stream.push(np.zeros(1, dtype=np.int16))
    np.testing.assert_array_equal(times, [990])


@pytest.mark.parametrize("chunk", [320, 641, 4000, 16000, 10**9])
def test_detections_do_not_depend_on_chunk_size(speech: np.ndarray, chunk: int) -> None:
    expect = detect_audio(FakeClassifier(), speech, chunk_samples=speech.size)
    assert len(expect) >= 5
    pipe = Pipeline(FakeClassifier())
    got = []
    for i in range(0, speech.size, chunk):
        got += pipe.push(speech[i:i + chunk])
    assert got == expect


@pytest.mark.parametrize("chunk", [1, 7, 319])
def test_tiny_chunks_give_the_same_results(speech: np.ndarray, chunk: int) -> None:
    x = speech[:16000 * 2]
    expect_t, expect_s = score_audio(FakeClassifier(), x)
    stream = ScoreStream(FakeClassifier())
    parts = [stream.push(x[i:i + chunk]) for i in range(0, x.size, chunk)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), expect_t)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), expect_s)
    assert expect_t.size == 26


def test_random_chunking_equals_one_chunk(speech: np.ndarray) -> None:
    rng = np.random.default_rng(11)
    expect_t, expect_s = score_audio(FakeClassifier(), speech)
    stream = ScoreStream(FakeClassifier())
    cuts = np.sort(rng.integers(0, speech.size, 300))
    parts = [stream.push(c) for c in np.split(speech, cuts)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), expect_t)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), expect_s)


def test_pipeline_equals_scores_then_detector(speech: np.ndarray) -> None:
    fake = FakeClassifier()
    times, scores = score_audio(fake, speech)
    expect = Detector(fake.detector_config, fake.labels).run(times, scores)
    assert len(expect) >= 5
    assert detect_audio(fake, speech, chunk_samples=5000) == expect


def test_pipeline_reset_then_replay_equals_fresh(speech: np.ndarray) -> None:
    fresh = Pipeline(FakeClassifier())
    expect = [d for i in range(0, speech.size, 3000) for d in fresh.push(speech[i:i + 3000])]
    pipe = Pipeline(FakeClassifier())
    pipe.push(speech[::-1][:50000].copy())
    pipe.reset()
    got = [d for i in range(0, speech.size, 3000) for d in pipe.push(speech[i:i + 3000])]
    assert got == expect and len(expect) >= 5


def test_whole_files_go_to_the_classifier_in_batches(speech: np.ndarray) -> None:
    fake = FakeClassifier()
    times, _ = score_audio(fake, speech, chunk_samples=speech.size)
    assert max(fake.calls) == 256 and sum(fake.calls) == times.size


def test_model_metadata_gives_the_defaults_and_overrides_apply() -> None:
    fake = FakeClassifier(detector_config=DetectorConfig(threshold=123, hop_frames=3))
    pipe = build_pipeline(fake)
    assert pipe.detector_config.threshold == 123 and pipe.scores.hop_frames == 3
    pipe = build_pipeline(fake, keywords=("yes", "no"), threshold=99)
    assert pipe.detector_config.keywords == ("yes", "no")
    assert pipe.detector_config.threshold == 99 and pipe.detector_config.hop_frames == 3
    config = DetectorConfig(keyword_thresholds={"yes": 1})
    assert with_overrides(config, threshold=7).keyword_thresholds == {}
    assert with_overrides(config) is config


def test_window_longer_than_the_ring_is_refused() -> None:
    config = DetectorConfig(average_window_ms=1000, max_results=20)   # 25 results at 40 ms
    with pytest.raises(ConfigError, match="holds 25 results at a 40 ms hop"):
        Pipeline(FakeClassifier(), detector_config=config)


def test_bad_classifier_output_is_refused() -> None:
    class Bad(FakeClassifier):
        def predict(self, features: np.ndarray) -> np.ndarray:
            return super().predict(features).astype(np.float32)

    with pytest.raises(ModelError, match="classifier returned float32"):
        ScoreStream(Bad()).push(np.zeros(16000, dtype=np.int16))


def test_bad_hop_is_refused() -> None:
    with pytest.raises(ConfigError, match="hop_frames=0"):
        ScoreStream(FakeClassifier(), hop_frames=0)


def test_warm_up_changes_no_state(speech: np.ndarray) -> None:
    fake = FakeClassifier()
    pipe = Pipeline(fake)
    pipe.warm_up()
    assert fake.calls == [1] and pipe.scores.frames_seen == 0 and pipe.last_time_ms == -1
    assert [d for d in pipe.push(speech)] == detect_audio(FakeClassifier(), speech)


def test_rechunk_cuts_exact_chunks_and_keeps_every_sample() -> None:
    x = np.arange(10000, dtype=np.int16)
    cuts = [0, 1, 5, 5, 333, 3000, 3001, 9999]
    chunks = list(rechunk(np.split(x, cuts), 1000))
    assert [c.size for c in chunks] == [1000] * 10
    np.testing.assert_array_equal(np.concatenate(chunks), x)
    chunks = list(rechunk([x[:2500], x[2500:2600]], 1000))
    assert [c.size for c in chunks] == [1000, 1000, 600] and chunks[0].dtype == np.int16
    assert list(rechunk([], 10)) == [] and list(rechunk([x[:0]], 10)) == []
    with pytest.raises(ConfigError, match="chunk_samples=0"):
        list(rechunk([x], 0))


def test_detect_blocks_equals_detect_audio_after_other_audio(speech: np.ndarray) -> None:
    expect = detect_audio(FakeClassifier(), speech)
    assert len(expect) >= 5
    pipe = Pipeline(FakeClassifier())
    pipe.push(speech[::-1][:40000].copy())              # detect_blocks starts a new stream
    cuts = np.sort(np.random.default_rng(2).integers(0, speech.size, 40))
    assert list(detect_blocks(pipe, np.split(speech, cuts), chunk_samples=7777)) == expect


def test_detect_blocks_memory_does_not_grow_with_the_recording(speech: np.ndarray) -> None:
    # 10 minutes (19 MB of int16 if held whole) from a generator of one-second blocks.
    def blocks():
        for i in range(600):
            start = i * 16000 % (speech.size - 16000)
            yield speech[start:start + 16000]

    pipe = Pipeline(FakeClassifier())
    pipe.warm_up()                                       # tables (and their imports) first
    tracemalloc.start()
    try:
        found = list(detect_blocks(pipe, blocks()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pipe.last_time_ms == 599990 and len(found) >= 50
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MB"

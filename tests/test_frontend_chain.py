"""The whole fixed-point chain on real clips: batch vs single vs streaming, and fidelity."""

import numpy as np

from kws.config import FrontendConfig
from kws.frontend import StreamingMfcc, mfcc, mfcc_batch
from kws.frontend.mfcc import frames_to_features
from kws.frontend.reference import quantize_features, reference_mfcc


def test_batch_equals_one_clip_at_a_time(mini_audio: np.ndarray) -> None:
    some = mini_audio[::97]
    batch = mfcc_batch(some)
    assert batch.shape == (some.shape[0], 49, 10) and batch.dtype == np.int8
    for clip, feats in zip(some, batch, strict=True):
        np.testing.assert_array_equal(mfcc(clip), feats)


def test_thread_count_does_not_change_the_result(mini_audio: np.ndarray) -> None:
    from kws.frontend.framing import frame_audio

    frames = np.ascontiguousarray(frame_audio(mini_audio[:120], FrontendConfig()))
    frames = frames.reshape(-1, 480)
    np.testing.assert_array_equal(frames_to_features(frames, FrontendConfig(), workers=1),
                                  frames_to_features(frames, FrontendConfig(), workers=3))


def test_streaming_equals_batch_for_every_clip(mini_audio: np.ndarray) -> None:
    """Every clip of the mini corpus, each cut into seeded random chunks (0 to 5000 samples)."""
    batch = mfcc_batch(mini_audio)
    rng = np.random.default_rng(20261127)
    stream = StreamingMfcc()
    for clip, expect in zip(mini_audio, batch, strict=True):
        stream.reset()
        cuts = np.sort(rng.integers(0, clip.size, size=rng.integers(1, 12)))
        got = [stream.push(chunk) for chunk in np.split(clip, cuts)]
        np.testing.assert_array_equal(np.concatenate(got), expect)
        assert stream.frames_emitted == 49


def test_streaming_edge_chunkings(mini_audio: np.ndarray) -> None:
    clip = np.concatenate(mini_audio[:3])           # 3 s: 149 frames
    expect = mfcc(clip)
    assert expect.shape == (149, 10)
    for size in (1, 7, 319, 320, 321, 480, 4096):
        stream = StreamingMfcc()
        got = [stream.push(clip[i:i + size]) for i in range(0, clip.size, size)]
        np.testing.assert_array_equal(np.concatenate(got), expect, err_msg=f"chunk {size}")


def test_not_enough_samples_yet_then_overlap_reused() -> None:
    stream = StreamingMfcc()
    x = (np.arange(800) % 200 - 100).astype(np.int16) * 50
    assert stream.push(x[:479]).shape == (0, 10)        # one short of a window
    first = stream.push(x[479:480])                     # completes frame 0
    assert first.shape == (1, 10)
    assert stream.push(x[480:799]).shape == (0, 10)     # frame 1 needs sample 799
    second = stream.push(x[799:])
    np.testing.assert_array_equal(np.concatenate([first, second]), mfcc(x))


def test_fidelity_floor_against_float_reference(mini_audio: np.ndarray) -> None:
    """A looser floor than the benchmark's 99% goal, on a spread-out quarter of the corpus."""
    some = mini_audio[::4]
    fixed = mfcc_batch(some).astype(int)
    ref = quantize_features(reference_mfcc(some)).astype(int)
    within = np.mean(np.abs(fixed - ref) <= 1)
    assert within >= 0.98, within

"""kws.data.Augmenter: int16 in, int16 out, exact on hand-checkable cases, one seeded random
stream per (seed, epoch, example)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kws.audio import speech_end
from kws.data import Augmenter, DataConfig, example_rng, index_dataset, load_noise
from kws.errors import AudioError, DataError

QUIET = dict(noise_probability=0.0, shift_ms=0.0, gain_db_range=(0.0, 0.0))
"""Every augmentation switched off; each test turns one on."""


def _ramp(clips: int = 3, n: int = 16000) -> np.ndarray:
    return (np.arange(clips * n, dtype=np.int64).reshape(clips, n) % 2000 - 1000).astype(
        np.int16)


def _stage(seed: int, epoch: int, index: int, stage: int) -> np.random.Generator:
    """Example ``index``'s child stream of one stage (0 voice, 1 place, 2 noise)."""
    return Augmenter.stages(example_rng(seed, epoch, index))[stage]


def test_all_off_is_the_identity() -> None:
    audio = _ramp()
    out = Augmenter(DataConfig(**QUIET), []).augment(audio, seed=0, epoch=0)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, audio)


def test_shift_moves_samples_and_fills_zeros() -> None:
    config = DataConfig(**{**QUIET, "shift_ms": 100.0})  # up to 1600 samples
    audio = _ramp(clips=64)
    out = Augmenter(config, []).augment(audio, seed=5, epoch=2)
    shifts = [int(_stage(5, 2, i, 1).integers(-1600, 1601)) for i in range(64)]
    assert len(set(shifts)) > 1
    for row, clip, s in zip(out, audio, shifts, strict=True):
        want = np.zeros(16000, np.int16)
        if s >= 0:
            want[s:] = clip[:16000 - s]
        else:
            want[:s] = clip[-s:]
        np.testing.assert_array_equal(row, want)


def test_late_shift_puts_words_up_to_the_window_end_and_never_past_it() -> None:
    """shift_late_ms: delays up to 400 ms, each capped at the clip's quiet tail, so the word
    may end right at the clip's end but is never cut; advances stay within shift_ms."""
    config = DataConfig(**{**QUIET, "shift_ms": 100.0, "shift_late_ms": 400.0})
    audio = np.zeros((200, 16000), np.int16)
    ends = np.random.default_rng(1).integers(20, 50, size=200) * 320   # word ends, samples
    for clip, end in zip(audio, ends, strict=True):
        clip[end - 3200:end] = 5000                                     # a 200 ms "word"
    out = Augmenter(config, []).augment(audio, seed=5, epoch=0)
    drawn = np.array([_stage(5, 0, i, 1).integers(-1600, 6401) for i in range(200)])
    want = np.minimum(drawn, 16000 - ends)
    got = np.argmax(out != 0, axis=1) - (ends - 3200)                  # the shift applied
    np.testing.assert_array_equal(got, want)
    assert got.min() >= -1600 and (got > 1600).any()
    assert (speech_end(out) == 16000).sum() >= 20                      # many end at the end
    np.testing.assert_array_equal((out == 5000).sum(axis=1), 3200)      # no word is cut


def test_gain_rounds_and_clips() -> None:
    gain_db = 20 * np.log10(2.0)  # x2 exactly (in float32 after 10 ** (g / 20))
    config = DataConfig(**{**QUIET, "gain_db_range": (gain_db, gain_db)})
    audio = np.array([[0, 1, -1, 20000, -20000, 16383, -16384, 32767]], dtype=np.int16)
    out = Augmenter(config, []).augment(audio, seed=0, epoch=0)
    assert out.tolist() == [[0, 2, -2, 32767, -32768, 32766, -32768, 32767]]
    half = DataConfig(**{**QUIET, "gain_db_range": (-gain_db, -gain_db)})
    out = Augmenter(half, []).augment(np.array([[3, -3, 5, 1]], np.int16), seed=0, epoch=0)
    assert out.tolist() == [[2, -2, 2, 0]]  # 1.5 -> 2, -1.5 -> -2, 2.5 -> 2, 0.5 -> 0 (rint)


def test_noise_is_added_at_the_asked_volume() -> None:
    config = DataConfig(**{**QUIET, "noise_probability": 1.0,
                           "noise_volume_range": (0.5, 0.5)})
    noise = [np.full(40000, 1001, dtype=np.int16)]
    audio = np.zeros((4, 16000), dtype=np.int16)
    audio[1] = 32767
    out = Augmenter(config, noise).augment(audio, seed=0, epoch=0)
    assert (out[0] == 500).all()  # 500.5 rounds to even
    assert (out[1] == 32767).all()  # clipped, not wrapped
    never = DataConfig(**{**QUIET, "noise_volume_range": (0.5, 0.5)})
    np.testing.assert_array_equal(Augmenter(never, noise).augment(audio, seed=0, epoch=0),
                                  audio)


def test_noise_at_a_snr_is_scaled_to_the_clip_speech() -> None:
    """With noise_snr_db_range the noise sits snr dB under the (gained) clip's active speech
    power whatever the clip's level; silent clips get no noise."""
    from kws.audio import active_power

    config = DataConfig(**{**QUIET, "noise_probability": 1.0, "gain_db_range": (-6.0, 6.0),
                           "noise_snr_db_range": (5.0, 15.0)})
    rng = np.random.default_rng(5)
    noise = [np.rint(rng.standard_normal(48000) * 2000).astype(np.int16)]
    audio = np.zeros((40, 16000), dtype=np.int16)
    for i in range(1, 40):
        a = 1000 + 200 * i
        audio[i, a:a + 3200] = np.rint(300 * i * np.sin(np.arange(3200) * 0.2))
    out = Augmenter(config, noise).augment(audio, seed=1, epoch=0)
    assert (out[0] == 0).all()
    snrs = []
    for i in range(1, 40):
        gain = 10.0 ** (_stage(1, 0, i, 0).uniform(-6.0, 6.0) / 20.0)  # replay the draws
        draws = _stage(1, 0, i, 2)
        draws.random(), draws.integers(1), draws.integers(0, 48000 - 16000 + 1)
        snrs.append(draws.uniform(5.0, 15.0))
        speech = audio[i].astype(np.float64) * gain
        added = out[i] - np.rint(speech)
        snr = 10 * np.log10(active_power(speech) / np.mean(added**2))
        assert snr == pytest.approx(snrs[-1], abs=0.1), i
    assert min(snrs) < 6.5 and max(snrs) > 13.5


def test_noise_probability_is_respected() -> None:
    config = DataConfig(**{**QUIET, "noise_probability": 0.3,
                           "noise_volume_range": (1.0, 1.0)})
    noise = [np.full(16000, 100, dtype=np.int16)]
    out = Augmenter(config, noise).augment(np.zeros((2000, 16000), np.int16), seed=3, epoch=0)
    noisy = (out != 0).any(axis=1).mean()
    assert noisy == pytest.approx(0.3, abs=0.04)


@pytest.fixture(scope="module")
def real_augmenter(mini_dir: Path) -> Augmenter:
    index = index_dataset(mini_dir)
    config = DataConfig(speed_perturb=0.15, eq_db=6.0, reverb_prob=0.3)
    return Augmenter(config, load_noise(index, "train"))


def test_same_seed_same_example_whatever_the_batch(real_augmenter: Augmenter,
                                                   mini_audio: np.ndarray) -> None:
    """An example's augmentation depends on (seed, epoch, index) only: not on the batch it
    is computed in; another seed, epoch or index gives another variant."""
    batch = mini_audio[:32].copy()
    a = real_augmenter.augment(batch, seed=0, epoch=3)
    b = real_augmenter.augment(batch, seed=0, epoch=3)
    c = real_augmenter.augment(batch, seed=1, epoch=3)
    d = real_augmenter.augment(batch, seed=0, epoch=4)
    tail = real_augmenter.augment(batch[10:], seed=0, epoch=3, first=10)
    np.testing.assert_array_equal(batch, mini_audio[:32])  # input untouched
    assert a.dtype == np.int16 and a.shape == batch.shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[10:], tail)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)
    assert not np.array_equal(a, batch)


def test_switching_a_stage_on_leaves_the_other_stages_draws(mini_audio: np.ndarray) -> None:
    """Each stage has its own child stream: turning the equalizer on does not move the
    time shift of any example."""
    base = DataConfig(**{**QUIET, "shift_ms": 100.0})
    clip = np.zeros((8, 16000), np.int16)
    clip[:, 8000] = 10000
    plain = Augmenter(base, []).augment(clip, seed=2, epoch=1)
    eq = Augmenter(DataConfig(**{**QUIET, "shift_ms": 100.0, "eq_db": 6.0}), []).augment(
        clip, seed=2, epoch=1)
    np.testing.assert_array_equal(np.argmax(np.abs(plain), axis=1),
                                  np.argmax(np.abs(eq), axis=1))


def test_load_noise_is_the_training_part_of_each_recording(mini_dir: Path) -> None:
    index = index_dataset(mini_dir)
    noise = load_noise(index, "train")
    assert len(noise) == 6
    for recording, region in zip(noise, index.noise["train"], strict=True):
        assert recording.dtype == np.int16 and recording.size == region.stop - region.start


def test_bad_input_is_refused() -> None:
    augmenter = Augmenter(DataConfig(**QUIET), [])
    with pytest.raises(AudioError, match="int16 \\(clips, samples\\), got float32"):
        augmenter.augment(np.zeros((2, 10), np.float32), seed=0, epoch=0)
    with pytest.raises(AudioError, match="got int16 \\(10,\\)"):
        augmenter.augment(np.zeros(10, np.int16), seed=0, epoch=0)
    with pytest.raises(DataError, match="no noise recording was given"):
        Augmenter(DataConfig(), [])
    with pytest.raises(AudioError, match="noise recording 0 must be int16"):
        Augmenter(DataConfig(), [np.zeros(20000, np.float64)])
    short = Augmenter(DataConfig(noise_probability=1.0), [np.zeros(8000, np.int16)])
    with pytest.raises(DataError, match="has 8000 samples, fewer than the 16000-sample"):
        short.augment(np.zeros((1, 16000), np.int16), seed=0, epoch=0)

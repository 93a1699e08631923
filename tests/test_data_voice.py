"""The voice stage (speed, equalizer, room) and the feature-level steps (SpecAugment, mixup)
of kws.data.augment, and the learning-rate schedule; numbers checked by hand, no
TensorFlow needed."""

from __future__ import annotations

import numpy as np
import pytest

from kws.config import TrainConfig
from kws.data import DataConfig
from kws.data.augment import (
    EQ_ANCHORS_HZ,
    epoch_rng,
    mixup,
    random_eq,
    random_reverb,
    spec_augment,
    speed_perturb,
)
from kws.train import learning_rate


def _impulse(at: int = 8000, height: float = 10000.0) -> np.ndarray:
    clip = np.zeros(16000, dtype=np.float32)
    clip[at] = height
    return clip


def test_off_settings_leave_audio_unchanged() -> None:
    clip = np.random.default_rng(0).integers(-3000, 3000, 16000).astype(np.float32)
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(speed_perturb(clip, 0.0, rng), clip)
    np.testing.assert_array_equal(random_eq(clip, 0.0, rng), clip)
    np.testing.assert_array_equal(random_reverb(clip, 0.0, rng), clip)
    assert rng.random() == np.random.default_rng(1).random()   # nothing was drawn


def test_speed_perturb_moves_samples_around_the_centre() -> None:
    # factor r: out[t] = in[c + (t - c) r]; an impulse 1000 samples after the centre lands
    # at 1000 / r after it.
    centre = (16000 - 1) / 2
    out = speed_perturb(_impulse(at=int(centre + 0.5) + 1000), 0.2, np.random.default_rng(4))
    factor = np.random.default_rng(4).uniform(0.8, 1.2)
    peak = int(np.argmax(out))
    assert out.dtype == np.float32
    assert abs((peak - centre) - (int(centre + 0.5) + 1000 - centre) / factor) <= 1


def test_random_eq_gain_curve_passes_through_its_anchor_gains() -> None:
    out = random_eq(_impulse(), 6.0, np.random.default_rng(3))
    response_db = 20 * np.log10(np.abs(np.fft.rfft(out.astype(np.float64))) / 10000)
    gains = np.random.default_rng(3).uniform(-6, 6, len(EQ_ANCHORS_HZ))
    for hz, gain in zip(EQ_ANCHORS_HZ, gains, strict=True):
        assert abs(response_db[int(hz)] - gain) < 0.01, hz  # 1 Hz bins


def test_random_reverb_keeps_energy_and_touches_the_chosen_share() -> None:
    audio = np.random.default_rng(0).integers(-3000, 3000, (400, 16000)).astype(np.float32)
    rng = np.random.default_rng(2)
    out = np.stack([random_reverb(clip, 0.25, rng) for clip in audio])
    changed = np.any(out != audio, axis=1)
    assert 70 < changed.sum() < 130
    energy = lambda a: np.sum(a.astype(np.float64) ** 2, axis=1)  # noqa: E731
    np.testing.assert_allclose(energy(out[changed]), energy(audio[changed]), rtol=1e-3)


def test_spec_augment_masks_whole_rows_and_columns() -> None:
    config = DataConfig(time_masks=1, time_mask_frames=5, freq_masks=1, freq_mask_coeffs=2)
    feats = np.full((50, 49, 10), 7, dtype=np.int8)
    out = spec_augment(feats.copy(), config, np.random.default_rng(0))
    zero = out == 0
    for clip in zero:
        rows = np.flatnonzero(clip.all(axis=1))
        cols = np.flatnonzero(clip.all(axis=0))
        assert len(rows) <= 5 and len(cols) <= 2
        covered = np.zeros_like(clip)
        covered[rows, :] = True
        covered[:, cols] = True
        np.testing.assert_array_equal(clip, covered)


def test_mixup_keeps_labels_a_distribution_and_the_first_clip_dominant() -> None:
    config = DataConfig(mixup_alpha=0.4)
    x = np.arange(16, dtype=np.float32).reshape(16, 1, 1, 1)
    y = np.eye(12, dtype=np.float32)[np.arange(16) % 12]
    mx, my = mixup(x, y, config, 8, np.random.default_rng(0))
    np.testing.assert_allclose(my.sum(axis=1), 1, rtol=1e-6)
    assert np.all(my[np.arange(16), np.arange(16) % 12] >= 0.5 - 1e-6)
    assert np.all(mx[:8] <= 7 + 1e-5) and np.all(mx[8:] >= 8 - 1e-5)  # mixed within batches


def test_learning_rate_schedule() -> None:
    # 1 warm-up epoch, then cosine over epochs 1..11 (progress (epoch - 1) / 10).
    train = TrainConfig(epochs=12, learning_rate=1e-3, min_learning_rate=1e-5,
                        warmup_epochs=1, schedule="cosine")
    assert learning_rate(train, 0) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert learning_rate(train, 1) == pytest.approx(1e-3)
    assert learning_rate(train, 6) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert learning_rate(train, 11) == pytest.approx(1e-5)


def test_epoch_streams_are_independent_and_reproducible() -> None:
    a = epoch_rng(0, 5, 4).integers(0, 1 << 30, 4)
    np.testing.assert_array_equal(a, epoch_rng(0, 5, 4).integers(0, 1 << 30, 4))
    assert not np.array_equal(a, epoch_rng(0, 6, 4).integers(0, 1 << 30, 4))
    assert not np.array_equal(a, epoch_rng(0, 5, 5).integers(0, 1 << 30, 4))
    assert not np.array_equal(a, epoch_rng(1, 5, 4).integers(0, 1 << 30, 4))

"""One seeded augmentation pipeline for every training example (clips and stream windows).

Audio stays int16 at both ends (the fixed-point front end then computes the features); the
arithmetic in between is float32, rounded and clipped back to int16 once, never cast bare.
Every example has its own random stream, ``example_rng(seed, epoch, index)``, split into one
child stream per stage, so an example's draws depend only on (seed, epoch, index): not on
the batch it is in, nor on whether another stage is switched on. Per example, in this order:

1. voice (:meth:`Augmenter.voice`): another speaker, microphone and room
   a. speed: play faster or slower like tape (tempo and pitch together) around the clip's
      centre, factor uniform in [1 - speed_perturb, 1 + speed_perturb];
   b. equalizer: a smooth gain curve through random gains in [-eq_db, +eq_db] dB at
      EQ_ANCHORS_HZ (linear in log frequency);
   c. room: with probability reverb_prob, convolve with direct sound + decaying noise
      (RT60 in REVERB_RT60_S), energy kept;
   d. gain: g dB, g uniform in gain_db_range;
2. place (:meth:`Augmenter.place`): a time shift s samples, s uniform in [-shift, +shift]
   (s > 0 delays), zero-filled; with ``shift_late_ms`` set, s uniform in [-shift,
   +shift_late] and a delay capped at the clip's quiet tail (n - kws.audio.speech_end), so
   the speech never leaves the clip. Stream windows (kws.data.windows) are placed by their
   own rule instead;
3. noise (:meth:`Augmenter.add_noise`): with probability noise_probability, a random window
   of a random background recording times v, v uniform in noise_volume_range; or, when
   noise_snr_db_range is set, times the v that puts the example's active speech power
   (kws.audio.active_power) snr dB above the window's power, snr uniform in that range (no
   noise on a silent example or a silent window);
4. round to the nearest integer and clip to [-32768, 32767].

Feature-level augmentation of a whole epoch (after the front end) has one stream per
purpose, ``epoch_rng(seed, epoch, purpose)``: :func:`spec_augment` masks and
:func:`mixup` within batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from kws.audio import active_power, snr_gain, speech_end
from kws.data.config import DataConfig
from kws.data.index import SAMPLE_RATE_HZ
from kws.errors import AudioError, DataError

EXAMPLE_PURPOSE = 3
"""Random-stream tag of per-example augmentation (index.py uses 1 and 2 for unknown and
silence sampling)."""
MASK_PURPOSE, ORDER_PURPOSE, MIXUP_PURPOSE = 4, 5, 6
"""Random-stream tags of the epoch-level feature steps."""
EQ_ANCHORS_HZ = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
"""Frequencies of the random equalizer's gain points (log-spaced, one per octave)."""
REVERB_RT60_S = (0.1, 0.6)
"""Range of the synthetic rooms' reverberation time (60 dB decay), in seconds."""


def example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The Generator of one training example: the same (seed, epoch, index) gives the same
    draws, whatever else is in the epoch."""
    return np.random.default_rng([int(seed), EXAMPLE_PURPOSE, int(epoch), int(index)])


def epoch_rng(seed: int, epoch: int, purpose: int) -> np.random.Generator:
    """The Generator of one epoch-level step (MASK_PURPOSE, ORDER_PURPOSE, MIXUP_PURPOSE)."""
    return np.random.default_rng([int(seed), int(purpose), int(epoch)])


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Round to the nearest integer and clip to int16 (float in, int16 out, same shape)."""
    return np.clip(np.rint(audio), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------------------------
# The voice stage, one clip at a time (float32 (n,) in and out)
# --------------------------------------------------------------------------------------------

def speed_perturb(clip: np.ndarray, max_change: float, rng: np.random.Generator) -> np.ndarray:
    """Play a clip faster or slower (tempo and pitch together, like tape), around its centre.

    clip: float (n,). Factor r uniform in [1 - max_change, 1 + max_change]: out[t] =
    in[c + (t - c) * r] (linear interpolation, c the centre sample), zero outside the clip.
    Returns float32 (n,); max_change 0 returns the clip unchanged (no draw).
    """
    if max_change <= 0:
        return clip
    n = clip.shape[0]
    centre = (n - 1) / 2
    factor = rng.uniform(1 - max_change, 1 + max_change)
    grid = np.arange(n, dtype=np.float64)
    return np.interp(centre + (grid - centre) * factor, grid, clip.astype(np.float64),
                     left=0.0, right=0.0).astype(np.float32)


@lru_cache(maxsize=4)
def _eq_weights(n: int, rate_hz: int) -> np.ndarray:
    """(bins, anchors): the equalizer's curve in dB is weights @ anchor gains."""
    log_f = np.log2(np.maximum(np.fft.rfftfreq(n, 1 / rate_hz), EQ_ANCHORS_HZ[0]))
    anchors = np.log2(EQ_ANCHORS_HZ)
    return np.stack([np.interp(log_f, anchors, np.eye(len(anchors))[k])
                     for k in range(len(anchors))], axis=1)


def random_eq(clip: np.ndarray, max_db: float, rng: np.random.Generator,
              rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A different microphone: float (n,) -> float32 (n,), filtered with a smooth gain curve
    (linear in log frequency) through random gains in [-max_db, max_db] dB at
    EQ_ANCHORS_HZ. max_db 0 returns the clip unchanged (no draw)."""
    if max_db <= 0:
        return clip
    n = clip.shape[0]
    gains_db = rng.uniform(-max_db, max_db, len(EQ_ANCHORS_HZ))
    gain = 10 ** ((_eq_weights(n, rate_hz) @ gains_db) / 20)
    return np.fft.irfft(np.fft.rfft(clip.astype(np.float32)) * gain, n=n).astype(np.float32)


def random_reverb(clip: np.ndarray, prob: float, rng: np.random.Generator,
                  rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A room, with probability ``prob``: float (n,) -> float32 (n,) convolved with direct
    sound + exponentially decaying noise (RT60 in REVERB_RT60_S, the reverberant part's
    energy 0.1-1 times the direct sound's), energy kept."""
    if prob <= 0 or rng.random() >= prob:
        return clip
    n = clip.shape[0]
    rt60 = rng.uniform(*REVERB_RT60_S)
    length = int(rt60 * rate_hz)
    t = np.arange(1, length + 1) / rate_hz
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    tail *= np.sqrt(rng.uniform(0.1, 1.0) / np.sum(tail ** 2))
    response = np.concatenate([[1.0], tail])
    size = 1 << int(np.ceil(np.log2(n + length + 1)))
    dry = clip.astype(np.float64)
    wet = np.fft.irfft(np.fft.rfft(dry, size) * np.fft.rfft(response, size), size)[:n]
    wet *= np.sqrt(np.sum(dry ** 2) / max(np.sum(wet ** 2), 1e-9))
    return wet.astype(np.float32)


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------

class Augmenter:
    """The per-example augmentation of ``config`` (see the module docstring).

    noise: background recordings, each int16 (n_i,) at 16 kHz (e.g. ``load_noise(index)``,
    the training part of ``_background_noise_``); may be empty only when noise is disabled
    (noise_probability 0 or noise_volume_range (0, 0)).
    """

    def __init__(self, config: DataConfig, noise: Sequence[np.ndarray],
                 sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
        self.config = config
        self.rate_hz = sample_rate_hz
        self.shift_samples = round(config.shift_ms * sample_rate_hz / 1000)
        self.late_samples = (self.shift_samples if config.shift_late_ms is None
                             else round(config.shift_late_ms * sample_rate_hz / 1000))
        self.noise = []
        for i, recording in enumerate(noise):
            recording = np.asarray(recording)
            if recording.dtype != np.int16 or recording.ndim != 1:
                raise AudioError(f"noise recording {i} must be int16 (n,), got "
                                 f"{recording.dtype} {recording.shape}")
            self.noise.append(recording)
        self.uses_noise = config.noise_probability > 0 and (
            config.noise_snr_db_range is not None or config.noise_volume_range[1] > 0)
        if self.uses_noise and not self.noise:
            raise DataError("augmentation adds background noise but no noise recording was "
                            "given (is _background_noise_ missing? or set noise_probability: 0)")

    @staticmethod
    def stages(rng: np.random.Generator) -> tuple[np.random.Generator, ...]:
        """The child streams (voice, place, noise) of one example's Generator."""
        return tuple(rng.spawn(3))

    def voice(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Step 1: speed, equalizer, room, gain. clip: int16 or float (n,); float32 (n,)."""
        cfg = self.config
        x = clip.astype(np.float32)
        x = speed_perturb(x, cfg.speed_perturb, rng)
        x = random_eq(x, cfg.eq_db, rng, self.rate_hz)
        x = random_reverb(x, cfg.reverb_prob, rng, self.rate_hz)
        gain_db = rng.uniform(*cfg.gain_db_range)
        return (x * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)

    def place(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Step 2: the time shift of a clip example. float (n,) -> float32 (n,)."""
        n = clip.shape[0]
        s = int(rng.integers(-self.shift_samples, self.late_samples + 1))
        if self.config.shift_late_ms is not None:
            s = min(s, n - int(speech_end(clip[None, :])[0]))
        s = max(-n, min(n, s))
        out = np.zeros(n, dtype=np.float32)
        if s >= 0:
            out[s:] = clip[:n - s]
        else:
            out[:n + s] = clip[-s:]
        return out

    def add_noise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Step 3: background noise. float (n,) -> float32 (n,)."""
        cfg = self.config
        if not self.uses_noise or rng.random() >= cfg.noise_probability:
            return x.astype(np.float32)
        n = x.shape[0]
        recording = self.noise[int(rng.integers(len(self.noise)))]
        if recording.size < n:
            raise DataError(f"a noise recording has {recording.size} samples, fewer than the "
                            f"{n}-sample examples")
        offset = int(rng.integers(0, recording.size - n + 1))
        window = recording[offset:offset + n].astype(np.float32)
        if cfg.noise_snr_db_range is None:
            volume = rng.uniform(*cfg.noise_volume_range)
        else:
            volume = snr_gain(active_power(x), float(np.mean(window ** 2.0)),
                              float(rng.uniform(*cfg.noise_snr_db_range)))
        return (x + np.float32(volume) * window).astype(np.float32)

    def augment_clip(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One clip example through voice, place and noise: int16 (n,) -> int16 (n,)."""
        voice_rng, place_rng, noise_rng = self.stages(rng)
        x = self.place(self.voice(clip, voice_rng), place_rng)
        return to_int16(self.add_noise(x, noise_rng))

    def augment(self, audio: np.ndarray, seed: int, epoch: int, first: int = 0) -> np.ndarray:
        """Augmented copy of a batch of clips.

        audio: int16 (clips, n) at 16 kHz; clip i is example ``first + i`` of the epoch
        (its Generator is ``example_rng(seed, epoch, first + i)``). Returns int16 (clips, n);
        ``audio`` is not modified.
        """
        audio = np.asarray(audio)
        if audio.dtype != np.int16 or audio.ndim != 2:
            raise AudioError(f"augment expects int16 (clips, samples), got {audio.dtype} "
                             f"{audio.shape}")
        out = np.empty_like(audio)
        for i in range(audio.shape[0]):
            out[i] = self.augment_clip(audio[i], example_rng(seed, epoch, first + i))
        return out


# --------------------------------------------------------------------------------------------
# Feature-level steps of an epoch
# --------------------------------------------------------------------------------------------

def spec_augment(features: np.ndarray, config: DataConfig,
                 rng: np.random.Generator) -> np.ndarray:
    """SpecAugment on int8 features (n, frames, coeffs): masked cells become 0 (in place).

    config.time_masks masks of up to time_mask_frames frames and config.freq_masks masks of
    up to freq_mask_coeffs coefficients per example, widths and starts uniform.
    """
    n, frames, coeffs = features.shape
    for count, largest, axis_len, axis in (
            (config.time_masks, config.time_mask_frames, frames, 1),
            (config.freq_masks, config.freq_mask_coeffs, coeffs, 2)):
        for _ in range(count):
            width = rng.integers(0, largest + 1, n)
            start = rng.integers(0, axis_len, n)
            pos = np.arange(axis_len)
            mask = (pos[None, :] >= start[:, None]) & (pos[None, :] < (start + width)[:, None])
            if axis == 1:
                features[mask[:, :, None].repeat(coeffs, 2)] = 0
            else:
                features[mask[:, None, :].repeat(frames, 1)] = 0
    return features


def mixup(x: np.ndarray, y: np.ndarray, config: DataConfig, batch_size: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mixup within each batch of ``batch_size``: x float32 (n, ...), y float32 (n, classes).

    A batch is mixed with probability config.mixup_prob: each example with a partner of the
    same batch, weight lam ~ Beta(alpha, alpha) folded to >= 0.5 (the example stays the
    dominant one). Returns new arrays; alpha 0 returns the inputs.
    """
    if config.mixup_alpha <= 0:
        return x, y
    x, y = x.copy(), y.copy()
    for start in range(0, len(x), batch_size):
        if rng.random() >= config.mixup_prob:
            continue
        stop = min(start + batch_size, len(x))
        partner = start + rng.permutation(stop - start)
        lam = rng.beta(config.mixup_alpha, config.mixup_alpha, stop - start).astype(np.float32)
        lam = np.maximum(lam, 1 - lam)
        shape = (-1,) + (1,) * (x.ndim - 1)
        x[start:stop] = lam.reshape(shape) * x[start:stop] + (1 - lam.reshape(shape)) * x[partner]
        y[start:stop] = lam[:, None] * y[start:stop] + (1 - lam[:, None]) * y[partner]
    return x, y

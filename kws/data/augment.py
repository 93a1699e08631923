"""Seeded augmentation of int16 audio batches: time shift, gain, background noise.

Audio stays int16 end to end (the fixed-point front end then computes the features): the
float arithmetic in between is rounded and clipped back to int16, never cast bare. All random
draws come from the numpy Generator passed in, in a fixed order, so a seed reproduces a batch
exactly. Per clip, in this order:

1. time shift by s samples, s uniform in [-shift, +shift] (s > 0 delays), zero-filled; with
   ``shift_late_ms`` set, s uniform in [-shift, +shift_late] and a delay capped at the
   clip's quiet tail (n - kws.audio.speech_end), so the speech never leaves the clip;
2. gain g dB, g uniform in ``gain_db_range``;
3. with probability ``noise_probability``: add a random window of a random background
   recording times v, v uniform in ``noise_volume_range``; or, when ``noise_snr_db_range``
   is set, times the v that puts the clip's active speech power (kws.audio.active_power)
   snr dB above the window's power, snr uniform in that range (no noise on a silent clip
   or a silent window);
4. round to the nearest integer and clip to [-32768, 32767].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kws.audio import active_power, snr_gain, speech_end
from kws.data.config import DataConfig
from kws.data.index import SAMPLE_RATE_HZ
from kws.errors import AudioError, DataError

_EPOCH_PURPOSE = 3
"""Random-stream tag of augmentation (index.py uses 1 and 2 for unknown and silence)."""


def epoch_rng(config: DataConfig, epoch: int) -> np.random.Generator:
    """The Generator of one training epoch: the same (seed, epoch) gives the same draws."""
    return np.random.default_rng([config.seed, _EPOCH_PURPOSE, int(epoch)])


class Augmenter:
    """Augment int16 clip batches with ``config``'s shift, gain and noise settings.

    noise: background recordings, each int16 (n_i,) at 16 kHz (e.g. ``load_noise(index)``,
    the training part of ``_background_noise_``); may be empty only when noise is disabled
    (noise_probability 0 or noise_volume_range (0, 0)).
    """

    def __init__(self, config: DataConfig, noise: Sequence[np.ndarray],
                 sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
        self.config = config
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

    def augment(self, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augmented copy of ``audio``.

        audio: int16 (clips, n) at 16 kHz. Returns int16 (clips, n); ``audio`` is not
        modified. Reproducible: the same input and Generator state give the same output.
        """
        audio = np.asarray(audio)
        if audio.dtype != np.int16 or audio.ndim != 2:
            raise AudioError(f"augment expects int16 (clips, samples), got {audio.dtype} "
                             f"{audio.shape}")
        clips, n = audio.shape
        if self.uses_noise:
            short = [i for i, r in enumerate(self.noise) if r.size < n]
            if short:
                raise DataError(f"noise recording {short[0]} has {self.noise[short[0]].size} "
                                f"samples, fewer than the {n}-sample clips")
        cfg = self.config
        # All draws first, vectorized and in a fixed order (reproducibility does not depend
        # on which clips get noise).
        shifts = rng.integers(-self.shift_samples, self.late_samples + 1, size=clips)
        gains = 10.0 ** (rng.uniform(*cfg.gain_db_range, size=clips) / 20.0)
        noisy = rng.random(clips) < cfg.noise_probability
        volumes = rng.uniform(*cfg.noise_volume_range, size=clips)
        which = rng.integers(max(len(self.noise), 1), size=clips)
        where = rng.random(clips)
        # drawn last and only when used, so that older configs keep their exact batches
        snrs = (rng.uniform(*cfg.noise_snr_db_range, size=clips)
                if cfg.noise_snr_db_range is not None else None)

        if cfg.shift_late_ms is not None:
            shifts = np.minimum(shifts, n - speech_end(audio))  # speech_end <= n
        out = np.zeros((clips, n), dtype=np.float32)
        for i in range(clips):
            s = max(-n, min(n, int(shifts[i])))
            if s >= 0:
                out[i, s:] = audio[i, :n - s]
            else:
                out[i, :n + s] = audio[i, -s:]
        out *= gains.astype(np.float32)[:, None]
        if self.uses_noise:
            for i in np.flatnonzero(noisy if snrs is not None else noisy & (volumes > 0)):
                recording = self.noise[which[i]]
                offset = int(where[i] * (recording.size - n + 1))
                window = recording[offset:offset + n]
                if snrs is None:
                    volume = volumes[i]
                else:
                    volume = snr_gain(active_power(out[i]), float(np.mean(window**2.0)),
                                      float(snrs[i]))
                out[i] += np.float32(volume) * window
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

"""``DataConfig``: splits, class shares and augmentation of the Speech Commands pipeline.

Same style as :mod:`kws.config`: a frozen, keyword-only dataclass with units in the field
names; YAML section ``data:`` (``configs/data.yaml``) loads into it with
``load_section(DataConfig, path, "data")``; unknown keys and out-of-range values raise
:class:`kws.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import math

from kws import validate as check
from kws.errors import ConfigError
from kws.validate import MAX_SEED as MAX_SEED  # re-exported: the one definition is there

MAX_GAIN_DB = 40.0
"""Largest |gain| the augmenter accepts: beyond +-40 dB a clip is all clipping or all zeros."""
MAX_SNR_DB = 60.0
"""Largest augmentation SNR (the smallest is -MAX_SNR_DB / 3 = -20 dB)."""
ADDED_LATER = {"noise_snr_db_range": None, "shift_late_ms": None, "speed_perturb": 0.0,
               "eq_db": 0.0, "reverb_prob": 0.0, "mixup_alpha": 0.0, "mixup_prob": 1.0,
               "time_masks": 0, "time_mask_frames": 5, "freq_masks": 0, "freq_mask_coeffs": 2,
               "stream_windows": 0.0, "hard_negatives": None, "tuning_percent": None,
               "extra_clips": []}
"""Settings added after the first runs, with their "off" values: while off they are left out
of the data fingerprint (kws.data.SpeechCommandsData), so that older runs keep their hash."""
WINDOW_KEYWORD_SHARE = 0.8
"""A stream window is labelled with a keyword when at least this share of the keyword's
active speech energy lies inside it (kws.data.windows)."""
WINDOW_FRAGMENT_SHARE = 0.1
"""Less than this share of a word inside a window counts as no speech (the window is then
_silence_ unless another word is in it)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataConfig:
    """How Speech Commands becomes the 12-class KWS task, and how training audio is augmented."""

    validation_percent: float = 10.0
    """Share of speakers (percent) in validation, used only when the list files are missing."""
    testing_percent: float = 10.0
    """Share of speakers (percent) in test, used only when the list files are missing."""
    silence_share: float = 0.1
    """_silence_ clips added to each split = ceil(share x clips of that split), in [0, 1]."""
    silence_volume_range: tuple[float, float] = (0.0, 1.0)
    """Linear gain range of a _silence_ clip cut from a background-noise recording."""
    unknown_share: float | None = None
    """_unknown_ clips kept per split = ceil(share x keyword clips); None keeps them all."""
    noise_probability: float = 0.8
    """Probability that augmentation adds background noise to a clip, in [0, 1]."""
    noise_volume_range: tuple[float, float] = (0.0, 0.1)
    """Linear gain range of the added background noise (1.0 = the recording as is)."""
    noise_snr_db_range: tuple[float, float] | None = None
    """When set, replaces noise_volume_range: the noise is scaled so that the clip's active
    speech power (kws.audio.active_power, after shift and gain) is snr dB above the noise
    power, snr uniform in this range (dB, within [-20, 60]). Streams are measured this way
    (data_scripts/make_stream.py), so a model can be trained for their noise levels."""
    shift_ms: float = 100.0
    """Augmentation time shift: uniform in [-shift_ms, +shift_ms], zero-filled."""
    shift_late_ms: float | None = None
    """When set, delays are drawn up to this instead of shift_ms (uniform in [-shift_ms,
    +shift_late_ms]) and each is capped at the clip's quiet tail (after kws.audio.speech_end),
    so that many words end right at the end of the model's window, where a stream shows a
    word the moment it is over: a model trained so can fire sooner after the word."""
    gain_db_range: tuple[float, float] = (-6.0, 6.0)
    """Augmentation gain range in dB (uniform), applied before the noise is added."""
    speed_perturb: float = 0.0
    """Largest relative speed change of training audio (0.1: factor in [0.9, 1.1]; 0 = off),
    tape-like (tempo and pitch) around the clip centre."""
    eq_db: float = 0.0
    """Random equalizer on training audio: a gain curve through random values in
    [-eq_db, +eq_db] dB at 125, 250, 500 Hz ... 8 kHz (other microphones; 0 = off)."""
    reverb_prob: float = 0.0
    """Share of training examples convolved with a synthetic room response (RT60 0.1-0.6 s)."""
    mixup_alpha: float = 0.0
    """Beta(alpha, alpha) mixup of feature pairs within a batch (0 = off)."""
    mixup_prob: float = 1.0
    """Share of the batches that are mixed up when mixup_alpha > 0."""
    time_masks: int = 0
    """SpecAugment: number of time masks per training example (0 = off)."""
    time_mask_frames: int = 5
    """SpecAugment: largest time mask, in frames."""
    freq_masks: int = 0
    """SpecAugment: number of coefficient masks per training example (0 = off)."""
    freq_mask_coeffs: int = 2
    """SpecAugment: largest coefficient mask, in coefficients."""
    stream_windows: float = 0.0
    """Stream windows per epoch, as a multiple of the training clips (0 = off): 1-s windows
    cut at random from three training clips laid end to end with random gaps, the word
    anywhere, also partly outside, labelled by the rule of kws.data.windows."""
    hard_negatives: str | None = None
    """A .npz of mined windows (``kws mine-negatives``: windows of training-split streams where
    a model false-accepts, labelled by the same rule), added to every epoch; a path relative
    to the working directory."""
    extra_clips: tuple[str, ...] = ()
    """.npz files of more 1-s training clips (``kws synth-unknown``: synthetic words for
    _unknown_), added to the clips of every epoch (shifted, voiced, used in stream windows);
    paths relative to the working directory."""
    exclude_words: tuple[str, ...] = ()
    """Word folders left out of every split, as if absent from the dataset: a model (for
    example the backbone of a wake word, docs/wakeword.md) that never heard these words."""
    tuning_percent: float | None = None
    """When set, this share (percent) of the validation speakers (a salted hash of the
    speaker id) forms the split "tuning" and leaves "validation": a model trained on train +
    validation can still have its detector tuned on speakers it never heard."""
    seed: int = 0
    """Seed of every random choice (unknown sampling, silence cuts, augmentation)."""

    def __post_init__(self) -> None:
        check.number_in("validation_percent", self.validation_percent, 0.0, 100.0)
        check.number_in("testing_percent", self.testing_percent, 0.0, 100.0)
        if self.validation_percent + self.testing_percent >= 100.0:
            raise ConfigError(
                f"validation_percent={self.validation_percent} + testing_percent="
                f"{self.testing_percent} leaves no training data (must be < 100)")
        check.number_in("silence_share", self.silence_share, 0.0, 1.0)
        check.number_in("noise_probability", self.noise_probability, 0.0, 1.0)
        check.number_in("shift_ms", self.shift_ms, 0.0, 1000.0)
        if self.shift_late_ms is not None:
            check.number_in("shift_late_ms", self.shift_late_ms, 0.0, 1000.0)
        if self.unknown_share is not None:
            check.number_in("unknown_share", self.unknown_share, 0.0, math.inf)
        check.range_in("silence_volume_range", self.silence_volume_range, 0.0, 1.0)
        check.range_in("noise_volume_range", self.noise_volume_range, 0.0, 1.0)
        if self.noise_snr_db_range is not None:
            check.range_in("noise_snr_db_range", self.noise_snr_db_range, -MAX_SNR_DB / 3,
                           MAX_SNR_DB)
        check.range_in("gain_db_range", self.gain_db_range, -MAX_GAIN_DB, MAX_GAIN_DB)
        check.number_in("speed_perturb", self.speed_perturb, 0.0, 0.45)
        check.number_in("eq_db", self.eq_db, 0.0, 20.0)
        check.number_in("reverb_prob", self.reverb_prob, 0.0, 1.0)
        check.number_in("mixup_alpha", self.mixup_alpha, 0.0, 10.0)
        check.number_in("mixup_prob", self.mixup_prob, 0.0, 1.0)
        check.number_in("stream_windows", self.stream_windows, 0.0, 20.0)
        for name in ("time_masks", "time_mask_frames", "freq_masks", "freq_mask_coeffs"):
            check.int_in(name, getattr(self, name), 0, 1000)
        if self.tuning_percent is not None:
            check.number_in("tuning_percent", self.tuning_percent, 1.0, 99.0)
        if self.hard_negatives is not None and (not isinstance(self.hard_negatives, str)
                                                or not self.hard_negatives):
            raise ConfigError(f"hard_negatives={self.hard_negatives!r} must be a file path")
        check.names("extra_clips", self.extra_clips, "file paths")
        check.names("exclude_words", self.exclude_words, "word folder names")
        check.seed("seed", self.seed)

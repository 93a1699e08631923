"""Frozen, keyword-only configuration dataclasses and their YAML loader.

Human units live in the field names (``window_ms``, ``lower_hz``); the fixed-point
tables are derived from these values in one place (``kws.frontend.tables``).
Unknown keys and impossible values raise :class:`kws.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import yaml

from kws.errors import ConfigError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrontendConfig:
    """The fixed-point MFCC front end (defaults match the MLPerf Tiny KWS input, 49 x 10)."""

    sample_rate_hz: int = 16000
    """Audio sample rate in Hz; audio at other rates is resampled on load."""
    window_ms: float = 30.0
    """Analysis window length in milliseconds (Hann, periodic)."""
    stride_ms: float = 20.0
    """Distance between the starts of two frames in milliseconds."""
    fft_size: int = 512
    """FFT length in samples (a power of two, at least the window length)."""
    num_mel: int = 40
    """Number of triangular mel filters (HTK mel scale, unnormalized)."""
    lower_hz: float = 20.0
    """Lower edge of the lowest mel filter in Hz."""
    upper_hz: float = 4000.0
    """Upper edge of the highest mel filter in Hz (at most Nyquist)."""
    num_coeffs: int = 10
    """Number of DCT-II coefficients kept (c0 included)."""
    log_floor: float = 1e-6
    """Added to every mel energy before the natural log (energy of audio scaled to [-1, 1))."""
    output_gain: tuple[float, ...] = (2.0, 3.0, 4.0, 5.0, 5.0, 8.0, 8.0, 8.0, 8.0, 8.0)
    """Per-coefficient int8 code = round(coefficient * gain + offset), clipped to [-128, 127]."""
    output_offset: tuple[float, ...] = (50.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    """Per-coefficient offset added after the gain, in int8 codes."""
    clip_ms: float = 1000.0
    """Length of one classifier input in milliseconds (49 frames at the defaults)."""

    def __post_init__(self) -> None:
        _positive(self, "sample_rate_hz", "window_ms", "stride_ms", "fft_size", "num_mel",
                  "num_coeffs", "log_floor", "clip_ms")
        if self.fft_size & (self.fft_size - 1):
            raise ConfigError(f"fft_size={self.fft_size} must be a power of two")
        if self.stride_ms > self.window_ms:
            raise ConfigError(
                f"stride_ms={self.stride_ms} is longer than window_ms={self.window_ms}")
        if self.window_samples > self.fft_size:
            raise ConfigError(
                f"window_ms={self.window_ms} ({self.window_samples} samples) is longer than "
                f"fft_size={self.fft_size}")
        if self.window_samples < 2 or self.stride_samples < 1:
            raise ConfigError(f"window_ms={self.window_ms} / stride_ms={self.stride_ms} "
                              "give fewer than 2 / 1 samples")
        nyquist = self.sample_rate_hz / 2
        if self.upper_hz > nyquist:
            raise ConfigError(f"upper_hz={self.upper_hz} is above Nyquist ({nyquist} Hz)")
        if not 0 <= self.lower_hz < self.upper_hz:
            raise ConfigError(
                f"lower_hz={self.lower_hz} must be >= 0 and below upper_hz={self.upper_hz}")
        if self.num_coeffs > self.num_mel:
            raise ConfigError(f"num_coeffs={self.num_coeffs} exceeds num_mel={self.num_mel}")
        for name in ("output_gain", "output_offset"):
            value = getattr(self, name)
            if len(value) != self.num_coeffs:
                raise ConfigError(
                    f"{name} has {len(value)} values, expected num_coeffs={self.num_coeffs}")
            if not all(math.isfinite(v) for v in value):
                raise ConfigError(f"{name}={value} has a non-finite value")
        if not all(0 < g <= 64 for g in self.output_gain):
            raise ConfigError(f"output_gain={self.output_gain} must lie in (0, 64]")
        if self.clip_samples < self.window_samples:
            raise ConfigError(f"clip_ms={self.clip_ms} is shorter than one window")

    @property
    def window_samples(self) -> int:
        """Window length in samples (480 at the defaults)."""
        return round(self.window_ms * self.sample_rate_hz / 1000)

    @property
    def stride_samples(self) -> int:
        """Stride in samples (320 at the defaults)."""
        return round(self.stride_ms * self.sample_rate_hz / 1000)

    @property
    def clip_samples(self) -> int:
        """Samples in one classifier input (16000 at the defaults)."""
        return round(self.clip_ms * self.sample_rate_hz / 1000)

    @property
    def frames_per_clip(self) -> int:
        """Frames in one classifier input: 1 + (clip - window) // stride (49 at the defaults)."""
        return 1 + (self.clip_samples - self.window_samples) // self.stride_samples

    def num_frames(self, num_samples: int) -> int:
        """Frames that ``num_samples`` samples yield (0 when shorter than one window)."""
        if num_samples < self.window_samples:
            return 0
        return 1 + (num_samples - self.window_samples) // self.stride_samples


@dataclasses.dataclass(frozen=True, kw_only=True)
class DetectorConfig:
    """Streaming detector knobs (in the spirit of TFLite Micro's RecognizeCommands).

    Scores are the model's int8 outputs shifted to 0..255 (int8 + 128).
    """

    hop_frames: int = 2
    """Run the classifier every this many new front-end frames (2 = every 40 ms)."""
    average_window_ms: int = 800
    """Average the scores of the results that arrived within this many ms."""
    min_count: int = 3
    """Need at least this many results in the window before deciding."""
    threshold: int = 200
    """Averaged score (0..255) a keyword must reach to be detected."""
    keyword_thresholds: dict[str, int] = dataclasses.field(default_factory=dict)
    """Per-keyword overrides of ``threshold``."""
    suppression_ms: int = 1000
    """After a detection, stay silent for this many ms."""
    keywords: tuple[str, ...] = ()
    """Labels that wake the detector; empty means every keyword (not _silence_/_unknown_)."""
    max_results: int = 64
    """Capacity of the fixed-size score history (a C array of this many rows)."""

    def __post_init__(self) -> None:
        _positive(self, "hop_frames", "average_window_ms", "min_count", "max_results")
        if isinstance(self.suppression_ms, bool) or not isinstance(self.suppression_ms, int) \
                or self.suppression_ms < 0:
            raise ConfigError(f"suppression_ms={self.suppression_ms!r} must be an int >= 0")
        for name, value in [("threshold", self.threshold), *self.keyword_thresholds.items()]:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
                raise ConfigError(f"threshold {name}={value!r} must be an int in 0..255")
        if self.min_count > self.max_results:
            raise ConfigError(
                f"min_count={self.min_count} exceeds max_results={self.max_results}")


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}={value!r} must be a number")
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name}={value!r} must be a positive finite number")


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build the dataclass ``cls`` from a plain mapping, refusing unknown keys.

    Lists become tuples where the field is a tuple; nested dataclass fields are built
    recursively. ``where`` prefixes field names in error messages (e.g. ``"frontend."``).
    """
    data = dict(data or {})
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key {where}{unknown[0]} (known: {', '.join(fields)})")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            value = from_dict(hint, value, f"{where}{name}.")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}" if where else str(exc)) from None
    except TypeError as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """The plain-data form of a config dataclass (tuples become lists), for YAML and JSON."""
    out = dataclasses.asdict(config)

    def fix(value: Any) -> Any:
        if isinstance(value, tuple):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    return fix(out)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping; a missing or malformed file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"config {path} is not valid YAML: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level")
    return data


def load_section(cls: type[T], path: str | Path, section: str) -> T:
    """Load one top-level section (``frontend``, ``model`` ...) of a YAML file into ``cls``."""
    data = load_yaml(path)
    return from_dict(cls, data.get(section), f"{section}.")

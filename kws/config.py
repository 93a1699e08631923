"""Frozen, keyword-only configuration dataclasses and their YAML loader.

Human units live in the field names (``window_ms``, ``lower_hz``); the fixed-point
tables are derived from these values in one place (``kws.frontend.tables``).
Unknown keys and impossible values raise :class:`kws.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import yaml

from kws import validate as check
from kws.errors import ConfigError
from kws.validate import MAX_SEED as MAX_SEED  # re-exported: the one definition is there

T = TypeVar("T")

MAX_CONFIG_BYTES = 1 << 20
"""Largest config file (YAML or JSON) read: real ones are a few kB, and a parser fed
megabytes of nesting or aliases can take the whole memory or stack."""
MAX_EPOCHS = 1_000_000
"""Most training epochs (a typo guard: real runs have a few hundred)."""


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
        # Integers where tables are sized by them; the upper bounds keep a typo (one zero too
        # many) from building gigabyte tables: audio is at most 192 kHz, clips a minute.
        check.int_in("sample_rate_hz", self.sample_rate_hz, 1000, 192000)
        check.int_in("fft_size", self.fft_size, 2, 65536)
        check.int_in("num_mel", self.num_mel, 1, 512)
        check.int_in("num_coeffs", self.num_coeffs, 1, 512)
        check.positive("window_ms", self.window_ms)
        check.positive("stride_ms", self.stride_ms)
        check.number_in("clip_ms", self.clip_ms, 0.0, 60000.0, open_low=True)
        check.number_in("log_floor", self.log_floor, 0.0, 1.0, open_low=True)
        check.number_in("lower_hz", self.lower_hz, 0.0)
        check.number_in("upper_hz", self.upper_hz, 0.0)
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
            check.numbers(name, value)
            if len(value) != self.num_coeffs:
                raise ConfigError(
                    f"{name} has {len(value)} values, expected num_coeffs={self.num_coeffs}")
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



MAX_RESULTS_LIMIT = 65535
"""Largest detector ring (uint16 indices in C; int32 sums stay below 255 * 65535 < 2**31)."""

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
        # Integers (they size C arrays and count frames); bounds far above any real use.
        check.int_in("hop_frames", self.hop_frames, 1, 1000)
        check.int_in("average_window_ms", self.average_window_ms, 1, 600_000)
        check.int_in("max_results", self.max_results, 1, MAX_RESULTS_LIMIT)
        check.int_in("min_count", self.min_count, 1, MAX_RESULTS_LIMIT)
        if not isinstance(self.keyword_thresholds, dict) or not all(
                isinstance(k, str) for k in self.keyword_thresholds):
            raise ConfigError(f"keyword_thresholds={self.keyword_thresholds!r} must map "
                              "keywords to thresholds")
        check.names("keywords", self.keywords, "keywords")
        check.int_in("suppression_ms", self.suppression_ms, 0)
        for name, value in [("threshold", self.threshold), *self.keyword_thresholds.items()]:
            check.int_in(f"threshold {name}", value, 0, 255)
        if self.min_count > self.max_results:
            raise ConfigError(
                f"min_count={self.min_count} exceeds max_results={self.max_results}")


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build the dataclass ``cls`` from a plain mapping, refusing unknown keys.

    Lists become tuples where the field is a tuple; nested dataclass fields are built
    recursively. ``where`` prefixes field names in error messages (e.g. ``"frontend."``).
    A section that is not a mapping (``train: 5``) is a ConfigError naming it.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where.rstrip('.') or cls.__name__}={_short(data)} must be a "
                          f"mapping, got {type(data).__name__}")
    data = dict(data)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = get_type_hints(cls)
    unknown = sorted((k for k in data if k not in fields), key=str)
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
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def _short(value: Any, limit: int = 60) -> str:
    """repr of a bad value, cut to ``limit`` characters (a message stays one short line)."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


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


class _YamlLoader(yaml.SafeLoader):
    """yaml.SafeLoader with YAML 1.2 booleans: only true and false. YAML 1.1 also reads
    yes, no, on and off as booleans, which are four of the keywords here
    (``keyword_thresholds: {yes: 180}``, ``keywords: [on, off]``)."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_YamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                  re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


def _compose_no_alias(self: yaml.SafeLoader, *args: Any) -> Any:
    if self.check_event(yaml.AliasEvent):
        mark = self.peek_event().start_mark
        raise yaml.YAMLError(f"aliases (*name) are not allowed in a config (line "
                             f"{mark.line + 1})")
    return yaml.composer.Composer.compose_node(self, *args)


# An alias repeats a node without copying it, so a few lines of nested aliases expand to
# billions of values once the config is converted or hashed ("billion laughs").
_YamlLoader.compose_node = _compose_no_alias  # type: ignore[method-assign]


def read_config_text(path: str | Path, kind: str = "config") -> str:
    """The UTF-8 text of a config file (at most MAX_CONFIG_BYTES); ConfigError otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {kind} {path}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{kind} {path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{kind} {path} is not UTF-8 text (byte {exc.start})") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping; a missing or malformed file is a ConfigError.
    Only true and false are booleans (YAML 1.2): yes, no, on and off stay strings; aliases
    are refused, and so are files over MAX_CONFIG_BYTES or not UTF-8."""
    path = Path(path)
    text = read_config_text(path)
    try:
        data = yaml.load(text, Loader=_YamlLoader)  # a SafeLoader: no Python objects
    except yaml.YAMLError as exc:
        first = (str(exc).splitlines() or ["?"])[0]
        raise ConfigError(f"config {path} is not valid YAML: {first}") from None
    except RecursionError:
        raise ConfigError(f"config {path} is nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level, got "
                          f"{type(data).__name__}")
    return data


def load_json(path: str | Path, kind: str = "JSON file") -> dict[str, Any]:
    """Read a JSON object (a run's config.json, a manifest); ConfigError when unreadable,
    not UTF-8, over MAX_CONFIG_BYTES, malformed, nested too deeply or not an object."""
    path = Path(path)
    text = read_config_text(path, kind)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{kind} {path} is corrupt JSON ({exc.msg}, line {exc.lineno})"
                          ) from None
    except RecursionError:
        raise ConfigError(f"{kind} {path} is nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{kind} {path} must hold a JSON object, got {type(data).__name__}")
    return data


def load_section(cls: type[T], path: str | Path, section: str) -> T:
    """Load one top-level section (``frontend``, ``model`` ...) of a YAML file into ``cls``."""
    data = load_yaml(path)
    return from_dict(cls, data.get(section), f"{section}.")


MAX_CHANNELS = 4096
"""Most channels of one convolution (DS-CNN-L has 276; more is a typo that exhausts memory)."""
MAX_KERNEL = 256
"""Largest kernel or stride side (the input is 49 x 10 at the defaults)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class BlockConfig:
    """One depthwise-separable block of the DS-CNN: depthwise conv + BN + ReLU, 1x1 conv + BN +
    ReLU."""

    filters: int = 64
    """Output channels of the 1x1 (pointwise) convolution."""
    kernel: tuple[int, int] = (3, 3)
    """Depthwise kernel (time frames, coefficients)."""
    stride: tuple[int, int] = (1, 1)
    """Depthwise stride (time, coefficients)."""

    def __post_init__(self) -> None:
        check.int_in("filters", self.filters, 1, MAX_CHANNELS)
        check.int_pair("kernel", self.kernel, 1, MAX_KERNEL)
        check.int_pair("stride", self.stride, 1, MAX_KERNEL)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The DS-CNN topology (defaults: DS-CNN-S, the MLPerf Tiny keyword-spotting model).

    Input: the front end's int8 codes as float values (-128..127), shape (frames, coeffs, 1).
    """

    name: str = "ds_cnn_s"
    """Model name, written into the .tflite metadata and the manifest."""
    stem_filters: int = 64
    """Output channels of the first (full) convolution."""
    stem_kernel: tuple[int, int] = (10, 4)
    """Kernel of the first convolution (time frames, coefficients)."""
    stem_stride: tuple[int, int] = (2, 2)
    """Stride of the first convolution (time, coefficients)."""
    blocks: tuple[BlockConfig, ...] = (BlockConfig(),) * 4
    """The depthwise-separable blocks, in order (a list of mappings in YAML)."""
    stem_dropout: float = 0.2
    """Dropout rate after the first convolution (training only)."""
    head_dropout: float = 0.4
    """Dropout rate before the average pooling (training only)."""
    l2: float = 1e-4
    """L2 penalty on the convolution and dense kernels (MLPerf uses 1e-4)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ConfigError(f"model name={self.name!r} must be an identifier")
        check.int_in("stem_filters", self.stem_filters, 1, MAX_CHANNELS)
        check.int_pair("stem_kernel", self.stem_kernel, 1, MAX_KERNEL)
        check.int_pair("stem_stride", self.stem_stride, 1, MAX_KERNEL)
        if not isinstance(self.blocks, tuple):
            raise ConfigError(f"blocks={self.blocks!r} must be a list of blocks")
        blocks = []
        for i, block in enumerate(self.blocks):
            if not isinstance(block, (BlockConfig, dict)):
                raise ConfigError(f"blocks[{i}]={block!r} must be a mapping")
            try:
                blocks.append(block if isinstance(block, BlockConfig)
                              else from_dict(BlockConfig, block))
            except ConfigError as exc:
                raise ConfigError(f"blocks[{i}]: {exc}") from None
        if not blocks:
            raise ConfigError("blocks is empty: the DS-CNN needs at least one block")
        if len(blocks) > 64:
            raise ConfigError(f"blocks has {len(blocks)} blocks, at most 64")
        object.__setattr__(self, "blocks", tuple(blocks))
        check.number_in("stem_dropout", self.stem_dropout, 0.0, 1.0, open_high=True)
        check.number_in("head_dropout", self.head_dropout, 0.0, 1.0, open_high=True)
        check.number_in("l2", self.l2, 0.0, 1.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Training of the DS-CNN: schedule, regularization and the seeded randomness."""

    epochs: int = 200
    """Number of passes over the (freshly augmented) training set."""
    batch_size: int = 64
    """Clips per optimizer step."""
    learning_rate: float = 2e-3
    """Peak learning rate (Adam), reached after the warm-up."""
    min_learning_rate: float = 2e-5
    """Learning rate at the end of the schedule."""
    warmup_epochs: int = 3
    """Epochs of linear warm-up from min_learning_rate to learning_rate."""
    schedule: str = "cosine"
    """Decay after the warm-up: 'cosine' (to min_learning_rate) or 'constant'."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing (0 = off)."""
    weight_averaging: float = 0.0
    """Momentum of an exponential moving average of the weights, updated after each epoch
    (0 = off; 0.9 averages roughly the last 10 epochs); validation and the kept model use
    the average."""
    teachers: tuple[str, ...] = ()
    """Run folders whose float models (model.keras, averaged) teach, or int8 kws models
    (``.tflite``, e.g. kws/assets/default_model.tflite: their dequantized scores):
    knowledge distillation."""
    distill_weight: float = 0.0
    """Share of the teachers' probabilities in the training target (0 = labels only)."""
    early_stopping_patience: int = 0
    """Stop after this many epochs without a better validation accuracy (0 = never stop)."""
    train_splits: tuple[str, ...] = ("train",)
    """Splits trained on: ("train",) or ("train", "validation"); never "test"."""
    keep: str = "best"
    """Weights kept: "best" (best validation accuracy) or "last" (the last epoch's; required
    when training on validation, whose accuracy then is no held-out measure)."""
    seed: int = 0
    """Seed of every random choice (initial weights, augmentation, order, dropout)."""

    def __post_init__(self) -> None:
        check.int_in("epochs", self.epochs, 1, MAX_EPOCHS)
        check.int_in("batch_size", self.batch_size, 1, 65536)
        check.int_in("warmup_epochs", self.warmup_epochs, 0)
        check.int_in("early_stopping_patience", self.early_stopping_patience, 0)
        check.seed("seed", self.seed)
        check.number_in("learning_rate", self.learning_rate, 0.0, 10.0, open_low=True)
        check.number_in("min_learning_rate", self.min_learning_rate, 0.0, 10.0, open_low=True)
        check.number_in("label_smoothing", self.label_smoothing, 0.0, 1.0, open_high=True)
        check.number_in("weight_averaging", self.weight_averaging, 0.0, 1.0, open_high=True)
        check.number_in("distill_weight", self.distill_weight, 0.0, 1.0)
        check.names("teachers", self.teachers)
        check.names("train_splits", self.train_splits)
        check.one_of("schedule", self.schedule, ("cosine", "constant"))
        check.one_of("keep", self.keep, ("best", "last"))
        if self.min_learning_rate > self.learning_rate:
            raise ConfigError(f"min_learning_rate={self.min_learning_rate} exceeds "
                              f"learning_rate={self.learning_rate}")
        if self.warmup_epochs >= self.epochs:
            raise ConfigError(
                f"warmup_epochs={self.warmup_epochs} must be below epochs={self.epochs}")
        if bool(self.teachers) != (self.distill_weight > 0):
            raise ConfigError(f"teachers={list(self.teachers)} and distill_weight="
                              f"{self.distill_weight} go together (both set or neither)")
        if self.train_splits not in (("train",), ("train", "validation")):
            raise ConfigError(f"train_splits={list(self.train_splits)} must be [train] or "
                              "[train, validation]")
        if "validation" in self.train_splits and (self.keep == "best"
                                                  or self.early_stopping_patience):
            raise ConfigError("training on validation needs keep: last and "
                              "early_stopping_patience: 0 (validation is no held-out set)")


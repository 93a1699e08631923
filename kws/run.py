"""A training run folder: its configs, its data and its float model (read by every later stage).

    configs/ds_cnn_*.yaml (+ --epochs, --seed, --warmup-epochs) -> RunConfig
      -> runs/NAME/config.json (the resolved configs and the data hash)
      -> runs/NAME/model.keras (the float model training kept)

kws.train writes a run folder; kws.quantize, kws.evaluate and the tools read it through
this module, so none of them imports the training code. TensorFlow is imported only when a
float model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kws.config import (
    FrontendConfig,
    ModelConfig,
    TrainConfig,
    from_dict,
    load_json,
    load_yaml,
    to_dict,
)
from kws.data import DataConfig
from kws.data.training import ClipSet, SpeechCommandsData
from kws.errors import ConfigError, ModelError

CONFIG_NAME = "config.json"
"""The resolved configs of a run (and its data fingerprint), in the run folder."""
FLOAT_MODEL_NAME = "model.keras"
"""The float model a run kept ("best" or "last" weights), in the run folder."""
SECTIONS = ("frontend", "model", "train", "data")
"""Top-level sections of a run config (YAML and config.json)."""


# --------------------------------------------------------------------------------------------
# The data interface training and its measurements need (implemented by kws.data)
# --------------------------------------------------------------------------------------------

class TrainingData(Protocol):
    """What training needs from a dataset (kws.data.SpeechCommandsData is one).

    ``clips(split)`` -> ClipSet of clean clips of "train" or "validation" (training never
    asks for "test"); ``epoch_examples(splits, seed, epoch)`` -> ClipSet, the augmented
    examples of one epoch over those splits' clips (int16 (n, samples), labels (n,)), a pure
    function of its arguments; ``fingerprint`` -> a short hash of everything the data
    depends on (files, splits, augmentation settings). Evaluation also uses
    ``word_clip_mask(split)`` -> bool (n,), False for _silence_ clips cut from noise.
    """

    def clips(self, split: str) -> ClipSet: ...

    def word_clip_mask(self, split: str) -> np.ndarray: ...

    def epoch_examples(self, splits: tuple[str, ...], seed: int, epoch: int) -> ClipSet: ...

    @property
    def fingerprint(self) -> str: ...


@runtime_checkable
class SplitFeatures(Protocol):
    """Data that serves the clean features of a whole split itself, e.g. from a cache
    (kws.data.SpeechCommandsData.features: int8 (N, frames, coeffs) in ``clips(split)``
    order, equal to ``mfcc_batch(clips(split).audio, frontend)``)."""

    def features(self, split: str, frontend: FrontendConfig) -> np.ndarray: ...


def split_features(data: TrainingData, split: str, frontend: FrontendConfig) -> np.ndarray:
    """Clean int8 features (N, frames, coeffs) of ``data.clips(split)``, in the same order.

    The one way training (validation), kws.quantize and kws.evaluate get them: from
    ``data.features`` when the data has it (:class:`SplitFeatures`, the feature cache of
    kws.data), else computed by the front end from the clips.
    """
    if isinstance(data, SplitFeatures):
        return data.features(split, frontend)
    from kws.frontend import mfcc_batch

    return mfcc_batch(data.clips(split).audio, frontend)


def make_training_data(data_dir: str | Path, config: RunConfig,
                       feature_cache: str | Path | None = None) -> SpeechCommandsData:
    """The dataset of ``data_dir`` with the run's data settings (kws.data); its clean split
    features go through the feature cache in ``feature_cache`` (default: kws prepare's,
    kws.data.default_cache_dir())."""
    return SpeechCommandsData(data_dir, config.data, feature_cache)


# --------------------------------------------------------------------------------------------
# Configs of a run
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunConfig:
    """Everything a training run is built from (one YAML file: frontend, model, train, data)."""

    frontend: FrontendConfig
    model: ModelConfig
    train: TrainConfig
    data: DataConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the ``config.json`` of a run)."""
        return {"frontend": to_dict(self.frontend), "model": to_dict(self.model),
                "train": to_dict(self.train), "data": to_dict(self.data)}


def load_run_config(path: str | Path, epochs: int | None = None, seed: int | None = None,
                    warmup_epochs: int | None = None,
                    note: Callable[[str], None] | None = None) -> RunConfig:
    """Read configs/ds_cnn_*.yaml; ``epochs`` / ``seed`` / ``warmup_epochs`` override the
    train section.

    When ``epochs`` leaves no room for the config's warm-up (``warmup_epochs >= epochs``) and
    ``warmup_epochs`` is not given, the warm-up is shortened to ``epochs - 1`` epochs and
    ``note`` (if given) is told so. A ``warmup_epochs`` given here, or a YAML whose own
    epochs leave no room for its warm-up, stays a ConfigError.
    """
    raw = load_yaml(path)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section {unknown[0]!r} "
                          f"(known: {', '.join(SECTIONS)})")
    for section in SECTIONS:
        value = raw.get(section)
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"{path}: section {section}={value!r:.60} must be a mapping, got "
                              f"{type(value).__name__}")
    train_raw = dict(raw.get("train") or {})
    if seed is not None:
        train_raw["seed"] = seed
    if warmup_epochs is not None:
        train_raw["warmup_epochs"] = warmup_epochs
    if epochs is not None:
        train_raw["epochs"] = epochs
        warmup = train_raw.get("warmup_epochs", TrainConfig().warmup_epochs)
        if warmup_epochs is None and _is_int(epochs) and _is_int(warmup) \
                and 1 <= epochs <= warmup:
            train_raw["warmup_epochs"] = epochs - 1
            if note is not None:
                note(f"note: warmup_epochs {warmup} -> {epochs - 1}: --epochs {epochs} leaves "
                     f"no room for a {warmup}-epoch warm-up (set --warmup-epochs to choose)")
    return RunConfig(
        frontend=from_dict(FrontendConfig, raw.get("frontend"), "frontend."),
        model=from_dict(ModelConfig, raw.get("model"), "model."),
        train=from_dict(TrainConfig, train_raw, "train."),
        data=from_dict(DataConfig, raw.get("data"), "data."),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def run_config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Inverse of RunConfig.to_dict (reads a run's config.json)."""
    return RunConfig(
        frontend=from_dict(FrontendConfig, data.get("frontend"), "frontend."),
        model=from_dict(ModelConfig, data.get("model"), "model."),
        train=from_dict(TrainConfig, data.get("train"), "train."),
        data=from_dict(DataConfig, data.get("data"), "data."),
    )


def load_run(run_dir: str | Path) -> tuple[RunConfig, dict[str, Any]]:
    """The RunConfig and the raw config.json (with ``data_fingerprint``) of a run folder;
    ConfigError when the folder has no readable, valid config.json."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a training run folder (no file {path.name})")
    raw = load_json(path, "run config")
    try:
        return run_config_from_dict(raw), raw
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------------------------
# The float model of a run
# --------------------------------------------------------------------------------------------

def load_float_model(path: str | Path) -> Any:
    """Load a float Keras model written by kws.train (a run's model.keras; needs TensorFlow);
    ModelError when the file cannot be loaded."""
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot load the float model ({exc})") from None

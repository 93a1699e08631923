"""A backbone for a wake word: the body of a keyword model trained on real speech.

Synthetic voices are few and alike; Speech Commands has thousands of real speakers (the
mini corpus 139). A wake-word model whose stem and first blocks come from a ``kws train``
run on real speech starts from features that already ignore who speaks, and only its last
blocks and its classifier learn the phrase from the synthetic takes (openWakeWord's frozen
speech embedding, done here with our own DS-CNN body so that the result stays one small
int8 model for the board).

    backbone run (kws train: config.json + model.keras, 12 outputs)
      -> its model section replaces the wake-word recipe's (same body, len(labels) outputs)
      -> stem and blocks copied layer by layer (same names, same shapes)
      -> stem and the first blocks frozen (batch norm too); the last
         ``backbone_trainable_blocks`` blocks and the classifier train

The front end must be the backbone's (every field but ``clip_ms``: the body is convolutional
and pools over the whole map, so a longer window only widens the map). For a fair test of
a word, the backbone must not have heard it: ``data.exclude_words`` of its config leaves the
word's folder out (benchmarks/bench_wakeword.py trains one without "stop").
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from kws.config import FrontendConfig, ModelConfig, to_dict
from kws.errors import ConfigError
from kws.run import FLOAT_MODEL_NAME, RunConfig, load_run


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A ``kws train`` run folder used as a wake word's backbone."""

    run: Path
    model: ModelConfig
    frontend: FrontendConfig
    excluded_words: tuple[str, ...]
    """Word folders its training never saw (its ``data.exclude_words``)."""
    train_splits: tuple[str, ...]
    sha256: str
    """sha256 of its model.keras (recorded in the wake word's config and manifest)."""

    def record(self) -> dict[str, Any]:
        """What the wake word's config.json and manifest say about the backbone."""
        return {"run": str(self.run), "model_sha256": self.sha256, "model": self.model.name,
                "excluded_words": list(self.excluded_words),
                "train_splits": list(self.train_splits)}


def load_backbone(run_dir: str | Path) -> Backbone:
    """The backbone in ``run_dir`` (config.json and model.keras of ``kws train``);
    ConfigError names what is missing."""
    run = Path(run_dir)
    config, _ = load_run(run)
    path = run / FLOAT_MODEL_NAME
    if not path.is_file():
        raise ConfigError(f"backbone {run}: no {FLOAT_MODEL_NAME} (an unfinished run?)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Backbone(run, config.model, config.frontend, config.data.exclude_words,
                    config.train.train_splits, digest)


def adopt_backbone(config: RunConfig, backbone: Backbone) -> RunConfig:
    """``config`` with the backbone's model section (its name prefixed ``wakeword_``);
    ConfigError when the front ends differ in anything but ``clip_ms``."""
    mine = {k: v for k, v in to_dict(config.frontend).items() if k != "clip_ms"}
    theirs = {k: v for k, v in to_dict(backbone.frontend).items() if k != "clip_ms"}
    differ = sorted(k for k in mine if mine[k] != theirs.get(k))
    if differ:
        raise ConfigError(f"backbone {backbone.run}: its front end differs in {differ[0]} "
                          f"({theirs.get(differ[0])!r} against the recipe's "
                          f"{mine[differ[0]]!r}); the body only fits its own features")
    model = dataclasses.replace(backbone.model, name=f"wakeword_{backbone.model.name}")
    return dataclasses.replace(config, model=model)


def body_stages(model: Any) -> list[list[Any]]:
    """The layers with weights of the stem (stage 0) and of each block (stage i), in order."""
    stages: list[list[Any]] = []
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name.startswith("stem_"):
            stage = 0
        elif layer.name.startswith("block"):
            stage = int(layer.name[len("block"):].split("_", 1)[0])
        else:
            continue                                   # the classifier
        while len(stages) <= stage:
            stages.append([])
        stages[stage].append(layer)
    return stages


def load_body(model: Any, source: Any, trainable_blocks: int) -> int:
    """Copy the stem and blocks of ``source`` (the backbone's Keras model) into ``model``
    and freeze all but the last ``trainable_blocks`` blocks; the classifier stays as built.

    Call before ``model.compile``. Returns the number of layers copied; ConfigError when a
    layer is missing or has other shapes.
    """
    theirs = {layer.name: layer for layer in source.layers}
    stages = body_stages(model)
    copied = 0
    for stage in stages:
        for layer in stage:
            other = theirs.get(layer.name)
            shapes = [tuple(w.shape) for w in layer.get_weights()]
            if other is None or [tuple(w.shape) for w in other.get_weights()] != shapes:
                raise ConfigError(f"backbone: layer {layer.name} is missing or has other "
                                  "shapes (is it the same body?)")
            layer.set_weights(other.get_weights())
            copied += 1
    frozen = max(0, len(stages) - trainable_blocks)
    for stage in stages[:frozen]:
        for layer in stage:
            layer.trainable = False
    return copied

"""A wake word that starts from a backbone trained on real speech (kws.wakeword.backbone),
and ``data.exclude_words``, which keeps the tested word out of that backbone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from kws.config import FrontendConfig, ModelConfig, from_dict, load_yaml
from kws.data.config import DataConfig
from kws.data.index import index_dataset
from kws.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "wakeword_tiny.yaml"


def test_exclude_words_leaves_the_word_out_of_every_split(mini_dir: Path) -> None:
    full = index_dataset(mini_dir, DataConfig())
    without = index_dataset(mini_dir, DataConfig(exclude_words=("stop",)))
    for split in ("train", "validation", "test"):
        had = [c for c in full.split(split) if c.path.parent.name == "stop"]
        assert had, split
        assert not [c for c in without.split(split) if c.path.parent.name == "stop"]
        others = {c.path for c in full.split(split) if c.path.parent.name not in
                  ("stop", "_background_noise_")}
        assert others <= {c.path for c in without.split(split)}
    with pytest.raises(DataError, match="no word folder 'stpo'"):
        index_dataset(mini_dir, DataConfig(exclude_words=("stpo",)))


def _fake_backbone(folder: Path, seed: int = 3) -> Path:
    """A backbone run folder: the tiny recipe's body with 12 outputs, seeded weights."""
    import keras

    from kws.config import TrainConfig
    from kws.model import build_model
    from kws.run import RunConfig

    raw = load_yaml(TINY)
    model_cfg = from_dict(ModelConfig, raw["model"], "model.")
    config = RunConfig(frontend=FrontendConfig(), model=model_cfg, train=TrainConfig(),
                       data=DataConfig(exclude_words=("stop",)))
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    keras.utils.set_random_seed(seed)
    build_model(model_cfg).save(folder / "model.keras")
    return folder


def test_backbone_refusals(tmp_path: Path) -> None:
    from kws.config import TrainConfig
    from kws.run import RunConfig
    from kws.wakeword.backbone import adopt_backbone, load_backbone

    with pytest.raises(ConfigError, match="not a training run folder"):
        load_backbone(tmp_path)
    bb = _fake_backbone(tmp_path / "bb")
    (bb / "model.keras").rename(bb / "other.keras")
    with pytest.raises(ConfigError, match="no model.keras"):
        load_backbone(bb)
    (bb / "other.keras").rename(bb / "model.keras")
    backbone = load_backbone(bb)
    assert backbone.excluded_words == ("stop",)
    raw = load_yaml(TINY)
    config = RunConfig(frontend=FrontendConfig(lower_hz=40.0),
                       model=from_dict(ModelConfig, raw["model"], "model."),
                       train=TrainConfig(), data=DataConfig())
    with pytest.raises(ConfigError, match="front end differs in lower_hz"):
        adopt_backbone(config, backbone)
    longer = dataclasses.replace(config, frontend=FrontendConfig(clip_ms=1500.0))
    assert adopt_backbone(longer, backbone).model.name == "wakeword_wakeword_tiny"


def test_wakeword_from_a_backbone_keeps_its_frozen_body(tmp_path: Path,
                                                        mini_dir: Path) -> None:
    import keras

    from kws.wakeword.backbone import body_stages
    from kws.wakeword.build import build_wakeword

    bb = _fake_backbone(tmp_path / "bb")
    lines: list[str] = []
    result = build_wakeword("stop", tmp_path / "ww", TINY, data_dir=mini_dir,
                            progress=False, log=lines.append,
                            spec_overrides={"backbone": str(bb),
                                            "backbone_trainable_blocks": 0})
    assert any(line.startswith("backbone:") and "may have heard" not in line
               for line in lines)
    assert any("layers from the backbone" in line for line in lines)
    source = keras.models.load_model(bb / "model.keras", compile=False)
    trained = keras.models.load_model(result.out / "model.keras", compile=False)
    theirs = {layer.name: layer for layer in source.layers}
    stages = body_stages(trained)
    assert len(stages) == 2                                # stem + the tiny recipe's block
    for stage in stages:                                   # all frozen: weights unchanged
        for layer in stage:
            for mine, orig in zip(layer.get_weights(), theirs[layer.name].get_weights(),
                                  strict=True):
                np.testing.assert_array_equal(mine, orig)
    head = trained.get_layer("classifier").get_weights()[0]
    assert head.shape[-1] == 3 and source.get_layer("classifier").get_weights()[0].shape[-1] \
        == 12
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["backbone"]["excluded_words"] == ["stop"]
    import hashlib
    assert manifest["backbone"]["model_sha256"] == hashlib.sha256(
        (bb / "model.keras").read_bytes()).hexdigest()
    assert json.loads((result.out / "config.json").read_text())["backbone"]["run"] == str(bb)


def test_trainable_blocks_train_the_last_block(tmp_path: Path) -> None:
    import keras

    from kws.model import build_model
    from kws.wakeword.backbone import body_stages, load_body

    raw = load_yaml(TINY)
    cfg = from_dict(ModelConfig, raw["model"], "model.")
    cfg = dataclasses.replace(cfg, blocks=cfg.blocks * 2)
    keras.utils.set_random_seed(1)
    source = build_model(cfg)
    model = build_model(cfg, num_classes=3)
    assert load_body(model, source, trainable_blocks=1) == 10   # 2 stem + 2 x 4 block layers
    stages = body_stages(model)
    assert [all(not layer.trainable for layer in s) for s in stages] == [True, True, False]
    wrong = build_model(dataclasses.replace(cfg, stem_filters=4), num_classes=3)
    with pytest.raises(ConfigError, match="stem_conv is missing or has other shapes"):
        load_body(wrong, source, 1)


def test_a_killed_run_is_refused_with_what_to_remove(tmp_path: Path) -> None:
    from kws.wakeword.build import build_wakeword

    (tmp_path / "ww").mkdir()
    (tmp_path / "ww" / "checkpoint.npz").write_bytes(b"")
    with pytest.raises(ConfigError, match="remove its checkpoint.npz"):
        build_wakeword("stop", tmp_path / "ww", TINY, progress=False)

"""kws.validate: the one set of config validators, and the error family around them."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from kws import validate as check
from kws.config import MAX_SEED, DetectorConfig, ModelConfig, TrainConfig, from_dict
from kws.data.config import MAX_SEED as DATA_MAX_SEED
from kws.data.config import DataConfig
from kws.errors import ArgumentError, AudioError, ConfigError, KwsError
from kws.mining import MiningSpec
from kws.tuning import TuningSpec


@pytest.mark.parametrize("call, message", [
    (lambda: check.number_in("x", "1"), "x='1' must be a number"),
    (lambda: check.number_in("x", True), "x=True must be a number"),
    (lambda: check.number_in("x", math.nan, 0, 1), "x=nan must be a finite number in [0, 1]"),
    (lambda: check.number_in("x", 1.0, 0, 1, open_high=True),
     "x=1.0 must be a finite number in [0, 1)"),
    (lambda: check.number_in("x", 0, 0, 5, open_low=True),
     "x=0 must be a finite number in (0, 5]"),
    (lambda: check.positive("x", 0.0), "x=0.0 must be a positive finite number"),
    (lambda: check.positive("x", math.inf), "x=inf must be a positive finite number"),
    (lambda: check.int_in("x", 2.0, 0, 5), "x=2.0 must be an int in [0, 5]"),
    (lambda: check.int_in("x", -1, 0), "x=-1 must be an int >= 0"),
    (lambda: check.int_in("x", False, 0), "x=False must be an int >= 0"),
    (lambda: check.seed("seed", MAX_SEED + 1), f"seed={MAX_SEED + 1} must be at most {MAX_SEED}"),
    (lambda: check.int_pair("k", (3, 0), 1, 9), "k=(3, 0) must be two ints in [1, 9]"),
    (lambda: check.range_in("r", (2, 1), 0, 5), "r=[2, 1] must satisfy 0 <= min <= max <= 5"),
    (lambda: check.range_in("r", (1,), 0, 5), "r=(1,) must be two numbers [min, max]"),
    (lambda: check.numbers("v", (1, "a")), "v=(1, 'a') must be a list of numbers"),
    (lambda: check.numbers("v", (1, math.inf)), "v=(1, inf) has a non-finite value"),
    (lambda: check.numbers("v", (), empty=False), "v is empty"),
    (lambda: check.names("n", ("a", "")), "n=('a', '') must be a list of names"),
    (lambda: check.names("n", "ab", "file paths"), "n='ab' must be a list of file paths"),
    (lambda: check.one_of("s", "x", ("a", "b", "c")), "s='x' must be 'a', 'b' or 'c'"),
    (lambda: check.one_of("s", 3, ("a",)), "s=3 must be 'a'"),
])
def test_each_validator_names_the_value(call, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        call()


def test_validators_accept_their_bounds() -> None:
    check.number_in("x", 0, 0, 1)
    check.number_in("x", 1.0, 0, 1)
    check.int_in("x", 5, 0, 5)
    check.seed("seed", MAX_SEED)
    check.range_in("r", (1, 1), 0, 5)
    check.numbers("v", ())
    check.one_of("s", "b", ("a", "b"))


def test_one_max_seed() -> None:
    assert MAX_SEED == DATA_MAX_SEED == check.MAX_SEED == 2**32 - 1


@pytest.mark.parametrize("cls, values, message", [
    (TrainConfig, {"epochs": 2.5}, "train.epochs=2.5 must be an int in [1, 1000000]"),
    (TrainConfig, {"warmup_epochs": True}, "train.warmup_epochs=True must be an int >= 0"),
    (TrainConfig, {"early_stopping_patience": -2}, "train.early_stopping_patience=-2"),
    (TrainConfig, {"seed": -1}, "train.seed=-1 must be an int >= 0"),
    (TrainConfig, {"learning_rate": 0}, "train.learning_rate=0 must be a finite number"),
    (TrainConfig, {"label_smoothing": 1.0}, "train.label_smoothing=1.0 must be a finite"),
    (TrainConfig, {"weight_averaging": "x"}, "train.weight_averaging='x' must be a number"),
    (TrainConfig, {"distill_weight": 2}, "train.distill_weight=2 must be a finite number"),
    (TrainConfig, {"schedule": "step"}, "train.schedule='step' must be 'cosine' or 'constant'"),
    (TrainConfig, {"keep": 1}, "train.keep=1 must be 'best' or 'last'"),
    (TrainConfig, {"teachers": "run_a"}, "train.teachers='run_a' must be a list of names"),
    (ModelConfig, {"head_dropout": 1.0}, "model.head_dropout=1.0 must be a finite number"),
    (ModelConfig, {"stem_filters": 0}, "model.stem_filters=0 must be an int in [1, 4096]"),
    (DetectorConfig, {"suppression_ms": -1}, "detector.suppression_ms=-1 must be an int >= 0"),
    (DetectorConfig, {"threshold": 256}, "detector.threshold threshold=256 must be an int"),
    (DetectorConfig, {"keyword_thresholds": {"yes": -1}}, "detector.threshold yes=-1"),
    (DataConfig, {"seed": 2**40}, f"data.seed={2**40} must be at most {MAX_SEED}"),
    (DataConfig, {"extra_clips": [""]}, "data.extra_clips=('',) must be a list of file paths"),
    (DataConfig, {"time_masks": 1.5}, "data.time_masks=1.5 must be an int in [0, 1000]"),
])
def test_config_dataclasses_use_the_validators(cls: type, values: dict, message: str) -> None:
    section = {TrainConfig: "train.", ModelConfig: "model.", DetectorConfig: "detector.",
               DataConfig: "data."}[cls]
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        from_dict(cls, values, section)


@pytest.mark.parametrize("make, field", [
    (lambda: TuningSpec(fa_per_hour="1"), "fa_per_hour='1' must be a number"),
    (lambda: TuningSpec(snrs_db=()), "snrs_db is empty"),
    (lambda: TuningSpec(snrs_db=(10.0, math.nan)), "snrs_db=(10.0, nan) has a non-finite"),
    (lambda: TuningSpec(minutes=0), "minutes=0 must be a finite number in (0.0, 600.0]"),
    (lambda: TuningSpec(bound_minutes=-1), "bound_minutes=-1"),
    (lambda: TuningSpec(seed=-3), "seed=-3 must be an int >= 0"),
    (lambda: MiningSpec(minutes=601), "minutes=601 must be a finite number in (0.0, 600.0]"),
    (lambda: MiningSpec(threshold_margin=2.5), "threshold_margin=2.5 must be an int in"),
    (lambda: MiningSpec(snrs_db=("10",)), "snrs_db=('10',) must be a list of numbers"),
])
def test_tuning_and_mining_specs_use_the_validators(make, field: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(field)):
        make()


def test_the_shipped_configs_still_load() -> None:
    from pathlib import Path

    from kws.run import load_run_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    for path in sorted(configs.glob("ds_cnn_*.yaml")) + [configs / "default_model.yaml"]:
        load_run_config(path)
    TuningSpec()
    MiningSpec()


def test_the_front_end_raises_kws_errors_for_bad_input() -> None:
    from kws.frontend import mfcc, mfcc_batch

    with pytest.raises(ArgumentError, match="backend='gpu'") as info:
        mfcc_batch(np.zeros((1, 16000), np.int16), backend="gpu")
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    with pytest.raises(AudioError, match="int16"):
        mfcc_batch(np.zeros((1, 16000), np.float32))
    with pytest.raises(AudioError, match="1-D"):
        mfcc(np.zeros((2, 16000), np.int16))
    assert issubclass(ArgumentError, KwsError)

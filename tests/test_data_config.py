"""kws.data.DataConfig: configs/data.yaml loads; every bad value is a one-line ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from kws.config import from_dict, load_section, to_dict
from kws.data import DataConfig
from kws.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_yaml_is_the_defaults() -> None:
    assert load_section(DataConfig, REPO / "configs" / "data.yaml", "data") == DataConfig()


def test_round_trip_through_plain_data() -> None:
    config = DataConfig(unknown_share=0.1, gain_db_range=(-3.0, 1.5), seed=7,
                        noise_snr_db_range=(0.0, 20.0), shift_late_ms=300.0)
    assert from_dict(DataConfig, to_dict(config)) == config


def test_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        DataConfig(10.0)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        DataConfig().seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(("values", "message"), [
    ({"silence_shares": 0.1}, "unknown config key data.silence_shares"),
    ({"silence_share": 1.5}, "silence_share=1.5 must be a finite number in"),
    ({"silence_share": "10%"}, "silence_share='10%' must be a number"),
    ({"unknown_share": -0.1}, "unknown_share=-0.1 must be"),
    ({"noise_probability": True}, "noise_probability=True must be a number"),
    ({"validation_percent": 60, "testing_percent": 40}, "leaves no training data"),
    ({"noise_volume_range": [0.2, 0.1]}, "noise_volume_range=\\[0.2, 0.1\\] must satisfy"),
    ({"noise_volume_range": [0.1]}, "noise_volume_range=\\(0.1,\\) must be two numbers"),
    ({"noise_snr_db_range": [20, 0]}, "noise_snr_db_range=\\[20, 0\\] must satisfy"),
    ({"noise_snr_db_range": [-30, 0]}, "noise_snr_db_range=\\[-30, 0\\] must satisfy -20.0"),
    ({"noise_snr_db_range": 10}, "noise_snr_db_range=10 must be two numbers"),
    ({"gain_db_range": [-50, 0]}, "gain_db_range=\\[-50, 0\\] must satisfy -40.0 <= min"),
    ({"silence_volume_range": [0, 2]}, "silence_volume_range"),
    ({"shift_ms": float("nan")}, "shift_ms=nan must be a finite number"),
    ({"shift_late_ms": 1500}, "shift_late_ms=1500 must be a finite number in"),
    ({"seed": -1}, "seed=-1 must be an int >= 0"),
    ({"seed": 1.5}, "seed=1.5 must be an int >= 0"),
])
def test_bad_values_name_the_field(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(DataConfig, values, "data.")

from pathlib import Path

import pytest

from kws.config import (
    DetectorConfig,
    FrontendConfig,
    from_dict,
    load_section,
    load_yaml,
    to_dict,
)
from kws.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_give_the_mlperf_geometry() -> None:
    c = FrontendConfig()
    assert (c.window_samples, c.stride_samples, c.clip_samples) == (480, 320, 16000)
    assert c.frames_per_clip == 49
    assert c.num_frames(479) == 0 and c.num_frames(480) == 1 and c.num_frames(800) == 2


def test_yaml_round_trip() -> None:
    c = load_section(FrontendConfig, REPO / "configs" / "frontend.yaml", "frontend")
    assert c == FrontendConfig()
    assert from_dict(FrontendConfig, to_dict(c)) == c


@pytest.mark.parametrize("bad, field", [
    ({"stride_ms": 40.0}, "stride_ms"),
    ({"upper_hz": 9000.0}, "upper_hz"),
    ({"window_ms": 40.0}, "window_ms"),          # 640 samples > fft_size 512
    ({"fft_size": 500}, "fft_size"),
    ({"lower_hz": 5000.0, "upper_hz": 4000.0}, "lower_hz"),
    ({"num_coeffs": 41}, "num_coeffs"),
    ({"output_gain": [1.0, 2.0]}, "output_gain"),
    ({"sample_rate_hz": -16000}, "sample_rate_hz"),
    ({"log_floor": 0.0}, "log_floor"),
    ({"window_ms": "thirty"}, "window_ms"),
    ({"windw_ms": 30.0}, "windw_ms"),             # unknown key
])
def test_impossible_values_name_the_field(bad: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        from_dict(FrontendConfig, bad, "frontend.")


def test_unknown_key_in_yaml_file(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("frontend:\n  window_ms: 30\n  colour: blue\n")
    with pytest.raises(ConfigError, match=r"frontend\.colour"):
        load_section(FrontendConfig, p, "frontend")


def test_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("frontend: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_section(FrontendConfig, p, "frontend")
    with pytest.raises(ConfigError, match="cannot read"):
        load_section(FrontendConfig, tmp_path / "none.yaml", "frontend")


def test_keywords_named_yes_no_on_off_stay_strings_in_yaml(tmp_path: Path) -> None:
    """YAML 1.1 reads yes/no/on/off as booleans; the configs use YAML 1.2's true/false only."""
    p = tmp_path / "d.yaml"
    p.write_text("detector:\n  keyword_thresholds: {yes: 180, no: 190, on: 170, off: 200}\n"
                 "  keywords: [yes, on, off]\n")
    config = load_section(DetectorConfig, p, "detector")
    assert config.keyword_thresholds == {"yes": 180, "no": 190, "on": 170, "off": 200}
    assert config.keywords == ("yes", "on", "off")
    p.write_text("flags: [true, False, TRUE, yes, 'no']\n")
    assert load_yaml(p) == {"flags": [True, False, True, "yes", "no"]}


def test_detector_config_checks() -> None:
    assert DetectorConfig().threshold == 200
    with pytest.raises(ConfigError, match="threshold"):
        DetectorConfig(threshold=300)
    with pytest.raises(ConfigError, match="yes"):
        DetectorConfig(keyword_thresholds={"yes": -1})
    with pytest.raises(ConfigError, match="min_count"):
        DetectorConfig(min_count=100, max_results=10)

import re
from pathlib import Path

import pytest

from kws.config import (
    MAX_CONFIG_BYTES,
    DetectorConfig,
    FrontendConfig,
    from_dict,
    load_json,
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


@pytest.mark.parametrize("section", [5, [1, 2], "text", 1.5, True])
def test_a_section_that_is_not_a_mapping_names_itself(section) -> None:
    with pytest.raises(ConfigError, match=r"^frontend=.* must be a mapping, got "):
        from_dict(FrontendConfig, section, "frontend.")


def test_non_string_keys_are_unknown_keys_not_a_crash() -> None:
    with pytest.raises(ConfigError, match="unknown config key 1"):
        from_dict(FrontendConfig, {1: 2, "window_ms": 30.0})


@pytest.mark.parametrize("bad, field", [
    ({"hop_frames": 2.5}, "hop_frames=2.5"),
    ({"max_results": 10**9}, "max_results=1000000000"),
    ({"average_window_ms": 1e300}, "average_window_ms=1e+300"),
    ({"keyword_thresholds": [1, 2]}, "keyword_thresholds=(1, 2)"),
    ({"keywords": (1,)}, "keywords=(1,)"),
])
def test_detector_numbers_out_of_range(bad: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        from_dict(DetectorConfig, bad)


@pytest.mark.parametrize("bad, field", [
    ({"fft_size": 2**40}, "fft_size=1099511627776"),
    ({"sample_rate_hz": 16000.0}, "sample_rate_hz=16000.0"),
    ({"num_mel": 40.0}, "num_mel=40.0"),
    ({"clip_ms": 1e9}, "clip_ms=1000000000.0"),
    ({"output_offset": "abcdefghij"}, "output_offset='abcdefghij'"),
    ({"lower_hz": float("nan")}, "lower_hz=nan"),
])
def test_frontend_numbers_out_of_range(bad: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        from_dict(FrontendConfig, bad, "frontend.")


def test_yaml_aliases_bad_bytes_and_size_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a]\n")
    with pytest.raises(ConfigError, match="aliases"):
        load_yaml(p)
    p.write_bytes(b"frontend: {window_ms: 30}\n# caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_yaml(p)
    p.write_text("x: 1\n" * (MAX_CONFIG_BYTES // 5 + 1))
    with pytest.raises(ConfigError, match="larger than"):
        load_yaml(p)
    p.write_text("x: " + "[" * 20000 + "]" * 20000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_yaml(p)


def test_load_json_refusals(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_text('{"a": 1}')
    assert load_json(p) == {"a": 1}
    for text, message in [("[" * 100000 + "]" * 100000, "nested too deeply"),
                          ("{", "corrupt JSON"), ("[]", "JSON object, got list")]:
        p.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_json(p)

"""One source for each fact: the int8 model contract, the C detector's capacities, the front
end's fields in the settings header."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from firmware_export import settings
from firmware_export.settings import (
    DETECTOR_HEADER,
    c_int_defines,
    frontend_macro,
    make_plan,
    parse_settings,
    render_settings,
    settings_frontend,
)
from kws.config import FrontendConfig
from kws.model_edit import strip_for_device
from kws.model_types import INPUT_QUANT, OUTPUT_QUANT
from kws.quantize import build_metadata
from kws.runtime import DEFAULT_MODEL, KwsModel, read_metadata
from kws.tflite_ops import parse_tflite


def test_the_shipped_model_keeps_the_one_int8_contract() -> None:
    meta = read_metadata(DEFAULT_MODEL)
    for key, (scale, zero) in (("input", INPUT_QUANT), ("output", OUTPUT_QUANT)):
        assert (meta[key]["scale"], meta[key]["zero_point"]) == (scale, zero)
    model = KwsModel.default()
    assert (model.output_scale, model.output_zero_point) == OUTPUT_QUANT
    assert OUTPUT_QUANT == (1 / 256, -128) and INPUT_QUANT == (1.0, 0)


def test_new_metadata_states_the_contract() -> None:
    meta = build_metadata("m", FrontendConfig())
    assert (meta["input"]["scale"], meta["input"]["zero_point"]) == INPUT_QUANT
    assert (meta["output"]["scale"], meta["output"]["zero_point"]) == OUTPUT_QUANT


def test_c_int_defines_reads_plain_integer_defines() -> None:
    text = ("#ifndef GUARD_H\n#define GUARD_H\n#define A 64\n#  define B (-1)  /* why */\n"
            "#define C (A * 2)\n#define D INT32_C(5)\n#define E 7 /* a comment\n * going on */\n")
    assert c_int_defines(text) == {"A": 64, "B": -1}


def test_detector_capacities_are_what_the_c_preprocessor_reads() -> None:
    """DETECTOR_MAX_RESULTS / _LABELS come from kws_detector.h: the same numbers as gcc's
    preprocessor defines for the header (``gcc -E -dM``)."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    out = subprocess.run(["gcc", "-E", "-dM", "-x", "c", str(DETECTOR_HEADER)],
                         capture_output=True, text=True, check=True).stdout
    seen = c_int_defines(out)
    assert settings.DETECTOR_MAX_RESULTS == seen["KWS_DETECTOR_MAX_RESULTS"]
    assert settings.DETECTOR_MAX_LABELS == seen["KWS_DETECTOR_MAX_LABELS"]
    for name, value in c_int_defines(DETECTOR_HEADER.read_text()).items():
        assert seen[name] == value, name  # every integer the parser reads, as gcc reads it


@pytest.fixture(scope="module")
def plan() -> settings.DevicePlan:
    """The board plan of the shipped model (no TFLite Micro: a made-up measured arena)."""
    device = strip_for_device(DEFAULT_MODEL.read_bytes())
    return make_plan(read_metadata(DEFAULT_MODEL), parse_tflite(device), len(device), 24_000)


@pytest.mark.parametrize("frontend", [
    FrontendConfig(),
    FrontendConfig(sample_rate_hz=8000, window_ms=32.0, stride_ms=16.0, fft_size=256,
                   num_mel=20, lower_hz=30.0, upper_hz=3800.0, num_coeffs=4, log_floor=2e-6,
                   output_gain=(1.0, 2.5, 3.0, 4.0), output_offset=(10.0, 0.0, -1.5, 0.0),
                   clip_ms=800.0),
])
def test_every_frontend_field_travels_through_the_settings_header(
        plan: settings.DevicePlan, frontend: FrontendConfig) -> None:
    text = render_settings(dataclasses.replace(plan, frontend=frontend), "/* test */")
    values = parse_settings(text)
    assert {frontend_macro(f.name) for f in dataclasses.fields(FrontendConfig)} <= set(values)
    assert settings_frontend(values) == frontend

"""A custom wake-word model trained in CI (configs/wakeword_tiny.yaml, well under a minute),
and its 3-label set round-tripped through the metadata, the runtime, the streaming path, the
detector, ``kws export`` (generic and nano33ble) and the sketch on the host.

"hey computer" is longer than a second in most voices, so the run also proves that training
and streaming honour a longer ``FrontendConfig.clip_ms``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from kws.config import DetectorConfig, FrontendConfig, from_dict
from kws.detector import Detector
from kws.errors import ConfigError
from kws.labels import LABELS

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "wakeword_tiny.yaml"
PHRASE = "hey computer"
LABELS3 = ("hey_computer", "_unknown_", "_silence_")


@pytest.fixture(scope="module")
def run(tmp_path_factory, mini_dir: Path):
    from kws.wakeword.build import build_wakeword

    out = tmp_path_factory.mktemp("ww") / "hey"
    lines: list[str] = []
    result = build_wakeword(PHRASE, out, TINY, data_dir=mini_dir, progress=False,
                            log=lines.append)
    return result, lines


def test_run_folder_and_stages(run) -> None:
    result, lines = run
    assert result.labels == LABELS3
    for name in ("config.json", "model.keras", "history.json", "model.tflite",
                 "model_device.tflite", "manifest.json"):
        assert (result.out / name).is_file(), name
    assert list(result.out.glob("takes_*.npz"))
    assert set(result.stage_seconds) == {"voices", "data", "train", "quantize", "tune"}
    assert sum(result.stage_seconds.values()) < 90
    assert [line.split(":")[0] for line in lines][:4] == ["voices", "data", "train",
                                                         "quantize"]
    config = json.loads((result.out / "config.json").read_text())
    counts = config["counts"]
    assert counts["train"]["hey_computer"] == 48 and counts["validation"]["hey_computer"] == 12
    assert counts["train"]["_unknown_"] > 60 and counts["train"]["_silence_"] == 30


def test_long_phrase_gets_a_longer_window_in_training_and_streaming(run) -> None:
    from kws.runtime import KwsModel
    from kws.stream import ScoreStream

    result, _ = run
    assert result.clip_ms > 1000
    model = KwsModel(result.model_path)
    fc = model.frontend_config
    assert fc.clip_ms == result.clip_ms and fc.frames_per_clip > 49
    assert model.input_shape == (fc.frames_per_clip, fc.num_coeffs)
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["config"]["frontend"]["clip_ms"] == result.clip_ms
    seen = []

    class Spy:
        labels = model.labels
        frontend_config = fc

        def predict(self, x: np.ndarray) -> np.ndarray:
            seen.append(x.shape[1:])
            return model.predict(x)

    times, scores = ScoreStream(Spy(), fc, 2).push(np.zeros(16000 * 3, np.int16))
    assert seen and set(seen) == {(fc.frames_per_clip, fc.num_coeffs)}
    assert scores.shape == (times.size, 3)
    # the first result comes when a whole (longer) window has arrived
    assert times[0] == (fc.frames_per_clip - 1) * 20 + 30


def test_metadata_runtime_and_accuracy_use_three_labels(run) -> None:
    from kws.frontend import mfcc_batch
    from kws.runtime import KwsModel, read_metadata

    result, _ = run
    meta = read_metadata(result.model_path)
    assert tuple(meta["labels"]) == LABELS3 and meta["output"]["shape"] == [1, 3]
    assert meta["wakeword"]["phrase"] == PHRASE
    assert meta["detector_tuning"]["laptop"]["settings_tried"] > 100
    model = KwsModel(result.model_path)
    assert model.labels == LABELS3 and len(model.labels) != len(LABELS)
    manifest = result.manifest
    cfg = from_dict(FrontendConfig, meta["frontend"])
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 3, (4, cfg.clip_samples)).astype(np.int16)
    scores = model.predict(mfcc_batch(noise, cfg))
    assert scores.shape == (4, 3) and scores.dtype == np.int8
    assert manifest["accuracy"]["validation"]["int8"] > 0.5          # better than chance
    assert manifest["accuracy"]["train"]["int8"] > 0.5
    assert manifest["files"]["model_device.tflite"]["bytes"] < 32 * 1024
    assert manifest["tensor_arena_bytes"] < 24 * 1024


def test_detector_wakes_only_on_the_phrase(run) -> None:
    from kws.runtime import KwsModel
    from kws.stream import detect_audio

    result, _ = run
    model = KwsModel(result.model_path)
    config = DetectorConfig(threshold=10, min_count=1, average_window_ms=40)
    times = np.arange(0, 4000, 40)
    scores = np.full((times.size, 3), -128, np.int8)
    scores[:, 1] = 127                                   # _unknown_ high all along
    scores[50:53, 0] = 127                               # the phrase, briefly
    found = Detector(config, model.labels).run(times, scores)
    assert [d.label for d in found] == ["hey_computer"] and found[0].time_ms == times[50]
    # the model's own detector on silence: nothing
    assert detect_audio(model, np.zeros(16000 * 5, np.int16)) == []


def test_kws_export_generic_and_the_sketch_take_three_labels(run, tmp_path: Path) -> None:
    from firmware_export.export import export_model
    from firmware_export.settings import parse_settings
    from kws.cli import main

    result, _ = run
    assert main(["export", str(result.model_path), "--board", "generic", "--out",
                 str(tmp_path / "generic")]) == 0
    values = parse_settings((tmp_path / "generic" / "kws_model_settings.h").read_text())
    assert tuple(values["KWS_LABELS"]) == LABELS3 and values["KWS_NUM_LABELS"] == 3
    assert values["KWS_FE_CLIP_MS"] == result.clip_ms
    fc = from_dict(FrontendConfig, json.loads((result.out / "manifest.json").read_text())
                   ["config"]["frontend"])
    assert values["KWS_INPUT_FRAMES"] == fc.frames_per_clip
    sketch = export_model(result.model_path, tmp_path / "nano", "nano33ble")
    nano = parse_settings(next(sketch.source_dir.glob("kws_model_settings.h")).read_text())
    assert nano["KWS_DET_WAKE"] == [0]


def test_sketch_on_the_host_prints_the_phrase(run, tmp_path: Path) -> None:
    """The exported sketch (host build with Arduino/TFLite Micro stand-ins, as
    tests/test_export.py does for the 12-label model) prints the Python detector's lines."""
    import shutil

    if shutil.which("gcc") is None or shutil.which("g++") is None:
        pytest.fail("gcc and g++ are needed (CI installs them)")
    sys.path.insert(0, str(REPO / "tests"))
    from test_export import _build_sim, _score_stream, _settings

    from firmware_export.export import export_model
    from firmware_export.settings import settings_detector
    from kws.runtime import read_metadata

    result, _ = run
    sketch = export_model(result.model_path, tmp_path / "nano", "nano33ble")
    meta = read_metadata(result.model_path)
    values = _settings(sketch)
    rng = np.random.default_rng(1)
    audio = rng.normal(0, 300, 16000 * 4).astype(np.int16)

    class Crafted:
        labels = LABELS3

        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.full((len(x), 3), -128, np.int8)

    _, times, scores = _score_stream(Crafted(), values, meta, audio)
    for i in range(len(scores)):
        scores[i, 0] = 127 if i % 4 != 3 else -128
    expected = Detector(settings_detector(values), meta["labels"]).run(times, scores)
    assert expected
    exe = _build_sim(sketch, tmp_path, audio, scores, [512])
    import subprocess

    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    heard = [line for line in out.splitlines() if line.startswith("Heard ")]
    assert heard == [f"Heard {d.label} ({d.score}) @{d.time_ms}ms" for d in expected]
    assert all(line.startswith("Heard hey_computer ") for line in heard)


def test_refusals_name_the_value(run, tmp_path: Path) -> None:
    from kws.wakeword.build import build_wakeword, load_wakeword_config

    result, _ = run
    with pytest.raises(ConfigError, match="already holds a wake-word model"):
        build_wakeword(PHRASE, result.out, TINY, progress=False)
    with pytest.raises(ConfigError, match="'\\?\\?'"):
        build_wakeword("??", tmp_path / "x", TINY, progress=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("wakeword:\n  positives: 0\n")
    with pytest.raises(ConfigError, match="positives"):
        load_wakeword_config(bad)
    bad.write_text("extra: {}\n")
    with pytest.raises(ConfigError, match="'extra'"):
        load_wakeword_config(bad)
    bad.write_text("wakeword:\n  families: [espeak, klingon]\n")
    with pytest.raises(ConfigError, match="klingon"):
        load_wakeword_config(bad)


def test_tune_detector_retunes_a_wakeword_on_its_own_run(run, tmp_path: Path,
                                                         capsys) -> None:
    import shutil

    from kws.cli import main
    from kws.runtime import KwsModel

    result, _ = run
    copy = tmp_path / "copy"
    shutil.copytree(result.out, copy)
    model = copy / "model.tflite"
    before = KwsModel(model).metadata["detector_tuning"]
    assert before["fa_per_hour_per_keyword"] == 1.0
    assert main(["tune-detector", str(model), "--fa-per-hour", "30"]) == 0
    after = KwsModel(model).metadata["detector_tuning"]
    assert after["fa_per_hour_per_keyword"] == 30.0 and after["split"] == "held-out takes"
    manifest = json.loads((copy / "manifest.json").read_text())
    import hashlib
    assert manifest["files"]["model.tflite"]["sha256"] == hashlib.sha256(
        model.read_bytes()).hexdigest()
    assert "stamped into" in capsys.readouterr().out
    assert main(["tune-detector", str(model), "--dry-run"]) == 2
    assert "--dry-run, --tune-split and --also-budgets are for Speech Commands" in \
        capsys.readouterr().err
    config = json.loads((copy / "config.json").read_text())
    config["wakeword"]["holdout_every"] = 4             # other held-out takes: other data
    (copy / "config.json").write_text(json.dumps(config))
    assert main(["tune-detector", str(model)]) == 2
    err = capsys.readouterr().err
    assert "the data differ from those the run trained with" in err and len(
        err.strip().splitlines()) == 1

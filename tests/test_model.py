"""DS-CNN builder, and the whole toy pipeline: train -> quantize -> evaluate -> metadata, plus
resume after SIGKILL equal to an uninterrupted run (TensorFlow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kws.config import DetectorConfig, FrontendConfig, ModelConfig, from_dict
from kws.errors import ConfigError, KwsError
from kws.labels import LABELS

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",  # Keras' np.array(copy=False) under numpy 2
    "ignore:Statistics for quantized inputs were expected:UserWarning")  # TFLite converter


# --------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------

def test_ds_cnn_s_is_the_mlperf_topology() -> None:
    from kws.model import build_model, count_parameters, load_model_config

    model = build_model(load_model_config(CONFIGS / "ds_cnn_s.yaml"))
    assert model.input_shape == (None, 49, 10, 1)
    assert model.output_shape == (None, 12)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds.count("DepthwiseConv2D") == 4
    assert kinds.count("Conv2D") == 1 + 4 + 1  # stem, 4 pointwise, the 1x1 classifier
    stem = model.get_layer("stem_conv")
    assert (stem.filters, stem.kernel_size, stem.strides) == (64, (10, 4), (2, 2))
    # MLPerf Tiny: 22.6 k parameters after batch-norm folding.
    # stem 10*4*64 + 4 * (3*3*64 + 64*64) + 64*12 weights, 9 * 64 + 12 biases
    assert count_parameters(model) == 2560 + 4 * (576 + 4096) + 768 + 9 * 64 + 12 == 22604


@pytest.mark.parametrize("name", ["ds_cnn_tiny", "ds_cnn_s", "ds_cnn_m", "ds_cnn_l"])
def test_every_preset_builds(name: str) -> None:
    from kws.model import build_model, load_model_config
    from kws.run import load_run_config

    config = load_model_config(CONFIGS / f"{name}.yaml")
    assert config.name == name
    assert load_run_config(CONFIGS / f"{name}.yaml").model == config
    model = build_model(config, FrontendConfig(), batch_size=1)
    assert model.output_shape == (1, len(LABELS))
    out = model(np.zeros((1, 49, 10, 1), dtype=np.float32)).numpy()
    assert out.shape == (1, 12) and np.isclose(out.sum(), 1.0, atol=1e-5)


def test_model_config_refuses_bad_blocks() -> None:
    with pytest.raises(ConfigError, match=r"model\.blocks\[1\]: unknown config key filterz"):
        from_dict(ModelConfig, {"blocks": [{"filters": 8}, {"filterz": 8}]}, "model.")
    with pytest.raises(ConfigError, match=r"blocks\[0\]: stride=\(0, 1\)"):
        from_dict(ModelConfig, {"blocks": [{"stride": [0, 1]}]}, "model.")
    with pytest.raises(ConfigError, match="blocks is empty"):
        from_dict(ModelConfig, {"blocks": []}, "model.")
    with pytest.raises(ConfigError, match="stem_dropout=1.5"):
        from_dict(ModelConfig, {"stem_dropout": 1.5}, "model.")


def test_train_config_refuses_selection_on_training_data(tmp_path: Path) -> None:
    from kws.run import load_run_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"train": {"train_splits": ["train", "validation"]}}))
    with pytest.raises(ConfigError, match="keep: last"):
        load_run_config(path)
    path.write_text(yaml.safe_dump({"train": {"train_splits": ["train", "test"]}}))
    with pytest.raises(ConfigError, match="train_splits"):
        load_run_config(path)
    path.write_text(yaml.safe_dump({"trian": {}}))
    with pytest.raises(ConfigError, match="unknown section 'trian'"):
        load_run_config(path)


# --------------------------------------------------------------------------------------------
# The toy pipeline end to end
# --------------------------------------------------------------------------------------------

def _counting_data(mini_dir: Path, per_class: int) -> Any:
    """SmallData with the clean split features of kws.run.SplitFeatures, recording which
    splits were asked for (the front end's codes of the clips, as the feature cache's)."""
    from kws.frontend import mfcc_batch
    from tests.model_fakes import SmallData

    class CountingData(SmallData):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.feature_calls: list[str] = []

        def features(self, split: str, frontend: FrontendConfig) -> np.ndarray:
            self.feature_calls.append(split)
            return mfcc_batch(self.clips(split).audio, frontend)

    return CountingData(mini_dir, per_class=per_class)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, mini_dir: Path):
    from kws.quantize import quantize_run
    from kws.train import train

    data = _counting_data(mini_dir, per_class=4)
    out = tmp_path_factory.mktemp("tiny") / "run"
    result = train(CONFIGS / "ds_cnn_tiny.yaml", mini_dir, out, data=data, progress=False)
    quantized = quantize_run(out, mini_dir, data=data)
    return out, data, result, quantized


def test_tiny_pipeline_writes_a_complete_run(tiny_run) -> None:
    out, _, result, quantized = tiny_run
    for name in ("config.json", "checkpoint.npz", "model.keras", "history.json",
                 "training_curve.png", "model.tflite", "model_device.tflite", "manifest.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.tmp*"))
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history["epochs"]] == [1, 2] == list(range(1, 3))
    assert result.epochs_run == 2 and 1 <= result.best_epoch <= 2
    manifest = quantized.manifest
    assert manifest["model_name"] == "ds_cnn_tiny"
    assert manifest["config"]["model"]["name"] == "ds_cnn_tiny"
    assert manifest["data_fingerprint"] == json.loads((out / "config.json").read_text())[
        "data_fingerprint"]
    for split in ("validation", "test"):
        acc = manifest["accuracy"][split]
        assert acc["clips"] == 12 * 4 and 0 <= acc["int8"] <= 1 and 0 <= acc["float"] <= 1
    from kws.quantize import sha256_file

    for name, info in manifest["files"].items():
        assert info["sha256"] == sha256_file(out / name)
        assert info["bytes"] == (out / name).stat().st_size


def test_train_quantize_and_evaluate_take_split_features_from_the_data(
        tiny_run, tmp_path: Path) -> None:
    """The clean features of whole splits come through kws.run.split_features (the data's
    feature cache when it has one): validation in training, the scored splits in quantize
    and evaluate."""
    from kws.evaluate import evaluate

    out, data, *_ = tiny_run
    assert data.feature_calls[:3] == ["validation", "validation", "test"]
    del data.feature_calls[:]
    evaluate(out / "model.tflite", "unused", "validation", tmp_path, data=data)
    assert data.feature_calls == ["validation"]


def test_tiny_model_metadata_round_trip(tiny_run) -> None:
    from kws.quantize import build_metadata
    from kws.runtime import KwsModel, read_metadata

    out, *_ = tiny_run
    meta = read_metadata(out / "model.tflite")
    digest = meta.pop("content_sha256")       # added by kws quantize, over the weights
    assert len(digest) == 64 and int(digest, 16) >= 0
    expected = build_metadata("ds_cnn_tiny", FrontendConfig(),
                              data_fingerprint=meta["data_fingerprint"],
                              training={"train_splits": ["train"], "tuning_percent": None})
    assert meta == json.loads(json.dumps(expected))
    model = KwsModel(out / "model.tflite", FrontendConfig())
    assert model.labels == LABELS
    assert model.frontend_config == FrontendConfig()
    assert model.detector_config == DetectorConfig()
    assert (model.output_scale, model.output_zero_point) == (1 / 256, -128)


def test_tiny_model_input_is_the_identity_on_codes(tiny_run) -> None:
    from ai_edge_litert.interpreter import Interpreter

    out, *_ = tiny_run
    interp = Interpreter(model_path=str(out / "model.tflite"))
    inp = interp.get_input_details()[0]
    assert inp["dtype"] == np.int8 and inp["quantization"] == (1.0, 0)


def test_tiny_model_evaluates_and_tflite_micro_agrees(tiny_run, tmp_path: Path) -> None:
    from kws.evaluate import evaluate, format_report

    out, data, *_ = tiny_run
    result = evaluate(out / "model.tflite", "unused", "test", tmp_path, data=data)
    report = result.report
    assert report["clips"] == 48 and report["word_clips"] == 44  # 4 silence clips
    assert report["tflite_micro"]["device_model"] == "model_device.tflite"
    assert report["tflite_micro"]["differing_outputs_vs_litert_reference"] == 0
    assert report["tflite_micro"]["differing_outputs_vs_litert_optimized"] == 0
    assert report["tflite_micro"]["tensor_arena_bytes"] > 0
    assert "float" in report and 0 <= report["float"]["accuracy"] <= 1
    matrix = np.array(report["confusion_int8"])
    assert matrix.shape == (12, 12) and matrix.sum() == 48
    assert np.isclose(np.trace(matrix) / 48, report["int8"]["accuracy"])
    assert (tmp_path / "confusion_test.png").stat().st_size > 0
    assert "outputs differ" in format_report(report)


def test_training_refuses_to_overwrite_or_resume_with_another_config(tiny_run,
                                                                   mini_dir: Path) -> None:
    from kws.train import train

    out, data, *_ = tiny_run
    with pytest.raises(KwsError, match="already holds a run"):
        train(CONFIGS / "ds_cnn_tiny.yaml", mini_dir, out, data=data, progress=False)
    with pytest.raises(KwsError, match="differs from the run's config.json"):
        train(CONFIGS / "ds_cnn_tiny.yaml", mini_dir, out, resume=True, epochs=5, data=data,
              progress=False)


# --------------------------------------------------------------------------------------------
# Resume after SIGKILL
# --------------------------------------------------------------------------------------------

_RUNNER = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from kws.run import load_run_config
from kws.train import train
from tests.model_fakes import SmallData

mode, config, out, mini = sys.argv[1:5]
data = SmallData(Path(mini), per_class=3, config=load_run_config(config).data)

def hook(epoch):
    if mode == "kill" and epoch == 2:
        os.kill(os.getpid(), signal.SIGKILL)

train(config, mini, out, resume=mode == "resume", data=data, progress=False,
      on_epoch_end=hook)
"""


def _run(mode: str, config: Path, out: Path, mini: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _RUNNER.format(repo=str(REPO)), mode,
                           str(config), str(out), str(mini)], capture_output=True, text=True)


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path: Path,
                                                          mini_dir: Path) -> None:
    """Uninterrupted (here) vs killed after epoch 2 and resumed (subprocesses): equal bits."""
    from kws.checkpoint import Checkpoint

    config = yaml.safe_load((CONFIGS / "ds_cnn_tiny.yaml").read_text())
    # Every source of randomness and state on: dropout, masks, mixup, speed, equalizer,
    # room, stream windows, warm-up + cosine, weight averaging.
    config["model"].update(stem_dropout=0.1, head_dropout=0.2)
    config["train"].update(epochs=4, warmup_epochs=1, schedule="cosine", weight_averaging=0.5)
    config["data"] = dict(mixup_alpha=0.3, time_masks=1, freq_masks=1, speed_perturb=0.1,
                          eq_db=3.0, reverb_prob=0.3, stream_windows=0.5)
    path = tmp_path / "resume.yaml"
    path.write_text(yaml.safe_dump(config))

    from kws.run import load_run_config
    from kws.train import train
    from tests.model_fakes import SmallData

    train(path, mini_dir, tmp_path / "whole", progress=False,
          data=SmallData(mini_dir, per_class=3, config=load_run_config(path).data))
    killed = _run("kill", path, tmp_path / "killed", mini_dir)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert Checkpoint.load(tmp_path / "killed" / "checkpoint.npz").epoch == 2
    assert not (tmp_path / "killed" / "model.keras").exists()
    resumed = _run("resume", path, tmp_path / "killed", mini_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stdout and "after epoch 2" in resumed.stdout

    a = Checkpoint.load(tmp_path / "whole" / "checkpoint.npz")
    b = Checkpoint.load(tmp_path / "killed" / "checkpoint.npz")
    for group in ("model", "optimizer", "best", "ema"):
        assert len(getattr(a, group)) == len(getattr(b, group)) > 0
        for x, y in zip(getattr(a, group), getattr(b, group), strict=True):
            np.testing.assert_array_equal(x, y)
    assert (a.epoch, a.best_acc, a.best_epoch, a.wait) == (b.epoch, b.best_acc, b.best_epoch,
                                                           b.wait)
    drop_time = [{k: v for k, v in row.items() if k != "seconds"} for row in a.history]
    assert drop_time == [{k: v for k, v in row.items() if k != "seconds"} for row in b.history]
    assert (tmp_path / "killed" / "model.keras").is_file()


def test_quantize_writes_the_given_detector_defaults(tiny_run, tmp_path: Path,
                                                     mini_dir: Path) -> None:
    import shutil

    from kws.quantize import quantize_run
    from kws.runtime import KwsModel

    out, data, *_ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    tuned = DetectorConfig(threshold=180, suppression_ms=1500, keywords=("yes", "no"))
    quantize_run(run, mini_dir, data=data, detector=tuned, splits=("validation",))
    assert KwsModel(run / "model.tflite").detector_config == tuned


def test_an_int8_model_teaches_with_its_dequantized_scores(tiny_run, tmp_path: Path,
                                                           mini_dir: Path) -> None:
    """kws.train.TfliteTeacher: the shipped model as a teacher gives LiteRT's probabilities
    of the codes (after rounding the float input), and a teacher with other labels is
    refused."""
    from kws.data.config import DataConfig
    from kws.data.training import SpeechCommandsData
    from kws.frontend import mfcc_batch
    from kws.runtime import KwsModel
    from kws.train import load_teacher

    shipped = REPO / "kws" / "assets" / "default_model.tflite"
    teacher = load_teacher(str(shipped), LABELS)
    clips = SpeechCommandsData(mini_dir, DataConfig()).clips("validation")
    codes = mfcc_batch(clips.audio[:40], FrontendConfig())
    probs = teacher.predict(codes.astype(np.float32)[..., None] + 0.2)   # rounds back
    model = KwsModel(shipped)
    want = (model.predict(codes).astype(np.float32) + 128) / 256
    np.testing.assert_array_equal(probs, want)
    assert probs.shape == (40, len(LABELS)) and np.all(np.abs(probs.sum(1) - 1) < 0.05)
    with pytest.raises(ConfigError, match="are not the student's"):
        load_teacher(str(shipped), ("stop", "_unknown_", "_silence_"))
    assert load_teacher(str(tiny_run[0]), LABELS).output_shape == (None, len(LABELS))
    with pytest.raises(ConfigError, match="12 outputs, the student has 3"):
        load_teacher(str(tiny_run[0]), ("stop", "_unknown_", "_silence_"))

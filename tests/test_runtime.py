"""kws.runtime on the shipped default model: metadata, refusals, corrupt files, LiteRT vs
TFLite Micro bit for bit, size and arena budgets, and no TensorFlow on the runtime path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kws.config import DetectorConfig, FrontendConfig, load_section
from kws.errors import ModelError
from kws.labels import LABELS
from kws.model_edit import add_metadata, remove_metadata, strip_for_device
from kws.runtime import (
    DEFAULT_MODEL,
    METADATA_NAME,
    KwsModel,
    MicroModel,
    read_metadata,
    read_tflite_metadata,
    smallest_arena_size,
)

REPO = Path(__file__).resolve().parents[1]
DEVICE_BYTES_BUDGET = 32 * 1024
"""Issue 5: the device copy of DS-CNN-S fits in 32 KB of flash."""
ARENA_BUDGET = 24 * 1024
"""Issue 5: TFLite Micro's tensor arena for DS-CNN-S fits in 24 KB of RAM."""


@pytest.fixture(scope="module")
def default_bytes() -> bytes:
    return DEFAULT_MODEL.read_bytes()


@pytest.fixture(scope="module")
def real_features(mini_dir: Path) -> np.ndarray:
    """int8 (120, 49, 10): features of 120 validation clips of the mini corpus."""
    from kws.frontend import mfcc_batch

    names = (mini_dir / "validation_list.txt").read_text().split()[::4][:120]
    audio = np.zeros((len(names), 16000), dtype=np.int16)
    import soundfile as sf

    for i, name in enumerate(names):
        data, _ = sf.read(str(mini_dir / name), dtype="int16")
        audio[i, :data.size] = data[:16000]
    return mfcc_batch(audio)


def test_runtime_and_listen_path_do_not_import_tensorflow() -> None:
    code = """
import importlib.util, sys
import numpy as np
import kws.runtime, kws.model_edit
from kws.runtime import KwsModel, read_metadata
modules = ["kws.stream", "kws.listen", "firmware_export.export"]
for name in modules:
    if importlib.util.find_spec(name) is not None:
        importlib.import_module(name)
model = KwsModel.default()
model.predict(np.zeros((2, 49, 10), dtype=np.int8))
kws.model_edit.strip_for_device(kws.runtime.DEFAULT_MODEL.read_bytes())
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_default_model_describes_itself() -> None:
    model = KwsModel.default(FrontendConfig())
    assert model.labels == LABELS
    assert model.frontend_config == FrontendConfig()
    # the detector tuned for it (configs/default_detector.yaml), stamped by kws quantize
    tuned = load_section(DetectorConfig, Path(__file__).resolve().parents[1] / "configs"
                         / "default_detector.yaml", "detector")
    assert model.detector_config == tuned != DetectorConfig()
    assert model.name == "ds_cnn_s"
    assert model.input_shape == (49, 10)
    assert (model.output_scale, model.output_zero_point) == (1 / 256, -128)
    meta = model.metadata
    assert meta["format"] == "kws-model" and meta["format_version"] == 1
    assert meta["input"] == {"dtype": "int8", "shape": [1, 49, 10, 1], "scale": 1.0,
                             "zero_point": 0}


def test_predict_checks_and_probabilities(real_features: np.ndarray) -> None:
    model = KwsModel.default()
    scores = model.predict(real_features[:8])
    assert scores.dtype == np.int8 and scores.shape == (8, 12)
    np.testing.assert_array_equal(model.predict(real_features[3]), scores[3:4])
    probs = model.probabilities(real_features[:8])
    np.testing.assert_array_equal(probs, (scores.astype(np.float32) + 128) / 256)
    assert np.all(np.abs(probs.sum(axis=1) - 1) < 0.05)
    with pytest.raises(ModelError, match="must be int8 front-end codes, got float32"):
        model.predict(real_features.astype(np.float32))
    with pytest.raises(ModelError, match=r"shape \(3, 48, 10\), expected \(N, 49, 10\)"):
        model.predict(real_features[:3, :48])
    with pytest.raises(ModelError, match="kernels='fast'"):
        KwsModel(DEFAULT_MODEL, kernels="fast")


def test_litert_and_tflite_micro_agree_bit_for_bit(default_bytes: bytes,
                                                   real_features: np.ndarray) -> None:
    litert = KwsModel(default_bytes).predict(real_features)
    assert len(np.unique(np.argmax(litert, 1))) >= 8  # real, varied decisions
    np.testing.assert_array_equal(KwsModel(default_bytes, kernels="reference")
                                  .predict(real_features), litert)
    device = strip_for_device(default_bytes)
    for source in (default_bytes, device):
        micro = MicroModel(source).predict(real_features)
        assert micro.dtype == np.int8
        np.testing.assert_array_equal(micro, litert)


def test_device_copy_and_arena_fit_the_budgets(default_bytes: bytes) -> None:
    device = strip_for_device(default_bytes)
    assert len(device) <= DEVICE_BYTES_BUDGET < len(default_bytes)
    assert METADATA_NAME not in read_tflite_metadata(device)
    assert b"serving_default" not in device and b"ds_cnn" not in device
    arena = smallest_arena_size(device)
    assert arena <= ARENA_BUDGET
    MicroModel(device, arena)  # the smallest arena works ...
    with pytest.raises(ModelError, match="cannot allocate"):
        MicroModel(device, arena - 16)  # ... and 16 bytes less does not


def test_model_without_kws_metadata_is_refused(default_bytes: bytes, tmp_path: Path) -> None:
    bare = remove_metadata(default_bytes)
    assert METADATA_NAME not in read_tflite_metadata(bare)
    path = tmp_path / "bare.tflite"
    path.write_bytes(bare)
    with pytest.raises(ModelError, match=r"bare.tflite: no kws metadata in the model"):
        KwsModel(path)


def test_unknown_format_version_and_bad_metadata_are_refused(default_bytes: bytes) -> None:
    meta = read_metadata(default_bytes)
    with pytest.raises(ModelError, match="format_version 99 is not supported"):
        KwsModel(add_metadata(default_bytes, {**meta, "format_version": 99}))
    with pytest.raises(ModelError, match="metadata lacks 'labels'"):
        KwsModel(add_metadata(default_bytes, {k: v for k, v in meta.items() if k != "labels"}))
    bad_frontend = {**meta, "frontend": {**meta["frontend"], "fft_size": 500}}
    with pytest.raises(ModelError, match="bad metadata: frontend.fft_size=500"):
        KwsModel(add_metadata(default_bytes, bad_frontend))
    with pytest.raises(ModelError, match="output is int8 \\(1, 12\\), expected int8 \\(1, 3\\)"):
        KwsModel(add_metadata(default_bytes, {**meta, "labels": ["a", "b", "c"]}))
    # The metadata round trip is exact (replacing, not adding, the entry).
    replaced = add_metadata(default_bytes, {**meta, "model_name": "renamed"})
    assert list(read_tflite_metadata(replaced)).count(METADATA_NAME) == 1
    assert read_metadata(replaced) == {**meta, "model_name": "renamed"}


def test_front_end_that_disagrees_is_refused() -> None:
    with pytest.raises(ModelError, match=r"expects front-end window_ms=30.0, but the front end "
                                         r"in use has window_ms=25.0"):
        KwsModel(DEFAULT_MODEL, FrontendConfig(window_ms=25.0))
    with pytest.raises(ModelError, match="num_coeffs=10"):
        KwsModel(DEFAULT_MODEL, FrontendConfig(
            num_coeffs=12, output_gain=(2.0,) * 12, output_offset=(0.0,) * 12))


@pytest.mark.parametrize("name, content, message", [
    ("empty.tflite", b"", "not a TFLite model"),
    ("text.tflite", b"hello, I am not a model\n" * 10, "not a TFLite model"),
    ("truncated.tflite", None, "corrupt .tflite file|LiteRT cannot load|not a model kws can run"),
    ("header.tflite", "header", "corrupt .tflite file|LiteRT cannot load|not a model kws can run"),
])
def test_corrupt_files_give_a_clear_error(default_bytes: bytes, tmp_path: Path, name: str,
                                          content: bytes | str | None, message: str) -> None:
    if content is None:
        content = default_bytes[:len(default_bytes) // 2]
    elif content == "header":
        content = default_bytes[:8] + bytes(len(default_bytes) - 8)
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message) as info:
        KwsModel(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_folder_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="nothing.tflite: no such model file"):
        KwsModel(tmp_path / "nothing.tflite")
    with pytest.raises(ModelError, match="is a folder"):
        read_metadata(tmp_path)


def test_damaged_bytes_never_crash_the_loader(default_bytes: bytes, tmp_path: Path) -> None:
    """300 seeded damages (cuts, flipped bytes, overwritten runs), in a child process so that a
    crash of native code would show as a failure: each load works or raises ModelError."""
    path = tmp_path / "model.tflite"
    path.write_bytes(default_bytes)
    code = f"""
import numpy as np
from kws.errors import ModelError
from kws.runtime import KwsModel
data = open({str(path)!r}, "rb").read()
rng = np.random.default_rng(5)
outcomes = {{"loaded": 0, "refused": 0}}
for trial in range(300):
    b = bytearray(data)
    if trial % 3 == 0:
        b = b[:int(rng.integers(0, len(b)))]
    elif trial % 3 == 1:
        for _ in range(8):
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
    else:
        at = int(rng.integers(0, len(b) - 64))
        b[at:at + 64] = rng.integers(0, 256, 64).astype(np.uint8).tobytes()
    try:
        KwsModel(bytes(b)).predict(np.zeros((1, 49, 10), dtype=np.int8))
        outcomes["loaded"] += 1
    except ModelError as exc:
        assert "\\n" not in str(exc)
        outcomes["refused"] += 1
print(outcomes)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))
    assert outcomes["refused"] > 100 and outcomes["loaded"] + outcomes["refused"] == 300


def test_micro_without_tflite_micro_gives_the_commands_install_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TFLite Micro's child process, with tflite_micro hidden, names the same pip line as the
    command line's missing-extra message (kws.commands.install_command)."""
    from kws.commands import install_command, missing_extra_message

    hidden = tmp_path / "tflite_micro"
    hidden.mkdir()
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(ModelError) as err:
        smallest_arena_size(DEFAULT_MODEL)
    message = str(err.value)
    assert message.endswith(missing_extra_message("tflite_micro") or "?") and "\n" not in message
    assert message.endswith(install_command("micro"))

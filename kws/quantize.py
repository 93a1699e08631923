"""Full-int8 post-training quantization of a training run into self-describing .tflite files.

    run/model.keras --TFLite converter, calibrated on configs/calibration_list.txt--> int8
      -> model.tflite         + kws metadata (front end, labels, detector defaults, version)
      -> model_device.tflite  what TFLite Micro needs, nothing else (kws.model_edit)
      -> manifest.json        configs, data hash, float and int8 accuracy, sizes, sha256s

Contract (kws.model_types.INPUT_QUANT / OUTPUT_QUANT, asserted): the input is int8 with scale
1.0 and zero point 0 (the front end's codes go in unchanged), the output int8 softmax with scale
1/256 and zero point -128. The flatbuffer editing (metadata, device copy) is kws.model_edit's.
Calibration is reproducible: a fixed, committed list of training clips (made by
:func:`make_calibration_list`, a seeded rule) plus one "range row" that pins the input range
to -128..127, so the converter derives the input scale (127 - (-128)) / 255 = 1.0 exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kws.config import DetectorConfig, FrontendConfig, to_dict
from kws.errors import DataError, ModelError
from kws.fileio import atomic_write_bytes, remove_stale_temps
from kws.labels import LABELS
from kws.metadata import FORMAT, FORMAT_VERSION
from kws.model_edit import add_metadata, publish_metadata, strip_for_device
from kws.model_types import INPUT_QUANT, OUTPUT_QUANT
from kws.publish import publish_files, recover_published_set
from kws.runtime import KwsModel

CALIBRATION_LIST = Path(__file__).resolve().parent.parent / "configs" / "calibration_list.txt"
"""The committed calibration list (paths relative to the dataset root)."""
CALIBRATION_COUNT = 200
"""Clips in the calibration list."""
CALIBRATION_SEED = 0
"""Seed of the rule that picks the calibration clips."""


# --------------------------------------------------------------------------------------------
# Calibration list
# --------------------------------------------------------------------------------------------

def training_clip_paths(data_dir: str | Path) -> list[str]:
    """Sorted paths (relative to the dataset root, "word/file.wav") of the training split:
    every clip not listed in validation_list.txt or testing_list.txt."""
    root = Path(data_dir)
    held_out: set[str] = set()
    for name in ("validation_list.txt", "testing_list.txt"):
        try:
            held_out |= set((root / name).read_text().split())
        except OSError:
            raise DataError(f"{root}: no {name} (not a Speech Commands folder)") from None
    return sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.wav")
                  if not p.parent.name.startswith("_")
                  and p.relative_to(root).as_posix() not in held_out)


def make_calibration_list(data_dir: str | Path, count: int = CALIBRATION_COUNT,
                          seed: int = CALIBRATION_SEED) -> list[str]:
    """The calibration rule: the first ``count`` clips of a seeded permutation
    (numpy default_rng(seed)) of the sorted training clips. Never validation or test clips."""
    paths = training_clip_paths(data_dir)
    if len(paths) < count:
        raise DataError(f"{data_dir}: only {len(paths)} training clips, need {count} "
                        "for calibration")
    order = np.random.default_rng(seed).permutation(len(paths))[:count]
    return sorted(paths[i] for i in order)


def write_calibration_list(data_dir: str | Path, path: str | Path = CALIBRATION_LIST) -> None:
    """Write the calibration list file (header comment + one path per line), atomically."""
    paths = make_calibration_list(data_dir)
    header = (f"# Calibration clips of 'kws quantize' (paths relative to the dataset root).\n"
              f"# Rule (kws.quantize.make_calibration_list): the first {CALIBRATION_COUNT} of "
              f"numpy default_rng({CALIBRATION_SEED}).permutation\n"
              "# of the sorted training clips (in neither validation_list.txt nor "
              "testing_list.txt), sorted.\n")
    atomic_write_bytes(Path(path), (header + "\n".join(paths) + "\n").encode())


def read_calibration_list(path: str | Path = CALIBRATION_LIST) -> list[str]:
    """Clip paths of a calibration list file (``#`` lines and blank lines skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the calibration list ({exc.strerror})") from None
    paths = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not paths:
        raise DataError(f"{path}: calibration list is empty")
    return paths


def calibration_features(data_dir: str | Path, paths: list[str],
                         frontend: FrontendConfig) -> np.ndarray:
    """int8 (len(paths), frames, coeffs) front-end codes of the calibration clips."""
    from kws.audio import read_audio
    from kws.frontend import mfcc_batch

    n = frontend.clip_samples
    audio = np.zeros((len(paths), n), dtype=np.int16)
    for i, rel in enumerate(paths):
        clip = read_audio(Path(data_dir) / rel, frontend.sample_rate_hz)[:n]
        audio[i, :clip.size] = clip
    return mfcc_batch(audio, frontend)


def representative_rows(features: np.ndarray) -> list[np.ndarray]:
    """Converter calibration inputs: float32 (1, frames, coeffs, 1) per clip.

    The first row is the first clip with two cells set to -128 and 127, so the input range
    seen by the converter is exactly -128..127 and its input scale exactly 1.0.
    """
    rows = [f.astype(np.float32)[None, :, :, None] for f in features]
    range_row = rows[0].copy()
    range_row[0, 0, 0, 0] = -128.0
    range_row[0, 0, 1, 0] = 127.0
    return [range_row, *rows]


# --------------------------------------------------------------------------------------------
# Conversion (TensorFlow)
# --------------------------------------------------------------------------------------------

LOGIT_MARGIN = 1e-3
"""Added to the logit shift so that float rounding cannot leave the smallest calibration
logit just below zero."""


def shift_logits_to_nonnegative(float_model: Any, rows: list[np.ndarray]) -> float:
    """Add one constant to every classifier bias so the smallest calibration logit is 0.

    Softmax does not change (it is invariant to a common shift), but the int8 logits then
    have zero point -128 and every negative accumulator saturates to -128 in any runtime.
    Without it, LiteRT's optimized kernels and TFLite Micro round negative near-tie logits
    differently (one code apart in a few percent of windows). Returns the shift (logits).
    """
    import keras

    classifier = float_model.get_layer("classifier")
    logits = keras.Model(float_model.input, classifier.output)
    batch = np.concatenate(rows)
    lowest = float(np.min(logits.predict(batch, batch_size=256, verbose=0)))
    shift = max(0.0, -lowest) + LOGIT_MARGIN
    kernel, bias = classifier.get_weights()
    classifier.set_weights([kernel, (bias + shift).astype(bias.dtype)])
    return shift


def convert_int8(float_model: Any, rows: list[np.ndarray]) -> bytes:
    """Full-int8 .tflite bytes of a batch-1 Keras model, calibrated on ``rows``.

    Asserts the contract: int8 input with scale 1.0 / zero point 0, int8 output with scale
    1/256 / zero point -128 (ModelError otherwise).
    """
    import tensorflow as tf

    def representative() -> Any:
        for row in rows:
            yield [row]

    converter = tf.lite.TFLiteConverter.from_keras_model(float_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    from kws.runtime import _quiet_native_output

    with _quiet_native_output():  # the converter prints its graph; errors still raise
        tflite = bytes(converter.convert())
    _check_contract(tflite)
    return tflite


def _check_contract(tflite: bytes) -> None:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    if inp["dtype"] != np.int8 or inp["quantization"] != INPUT_QUANT:
        raise ModelError(f"int8 model input is {inp['dtype'].__name__} with quantization "
                         f"{inp['quantization']}, expected int8 {INPUT_QUANT}")
    scale, zero = out["quantization"]
    if out["dtype"] != np.int8 or abs(scale - OUTPUT_QUANT[0]) > 1e-9 or \
            zero != OUTPUT_QUANT[1]:
        raise ModelError(f"int8 model output is {out['dtype'].__name__} with quantization "
                         f"{out['quantization']}, expected int8 {OUTPUT_QUANT}")


# --------------------------------------------------------------------------------------------
# Metadata, manifest, the whole job
# --------------------------------------------------------------------------------------------

def build_metadata(model_name: str, frontend: FrontendConfig,
                   detector: DetectorConfig | None = None,
                   labels: tuple[str, ...] = LABELS, **extra: Any) -> dict[str, Any]:
    """The kws metadata of a model (see kws.runtime.METADATA_KEYS)."""
    shape = [1, frontend.frames_per_clip, frontend.num_coeffs, 1]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "labels": list(labels),
        "frontend": to_dict(frontend),
        "detector": to_dict(detector or DetectorConfig()),
        "input": {"dtype": "int8", "shape": shape, "scale": INPUT_QUANT[0],
                  "zero_point": INPUT_QUANT[1]},
        "output": {"dtype": "int8", "shape": [1, len(labels)], "scale": OUTPUT_QUANT[0],
                   "zero_point": OUTPUT_QUANT[1]},
        **extra,
    }


def stamp_detectors(model_path: str | Path, detector: DetectorConfig,
                    board_detector: DetectorConfig | None = None,
                    tuning: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write new detector defaults into a model's metadata (the weights do not change).

    ``detector``: the laptop's (metadata ``detector``); ``board_detector``: the one tuned at
    the board's hop (``board_detector``, read by the exporter); ``tuning``: how they were
    chosen (``detector_tuning``). The file is replaced atomically; a ``manifest.json``
    beside it gets the new size and sha256 of the file and the tuning summary. Returns the
    new metadata.
    """
    from kws.runtime import read_metadata

    path = Path(model_path)
    recover_published_set(path.parent)
    meta = read_metadata(path)
    meta["detector"] = to_dict(detector)
    for key, value in (("board_detector", board_detector and to_dict(board_detector)),
                       ("detector_tuning", tuning)):
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    publish_metadata(path, meta, manifest_section=(
        "detector", {"detector": meta["detector"], "board_detector": meta.get("board_detector"),
                     "tuning": tuning}))
    return meta


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class QuantizeResult:
    """What ``kws quantize`` made: the two model files, the manifest and its content."""

    model_path: Path
    device_path: Path
    manifest_path: Path
    manifest: dict[str, Any]


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of scores (N, classes) against int labels (N,), in [0, 1]."""
    return float(np.mean(np.argmax(scores, axis=1) == labels)) if len(labels) else 0.0


def quantize_run(run_dir: str | Path, data_dir: str | Path,
                 calibration_list: str | Path = CALIBRATION_LIST,
                 splits: tuple[str, ...] = ("validation", "test"),
                 data: Any = None, detector: DetectorConfig | None = None,
                 feature_cache: str | Path | None = None) -> QuantizeResult:
    """Quantize ``run_dir/model.keras`` into model.tflite, model_device.tflite, manifest.json.

    Accuracies (float Keras vs int8 LiteRT) are measured on ``splits`` of the dataset and
    written into the manifest; nothing is chosen from them. ``data``: a kws.run
    TrainingData replacing the dataset of ``data_dir`` (tests). ``detector``: the detector
    defaults written into the metadata (default: DetectorConfig()). ``feature_cache``:
    folder of the clean-feature cache the splits' features come from (``kws prepare``'s,
    default kws.data.default_cache_dir()).
    """
    from kws.model import build_model
    from kws.run import (
        FLOAT_MODEL_NAME,
        load_float_model,
        load_run,
        make_training_data,
        split_features,
    )
    from kws.runtime import smallest_arena_size

    run = Path(run_dir)
    recover_published_set(run)  # finish or drop what a killed quantize left
    remove_stale_temps(run)
    config, raw = load_run(run)
    keras_path = run / FLOAT_MODEL_NAME
    if not keras_path.exists():
        raise ModelError(f"{run}: no {FLOAT_MODEL_NAME} (has training finished?)")
    trained = load_float_model(keras_path)
    batch1 = build_model(config.model, config.frontend, batch_size=1)
    batch1.set_weights(trained.get_weights())

    cal_paths = read_calibration_list(calibration_list)
    cal = calibration_features(data_dir, cal_paths, config.frontend)
    rows = representative_rows(cal)
    logit_shift = shift_logits_to_nonnegative(batch1, rows)
    tflite = convert_int8(batch1, rows)
    metadata = build_metadata(config.model.name, config.frontend, detector,
                              data_fingerprint=raw.get("data_fingerprint"),
                              training={"train_splits": list(config.train.train_splits),
                                        "tuning_percent": config.data.tuning_percent})
    full = add_metadata(tflite, metadata)
    device = strip_for_device(full)
    model_path, device_path = run / "model.tflite", run / "model_device.tflite"
    written = {model_path.name: full, device_path.name: device}  # published with the manifest

    data = data or make_training_data(data_dir, config, feature_cache)
    int8_model = KwsModel(full, config.frontend)
    results: dict[str, dict[str, float | int]] = {}
    for split in splits:
        clips = data.clips(split)
        feats = split_features(data, split, config.frontend)
        float_scores = trained.predict(feats.astype(np.float32)[..., None], batch_size=512,
                                       verbose=0)
        results[split] = {"clips": int(len(clips.labels)),
                          "held_out": split not in config.train.train_splits,
                          "float": round(accuracy(float_scores, clips.labels), 5),
                          "int8": round(accuracy(int8_model.predict(feats), clips.labels), 5)}
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_name": config.model.name,
        "config": config.to_dict(),
        "data_fingerprint": raw.get("data_fingerprint"),
        "calibration": {"list": Path(calibration_list).name, "clips": len(cal_paths),
                        "sha256": sha256_file(Path(calibration_list)),
                        "logit_shift": round(logit_shift, 6)},
        "accuracy": results,
        "tensor_arena_bytes": smallest_arena_size(device),
        "files": {name: {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
                  for name, payload in written.items()},
    }
    manifest_path = run / "manifest.json"
    written[manifest_path.name] = (json.dumps(manifest, indent=2) + "\n").encode()
    publish_files(run, written)  # model.tflite, model_device.tflite, manifest.json: one set
    return QuantizeResult(model_path, device_path, manifest_path, manifest)

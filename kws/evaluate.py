"""Accuracy of an int8 keyword model on a dataset split, and proof that the board agrees.

    split clips (kws.data) -> int8 features (kws.frontend, through kws.data's feature cache)
      -> int8 model in LiteRT, optimized and reference kernels (delegates off)
      -> the device copy in TFLite Micro's interpreter: outputs compared with LiteRT
      -> float model (model.keras beside the .tflite, if any; needs TensorFlow)
      -> accuracy (all clips and word clips only), per-class accuracy, confusion matrix PNG,
         the smallest TFLite Micro tensor arena, evaluation.json

The word-clip accuracy leaves out the ``_silence_`` clips that kws.data cuts from the
background noise, so on the mini corpus it is measured on exactly the 476 clips of
testing_list.txt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kws.config import from_dict, load_json
from kws.errors import ConfigError, DataError
from kws.fileio import atomic_path, atomic_write_text
from kws.model_file import load_model_bytes
from kws.outpaths import check_out_dir, writing
from kws.runtime import KwsModel, MicroModel, check_device_copy, smallest_arena_size


@dataclass(frozen=True)
class Evaluation:
    """Everything ``kws evaluate`` measured (also written as evaluation.json)."""

    report: dict[str, Any]
    out_dir: Path


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 (num_classes, num_classes): row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """float64 (classes,): diagonal / row sums (NaN for a class without clips)."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def plot_confusion(matrix: np.ndarray, labels: tuple[str, ...], path: Path, title: str) -> None:
    """Confusion matrix PNG (counts in the cells; rows true, columns predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    try:
        with writing(path), atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)


def _data_config_for(model_path: Path) -> tuple[Any, str]:
    """The DataConfig of the run the model came from (config.json or manifest beside it),
    else the defaults; and where it came from."""
    from kws.data import DataConfig

    candidates = [model_path.parent / "config.json",
                  model_path.with_name(model_path.stem + ".manifest.json"),
                  model_path.parent / "manifest.json"]
    for path in candidates:
        if path.is_file():
            try:
                raw = load_json(path)
            except ConfigError:
                continue
            nested = raw.get("config")
            data = raw.get("data", nested.get("data") if isinstance(nested, dict) else None)
            if isinstance(data, dict):
                return from_dict(DataConfig, data, "data."), path.name
    return DataConfig(), "defaults"


def _device_copy(model_path: Path) -> tuple[bytes, str]:
    """The TFLite Micro copy: model_device.tflite beside the model, else stripped now."""
    beside = model_path.with_name(model_path.stem + "_device.tflite")
    if beside.is_file():
        return load_model_bytes(beside)[0], beside.name
    from kws.model_edit import strip_for_device

    return strip_for_device(model_path.read_bytes()), f"{model_path.name} (stripped now)"


def evaluate(model_path: str | Path, data_dir: str | Path, split: str = "test",
             out_dir: str | Path | None = None, max_clips: int | None = None,
             data: Any = None, feature_cache: str | Path | None = None) -> Evaluation:
    """Evaluate the int8 ``model_path`` on ``split`` of the dataset in ``data_dir``.

    Writes confusion_<split>.png and evaluation_<split>.json into ``out_dir`` (default: the
    model's folder). ``max_clips`` evaluates only the first clips (tests); ``data``: a
    kws.run TrainingData (e.g. kws.data.SpeechCommandsData) to use instead of indexing
    ``data_dir``. ``feature_cache``: folder of the clean-feature cache the split's features
    come from (``kws prepare``'s, default kws.data.default_cache_dir()).
    """
    from kws.run import split_features

    model_path = Path(model_path)
    if out_dir:                                 # before the work: can it be written?
        out = check_out_dir(Path(out_dir), "--out")
    model = KwsModel(model_path)
    if not out_dir:
        out = check_out_dir(model_path.parent, "the model's folder")

    if data is None:
        from kws.data.training import SpeechCommandsData

        data_config, data_source = _data_config_for(model_path)
        data = SpeechCommandsData(data_dir, data_config, feature_cache)
    else:
        data_source = "given"
    labels = data.clips(split).labels
    words = data.word_clip_mask(split)
    if len(labels) == 0:
        raise DataError(f"{data_dir}: split {split!r} has no clips")
    features = split_features(data, split, model.frontend_config)
    if max_clips is not None:
        features, labels, words = features[:max_clips], labels[:max_clips], words[:max_clips]

    scores = model.predict(features)  # optimized kernels
    reference = KwsModel(model_path, kernels="reference").predict(features)
    device_bytes, device_name = _device_copy(model_path)
    check_device_copy(device_bytes, model.metadata, str(model_path.with_name(device_name)))
    arena = smallest_arena_size(device_bytes)
    with MicroModel(device_bytes, arena) as micro_model:
        micro = micro_model.predict(features)

    n = len(model.labels)
    predicted = np.argmax(scores, axis=1)
    matrix = confusion_matrix(labels, predicted, n)
    per_class = per_class_accuracy(matrix)
    report: dict[str, Any] = {
        "model": str(model_path),
        "model_name": model.name,
        "split": split,
        "data_config": data_source,
        "clips": int(len(labels)),
        "word_clips": int(words.sum()),
        "int8": {"accuracy": float(np.mean(predicted == labels)),
                 "word_accuracy": float(np.mean(predicted[words] == labels[words]))},
        "per_class_int8": {label: (None if np.isnan(acc) else round(float(acc), 4))
                           for label, acc in zip(model.labels, per_class, strict=True)},
        "confusion_int8": matrix.tolist(),
        "tflite_micro": {
            "device_model": device_name,
            "device_bytes": len(device_bytes),
            "tensor_arena_bytes": arena,
            "differing_outputs_vs_litert_optimized": int(np.any(micro != scores, 1).sum()),
            "differing_outputs_vs_litert_reference": int(np.any(micro != reference, 1).sum()),
        },
    }
    keras_path = model_path.parent / "model.keras"
    if keras_path.is_file():
        from kws.run import load_float_model

        float_model = load_float_model(keras_path)
        probs = float_model.predict(features.astype(np.float32)[..., None], batch_size=512,
                                    verbose=0)
        float_pred = np.argmax(probs, axis=1)
        report["float"] = {"accuracy": float(np.mean(float_pred == labels)),
                           "word_accuracy": float(np.mean(float_pred[words] == labels[words])),
                           "model": keras_path.name}
    plot_confusion(matrix, model.labels, out / f"confusion_{split}.png",
                   f"{model.name} int8, {split} split ({len(labels)} clips): "
                   f"{report['int8']['accuracy']:.1%}")
    with writing(out / f"evaluation_{split}.json"):
        atomic_write_text(out / f"evaluation_{split}.json", json.dumps(report, indent=2) + "\n")
    return Evaluation(report, out)


def format_report(report: dict[str, Any]) -> str:
    """The human summary ``kws evaluate`` prints."""
    lines = [f"{report['model']} ({report['model_name']}), {report['split']} split: "
             f"{report['clips']} clips, {report['word_clips']} of them word clips"]
    for kind in ("float", "int8"):
        if kind in report:
            lines.append(f"  {kind:5s} accuracy {report[kind]['accuracy']:.4f} "
                         f"(word clips {report[kind]['word_accuracy']:.4f})")
    per = "  ".join(f"{k} {'-' if v is None else f'{v:.2f}'}"
                    for k, v in report["per_class_int8"].items())
    lines.append(f"  per class (int8): {per}")
    micro = report["tflite_micro"]
    lines.append(f"  TFLite Micro on {micro['device_model']} ({micro['device_bytes']} bytes): "
                 f"{micro['differing_outputs_vs_litert_optimized']} of {report['clips']} outputs "
                 "differ from LiteRT (optimized kernels, delegates off), "
                 f"{micro['differing_outputs_vs_litert_reference']} from LiteRT (reference "
                 "kernels)")
    lines.append(f"  smallest TFLite Micro tensor arena: {micro['tensor_arena_bytes']} bytes")
    return "\n".join(lines)

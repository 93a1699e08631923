"""``kws wakeword "PHRASE"``: from a phrase to a tuned int8 model that ``kws export`` takes.

    configs/wakeword.yaml (frontend, model, train, data, wakeword sections)
      -> voices: every take of kws.wakeword.data (synthesized once, cached in the run folder)
      -> data: positives, negatives, silence; clip_ms from the takes (long phrases: > 1 s)
      -> train: kws.train.train, the DS-CNN of the config (or of a backbone run,
         kws.wakeword.backbone) with len(labels) outputs, the best validation epoch kept
         -> config.json, model.keras, history.json, checkpoint.npz, training_curve.png
      -> quantize: kws.quantize's converter, logit shift, metadata (labels, front end,
         detector, phrase), device copy -> model.tflite, model_device.tflite, manifest.json
      -> tune: kws.tuning's grid on streams of held-out takes among held-out negatives, at
         the laptop's and the board's hop -> the detectors stamped into the metadata

Each stage shows a tqdm bar on stderr (``progress``); stdout gets one line per stage.
The run folder: ``config.json``, ``takes_<hash>.npz`` (the synthesized takes), ``model.keras``,
``history.json``, ``checkpoint.npz``, ``training_curve.png``, ``model.tflite``,
``model_device.tflite``, ``manifest.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kws.config import DetectorConfig, FrontendConfig, from_dict, load_yaml, to_dict
from kws.data.config import DataConfig
from kws.data.streams import TruthEvent, noise_bed
from kws.errors import ConfigError, DataError
from kws.labels import UNKNOWN, wakeword_labels
from kws.run import SECTIONS, RunConfig
from kws.wakeword.backbone import Backbone, adopt_backbone, load_backbone, load_body
from kws.wakeword.data import (
    LEVEL_DBFS,
    WakewordData,
    WakewordSpec,
    auto_clip_ms,
    read_recordings,
    synthesize_takes,
)

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "wakeword.yaml"
"""The shipped recipe of ``kws wakeword``."""
CALIBRATION_CLIPS = 200
"""Training clips (seeded choice) that calibrate the int8 conversion."""
WAKEWORD_SECTION = "wakeword"


@dataclasses.dataclass(frozen=True)
class WakewordResult:
    """What a run made and how long each stage took (seconds)."""

    out: Path
    model_path: Path
    labels: tuple[str, ...]
    clip_ms: float
    stage_seconds: dict[str, float]
    manifest: dict[str, Any]


def load_wakeword_config(path: str | Path = DEFAULT_CONFIG, epochs: int | None = None
                         ) -> tuple[RunConfig, WakewordSpec]:
    """The run sections (frontend, model, train, data) and the ``wakeword`` section of a
    YAML file; ``epochs`` overrides train.epochs. ConfigError names a bad section or key."""
    raw = load_yaml(path)
    unknown = sorted(set(raw) - {*SECTIONS, WAKEWORD_SECTION})
    if unknown:
        raise ConfigError(f"{path}: unknown section {unknown[0]!r} "
                          f"(known: {', '.join((*SECTIONS, WAKEWORD_SECTION))})")
    train = dict(raw.get("train") or {})
    if epochs is not None:
        train["epochs"] = epochs
        train["warmup_epochs"] = min(int(train.get("warmup_epochs", 0)), max(0, epochs - 1))
    from kws.config import ModelConfig, TrainConfig

    config = RunConfig(frontend=from_dict(FrontendConfig, raw.get("frontend"), "frontend."),
                       model=from_dict(ModelConfig, raw.get("model"), "model."),
                       train=from_dict(TrainConfig, train, "train."),
                       data=from_dict(DataConfig, raw.get("data"), "data."))
    return config, from_dict(WakewordSpec, raw.get(WAKEWORD_SECTION), "wakeword.")


def _bar(enabled: bool) -> Callable[[str, int], Any] | None:
    if not enabled:
        return None
    from tqdm import tqdm

    return lambda desc, total: tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                                    dynamic_ncols=True)


# --------------------------------------------------------------------------------------------
# Training (the DS-CNN with len(labels) outputs)
# --------------------------------------------------------------------------------------------

def train_float(data: WakewordData, config: RunConfig, out: Path,
                progress: Callable[[str, int], Any] | None = None,
                log: Callable[[str], None] = print, backbone: Backbone | None = None,
                trainable_blocks: int = 1, run_info: dict[str, Any] | None = None) -> Any:
    """Train the model of ``config`` on ``data`` with kws.train.train (its epoch features,
    schedule, SpecAugment, mixup, weight averaging, checkpoints; ``len(data.labels)``
    outputs) into ``out`` and return the float Keras model it kept. With a ``backbone``
    (``config.model`` must be its body: :func:`adopt_backbone`), the model starts from its
    stem and blocks, all but the last ``trainable_blocks`` frozen. ``run_info``: more keys
    for ``out/config.json``.
    """
    from kws.run import FLOAT_MODEL_NAME, load_float_model
    from kws.train import train

    prepare = None
    if backbone is not None:
        source = load_float_model(backbone.run / FLOAT_MODEL_NAME)

        def prepare(model: Any) -> None:
            copied = load_body(model, source, trainable_blocks)
            log(f"train: {copied} layers from the backbone {backbone.run}, the last "
                f"{trainable_blocks} blocks and the classifier train")

    bar = progress("train", config.train.epochs) if progress else None
    try:
        result = train(config, None, out, data=data, progress=False, prepare_model=prepare,
                       run_info=run_info, log=lambda _: None,
                       on_epoch_end=(lambda _: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    log(f"train: kept epoch {result.best_epoch} of {result.epochs_run}, validation "
        f"accuracy {result.best_val_accuracy:.4f}")
    return load_float_model(out / FLOAT_MODEL_NAME)


# --------------------------------------------------------------------------------------------
# Quantization (kws.quantize's path, the label set of the data)
# --------------------------------------------------------------------------------------------

def calibration_clips(data: WakewordData, count: int = CALIBRATION_CLIPS,
                      seed: int = 0) -> np.ndarray:
    """int16 (count, clip_samples): a seeded choice of clean training clips."""
    train = data.clips("train")
    picks = np.sort(np.random.default_rng([seed, 3]).permutation(len(train))[:count])
    return train.audio[picks]


def quantize_model(model: Any, data: WakewordData, config: RunConfig, out: Path,
                   phrase: str, backbone: Backbone | None = None) -> dict[str, Any]:
    """int8 model.tflite (metadata: labels, front end, stock detector, phrase),
    model_device.tflite and manifest.json in ``out``, published as one set (kws.publish);
    the manifest names the ``backbone`` the model started from.
    Returns the manifest."""
    from kws.frontend import mfcc_batch
    from kws.model import build_model
    from kws.publish import publish_files
    from kws.quantize import (
        accuracy,
        add_metadata,
        build_metadata,
        convert_int8,
        representative_rows,
        shift_logits_to_nonnegative,
        strip_for_device,
    )
    from kws.runtime import KwsModel, smallest_arena_size

    labels = data.labels
    batch1 = build_model(config.model, config.frontend, num_classes=len(labels), batch_size=1)
    batch1.set_weights(model.get_weights())
    rows = representative_rows(mfcc_batch(calibration_clips(data), config.frontend))
    shift = shift_logits_to_nonnegative(batch1, rows)
    tflite = convert_int8(batch1, rows)
    metadata = build_metadata(config.model.name, config.frontend, DetectorConfig(),
                              labels=labels, data_fingerprint=data.fingerprint,
                              training={"train_splits": ["train"], "tuning_percent": None},
                              wakeword={"phrase": phrase, "recordings": data.recordings})
    full = add_metadata(tflite, metadata)
    device = strip_for_device(full)
    int8 = KwsModel(full, config.frontend)
    results = {}
    for split in ("train", "validation"):
        clips = data.clips(split)
        feats = mfcc_batch(clips.audio, config.frontend)
        results[split] = {
            "clips": len(clips),
            "float": round(accuracy(model.predict(feats.astype(np.float32)[..., None],
                                                  batch_size=512, verbose=0), clips.labels), 5),
            "int8": round(accuracy(int8.predict(feats), clips.labels), 5)}
    written = {"model.tflite": full, "model_device.tflite": device}
    manifest = {
        "phrase": phrase, "labels": list(labels), "model_name": config.model.name,
        "config": config.to_dict(), "data_fingerprint": data.fingerprint,
        "backbone": None if backbone is None else backbone.record(),
        "counts": data.counts(), "calibration": {"clips": CALIBRATION_CLIPS,
                                                 "logit_shift": round(shift, 6)},
        "accuracy": results, "tensor_arena_bytes": smallest_arena_size(device),
        "files": {name: {"bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                  for name, b in written.items()}}
    written["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
    publish_files(out, written)
    return manifest


# --------------------------------------------------------------------------------------------
# Detector tuning on streams of held-out takes
# --------------------------------------------------------------------------------------------

def clip_stream(phrase_takes: Sequence[np.ndarray], other_takes: Sequence[np.ndarray],
                noise: Sequence[np.ndarray], label: str, minutes: float, snr_db: float | None,
                seed: int, keyword_fraction: float = 0.5,
                gaps_s: tuple[float, float] = (0.5, 2.5)) -> tuple[np.ndarray, list[TruthEvent]]:
    """A stream of takes (int16 spoken parts): each event the phrase with probability
    ``keyword_fraction`` (takes cycled in a seeded order) else another take, at a random
    level (LEVEL_DBFS), a uniform gap after it, over a noise bed (kws.data.streams.noise_bed)
    whose gain puts every take ``snr_db`` dB above it (active speech power), linear in
    between. Returns (int16 (minutes x 960000,), truth: phrase events labelled ``label``,
    others _unknown_)."""
    from kws.audio import active_power, snr_gain
    from kws.voices import fit_level

    if not phrase_takes or (keyword_fraction < 1 and not other_takes):
        raise DataError("a tuning stream needs phrase takes and other takes")
    rng = np.random.default_rng(seed)
    total = int(round(minutes * 60 * 16000))
    speech = np.zeros(total)
    pools = {label: list(rng.permutation(len(phrase_takes))),
             UNKNOWN: list(rng.permutation(len(other_takes)))}
    cursor = dict.fromkeys(pools, 0)
    events, powers, t = [], [], 16000
    while True:
        name = label if rng.random() < keyword_fraction else UNKNOWN
        source = phrase_takes if name == label else other_takes
        take = fit_level(source[pools[name][cursor[name] % len(pools[name])]],
                         float(rng.uniform(*LEVEL_DBFS)))
        cursor[name] += 1
        t = (t + 15) // 16 * 16                        # whole milliseconds
        if t + take.size > total:
            break
        speech[t:t + take.size] = take
        events.append(TruthEvent(t // 16, -(-(t + take.size) // 16), name))
        powers.append(active_power(take))
        t += take.size + int(rng.uniform(*gaps_s) * 16000)
    if snr_db is None:
        return np.clip(np.rint(speech), -32768, 32767).astype(np.int16), events
    bed = noise_bed(noise, total, rng)
    xs, ys = [], []
    for e, p in zip(events, powers, strict=True):
        a, b = e.start_ms * 16, e.end_ms * 16
        g = snr_gain(p, float(np.mean(bed[a:b] ** 2)), snr_db)
        xs += [a, b - 1]
        ys += [g, g]
    gain = np.interp(np.arange(total, dtype=np.float64), xs, ys) if xs else np.zeros(total)
    return np.clip(np.rint(speech + gain * bed), -32768, 32767).astype(np.int16), events


def tuning_streams(data: WakewordData, spec: WakewordSpec) -> list[Any]:
    """kws.tuning streams of the held-out takes: one per SNR of ``spec`` (half phrase, half
    other takes) and a phrase-only stream at 20 dB for the latency bound."""
    from kws.tuning import BOUND_SNR_DB, TuningStream

    label = data.labels[0]
    out = []
    for i, snr in enumerate(spec.tune_snrs_db):
        audio, truth = clip_stream(data.tuning["phrase"], data.tuning["other"],
                                   data.noise_validation, label, spec.tune_minutes, snr,
                                   spec.seed + 10 + i)
        out.append(TuningStream(f"held-out {snr:g} dB", audio, truth, False))
    audio, truth = clip_stream(data.tuning["phrase"], data.tuning["other"],
                               data.noise_validation, label, max(1.0, spec.tune_minutes / 3),
                               BOUND_SNR_DB, spec.seed + 20, keyword_fraction=1.0)
    out.append(TuningStream(f"held-out phrase only {BOUND_SNR_DB:g} dB", audio, truth, True))
    return out


def tune_model(model_path: Path, data: WakewordData, spec: WakewordSpec,
               progress: Callable[[str, int], Any] | None = None,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Tune the laptop and board detectors of ``model_path`` (kws.tuning's grid and rule
    within ``spec.fa_per_hour``) and stamp them into its metadata; returns the summary."""
    from kws.board import board_hop_frames
    from kws.quantize import stamp_detectors, strip_for_device
    from kws.runtime import KwsModel
    from kws.tflite_ops import parse_tflite
    from kws.tuning import choose, evaluate_grid

    model = KwsModel(model_path)
    streams = tuning_streams(data, spec)
    laptop_hop = model.detector_config.hop_frames
    board_hop = board_hop_frames(parse_tflite(strip_for_device(model.data)),
                                 model.frontend_config, laptop_hop, meta=model.metadata)
    bar = progress("tune", 2) if progress else None
    results = {}
    for name, hop in (("laptop", laptop_hop), ("board", board_hop)):
        rows = evaluate_grid(model, streams, DetectorConfig(), hop)
        results[name] = choose(rows, spec.fa_per_hour)
        if bar is not None:
            bar.update(1)
        c, f = results[name].config, results[name].figures
        log(f"tune ({name}, hop {hop} frames): window {c.average_window_ms} ms, min count "
            f"{c.min_count}, threshold {c.threshold}, suppression {c.suppression_ms} ms; "
            + "; ".join(f"{x.name}: FRR {100 * x.mean_frr:.1f}%, "
                        f"{x.fa_per_hour_per_keyword:.2f} FA/h" for x in f)
            + ("" if results[name].within_budget else " (NOT within the budget)"))
    if bar is not None:
        bar.close()
    summary = {"split": "held-out takes", "fa_per_hour_per_keyword": spec.fa_per_hour,
               "snrs_db": list(spec.tune_snrs_db), "minutes": spec.tune_minutes,
               "laptop": results["laptop"].to_dict(), "board": results["board"].to_dict()}
    stamp_detectors(model_path, results["laptop"].config, results["board"].config, summary)
    return summary


def retune_wakeword(model_path: Path, data_dir: str | Path | None = None,
                    fa_per_hour: float | None = None, progress: bool = False,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """Tune the detectors of a ``kws wakeword`` model again (``kws tune-detector`` on one:
    another budget, or the board's hop after ``kws measure-board``) on the streams its run
    made: the run folder beside the model gives the phrase, the recipe, the cached takes
    and the recordings; ``data_dir`` (default: the run's) the Speech Commands words.
    DataError when the data are not the run's (fingerprint)."""
    from kws.run import load_run

    run = Path(model_path).parent
    config, raw = load_run(run)         # ConfigError: no readable, valid config.json
    if "phrase" not in raw or "wakeword" not in raw:
        raise ConfigError(f"{run / 'config.json'}: not the config of a kws wakeword run")
    spec = from_dict(WakewordSpec, raw["wakeword"], "wakeword.")
    data_dir = data_dir if data_dir is not None else raw.get("speech_commands")
    bars = _bar(progress)
    takes = synthesize_takes(raw["phrase"], spec, run, _dataset_words(data_dir), bars)
    recorded = read_recordings(raw["recordings"]) if raw.get("recordings") else None
    data = WakewordData(raw["phrase"], spec, takes, config.data, config.frontend, data_dir,
                        recorded)
    if data.fingerprint != raw.get("data_fingerprint"):
        raise DataError(f"{run}: the data differ from those the run trained with "
                        "(another --data, changed recordings or takes); tune with the "
                        "run's own")
    if fa_per_hour is not None:                       # the data keep the run's spec
        spec = dataclasses.replace(spec, fa_per_hour=fa_per_hour)
    return tune_model(Path(model_path), data, spec, bars, log)


def _dataset_words(data_dir: str | Path | None) -> list[str]:
    """The word folders of a Speech Commands folder (none without one)."""
    if data_dir is None:
        return []
    from kws.data.index import BACKGROUND_NOISE_DIR

    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"--data {root}: no such folder")
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and p.name != BACKGROUND_NOISE_DIR)


# --------------------------------------------------------------------------------------------
# The whole job
# --------------------------------------------------------------------------------------------

def build_wakeword(phrase: str, out: str | Path, config_path: str | Path = DEFAULT_CONFIG,
                   data_dir: str | Path | None = None, recordings: str | Path | None = None,
                   epochs: int | None = None, progress: bool = True,
                   log: Callable[[str], None] = print,
                   spec_overrides: dict[str, Any] | None = None) -> WakewordResult:
    """Voices -> data -> train -> quantize -> tune for ``phrase`` into the run folder ``out``
    (see the module docstring). ``data_dir``: a Speech Commands folder for real negative
    words and background noise (else synthetic noise only); ``recordings``: a folder of your
    takes of the phrase; ``spec_overrides``: fields of the wakeword section (``backbone``
    from ``--backbone``; tests)."""
    from kws.outpaths import check_out_dir

    labels = wakeword_labels(phrase)
    config, spec = load_wakeword_config(config_path, epochs)
    if spec_overrides:
        spec = dataclasses.replace(spec, **spec_overrides)
    backbone = load_backbone(spec.backbone) if spec.backbone else None
    if backbone is not None:
        config = adopt_backbone(config, backbone)
        heard = "" if labels[0] in backbone.excluded_words else \
            " (it may have heard real clips of the phrase: no data.exclude_words for it)"
        log(f"backbone: {backbone.run} ({backbone.model.name}, trained on "
            f"{' + '.join(backbone.train_splits)}, without the words "
            f"{list(backbone.excluded_words)}){heard}")
    out = Path(out)
    if (out / "model.keras").exists() or (out / "model.tflite").exists():
        raise ConfigError(f"--out {out}: already holds a wake-word model (choose a new folder)")
    if (out / "checkpoint.npz").exists():
        raise ConfigError(f"--out {out}: holds an unfinished wake-word run (remove its "
                          "checkpoint.npz to train again; its synthesized takes are reused)")
    check_out_dir(out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    bars = _bar(progress)
    seconds: dict[str, float] = {}

    t0 = time.monotonic()
    recorded = read_recordings(recordings) if recordings is not None else None
    takes = synthesize_takes(phrase, spec, out, _dataset_words(data_dir), bars)
    seconds["voices"] = time.monotonic() - t0
    n_phrase = sum(k == "phrase" for k in takes.kinds)
    log(f"voices: {len(takes.audio)} takes ({n_phrase} of {phrase!r}, "
        f"{sum(k == 'near' for k in takes.kinds)} near misses, "
        f"{sum(k == 'other' for k in takes.kinds)} other words) in {seconds['voices']:.0f} s")

    t0 = time.monotonic()
    bar = bars("data", 1) if bars else None
    phrase_takes = [a for a, k in zip(takes.audio, takes.kinds, strict=True) if k == "phrase"]
    clip_ms = spec.clip_ms or auto_clip_ms(phrase_takes + (recorded[0] if recorded else []))
    frontend = dataclasses.replace(config.frontend, clip_ms=clip_ms)
    config = dataclasses.replace(config, frontend=frontend)
    data = WakewordData(phrase, spec, takes, config.data, frontend, data_dir, recorded)
    run_info = {"phrase": phrase, "labels": list(labels), "wakeword": to_dict(spec),
                "backbone": None if backbone is None else backbone.record(),
                "recordings": None if recordings is None else str(recordings),
                "speech_commands": None if data_dir is None else str(data_dir),
                "counts": data.counts()}
    if bar is not None:
        bar.update(1)
        bar.close()
    seconds["data"] = time.monotonic() - t0
    log(f"data: clip {clip_ms:g} ms, {data.counts()} ({seconds['data']:.0f} s)")

    t0 = time.monotonic()
    model = train_float(data, config, out, bars, log, backbone,
                        spec.backbone_trainable_blocks, run_info)
    seconds["train"] = time.monotonic() - t0

    t0 = time.monotonic()
    bar = bars("quantize", 1) if bars else None
    manifest = quantize_model(model, data, config, out, phrase, backbone)
    if bar is not None:
        bar.update(1)
        bar.close()
    seconds["quantize"] = time.monotonic() - t0
    log(f"quantize: int8 validation accuracy {manifest['accuracy']['validation']['int8']:.4f}, "
        f"device copy {manifest['files']['model_device.tflite']['bytes']:,} B, tensor arena "
        f"{manifest['tensor_arena_bytes']:,} B ({seconds['quantize']:.0f} s)")

    t0 = time.monotonic()
    tune_model(out / "model.tflite", data, spec, bars, log)
    seconds["tune"] = time.monotonic() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    log(f"model: {out / 'model.tflite'} (labels {', '.join(labels)}); stage seconds "
        + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    return WakewordResult(out, out / "model.tflite", labels, clip_ms, seconds, manifest)

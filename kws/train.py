"""Training of the DS-CNN (Keras on TensorFlow): augmentation, checkpoints, resume, history.

    train clips (int16) -> speed, equalizer, room (train options) -> kws.data's time shift,
      gain, background noise -> int8 features (kws.frontend)       [all seeded by (seed, epoch)]
      -> SpecAugment masks, shuffle, teachers' targets, mixup      [seeded by (seed, epoch)]
      -> one Keras epoch -> weight average -> validation accuracy -> kept weights, early
         stopping -> checkpoint (atomic)

Everything random in an epoch is a function of ``(seed, epoch)``; what carries over between
epochs (weights, optimizer moments and step, dropout seed state, averaged and kept weights,
history) is in the checkpoint. So a run killed at any moment (even SIGKILL) and resumed with
``--resume`` ends with the same weights as an uninterrupted run (TensorFlow op determinism
is on). The augmented features of an epoch are computed in a background thread while the
previous epoch trains (``--cache DIR`` keeps them for other runs).

Run folder (``--out runs/NAME``):

- ``config.json``      the resolved configs (frontend, model, train, data) and the data hash
- ``checkpoint.npz``   last finished epoch: weights, optimizer, kept weights, history, state
- ``model.keras``      the float model with the kept weights ("best" validation or "last")
- ``history.json``     per-epoch loss, accuracy, validation loss/accuracy, learning rate
- ``training_curve.png``
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kws.config import (
    FrontendConfig,
    ModelConfig,
    TrainConfig,
    from_dict,
    load_yaml,
    to_dict,
)
from kws.data import DataConfig
from kws.data.config import ADDED_LATER
from kws.errors import ConfigError, KwsError
from kws.fileio import atomic_write_bytes, atomic_write_text
from kws.frontend import mfcc_batch
from kws.labels import LABELS

CHECKPOINT_NAME = "checkpoint.npz"
"""Checkpoint file in the run folder (a single file, replaced atomically each epoch)."""
CHECKPOINT_VERSION = 1
"""Layout version of the checkpoint; a different version is refused on resume."""


# --------------------------------------------------------------------------------------------
# The data interface training needs (implemented by kws.data)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipSet:
    """One split's clips: audio int16 (n, clip_samples) at 16 kHz, labels int64 (n,) indexing
    kws.labels.LABELS."""

    audio: np.ndarray
    labels: np.ndarray


class TrainingData(Protocol):
    """What training needs from a dataset: clips of a split and a seeded augmentation.

    ``clips(split)`` -> ClipSet for "train" or "validation" (training never asks for "test");
    ``augment(audio, labels, rng)`` -> int16 (n, samples), a fresh random variant of the
    int16 audio (n, samples) of clips with these labels; ``fingerprint`` -> a short hash of
    everything the data depends on (files, splits, augmentation settings). Evaluation also
    uses ``word_clip_mask(split)`` -> bool (n,), False for _silence_ clips cut from noise.
    """

    def clips(self, split: str) -> ClipSet: ...

    def word_clip_mask(self, split: str) -> np.ndarray: ...

    def augment(self, audio: np.ndarray, labels: np.ndarray,
                rng: np.random.Generator) -> np.ndarray: ...

    @property
    def fingerprint(self) -> str: ...


class SpeechCommandsData:
    """TrainingData over kws.data: the 12-class Speech Commands task of a dataset folder.

    Splits, _silence_ / _unknown_ and augmentation (time shift, gain, background noise) are
    kws.data's (DataConfig). ``fingerprint``: sha256 of the data settings, the int16 audio
    and labels of the train and validation splits and the training noise, i.e. of exactly
    what training sees.
    """

    def __init__(self, data_dir: str | Path, config: DataConfig) -> None:
        from kws.data import Augmenter, index_dataset, load_noise

        self.config = config
        self.index = index_dataset(data_dir, config)
        self._noise = load_noise(self.index, "train")
        self._augmenter = Augmenter(config, self._noise)
        self._clips: dict[str, ClipSet] = {}
        self._fingerprint: str | None = None

    def clips(self, split: str) -> ClipSet:
        from kws.data import load_split_audio

        if split not in self._clips:
            audio, labels = load_split_audio(self.index, split)
            self._clips[split] = ClipSet(audio, labels)
        return self._clips[split]

    def word_clip_mask(self, split: str) -> np.ndarray:
        """bool (n,): True for the clips of word folders (False for cut _silence_ clips)."""
        from kws.data.index import BACKGROUND_NOISE_DIR

        return np.array([clip.path.parent.name != BACKGROUND_NOISE_DIR
                         for clip in self.index.split(split)])

    def augment(self, audio: np.ndarray, labels: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
        return self._augmenter.augment(audio, rng)

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            settings = to_dict(self.config)
            for name in ADDED_LATER:
                if settings[name] is None:
                    del settings[name]      # off: older runs keep their hash
            digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
            for split in ("train", "validation"):
                clips = self.clips(split)
                digest.update(split.encode())
                digest.update(clips.labels.astype("<i8").tobytes())
                digest.update(np.ascontiguousarray(clips.audio).astype("<i2").tobytes())
            for recording in self._noise:
                digest.update(recording.astype("<i2").tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint


def make_training_data(data_dir: str | Path, config: RunConfig) -> SpeechCommandsData:
    """The dataset of ``data_dir`` with the run's data settings (kws.data)."""
    return SpeechCommandsData(data_dir, config.data)


# --------------------------------------------------------------------------------------------
# Configs of a run
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunConfig:
    """Everything a training run is built from (one YAML file: frontend, model, train, data)."""

    frontend: FrontendConfig
    model: ModelConfig
    train: TrainConfig
    data: DataConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the ``config.json`` of a run)."""
        return {"frontend": to_dict(self.frontend), "model": to_dict(self.model),
                "train": to_dict(self.train), "data": to_dict(self.data)}


def load_run_config(path: str | Path, epochs: int | None = None,
                    seed: int | None = None) -> RunConfig:
    """Read configs/ds_cnn_*.yaml; ``epochs`` / ``seed`` override the train section."""
    raw = load_yaml(path)
    unknown = sorted(set(raw) - {"frontend", "model", "train", "data"})
    if unknown:
        raise ConfigError(f"{path}: unknown section {unknown[0]!r} "
                          "(known: frontend, model, train, data)")
    train_raw = dict(raw.get("train") or {})
    if epochs is not None:
        train_raw["epochs"] = epochs
    if seed is not None:
        train_raw["seed"] = seed
    return RunConfig(
        frontend=from_dict(FrontendConfig, raw.get("frontend"), "frontend."),
        model=from_dict(ModelConfig, raw.get("model"), "model."),
        train=from_dict(TrainConfig, train_raw, "train."),
        data=from_dict(DataConfig, raw.get("data"), "data."),
    )


def run_config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Inverse of RunConfig.to_dict (reads a run's config.json)."""
    return RunConfig(
        frontend=from_dict(FrontendConfig, data.get("frontend"), "frontend."),
        model=from_dict(ModelConfig, data.get("model"), "model."),
        train=from_dict(TrainConfig, data.get("train"), "train."),
        data=from_dict(DataConfig, data.get("data"), "data."),
    )


def load_run(run_dir: str | Path) -> tuple[RunConfig, dict[str, Any]]:
    """The RunConfig and the raw config.json (with ``data_fingerprint``) of a run folder."""
    path = Path(run_dir) / "config.json"
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise KwsError(f"{run_dir}: not a training run folder (cannot read {path.name}: "
                       f"{exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise KwsError(f"{path}: corrupt JSON ({exc.msg})") from None
    return run_config_from_dict(raw), raw


# --------------------------------------------------------------------------------------------
# Per-epoch features, a pure function of (data, seed, epoch)
# --------------------------------------------------------------------------------------------

def epoch_rng(seed: int, epoch: int, stream: int) -> np.random.Generator:
    """The generator of one random stream (0 augmentation, 1 masks/order/mixup) of an epoch."""
    return np.random.default_rng([seed, epoch, stream])


def spec_augment(features: np.ndarray, train: TrainConfig,
                 rng: np.random.Generator) -> np.ndarray:
    """SpecAugment on int8 features (n, frames, coeffs): masked cells become 0 (in place)."""
    n, frames, coeffs = features.shape
    for count, largest, axis_len, axis in ((train.time_masks, train.time_mask_frames, frames, 1),
                                           (train.freq_masks, train.freq_mask_coeffs, coeffs, 2)):
        for _ in range(count):
            width = rng.integers(0, largest + 1, n)
            start = rng.integers(0, axis_len, n)
            pos = np.arange(axis_len)
            mask = (pos[None, :] >= start[:, None]) & (pos[None, :] < (start + width)[:, None])
            if axis == 1:
                features[mask[:, :, None].repeat(coeffs, 2)] = 0
            else:
                features[mask[:, None, :].repeat(frames, 1)] = 0
    return features


def speed_perturb(audio: np.ndarray, max_change: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Play each clip faster or slower (tempo and pitch together, like tape), around its centre.

    audio: int16 (n, samples). Factor r uniform in [1 - max_change, 1 + max_change] per clip:
    out[t] = in[c + (t - c) * r] (linear interpolation, c the centre sample), zero outside
    the clip; rounded and clipped to int16. Returns int16 (n, samples).
    """
    if max_change <= 0:
        return audio
    n = audio.shape[1]
    centre = (n - 1) / 2
    t = np.arange(n, dtype=np.float64) - centre
    factors = rng.uniform(1 - max_change, 1 + max_change, len(audio))
    out = np.empty_like(audio)
    grid = np.arange(n, dtype=np.float64)
    for i, factor in enumerate(factors):
        resampled = np.interp(centre + t * factor, grid, audio[i].astype(np.float64),
                              left=0.0, right=0.0)
        out[i] = np.clip(np.rint(resampled), -32768, 32767).astype(np.int16)
    return out


EQ_ANCHORS_HZ = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
"""Frequencies of the random equalizer's gain points (log-spaced, one per octave)."""
REVERB_RT60_S = (0.1, 0.6)
"""Range of the synthetic rooms' reverberation time (60 dB decay), in seconds."""


def _to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(audio), -32768, 32767).astype(np.int16)


def random_eq(audio: np.ndarray, max_db: float, rng: np.random.Generator,
              rate_hz: int = 16000) -> np.ndarray:
    """A different microphone per clip: int16 (n, samples) -> int16, each clip filtered with
    a smooth gain curve (linear in log frequency) through random gains in [-max_db, max_db]
    dB at EQ_ANCHORS_HZ. 0 dB everywhere leaves the audio unchanged."""
    if max_db <= 0:
        return audio
    n = audio.shape[1]
    log_f = np.log2(np.maximum(np.fft.rfftfreq(n, 1 / rate_hz), EQ_ANCHORS_HZ[0]))
    anchors = np.log2(EQ_ANCHORS_HZ)
    # Linear interpolation as a matrix: curve_db = gains_db @ weights, (bins, anchors) weights.
    weights = np.stack([np.interp(log_f, anchors, np.eye(len(anchors))[k])
                        for k in range(len(anchors))], axis=1)
    gains_db = rng.uniform(-max_db, max_db, (len(audio), len(anchors)))
    out = np.empty_like(audio)
    for start in range(0, len(audio), 256):
        block = slice(start, start + 256)
        gain = 10 ** ((gains_db[block] @ weights.T) / 20)
        spectrum = np.fft.rfft(audio[block].astype(np.float32), axis=1) * gain
        out[block] = _to_int16(np.fft.irfft(spectrum, n=n, axis=1))
    return out


def random_reverb(audio: np.ndarray, prob: float, rng: np.random.Generator,
                  rate_hz: int = 16000) -> np.ndarray:
    """A room for some clips: with probability ``prob`` a clip (int16 (n, samples)) is
    convolved with direct sound + exponentially decaying noise (RT60 in REVERB_RT60_S, the
    reverberant part's energy 0.1-1 times the direct sound's), energy kept; int16 out."""
    out = audio.copy()
    if prob <= 0:
        return out
    n = audio.shape[1]
    chosen = np.flatnonzero(rng.random(len(audio)) < prob)
    for i in chosen:
        rt60 = rng.uniform(*REVERB_RT60_S)
        length = int(rt60 * rate_hz)
        t = np.arange(1, length + 1) / rate_hz
        tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
        tail *= np.sqrt(rng.uniform(0.1, 1.0) / np.sum(tail ** 2))
        response = np.concatenate([[1.0], tail])
        size = 1 << int(np.ceil(np.log2(n + length + 1)))
        wet = np.fft.irfft(np.fft.rfft(audio[i].astype(np.float64), size)
                           * np.fft.rfft(response, size), size)[:n]
        wet *= np.sqrt(np.sum(audio[i].astype(np.float64) ** 2) / max(np.sum(wet ** 2), 1e-9))
        out[i] = _to_int16(wet)
    return out


def mixup(x: np.ndarray, y: np.ndarray, train: TrainConfig, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """Mixup within each batch: x float32 (n, ...), y float32 one-hot (n, classes)."""
    if train.mixup_alpha <= 0:
        return x, y
    x, y = x.copy(), y.copy()
    for start in range(0, len(x), train.batch_size):
        if rng.random() >= train.mixup_prob:
            continue
        stop = min(start + train.batch_size, len(x))
        partner = start + rng.permutation(stop - start)
        lam = rng.beta(train.mixup_alpha, train.mixup_alpha, stop - start).astype(np.float32)
        lam = np.maximum(lam, 1 - lam)  # the first clip stays the dominant one
        x[start:stop] = (lam[:, None, None, None] * x[start:stop]
                         + (1 - lam[:, None, None, None]) * x[partner])
        y[start:stop] = lam[:, None] * y[start:stop] + (1 - lam[:, None]) * y[partner]
    return x, y


class EpochFeatures:
    """Augmented int8 features of the training clips for any epoch, prefetched in a thread.

    ``get(epoch)`` -> int8 (n, frames, coeffs), a pure function of (data, seed, epoch);
    ``cache_dir`` (optional) keeps them on disk so runs that share data and seed share work.
    """

    def __init__(self, data: TrainingData, train_set: ClipSet, frontend: FrontendConfig,
                 train: TrainConfig, cache_dir: Path | None = None) -> None:
        self.data, self.train_set, self.frontend, self.train = data, train_set, frontend, train
        self.seed = train.seed
        audio_settings = [train.speed_perturb, train.eq_db, train.reverb_prob]
        key = json.dumps([data.fingerprint, to_dict(frontend), self.seed, len(train_set.labels),
                          *(audio_settings if any(audio_settings) else [])], sort_keys=True)
        self.cache_dir = (cache_dir / hashlib.sha256(key.encode()).hexdigest()[:16]
                          if cache_dir else None)
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: dict[int, Future[np.ndarray]] = {}

    def _compute(self, epoch: int) -> np.ndarray:
        path = self.cache_dir / f"epoch_{epoch:04d}.npy" if self.cache_dir else None
        if path is not None and path.exists():
            try:
                return np.load(path)
            except (OSError, ValueError):
                pass  # a damaged cache file is recomputed
        rate = self.frontend.sample_rate_hz
        audio = speed_perturb(self.train_set.audio, self.train.speed_perturb,
                              epoch_rng(self.seed, epoch, 2))
        audio = random_eq(audio, self.train.eq_db, epoch_rng(self.seed, epoch, 3), rate)
        audio = random_reverb(audio, self.train.reverb_prob, epoch_rng(self.seed, epoch, 4),
                              rate)
        audio = self.data.augment(audio, self.train_set.labels, epoch_rng(self.seed, epoch, 0))
        features = mfcc_batch(audio, self.frontend)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, features)
            tmp.replace(path)
        return features

    def prefetch(self, epoch: int) -> None:
        """Start computing ``epoch`` in the background."""
        if epoch not in self._pending:
            self._pending[epoch] = self._pool.submit(self._compute, epoch)

    def get(self, epoch: int) -> np.ndarray:
        """int8 (n, frames, coeffs) features of ``epoch`` (waits for the prefetch)."""
        self.prefetch(epoch)
        return self._pending.pop(epoch).result()

    def close(self) -> None:
        """Stop the prefetch thread (pending work is abandoned)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------------------------
# Schedule, checkpoint
# --------------------------------------------------------------------------------------------

def learning_rate(train: TrainConfig, epoch: int) -> float:
    """Learning rate of a (0-based) epoch: linear warm-up, then cosine to min or constant."""
    if epoch < train.warmup_epochs:
        frac = (epoch + 1) / (train.warmup_epochs + 1)
        return train.min_learning_rate + frac * (train.learning_rate - train.min_learning_rate)
    if train.schedule == "constant":
        return train.learning_rate
    span = max(1, train.epochs - train.warmup_epochs - 1)
    progress = min(1.0, (epoch - train.warmup_epochs) / span)
    return train.min_learning_rate + 0.5 * (train.learning_rate - train.min_learning_rate) * (
        1 + math.cos(math.pi * progress))


def save_checkpoint(path: Path, model_vars: list[np.ndarray], opt_vars: list[np.ndarray],
                    best_vars: list[np.ndarray], state: dict[str, Any],
                    ema_vars: list[np.ndarray] | None = None) -> None:
    """One .npz with everything a resume needs, written atomically."""
    arrays: dict[str, np.ndarray] = {"state": np.frombuffer(json.dumps(state).encode(),
                                                            dtype=np.uint8)}
    for prefix, values in (("model", model_vars), ("opt", opt_vars), ("best", best_vars),
                           ("ema", ema_vars or [])):
        for i, value in enumerate(values):
            arrays[f"{prefix}_{i:04d}"] = np.asarray(value)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]:
    """(arrays by prefix 'model'/'opt'/'best'/'ema', state) of a checkpoint; KwsError if
    unreadable."""
    try:
        with np.load(path) as npz:
            state = json.loads(npz["state"].tobytes().decode())
            groups: dict[str, list[np.ndarray]] = {"model": [], "opt": [], "best": [],
                                                   "ema": []}
            for name in sorted(n for n in npz.files if n != "state"):
                groups[name.split("_")[0]].append(npz[name])
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise KwsError(f"{path}: unreadable checkpoint ({exc})") from None
    if state.get("version") != CHECKPOINT_VERSION:
        raise KwsError(f"{path}: checkpoint version {state.get('version')!r}, "
                       f"expected {CHECKPOINT_VERSION}")
    return groups, state


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def _update_average(average: list[np.ndarray] | None, current: list[np.ndarray],
                    momentum: float) -> list[np.ndarray]:
    """Exponential moving average of float variables (others, e.g. seed states, follow the
    current value); the first call starts the average at ``current``."""
    if average is None:
        return [v.copy() for v in current]
    return [(momentum * a + (1 - momentum) * c).astype(c.dtype) if c.dtype.kind == "f"
            else c.copy() for a, c in zip(average, current, strict=True)]


def _assign(model: Any, values: list[np.ndarray]) -> None:
    for var, value in zip(model.variables, values, strict=True):
        var.assign(value)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of a run: the best validation accuracy, its epoch (1-based), epochs run."""

    best_val_accuracy: float
    best_epoch: int
    epochs_run: int
    run_dir: Path


def _one_hot(labels: np.ndarray, num_classes: int, smoothing: float) -> np.ndarray:
    y = np.full((len(labels), num_classes), smoothing / num_classes, dtype=np.float32)
    y[np.arange(len(labels)), labels] += 1.0 - smoothing
    return y


def _as_model_input(features: np.ndarray) -> np.ndarray:
    """int8 (n, frames, coeffs) -> float32 (n, frames, coeffs, 1), the codes as values."""
    return features.astype(np.float32)[..., None]


def _log(message: str) -> None:
    print(message, flush=True)


def train(config_path: str | Path, data_dir: str | Path, out_dir: str | Path, *,
          resume: bool = False, epochs: int | None = None, seed: int | None = None,
          cache_dir: str | Path | None = None, progress: bool | None = None,
          data: TrainingData | None = None,
          on_epoch_end: Callable[[int], None] | None = None) -> TrainResult:
    """Train the model of ``config_path`` on the dataset in ``data_dir`` into ``out_dir``.

    ``resume`` continues from ``out_dir/checkpoint.npz`` (the configs must be the same);
    without it, a folder that already holds a checkpoint is refused. ``epochs`` / ``seed``
    override the config's train section. ``cache_dir`` keeps augmented epoch features on disk.
    ``data`` replaces the dataset (tests). ``on_epoch_end(epoch)`` runs after each checkpoint.
    """
    config = load_run_config(config_path, epochs=epochs, seed=seed)
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT_NAME
    if resume:
        if not ckpt_path.exists():
            raise KwsError(f"{out}: nothing to resume (no {CHECKPOINT_NAME})")
        saved, _ = load_run(out)
        if saved.to_dict() != config.to_dict():
            raise KwsError(f"{out}: --resume with a config that differs from the run's "
                           "config.json (same --config, --epochs and --seed please)")
    elif ckpt_path.exists():
        raise KwsError(f"{out}: already holds a run (use --resume to continue it, or a new "
                       "--out)")
    out.mkdir(parents=True, exist_ok=True)

    import keras
    import tensorflow as tf

    from kws.model import build_model

    tf.config.experimental.enable_op_determinism()
    train_cfg = config.train
    keras.utils.set_random_seed(train_cfg.seed)

    data = data or make_training_data(data_dir, config)
    parts = [data.clips(split) for split in train_cfg.train_splits]
    train_set = ClipSet(np.concatenate([p.audio for p in parts]),
                        np.concatenate([p.labels for p in parts]))
    val_set = data.clips("validation")
    val_x = _as_model_input(mfcc_batch(val_set.audio, config.frontend))
    run_info = {**config.to_dict(), "data_fingerprint": data.fingerprint,
                "train_clips": int(len(train_set.labels)),
                "validation_clips": int(len(val_set.labels))}
    if not resume:
        atomic_write_text(out / "config.json", json.dumps(run_info, indent=2) + "\n")

    model = build_model(config.model, config.frontend)
    optimizer = keras.optimizers.Adam(learning_rate=train_cfg.learning_rate)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(),
                  metrics=["categorical_accuracy"])
    optimizer.build(model.trainable_variables)

    history: list[dict[str, float]] = []
    best_acc, best_epoch, wait, start = -1.0, 0, 0, 0
    best_vars = [v.numpy() for v in model.variables]
    ema_vars: list[np.ndarray] | None = None
    if resume:
        groups, state = load_checkpoint(ckpt_path)
        if len(groups["model"]) != len(model.variables) or \
                len(groups["opt"]) != len(optimizer.variables):
            raise KwsError(f"{ckpt_path}: does not match the model of the config")
        for var, value in zip(model.variables, groups["model"], strict=True):
            var.assign(value)
        for var, value in zip(optimizer.variables, groups["opt"], strict=True):
            var.assign(value)
        best_vars = groups["best"]
        ema_vars = groups["ema"] or None
        history, start = state["history"], state["epoch"]
        best_acc, best_epoch, wait = state["best_acc"], state["best_epoch"], state["wait"]
        _log(f"resuming {out} after epoch {start} (best validation accuracy "
             f"{best_acc:.4f} at epoch {best_epoch})")

    teachers = [load_float_model(Path(run) / "model.keras") for run in train_cfg.teachers]
    features = EpochFeatures(data, train_set, config.frontend, train_cfg,
                             Path(cache_dir) if cache_dir else None)
    verbose = (1 if sys.stdout.isatty() else 0) if progress is None else int(progress)
    num_classes = len(LABELS)
    stopped_early = False
    try:
        for epoch in range(start, train_cfg.epochs):
            if train_cfg.early_stopping_patience and wait >= train_cfg.early_stopping_patience:
                stopped_early = True
                break
            t0 = time.monotonic()
            feats = features.get(epoch)
            if epoch + 1 < train_cfg.epochs:
                features.prefetch(epoch + 1)
            rng = epoch_rng(train_cfg.seed, epoch, 1)
            feats = spec_augment(feats.copy(), train_cfg, rng)
            order = rng.permutation(len(feats))
            x = _as_model_input(feats[order])
            y = _one_hot(train_set.labels[order], num_classes, train_cfg.label_smoothing)
            if teachers:
                taught = np.mean([t.predict(x, batch_size=512, verbose=0) for t in teachers],
                                 axis=0)
                y = (1 - train_cfg.distill_weight) * y + train_cfg.distill_weight * taught
            x, y = mixup(x, y, train_cfg, rng)
            lr = learning_rate(train_cfg, epoch)
            optimizer.learning_rate.assign(lr)
            if verbose:
                _log(f"epoch {epoch + 1}/{train_cfg.epochs}")
            fit = model.fit(x, y, batch_size=train_cfg.batch_size, epochs=1, shuffle=False,
                            verbose=verbose)
            current = [v.numpy() for v in model.variables]
            if train_cfg.weight_averaging:
                ema_vars = _update_average(ema_vars, current, train_cfg.weight_averaging)
                _assign(model, ema_vars)
            probs = model.predict(val_x, batch_size=512, verbose=0)
            val_acc = float(np.mean(np.argmax(probs, 1) == val_set.labels))
            val_loss = float(np.mean(-np.log(np.maximum(
                probs[np.arange(len(probs)), val_set.labels], 1e-7))))
            row = {"epoch": epoch + 1, "loss": float(fit.history["loss"][0]),
                   "accuracy": float(fit.history["categorical_accuracy"][0]),
                   "val_loss": val_loss, "val_accuracy": val_acc, "learning_rate": lr,
                   "seconds": round(time.monotonic() - t0, 2)}
            history.append(row)
            if val_acc > best_acc or train_cfg.keep == "last":
                best_acc, best_epoch, wait = val_acc, epoch + 1, 0
                best_vars = [v.numpy() for v in model.variables]  # (averaged) weights
            else:
                wait += 1
            _assign(model, current)
            state = {"version": CHECKPOINT_VERSION, "epoch": epoch + 1, "history": history,
                     "best_acc": best_acc, "best_epoch": best_epoch, "wait": wait}
            save_checkpoint(ckpt_path, current, [v.numpy() for v in optimizer.variables],
                            best_vars, state, ema_vars)
            _log(f"epoch {epoch + 1}/{train_cfg.epochs}: loss {row['loss']:.4f} "
                 f"acc {row['accuracy']:.4f} val_loss {val_loss:.4f} val_acc {val_acc:.4f} "
                 f"lr {lr:.2e} ({row['seconds']:.1f} s)")
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1)
    finally:
        features.close()

    if stopped_early:
        _log(f"early stop: no better validation accuracy for "
             f"{train_cfg.early_stopping_patience} epochs")
    for var, value in zip(model.variables, best_vars, strict=True):
        var.assign(value)
    save_float_model(model, config, out / "model.keras")
    atomic_write_text(out / "history.json", json.dumps(
        {"kept_epoch": best_epoch, "keep": train_cfg.keep, "kept_val_accuracy": best_acc,
         "train_splits": list(train_cfg.train_splits), "epochs": history},
        indent=2) + "\n")
    plot_history(history, out / "training_curve.png",
                 title=f"{config.model.name} seed {train_cfg.seed}, trained on "
                       f"{' + '.join(train_cfg.train_splits)}",
                 val_label="validation" + (" (trained on)" if "validation" in
                                           train_cfg.train_splits else ""))
    note = " (trained on validation: not held out)" if "validation" in train_cfg.train_splits \
        else ""
    _log(f"kept epoch {best_epoch} ({train_cfg.keep}), validation accuracy {best_acc:.4f}"
         f"{note}; float model {out / 'model.keras'}")
    return TrainResult(best_acc, best_epoch, len(history), out)


def save_float_model(model: Any, config: RunConfig, path: Path) -> None:
    """Save the weights of ``model`` as a plain (uncompiled) Keras model file, atomically."""
    from kws.model import build_model

    clean = build_model(config.model, config.frontend)
    clean.set_weights(model.get_weights())
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.keras")
    clean.save(tmp)
    tmp.replace(path)


def load_float_model(path: str | Path) -> Any:
    """Load a float model written by :func:`save_float_model` (needs TensorFlow)."""
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise KwsError(f"{path}: cannot load the float model ({exc})") from None


def plot_history(history: list[dict[str, float]], path: Path, title: str,
                 val_label: str = "validation") -> None:
    """Training curve PNG: loss (left) and accuracy (right), train and validation, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, label in (("loss", "train"), ("val_loss", val_label)):
        ax_loss.plot(epochs, [row[key] for row in history], label=label)
    for key, label in (("accuracy", "train"), ("val_accuracy", val_label)):
        ax_acc.plot(epochs, [row[key] for row in history], label=label)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)

"""Training of the DS-CNN (Keras on TensorFlow): augmentation, checkpoints, resume, history.

    kws.data's epoch examples (clips, stream windows, mined negatives; one augmentation
      pipeline, a random stream per (seed, epoch, example)) -> int8 features (kws.frontend)
      -> SpecAugment masks, shuffle, teachers' targets, mixup      [seeded by (seed, epoch)]
      -> one Keras epoch -> weight average -> validation accuracy -> kept weights, early
         stopping -> checkpoint (atomic)

Everything random in an epoch is a function of ``(seed, epoch)``; what carries over between
epochs (weights, optimizer moments and step, dropout seed state, averaged and kept weights,
history) is in the checkpoint. So a run killed at any moment (even SIGKILL) and resumed with
``--resume`` ends with the same weights as an uninterrupted run (TensorFlow op determinism
is on). The augmented features of an epoch are computed in a background thread while the
previous epoch trains (``--cache DIR`` keeps them for other runs).

Run folder (``--out runs/NAME``; read back through kws.run, the checkpoint's layout is
kws.checkpoint):

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
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kws.checkpoint import CHECKPOINT_NAME, Checkpoint
from kws.config import FrontendConfig, TrainConfig, to_dict
from kws.data.augment import (
    MASK_PURPOSE,
    MIXUP_PURPOSE,
    ORDER_PURPOSE,
    epoch_rng,
    mixup,
    spec_augment,
)
from kws.errors import ConfigError, DataError, ModelError
from kws.fileio import atomic_path, atomic_write_bytes, atomic_write_text
from kws.frontend import mfcc_batch
from kws.labels import LABELS
from kws.outpaths import check_out_dir, writing
from kws.run import (
    CONFIG_NAME,
    FLOAT_MODEL_NAME,
    RunConfig,
    TrainingData,
    load_float_model,
    load_run,
    load_run_config,
    make_training_data,
    split_features,
)

# --------------------------------------------------------------------------------------------
# Per-epoch features, a pure function of (data, seed, epoch)
# --------------------------------------------------------------------------------------------

class EpochFeatures:
    """Augmented int8 features and labels of an epoch's examples, prefetched in a thread.

    ``get(epoch)`` -> (int8 (n, frames, coeffs), int64 (n,)), a pure function of (data,
    splits, seed, epoch): the clips, stream windows and mined negatives of
    ``data.epoch_examples``. ``cache_dir`` (optional) keeps them on disk so runs that share
    data and seed share work.
    """

    def __init__(self, data: TrainingData, splits: tuple[str, ...], frontend: FrontendConfig,
                 train: TrainConfig, cache_dir: Path | None = None) -> None:
        self.data, self.splits, self.frontend, self.train = data, splits, frontend, train
        self.seed = train.seed
        key = json.dumps([data.fingerprint, to_dict(frontend), self.seed, list(splits)],
                         sort_keys=True)
        self.cache_dir = (cache_dir / hashlib.sha256(key.encode()).hexdigest()[:16]
                          if cache_dir else None)
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: dict[int, Future[tuple[np.ndarray, np.ndarray]]] = {}

    def _compute(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        path = self.cache_dir / f"epoch_{epoch:04d}.npz" if self.cache_dir else None
        if path is not None and path.exists():
            try:
                with np.load(path) as npz:
                    return npz["features"], npz["labels"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                pass  # a damaged cache file is recomputed
        examples = self.data.epoch_examples(self.splits, self.seed, epoch)
        features = mfcc_batch(examples.audio, self.frontend)
        if path is not None:
            buf = io.BytesIO()
            np.savez(buf, features=features, labels=examples.labels)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buf.getvalue())
        return features, examples.labels

    def prefetch(self, epoch: int) -> None:
        """Start computing ``epoch`` in the background."""
        if epoch not in self._pending:
            self._pending[epoch] = self._pool.submit(self._compute, epoch)

    def get(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(features int8 (n, frames, coeffs), labels int64 (n,)) of ``epoch`` (waits for
        the prefetch)."""
        self.prefetch(epoch)
        return self._pending.pop(epoch).result()

    def close(self) -> None:
        """Stop the prefetch thread (pending work is abandoned)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------------------------
# Schedule
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


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def update_average(average: list[np.ndarray] | None, current: list[np.ndarray],
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


def _restore(model: Any, optimizer: Any, checkpoint: Checkpoint, path: Path) -> None:
    """Assign a checkpoint's model and optimizer variables; ModelError naming ``path`` when
    its variables do not fit the model of the config (count, shape or dtype)."""
    n = len(model.variables)
    if len(checkpoint.model) != n or len(checkpoint.optimizer) != len(optimizer.variables) \
            or len(checkpoint.best) != n or len(checkpoint.ema or []) not in (0, n):
        raise ModelError(f"{path}: does not match the model of the config")
    try:
        _assign(model, checkpoint.model)
        for var, value in zip(optimizer.variables, checkpoint.optimizer, strict=True):
            var.assign(value)
    except (ValueError, TypeError) as exc:      # a shape or dtype that does not fit
        raise ModelError(f"{path}: does not match the model of the config "
                         f"({' '.join(str(exc).split())[:100]})") from None


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


def epoch_inputs(feats: np.ndarray, labels: np.ndarray, config: RunConfig, epoch: int,
                 num_classes: int, teachers: Sequence[Any] = ()
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's training inputs and targets from its augmented examples.

    feats: int8 (n, frames, coeffs) codes; labels: int (n,) class indices. SpecAugment, the
    epoch's order, label-smoothed one-hot targets (mixed with the mean probabilities of
    ``teachers`` by ``distill_weight``), then mixup; every draw from the epoch's seeded
    streams. Returns float32 (n, frames, coeffs, 1) inputs and float32 (n, num_classes)
    targets in [0, 1].
    """
    train_cfg = config.train
    feats = spec_augment(feats.copy(), config.data, epoch_rng(train_cfg.seed, epoch, MASK_PURPOSE))
    order = epoch_rng(train_cfg.seed, epoch, ORDER_PURPOSE).permutation(len(feats))
    x = _as_model_input(feats[order])
    y = _one_hot(labels[order], num_classes, train_cfg.label_smoothing)
    if teachers:
        taught = np.mean([t.predict(x, batch_size=512, verbose=0) for t in teachers], axis=0)
        y = (1 - train_cfg.distill_weight) * y + train_cfg.distill_weight * taught
    return mixup(x, y, config.data, train_cfg.batch_size,
                 epoch_rng(train_cfg.seed, epoch, MIXUP_PURPOSE))


class TfliteTeacher:
    """An int8 kws model (.tflite with kws metadata) as a teacher: ``predict`` takes the
    float model input (batch, frames, coeffs, 1; int8 codes as floats, after SpecAugment)
    and returns its dequantized scores, float32 (batch, labels) in [0, 1)."""

    def __init__(self, path: Path) -> None:
        from kws.runtime import KwsModel

        self.model = KwsModel(path)

    def predict(self, x: np.ndarray, batch_size: int = 512, verbose: int = 0) -> np.ndarray:
        codes = np.clip(np.rint(np.asarray(x)[..., 0]), -128, 127).astype(np.int8)
        return self.model.probabilities(codes)


def load_teacher(source: str, labels: Sequence[str]) -> Any:
    """A teacher: a run folder (its float model.keras) or an int8 ``.tflite`` kws model
    (:class:`TfliteTeacher`, e.g. the shipped model); ConfigError when a .tflite has other
    labels than the student, or a float model another number of outputs."""
    path = Path(source)
    if path.suffix == ".tflite":
        teacher = TfliteTeacher(path)
        if tuple(teacher.model.labels) != tuple(labels):
            raise ConfigError(f"teacher {path}: labels {list(teacher.model.labels)} are not "
                              f"the student's {list(labels)}")
        return teacher
    model = load_float_model(path / FLOAT_MODEL_NAME)
    if model.output_shape[-1] != len(labels):
        raise ConfigError(f"teacher {path}: {model.output_shape[-1]} outputs, the student has "
                          f"{len(labels)}")
    return model


def _log(message: str) -> None:
    print(message, flush=True)


def train(config_path: str | Path | RunConfig, data_dir: str | Path | None,
          out_dir: str | Path, *,
          resume: bool = False, epochs: int | None = None, seed: int | None = None,
          warmup_epochs: int | None = None, cache_dir: str | Path | None = None,
          progress: bool | None = None, data: TrainingData | None = None,
          on_epoch_end: Callable[[int], None] | None = None,
          feature_cache: str | Path | None = None,
          prepare_model: Callable[[Any], None] | None = None,
          run_info: dict[str, Any] | None = None,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Train the model of ``config_path`` on the dataset in ``data_dir`` into ``out_dir``.

    ``resume`` continues from ``out_dir/checkpoint.npz`` (the configs must be the same);
    without it, a folder that already holds a checkpoint is refused. ``epochs`` / ``seed`` /
    ``warmup_epochs`` override the config's train section (an ``epochs`` below the config's
    warm-up shortens the warm-up to ``epochs - 1``, with a note; see kws.run.load_run_config).
    ``cache_dir`` keeps augmented epoch features on disk. ``feature_cache``: folder of the
    clean-feature cache (``kws prepare``'s, default kws.data.default_cache_dir()) that the
    validation features come from. ``data`` replaces the dataset (tests, kws wakeword); its
    ``labels`` attribute, when it has one, gives the model's outputs (else kws.labels.LABELS).
    ``on_epoch_end(epoch)`` runs after each checkpoint.

    For kws wakeword: ``config_path`` may be a RunConfig (the overrides then do not apply),
    ``prepare_model(model)`` runs on the built model before it is compiled (a backbone's
    weights, frozen layers), ``run_info`` adds keys to the run's config.json, and ``log``
    replaces printing to stdout (one line per epoch, then the kept epoch).
    """
    log = log or _log
    if isinstance(config_path, RunConfig):
        config = config_path
    else:
        config = load_run_config(config_path, epochs=epochs, seed=seed,
                                 warmup_epochs=warmup_epochs, note=log)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, expected a run folder")
    ckpt_path = out / CHECKPOINT_NAME
    checkpoint = None
    if resume:
        if not ckpt_path.exists():
            raise ConfigError(f"{out}: nothing to resume (no {CHECKPOINT_NAME})")
        saved, _ = load_run(out)
        if saved.to_dict() != config.to_dict():
            raise ConfigError(f"{out}: --resume with a config that differs from the run's "
                              f"{CONFIG_NAME} (same --config, --epochs, --warmup-epochs and "
                              "--seed please)")
        checkpoint = Checkpoint.load(ckpt_path)       # before the long work: corrupt?
    elif ckpt_path.exists():
        raise ConfigError(f"{out}: already holds a run (use --resume to continue it, or a new "
                          "--out)")
    check_out_dir(out, "--out")
    if cache_dir is not None:
        check_out_dir(Path(cache_dir), "--cache")

    train_cfg = config.train
    data = data or make_training_data(data_dir, config, feature_cache)
    train_clips = sum(len(data.clips(split).labels) for split in train_cfg.train_splits)
    val_set = data.clips("validation")
    if train_clips == 0 or len(val_set.labels) == 0:
        raise DataError(f"{data_dir}: nothing to train on: {train_clips} clips in "
                        f"{' + '.join(train_cfg.train_splits)} and {len(val_set.labels)} in "
                        "validation (both must be non-empty)")
    val_x = _as_model_input(split_features(data, "validation", config.frontend))
    outputs = tuple(getattr(data, "labels", LABELS))
    info = {**config.to_dict(), "data_fingerprint": data.fingerprint,
            "train_clips": int(train_clips), "validation_clips": int(len(val_set.labels)),
            **(run_info or {})}
    import keras
    import tensorflow as tf

    from kws.model import build_model

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(train_cfg.seed)

    if not resume:
        with writing(out / CONFIG_NAME):
            atomic_write_text(out / CONFIG_NAME, json.dumps(info, indent=2) + "\n")

    model = build_model(config.model, config.frontend, num_classes=len(outputs))
    if prepare_model is not None:
        prepare_model(model)
    optimizer = keras.optimizers.Adam(learning_rate=train_cfg.learning_rate)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(),
                  metrics=["categorical_accuracy"])
    optimizer.build(model.trainable_variables)

    if checkpoint is None:
        checkpoint = Checkpoint(epoch=0, history=[], best_acc=-1.0, best_epoch=0, wait=0,
                                model=[v.numpy() for v in model.variables],
                                optimizer=[v.numpy() for v in optimizer.variables],
                                best=[v.numpy() for v in model.variables])
    else:
        _restore(model, optimizer, checkpoint, ckpt_path)
        log(f"resuming {out} after epoch {checkpoint.epoch} (best validation accuracy "
            f"{checkpoint.best_acc:.4f} at epoch {checkpoint.best_epoch})")
    start, history = checkpoint.epoch, list(checkpoint.history)
    best_acc, best_epoch, wait = checkpoint.best_acc, checkpoint.best_epoch, checkpoint.wait
    best_vars, ema_vars = checkpoint.best, checkpoint.ema

    teachers = [load_teacher(t, outputs) for t in train_cfg.teachers]
    features = EpochFeatures(data, train_cfg.train_splits, config.frontend, train_cfg,
                             Path(cache_dir) if cache_dir else None)
    verbose = (1 if sys.stdout.isatty() else 0) if progress is None else int(progress)
    num_classes = len(outputs)
    stopped_early = False
    try:
        for epoch in range(start, train_cfg.epochs):
            if train_cfg.early_stopping_patience and wait >= train_cfg.early_stopping_patience:
                stopped_early = True
                break
            t0 = time.monotonic()
            feats, labels = features.get(epoch)
            if epoch + 1 < train_cfg.epochs:
                features.prefetch(epoch + 1)
            x, y = epoch_inputs(feats, labels, config, epoch, num_classes, teachers)
            lr = learning_rate(train_cfg, epoch)
            optimizer.learning_rate.assign(lr)
            if verbose:
                log(f"epoch {epoch + 1}/{train_cfg.epochs}")
            fit = model.fit(x, y, batch_size=train_cfg.batch_size, epochs=1, shuffle=False,
                            verbose=verbose)
            current = [v.numpy() for v in model.variables]
            if train_cfg.weight_averaging:
                ema_vars = update_average(ema_vars, current, train_cfg.weight_averaging)
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
            Checkpoint(epoch=epoch + 1, history=history, best_acc=best_acc,
                       best_epoch=best_epoch, wait=wait, model=current,
                       optimizer=[v.numpy() for v in optimizer.variables], best=best_vars,
                       ema=ema_vars).save(ckpt_path)
            log(f"epoch {epoch + 1}/{train_cfg.epochs}: loss {row['loss']:.4f} "
                f"acc {row['accuracy']:.4f} val_loss {val_loss:.4f} val_acc {val_acc:.4f} "
                f"lr {lr:.2e} ({row['seconds']:.1f} s)")
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1)
    finally:
        features.close()

    if stopped_early:
        log(f"early stop: no better validation accuracy for "
            f"{train_cfg.early_stopping_patience} epochs")
    for var, value in zip(model.variables, best_vars, strict=True):
        var.assign(value)
    save_float_model(model, config, out / FLOAT_MODEL_NAME, len(outputs))
    with writing(out / "history.json"):
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
    log(f"kept epoch {best_epoch} ({train_cfg.keep}), validation accuracy {best_acc:.4f}"
        f"{note}; float model {out / FLOAT_MODEL_NAME}")
    return TrainResult(best_acc, best_epoch, len(history), out)


def save_float_model(model: Any, config: RunConfig, path: Path,
                     num_classes: int = len(LABELS)) -> None:
    """Save the weights of ``model`` (``num_classes`` outputs) as a plain (uncompiled) Keras
    model file, atomically."""
    from kws.model import build_model

    clean = build_model(config.model, config.frontend, num_classes=num_classes)
    clean.set_weights(model.get_weights())
    with writing(path), atomic_path(path) as tmp:   # the temporary keeps the .keras suffix
        clean.save(tmp)


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
    try:
        with writing(path), atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)

"""The training checkpoint: everything that carries over between epochs, in one .npz file.

    Checkpoint (epoch, history, best/wait bookkeeping, model / optimizer / kept / averaged
    variables) <-> checkpoint.npz: a JSON "state" member (uint8 bytes) and one array member
    per variable, "model_0000", "opt_0000", "best_0000", "ema_0000" ... in variable order

The file is replaced atomically after each epoch, so a run killed at any moment resumes from
the last finished epoch. :func:`save_checkpoint` / :func:`load_checkpoint` are the file
format; :class:`Checkpoint` is the typed structure kws.train builds and reads.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kws.errors import ModelError
from kws.fileio import atomic_write_bytes
from kws.outpaths import writing

CHECKPOINT_NAME = "checkpoint.npz"
"""Checkpoint file in the run folder (a single file, replaced atomically each epoch)."""
CHECKPOINT_VERSION = 1
"""Layout version of the checkpoint; a different version is refused on resume."""
GROUPS = ("model", "opt", "best", "ema")
"""Array groups of the file: model and optimizer variables, kept weights, averaged weights."""


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """The state of a run after ``epoch`` finished epochs (what a resume needs)."""

    epoch: int
    """Epochs finished (1-based count; the next epoch to run has 0-based index ``epoch``)."""
    history: list[dict[str, float]]
    """One row per finished epoch (kws.train's history.json rows)."""
    best_acc: float
    """Validation accuracy (in [0, 1]) of the kept weights; -1.0 before any epoch."""
    best_epoch: int
    """Epoch (1-based) of the kept weights; 0 before any epoch."""
    wait: int
    """Epochs since the kept weights last improved (early stopping counts these)."""
    model: list[np.ndarray]
    """Model variables (weights and seed states, in ``model.variables`` order)."""
    optimizer: list[np.ndarray]
    """Optimizer variables (step, moments; ``optimizer.variables`` order)."""
    best: list[np.ndarray]
    """The kept variables ("best" or "last", averaged when weight averaging is on)."""
    ema: list[np.ndarray] | None = None
    """Moving average of the model variables (None when weight averaging is off)."""

    def state(self) -> dict[str, Any]:
        """The JSON "state" member of the file."""
        return {"version": CHECKPOINT_VERSION, "epoch": self.epoch, "history": self.history,
                "best_acc": self.best_acc, "best_epoch": self.best_epoch, "wait": self.wait}

    def save(self, path: Path) -> None:
        """Write the checkpoint to ``path`` atomically (ConfigError when it cannot be
        written)."""
        save_checkpoint(path, self.model, self.optimizer, self.best, self.state(), self.ema)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """Read a checkpoint written by :meth:`save`; ModelError if corrupt, of another
        version or without weights."""
        groups, state = load_checkpoint(path)
        return cls(epoch=state["epoch"], history=state["history"], best_acc=state["best_acc"],
                   best_epoch=state["best_epoch"], wait=state["wait"], model=groups["model"],
                   optimizer=groups["opt"], best=groups["best"], ema=groups["ema"] or None)


def save_checkpoint(path: Path, model_vars: list[np.ndarray], opt_vars: list[np.ndarray],
                    best_vars: list[np.ndarray], state: dict[str, Any],
                    ema_vars: list[np.ndarray] | None = None) -> None:
    """One .npz with ``state`` (JSON) and the variables of each group, written atomically."""
    arrays: dict[str, np.ndarray] = {"state": np.frombuffer(json.dumps(state).encode(),
                                                            dtype=np.uint8)}
    for prefix, values in zip(GROUPS, (model_vars, opt_vars, best_vars, ema_vars or []),
                              strict=True):
        for i, value in enumerate(values):
            arrays[f"{prefix}_{i:04d}"] = np.asarray(value)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with writing(path):
        atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]:
    """(arrays by group 'model'/'opt'/'best'/'ema', state) of a checkpoint file; ModelError
    if unreadable, of another version, or its state or weights are missing."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            state = json.loads(npz["state"].tobytes().decode())
            groups: dict[str, list[np.ndarray]] = {group: [] for group in GROUPS}
            for name in sorted(n for n in npz.files if n != "state"):
                groups[name.split("_")[0]].append(npz[name])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, RecursionError,
            TypeError) as exc:   # a truncated zip, a torn member, random bytes
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise ModelError(f"{path}: corrupt or unreadable checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        version = state.get("version") if isinstance(state, dict) else None
        raise ModelError(f"{path}: checkpoint version {version!r}, "
                         f"expected {CHECKPOINT_VERSION}")
    kinds = {"epoch": int, "history": list, "best_acc": (int, float), "best_epoch": int,
             "wait": int}
    bad = [k for k, kind in kinds.items() if not isinstance(state.get(k), kind)
           or isinstance(state.get(k), bool)]
    if bad or not groups["model"] or state["epoch"] < 0:
        raise ModelError(f"{path}: corrupt checkpoint (state field "
                         f"{bad[0] if bad else 'epoch'!r} missing or invalid, or no weights)")
    return groups, state

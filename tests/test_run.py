"""kws.run (run folder, configs, warm-up that adapts to --epochs), kws.checkpoint, the layers."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from kws.checkpoint import CHECKPOINT_VERSION, Checkpoint, load_checkpoint
from kws.errors import ConfigError, KwsError, ModelError
from kws.run import load_run, load_run_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


# --------------------------------------------------------------------------------------------
# Warm-up and --epochs
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ds_cnn_s", "ds_cnn_m", "ds_cnn_l"])
@pytest.mark.parametrize("epochs, warmup", [(1, 0), (2, 1), (3, 2), (4, 3)])
def test_few_epochs_shorten_the_warmup_with_a_note(name: str, epochs: int,
                                                   warmup: int) -> None:
    notes: list[str] = []
    config = load_run_config(CONFIGS / f"{name}.yaml", epochs=epochs, note=notes.append)
    assert (config.train.epochs, config.train.warmup_epochs) == (epochs, warmup)
    if epochs <= 3:
        assert notes == [f"note: warmup_epochs 3 -> {epochs - 1}: --epochs {epochs} leaves no "
                         "room for a 3-epoch warm-up (set --warmup-epochs to choose)"]
    else:
        assert notes == []


def test_full_runs_keep_their_warmup() -> None:
    notes: list[str] = []
    for name in ("ds_cnn_s", "ds_cnn_m", "ds_cnn_l", "default_model"):
        config = load_run_config(CONFIGS / f"{name}.yaml", note=notes.append)
        assert config.train.warmup_epochs == yaml.safe_load(
            (CONFIGS / f"{name}.yaml").read_text())["train"]["warmup_epochs"]
    assert notes == []


def test_an_explicit_warmup_is_taken_or_refused(tmp_path: Path) -> None:
    s = CONFIGS / "ds_cnn_s.yaml"
    assert load_run_config(s, epochs=3, warmup_epochs=0).train.warmup_epochs == 0
    assert load_run_config(s, warmup_epochs=5).train.warmup_epochs == 5
    with pytest.raises(ConfigError, match="warmup_epochs=3 must be below epochs=3"):
        load_run_config(s, epochs=3, warmup_epochs=3)
    with pytest.raises(ConfigError, match="warmup_epochs=-1"):
        load_run_config(s, warmup_epochs=-1)
    with pytest.raises(ConfigError, match="epochs=0"):
        load_run_config(s, epochs=0)
    own = tmp_path / "own.yaml"        # a YAML that contradicts itself stays an error
    own.write_text(yaml.safe_dump({"train": {"epochs": 2, "warmup_epochs": 3}}))
    with pytest.raises(ConfigError, match="warmup_epochs=3 must be below epochs=2"):
        load_run_config(own)


def test_kws_train_has_a_warmup_option() -> None:
    from kws.commands import train as command

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["train", "--config", "c.yaml", "--data", "d", "--out", "o",
                              "--epochs", "2", "--warmup-epochs", "1"])
    assert (args.epochs, args.warmup_epochs) == (2, 1)
    assert parser.parse_args(["train", "--config", "c", "--data", "d", "--out", "o"]
                             ).warmup_epochs is None


def test_training_with_fewer_epochs_than_the_warmup(tmp_path: Path, mini_dir: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    """A 3-epoch warm-up config trained for 2 epochs: warm-up 1, said once, and a resume
    with the same --epochs agrees with the run's config.json."""
    from kws.train import learning_rate, train
    from tests.model_fakes import SmallData

    config = yaml.safe_load((CONFIGS / "ds_cnn_tiny.yaml").read_text())
    config["train"].update(epochs=10, warmup_epochs=3, schedule="cosine")
    path = tmp_path / "warm.yaml"
    path.write_text(yaml.safe_dump(config))
    data = SmallData(mini_dir, per_class=2)
    out = tmp_path / "run"
    result = train(path, mini_dir, out, epochs=2, data=data, progress=False)
    assert result.epochs_run == 2
    assert "note: warmup_epochs 3 -> 1" in capsys.readouterr().out
    saved, _ = load_run(out)
    assert (saved.train.epochs, saved.train.warmup_epochs) == (2, 1)
    rates = [row["learning_rate"] for row in
             json.loads((out / "history.json").read_text())["epochs"]]
    assert rates == [learning_rate(saved.train, 0), learning_rate(saved.train, 1)]
    assert rates[1] == pytest.approx(saved.train.learning_rate)   # warm-up over: the peak
    with pytest.raises(KwsError, match="already holds a run"):
        train(path, mini_dir, out, epochs=2, data=data, progress=False)
    result = train(path, mini_dir, out, epochs=2, resume=True, data=data, progress=False)
    assert result.epochs_run == 2                  # nothing left to run, nothing refused


# --------------------------------------------------------------------------------------------
# The checkpoint
# --------------------------------------------------------------------------------------------

def _checkpoint(ema: bool) -> Checkpoint:
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((3, 4)).astype(np.float32), np.arange(5, dtype=np.int64)]
    return Checkpoint(epoch=3, history=[{"epoch": 1, "loss": 0.5}], best_acc=0.75,
                      best_epoch=2, wait=1, model=weights,
                      optimizer=[np.array(7, np.int64), rng.standard_normal(4)],
                      best=[w + 1 for w in weights],
                      ema=[w * 2 for w in weights] if ema else None)


@pytest.mark.parametrize("ema", [False, True])
def test_checkpoint_round_trip_is_exact(tmp_path: Path, ema: bool) -> None:
    saved = _checkpoint(ema)
    saved.save(tmp_path / "c.npz")
    loaded = Checkpoint.load(tmp_path / "c.npz")
    assert (loaded.epoch, loaded.history, loaded.best_acc, loaded.best_epoch, loaded.wait) == (
        saved.epoch, saved.history, saved.best_acc, saved.best_epoch, saved.wait)
    for group in ("model", "optimizer", "best") + (("ema",) if ema else ()):
        for a, b in zip(getattr(saved, group), getattr(loaded, group), strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    assert (loaded.ema is None) == (not ema)


def test_checkpoint_file_layout_is_unchanged(tmp_path: Path) -> None:
    """The layout of version 1 (older run folders resume): a JSON state and one member per
    variable, grouped by prefix in variable order."""
    _checkpoint(True).save(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as npz:
        assert sorted(npz.files) == ["best_0000", "best_0001", "ema_0000", "ema_0001",
                                     "model_0000", "model_0001", "opt_0000", "opt_0001",
                                     "state"]
        assert json.loads(npz["state"].tobytes().decode()) == {
            "version": CHECKPOINT_VERSION, "epoch": 3, "history": [{"epoch": 1, "loss": 0.5}],
            "best_acc": 0.75, "best_epoch": 2, "wait": 1}
    groups, state = load_checkpoint(tmp_path / "c.npz")
    assert {k: len(v) for k, v in groups.items()} == {"model": 2, "opt": 2, "best": 2,
                                                      "ema": 2}


def test_bad_checkpoints_are_model_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="corrupt or unreadable checkpoint"):
        Checkpoint.load(path)
    from kws.checkpoint import save_checkpoint

    save_checkpoint(path, [np.zeros(2)], [], [], {"version": 99})
    with pytest.raises(ModelError, match="checkpoint version 99"):
        Checkpoint.load(path)


def test_a_folder_without_config_json_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a training run folder"):
        load_run(tmp_path)


# --------------------------------------------------------------------------------------------
# Layers: what stands below training does not import it
# --------------------------------------------------------------------------------------------

def test_lower_modules_do_not_import_the_training_module() -> None:
    code = ("import sys; import kws.run, kws.checkpoint, kws.evaluate, kws.quantize, "
            "kws.mining, kws.tuning, kws.config, kws.data.config; "
            "print('kws.train' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout.split()
    assert out == ["False", "False"]


def test_no_module_imports_kws_train_but_the_training_jobs() -> None:
    """Only the two jobs that train (``kws train`` and the custom wake word's builder, which
    trains its own model with kws.train's pieces) import the training module; everything
    below them reads runs through kws.run."""
    users = subprocess.run(["grep", "-rln", r"from kws.train import\|import kws.train",
                            "kws", "firmware_export", "data_scripts", "benchmarks"],
                           capture_output=True, text=True, cwd=REPO).stdout.split()
    assert sorted(users) == ["kws/commands/train.py", "kws/wakeword/build.py"]

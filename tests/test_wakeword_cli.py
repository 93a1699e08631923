"""``kws wakeword`` and ``kws record`` on the command line: help, refusals in one line, and a
toy run (configs/wakeword_tiny.yaml) whose model ``kws detect`` and ``kws export`` take."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from kws.audio import read_audio, write_wav

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "wakeword_tiny.yaml"


def _kws(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kws.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_help_of_both_commands() -> None:
    done = _kws("wakeword", "--help")
    assert done.returncode == 0 and "--recordings" in done.stdout
    assert "configs/wakeword.yaml, shipped with kws" in " ".join(done.stdout.split())
    done = _kws("record", "--help")
    assert done.returncode == 0 and "(default: 20)" in " ".join(done.stdout.split())
    done = _kws("--help")
    assert "wakeword" in done.stdout and "record" in done.stdout


def test_refusals_are_one_line(tmp_path: Path) -> None:
    done = _kws("wakeword", "!!", "--out", str(tmp_path / "x"), "--config", str(TINY))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "'!!'" in done.stderr
    done = _kws("wakeword", "stop", "--out", str(tmp_path / "x"), "--config", str(TINY),
                "--recordings", str(tmp_path / "none"))
    assert done.returncode == 2 and "no such folder" in done.stderr
    assert done.stderr.strip().count("\n") == 0


def test_a_toy_run_then_detect_and_export(tmp_path: Path, mini_dir: Path) -> None:
    out = tmp_path / "run"
    takes = tmp_path / "takes"
    takes.mkdir()
    for i, clip in enumerate(sorted((mini_dir / "stop").glob("*.wav"))[:5]):
        write_wav(takes / f"stop_{i:03d}.wav", read_audio(clip))
    done = _kws("wakeword", "stop", "--out", str(out), "--config", str(TINY), "--data",
                str(mini_dir), "--recordings", str(takes), "--epochs", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    stages = [line.split(":")[0] for line in done.stdout.splitlines()]
    assert stages[:4] == ["voices", "data", "train", "quantize"] and "tune (laptop, hop 2 " \
        "frames)" in done.stdout
    assert "%|" in done.stderr                                 # tqdm bars go to stderr
    assert "%|" not in done.stdout
    assert "hey_computer" not in done.stdout and "(labels stop, _unknown_, _silence_)" in \
        done.stdout
    wav = tmp_path / "quiet.wav"
    write_wav(wav, np.zeros(32000, np.int16))
    detect = _kws("detect", str(wav), "--model", str(out / "model.tflite"))
    assert detect.returncode == 0 and "no keyword heard" in detect.stdout
    export = _kws("export", str(out / "model.tflite"), "--board", "generic", "--out",
                  str(tmp_path / "generic"))
    assert export.returncode == 0, export.stderr
    settings = (tmp_path / "generic" / "kws_model_settings.h").read_text()
    assert '{"stop", "_unknown_", "_silence_"}' in settings

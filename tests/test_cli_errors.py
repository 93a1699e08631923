"""Untrusted input on the command line (issue 13): one clear line, exit 2, no traceback.

Most cases run ``kws.cli.main`` in this process (an escaping exception fails the test just
like a traceback would); the cases that need a real process (a closed pipe, a read-only
mount, SIGKILL at random moments) run ``python -m kws.cli`` in a child.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kws.cli import EXIT_BROKEN_PIPE, main
from kws.fileio import TEMP_MARKER

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "kws" / "assets" / "demo.wav"
TINY = REPO / "configs" / "ds_cnn_tiny.yaml"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}


def run_main(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    """(exit code, stderr) of ``kws ARGV`` run in this process."""
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_error(code: int, err: str, command: str, *names: str) -> None:
    """Exit 2 and exactly one stderr line, ``kws COMMAND: error: ...`` naming ``names``."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"kws {command}: error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])


def kws_child(*argv: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kws.cli", *map(str, argv)], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------------------------
# 1. config files: sections that are not mappings, not UTF-8, not a mapping, too big/deep
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, names", [
    ("train: 5\n", ["train", "5", "mapping"]),
    ("frontend: [1, 2]\n", ["frontend", "[1, 2]", "mapping"]),
    ("model: hello\n", ["model", "hello", "mapping"]),
    ("data: [a]\n", ["data", "mapping"]),
    ("- 1\n- 2\n", ["top level", "list"]),
    ("just text\n", ["top level", "str"]),
    ("a: &x [1, 2]\nb: *x\n", ["aliases"]),
    ("train: {epochs: 1000000000000}\n", ["epochs=1000000000000"]),
    ("train: {seed: 99999999999}\n", ["seed=99999999999"]),
    ("train: {teachers: run_a}\n", ["teachers='run_a'"]),
    ("train: {distill_weight: x}\n", ["distill_weight='x'"]),
    ("frontend: {num_mel: 100000}\n", ["num_mel=100000"]),
    ("frontend: {sample_rate_hz: 16000.5}\n", ["sample_rate_hz=16000.5"]),
    ("frontend: {upper_hz: high}\n", ["upper_hz='high'"]),
    ("frontend: {output_gain: abc}\n", ["output_gain"]),
    ("model: {stem_filters: 100000000}\n", ["stem_filters=100000000"]),
    ("model: {stem_kernel: [10000, 4]}\n", ["stem_kernel"]),
    ("model: {l2: .nan}\n", ["l2=nan"]),
    ("data: {seed: 99999999999}\n", ["seed=99999999999"]),
    ("1: 2\ntrain: {}\n", ["unknown section"]),
])
def test_train_refuses_bad_config_files(capsys, tmp_path: Path, text: str,
                                        names: list[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    code, err = run_main(capsys, "train", "--config", config, "--data", tmp_path,
                         "--out", tmp_path / "run")
    assert_error(code, err, "train", *names)
    assert not (tmp_path / "run").exists()


def test_config_that_is_not_utf8_is_refused(capsys, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_bytes(b"frontend:\n  window_ms: 30\n\xff\xfe\n")
    code, err = run_main(capsys, "features", DEMO, "--config", config)
    assert_error(code, err, "features", str(config), "UTF-8")


def test_frontend_section_that_is_a_list_is_refused_by_features(capsys, tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("frontend: [1, 2]\n")
    code, err = run_main(capsys, "features", DEMO, "--config", config)
    assert_error(code, err, "features", "frontend=[1, 2]", "mapping")


def test_deeply_nested_and_huge_configs_end_quickly(capsys, tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("train: " + "[" * 50000 + "]" * 50000 + "\n")
    t0 = time.monotonic()
    code, err = run_main(capsys, "train", "--config", deep, "--data", tmp_path,
                         "--out", tmp_path / "run")
    assert_error(code, err, "train", str(deep))
    huge = tmp_path / "huge.yaml"
    huge.write_text("train: {}\n" + "# padding\n" * 200_000)
    code, err = run_main(capsys, "train", "--config", huge, "--data", tmp_path,
                         "--out", tmp_path / "run")
    assert_error(code, err, "train", str(huge), "larger than")
    assert time.monotonic() - t0 < 30


# --------------------------------------------------------------------------------------------
# 2. output paths: missing folder, folder for a file and file for a folder, read-only
# --------------------------------------------------------------------------------------------

def test_features_out_paths(capsys, tmp_path: Path) -> None:
    code, err = run_main(capsys, "features", DEMO, "--out", tmp_path / "nope" / "f.npy")
    assert_error(code, err, "features", "--out", str(tmp_path / "nope"), "does not exist")
    code, err = run_main(capsys, "features", DEMO, "--out", tmp_path)
    assert_error(code, err, "features", "--out", str(tmp_path), "is a folder")
    (tmp_path / "file").write_text("x")
    code, err = run_main(capsys, "features", DEMO, "--png", tmp_path / "file" / "f.png")
    assert_error(code, err, "features", "--png", "is a file, not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]   # no temporaries


def test_listen_save_audio_and_duration(capsys, tmp_path: Path) -> None:
    code, err = run_main(capsys, "listen", "--input", DEMO, "--duration", "1",
                         "--save-audio", tmp_path / "nope" / "heard.wav")
    assert_error(code, err, "listen", "--save-audio", "does not exist")
    code, err = run_main(capsys, "listen", "--input", DEMO, "--duration", "1",
                         "--save-audio", tmp_path)
    assert_error(code, err, "listen", "--save-audio", "is a folder")
    for bad in ("inf", "nan", "-1", "0", "-inf"):
        code, err = run_main(capsys, "listen", "--input", DEMO, f"--duration={bad}")
        assert_error(code, err, "listen", f"--duration {float(bad)}")


def test_make_stream_out_paths(capsys, tmp_path: Path, mini_dir: Path) -> None:
    code, err = run_main(capsys, "make-stream", "--data", mini_dir, "--out",
                         tmp_path / "nope" / "s.wav")
    assert_error(code, err, "make-stream", "--out", "does not exist")
    code, err = run_main(capsys, "make-stream", "--data", mini_dir, "--out", tmp_path)
    assert_error(code, err, "make-stream", "--out", "is a folder")
    code, err = run_main(capsys, "make-stream", "--data", mini_dir, "--out",
                         tmp_path / "s.wav", "--truth", tmp_path)
    assert_error(code, err, "make-stream", "--truth", "is a folder")
    code, err = run_main(capsys, "make-stream", "--data", mini_dir, "--out",
                         tmp_path / "s.csv")
    assert_error(code, err, "make-stream", "--truth", "same file")
    assert list(tmp_path.iterdir()) == []


def test_train_and_evaluate_out_paths(capsys, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    code, err = run_main(capsys, "train", "--config", TINY, "--data", tmp_path,
                         "--out", tmp_path / "file")
    assert_error(code, err, "train", "--out", str(tmp_path / "file"), "is a file")
    code, err = run_main(capsys, "train", "--config", TINY, "--data", tmp_path,
                         "--out", tmp_path / "file" / "run")
    assert_error(code, err, "train", "--out", "is a file, not a folder")
    code, err = run_main(capsys, "train", "--config", TINY, "--data", tmp_path,
                         "--out", tmp_path / "run", "--cache", tmp_path / "file")
    assert_error(code, err, "train", "--cache", "is a file")
    code, err = run_main(capsys, "evaluate", tmp_path / "missing.tflite", "--data", tmp_path,
                         "--out", tmp_path / "file")
    assert_error(code, err, "evaluate", "--out", str(tmp_path / "file"), "is a file")
    code, err = run_main(capsys, "evaluate-stream", tmp_path / "missing.tflite", "--data",
                         tmp_path, "--json", tmp_path / "nope" / "r.json")
    assert_error(code, err, "evaluate-stream", "--json", "does not exist")


def _read_only_folder(tmp_path: Path) -> tuple[Path, list[str]]:
    """A folder this process cannot write, and the command prefix that sees it so: chmod
    for a normal user; for root (who ignores modes) a read-only tmpfs mounted in a private
    mount namespace of the child."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder, []
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("root without mount namespaces: no way to make a read-only folder")
    return folder, ["unshare", "-m", "sh", "-c",
                    f'mount -t tmpfs -o ro tmpfs "{folder}" && exec "$@"', "sh"]


@pytest.mark.parametrize("argv, option", [
    (["features", DEMO, "--out", "{ro}/f.npy"], "--out"),
    (["listen", "--input", DEMO, "--duration", "1", "--save-audio", "{ro}/h.wav"],
     "--save-audio"),
    (["train", "--config", TINY, "--data", "{ro}", "--out", "{ro}/run"], "--out"),
    (["evaluate", "m.tflite", "--data", "{ro}", "--out", "{ro}/ev"], "--out"),
])
def test_read_only_folders_are_refused(tmp_path: Path, argv: list, option: str) -> None:
    folder, prefix = _read_only_folder(tmp_path)
    args = [str(a).replace("{ro}", str(folder)) for a in argv]
    r = subprocess.run([*prefix, sys.executable, "-m", "kws.cli", *args], cwd=REPO, env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert_error(r.returncode, r.stderr, argv[0], option, str(folder), "not writable")


def test_make_stream_read_only(tmp_path: Path, mini_dir: Path) -> None:
    folder, prefix = _read_only_folder(tmp_path)
    r = subprocess.run([*prefix, sys.executable, "-m", "kws.cli", "make-stream", "--data",
                        str(mini_dir), "--out", str(folder / "s.wav")], cwd=REPO, env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert_error(r.returncode, r.stderr, "make-stream", "--out", "not writable")


# --------------------------------------------------------------------------------------------
# 4., 5. train --resume on a corrupt checkpoint or config.json; empty splits
# --------------------------------------------------------------------------------------------

def _run_folder(tmp_path: Path) -> Path:
    from kws.fileio import atomic_write_text
    from kws.run import load_run_config

    run = tmp_path / "run"
    run.mkdir()
    import json

    atomic_write_text(run / "config.json", json.dumps(load_run_config(TINY).to_dict()))
    return run


@pytest.mark.parametrize("payload", [
    b"",
    b"not a zip at all" * 100,
    b"PK\x03\x04" + bytes(range(256)) * 4,       # a zip header, then garbage
], ids=["empty", "text", "zip-header"])
def test_resume_from_a_corrupt_checkpoint(capsys, tmp_path: Path, payload: bytes) -> None:
    run = _run_folder(tmp_path)
    (run / "checkpoint.npz").write_bytes(payload)
    code, err = run_main(capsys, "train", "--config", TINY, "--data", tmp_path, "--out", run,
                         "--resume")
    assert_error(code, err, "train", str(run / "checkpoint.npz"), "checkpoint")


def test_resume_from_a_truncated_real_checkpoint(capsys, tmp_path: Path) -> None:
    from kws.checkpoint import CHECKPOINT_VERSION, save_checkpoint

    run = _run_folder(tmp_path)
    path = run / "checkpoint.npz"
    save_checkpoint(path, [np.zeros((50, 50))], [np.zeros(3)], [np.zeros((50, 50))],
                    {"version": CHECKPOINT_VERSION, "epoch": 1, "history": [],
                     "best_acc": 0.5, "best_epoch": 1, "wait": 0})
    path.write_bytes(path.read_bytes()[:-200])
    code, err = run_main(capsys, "train", "--config", TINY, "--data", tmp_path, "--out", run,
                         "--resume")
    assert_error(code, err, "train", str(path))
    save_checkpoint(path, [np.zeros(3)], [], [], {"version": CHECKPOINT_VERSION,
                                                   "epoch": "one"})
    code, err = run_main(capsys, "train", "--config", TINY, "--data", tmp_path, "--out", run,
                         "--resume")
    assert_error(code, err, "train", str(path), "corrupt checkpoint")


@pytest.mark.parametrize("text, names", [
    ("[" * 100000 + "]" * 100000, ["nested too deeply"]),
    ("{broken", ["corrupt JSON"]),
    ("[1, 2]", ["JSON object"]),
    ('{"train": 5}', ["train=5", "mapping"]),
], ids=["deep", "broken", "list", "section"])
def test_resume_with_a_bad_config_json(capsys, tmp_path: Path, text: str,
                                       names: list[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(text)
    (run / "checkpoint.npz").write_bytes(b"")
    code, err = run_main(capsys, "train", "--config", TINY, "--data", tmp_path, "--out", run,
                         "--resume")
    assert_error(code, err, "train", str(run / "config.json"), *names)


def test_train_on_empty_splits(capsys, tmp_path: Path, mini_dir: Path) -> None:
    from speech_commands_fakes import make_dataset

    data = tmp_path / "data"
    rels = make_dataset(data, mini_dir, {"yes": 2, "no": 2, "cat": 2})
    (data / "validation_list.txt").write_text("")
    (data / "testing_list.txt").write_text("\n".join(rels) + "\n")
    code, err = run_main(capsys, "train", "--config", TINY, "--data", data, "--out",
                         tmp_path / "run", "--epochs", "1")
    assert_error(code, err, "train", str(data), "0 clips in train", "0 in validation")


# --------------------------------------------------------------------------------------------
# 3., 7. bad numbers
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, names", [
    (["--snr", "nan"], ["--snr nan", "finite"]),
    (["--snr", "inf"], ["--snr inf"]),
    (["--snr", "1000"], ["--snr 1000"]),
    (["--duration", "0"], ["--duration 0"]),
    (["--duration", "-5"], ["--duration -5"]),
    (["--duration", "inf"], ["--duration inf"]),
    (["--duration", "1e9"], ["--duration 1000000000"]),
    (["--keyword-fraction", "nan"], ["--keyword-fraction nan"]),
    (["--keyword-fraction", "2"], ["--keyword-fraction 2"]),
    (["--gap", "1", "inf"], ["--gap"]),
    (["--gap", "3", "1"], ["--gap 3.0 1.0"]),
    (["--seed", "-1"], ["--seed -1"]),
    (["--tuning-percent", "nan"], ["--tuning-percent nan"]),
])
def test_make_stream_refuses_bad_numbers(capsys, tmp_path: Path, mini_dir: Path,
                                         extra: list[str], names: list[str]) -> None:
    code, err = run_main(capsys, "make-stream", "--data", mini_dir, "--out",
                         tmp_path / "s.wav", *extra)
    assert_error(code, err, "make-stream", *names)
    assert list(tmp_path.iterdir()) == []       # neither audio nor truth written


@pytest.mark.parametrize("extra, names", [
    (["--minutes", "0"], ["--minutes 0"]),
    (["--minutes", "-3"], ["--minutes -3"]),
    (["--minutes", "nan"], ["--minutes nan"]),
    (["--snr", "10", "nan"], ["--snr nan"]),
    (["--fa-per-hour", "-1"], ["--fa-per-hour -1"]),
])
def test_evaluate_stream_refuses_bad_numbers(capsys, tmp_path: Path, mini_dir: Path,
                                             extra: list[str], names: list[str]) -> None:
    code, err = run_main(capsys, "evaluate-stream", "missing.tflite", "--data", mini_dir,
                         *extra)
    assert_error(code, err, "evaluate-stream", *names)


# --------------------------------------------------------------------------------------------
# 6. a closed pipe on stdout
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--help"], ["features", str(DEMO)],
                                  ["make-stream", "--help"]])
def test_closed_stdout_ends_quietly(argv: list[str]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "kws.cli", *argv], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()                     # the reader is gone before the first write
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert code in (0, EXIT_BROKEN_PIPE), err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert err == ""


def test_piped_into_head_through_a_shell() -> None:
    r = subprocess.run(f'"{sys.executable}" -m kws.cli --help | head -c 5; '
                       'echo " rc=${PIPESTATUS[0]}"', shell=True, executable="/bin/bash",
                       cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.stdout.startswith("usage") and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.strip().endswith(("rc=0", f"rc={EXIT_BROKEN_PIPE}"))


# --------------------------------------------------------------------------------------------
# 8. SIGKILL at random moments: the outputs are old or complete, never half-written
# --------------------------------------------------------------------------------------------

PNG_END = b"IEND\xaeB`\x82"


def test_features_killed_at_random_moments_leaves_old_or_complete_files(
        tmp_path: Path) -> None:
    out, png = tmp_path / "f.npy", tmp_path / "f.png"
    argv = [sys.executable, "-m", "kws.cli", "features", str(DEMO), "--out", str(out),
            "--png", str(png)]
    t0 = time.monotonic()
    subprocess.run(argv, cwd=REPO, env=ENV, capture_output=True, check=True, timeout=120)
    full_s = time.monotonic() - t0
    expected, expected_png = np.load(out), png.read_bytes()
    assert expected.shape == (749, 10) and expected_png.endswith(PNG_END)

    old = np.full((3, 10), 7, dtype=np.int8)
    buf = io.BytesIO()
    np.save(buf, old)
    rng = np.random.default_rng(20240613)
    outcomes = set()
    for delay in rng.uniform(0.1 * full_s, 1.1 * full_s, size=6):
        out.write_bytes(buf.getvalue())
        png.write_bytes(b"old")
        proc = subprocess.Popen(argv, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(float(delay))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        got = np.load(out)
        if got.shape == old.shape:
            np.testing.assert_array_equal(got, old)
            outcomes.add("old npy")
        else:
            np.testing.assert_array_equal(got, expected)
            outcomes.add("new npy")
        assert png.read_bytes() in (b"old", expected_png)
        visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
        assert visible == ["f.npy", "f.png"]
    assert outcomes                         # (which ones depends on the machine's speed)
    subprocess.run(argv, cwd=REPO, env=ENV, capture_output=True, check=True, timeout=120)
    assert not [p for p in tmp_path.iterdir() if TEMP_MARKER in p.name]  # stale ones gone
    np.testing.assert_array_equal(np.load(out), expected)

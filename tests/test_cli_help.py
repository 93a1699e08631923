"""kws --help and every sub-command's help: defaults shown, order, --version, bare kws, and
the one-line errors for a missing optional dependency."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from kws import cli
from kws.commands import MissingExtraError, install_command, missing_extra_message
from kws.commands.evaluate import default_out_dir
from kws.commands.evaluate_stream import place_paths

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ["download", "prepare", "features", "train", "quantize", "tune-detector", "evaluate",
            "evaluate-stream", "make-stream", "listen", "detect", "export"]
"""The user's path and the tools around it, in the order ``kws --help`` lists them."""


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _entry(help_text: str, invocation: str) -> str:
    """The help entry of one argument: its first line and the deeper-indented lines after."""
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  ") and line[2:].split("  ")[0].startswith(invocation) \
                and not line[2].isspace():
            body = [line]
            for more in lines[i + 1:]:
                if not more.strip() or len(more) - len(more.lstrip()) <= 2:
                    break
                body.append(more)
            return " ".join(part.strip() for part in body)
    raise AssertionError(f"no help entry for {invocation!r}")


def _with_a_default(p: argparse.ArgumentParser) -> list[argparse.Action]:
    """Arguments that take a value the user may leave out (flags and required ones aside)."""
    return [a for a in p._actions
            if a.nargs != 0 and not a.required and a.default is not argparse.SUPPRESS
            and (a.option_strings or a.nargs in ("?", "*"))]


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_shows_its_default(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    p = _subparsers()[command]
    text = p.format_help()
    for action in _with_a_default(p):
        name = action.option_strings[0] if action.option_strings else action.dest
        entry = _entry(text, name)
        assert re.search(r"\bdefaults?\b", entry, re.I), (command, entry)
        assert "None" not in entry and "PosixPath" not in entry and "<" not in entry.replace(
            "<version>", "").replace("<snr>", ""), (command, entry)
        assert str(REPO) not in entry, (command, entry)   # no absolute checkout path


def test_defaults_show_what_argparse_would_print_as_python() -> None:
    p = _subparsers()
    assert "(default: 5)" in " ".join(p["download"].format_help().split())
    quantize = " ".join(p["quantize"].format_help().split())
    assert "configs/calibration_list.txt, shipped with kws" in quantize
    assert "(default: 20 10)" in quantize                   # a list as it is typed
    assert "(default: nano33ble)" in " ".join(p["export"].format_help().split())


def test_commands_are_listed_in_workflow_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(_subparsers())[:len(WORKFLOW)] == WORKFLOW
    assert cli.main([]) == 0                                   # a bare kws: the full help
    out = capsys.readouterr().out
    places = [re.search(rf"\n    {name}\s", out).start() for name in WORKFLOW]  # type: ignore
    assert places == sorted(places)
    assert "usage: kws" in out and "error" not in out


def test_version_comes_from_the_package_metadata() -> None:
    r = subprocess.run([sys.executable, "-m", "kws.cli", "--version"], capture_output=True,
                       text=True, cwd="/", timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"kws {version('kws')}", r


def test_evaluate_of_a_packaged_model_does_not_write_into_the_package(tmp_path: Path,
                                                                      monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_out_dir(REPO / "kws" / "assets" / "default_model.tflite") == tmp_path
    assert default_out_dir(tmp_path / "runs" / "s" / "model.tflite") is None  # beside it


@pytest.mark.parametrize("given, placed", [
    (["m.tflite"], ("m.tflite", None, None)),
    (["s.wav", "s.csv"], (None, "s.wav", "s.csv")),            # the shipped model
    (["m.tflite", "s.wav", "s.csv"], ("m.tflite", "s.wav", "s.csv")),
    ([], (None, None, None)),
])
def test_evaluate_stream_model_is_optional(given: list[str], placed: tuple) -> None:
    args = _subparsers()["evaluate-stream"].parse_args(given)
    place_paths(args)
    assert tuple(None if v is None else str(v) for v in (args.model, args.stream,
                                                         args.truth)) == placed


def test_missing_extra_names_the_pip_command() -> None:
    message = missing_extra_message("keras.src.models")
    assert message is not None and "'train' extra" in message
    assert message.endswith(install_command("train")) and "\n" not in message
    assert "'micro' extra" in (missing_extra_message("tflite_micro") or "")
    assert missing_extra_message("numpy") is None            # not optional: a real bug
    extras = (REPO / "pyproject.toml").read_text()
    assert re.search(r"^micro = \[\"tflite-micro\"\]", extras, re.M)
    assert re.search(r"^train = \[\"tensorflow-cpu>=2.16\", \"tflite-micro\"\]", extras, re.M)
    assert issubclass(MissingExtraError, Exception)


_BLOCKED = ("import sys\n"
            "for name in sys.argv[1].split(','):\n"
            "    sys.modules[name] = None  # as if not installed\n"
            "from kws.cli import main\n"
            "sys.exit(main(sys.argv[2:]))\n")


@pytest.mark.parametrize("blocked, argv, extra", [
    ("tensorflow,keras", ["train", "--config", "configs/ds_cnn_tiny.yaml", "--data", "{mini}",
                          "--out", "{tmp}/run"], "train"),
    ("tflite_micro", ["evaluate", "kws/assets/default_model.tflite", "--data", "{mini}",
                      "--out", "{tmp}"], "micro"),
    ("tflite_micro", ["export", "--out", "{tmp}/nano"], "micro"),
])
def test_missing_optional_module_is_one_line_with_the_install_command(
        blocked: str, argv: list[str], extra: str, mini_dir: Path, tmp_path: Path) -> None:
    argv = [a.format(mini=mini_dir, tmp=tmp_path) for a in argv]
    r = subprocess.run([sys.executable, "-c", _BLOCKED, blocked, *argv], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"kws {argv[0]}: error: needs "), lines[0]
    assert f"'{extra}' extra: pip install " in lines[0] and f"[{extra}]'" in lines[0]
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing written
    assert not (tmp_path / "run").exists()                       # no empty run folder


def test_list_devices_without_an_input_says_so(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import types

    from kws import sources

    fake = types.SimpleNamespace(PortAudioError=OSError, query_devices=lambda: [
        {"name": "speaker", "max_input_channels": 0, "max_output_channels": 2}])
    monkeypatch.setattr(sources, "import_sounddevice", lambda: fake)
    assert sources.list_devices() == ("no audio input device found (PortAudio sees 1 "
                                      "output-only device); use --input FILE to play a "
                                      "recording instead")
    fake.query_devices = lambda: []
    assert "sees no audio device at all" in sources.list_devices()
    from kws.commands import listen

    monkeypatch.setattr(listen, "list_devices", sources.list_devices)
    assert cli.main(["listen", "--list-devices"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("no audio input device found")

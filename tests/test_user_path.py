"""The README's user path, as written, in a fresh virtualenv: once installed the README's way
(``pip install -e .`` and the extras it names), once with a non-editable ``pip install .``.

The install lines and the kws commands are parsed from README.md, so a change there is
tested here. Each run installs from a git clone of the working tree (nothing is written
into the checkout) into a venv made with --system-site-packages (the dependencies already
installed satisfy pip without a download). Optional modules (TensorFlow, Keras, TFLite
Micro) are hidden from every step until a README install line has named the extra that
brings them, so a step that needs more than the README says fails. Stand-ins that keep it
short: the mini corpus (linked where ``kws download`` would put the dataset), the tiny
config, ``--no-tune``, ``--input`` and ``--duration`` for the microphone.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = "kws/assets/demo.wav"
MODULES_OF = {"tensorflow-cpu": ("tensorflow", "keras"), "tflite-micro": ("tflite_micro",)}
"""Distributions of pyproject's extras -> the modules a step may import from them."""
NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard", "Traceback")
HIDE_PTH = ("import os, sys; [sys.modules.__setitem__(n, None) for n in "
            "os.environ.get('KWS_TEST_HIDE', '').split(',') if n]\n")
"""A .pth line in the venv: the modules named in $KWS_TEST_HIDE import as if not installed."""


def _blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    return [b.strip() for b in re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S)]


def _user_path_block() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## The user's path", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block, "README: no code block under 'The user's path'"
    lines = [re.sub(r"\s+#.*$", "", ln).strip() for ln in block.group(1).splitlines()]
    return [ln for ln in lines if ln]


def readme_steps() -> list[str]:
    """Every install line and kws command of the README's path, in order: the first code
    block (install and run the main job), then the user's path."""
    first = [part.strip() for part in _blocks()[0].split("&&")]
    steps = first + _user_path_block()
    assert steps[0].startswith("pip install"), steps[0]
    assert all(s.startswith(("pip install", "kws ")) for s in steps), steps
    return steps


def _extras() -> dict[str, list[str]]:
    """pyproject's [project.optional-dependencies] (one line per extra; tomllib is 3.11+)."""
    text = (REPO / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return {name: re.findall(r'"([^"]+)"', items)
            for name, items in re.findall(r"^([\w-]+) = \[(.*)\]$", section, flags=re.M)}


def _provided(install_line: str) -> set[str]:
    """Optional modules an install line brings (from the extras it names)."""
    found: set[str] = set()
    for names in re.findall(r"\[([\w,\s-]+)\]", install_line):
        for extra in names.split(","):
            for requirement in _extras()[extra.strip()]:
                dist = re.split(r"[<>=!~ ]", requirement)[0]
                found.update(MODULES_OF.get(dist, ()))
    return found


def stand_in(step: str) -> str | None:
    """The step as run here (None: skipped), with the short stand-ins of the docstring."""
    argv = shlex.split(step)
    if argv[:2] == ["kws", "download"]:
        return None                                    # the mini corpus is linked instead
    if argv[:2] == ["kws", "train"]:
        argv = [a.replace("configs/ds_cnn_s.yaml", "configs/ds_cnn_tiny.yaml") for a in argv]
        assert "configs/ds_cnn_tiny.yaml" in argv, step
    if argv[:2] == ["kws", "quantize"]:
        argv += ["--no-tune"]
    if argv[:2] == ["kws", "listen"]:
        if "--input" not in argv:
            argv += ["--input", DEMO]
        argv += ["--duration", "1"]
    return shlex.join(argv)


def _non_editable(step: str) -> str:
    if not step.startswith("pip install"):
        return step
    argv = [a for a in shlex.split(step) if a != "-e"]
    return shlex.join(argv)


def _package_files(venv: Path, clone: Path) -> dict[str, float]:
    """Every file of the installed kws package (in the clone or the venv) with its mtime."""
    found = {}
    for root in [clone / "kws", *venv.glob("lib/python*/site-packages/kws")]:
        for p in root.rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts:
                found[str(p)] = p.stat().st_mtime
    return found


def _run(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.parametrize("editable", [True, False], ids=["readme", "non-editable"])
def test_readme_user_path_in_a_fresh_venv(editable: bool, tmp_path: Path,
                                          mini_dir: Path) -> None:
    clone = tmp_path / "kws"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    # the working tree as it is, uncommitted edits included (git clone takes HEAD only)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if (REPO / rel).is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, clone / rel)
    (clone / "data").mkdir()
    (clone / "data" / "speech_commands_v0.02").symlink_to(mini_dir)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "kws_test_hide.pth").write_text(HIDE_PTH)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               VIRTUAL_ENV=str(venv), XDG_CACHE_HOME=str(tmp_path / "cache"),
               PIP_NO_INPUT="1", PIP_PROGRESS_BAR="off", COLUMNS="100")
    optional = {m for mods in MODULES_OF.values() for m in mods}
    have: set[str] = set()
    before: dict[str, float] | None = None
    for step in readme_steps():
        run = stand_in(step if editable else _non_editable(step))
        if run is None:
            continue
        env["KWS_TEST_HIDE"] = ",".join(sorted(optional - have))
        r = _run(run, clone, env)
        if run.startswith("pip install"):
            have |= _provided(run)
            where = _run(f"{venv / 'bin' / 'python'} -c 'import kws; print(kws.__file__)'",
                         Path("/"), env).stdout.strip()          # no kws in the cwd
            home = clone if editable else site
            assert Path(where).is_relative_to(home), (run, where)
            before = _package_files(venv, clone)
            continue
        for line in r.stderr.splitlines():
            assert not any(n in line for n in NOISE), (run, line)
        assert before is not None and _package_files(venv, clone) == before, run  # read-only
    for out in ("runs/s/model.tflite", "runs/s/manifest.json", "runs/s/confusion_test.png"):
        assert (clone / out).is_file(), out
    assert any((clone / "nano").rglob("*.ino")), "kws export wrote no sketch"

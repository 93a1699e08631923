"""``kws export`` and ``kws quantize`` killed (SIGKILL) at seeded random moments (issue 13).

Each trial starts the command in a child process and kills it: either at a random moment of
the whole run, or a random moment after its staging folder appeared, with the child's file
writes and renames slowed (so that the kills land before, during and after the completion
marker and between the moves). After every kill the output is the old state or the complete
new state (every manifest sha256 matches its file; nothing half-written), and the clean-up a
later run does first leaves no temporary behind; a last full run does the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kws.fileio import TEMP_MARKER
from kws.publish import COMPLETE_NAME, STAGING_PREFIX

REPO = Path(__file__).resolve().parents[1]
SEED = 13
"""Seed of the kill delays."""
SLOW_S = 0.12
"""Seconds the slowed child sleeps before and after each staged write and rename."""

CHILD = r"""
import os, sys, time
slow = float(sys.argv[1])
if slow:
    def slowed(fn):
        def wrapper(*args, **kwargs):
            time.sleep(slow)
            out = fn(*args, **kwargs)
            time.sleep(slow)
            return out
        return wrapper
    import kws.publish as publish
    publish.write_synced = slowed(publish.write_synced)
    os.replace = slowed(os.replace)
    if sys.argv[2] == "export":
        import firmware_export.export as export
        export._write_synced = slowed(export._write_synced)
        export._exchange = slowed(export._exchange)
        export.os.rename = slowed(os.rename)
from kws.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _start(args: list[str], slow: float) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(slow), *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _kill_after(proc: subprocess.Popen, delay: float, folder: Path | None, prefix: str,
                timeout: float = 120) -> None:
    """SIGKILL ``proc`` ``delay`` s after start, or (``folder`` given) ``delay`` s after an
    entry named ``prefix...`` appeared in ``folder``."""
    if folder is not None:
        end = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < end and \
                not any(p.name.startswith(prefix) for p in folder.iterdir()):
            time.sleep(0.005)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=timeout)
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"child failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()


def _run_to_end(args: list[str]) -> None:
    proc = _start(args, 0.0)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]


def _snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _delays(rng: np.random.Generator, modes: list[str], span: float, window: float
            ) -> list[tuple[str, float]]:
    return [(m, float(rng.uniform(0.2, 1.0) * span if m == "random" else
                      rng.uniform(0, window))) for m in modes]


# ------------------------------------------------------------------------------------------
# kws export
# ------------------------------------------------------------------------------------------

def _export_state(out: Path, old: dict[str, bytes]) -> str:
    """'old' (byte for byte) or 'new' (a complete export for --cpu-mhz 100); fails otherwise."""
    snap = _snapshot(out)
    if snap == old:
        return "old"
    assert "kws_export.json" in snap, sorted(snap)
    manifest = json.loads(snap["kws_export.json"])
    assert manifest["plan"]["cpu_mhz"] == 100
    assert set(snap) == set(manifest["files"]) | {"kws_export.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(snap[name]).hexdigest() == digest, name
    return "new"


def test_kws_export_killed_leaves_the_old_or_the_new_export(tmp_path: Path) -> None:
    from firmware_export.export import export_model, recover_destination
    from kws.runtime import DEFAULT_MODEL

    model = tmp_path / "run" / "model.tflite"
    model.parent.mkdir()
    shutil.copyfile(DEFAULT_MODEL, model)
    dest = tmp_path / "boards"
    dest.mkdir()
    out = dest / "exp"
    export_model(model, out, "generic")               # the old state
    old = _snapshot(out)
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)
    args = ["export", str(model), "--board", "generic", "--cpu-mhz", "100", "--out", str(out)]
    rng = np.random.default_rng(SEED)
    seen, left = [], 0
    for mode, delay in _delays(rng, ["random", "random", "random", "staged", "staged",
                                     "staged", "staged"], span=5.0, window=5.0):
        shutil.rmtree(out)
        shutil.copytree(pristine, out)
        proc = _start(args, SLOW_S if mode == "staged" else 0.0)
        _kill_after(proc, delay, dest if mode == "staged" else None, f".exp{TEMP_MARKER}")
        seen.append(_export_state(out, old))
        leftovers = _hidden(dest)
        seen[-1] += f" ({len(leftovers)} temporaries)"
        assert all(TEMP_MARKER in n or ".kws-old-" in n for n in leftovers), leftovers
        left += bool(leftovers)
        recover_destination(out)                         # what the next export does first
        assert _hidden(dest) == [] and seen[-1].startswith(_export_state(out, old))
    assert left >= 1, seen     # some kills did leave temporaries for the clean-up to remove
    _run_to_end(args)                       # a later run, to its end
    assert _export_state(out, old) == "new" and sorted(p.name for p in dest.iterdir()) == ["exp"]


def test_export_removes_only_dead_temporaries(tmp_path: Path) -> None:
    from firmware_export.export import recover_destination

    out = tmp_path / "exp"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".exp{TEMP_MARKER}{dead}-deadbeef"
    live = tmp_path / f".exp{TEMP_MARKER}{os.getpid()}-cafe0000"
    moved_aside = tmp_path / f".exp.kws-old-{dead}-0badf00d"
    for folder in (stale, live, moved_aside):
        folder.mkdir()
        (folder / "kws_export.json").write_text(folder.name)
    recover_destination(out)   # out missing: the export moved aside by a dead run comes back
    assert (out / "kws_export.json").read_text() == moved_aside.name
    assert not stale.exists() and live.exists() and not moved_aside.exists()


# ------------------------------------------------------------------------------------------
# kws quantize
# ------------------------------------------------------------------------------------------

SET = ("model.tflite", "model_device.tflite", "manifest.json")
NEW_THRESHOLD = 201


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, mini_dir: Path) -> tuple[Path, dict]:
    """A trained ds_cnn_tiny run, quantized once (the old state)."""
    from kws.quantize import quantize_run
    from kws.train import train
    from tests.model_fakes import SmallData

    data = SmallData(mini_dir, per_class=4)
    out = tmp_path_factory.mktemp("kill") / "run"
    train(REPO / "configs" / "ds_cnn_tiny.yaml", mini_dir, out, data=data, progress=False)
    quantize_run(out, mini_dir, data=data, splits=("validation",))
    return out, {name: (out / name).read_bytes() for name in SET}


def _quantize_state(run: Path, old: dict[str, bytes]) -> str:
    """'old' (byte for byte) or 'new' (a complete set stamped with NEW_THRESHOLD)."""
    from kws.runtime import read_metadata

    files = {name: (run / name).read_bytes() for name in SET}
    if files == old:
        return "old"
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == set(SET[:2])
    for name in SET[:2]:
        info = manifest["files"][name]
        assert info["sha256"] == hashlib.sha256(files[name]).hexdigest(), name
        assert info["bytes"] == len(files[name]), name
    assert read_metadata(files["model.tflite"])["detector"]["threshold"] == NEW_THRESHOLD
    return "new"


def test_kws_quantize_killed_leaves_the_old_or_the_new_set(tiny_run, mini_dir: Path,
                                                           tmp_path: Path) -> None:
    from kws.fileio import remove_stale_temps
    from kws.publish import recover_published_set

    run, old = tiny_run
    detector = tmp_path / "detector.yaml"
    detector.write_text(f"detector:\n  threshold: {NEW_THRESHOLD}\n")
    args = ["quantize", str(run), "--data", str(mini_dir), "--detector", str(detector)]
    rng = np.random.default_rng(SEED)
    seen, left = [], 0
    for mode, delay in _delays(rng, ["random", "staged", "staged", "staged", "staged"],
                               span=9.0, window=2.0):
        for name, payload in old.items():
            (run / name).write_bytes(payload)
        proc = _start(args, SLOW_S if mode == "staged" else 0.0)
        _kill_after(proc, delay, run if mode == "staged" else None, STAGING_PREFIX)
        leftovers = _hidden(run)
        assert all(n.startswith(STAGING_PREFIX) or TEMP_MARKER in n for n in leftovers)
        complete = [n for n in leftovers if (run / n / COMPLETE_NAME).is_file()]
        if leftovers and not complete:  # killed before the marker: the new set is not visible
            assert _quantize_state(run, old) == "old", leftovers
        seen.append("complete staging" if complete else "staging" if leftovers else
                    _quantize_state(run, old))
        left += bool(leftovers)
        recover_published_set(run)          # what kws quantize (and kws export) do first
        remove_stale_temps(run)
        assert _hidden(run) == []
        seen[-1] += f" -> {_quantize_state(run, old)}"
    assert left >= 1, seen
    _run_to_end(args)                       # a later run, to its end
    assert _quantize_state(run, old) == "new" and _hidden(run) == []

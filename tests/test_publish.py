"""kws.publish: a set of files replaced as one; what a killed publication left is finished
(complete staging) or deleted (incomplete), never touched while its writer runs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kws.errors import KwsError
from kws.fileio import remove_stale_temps
from kws.publish import (
    COMPLETE_NAME,
    STAGING_PREFIX,
    publish_files,
    publishing,
    recover_published_set,
)


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


def _stage(folder: Path, pid: int, files: dict[str, bytes], complete: bool,
           names: list[str] | None = None) -> Path:
    staging = folder / f"{STAGING_PREFIX}{pid}-0123abcd"
    staging.mkdir()
    for name, payload in files.items():
        (staging / name).write_bytes(payload)
    if complete:
        (staging / COMPLETE_NAME).write_text(json.dumps({"files": names or sorted(files)}))
    return staging


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_publish_replaces_the_set_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"old a")
    (tmp_path / "keep").write_bytes(b"k")
    assert publish_files(tmp_path, {"a": b"new a", "b": b"new b"}) == [tmp_path / "a",
                                                                      tmp_path / "b"]
    assert _contents(tmp_path) == {"a": b"new a", "b": b"new b", "keep": b"k"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "keep"]


def test_an_error_while_staging_keeps_the_old_set(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"old")
    with pytest.raises(RuntimeError, match="half-way"), publishing(tmp_path) as pub:
        staged = pub.write("a", b"new")
        assert staged.read_bytes() == b"new" and staged.parent != tmp_path
        raise RuntimeError("half-way")
    assert _contents(tmp_path) == {"a": b"old"} and len(list(tmp_path.iterdir())) == 1


def test_recovery_finishes_a_complete_staging_and_drops_an_incomplete_one(
        tmp_path: Path) -> None:
    dead = _dead_pid()
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.tflite").write_bytes(b"new model")   # moved before the kill
    (run / "manifest.json").write_bytes(b"old manifest")
    complete = _stage(run, dead, {"manifest.json": b"new manifest"}, complete=True,
                      names=["model.tflite", "manifest.json"])
    assert recover_published_set(run) == [run / "manifest.json"]
    assert _contents(run) == {"manifest.json": b"new manifest", "model.tflite": b"new model"}
    assert not complete.exists()
    incomplete = _stage(run, dead, {"model.tflite": b"newer"}, complete=False)
    assert recover_published_set(run) == []
    assert not incomplete.exists() and (run / "model.tflite").read_bytes() == b"new model"


def test_live_writers_and_odd_markers(tmp_path: Path) -> None:
    live = _stage(tmp_path, os.getpid(), {"a": b"1"}, complete=True)
    assert recover_published_set(tmp_path) == [] and live.exists()
    shutil.rmtree(live)
    bad = _stage(tmp_path, _dead_pid(), {"a": b"1"}, complete=False)
    (bad / COMPLETE_NAME).write_text(json.dumps({"files": ["../escape"]}))
    assert recover_published_set(tmp_path) == [] and not bad.exists()
    assert not (tmp_path.parent / "escape").exists()
    with pytest.raises(KwsError, match="plain file names"):
        publish_files(tmp_path, {"sub/a": b"x"})


def test_remove_stale_temps_never_deletes_a_staging(tmp_path: Path) -> None:
    staging = _stage(tmp_path, _dead_pid(), {"a": b"1"}, complete=True)
    remove_stale_temps(tmp_path)
    assert staging.exists()
    recover_published_set(tmp_path)
    assert _contents(tmp_path) == {"a": b"1"}


def test_stamp_detectors_publishes_the_model_with_its_manifest(tmp_path: Path) -> None:
    from kws.config import DetectorConfig
    from kws.quantize import stamp_detectors
    from kws.runtime import DEFAULT_MODEL, read_metadata

    model = tmp_path / "model.tflite"
    shutil.copyfile(DEFAULT_MODEL, model)
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"files": {"model.tflite": {"bytes": 0, "sha256": "0"}}}))
    stamp_detectors(model, DetectorConfig(threshold=222))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    data = model.read_bytes()
    assert manifest["files"]["model.tflite"] == {"bytes": len(data),
                                                 "sha256": hashlib.sha256(data).hexdigest()}
    assert read_metadata(model)["detector"]["threshold"] == 222
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "model.tflite"]

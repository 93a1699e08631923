"""``kws export``: a trained model -> a folder of C/C++ sources for a board.

    model.tflite (with kws metadata)
      -> device copy (kws.quantize.strip_for_device: what TFLite Micro reads, nothing else)
      -> operators, MACs, input/output checks, smallest tensor arena (TFLite Micro)
      -> device plan: inference hop, detector settings, arena (firmware_export.settings)
      -> files, in a temporary folder beside the destination:
           kws_model_data.h/.cc   the device copy as a const, 16-byte-aligned array
           kws_model_settings.h   every number from the metadata + the plan
           kws_model_ops.h        MicroMutableOpResolver<N> with exactly the model's ops
           kws_frontend.{h,c} + kws_frontend_tables.{h,c} (generated), kws_detector.{h,c},
           kws_stream.{h,c} (the pipeline: front end -> history -> windows -> detector)
           nano33ble: kws_nano33ble/kws_nano33ble.ino + README.md   generic: main.cc + README.md
           kws_export.json        the manifest: what was written, from which model
      -> self-check (array and settings parsed back), budget (arm-none-eabi-gcc + size)
      -> rename into place (an earlier export is swapped out in one step, then deleted); a
         later export deletes the temporary folders of killed runs

Refusals (one-line errors, nothing written): a model without kws metadata or with an input
or output the board cannot feed, an unknown board, a destination that exists and is neither
empty nor an earlier export (no kws_export.json), or an earlier export holding files kws did
not write or that were edited since (``force`` replaces edited files).

TensorFlow is never imported here: numpy, kws.runtime (LiteRT, TFLite Micro) and the standard
library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from firmware_export import ExportError
from firmware_export.budget import Budget, measure_budget
from firmware_export.model_source import (
    parse_model_array,
    render_model_array,
    render_model_header,
)
from firmware_export.settings import (
    NANO33BLE_MHZ,
    DevicePlan,
    comment_text,
    make_plan,
    parse_settings,
    render_ops_header,
    render_settings,
    same_detector,
    settings_detector,
    settings_frontend,
    timing_sentence,
)
from kws.errors import ConfigError, ModelError
from kws.fileio import fsync_dir, pid_alive, remove_stale_temps, temp_name, write_synced
from kws.frontend.c_tables import render_frontend_tables
from kws.publish import recover_published_set
from kws.tflite_ops import parse_tflite

BOARDS = ("nano33ble", "generic")
"""Targets of ``kws export --board``."""
MANIFEST_NAME = "kws_export.json"
"""The file that marks a folder as a kws export (and lists what it wrote)."""
MANIFEST_FORMAT = "kws-export"
MANIFEST_VERSION = 1
SKETCH_NAME = "kws_nano33ble"
"""The sketch folder and .ino name (Arduino requires them to be equal)."""
HERE = Path(__file__).resolve().parent
C_DIR = HERE / "c"
ARDUINO_DIR = HERE / "arduino"
GENERIC_DIR = HERE / "generic"
COPIED_SOURCES = ("kws_frontend.h", "kws_frontend.c", "kws_detector.h", "kws_detector.c",
                  "kws_stream.h", "kws_stream.c")
"""The C twins, copied unchanged from firmware_export/c: the front end, the detector and the
streaming pipeline that joins them (used by the sketch and by main.cc)."""
PALETTE = ("green", "red", "blue", "yellow", "magenta", "cyan", "white")
"""LED colour of label i: PALETTE[i % 7], in the order of kPalette in kws_nano33ble.ino."""


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What an export wrote and decided."""

    out_dir: Path
    """The destination folder (holds kws_export.json)."""
    source_dir: Path
    """The folder with the sources: out_dir/kws_nano33ble for the sketch, else out_dir."""
    board: str
    files: tuple[str, ...]
    """Every file written, relative to out_dir (the manifest included)."""
    model_path: Path
    plan: DevicePlan
    budget: Budget
    replaced: bool
    """True when an earlier export in out_dir was replaced."""


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() or p.is_symlink())


def check_destination(out: Path, force: bool = False) -> bool:
    """Refuse a destination kws must not overwrite; return True if it is an earlier export.

    Allowed: a missing path, an empty folder, or an earlier export whose files are exactly
    those its manifest lists, unedited (edited ones too with ``force``). Raises ExportError.
    """
    if not out.exists() and not out.is_symlink():
        return False
    if not out.is_dir() or out.is_symlink():
        raise ExportError(f"{out} exists and is not a folder")
    present = _files_under(out)
    if not present and not any(out.iterdir()):
        return False
    manifest = out / MANIFEST_NAME
    if not manifest.is_file():
        raise ExportError(f"{out} exists and is not a kws export (no {MANIFEST_NAME}); choose "
                          "another --out or empty it")
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        if recorded.get("format") != MANIFEST_FORMAT:
            raise ValueError("format")
        files: dict[str, str] = dict(recorded["files"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ExportError(f"{manifest} is not a kws export manifest; choose another --out "
                          "or remove the folder") from None
    extra = [f for f in present if f != MANIFEST_NAME and f not in files]
    if extra:
        raise ExportError(f"{out / extra[0]} was not written by kws export; move it away or "
                          "choose another --out")
    for name, digest in files.items():
        path = out / name
        if path.is_file() and sha256_bytes(path.read_bytes()) != digest and not force:
            raise ExportError(f"{path} was edited since it was exported; --force replaces it")
    return True


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (TFLite Micro's C++ logs failed arena sizes while searching)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _banner(model_file: str, model_sha: str, name: str, board: str, style: str = "c") -> str:
    """The "generated, do not edit" comment. The file and model names pass
    :func:`comment_text` (letters, digits, ``_-.+`` only): a comment never carries raw text."""
    lines = [f"Generated by kws export from {comment_text(model_file)} (sha256 "
             f"{comment_text(model_sha[:16])}...),",
             f"model {comment_text(name)}, board {comment_text(board)}. Do not edit: export the "
             "model again instead."]
    if style == "c":
        return "/*\n" + "".join(f" * {line}\n" for line in lines) + " */\n"
    return "".join(f"<!-- {line} -->\n" for line in lines)


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    if "{{" in template:
        start = template.index("{{")
        raise ExportError(f"template placeholder {template[start:start + 30]!r} has no value")
    return template


MARKDOWN_SPECIAL = frozenset("\\`*[]<>|{}")
"""Characters of metadata text escaped with a backslash in the generated README."""


def markdown_text(text: str) -> str:
    """Metadata text for the README: one line, Markdown and HTML characters escaped, control
    characters shown as escapes (\\n, \\x00)."""
    out = []
    for c in str(text):
        if c in MARKDOWN_SPECIAL:
            out.append("\\" + c)
        elif not c.isprintable():
            out.append(repr(c)[1:-1].replace("\\", "\\\\"))
        else:
            out.append(c)
    return "".join(out)


def settings_table(plan: DevicePlan) -> str:
    """The board's settings next to the laptop's (metadata) as a Markdown table."""
    d, m, fe = plan.detector, plan.metadata_detector, plan.frontend
    per_kw = ", ".join(f"{markdown_text(k)} {v}"
                       for k, v in sorted(d.keyword_thresholds.items()))
    rows = [
        ("inference hop", f"{plan.hop_ms:g} ms ({plan.hop_frames} frames)",
         f"{m.hop_frames * fe.stride_ms:g} ms ({m.hop_frames} frames)"),
        ("average window", f"{d.average_window_ms} ms", f"{m.average_window_ms} ms"),
        ("min count", str(d.min_count), str(m.min_count)),
        ("threshold (0..255)", f"{d.threshold}" + (f" ({per_kw})" if per_kw else ""),
         "same"),
        ("suppression", f"{d.suppression_ms} ms", "same"),
        ("keywords", ", ".join(markdown_text(plan.labels[i]) for i in plan.tables.wake),
         "same"),
    ]
    out = ["| setting | board | laptop (model metadata) |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    out.append("")
    where = ("on the emulated Cortex-M4 with CMSIS-NN" if plan.measured
              else "on the host, reference kernels")
    out.append(f"One inference: {plan.macs:,} multiply-accumulates; "
               f"{markdown_text(timing_sentence(plan))}. Tensor arena: {plan.arena_size:,} "
               f"bytes (TFLite Micro needed {plan.arena_measured:,} {where}, + "
               f"{plan.arena_margin:.0%}).")
    return "\n".join(out)


def colours(plan: DevicePlan) -> str:
    """'yes = green, no = red, ...' for the wake labels."""
    return ", ".join(f"{markdown_text(plan.labels[i])} = {PALETTE[int(i) % len(PALETTE)]}"
                     for i in plan.tables.wake)


def render_files(plan: DevicePlan, device: bytes, board: str, model_file: str,
                 model_sha: str) -> dict[str, str]:
    """Every source file of the export: {path relative to the source folder: text}."""
    banner = _banner(model_file, model_sha, plan.model_name, board)
    array_name = "kws_model_data.cpp" if board == "nano33ble" else "kws_model_data.cc"
    files = {
        "kws_model_data.h": render_model_header(banner, len(device)),
        array_name: render_model_array(banner, device),
        "kws_model_settings.h": render_settings(plan, banner),
        "kws_model_ops.h": render_ops_header(plan, banner),
    }
    files.update(render_frontend_tables(plan.frontend))
    for name in COPIED_SOURCES:
        files[name] = (C_DIR / name).read_text(encoding="utf-8")
    if board == "nano33ble":
        files[f"{SKETCH_NAME}.ino"] = (ARDUINO_DIR / f"{SKETCH_NAME}.ino").read_text("utf-8")
    else:
        files["main.cc"] = (GENERIC_DIR / "main.cc").read_text("utf-8")
    return files


def render_readme(plan: DevicePlan, board: str, model_file: str, model_sha: str,
                  budget: Budget) -> str:
    """README.md of the export: install, build and upload steps, settings and budget."""
    template = ARDUINO_DIR / "README.md.in" if board == "nano33ble" else \
        GENERIC_DIR / "README.md.in"
    values = {"MODEL_NAME": markdown_text(plan.model_name),
              "MODEL_FILE": markdown_text(model_file), "MODEL_SHA": model_sha,
              "HOP_MS": f"{plan.hop_ms:g}", "COLOURS": colours(plan),
              "ARENA": str(plan.arena_size), "SETTINGS": settings_table(plan),
              "NUM_OPS": str(len(plan.ops)), "SAMPLE_RATE": str(plan.frontend.sample_rate_hz),
              "CPU_MHZ": f"{plan.cpu_mhz:g}", "BUDGET": budget.format(board)}
    return _fill(template.read_text("utf-8"), values)


def self_check(files: dict[str, str], plan: DevicePlan, device: bytes) -> None:
    """Parse the generated array and settings back; raise ExportError if they differ from
    the device model and the plan (a bug in a renderer, never the user's fault)."""
    array_name = next(n for n in files if n.startswith("kws_model_data.c"))
    data, length, align = parse_model_array(files[array_name])
    if data != device or length != len(device) or align != 16:
        raise ExportError("internal error: the generated model array differs from the model")
    values = parse_settings(files["kws_model_settings.h"])
    if settings_frontend(values) != plan.frontend or \
            not same_detector(settings_detector(values), plan.detector, plan.labels) or \
            tuple(values["KWS_LABELS"]) != plan.labels:
        raise ExportError("internal error: the generated settings differ from the plan")


OLD_MARKER = ".kws-old-"
"""Where no atomic exchange exists, an earlier export is first renamed to
``.<out>.kws-old-<pid>-<hex>``; a later export renames it back if the run died in between."""
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _write_synced(path: Path, text: str) -> None:
    """Write UTF-8 text with "\n" line ends and fsync it (kws.fileio.write_synced)."""
    write_synced(path, text.encode("utf-8"))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _place(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out``, replacing an earlier export in one step:
    a reader (or a kill) finds the old export or the new one, never neither."""
    if not out.exists() and not out.is_symlink():
        os.rename(tmp, out)
    elif _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # now the earlier export (a stale temp if killed)
    else:
        old = out.parent / f".{out.name}{OLD_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            os.rename(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(out.parent)


def recover_destination(out: Path) -> None:
    """Clean up beside ``out`` after killed exports: put back an earlier export moved aside
    (no-exchange systems) when ``out`` is missing, and delete the temporary folders of runs
    that are gone (kws.fileio.remove_stale_temps)."""
    parent = out.parent
    if not parent.is_dir():
        return
    prefix = f".{out.name}{OLD_MARKER}"
    for entry in sorted(parent.iterdir()):
        if not entry.name.startswith(prefix) or not entry.is_dir() or entry.is_symlink():
            continue
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        if not out.exists() and not out.is_symlink():
            os.rename(entry, out)
        else:
            shutil.rmtree(entry, ignore_errors=True)
    remove_stale_temps(parent)


def export_model(model: str | Path | None, out_dir: str | Path, board: str = "nano33ble",
                 cpu_mhz: float | None = None, force: bool = False) -> ExportResult:
    """Export ``model`` (a .tflite with kws metadata; None = the shipped default model) for
    ``board`` into ``out_dir``; see the module docstring. Raises KwsError subclasses
    (ModelError, ConfigError, ExportError) with one line, before writing anything."""
    from kws.model_edit import strip_for_device
    from kws.runtime import DEFAULT_MODEL, read_metadata, smallest_arena_size

    if board not in BOARDS:
        raise ConfigError(f"board={board!r} is not one of {', '.join(BOARDS)}")
    if cpu_mhz is None:
        cpu_mhz = NANO33BLE_MHZ
    if isinstance(cpu_mhz, bool) or not isinstance(cpu_mhz, (int, float)) or \
            not 1 <= cpu_mhz <= 2000:
        raise ConfigError(f"cpu_mhz={cpu_mhz!r} must be a clock in MHz (1..2000)")
    if board == "nano33ble" and cpu_mhz != NANO33BLE_MHZ:
        raise ConfigError(f"cpu_mhz={cpu_mhz:g}: the Nano 33 BLE runs at {NANO33BLE_MHZ} MHz "
                          "(use --board generic for another clock)")
    out = Path(out_dir)
    try:
        recover_destination(out)
    except OSError as exc:
        raise ExportError(f"cannot clean up beside {out}: {exc.strerror}") from None
    replaced = check_destination(out, force)

    model_path = Path(model) if model is not None else DEFAULT_MODEL
    if model is not None:  # a run folder: finish or drop what a killed kws quantize left
        with contextlib.suppress(OSError):
            recover_published_set(model_path.parent)
    try:
        full = model_path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{model_path}: no such model file") from None
    except OSError as exc:
        raise ModelError(f"{model_path}: cannot read the model ({exc.strerror})") from None
    meta = read_metadata(model_path)  # ModelError naming the file: no kws metadata ...
    try:
        device = strip_for_device(full)
    except Exception as exc:  # noqa: BLE001 - the flatbuffers library raises anything
        raise ModelError(f"{model_path}: cannot make the device copy ({exc})") from None
    parsed = parse_tflite(device)
    with _quiet_stderr():
        arena = smallest_arena_size(device)
    plan = make_plan(meta, parsed, len(device), arena, cpu_mhz, str(model_path))
    model_sha = sha256_bytes(full)
    files = render_files(plan, device, board, model_path.name, model_sha)
    self_check(files, plan, device)

    sub = SKETCH_NAME if board == "nano33ble" else ""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(out)  # hidden, with our pid: a later export removes it if we are killed
        os.mkdir(tmp)
    except OSError as exc:
        raise ExportError(f"cannot create a folder beside {out}: {exc.strerror}") from None
    try:
        src = tmp / sub if sub else tmp
        src.mkdir(exist_ok=True)
        for name, text in files.items():
            _write_synced(src / name, text)
        array = next(n for n in files if n.startswith("kws_model_data.c"))
        budget = measure_budget(src, plan, array)
        _write_synced(src / "README.md",
                      render_readme(plan, board, model_path.name, model_sha, budget))
        written = _files_under(tmp)
        manifest = _manifest(tmp, written, board, model_path, model_sha, device, plan, budget)
        _write_synced(tmp / MANIFEST_NAME, manifest)
        fsync_dir(src)
        fsync_dir(tmp)
        _place(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise ExportError(f"cannot write the export to {out}: {exc.strerror}") from None
        raise
    return ExportResult(out_dir=out, source_dir=out / sub if sub else out, board=board,
                        files=tuple(sorted([*written, MANIFEST_NAME])), model_path=model_path,
                        plan=plan, budget=budget, replaced=replaced)


def _manifest(folder: Path, written: list[str], board: str, model_path: Path, model_sha: str,
              device: bytes, plan: DevicePlan, budget: Budget) -> str:
    data: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "board": board,
        "model": {"file": model_path.name, "sha256": model_sha, "name": plan.model_name,
                  "device_bytes": len(device), "device_sha256": sha256_bytes(device)},
        "plan": {"macs": plan.macs, "cpu_mhz": plan.cpu_mhz,
                 "inference_ms_estimate": round(plan.inference_ms, 1),
                 "timing_measured": plan.measured,
                 "timing": timing_sentence(plan) if plan.timing is None
                 else plan.timing.describe(),
                 "instructions": plan.timing.instructions if plan.timing else None,
                 "cycles_per_instruction": plan.timing.cycles_per_instruction
                 if plan.timing else None,
                 "busy_fraction": round(plan.busy_fraction, 4),
                 "hop_frames": plan.hop_frames, "arena_measured": plan.arena_measured,
                 "arena_margin": plan.arena_margin, "arena_host": plan.arena_host,
                 "arena_size": plan.arena_size, "ops": [op for op, _ in plan.ops],
                 "detector": dataclasses.asdict(plan.detector)},
        "budget": budget.to_dict(),
        "files": {name: sha256_bytes((folder / name).read_bytes()) for name in written},
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"

"""Hostile variants of a .tflite and a harness that runs kws commands on them (issue 13).

``mutants(base, count, seed)`` yields (description, bytes): half structural edits made with the
official schema's object API (tensor and operator indices, shapes, types, buffers,
quantization, operator options and codes, graph order, metadata JSON), half byte flips and
cuts of the file. ``run_mutants(...)`` runs ``kws detect``, ``kws evaluate`` and ``kws export``
on each, in a worker process, and counts the outcomes:

- ``ok``: exit 0;
- ``refused``: exit 2 with one line ``kws CMD: error: ...``;
- ``traceback``: an exception other than KwsError left ``kws.cli.main`` (a bug);
- ``unclear``: another exit code, or an error message of more than one line;
- ``crash``: the worker died (a signal from native code) or hung on this mutant.

The worker writes a line before and after each run, so that after a crash the harness knows
which mutant did it and starts a new worker after it. Used by tests/test_fuzz_models.py (a
few hundred mutants, fixed seed) and benchmarks/bench_fuzz_models.py (1,000 or more).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

OUTCOMES = ("ok", "refused", "traceback", "unclear", "crash")
COMMANDS = ("detect", "evaluate", "export")
WORKER_TIMEOUT_S = 120.0
"""Seconds one command on one mutant may take before the worker counts as hung."""


# --------------------------------------------------------------------------------------------
# Mutants
# --------------------------------------------------------------------------------------------

def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _pack(model: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


_NASTY_INTS = (0, -1, 1, 2, 3, 7, 255, 1000, 65535, 2 ** 31 - 1, -2 ** 31)
_NASTY_FLOATS = (0.0, -1.0, float("nan"), float("inf"), 1e30, 1e-30)


def _metadata_edit(meta: dict[str, Any], rng: np.random.Generator) -> tuple[str, bytes]:
    """One hostile edit of the kws metadata: (description, the new JSON bytes)."""
    deep = json.dumps(meta)[:-1] + ', "extra": ' + "[" * 5000 + "]" * 5000 + "}"
    if rng.random() < 1 / 16:
        return "deep nesting", deep.encode()
    edits: list[tuple[str, Any]] = [
        ("model_name with C code", {**meta, "model_name":
                                    "ds_cnn_s\nint kws_injected_symbol = 42; //"}),
        ("model_name with */", {**meta, "model_name": "x */ int y; /*"}),
        ("label with a quote", {**meta, "labels": [*meta["labels"][:-1], 'a"b']}),
        ("fft_size 2^24", {**meta, "frontend": {**meta["frontend"], "fft_size": 1 << 24}}),
        ("clip_ms 1e9", {**meta, "frontend": {**meta["frontend"], "clip_ms": 1e9}}),
        ("sample rate 1 Hz", {**meta, "frontend": {**meta["frontend"], "sample_rate_hz": 1}}),
        ("detector window 1e9", {**meta, "detector": {**meta["detector"],
                                                      "average_window_ms": 10 ** 9}}),
        ("max_results 1e8", {**meta, "detector": {**meta["detector"],
                                                  "max_results": 10 ** 8}}),
        ("100 KB string", {**meta, "extra": "x" * 100_000}),
        ("labels not a list", {**meta, "labels": "yes"}),
        ("format_version 2", {**meta, "format_version": 2}),
        ("wrong content hash", {**meta, "content_sha256": "0" * 64}),
        ("frontend a list", {**meta, "frontend": [1, 2]}),
        ("metadata a list", [meta]),
    ]
    what, new = edits[int(rng.integers(len(edits)))]
    return what, json.dumps(new).encode()


def _structural(base: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    fb = _schema()
    m = fb.ModelT.InitFromPackedBuf(base, 0)
    sub = m.subgraphs[0]
    ops, tensors = sub.operators, sub.tensors
    for t in tensors:  # the object API gives read-only numpy views of the file
        t.shape = None if t.shape is None else [int(v) for v in t.shape]
        q = t.quantization
        if q is not None:
            q.scale = None if q.scale is None else [float(v) for v in q.scale]
            q.zeroPoint = None if q.zeroPoint is None else [int(v) for v in q.zeroPoint]
    for op in ops:
        op.inputs, op.outputs = [int(v) for v in op.inputs], [int(v) for v in op.outputs]
    sub.inputs = [int(v) for v in sub.inputs]
    kind = int(rng.integers(22))
    i_op, i_t = int(rng.integers(len(ops))), int(rng.integers(len(tensors)))
    op, t = ops[i_op], tensors[i_t]
    what = ""
    if kind == 0:
        k = int(rng.integers(len(op.inputs)))
        op.inputs[k] = int(rng.integers(-2, len(tensors) + 5))
        what = f"operator {i_op} input {k} -> {op.inputs[k]}"
    elif kind == 1:
        op.outputs[0] = int(rng.integers(-2, len(tensors) + 5))
        what = f"operator {i_op} output -> {op.outputs[0]}"
    elif kind == 2:
        op.opcodeIndex = int(rng.integers(0, len(m.operatorCodes) + 3))
        what = f"operator {i_op} opcode index -> {op.opcodeIndex}"
    elif kind == 3 and t.shape is not None and len(t.shape):
        k = int(rng.integers(len(t.shape)))
        t.shape[k] = int(rng.choice(_NASTY_INTS))
        what = f"tensor {i_t} dim {k} -> {t.shape[k]}"
    elif kind == 4:
        t.shape = list(t.shape if t.shape is not None else []) + [int(rng.integers(1, 5))]
        what = f"tensor {i_t} gains a dimension"
    elif kind == 5:
        t.type = int(rng.integers(0, 20))
        what = f"tensor {i_t} type -> {t.type}"
    elif kind == 6:
        t.buffer = int(rng.integers(0, len(m.buffers) + 3))
        what = f"tensor {i_t} buffer -> {t.buffer}"
    elif kind == 7 and t.quantization is not None and t.quantization.scale is not None:
        t.quantization.scale[0] = float(rng.choice(_NASTY_FLOATS))
        what = f"tensor {i_t} scale -> {t.quantization.scale[0]}"
    elif kind == 8 and t.quantization is not None and t.quantization.zeroPoint is not None:
        t.quantization.zeroPoint[0] = int(rng.choice((-1000, 127, 128, 2 ** 40)))
        what = f"tensor {i_t} zero point -> {t.quantization.zeroPoint[0]}"
    elif kind == 9 and t.quantization is not None and t.quantization.scale is not None:
        t.quantization.scale = list(t.quantization.scale) + [0.5]
        what = f"tensor {i_t} gets one scale more"
    elif kind == 10 and t.quantization is not None:
        t.quantization.quantizedDimension = int(rng.integers(0, 6))
        what = f"tensor {i_t} quantized dimension -> {t.quantization.quantizedDimension}"
    elif kind in (11, 12) and op.builtinOptions is not None:
        fields = [k for k, v in vars(op.builtinOptions).items() if isinstance(v, (int, float))]
        key = fields[int(rng.integers(len(fields)))]
        value = rng.choice(_NASTY_FLOATS) if isinstance(getattr(op.builtinOptions, key),
                                                        float) else rng.choice(_NASTY_INTS)
        setattr(op.builtinOptions, key, value.item())
        what = f"operator {i_op} option {key} -> {value}"
    elif kind == 13:
        op.builtinOptionsType = int(rng.integers(0, 130))
        what = f"operator {i_op} options type -> {op.builtinOptionsType}"
    elif kind == 14:
        del ops[i_op]
        what = f"operator {i_op} removed"
    elif kind == 15:
        j = int(rng.integers(len(ops)))
        ops[i_op], ops[j] = ops[j], ops[i_op]
        what = f"operators {i_op} and {j} swapped"
    elif kind == 16:
        code = m.operatorCodes[int(rng.integers(len(m.operatorCodes)))]
        code.builtinCode = int(rng.integers(0, 160))
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        what = f"an operator code -> {code.builtinCode}"
    elif kind == 17:
        used = [b for b in m.buffers if b.data is not None and len(b.data) > 4]
        buf = used[int(rng.integers(len(used)))]
        buf.data = buf.data[:int(rng.integers(len(buf.data)))]
        what = "a buffer truncated"
    elif kind == 18:
        sub.inputs[0] = int(rng.integers(-1, len(tensors) + 3))
        what = f"subgraph input -> {sub.inputs[0]}"
    elif kind == 19:
        entry = m.metadata[int(rng.integers(len(m.metadata)))]
        entry.buffer = int(rng.integers(0, len(m.buffers) + 3))
        what = f"a metadata entry's buffer -> {entry.buffer}"
    elif kind == 20:
        entry = next(e for e in m.metadata if e.name in (b"kws_metadata", "kws_metadata"))
        meta = json.loads(bytes(np.asarray(m.buffers[entry.buffer].data,
                                           dtype=np.uint8)).decode())
        what, new = _metadata_edit(meta, rng)
        m.buffers[entry.buffer].data = np.frombuffer(new, dtype=np.uint8)
    else:
        dw = [o for o in ops if o.builtinOptions is not None
              and hasattr(o.builtinOptions, "depthMultiplier")]
        dw[int(rng.integers(len(dw)))].builtinOptions.depthMultiplier = 1000
        what = "depth_multiplier -> 1000"
    if not what:
        return _structural(base, rng)
    if kind not in (19, 20) and rng.random() < 0.5:
        # The content hash detects corruption, not an attacker, who can drop it (or
        # recompute it): let half of the edits reach the verifier and the interpreters.
        entry = next(e for e in m.metadata if e.name in (b"kws_metadata", "kws_metadata"))
        try:
            meta = json.loads(bytes(np.asarray(m.buffers[entry.buffer].data,
                                               dtype=np.uint8)).decode())
        except ValueError:  # the edit cut the metadata itself
            meta = None
        if isinstance(meta, dict):
            meta.pop("content_sha256", None)
            m.buffers[entry.buffer].data = np.frombuffer(json.dumps(meta).encode(),
                                                         dtype=np.uint8)
            what += " (content hash dropped)"
    try:
        return what, _pack(m)
    except Exception:  # noqa: BLE001 - a value the builder cannot write: draw another edit
        return _structural(base, rng)


def _byte_flips(base: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    b = bytearray(base)
    if rng.random() < 0.15:
        cut = int(rng.integers(0, len(b)))
        return f"cut at byte {cut}", bytes(b[:cut])
    n = int(rng.integers(1, 9))
    spots = rng.integers(0, len(b), n)
    for spot in spots:
        b[int(spot)] = int(rng.integers(0, 256))
    return f"{n} bytes changed (first at {int(spots[0])})", bytes(b)


def mutants(base: bytes, count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """``count`` hostile variants of ``base`` (even: structural edit, odd: byte flips)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        yield _structural(base, rng) if i % 2 == 0 else _byte_flips(base, rng)


# --------------------------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------------------------

def _argv(cmd: str, model: Path, work: Path, wav: Path, data: Path) -> list[str]:
    if cmd == "detect":
        return ["detect", str(wav), "--model", str(model)]
    if cmd == "evaluate":
        return ["evaluate", str(model), "--data", str(data), "--out", str(work / "eval")]
    return ["export", str(model), "--out", str(work / "export"), "--force"]


def _worker(work: Path, start: int, total: int, wav: Path, data: Path) -> None:
    """Run every command on mutants start..total-1, logging to work/progress.txt."""
    from kws.cli import main

    log = open(work / "progress.txt", "a", buffering=1)
    for i in range(start, total):
        model = work / f"mutant_{i:05d}.tflite"
        for cmd in COMMANDS:
            log.write(f"BEGIN {i} {cmd}\n")
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    code = main(_argv(cmd, model, work, wav, data))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:  # noqa: BLE001 - what the harness is here to count
                log.write(f"END {i} {cmd} traceback {type(exc).__name__}: "
                          f"{str(exc)[:100]!r}\n")
                continue
            lines = [x for x in err.getvalue().splitlines() if x.strip()]
            if code == 0:
                outcome = "ok"
            elif code == 2 and len(lines) == 1 and lines[0].startswith(f"kws {cmd}: error: "):
                outcome = "refused"
            else:
                outcome = "unclear"
            log.write(f"END {i} {cmd} {outcome} {(lines[-1] if lines else '')[:160]!r}\n")


def run_mutants(base: bytes, count: int, seed: int, work: Path, wav: Path, data: Path
                ) -> tuple[Counter[tuple[str, str]], list[str]]:
    """Write ``count`` mutants of ``base`` into ``work`` and run every command on each.

    Returns (counts of (command, outcome), lines describing every crash, traceback and
    unclear outcome). ``wav``: a clip for ``kws detect``; ``data``: a small Speech Commands
    folder for ``kws evaluate``.
    """
    work.mkdir(parents=True, exist_ok=True)
    described = []
    for i, (what, payload) in enumerate(mutants(base, count, seed)):
        (work / f"mutant_{i:05d}.tflite").write_bytes(payload)
        described.append(what)
    progress = work / "progress.txt"
    progress.write_text("")
    start = 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]) + os.pathsep
           + os.environ.get("PYTHONPATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3"}
    while start < count:
        proc = subprocess.Popen([sys.executable, __file__, "worker", str(work), str(start),
                                 str(count), str(wav), str(data)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            proc.wait(timeout=WORKER_TIMEOUT_S * 3 * (count - start))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        lines = progress.read_text().splitlines()
        last = lines[-1].split() if lines else []
        if proc.returncode == 0 and last and last[0] == "END" and int(last[1]) == count - 1:
            break
        if last and last[0] == "BEGIN":  # died on this one
            i, cmd = int(last[1]), last[2]
            with open(progress, "a") as fh:
                fh.write(f"END {i} {cmd} crash 'worker ended with {proc.returncode}'\n")
            start = i + 1
        else:
            start = int(last[1]) + 1 if last else start + 1
    counts: Counter[tuple[str, str]] = Counter()
    problems = []
    for line in progress.read_text().splitlines():
        parts = line.split(" ", 4)
        if parts[0] != "END":
            continue
        i, cmd, outcome = int(parts[1]), parts[2], parts[3]
        counts[(cmd, outcome)] += 1
        if outcome in ("traceback", "unclear", "crash"):
            problems.append(f"mutant {i} ({described[i]}), kws {cmd}: {outcome} "
                            f"{parts[4] if len(parts) > 4 else ''}")
    return counts, problems


if __name__ == "__main__" and len(sys.argv) == 7 and sys.argv[1] == "worker":
    _worker(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]),
            Path(sys.argv[6]))

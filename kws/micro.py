"""TFLite Micro's Python interpreter, run in a child process.

TFLite Micro trusts its flatbuffer: a model it misreads can crash the whole process
(SIGSEGV, SIGABRT, SIGFPE). kws verifies every model first (kws.model_file), and still runs
TFLite Micro only here, in a child process (``python -m kws.micro``), so that a crash or a
hang becomes a one-line ModelError naming the file instead of taking kws down.

Public API
----------
``MicroModel(source, arena_size=None, timeout_s=...)``: the model in TFLite Micro's
    interpreter (reference kernels); ``predict(features)``: int8 (N, frames, coeffs) or
    (frames, coeffs) codes -> int8 (N, classes) scores; ``close()`` (also a context manager).
``smallest_arena_size(source, limit=4 MiB) -> int``: the smallest tensor arena (bytes, a
    multiple of ARENA_GRANULE) with which the model allocates and runs.

The protocol between the two processes is two pipes carrying length-prefixed JSON headers
and raw array bytes (no pickle), and the child writes nothing to the terminal (TFLite Micro
prints allocation errors while the arena search probes sizes that are too small).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from kws.errors import ModelError
from kws.model_file import load_model_bytes, parse_tflite

ARENA_GRANULE = 16
"""Arena sizes are searched in steps of this many bytes (TFLite Micro aligns to 16)."""
DEFAULT_ARENA_LIMIT = 1 << 22
"""Largest arena the search tries (4 MiB; the Nano 33 BLE has 256 KB of RAM)."""
START_TIMEOUT_S = 60.0
"""Seconds the child may take to start and allocate (or search the arena)."""
PER_CLIP_TIMEOUT_S = 1.0
"""Seconds per clip a predict call may take before the child is killed (a clip takes ms)."""


def _signal_name(returncode: int | None) -> str:
    if returncode is None:
        return "no exit"
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


class _Child:
    """One ``python -m kws.micro`` process and its two pipes."""

    def __init__(self, name: str) -> None:
        self.name = name
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        src = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kws.micro", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        os.close(to_child_r)
        os.close(from_child_w)
        self.tx = Connection(to_child_w, readable=False)
        self.rx = Connection(from_child_r, writable=False)

    def call(self, header: dict[str, Any], payload: bytes, timeout_s: float
             ) -> tuple[dict[str, Any], bytes]:
        """Send one request, wait for its answer; ModelError on a crash, a hang or an error."""
        try:
            self.tx.send_bytes(json.dumps(header).encode())
            self.tx.send_bytes(payload)
            if not self.rx.poll(timeout_s):
                self.kill()
                raise ModelError(f"{self.name}: TFLite Micro did not answer within "
                                 f"{timeout_s:.0f} s (the model was stopped)")
            reply = json.loads(self.rx.recv_bytes().decode())
            body = self.rx.recv_bytes()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            self.kill()
            raise ModelError(f"{self.name}: TFLite Micro crashed on the model "
                             f"({_signal_name(self.proc.returncode)})") from None
        if reply.get("missing"):  # tflite_micro not installed: the one-line install hint
            raise ModelError(f"{self.name}: {reply['error']}")
        if reply.get("error"):
            raise ModelError(f"{self.name}: TFLite Micro {reply['error']}")
        return reply, body

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for conn in (self.tx, self.rx):
            if not conn.closed:
                conn.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.tx.send_bytes(json.dumps({"cmd": "quit"}).encode())
                self.tx.send_bytes(b"")
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


def _verified(source: str | Path | bytes) -> tuple[bytes, str]:
    data, name = load_model_bytes(source)
    parse_tflite(data, name)  # never hand TFLite Micro a file the verifier refuses
    return data, name


def smallest_arena_size(source: str | Path | bytes, limit: int = DEFAULT_ARENA_LIMIT) -> int:
    """Smallest tensor arena (bytes, a multiple of ARENA_GRANULE) with which TFLite Micro's
    interpreter allocates and runs the model; ModelError if even ``limit`` fails, or if
    TFLite Micro crashes or hangs (in its child process).

    Binary search: allocation succeeds for every size above the smallest one.
    """
    data, name = _verified(source)
    child = _Child(name)
    try:
        reply, _ = child.call({"cmd": "arena", "model_bytes": len(data), "limit": limit},
                              data, START_TIMEOUT_S)
    finally:
        child.close()
    return int(reply["arena"])


class MicroModel:
    """The model in TFLite Micro's interpreter (reference kernels), in a child process.

    source: .tflite path or bytes (verified by kws.model_file first). ``arena_size``: tensor
    arena in bytes (default: ``smallest_arena_size`` of the model).
    """

    def __init__(self, source: str | Path | bytes, arena_size: int | None = None) -> None:
        self._data, self.source = _verified(source)
        self.arena_size = arena_size or smallest_arena_size(self._data)
        self._child = _Child(self.source)
        try:
            reply, _ = self._child.call({"cmd": "open", "arena": self.arena_size},
                                        self._data, START_TIMEOUT_S)
        except ModelError:
            self._child.kill()
            raise
        self.input_shape: tuple[int, int] = (int(reply["shape"][1]), int(reply["shape"][2]))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """int8 (N, frames, coeffs) or (frames, coeffs) codes -> int8 (N, classes) scores."""
        features = np.asarray(features)
        if features.dtype != np.int8:
            raise ModelError(f"{self.source}: features must be int8 front-end codes, got "
                             f"{features.dtype}")
        if features.ndim == 2:
            features = features[None]
        if features.ndim != 3 or features.shape[1:] != self.input_shape:
            raise ModelError(f"{self.source}: features of shape {features.shape}, expected "
                             f"(N, {self.input_shape[0]}, {self.input_shape[1]})")
        features = np.ascontiguousarray(features)
        reply, body = self._child.call({"cmd": "predict", "n": len(features)},
                                       features.tobytes(),
                                       START_TIMEOUT_S + PER_CLIP_TIMEOUT_S * len(features))
        return np.frombuffer(body, dtype=np.int8).reshape(reply["shape"]).copy()

    def close(self) -> None:
        """Stop the child process (also done when the object is garbage-collected)."""
        if getattr(self, "_child", None) is not None:
            self._child.close()
            self._child = None

    def __enter__(self) -> MicroModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass


# --------------------------------------------------------------------------------------------
# The child
# --------------------------------------------------------------------------------------------

def _interpreter(runtime: Any, data: bytes, arena: int) -> Any | None:
    """An interpreter that allocated and ran once, or None if the arena is too small."""
    try:
        interp = runtime.Interpreter.from_bytes(data, arena_size=arena)
        shape = tuple(interp.get_input_details(0)["shape"])
        interp.set_input(np.zeros(shape, dtype=np.int8), 0)
        interp.invoke()
    except (RuntimeError, ValueError):
        return None
    return interp


def _arena_search(runtime: Any, data: bytes, limit: int) -> int | None:
    if _interpreter(runtime, data, limit) is None:
        return None
    low, high = 0, limit // ARENA_GRANULE  # low fails (or is 0), high works
    while high - low > 1:
        mid = (low + high) // 2
        if _interpreter(runtime, data, mid * ARENA_GRANULE) is None:
            low = mid
        else:
            high = mid
    return high * ARENA_GRANULE


def _child_main(rx_fd: int, tx_fd: int) -> int:
    rx, tx = Connection(rx_fd, writable=False), Connection(tx_fd, readable=False)

    def reply(header: dict[str, Any], body: bytes = b"") -> None:
        tx.send_bytes(json.dumps(header).encode())
        tx.send_bytes(body)

    missing = ""
    try:
        from tflite_micro import runtime
    except ImportError:
        runtime = None
        # This child is a program of its own (python -m kws.micro): the one table of extras
        # (kws.extras, also the command line's) gives the hint `kws evaluate` gives.
        from kws.extras import missing_extra_message

        missing = missing_extra_message("tflite_micro") or "needs TFLite Micro (tflite_micro)"
    interp = None
    while True:
        try:
            header = json.loads(rx.recv_bytes().decode())
            payload = rx.recv_bytes()
        except EOFError:
            return 0
        cmd = header.get("cmd")
        if cmd == "quit":
            return 0
        if runtime is None:
            reply({"error": missing, "missing": True})
            continue
        if cmd == "arena":
            arena = _arena_search(runtime, payload, int(header["limit"]))
            if arena is None:
                reply({"error": f"cannot run the model even with a {header['limit']}-byte "
                                "arena"})
            else:
                reply({"arena": arena})
        elif cmd == "open":
            interp = _interpreter(runtime, payload, int(header["arena"]))
            if interp is None:
                reply({"error": f"cannot allocate the model in a {header['arena']}-byte "
                                "arena"})
            else:
                reply({"shape": [int(v) for v in interp.get_input_details(0)["shape"]]})
        elif cmd == "predict" and interp is not None:
            shape = tuple(int(v) for v in interp.get_input_details(0)["shape"])
            clips = np.frombuffer(payload, dtype=np.int8).reshape(
                (int(header["n"]), shape[1], shape[2]))
            rows = []
            for clip in clips:
                interp.set_input(np.ascontiguousarray(clip.reshape(shape)), 0)
                interp.invoke()
                rows.append(np.array(interp.get_output(0)).reshape(-1).astype(np.int8))
            out = np.stack(rows) if rows else np.empty((0, 0), dtype=np.int8)
            reply({"shape": list(out.shape)}, out.tobytes())
        else:
            reply({"error": f"unknown request {cmd!r}"})


if __name__ == "__main__":
    # Keep the protocol pipes; send whatever native code prints to /dev/null.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.exit(_child_main(int(sys.argv[1]), int(sys.argv[2])))

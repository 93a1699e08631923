"""Run a self-describing int8 keyword model without TensorFlow.

The laptop path (``kws listen``, ``kws detect``, the exporter) uses this module; it needs
numpy and ai-edge-litert only (TensorFlow is never imported; a test checks it). TFLite Micro's
Python interpreter (package ``tflite-micro``, imported only when used) proves that the board
computes the same scores and measures the tensor arena.

Public API
----------
``KwsModel(source, frontend=None, kernels="optimized")``
    Load a .tflite (path or bytes) with LiteRT, delegates off, and validate its metadata.
    ``frontend``: the FrontendConfig the caller will compute features with; if it differs
    from the model's, ModelError names the first differing field.
    ``kernels``: "optimized" (``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``, ~0.3 ms
    per DS-CNN-S window) or "reference" (``OpResolverType.BUILTIN_REF``, ~3 ms). Both give
    TFLite Micro's scores bit for bit on models from ``kws quantize`` (which shifts the
    logits so that none is negative: LiteRT's optimized GEMM and TFLite Micro round negative
    near-tie values differently). XNNPACK (LiteRT's default delegate) is never used: it
    differs from the board in most windows.
    Attributes:
      ``labels``           tuple[str, ...], 12 labels in output order (kws.labels.LABELS)
      ``frontend_config``  FrontendConfig the model was trained on
      ``detector_config``  DetectorConfig, the detector defaults shipped with the model
      ``metadata``         dict, the whole JSON metadata (see ``METADATA_KEYS``)
      ``name``             str, model name (e.g. "ds_cnn_s")
      ``input_shape``      (frames, coeffs), (49, 10) at the default front end
      ``output_scale``, ``output_zero_point``  int8 output quantization (1/256, -128)
    Methods:
      ``predict(features)``  int8 (N, frames, coeffs) or (frames, coeffs) front-end codes
                             -> int8 (N, 12) scores; probability = (score + 128) / 256
      ``probabilities(features)``  the same as float32 in [0, 1)
``KwsModel.default(frontend=None, kernels="optimized")``: the shipped model,
    kws/assets/default_model.tflite.
``read_metadata(source) -> dict``: the validated kws metadata of a .tflite (pure Python).
``read_tflite_metadata(data) -> dict[str, bytes]``: every metadata entry of a .tflite.
``MicroModel(source, arena_size=None)``: the same model in TFLite Micro's interpreter;
    ``predict(features)`` as above; ``smallest_arena_size(source)`` finds the smallest tensor
    arena (bytes) with which the model allocates and runs.

Every failure (missing file, corrupt flatbuffer, no/unknown metadata, front-end mismatch,
features of the wrong dtype or shape) raises :class:`kws.errors.ModelError` with one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kws.config import DetectorConfig, FrontendConfig, from_dict
from kws.errors import ConfigError, ModelError

METADATA_NAME = "kws_metadata"
"""Name of the flatbuffer metadata entry that holds the kws JSON."""
FORMAT = "kws-model"
"""Value of the ``format`` key of the metadata."""
FORMAT_VERSION = 1
"""The metadata layout this code reads; another version is refused."""
METADATA_KEYS = ("format", "format_version", "model_name", "labels", "frontend", "detector",
                 "input", "output")
"""Keys every kws metadata has (``input``/``output``: dtype, shape, scale, zero_point)."""
DEFAULT_MODEL = Path(__file__).parent / "assets" / "default_model.tflite"
"""The shipped model that ``kws listen`` / ``kws detect`` use when none is given."""
TFLITE_IDENTIFIER = b"TFL3"
"""File identifier of TFLite flatbuffers (bytes 4..8)."""
KERNELS = ("optimized", "reference")
"""LiteRT kernel sets KwsModel offers (see the module docstring); both without delegates."""


# --------------------------------------------------------------------------------------------
# A small, bounds-checked flatbuffer reader for the TFLite Model table's metadata
# --------------------------------------------------------------------------------------------

class _Flatbuffer:
    """Just enough of the flatbuffer wire format to read tables, vectors and strings."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _u(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise ValueError(f"offset {pos} out of range")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def root(self) -> int:
        return self._u("<I", 0)

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table`` (None if absent)."""
        vtable = table - self._u("<i", table)
        vtable_size = self._u("<H", vtable)
        slot = 4 + 2 * index
        if slot + 2 > vtable_size:
            return None
        offset = self._u("<H", vtable + slot)
        return table + offset if offset else None

    def ref(self, pos: int) -> int:
        return pos + self._u("<I", pos)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(start of the elements, length) of a vector field; (0, 0) if absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        vec = self.ref(pos)
        length = self._u("<I", vec)
        return vec + 4, length

    def table_at(self, start: int, i: int) -> int:
        return self.ref(start + 4 * i)

    def bytes_field(self, table: int, index: int) -> bytes | None:
        start, length = self.vector(table, index)
        if not start:
            return None
        if start + length > len(self.data):
            raise ValueError("vector runs past the end of the file")
        return self.data[start:start + length]

    def scalar(self, table: int, index: int, fmt: str, default: int = 0) -> int:
        pos = self.field(table, index)
        return default if pos is None else self._u(fmt, pos)


# TFLite schema field indices (tensorflow/compiler/mlir/lite/schema/schema.fbs).
_MODEL_SUBGRAPHS, _MODEL_BUFFERS, _MODEL_METADATA = 2, 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


def _load_bytes(source: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "model"
    path = Path(source)
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a folder, not a .tflite model") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc.strerror})") from None


def read_tflite_metadata(data: bytes, name: str = "model") -> dict[str, bytes]:
    """Every entry of a .tflite's ``metadata`` vector: {entry name: buffer bytes}.

    data: the whole .tflite file. Raises ModelError if it is not a well-formed TFLite
    flatbuffer (the structure on the way to the metadata is bounds-checked).
    """
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{name}: not a TFLite model (no {TFLITE_IDENTIFIER.decode()} "
                         "file identifier)")
    fb = _Flatbuffer(data)
    try:
        model = fb.root()
        if fb.vector(model, _MODEL_SUBGRAPHS)[1] == 0:
            raise ValueError("no subgraphs")
        buffers, num_buffers = fb.vector(model, _MODEL_BUFFERS)
        entries, num_entries = fb.vector(model, _MODEL_METADATA)
        out: dict[str, bytes] = {}
        for i in range(num_entries):
            entry = fb.table_at(entries, i)
            raw_name = fb.bytes_field(entry, _METADATA_NAME)
            index = fb.scalar(entry, _METADATA_BUFFER, "<I")
            if raw_name is None or index >= num_buffers:
                raise ValueError(f"metadata entry {i} is malformed")
            buffer = fb.table_at(buffers, index)
            payload = fb.bytes_field(buffer, _BUFFER_DATA)
            if payload is None:  # large models keep buffers after the flatbuffer
                offset = fb.scalar(buffer, _BUFFER_OFFSET, "<Q")
                size = fb.scalar(buffer, _BUFFER_SIZE, "<Q")
                if offset <= 1 or offset + size > len(data):
                    raise ValueError(f"metadata buffer {index} is out of range")
                payload = data[offset:offset + size]
            out[raw_name.decode("utf-8", "replace")] = payload
    except (ValueError, struct.error) as exc:
        raise ModelError(f"{name}: corrupt .tflite file ({exc})") from None
    return out


def _validate_metadata(meta: Any, name: str) -> dict[str, Any]:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{name}: {METADATA_NAME} is not kws model metadata")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"{name}: metadata format_version {version!r} is not supported "
                         f"(this kws reads version {FORMAT_VERSION})")
    missing = [key for key in METADATA_KEYS if key not in meta]
    if missing:
        raise ModelError(f"{name}: metadata lacks {missing[0]!r}")
    labels = meta["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str)
                                                             for x in labels):
        raise ModelError(f"{name}: metadata labels={labels!r} is not a list of names")
    try:
        from_dict(FrontendConfig, meta["frontend"], "frontend.")
        from_dict(DetectorConfig, meta["detector"], "detector.")
    except ConfigError as exc:
        raise ModelError(f"{name}: bad metadata: {exc}") from None
    return meta


def read_metadata(source: str | Path | bytes) -> dict[str, Any]:
    """The validated kws metadata (JSON) of a .tflite file or its bytes.

    Raises ModelError if the file is missing or corrupt, has no kws metadata, or has a
    format version this code does not know. Needs neither TensorFlow nor LiteRT.
    """
    data, name = _load_bytes(source)
    return _read_metadata(data, name)


def _read_metadata(data: bytes, name: str) -> dict[str, Any]:
    entries = read_tflite_metadata(data, name)
    if METADATA_NAME not in entries:
        raise ModelError(f"{name}: no kws metadata in the model (entry {METADATA_NAME!r}; "
                         "was it quantized with 'kws quantize'?)")
    try:
        meta = json.loads(entries[METADATA_NAME].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{name}: kws metadata is not valid JSON ({exc})") from None
    return _validate_metadata(meta, name)


def check_frontend(model_frontend: FrontendConfig, frontend: FrontendConfig,
                   name: str = "model") -> None:
    """Refuse (ModelError) a front end that differs from the model's, naming the field."""
    if frontend == model_frontend:
        return
    for field in dataclasses.fields(FrontendConfig):
        mine, theirs = getattr(model_frontend, field.name), getattr(frontend, field.name)
        if mine != theirs:
            raise ModelError(f"{name}: the model expects front-end {field.name}={mine!r}, "
                             f"but the front end in use has {field.name}={theirs!r}")


# --------------------------------------------------------------------------------------------
# LiteRT
# --------------------------------------------------------------------------------------------

def _check_features(features: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    features = np.asarray(features)
    if features.dtype != np.int8:
        raise ModelError(f"{name}: features must be int8 front-end codes, got {features.dtype}")
    if features.ndim == 2:
        features = features[None]
    if features.ndim != 3 or features.shape[1:] != shape:
        raise ModelError(f"{name}: features of shape {features.shape}, expected "
                         f"(N, {shape[0]}, {shape[1]})")
    return features


class KwsModel:
    """An int8 keyword model with its metadata, run by LiteRT (see the module docstring)."""

    def __init__(self, source: str | Path | bytes, frontend: FrontendConfig | None = None,
                 kernels: str = "optimized", num_threads: int = 1) -> None:
        if kernels not in KERNELS:
            raise ModelError(f"kernels={kernels!r} must be one of {', '.join(KERNELS)}")
        data, self.source = _load_bytes(source)
        self.metadata = _read_metadata(data, self.source)
        meta = self.metadata
        self.name: str = str(meta["model_name"])
        self.labels: tuple[str, ...] = tuple(meta["labels"])
        self.frontend_config: FrontendConfig = from_dict(FrontendConfig, meta["frontend"])
        self.detector_config: DetectorConfig = from_dict(DetectorConfig, meta["detector"])
        if frontend is not None:
            check_frontend(self.frontend_config, frontend, self.source)
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = (OpResolverType.BUILTIN_REF if kernels == "reference"
                    else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        try:
            self._interp = Interpreter(model_content=data, num_threads=num_threads,
                                       experimental_op_resolver_type=resolver)
            self._interp.allocate_tensors()
            inp = self._interp.get_input_details()
            out = self._interp.get_output_details()
        except (ValueError, RuntimeError, IndexError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.source}: LiteRT cannot load the model ({first})") from None
        if len(inp) != 1 or len(out) != 1:
            raise ModelError(f"{self.source}: expected 1 input and 1 output, got "
                             f"{len(inp)} and {len(out)}")
        self._in, self._out = inp[0], out[0]
        in_shape = tuple(int(v) for v in self._in["shape"])
        out_shape = tuple(int(v) for v in self._out["shape"])
        frames, coeffs = self.frontend_config.frames_per_clip, self.frontend_config.num_coeffs
        if self._in["dtype"] != np.int8 or in_shape != (1, frames, coeffs, 1):
            raise ModelError(f"{self.source}: input is {self._in['dtype'].__name__} "
                             f"{in_shape}, expected int8 "
                             f"(1, {frames}, {coeffs}, 1) for its front end")
        scale, zero = self._in["quantization"]
        if (scale, zero) != (1.0, 0):
            raise ModelError(f"{self.source}: input quantization scale={scale} "
                             f"zero_point={zero}, expected the identity (1.0, 0)")
        if self._out["dtype"] != np.int8 or out_shape != (1, len(self.labels)):
            raise ModelError(f"{self.source}: output is {self._out['dtype'].__name__} "
                             f"{out_shape}, expected int8 (1, "
                             f"{len(self.labels)}) (one score per label)")
        self.output_scale, self.output_zero_point = self._out["quantization"]
        self.input_shape: tuple[int, int] = (frames, coeffs)
        self.predict(np.zeros((1, frames, coeffs), dtype=np.int8))  # fails now, not later

    @classmethod
    def default(cls, frontend: FrontendConfig | None = None,
                kernels: str = "optimized") -> KwsModel:
        """The shipped default model (kws/assets/default_model.tflite)."""
        return cls(DEFAULT_MODEL, frontend, kernels)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Scores of clips of features.

        features: int8 (N, frames, coeffs) or (frames, coeffs), front-end codes -128..127.
        Returns int8 (N, len(labels)); the class probability is
        (score - output_zero_point) * output_scale = (score + 128) / 256.
        """
        features = _check_features(features, self.input_shape, self.source)
        out = np.empty((len(features), len(self.labels)), dtype=np.int8)
        try:
            for i, clip in enumerate(features):
                self._interp.set_tensor(self._in["index"], clip[None, :, :, None])
                self._interp.invoke()
                out[i] = self._interp.get_tensor(self._out["index"])[0]
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.source}: LiteRT cannot run the model ({first})") from None
        return out

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """float32 (N, len(labels)) class probabilities in [0, 1) (dequantized scores)."""
        scores = self.predict(features).astype(np.float32)
        return (scores - self.output_zero_point) * np.float32(self.output_scale)


# --------------------------------------------------------------------------------------------
# TFLite Micro
# --------------------------------------------------------------------------------------------

class MicroModel:
    """The model in TFLite Micro's Python interpreter (reference kernels), for equality checks.

    source: .tflite path or bytes (LiteRT-loadable; TFLite Micro does not verify
    flatbuffers, so load a file with KwsModel first if it is untrusted). ``arena_size``:
    tensor arena in bytes (default: ``smallest_arena_size`` of the model).
    """

    def __init__(self, source: str | Path | bytes, arena_size: int | None = None) -> None:
        self._data, self.source = _load_bytes(source)
        self.arena_size = arena_size or smallest_arena_size(self._data)
        self._interp = _micro_interpreter(self._data, self.arena_size)
        if self._interp is None:
            raise ModelError(f"{self.source}: TFLite Micro cannot allocate the model in a "
                             f"{self.arena_size}-byte arena")
        details = self._interp.get_input_details(0)
        self.input_shape: tuple[int, int] = tuple(int(v) for v in details["shape"][1:3])

    def predict(self, features: np.ndarray) -> np.ndarray:
        """int8 (N, frames, coeffs) or (frames, coeffs) codes -> int8 (N, classes) scores."""
        features = _check_features(features, self.input_shape, self.source)
        rows = []
        for clip in features:
            self._interp.set_input(np.ascontiguousarray(clip[None, :, :, None]), 0)
            self._interp.invoke()
            rows.append(np.array(self._interp.get_output(0)[0], dtype=np.int8))
        return np.stack(rows) if rows else np.empty((0, 0), dtype=np.int8)


@contextlib.contextmanager
def _quiet_native_output() -> Iterator[None]:
    """Silence what native code prints to fds 1 and 2 (TFLite Micro's allocation errors while
    the arena search probes sizes that are too small)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _micro_interpreter(data: bytes, arena_size: int) -> Any | None:
    """A TFLite Micro interpreter that allocated and ran once, or None if the arena is short."""
    try:
        from tflite_micro import runtime
    except ImportError:
        raise ModelError("TFLite Micro checks need the 'tflite-micro' package "
                         "(pip install 'kws[dev]')") from None
    try:
        with _quiet_native_output():
            interp = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
            shape = interp.get_input_details(0)["shape"]
            interp.set_input(np.zeros(tuple(shape), dtype=np.int8), 0)
            interp.invoke()
    except (RuntimeError, ValueError):
        return None
    return interp


ARENA_GRANULE = 16
"""Arena sizes are searched in steps of this many bytes (TFLite Micro aligns to 16)."""


def smallest_arena_size(source: str | Path | bytes, limit: int = 1 << 22) -> int:
    """Smallest tensor arena (bytes, a multiple of ARENA_GRANULE) with which TFLite Micro's
    Python interpreter allocates and runs the model; ModelError if even ``limit`` fails.

    Binary search: allocation succeeds for every size above the smallest one.
    """
    data, name = _load_bytes(source)
    if _micro_interpreter(data, limit) is None:
        raise ModelError(f"{name}: TFLite Micro cannot run the model even with a "
                         f"{limit}-byte arena")
    low, high = 0, limit // ARENA_GRANULE  # low fails (or is 0), high works
    while high - low > 1:
        mid = (low + high) // 2
        if _micro_interpreter(data, mid * ARENA_GRANULE) is None:
            low = mid
        else:
            high = mid
    return high * ARENA_GRANULE

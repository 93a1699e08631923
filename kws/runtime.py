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
      ``data``             bytes, the verified .tflite the model was loaded from
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
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kws.config import DetectorConfig, FrontendConfig, from_dict
from kws.errors import ModelError
from kws.metadata import (
    CONTENT_HASH_KEY,
    FORMAT,
    FORMAT_VERSION,
    METADATA_KEYS,
    METADATA_NAME,
    validate_metadata,
)
from kws.micro import ARENA_GRANULE, MicroModel, smallest_arena_size
from kws.model_file import (
    FILE_IDENTIFIER,
    TfliteModel,
    content_hash,
    load_model_bytes,
    parse_metadata_json,
    parse_tflite,
)
from kws.model_types import INPUT_QUANT

__all__ = ["ARENA_GRANULE", "CONTENT_HASH_KEY", "DEFAULT_MODEL", "FORMAT", "FORMAT_VERSION",
           "KERNELS", "METADATA_KEYS", "METADATA_NAME", "KwsModel", "MicroModel",
           "check_content_hash", "check_device_copy", "check_frontend", "read_metadata",
           "read_tflite_metadata", "smallest_arena_size"]

DEFAULT_MODEL = Path(__file__).parent / "assets" / "default_model.tflite"
"""The shipped model that ``kws listen`` / ``kws detect`` use when none is given."""
TFLITE_IDENTIFIER = FILE_IDENTIFIER
"""File identifier of TFLite flatbuffers (bytes 4..8)."""
KERNELS = ("optimized", "reference")
"""LiteRT kernel sets KwsModel offers (see the module docstring); both without delegates."""


def read_tflite_metadata(data: bytes, name: str = "model") -> dict[str, bytes]:
    """Every entry of a .tflite's ``metadata`` vector: {entry name: buffer bytes}.

    data: the whole .tflite file. Raises ModelError if kws.model_file's verifier refuses it.
    """
    return parse_tflite(data, name).metadata


def read_metadata(source: str | Path | bytes) -> dict[str, Any]:
    """The validated kws metadata (JSON) of a .tflite file or its bytes.

    Raises ModelError if the file is missing or corrupt, fails the verifier (kws.model_file),
    has no kws metadata or metadata that kws.metadata refuses, or has weights that differ
    from the content hash its metadata records. Needs neither TensorFlow nor LiteRT.
    """
    data, name = load_model_bytes(source)
    return _read_metadata(parse_tflite(data, name), name)


def _read_metadata(model: TfliteModel, name: str) -> dict[str, Any]:
    if METADATA_NAME not in model.metadata:
        raise ModelError(f"{name}: no kws metadata in the model (entry {METADATA_NAME!r}; "
                         "was it quantized with 'kws quantize'?)")
    meta = validate_metadata(parse_metadata_json(model.metadata[METADATA_NAME], name), name)
    check_content_hash(model, meta, name)
    return meta


def check_device_copy(device: bytes, meta: dict[str, Any], name: str) -> None:
    """Refuse (ModelError) a device copy that the verifier refuses or whose weights differ
    from the model's (the ``content_sha256`` of its metadata, when recorded)."""
    recorded = meta.get(CONTENT_HASH_KEY)
    if recorded is not None and content_hash(parse_tflite(device, name)) != recorded:
        raise ModelError(f"{name}: its weights differ from the model's content hash (a "
                         "corrupt or stale device copy; rerun kws quantize)")
    if recorded is None:
        parse_tflite(device, name)


def check_content_hash(model: TfliteModel, meta: dict[str, Any], name: str) -> None:
    """Refuse (ModelError) weights that differ from the metadata's ``content_sha256``.

    A model without the key (written before kws recorded it) passes unchecked.
    """
    recorded = meta.get(CONTENT_HASH_KEY)
    if recorded is not None and content_hash(model) != recorded:
        raise ModelError(f"{name}: the weights differ from the content hash in its metadata "
                         "(the file is corrupt or was edited after kws quantize)")


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
        data, self.source = load_model_bytes(source)
        self.metadata = _read_metadata(parse_tflite(data, self.source), self.source)
        self.data: bytes = data
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
        if (scale, zero) != INPUT_QUANT:
            raise ModelError(f"{self.source}: input quantization scale={scale} "
                             f"zero_point={zero}, expected the identity {INPUT_QUANT}")
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
# Native output
# --------------------------------------------------------------------------------------------

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

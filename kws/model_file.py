"""Read and verify a .tflite file with the official TFLite schema, before native code sees it.

A .tflite is a FlatBuffer of the TFLite schema. This module parses it with the generated
Python schema that ai-edge-litert ships (``ai_edge_litert.schema_py_generated``, on top of the
``flatbuffers`` package) and checks it in three steps, so that neither LiteRT nor TFLite Micro
(which does not verify flatbuffers at all) ever runs on a file that could crash it:

1. **Bounds** (:func:`_check_bounds`): the file size, then every vector the object API would
   walk, against the file size and the limits below, before any table is unpacked (a vector
   that claims 2**31 elements would otherwise loop for hours).
2. **Structure** (:func:`_check_graph`): one subgraph; every tensor, buffer, operator code and
   metadata index in range; buffers inside the file; constant tensors exactly as large as
   their shape and type say; quantization finite, positive and of the right length; operators
   in topological order, each tensor written once.
3. **Operators** (:func:`kws.model_ops.check_operator`): only the operators kws models use
   (:data:`SUPPORTED_OPS`), each with the inputs, types, options and output shape that TFLite
   Micro's kernels accept (a DEPTHWISE_CONV_2D whose ``depth_multiplier`` disagrees with its
   channels, which LiteRT ignores and TFLite Micro trusts, is refused here).

Public API
----------
``load_model_bytes(source) -> (bytes, name)``: read a path (bounded size) or take bytes.
``parse_tflite(data, name="model") -> TfliteModel``: bounds + structure + operator checks; the
    result holds plain tuples (tensors, operators, metadata) for the exporter and the runtime.
``content_hash(model) -> str``: sha256 (hex) of what the kernels compute with (see there).
``read_kws_metadata(model, name) -> dict``: the kws JSON entry, parsed with size and depth
    bounds (validated by :mod:`kws.metadata`).

Every refusal is a :class:`kws.errors.ModelError` with one line that names the file and the
first thing found wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from kws.errors import ModelError
from kws.model_ops import BIAS_OPS, MAX_DIM, POOL_OPS, SUPPORTED_OPS, check_operator
from kws.model_types import INT8, TENSOR_TYPES, Operator, Refused, Tensor, TfliteModel

__all__ = ["FILE_IDENTIFIER", "MAX_MODEL_BYTES", "SUPPORTED_OPS", "TENSOR_TYPES", "Operator",
           "Tensor", "TfliteModel", "content_hash", "load_model_bytes", "parse_metadata_json",
           "parse_tflite", "schema"]

FILE_IDENTIFIER = b"TFL3"
"""The 4-byte FlatBuffer file identifier of TFLite models (bytes 4..7)."""
MAX_MODEL_BYTES = 8 << 20
"""Largest .tflite accepted (bytes): a board with 1 MB of flash holds far less."""
MAX_TENSORS = 2048
MAX_OPERATORS = 1024
MAX_BUFFERS = 2048
MAX_OPERATOR_CODES = 256
MAX_METADATA_ENTRIES = 64
MAX_RANK = 5
MAX_ELEMENTS = 1 << 22
"""Most elements in one tensor (4 M: 16 MB at int32)."""
MAX_ACTIVATION_BYTES = 64 << 20
"""Most bytes of all non-constant tensors together (what an interpreter would allocate)."""
MIN_SCALE, MAX_SCALE = 1e-12, 1e6
"""Range of a quantization scale accepted (real models: about 1e-5 to 1)."""
MAX_METADATA_JSON_BYTES = 64 << 10
"""Largest kws metadata entry (bytes of JSON)."""
MAX_JSON_DEPTH = 8
"""Deepest nesting of lists and objects in the kws metadata."""


@lru_cache(maxsize=1)
def schema() -> Any:
    """The generated TFLite schema module (``ai_edge_litert.schema_py_generated``)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


@lru_cache(maxsize=1)
def builtin_names() -> dict[int, str]:
    """BuiltinOperator code -> name, from the schema."""
    ops = schema().BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}


def load_model_bytes(source: str | Path | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    """The bytes of a model and a name for messages (its path, or "model" for bytes).

    Refuses (ModelError) a missing file, a folder, an unreadable file and anything larger
    than MAX_MODEL_BYTES, without reading more than that.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > MAX_MODEL_BYTES:
            raise ModelError(f"model: {len(data)} bytes is larger than the "
                             f"{MAX_MODEL_BYTES}-byte limit for a model")
        return data, "model"
    path = Path(source)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_MODEL_BYTES + 1)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a folder, not a .tflite model") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc.strerror or exc})") from None
    if len(data) > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: larger than the {MAX_MODEL_BYTES}-byte limit for a model")
    return data, str(path)


# --------------------------------------------------------------------------------------------
# 1. Bounds, before anything is unpacked
# --------------------------------------------------------------------------------------------


def _count(n: int, limit: int, what: str, size: int, data_len: int) -> int:
    if n > limit:
        raise Refused(f"{n} {what} (at most {limit})")
    if n * size > data_len:
        raise Refused(f"{what}: a vector of {n} runs past the end of the file")
    return n


def _check_table_vectors(obj: Any, data_len: int, where: str) -> None:
    """Every ``XLength()`` vector of a generated table object fits in the file (1 byte per
    element at least)."""
    for attr in dir(obj):
        if attr.endswith("Length") and not attr.startswith("_"):
            n = getattr(obj, attr)()
            if n > data_len:
                raise Refused(f"{where}: {attr[:-6]} claims {n} elements")


def _check_bounds(data: bytes) -> Any:
    """Check every vector the object API will walk; returns the root Model reader."""
    fb = schema()
    n = len(data)
    if n < 8 or data[4:8] != FILE_IDENTIFIER:
        raise Refused(f"not a TFLite model (bytes 4..7 are {bytes(data[4:8])!r}, expected "
                       f"{FILE_IDENTIFIER!r})")
    model = fb.Model.GetRootAs(data, 0)
    _count(model.OperatorCodesLength(), MAX_OPERATOR_CODES, "operator codes", 4, n)
    for i in range(model.OperatorCodesLength()):
        _check_table_vectors(model.OperatorCodes(i), n, f"operator code {i}")
    _count(model.BuffersLength(), MAX_BUFFERS, "buffers", 4, n)
    for i in range(model.BuffersLength()):
        _check_table_vectors(model.Buffers(i), n, f"buffer {i}")
    _count(model.MetadataLength(), MAX_METADATA_ENTRIES, "metadata entries", 4, n)
    for i in range(model.MetadataLength()):
        _check_table_vectors(model.Metadata(i), n, f"metadata entry {i}")
    _count(model.MetadataBufferLength(), MAX_BUFFERS, "metadata buffer indices", 4, n)
    _count(model.SignatureDefsLength(), 16, "signature defs", 4, n)
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        _count(sig.InputsLength(), MAX_TENSORS, "signature inputs", 4, n)
        _count(sig.OutputsLength(), MAX_TENSORS, "signature outputs", 4, n)
    subgraphs = _count(model.SubgraphsLength(), 1, "subgraphs", 4, n)
    if subgraphs == 0:
        raise Refused("no subgraph")
    sub = model.Subgraphs(0)
    _count(sub.TensorsLength(), MAX_TENSORS, "tensors", 4, n)
    _count(sub.OperatorsLength(), MAX_OPERATORS, "operators", 4, n)
    _count(sub.InputsLength(), MAX_TENSORS, "subgraph inputs", 4, n)
    _count(sub.OutputsLength(), MAX_TENSORS, "subgraph outputs", 4, n)
    for i in range(sub.TensorsLength()):
        tensor = sub.Tensors(i)
        _count(tensor.ShapeLength(), MAX_RANK, f"dimensions of tensor {i}", 4, n)
        _count(tensor.ShapeSignatureLength(), MAX_RANK, f"signature dimensions of tensor {i}",
               4, n)
        if tensor.Sparsity() is not None:
            raise Refused(f"tensor {i} is sparse (not supported)")
        if tensor.VariantTensorsLength():
            raise Refused(f"tensor {i} has variant tensors (not supported)")
        q = tensor.Quantization()
        if q is not None:
            for what, length, size in (("scales", q.ScaleLength(), 4),
                                       ("zero points", q.ZeroPointLength(), 8),
                                       ("minimums", q.MinLength(), 4),
                                       ("maximums", q.MaxLength(), 4)):
                _count(length, MAX_DIM, f"{what} of tensor {i}", size, n)
            if q.DetailsType() != 0:
                raise Refused(f"tensor {i} has custom quantization (not supported)")
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        _count(op.InputsLength(), 16, f"inputs of operator {i}", 4, n)
        _count(op.OutputsLength(), 16, f"outputs of operator {i}", 4, n)
        _count(op.IntermediatesLength(), 16, f"intermediates of operator {i}", 4, n)
        _count(op.MutatingVariableInputsLength(), 16, f"mutating inputs of operator {i}", 1, n)
        _check_table_vectors(op, n, f"operator {i}")
        if op.CustomOptionsLength() or op.LargeCustomOptionsSize():
            raise Refused(f"operator {i} has custom options (not supported)")
        opts_type = op.BuiltinOptionsType()
        table = op.BuiltinOptions()
        if opts_type and table is not None:
            creator = _options_class(opts_type)
            if creator is not None:
                options = creator()
                options.Init(table.Bytes, table.Pos)
                _check_table_vectors(options, n, f"options of operator {i}")
        if op.BuiltinOptions2Type():
            raise Refused(f"operator {i} uses builtin_options_2 (not supported)")
    return model


@cache
def _options_name(type_code: int) -> str:
    """Name of a BuiltinOptions union member ("NONE" for 0, "unknown <n>" if not in it)."""
    fb = schema()
    names = {v: k for k, v in vars(fb.BuiltinOptions).items()
             if not k.startswith("_") and isinstance(v, int)}
    return names.get(type_code, f"unknown {type_code}")


@cache
def _options_class(type_code: int) -> Any:
    """The generated reader class of a BuiltinOptions union member (None if unknown)."""
    name = _options_name(type_code)
    return None if name == "NONE" or name.startswith("unknown") else getattr(schema(), name, None)


# --------------------------------------------------------------------------------------------
# 2. Structure and 3. operators
# --------------------------------------------------------------------------------------------

def _ints(values: Any) -> tuple[int, ...]:
    return () if values is None else tuple(int(v) for v in values)


def _floats(values: Any) -> tuple[float, ...]:
    return () if values is None else tuple(float(v) for v in values)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _buffer_bytes(buf: Any, data: bytes, index: int) -> bytes:
    if buf is None:
        return b""
    offset, size = int(buf.offset or 0), int(buf.size or 0)
    if offset > 1:  # large models keep buffer data after the FlatBuffer
        if offset + size > len(data):
            raise Refused(f"buffer {index} ({size} bytes at {offset}) lies outside the file")
        return data[offset:offset + size]
    if buf.data is None:
        return b""
    import numpy as np

    return np.asarray(buf.data, dtype=np.uint8).tobytes()


def _tensor(t: Any, index: int, buffers: list[bytes]) -> Tensor:
    shape = _ints(t.shape)
    for d in shape:
        if not 1 <= d <= MAX_DIM:
            raise Refused(f"tensor {index} has dimension {d} (1..{MAX_DIM})")
    if math.prod(shape) > MAX_ELEMENTS:
        raise Refused(f"tensor {index} has {math.prod(shape)} elements (at most "
                       f"{MAX_ELEMENTS})")
    type_code = int(t.type)
    if type_code not in TENSOR_TYPES:
        raise Refused(f"tensor {index} has unknown type {type_code}")
    buffer = int(t.buffer)
    if buffer >= len(buffers):
        raise Refused(f"tensor {index} names buffer {buffer} of {len(buffers)}")
    scale: tuple[float, ...] = ()
    zero: tuple[int, ...] = ()
    qdim = 0
    q = t.quantization
    if q is not None:
        scale, zero, qdim = _floats(q.scale), _ints(q.zeroPoint), int(q.quantizedDimension)
        if not all(math.isfinite(s) and MIN_SCALE <= s <= MAX_SCALE for s in scale):
            raise Refused(f"tensor {index} has a quantization scale that is not a positive "
                           "finite number")
        if scale:
            if not 0 <= qdim < max(len(shape), 1):
                raise Refused(f"tensor {index} quantizes along dimension {qdim} of "
                               f"{len(shape)}")
            if len(scale) > 1 and (not shape or len(scale) != shape[qdim]):
                raise Refused(f"tensor {index} has {len(scale)} scales for "
                               f"{shape[qdim] if shape else 1} channels")
            if len(zero) not in (1, len(scale)):
                raise Refused(f"tensor {index} has {len(zero)} zero points for "
                               f"{len(scale)} scales")
        elif zero:
            raise Refused(f"tensor {index} has zero points but no scales")
        if type_code == INT8 and not all(-128 <= z <= 127 for z in zero):
            raise Refused(f"tensor {index} has an int8 zero point outside -128..127")
    payload = buffers[buffer]
    size = math.prod(shape) * TENSOR_TYPES[type_code][1]
    if payload and len(payload) != size:
        raise Refused(f"tensor {index} holds {len(payload)} bytes, its shape and type need "
                       f"{size}")
    return Tensor(name=_text(t.name), shape=shape, dtype=TENSOR_TYPES[type_code][0],
                  type_code=type_code, buffer=buffer, scale=scale, zero_point=zero,
                  quantized_dimension=qdim, data=payload)


def _options_dict(op: Any) -> dict[str, Any]:
    options = op.builtinOptions
    if options is None:
        return {}
    out = {}
    for key, value in sorted(vars(options).items()):
        if isinstance(value, (bool, int, float)):
            out[key] = value
        elif value is not None:
            out[key] = _ints(value)
    return out


def _check_graph(model_t: Any, data: bytes) -> TfliteModel:
    codes, customs = [], []
    names = builtin_names()
    for oc in model_t.operatorCodes or []:
        codes.append(max(int(oc.deprecatedBuiltinCode), int(oc.builtinCode)))
        customs.append(_text(oc.customCode))
    buffers = [_buffer_bytes(b, data, i) for i, b in enumerate(model_t.buffers or [])]
    metadata: dict[str, bytes] = {}
    for i, md in enumerate(model_t.metadata or []):
        index = int(md.buffer)
        if index >= len(buffers):
            raise Refused(f"metadata entry {i} names buffer {index} of {len(buffers)}")
        metadata[_text(md.name)] = buffers[index]
    sub = model_t.subgraphs[0]
    tensors = tuple(_tensor(t, i, buffers) for i, t in enumerate(sub.tensors or []))
    activation_bytes = sum(t.nbytes for t in tensors if not t.data)
    if activation_bytes > MAX_ACTIVATION_BYTES:
        raise Refused(f"{activation_bytes} bytes of activations (at most "
                       f"{MAX_ACTIVATION_BYTES})")

    def index_ok(k: int, optional: bool) -> bool:
        return (optional and k == -1) or 0 <= k < len(tensors)

    inputs, outputs = _ints(sub.inputs), _ints(sub.outputs)
    if not inputs or not outputs:
        raise Refused("the subgraph has no inputs or no outputs")
    for k in (*inputs, *outputs):
        if not index_ok(k, False):
            raise Refused(f"subgraph names tensor {k} of {len(tensors)}")
    written = set(inputs)
    operators = []
    for i, op in enumerate(sub.operators or []):
        if not 0 <= int(op.opcodeIndex) < len(codes):
            raise Refused(f"operator {i} uses operator code {op.opcodeIndex} of {len(codes)}")
        code = codes[op.opcodeIndex]
        name = names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            raise Refused(f"operator {i} is the custom operator "
                           f"{customs[op.opcodeIndex][:40]!r} (kws models use builtins only)")
        if name not in SUPPORTED_OPS:
            raise Refused(f"operator {i} is {name}, not one of the operators kws models use "
                           f"({', '.join(SUPPORTED_OPS)})")
        op_in, op_out = _ints(op.inputs), _ints(op.outputs)
        for k in op_in:
            if not index_ok(k, True):
                raise Refused(f"operator {i} reads tensor {k} of {len(tensors)}")
            if k >= 0 and not tensors[k].data and k not in written:
                raise Refused(f"operator {i} reads tensor {k} before any operator writes it")
        for k in op_out:
            if not index_ok(k, False):
                raise Refused(f"operator {i} writes tensor {k} of {len(tensors)}")
            if k in written or tensors[k].data:
                raise Refused(f"operator {i} writes tensor {k}, which is already set")
            written.add(k)
        pool = None
        options = _options_dict(op)
        if name in POOL_OPS:
            pool = (int(options.get("filterHeight", 1)), int(options.get("filterWidth", 1)))
        operator = Operator(code=code, name=name, inputs=op_in, outputs=op_out,
                            options=options, pool_filter=pool,
                            options_type=_options_name(int(op.builtinOptionsType or 0)))
        check_operator(i, operator, tensors)
        operators.append(operator)
    for k in outputs:
        if k not in written:
            raise Refused(f"subgraph output tensor {k} is never written")
    return TfliteModel(version=int(model_t.version), operator_codes=tuple(codes),
                       custom_codes=tuple(customs), tensors=tensors,
                       operators=tuple(operators), inputs=inputs, outputs=outputs,
                       num_subgraphs=len(model_t.subgraphs), metadata=metadata)


def parse_tflite(data: bytes, name: str = "model") -> TfliteModel:
    """Parse and verify the bytes of a .tflite file (see the module docstring).

    Raises ModelError (one line, naming ``name``) for anything the checks refuse, and for any
    failure of the flatbuffer decoding itself.
    """
    data = bytes(data)
    if len(data) > MAX_MODEL_BYTES:
        raise ModelError(f"{name}: larger than the {MAX_MODEL_BYTES}-byte limit for a model")
    try:
        root = _check_bounds(data)
        model_t = schema().ModelT.InitFromObj(root)
        return _check_graph(model_t, data)
    except Refused as exc:
        raise ModelError(f"{name}: not a model kws can run: {exc}") from None
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure of hostile bytes
        raise ModelError(f"{name}: corrupt .tflite file ({type(exc).__name__}: "
                         f"{str(exc)[:80]})") from None


def content_hash(model: TfliteModel) -> str:
    """sha256 (hex) of what the kernels compute with, not of the file's bytes.

    Covers each tensor's shape, type and constant data, the quantization the kernels read
    (all but the int32 biases', which TFLite Micro derives; zero points expanded to one per
    scale) and each operator's code, tensors and options. Metadata, names and buffer order
    are left out, so a model and its device copy (kws.quantize.strip_for_device) hash alike,
    and restamping the metadata keeps the hash; a changed weight byte changes it.
    """
    bias = {op.inputs[2] for op in model.operators
            if op.name in BIAS_OPS and len(op.inputs) > 2 and op.inputs[2] >= 0}
    h = hashlib.sha256()
    for k, t in enumerate(model.tensors):
        quant: Any = None
        if k not in bias and t.scale:
            zero = t.zero_point * len(t.scale) if len(t.zero_point) == 1 else t.zero_point
            quant = [list(t.scale), list(zero), t.quantized_dimension if len(t.scale) > 1
                     else 0]
        h.update(json.dumps([k, list(t.shape), t.type_code, quant, len(t.data)]).encode())
        h.update(t.data)
    for op in model.operators:
        h.update(json.dumps([op.code, list(op.inputs), list(op.outputs),
                             sorted((k, list(v) if isinstance(v, tuple) else v)
                                    for k, v in op.options.items())]).encode())
    h.update(json.dumps([list(model.inputs), list(model.outputs)]).encode())
    return h.hexdigest()


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of lists/dicts, stopping once it passes ``limit``."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_metadata_json(raw: bytes, name: str) -> Any:
    """JSON of a metadata entry, with its size and nesting bounded (ModelError otherwise)."""
    if len(raw) > MAX_METADATA_JSON_BYTES:
        raise ModelError(f"{name}: kws metadata of {len(raw)} bytes is larger than the "
                         f"{MAX_METADATA_JSON_BYTES}-byte limit")
    if raw.count(b"[") + raw.count(b"{") > 4096:
        raise ModelError(f"{name}: kws metadata has too many lists and objects")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelError(f"{name}: kws metadata is not valid JSON "
                         f"({type(exc).__name__})") from None
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ModelError(f"{name}: kws metadata is nested deeper than {MAX_JSON_DEPTH} "
                         "levels")
    return value

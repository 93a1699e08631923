"""Read the structure of a .tflite file without TensorFlow: operators, tensors, MACs, metadata.

A .tflite file is a FlatBuffer of the TFLite schema (tensorflow/lite/schema/schema.fbs). This
module walks the few tables the exporter needs by hand (pure Python, standard library only):

    Model         operator_codes, subgraphs, buffers, metadata
    OperatorCode  builtin_code (the larger of the deprecated int8 field and the int32 field)
    SubGraph      tensors, inputs, outputs, operators
    Tensor        shape, type, buffer, name, quantization (scale, zero_point)
    Operator      opcode_index, inputs, outputs, builtin options (pool sizes only)

It answers three questions for firmware export: which operators the TFLite Micro op resolver
must register (:func:`resolver_ops`), how much arithmetic one inference costs
(:func:`count_macs`), and which named metadata buffers the file carries.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence

from kws.errors import ModelError

FILE_IDENTIFIER = b"TFL3"
"""The 4-byte FlatBuffer file identifier of TFLite models (bytes 4..7)."""

# BuiltinOperator codes (schema.fbs) of the operators TFLite Micro implements, with the name of
# the MicroMutableOpResolver method that registers each (AddConv2D ...). An operator missing
# here cannot be exported for TFLite Micro.
MICRO_OPS: dict[int, tuple[str, str]] = {
    0: ("ADD", "AddAdd"),
    1: ("AVERAGE_POOL_2D", "AddAveragePool2D"),
    2: ("CONCATENATION", "AddConcatenation"),
    3: ("CONV_2D", "AddConv2D"),
    4: ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"),
    5: ("DEPTH_TO_SPACE", "AddDepthToSpace"),
    6: ("DEQUANTIZE", "AddDequantize"),
    8: ("FLOOR", "AddFloor"),
    9: ("FULLY_CONNECTED", "AddFullyConnected"),
    11: ("L2_NORMALIZATION", "AddL2Normalization"),
    12: ("L2_POOL_2D", "AddL2Pool2D"),
    14: ("LOGISTIC", "AddLogistic"),
    17: ("MAX_POOL_2D", "AddMaxPool2D"),
    18: ("MUL", "AddMul"),
    19: ("RELU", "AddRelu"),
    21: ("RELU6", "AddRelu6"),
    22: ("RESHAPE", "AddReshape"),
    23: ("RESIZE_BILINEAR", "AddResizeBilinear"),
    25: ("SOFTMAX", "AddSoftmax"),
    26: ("SPACE_TO_DEPTH", "AddSpaceToDepth"),
    27: ("SVDF", "AddSvdf"),
    28: ("TANH", "AddTanh"),
    34: ("PAD", "AddPad"),
    36: ("GATHER", "AddGather"),
    37: ("BATCH_TO_SPACE_ND", "AddBatchToSpaceNd"),
    38: ("SPACE_TO_BATCH_ND", "AddSpaceToBatchNd"),
    39: ("TRANSPOSE", "AddTranspose"),
    40: ("MEAN", "AddMean"),
    41: ("SUB", "AddSub"),
    42: ("DIV", "AddDiv"),
    43: ("SQUEEZE", "AddSqueeze"),
    44: ("UNIDIRECTIONAL_SEQUENCE_LSTM", "AddUnidirectionalSequenceLSTM"),
    45: ("STRIDED_SLICE", "AddStridedSlice"),
    47: ("EXP", "AddExp"),
    49: ("SPLIT", "AddSplit"),
    50: ("LOG_SOFTMAX", "AddLogSoftmax"),
    53: ("CAST", "AddCast"),
    54: ("PRELU", "AddPrelu"),
    55: ("MAXIMUM", "AddMaximum"),
    56: ("ARG_MAX", "AddArgMax"),
    57: ("MINIMUM", "AddMinimum"),
    58: ("LESS", "AddLess"),
    59: ("NEG", "AddNeg"),
    60: ("PADV2", "AddPadV2"),
    61: ("GREATER", "AddGreater"),
    62: ("GREATER_EQUAL", "AddGreaterEqual"),
    63: ("LESS_EQUAL", "AddLessEqual"),
    65: ("SLICE", "AddSlice"),
    66: ("SIN", "AddSin"),
    67: ("TRANSPOSE_CONV", "AddTransposeConv"),
    70: ("EXPAND_DIMS", "AddExpandDims"),
    71: ("EQUAL", "AddEqual"),
    72: ("NOT_EQUAL", "AddNotEqual"),
    73: ("LOG", "AddLog"),
    74: ("SUM", "AddSum"),
    75: ("SQRT", "AddSqrt"),
    76: ("RSQRT", "AddRsqrt"),
    77: ("SHAPE", "AddShape"),
    79: ("ARG_MIN", "AddArgMin"),
    82: ("REDUCE_MAX", "AddReduceMax"),
    83: ("PACK", "AddPack"),
    84: ("LOGICAL_OR", "AddLogicalOr"),
    86: ("LOGICAL_AND", "AddLogicalAnd"),
    87: ("LOGICAL_NOT", "AddLogicalNot"),
    88: ("UNPACK", "AddUnpack"),
    90: ("FLOOR_DIV", "AddFloorDiv"),
    92: ("SQUARE", "AddSquare"),
    93: ("ZEROS_LIKE", "AddZerosLike"),
    94: ("FILL", "AddFill"),
    95: ("FLOOR_MOD", "AddFloorMod"),
    97: ("RESIZE_NEAREST_NEIGHBOR", "AddResizeNearestNeighbor"),
    98: ("LEAKY_RELU", "AddLeakyRelu"),
    99: ("SQUARED_DIFFERENCE", "AddSquaredDifference"),
    100: ("MIRROR_PAD", "AddMirrorPad"),
    101: ("ABS", "AddAbs"),
    102: ("SPLIT_V", "AddSplitV"),
    104: ("CEIL", "AddCeil"),
    106: ("ADD_N", "AddAddN"),
    107: ("GATHER_ND", "AddGatherNd"),
    108: ("COS", "AddCos"),
    111: ("ELU", "AddElu"),
    114: ("QUANTIZE", "AddQuantize"),
    116: ("ROUND", "AddRound"),
    117: ("HARD_SWISH", "AddHardSwish"),
    118: ("IF", "AddIf"),
    119: ("WHILE", "AddWhile"),
    123: ("SELECT_V2", "AddSelectV2"),
    126: ("BATCH_MATMUL", "AddBatchMatMul"),
    128: ("CUMSUM", "AddCumSum"),
    129: ("CALL_ONCE", "AddCallOnce"),
    130: ("BROADCAST_TO", "AddBroadcastTo"),
    142: ("VAR_HANDLE", "AddVarHandle"),
    143: ("READ_VARIABLE", "AddReadVariable"),
    144: ("ASSIGN_VARIABLE", "AddAssignVariable"),
    145: ("BROADCAST_ARGS", "AddBroadcastArgs"),
}
CUSTOM_CODE = 32
"""BuiltinOperator.CUSTOM: an operator named by its custom_code string."""

TENSOR_TYPES: dict[int, tuple[str, int]] = {
    0: ("float32", 4), 1: ("float16", 2), 2: ("int32", 4), 3: ("uint8", 1), 4: ("int64", 8),
    5: ("string", 1), 6: ("bool", 1), 7: ("int16", 2), 9: ("int8", 1), 10: ("float64", 8),
    12: ("uint64", 8), 15: ("uint32", 4), 16: ("uint16", 2), 17: ("int4", 1),
}
"""TensorType code -> (numpy-style name, bytes per element)."""

_POOL_CODES = {1, 12, 17}  # AVERAGE_POOL_2D, L2_POOL_2D, MAX_POOL_2D (Pool2DOptions)


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One tensor of a subgraph.

    shape: dimensions (batch first, NHWC for images); dtype: e.g. "int8"; buffer: index into
    the model's buffers (0 = no data); scale / zero_point: per-tensor (or per-channel) affine
    quantization, real = scale * (q - zero_point); empty when not quantized.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    buffer: int
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of elements (product of the shape; 1 for a scalar)."""
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclasses.dataclass(frozen=True)
class Operator:
    """One operator of a subgraph: its BuiltinOperator code and name, tensor indices, and
    for pooling operators the filter size (height, width)."""

    code: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    pool_filter: tuple[int, int] | None


@dataclasses.dataclass(frozen=True)
class TfliteModel:
    """The parts of a .tflite the exporter reads (first subgraph = the model)."""

    version: int
    operator_codes: tuple[int, ...]
    """BuiltinOperator code of each OperatorCode entry, in file order."""
    custom_codes: tuple[str, ...]
    """custom_code string of each OperatorCode entry ('' for builtins)."""
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    num_subgraphs: int
    metadata: dict[str, bytes]
    """Named metadata entries -> the bytes of their buffers."""


class _Reader:
    """Minimal FlatBuffer table reader over a bytes object (little-endian, as the format)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _unpack(self, fmt: str, pos: int) -> int:
        try:
            return struct.unpack_from(fmt, self.data, pos)[0]
        except struct.error:
            raise ModelError(f"truncated .tflite: read at byte {pos} of {len(self.data)}") \
                from None

    def u8(self, pos: int) -> int:
        return self._unpack("<B", pos)

    def u16(self, pos: int) -> int:
        return self._unpack("<H", pos)

    def i32(self, pos: int) -> int:
        return self._unpack("<i", pos)

    def u32(self, pos: int) -> int:
        return self._unpack("<I", pos)

    def u64(self, pos: int) -> int:
        return self._unpack("<Q", pos)

    def field(self, table: int, index: int) -> int:
        """Absolute position of field ``index`` of the table at ``table``, or 0 if absent."""
        vtable = table - self.i32(table)
        vt_size = self.u16(vtable)
        slot = 4 + 2 * index
        if slot + 2 > vt_size:
            return 0
        off = self.u16(vtable + slot)
        return table + off if off else 0

    def scalar(self, table: int, index: int, fmt: str, default: int = 0) -> int:
        pos = self.field(table, index)
        return self._unpack(fmt, pos) if pos else default

    def ref(self, table: int, index: int) -> int:
        """Position of the table/vector/string a reference field points to (0 if absent)."""
        pos = self.field(table, index)
        return pos + self.u32(pos) if pos else 0

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(position of the first element, length) of a vector field; (0, 0) if absent."""
        pos = self.ref(table, index)
        if not pos:
            return 0, 0
        return pos + 4, self.u32(pos)

    def tables(self, table: int, index: int) -> list[int]:
        start, n = self.vector(table, index)
        return [start + 4 * i + self.u32(start + 4 * i) for i in range(n)]

    def ints(self, table: int, index: int, fmt: str = "<i", width: int = 4) -> tuple[int, ...]:
        start, n = self.vector(table, index)
        return tuple(self._unpack(fmt, start + width * i) for i in range(n))

    def floats(self, table: int, index: int) -> tuple[float, ...]:
        start, n = self.vector(table, index)
        return tuple(struct.unpack_from(f"<{n}f", self.data, start)) if n else ()

    def string(self, table: int, index: int) -> str:
        start, n = self.vector(table, index)
        return self.data[start:start + n].decode("utf-8", "replace") if n else ""

    def blob(self, table: int, index: int) -> bytes:
        start, n = self.vector(table, index)
        return self.data[start:start + n] if n else b""


def parse_tflite(data: bytes) -> TfliteModel:
    """Parse the bytes of a .tflite file (its first subgraph).

    Raises ModelError when the bytes are not a TFLite FlatBuffer.
    """
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ModelError(f"not a .tflite file (bytes 4..7 are {bytes(data[4:8])!r}, expected "
                         f"{FILE_IDENTIFIER!r})")
    r = _Reader(bytes(data))
    model = r.u32(0)
    version = r.scalar(model, 0, "<I")

    codes, customs = [], []
    for oc in r.tables(model, 1):
        deprecated = r.scalar(oc, 0, "<b")
        builtin = r.scalar(oc, 3, "<i")
        codes.append(max(deprecated, builtin))  # schema: the larger one is the real code
        customs.append(r.string(oc, 1))

    buffers = []
    for buf in r.tables(model, 4):
        offset = r.scalar(buf, 1, "<Q")
        if offset > 1:  # large models keep buffer data after the FlatBuffer
            size = r.scalar(buf, 2, "<Q")
            buffers.append(bytes(data[offset:offset + size]))
        else:
            buffers.append(r.blob(buf, 0))

    metadata = {}
    for md in r.tables(model, 6):
        index = r.scalar(md, 1, "<I")
        if index >= len(buffers):
            raise ModelError(f"metadata {r.string(md, 0)!r} names buffer {index} of "
                             f"{len(buffers)}")
        metadata[r.string(md, 0)] = buffers[index]

    subgraphs = r.tables(model, 2)
    if not subgraphs:
        raise ModelError("the .tflite file has no subgraph")
    sg = subgraphs[0]
    tensors = []
    for t in r.tables(sg, 0):
        type_code = r.scalar(t, 1, "<b")
        dtype = TENSOR_TYPES.get(type_code, (f"type{type_code}", 1))[0]
        quant = r.ref(t, 4)
        scale = r.floats(quant, 2) if quant else ()
        zero = r.ints(quant, 3, "<q", 8) if quant else ()
        tensors.append(Tensor(name=r.string(t, 3), shape=r.ints(t, 0), dtype=dtype,
                              buffer=r.scalar(t, 2, "<I"), scale=scale, zero_point=zero))
    operators = []
    for op in r.tables(sg, 3):
        index = r.scalar(op, 0, "<I")
        if index >= len(codes):
            raise ModelError(f"operator uses opcode {index} of {len(codes)}")
        code = codes[index]
        name = customs[index] if code == CUSTOM_CODE else \
            MICRO_OPS.get(code, (f"BUILTIN_{code}", ""))[0]
        pool = None
        if code in _POOL_CODES:
            opts = r.ref(op, 4)
            if opts:  # Pool2DOptions: padding, stride_w, stride_h, filter_width, filter_height
                pool = (r.scalar(opts, 4, "<i"), r.scalar(opts, 3, "<i"))
        operators.append(Operator(code=code, name=name, inputs=r.ints(op, 1),
                                  outputs=r.ints(op, 2), pool_filter=pool))
    return TfliteModel(version=version, operator_codes=tuple(codes),
                       custom_codes=tuple(customs), tensors=tuple(tensors),
                       operators=tuple(operators), inputs=r.ints(sg, 1), outputs=r.ints(sg, 2),
                       num_subgraphs=len(subgraphs), metadata=metadata)


def operator_names(model: TfliteModel) -> list[str]:
    """Distinct operator names used by the model's operators, in order of first use."""
    seen: list[str] = []
    for op in model.operators:
        if op.name not in seen:
            seen.append(op.name)
    return seen


def resolver_ops(model: TfliteModel) -> list[tuple[str, str]]:
    """(operator name, MicroMutableOpResolver method) for each distinct operator, in order of
    first use. Raises ModelError for a custom or a TFLite-Micro-less operator."""
    out: list[tuple[str, str]] = []
    for op in model.operators:
        if op.code == CUSTOM_CODE:
            raise ModelError(f"custom operator {op.name!r} cannot be exported (no builtin "
                             "TFLite Micro kernel)")
        if op.code not in MICRO_OPS:
            raise ModelError(f"operator {op.name} (builtin code {op.code}) has no TFLite "
                             "Micro kernel known to the exporter")
        entry = MICRO_OPS[op.code]
        if entry not in out:
            out.append(entry)
    return out


def _shape(model: TfliteModel, index: int) -> tuple[int, ...]:
    return model.tensors[index].shape if index >= 0 else ()


def operator_macs(model: TfliteModel, op: Operator) -> int:
    """Multiply-accumulates of one operator (int >= 0).

    CONV_2D: output elements x kernel height x width x input channels; DEPTHWISE_CONV_2D:
    output elements x kernel height x width; FULLY_CONNECTED: output elements x input
    features; TRANSPOSE_CONV: input elements x kernel height x width x output channels;
    pooling: output elements x filter area; everything else (reshape, softmax ...): 0.
    """
    out = model.tensors[op.outputs[0]].size if op.outputs else 0
    if op.name == "CONV_2D":
        _, kh, kw, cin = _shape(model, op.inputs[1])
        return out * kh * kw * cin
    if op.name == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = _shape(model, op.inputs[1])
        return out * kh * kw
    if op.name == "FULLY_CONNECTED":
        return out * _shape(model, op.inputs[1])[-1]
    if op.name == "TRANSPOSE_CONV":
        cout, kh, kw, _ = _shape(model, op.inputs[1])
        return model.tensors[op.inputs[2]].size * kh * kw * cout
    if op.pool_filter is not None:
        return out * op.pool_filter[0] * op.pool_filter[1]
    return 0


def count_macs(model: TfliteModel) -> int:
    """Multiply-accumulates of one inference: the sum of :func:`operator_macs` (2,656,768 for
    the MLPerf DS-CNN's convolutions and dense layer, plus its 8,000-element average pool)."""
    return sum(operator_macs(model, op) for op in model.operators)


def io_tensors(model: TfliteModel) -> tuple[Sequence[Tensor], Sequence[Tensor]]:
    """(input tensors, output tensors) of the model's subgraph."""
    return ([model.tensors[i] for i in model.inputs], [model.tensors[i] for i in model.outputs])

"""What TFLite Micro needs of a model: its op registrations, and the arithmetic of one inference.

The model itself is read and verified by :mod:`kws.model_file` (the official TFLite schema);
this module holds the knowledge of TFLite Micro's op resolver and answers two questions for
firmware export: which operators the MicroMutableOpResolver must register
(:func:`resolver_ops`) and how much arithmetic one inference costs (:func:`count_macs`).
``parse_tflite`` and the parsed types are re-exported from kws.model_file for its callers.
"""

from __future__ import annotations

from collections.abc import Sequence

from kws.errors import ModelError
from kws.model_file import (
    FILE_IDENTIFIER,
    TENSOR_TYPES,
    Operator,
    Tensor,
    TfliteModel,
    parse_tflite,
)

__all__ = ["CUSTOM_CODE", "FILE_IDENTIFIER", "MICRO_OPS", "TENSOR_TYPES", "Operator", "Tensor",
           "TfliteModel", "count_macs", "io_tensors", "operator_macs", "operator_names",
           "parse_tflite", "resolver_ops"]

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

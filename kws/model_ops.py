"""The operators a kws model may use, and what TFLite Micro's int8 kernels need of each.

:func:`check_operator` checks one parsed operator against its tensors: the number of inputs
and outputs, the types (quantized int8 activations and weights, int32 biases), the options
(padding, fused activation, strides, dilations, filter sizes, depth multiplier, softmax beta)
and the output shape that the input and options give. LiteRT ignores some of these options
where TFLite Micro trusts them (a DEPTHWISE_CONV_2D whose ``depth_multiplier`` disagrees with
its channels runs on LiteRT and crashes TFLite Micro), so they are checked here, before
either interpreter sees the model. Raises :class:`kws.model_types.Refused`.
"""

from __future__ import annotations

import math
from typing import Any

from kws.model_types import INT8, INT32, OUTPUT_QUANT, Operator, Refused, Tensor

MAX_DIM = 1 << 16
"""Largest size of one tensor dimension (and of a pooling filter)."""
MAX_STRIDE = 64
MIN_BETA, MAX_BETA = 1e-3, 1e3
"""Range of SOFTMAX's beta accepted (converters write 1.0)."""

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                 "FULLY_CONNECTED", "RESHAPE", "SOFTMAX", "ADD", "RELU", "RELU6", "LOGISTIC",
                 "QUANTIZE", "DEQUANTIZE")
"""Operators a kws model may use (int8 kernels of TFLite Micro whose options are checked)."""
_CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
POOL_OPS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
_ELEMENTWISE_OPS = ("RELU", "RELU6", "LOGISTIC", "QUANTIZE", "DEQUANTIZE")
_PADDING = {0: "SAME", 1: "VALID"}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
BIAS_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
"""Operators whose third input is an int32 bias (its quantization is never read)."""


def _out_size(size: int, kernel: int, stride: int, dilation: int, padding: int) -> int:
    """Output length of a convolution/pool along one axis (TFLite's ComputeOutSize)."""
    effective = (kernel - 1) * dilation + 1
    if padding == 0:  # SAME
        return (size + stride - 1) // stride
    return (size - effective + stride) // stride  # VALID


def _check_common_options(name: str, opts: dict[str, Any], *, pool: bool) -> None:
    if opts.get("padding", 0) not in _PADDING:
        raise Refused(f"{name} padding {opts.get('padding')} (SAME or VALID)")
    if opts.get("fusedActivationFunction", 0) not in _ACTIVATIONS:
        raise Refused(f"{name} fused activation {opts.get('fusedActivationFunction')}")
    keys = ["strideH", "strideW"] + (["filterHeight", "filterWidth"] if pool else
                                    ["dilationHFactor", "dilationWFactor"])
    for key in keys:
        value = opts.get(key, 1)
        if not 1 <= value <= (MAX_DIM if key.startswith("filter") else MAX_STRIDE):
            raise Refused(f"{name} {key}={value}")


OPTIONS_TABLES: dict[str, tuple[str, ...]] = {
    "CONV_2D": ("Conv2DOptions",),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions",),
    "AVERAGE_POOL_2D": ("Pool2DOptions",),
    "MAX_POOL_2D": ("Pool2DOptions",),
    "FULLY_CONNECTED": ("FullyConnectedOptions",),
    "SOFTMAX": ("SoftmaxOptions",),
    "RESHAPE": ("ReshapeOptions", "NONE"),
    "ADD": ("AddOptions", "NONE"),
}
"""The options table each operator may carry (others: none). The interpreters read a missing
or foreign table as zeros: LiteRT's reference softmax then aborts on beta 0."""


def check_operator(i: int, op: Operator, tensors: tuple[Tensor, ...]) -> None:
    """Inputs, types, options and output shape of one operator, as TFLite Micro needs them."""
    name = f"operator {i} ({op.name})"

    def t(k: int) -> Tensor:
        return tensors[op.inputs[k]]

    def need(count_in: tuple[int, ...], count_out: int = 1) -> None:
        if len(op.inputs) not in count_in or len(op.outputs) != count_out:
            raise Refused(f"{name} has {len(op.inputs)} inputs and {len(op.outputs)} "
                           f"outputs")
        if any(k < 0 for k in op.inputs[:1]) or any(k < 0 for k in op.outputs):
            raise Refused(f"{name} lacks its input or output tensor")

    def int8(*tensor_list: Tensor) -> None:
        for tensor in tensor_list:
            if tensor.type_code != INT8 or not tensor.scale:
                raise Refused(f"{name}: tensor {tensor.name or '?'} is {tensor.dtype}"
                               f"{'' if tensor.scale else ' unquantized'}, the int8 kernel "
                               "needs quantized int8")

    allowed = OPTIONS_TABLES.get(op.name, ("NONE",))
    if op.options_type not in allowed:
        raise Refused(f"{name} carries options {op.options_type}, expected "
                      f"{' or '.join(allowed)}")
    opts = op.options
    if op.name in _CONV_OPS:
        need((2, 3))
        x, w, y = t(0), t(1), tensors[op.outputs[0]]
        int8(x, w, y)
        if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
            raise Refused(f"{name} needs 4-D input, filter and output")
        if not w.data:
            raise Refused(f"{name}: the filter is not a constant")
        _check_common_options(name, opts, pool=False)
        n, h, wd, cin = x.shape
        if op.name == "CONV_2D":
            cout, kh, kw, wcin = w.shape
            if wcin != cin:
                raise Refused(f"{name}: filter has {wcin} input channels, input has {cin}")
        else:
            one, kh, kw, cout = w.shape
            multiplier = opts.get("depthMultiplier", 1)
            if one != 1 or multiplier < 1 or cin * multiplier != cout:
                raise Refused(f"{name}: depth_multiplier {multiplier} with {cin} input and "
                               f"{cout} output channels")
        if len(op.inputs) == 3 and op.inputs[2] >= 0:
            b = t(2)
            if b.type_code != INT32 or b.shape != (cout,) or not b.data:
                raise Refused(f"{name}: bias must be a constant int32 of shape ({cout},)")
        if len(w.scale) not in (1, cout):
            raise Refused(f"{name}: {len(w.scale)} filter scales for {cout} channels")
        expected = (n, _out_size(h, kh, opts.get("strideH", 1), opts.get("dilationHFactor", 1),
                                 opts.get("padding", 0)),
                    _out_size(wd, kw, opts.get("strideW", 1), opts.get("dilationWFactor", 1),
                              opts.get("padding", 0)), cout)
        if y.shape != expected:
            raise Refused(f"{name}: output shape {y.shape}, the input and options give "
                           f"{expected}")
    elif op.name in POOL_OPS:
        need((1,))
        x, y = t(0), tensors[op.outputs[0]]
        int8(x, y)
        if len(x.shape) != 4:
            raise Refused(f"{name} needs a 4-D input")
        _check_common_options(name, opts, pool=True)
        n, h, wd, c = x.shape
        fh, fw = opts.get("filterHeight", 1), opts.get("filterWidth", 1)
        expected = (n, _out_size(h, fh, opts.get("strideH", 1), 1, opts.get("padding", 0)),
                    _out_size(wd, fw, opts.get("strideW", 1), 1, opts.get("padding", 0)), c)
        if y.shape != expected or min(expected) < 1:
            raise Refused(f"{name}: output shape {y.shape}, the input and options give "
                           f"{expected}")
    elif op.name == "FULLY_CONNECTED":
        need((2, 3))
        x, w, y = t(0), t(1), tensors[op.outputs[0]]
        int8(x, w, y)
        if len(w.shape) != 2 or not w.data:
            raise Refused(f"{name}: the weights must be a 2-D constant")
        cout, k = w.shape
        if x.size % k:
            raise Refused(f"{name}: input of {x.size} elements is not rows of {k}")
        if len(op.inputs) == 3 and op.inputs[2] >= 0:
            b = t(2)
            if b.type_code != INT32 or b.shape != (cout,) or not b.data:
                raise Refused(f"{name}: bias must be a constant int32 of shape ({cout},)")
        if y.size != (x.size // k) * cout or y.shape[-1] != cout:
            raise Refused(f"{name}: output shape {y.shape} for {x.size // k} rows of "
                           f"{cout}")
        if opts.get("fusedActivationFunction", 0) not in _ACTIVATIONS:
            raise Refused(f"{name} fused activation {opts.get('fusedActivationFunction')}")
    elif op.name == "RESHAPE":
        need((1, 2))
        x, y = t(0), tensors[op.outputs[0]]
        if x.size != y.size or x.type_code != y.type_code:
            raise Refused(f"{name}: {x.dtype} {x.shape} cannot become {y.dtype} {y.shape}")
    elif op.name == "SOFTMAX":
        need((1,))
        x, y = t(0), tensors[op.outputs[0]]
        int8(x, y)
        beta = opts.get("beta", 1.0)
        # LiteRT's reference int8 softmax aborts the process on a beta far from 1 (its
        # multiplier leaves the fixed-point range); converters write 1.0.
        if x.shape != y.shape or not (math.isfinite(beta) and MIN_BETA <= beta <= MAX_BETA):
            raise Refused(f"{name}: shapes {x.shape} -> {y.shape}, beta {beta}")
        # The output contract of every kws model (kws.model_types.OUTPUT_QUANT): the int8
        # softmax the detector reads as uint8 score + 128.
        scale, zero_point = OUTPUT_QUANT
        if y.zero_point[:1] != (zero_point,) or abs(y.scale[0] - scale) > 1e-9:
            raise Refused(f"{name}: int8 output must have scale {scale:g} (1/"
                          f"{round(1 / scale)}) and zero point {zero_point}")
    elif op.name == "ADD":
        need((2,))
        a, b, y = t(0), t(1), tensors[op.outputs[0]]
        int8(a, b, y)
        import numpy as np

        try:
            shape = tuple(np.broadcast_shapes(a.shape, b.shape))
        except ValueError:
            shape = None
        if shape != y.shape:
            raise Refused(f"{name}: {a.shape} + {b.shape} does not give {y.shape}")
    elif op.name in _ELEMENTWISE_OPS:
        need((1,))
        x, y = t(0), tensors[op.outputs[0]]
        if x.shape != y.shape:
            raise Refused(f"{name}: shapes {x.shape} -> {y.shape}")
        if op.name != "DEQUANTIZE":
            int8(y)
        if op.name not in ("QUANTIZE", "DEQUANTIZE"):
            int8(x)



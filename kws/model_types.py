"""The parsed form of a verified .tflite (kws.model_file makes it): tensors, operators, model.

Plain frozen dataclasses and the TensorType table, shared by the parser (kws.model_file), the
operator checks (kws.model_ops) and the exporter's questions (kws.tflite_ops); and the int8
input/output contract of every kws model (:data:`INPUT_QUANT`, :data:`OUTPUT_QUANT`), which
the quantizer, the runtime and the exporter check.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

TENSOR_TYPES: dict[int, tuple[str, int]] = {
    0: ("float32", 4), 1: ("float16", 2), 2: ("int32", 4), 3: ("uint8", 1), 4: ("int64", 8),
    5: ("string", 1), 6: ("bool", 1), 7: ("int16", 2), 9: ("int8", 1), 10: ("float64", 8),
    12: ("uint64", 8), 15: ("uint32", 4), 16: ("uint16", 2), 17: ("int4", 1),
}
"""TensorType code -> (numpy-style name, bytes per element)."""
INT8, INT32 = 9, 2

INPUT_QUANT: tuple[float, int] = (1.0, 0)
"""(scale, zero point) of a kws model's int8 input: the identity, so the front end's int8
codes go into the model unchanged (on the laptop and on the board)."""
OUTPUT_QUANT: tuple[float, int] = (1.0 / 256, -128)
"""(scale, zero point) of a kws model's int8 output, TFLite's int8 softmax: probability =
(score + 128) / 256, the uint8 score the detector reads is score + 128."""


class Refused(Exception):
    """A check of kws.model_file or kws.model_ops failed; the message is the reason
    (kws.model_file.parse_tflite turns it into a ModelError naming the file)."""


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One tensor of the subgraph.

    shape: dimensions (batch first, NHWC for images); dtype: e.g. "int8"; buffer: index into
    the model's buffers (0 = no data); scale / zero_point: per-tensor (or per-channel) affine
    quantization, real = scale * (q - zero_point); empty when not quantized; data: the
    constant's bytes (b"" for activations).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    type_code: int
    buffer: int
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    quantized_dimension: int = 0
    data: bytes = b""

    @property
    def size(self) -> int:
        """Number of elements (product of the shape; 1 for a scalar)."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's elements."""
        return self.size * TENSOR_TYPES[self.type_code][1]


@dataclasses.dataclass(frozen=True)
class Operator:
    """One operator: its BuiltinOperator code and name, tensor indices (-1 = absent input),
    its builtin options as a dict of the schema's field names (``{}`` when none), the name of
    their table in the schema's BuiltinOptions union ("NONE" when none) and, for pooling
    operators, the filter size (height, width)."""

    code: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any]
    pool_filter: tuple[int, int] | None
    options_type: str = "NONE"


@dataclasses.dataclass(frozen=True)
class TfliteModel:
    """A verified .tflite (its one subgraph)."""

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

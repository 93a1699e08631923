"""Flash and RAM of the int8 model on the board: what the bytes of the .tflite are, and the
smallest TFLite Micro tensor arena.

Run: python benchmarks/bench_model_size.py [MODEL.tflite ...]   (default: the shipped model)

For each model: the full file (with kws metadata, what the laptop and the exporter read) and
the device copy (kws.quantize.strip_for_device, what the board stores), the device copy's
bytes by kind (int8 weights, int32 biases, quantization scales and zero points, tensor names,
metadata, the rest = flatbuffer tables, shapes, operators and alignment padding), the
parameter count and the tensor arena TFLite Micro's interpreter needs (binary search).
Budgets of issue 5 for DS-CNN-S: device copy <= 32 KB, arena <= 24 KB. For scale: the MLPerf
Tiny reference int8 DS-CNN-S is 53,936 bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kws.quantize import strip_for_device  # noqa: E402
from kws.runtime import DEFAULT_MODEL, read_metadata, smallest_arena_size  # noqa: E402

DEVICE_BUDGET = 32 * 1024
ARENA_BUDGET = 24 * 1024
MLPERF_REFERENCE_BYTES = 53936


def breakdown(tflite: bytes) -> dict[str, int]:
    """Bytes of a .tflite by kind (see the module docstring); the kinds add up to the file."""
    from ai_edge_litert import schema_py_generated as fb

    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(tflite, 0))
    parts = {"int8 weights": 0, "int32 biases": 0, "other constants": 0,
             "quantization scales": 0, "quantization zero points": 0, "tensor names": 0,
             "metadata": 0}
    for entry in model.metadata or []:
        data = model.buffers[entry.buffer].data
        parts["metadata"] += 0 if data is None else len(data)
    for sub in model.subgraphs:
        for tensor in sub.tensors:
            parts["tensor names"] += len(tensor.name or b"")
            q = tensor.quantization
            if q is not None:
                parts["quantization scales"] += 0 if q.scale is None else 4 * len(q.scale)
                parts["quantization zero points"] += (0 if q.zeroPoint is None
                                                      else 8 * len(q.zeroPoint))
            data = model.buffers[tensor.buffer].data
            if data is None:
                continue
            kind = {9: "int8 weights", 2: "int32 biases"}.get(tensor.type, "other constants")
            parts[kind] += len(data)
    parts["flatbuffer structure + padding"] = len(tflite) - sum(parts.values())
    return parts


def parameters(tflite: bytes) -> int:
    """Elements of the constant tensors (weights and biases)."""
    from ai_edge_litert import schema_py_generated as fb

    model = fb.Model.GetRootAs(tflite, 0)
    sub = model.Subgraphs(0)
    total = 0
    for i in range(sub.TensorsLength()):
        tensor = sub.Tensors(i)
        if model.Buffers(tensor.Buffer()).DataLength():
            total += int(np.prod(tensor.ShapeAsNumpy()))
    return total


def report(path: Path) -> bool:
    """Print the figures of one model; True if a DS-CNN-S model fits both budgets."""
    full = path.read_bytes()
    meta = read_metadata(full)
    device = strip_for_device(full)
    arena = smallest_arena_size(device)
    print(f"{path} ({meta['model_name']}), {parameters(full)} parameters")
    print(f"  full .tflite (kws metadata):   {len(full):7,d} bytes")
    print(f"  device copy (TFLite Micro):    {len(device):7,d} bytes"
          f"   (budget {DEVICE_BUDGET:,d}; MLPerf reference {MLPERF_REFERENCE_BYTES:,d})")
    full_parts, device_parts = breakdown(full), breakdown(device)
    print(f"  {'':34s}{'full':>8s}{'device':>8s}")
    for kind in full_parts:
        print(f"    {kind:32s}{full_parts[kind]:8,d}{device_parts[kind]:8,d}")
    print(f"  TFLite Micro tensor arena:     {arena:7,d} bytes   (budget {ARENA_BUDGET:,d})")
    fits = len(device) <= DEVICE_BUDGET and arena <= ARENA_BUDGET
    if meta["model_name"] == "ds_cnn_s":
        print(f"  budgets: {'met' if fits else 'NOT met'}")
    return fits or meta["model_name"] != "ds_cnn_s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, default=[DEFAULT_MODEL],
                        help="int8 .tflite files with kws metadata (default: the shipped one)")
    args = parser.parse_args(argv)
    ok = all([report(path) for path in args.models])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Quantization helpers without TensorFlow: the committed calibration list follows its rule,
written flatbuffers keep weights 16-byte aligned, the device copy drops only what the board
never reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kws.errors import DataError
from kws.model_edit import BUFFER_ALIGNMENT, add_metadata, strip_for_device
from kws.quantize import (
    CALIBRATION_COUNT,
    CALIBRATION_LIST,
    make_calibration_list,
    read_calibration_list,
    representative_rows,
    write_calibration_list,
)
from kws.runtime import DEFAULT_MODEL, read_metadata


def test_committed_calibration_list_follows_its_rule(mini_dir: Path, tmp_path: Path) -> None:
    committed = read_calibration_list(CALIBRATION_LIST)
    assert committed == make_calibration_list(mini_dir)
    assert len(committed) == len(set(committed)) == CALIBRATION_COUNT
    held_out = set()
    for name in ("validation_list.txt", "testing_list.txt"):
        held_out |= set((mini_dir / name).read_text().split())
    assert not set(committed) & held_out
    assert all((mini_dir / rel).is_file() for rel in committed)
    write_calibration_list(mini_dir, tmp_path / "list.txt")
    assert (tmp_path / "list.txt").read_text() == CALIBRATION_LIST.read_text()
    assert make_calibration_list(mini_dir, seed=1) != committed


def test_calibration_list_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(DataError, match="calibration list is empty"):
        read_calibration_list(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="cannot read the calibration list"):
        read_calibration_list(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="no validation_list.txt"):
        make_calibration_list(tmp_path)


def test_range_row_pins_the_input_range() -> None:
    features = np.full((3, 49, 10), 5, dtype=np.int8)
    rows = representative_rows(features)
    assert len(rows) == 4 and all(r.shape == (1, 49, 10, 1) for r in rows)
    assert rows[0].min() == -128 and rows[0].max() == 127
    assert all(r.dtype == np.float32 for r in rows)
    assert (np.count_nonzero(rows[0] != rows[1])) == 2  # a real clip with two cells changed


def _buffer_starts(tflite: bytes) -> list[int]:
    from ai_edge_litert import schema_py_generated as fb

    model = fb.Model.GetRootAs(tflite, 0)
    starts = []
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        field = buf._tab.Offset(4)  # Buffer.data
        if field and buf.DataLength():
            starts.append(buf._tab.Vector(field))
    return starts


def test_written_models_keep_weights_aligned() -> None:
    full = DEFAULT_MODEL.read_bytes()
    for data in (full, strip_for_device(full), add_metadata(full, read_metadata(full))):
        starts = _buffer_starts(data)
        assert len(starts) > 10
        assert all(start % BUFFER_ALIGNMENT == 0 for start in starts)
        assert len(data) % BUFFER_ALIGNMENT == 0


def test_device_copy_keeps_the_graph_and_weights() -> None:
    from ai_edge_litert import schema_py_generated as fb

    full = DEFAULT_MODEL.read_bytes()
    a = fb.ModelT.InitFromObj(fb.Model.GetRootAs(full, 0))
    b = fb.ModelT.InitFromObj(fb.Model.GetRootAs(strip_for_device(full), 0))
    sa, sb = a.subgraphs[0], b.subgraphs[0]
    assert [op.opcodeIndex for op in sa.operators] == [op.opcodeIndex for op in sb.operators]
    assert list(sa.inputs) == list(sb.inputs) and list(sa.outputs) == list(sb.outputs)
    for ta, tb in zip(sa.tensors, sb.tensors, strict=True):
        assert list(ta.shape) == list(tb.shape) and ta.type == tb.type
        assert tb.name is None
        da, db = a.buffers[ta.buffer].data, b.buffers[tb.buffer].data
        assert (da is None) == (db is None)
        if da is not None:
            np.testing.assert_array_equal(da, db)
        if tb.quantization is not None and tb.quantization.scale is not None:
            np.testing.assert_array_equal(ta.quantization.scale, tb.quantization.scale)
            zero, original = (np.asarray(tb.quantization.zeroPoint),
                              np.asarray(ta.quantization.zeroPoint))
            # Unchanged, or all-zero per-channel zero points reduced to one 0.
            assert np.array_equal(zero, original) or (list(zero) == [0] and not original.any())
    assert b.signatureDefs is None and b.description is None and b.metadata is None


@pytest.mark.parametrize("scale, zero_point", [(1 / 128, -128), (1 / 256, 0)])
def test_softmax_output_is_held_to_the_one_output_contract(scale: float,
                                                           zero_point: int) -> None:
    """kws.model_ops checks SOFTMAX's int8 output against kws.model_types.OUTPUT_QUANT, the
    contract the quantizer asserts: the shipped model passes, any other scale or zero point
    is refused with the contract in the message."""
    import dataclasses

    from kws.model_file import parse_tflite
    from kws.model_ops import check_operator
    from kws.model_types import OUTPUT_QUANT, Refused

    model = parse_tflite(DEFAULT_MODEL.read_bytes())
    i, op = next((i, op) for i, op in enumerate(model.operators) if op.name == "SOFTMAX")
    tensors = list(model.tensors)
    out = tensors[op.outputs[0]]
    assert (out.scale[0], out.zero_point[0]) == OUTPUT_QUANT
    check_operator(i, op, tuple(tensors))
    tensors[op.outputs[0]] = dataclasses.replace(out, scale=(scale,), zero_point=(zero_point,))
    with pytest.raises(Refused, match=f"scale {OUTPUT_QUANT[0]:g} .* zero point "
                                      f"{OUTPUT_QUANT[1]}"):
        check_operator(i, op, tuple(tensors))

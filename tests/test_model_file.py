"""kws.model_file, kws.metadata and kws.micro on hostile models (issue 13): every case the
issue lists is refused with one line naming the file, before native code runs it."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kws.errors import ModelError
from kws.micro import MicroModel, smallest_arena_size
from kws.model_edit import add_metadata, remove_metadata, strip_for_device
from kws.model_file import content_hash, parse_tflite
from kws.runtime import DEFAULT_MODEL, KwsModel, read_metadata

sys.path.insert(0, str(Path(__file__).parent))
from model_mutants import _pack, _schema  # noqa: E402


@pytest.fixture(scope="module")
def base() -> bytes:
    return DEFAULT_MODEL.read_bytes()


def _edit(data: bytes, change: Any) -> bytes:
    """A copy of the model with ``change(ModelT)`` applied (content hash dropped)."""
    fb = _schema()
    m = fb.ModelT.InitFromPackedBuf(data, 0)
    for t in m.subgraphs[0].tensors:
        t.shape = [int(v) for v in t.shape]
    for op in m.subgraphs[0].operators:
        op.inputs, op.outputs = [int(v) for v in op.inputs], [int(v) for v in op.outputs]
    change(m)
    return _pack(m)


def _refused(data: bytes, match: str) -> str:
    with pytest.raises(ModelError, match=match) as info:
        KwsModel(data)
    message = str(info.value)
    assert "\n" not in message and message.startswith("model: ")
    return message


def test_output_index_past_the_tensor_count_is_refused(base: bytes) -> None:
    def change(m: Any) -> None:
        m.subgraphs[0].operators[0].outputs[0] = len(m.subgraphs[0].tensors) + 3
    _refused(_edit(base, change), "operator 0 writes tensor 38 of 35")


def test_depth_multiplier_that_disagrees_with_the_channels_is_refused(base: bytes) -> None:
    """LiteRT ignores it and runs; TFLite Micro trusts it and crashes."""
    def change(m: Any) -> None:
        m.subgraphs[0].operators[1].builtinOptions.depthMultiplier = 1000
    _refused(_edit(base, change), "depth_multiplier 1000 with 64 input and 64 output")


def test_shapes_that_do_not_follow_from_the_graph_are_refused(base: bytes) -> None:
    def change(m: Any) -> None:
        t = m.subgraphs[0].tensors[m.subgraphs[0].operators[0].outputs[0]]
        t.shape = [1, 25, 6, 64]
    _refused(_edit(base, change), r"operator 0 \(CONV_2D\): output shape \(1, 25, 6, 64\)")


def test_a_vector_longer_than_the_file_is_refused_without_walking_it(base: bytes) -> None:
    """A tensors vector that claims 2**30 entries: refused at once (the object API would loop
    for hours)."""
    fb = _schema()
    model = fb.Model.GetRootAs(base, 0)
    sub = model.Subgraphs(0)
    o = sub._tab.Offset(4)  # SubGraph.tensors
    start = sub._tab.Vector(o) - 4  # the vector's length field
    hostile = bytearray(base)
    hostile[start:start + 4] = (1 << 30).to_bytes(4, "little")
    began = time.perf_counter()
    _refused(bytes(hostile), "1073741824 tensors")
    assert time.perf_counter() - began < 5


def test_unsupported_and_custom_operators_are_refused(base: bytes) -> None:
    def to_mean(m: Any) -> None:
        m.operatorCodes[3].builtinCode = m.operatorCodes[3].deprecatedBuiltinCode = 40
    _refused(_edit(base, to_mean), "operator 11 is MEAN, not one of the operators")

    def to_custom(m: Any) -> None:
        m.operatorCodes[3].builtinCode = m.operatorCodes[3].deprecatedBuiltinCode = 32
        m.operatorCodes[3].customCode = "Evil"
    _refused(_edit(base, to_custom), "custom operator 'Evil'")


@pytest.mark.parametrize("edit, match", [
    ({"model_name": "ds_cnn_s\nint kws_injected_symbol = 42; //"}, "model_name .* is not a name"),
    ({"model_name": "x */ y"}, "is not a name"),
    ({"labels": "yes"}, "labels must be a list"),
    ({"frontend_fft": 1 << 24}, "frontend.fft_size"),
    ({"frontend_sample_rate_hz": 1}, r"frontend.sample_rate_hz=1 (is outside|must)"),
    ({"detector_max_results": 10 ** 8}, r"detector.max_results=100000000 (is outside|must)"),
    ({"content_sha256": "0" * 64}, "the weights differ from the content hash"),
    ({"extra": "x" * 70_000}, "larger than the 65536-byte limit"),
])
def test_hostile_metadata_is_refused(base: bytes, edit: dict[str, Any], match: str) -> None:
    meta = read_metadata(base)
    for key, value in edit.items():
        if key.startswith("frontend_") or key.startswith("detector_"):
            section, field = key.split("_", 1)
            field = "fft_size" if field == "fft" else field
            meta[section] = {**meta[section], field: value}
        else:
            meta[key] = value
    stripped = remove_metadata(base)
    data = add_metadata(stripped, meta)
    if "content_sha256" in edit:  # add_metadata records the true hash; write the false one
        data = _raw_metadata(stripped, json.dumps(meta).encode())
    began = time.perf_counter()
    _refused(data, match)
    assert time.perf_counter() - began < 5  # no 29-s, 6-GB front end first


def _raw_metadata(stripped: bytes, payload: bytes) -> bytes:
    fb = _schema()
    m = fb.ModelT.InitFromPackedBuf(stripped, 0)
    buffer = fb.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    m.buffers.append(buffer)
    entry = fb.MetadataT()
    entry.name, entry.buffer = "kws_metadata", len(m.buffers) - 1
    m.metadata = [*(m.metadata or []), entry]
    return _pack(m)


def test_deeply_nested_metadata_is_refused(base: bytes) -> None:
    raw = json.dumps(read_metadata(base))[:-1] + ', "x": ' + "[" * 50_000 + "]" * 50_000 + "}"
    _refused(_raw_metadata(remove_metadata(base), raw.encode()),
             "larger than the 65536-byte limit|too many lists")
    raw = json.dumps(read_metadata(base))[:-1] + ', "x": ' + "[" * 20 + "]" * 20 + "}"
    _refused(_raw_metadata(remove_metadata(base), raw.encode()), "nested deeper than 8")


def test_a_flipped_weight_byte_is_detected_by_the_content_hash(base: bytes) -> None:
    model = parse_tflite(base)
    weights = next(t for t in model.tensors if t.data and t.dtype == "int8")
    at = base.index(weights.data)
    flipped = bytearray(base)
    flipped[at + 7] ^= 0x01
    _refused(bytes(flipped), "the weights differ from the content hash")


def test_the_device_copy_and_a_restamped_model_hash_alike(base: bytes) -> None:
    digest = read_metadata(base)["content_sha256"]
    assert content_hash(parse_tflite(strip_for_device(base))) == digest
    meta = read_metadata(base)
    restamped = add_metadata(remove_metadata(base), {**meta, "model_name": "renamed"})
    assert read_metadata(restamped)["content_sha256"] == digest


def test_tflite_micro_runs_in_a_child_and_its_death_is_one_line(base: bytes) -> None:
    device = strip_for_device(base)
    arena = smallest_arena_size(device)
    features = np.zeros((2, 49, 10), dtype=np.int8)
    with MicroModel(device, arena) as micro:
        assert micro.predict(features).shape == (2, 12)
        os.kill(micro._child.proc.pid, signal.SIGKILL)
        with pytest.raises(ModelError, match=r"TFLite Micro crashed on the model \(SIGKILL\)"):
            micro.predict(features)


def test_a_hung_tflite_micro_is_stopped(base: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    import kws.micro

    device = strip_for_device(base)
    micro = MicroModel(device, smallest_arena_size(device))
    os.kill(micro._child.proc.pid, signal.SIGSTOP)
    monkeypatch.setattr(kws.micro, "START_TIMEOUT_S", 1.0)
    monkeypatch.setattr(kws.micro, "PER_CLIP_TIMEOUT_S", 0.0)
    with pytest.raises(ModelError, match="did not answer within 1 s"):
        micro.predict(np.zeros((1, 49, 10), dtype=np.int8))
    assert micro._child.proc.poll() is not None  # killed, not left behind
    micro.close()


def test_the_verifier_accepts_what_kws_quantize_writes(base: bytes) -> None:
    model = parse_tflite(base)
    assert [op.name for op in model.operators][:2] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert len(model.tensors) == 35 and model.num_subgraphs == 1
    parse_tflite(strip_for_device(base))


def test_evaluate_refuses_a_corrupt_device_copy_beside_a_good_model(base: bytes, mini_dir: Path,
                                                                    tmp_path: Path) -> None:
    """Issue 13: ``kws evaluate`` segfaulted on a corrupt model_device.tflite beside a good
    model; now the copy is verified and compared with the model's content hash."""
    from kws.cli import main

    sys.path.insert(0, str(Path(__file__).parent))
    from speech_commands_fakes import make_dataset

    from kws.labels import LABELS

    data = tmp_path / "data"
    make_dataset(data, mini_dir, {w: 2 for w in LABELS if not w.startswith("_")})
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.tflite").write_bytes(base)
    device = bytearray(strip_for_device(base))
    weights = next(t for t in parse_tflite(bytes(device)).tensors if t.data and t.dtype == "int8")
    at = bytes(device).index(weights.data)
    device[at + 3] ^= 0x40
    (run / "model_device.tflite").write_bytes(bytes(device))
    code = main(["evaluate", str(run / "model.tflite"), "--data", str(data)])
    assert code == 2
    (run / "model_device.tflite").write_bytes(b"TFL3" * 8)
    assert main(["evaluate", str(run / "model.tflite"), "--data", str(data)]) == 2
    assert not (run / "evaluation_test.json").exists()

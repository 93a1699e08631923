"""Edit a .tflite flatbuffer without TensorFlow: the kws metadata entry and the device copy.

    model.tflite --add_metadata / remove_metadata--> the same weights, other metadata
    model.tflite --strip_for_device--> model_device.tflite (what TFLite Micro reads, no more)

Uses the flatbuffers object API of the TFLite schema shipped with ai-edge-litert
(:func:`kws.model_file.schema`), so ``kws quantize`` (TensorFlow side), ``kws tune-detector``,
``kws evaluate`` and the exporter (no TensorFlow) all edit models through this one module.
Every written flatbuffer keeps its weight buffers aligned to :data:`BUFFER_ALIGNMENT` bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from kws.metadata import CONTENT_HASH_KEY, METADATA_NAME
from kws.model_file import FILE_IDENTIFIER, content_hash, parse_tflite, schema
from kws.model_ops import BIAS_OPS

__all__ = ["BUFFER_ALIGNMENT", "add_metadata", "remove_metadata", "strip_for_device"]

BUFFER_ALIGNMENT = 16
"""Byte alignment of every weight buffer in the written flatbuffers (TFLite Micro reads
int32 biases in place; the converter aligns to 16 as well)."""


def _unpack(tflite: bytes) -> Any:
    fb = schema()
    return fb.ModelT.InitFromObj(fb.Model.GetRootAs(tflite, 0))


def _pack(model: Any) -> bytes:
    """Serialize a ModelT with every buffer's data aligned to BUFFER_ALIGNMENT bytes."""
    import flatbuffers

    fb = schema()

    class AlignedBufferT(fb.BufferT):  # type: ignore[name-defined,misc]
        def Pack(self, builder: Any) -> int:  # noqa: N802 (flatbuffers naming)
            data = None
            if self.data is not None:
                raw = np.asarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
                builder.head = builder.head - len(raw)
                builder.Bytes[builder.head:builder.head + len(raw)] = raw
                data = builder.EndVector()
            fb.BufferStart(builder)
            if data is not None:
                fb.BufferAddData(builder, data)
            fb.BufferAddOffset(builder, self.offset)
            fb.BufferAddSize(builder, self.size)
            return fb.BufferEnd(builder)

    aligned = []
    for buf in model.buffers or []:
        new = AlignedBufferT()
        new.data, new.offset, new.size = buf.data, buf.offset, buf.size
        aligned.append(new)
    model.buffers = aligned
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def add_metadata(tflite: bytes, metadata: dict[str, Any], name: str = METADATA_NAME) -> bytes:
    """A copy of ``tflite`` with ``metadata`` (JSON, UTF-8) as the metadata entry ``name``
    (replacing an entry of that name). The kws entry also gets ``content_sha256``, the
    content hash of the weights (kws.model_file.content_hash), which readers check."""
    fb = schema()
    if name == METADATA_NAME:  # record what the weights were (kws.model_file.content_hash)
        metadata = {**metadata, CONTENT_HASH_KEY: content_hash(parse_tflite(tflite))}
    model = _unpack(tflite)
    payload = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
    entries = [m for m in (model.metadata or []) if m.name not in (name, name.encode())]
    buffer = fb.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = fb.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    model.metadata = [*entries, entry]
    return _pack(model)


def remove_metadata(tflite: bytes, name: str = METADATA_NAME) -> bytes:
    """A copy of ``tflite`` without the metadata entry ``name`` (its buffer left empty)."""
    model = _unpack(tflite)
    for entry in model.metadata or []:
        if entry.name in (name, name.encode()):
            model.buffers[entry.buffer].data = None
    model.metadata = [m for m in (model.metadata or []) if m.name not in (name, name.encode())]
    return _pack(model)


def strip_for_device(tflite: bytes, keep_metadata: bool = False) -> bytes:
    """The TFLite Micro copy: the same graph and weights without what the board never reads.

    Removed: tensor and subgraph names, signature defs, the description, the converter's
    metadata entries (and ours unless ``keep_metadata``); per-channel weight zero points
    (all 0) are kept as a single value, which TFLite Micro expands (micro_allocator.cc: "zero
    point arrays for weights can be reduced to a single value"); the quantization of int32
    biases (the third input of :data:`kws.model_ops.BIAS_OPS`), which TFLite Micro's int8
    kernels never read (they derive the multipliers from the input, filter and output
    scales). LiteRT refuses such a file (it wants as many zero points as scales): run
    model.tflite on the laptop, model_device.tflite on the board.
    """
    fb = schema()
    model = _unpack(tflite)
    model.description = None
    model.signatureDefs = None
    model.metadataBuffer = None
    keep = [m for m in (model.metadata or [])
            if keep_metadata and m.name in (METADATA_NAME, METADATA_NAME.encode())]
    opnames = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    for sub in model.subgraphs:
        sub.name = None
        bias_tensors = set()
        for op in sub.operators:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            if opnames.get(builtin) in BIAS_OPS and len(op.inputs) > 2 and op.inputs[2] >= 0:
                bias_tensors.add(int(op.inputs[2]))
        for index, tensor in enumerate(sub.tensors):
            tensor.name = None
            q = tensor.quantization
            if q is None:
                continue
            if index in bias_tensors:
                tensor.quantization = None
                continue
            q.min = q.max = None
            zero = None if q.zeroPoint is None else np.asarray(q.zeroPoint)
            if zero is not None and zero.size > 1 and not zero.any():
                q.zeroPoint = [0]
    # Keep only buffers that tensors (or kept metadata) use; buffer 0 stays the empty one.
    used = {0} | {t.buffer for sub in model.subgraphs for t in sub.tensors} | \
        {m.buffer for m in keep}
    remap = {old: new for new, old in enumerate(sorted(used))}
    model.buffers = [model.buffers[old] for old in sorted(used)]
    for sub in model.subgraphs:
        for tensor in sub.tensors:
            tensor.buffer = remap[tensor.buffer]
    for entry in keep:
        entry.buffer = remap[entry.buffer]
    model.metadata = keep or None
    return _pack(model)


MANIFEST_NAME = "manifest.json"
"""The run folder's record of its files (written by kws quantize)."""


def publish_metadata(source: Path, meta: dict[str, Any], target: Path | None = None,
                     manifest_section: tuple[str, Any] | None = None) -> bytes:
    """Write ``source``'s model with ``meta`` as its kws metadata into ``target`` (default:
    ``source``; the weights do not change). A ``manifest.json`` beside ``target`` that lists it
    gets the new size and sha256, and ``manifest_section`` (key, value) when given; the model
    and that manifest are published as one set (kws.publish). Callers read ``meta`` after
    kws.publish.recover_published_set of the folder. Returns the model bytes written.
    """
    from kws.publish import publish_files

    target = Path(source) if target is None else Path(target)
    payload = add_metadata(remove_metadata(Path(source).read_bytes()), meta)
    written = {target.name: payload}
    manifest_path = target.parent / MANIFEST_NAME
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            manifest = None
        if isinstance(manifest, dict) and target.name in manifest.get("files", {}):
            manifest["files"][target.name] = {"bytes": len(payload),
                                              "sha256": hashlib.sha256(payload).hexdigest()}
            if manifest_section is not None:
                manifest[manifest_section[0]] = manifest_section[1]
            written[manifest_path.name] = (json.dumps(manifest, indent=2) + "\n").encode()
    target.parent.mkdir(parents=True, exist_ok=True)
    publish_files(target.parent, written)
    return payload

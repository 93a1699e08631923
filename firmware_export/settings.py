"""What the board needs to know about a model: the device plan and ``kws_model_settings.h``.

    model metadata (front end, labels, detector defaults, board_measurement) + device .tflite
      -> operators (TFLite Micro op resolver), multiply-accumulates per inference
      -> inference time on the board: measured instructions x cycles per instruction (the
         metadata's board_measurement, kws measure-board), else estimated from MACs
      -> inference hop (whole 20 ms frames) -> detector settings that suit that hop
      -> tensor arena (the M4 measurement + 10%, else the host's + 25%)
      -> kws_model_settings.h (C and C++) and kws_model_ops.h (C++, TFLite Micro)

The timing model (inference hop) and the detector the board runs at that hop are
:mod:`kws.board`'s (``kws quantize`` and ``kws tune-detector`` need them too); their names
stay importable from here.

:func:`parse_settings` reads a generated header back (tests compare it with the metadata).
"""

from __future__ import annotations

import dataclasses
import math
import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from firmware_export import ExportError
from kws.board import (  # noqa: F401 - some only re-exported (the exporter's callers)
    CYCLES_PER_INSTRUCTION,
    FRONTEND_FRAME_MS,
    MAX_AVERAGE_SPAN_MS,
    MAX_BUSY,
    NANO33BLE_MHZ,
    REFERENCE_MACS,
    REFERENCE_MHZ,
    REFERENCE_MS,
    SAFETY_MARGIN,
    BoardTiming,
    board_detector_config,
    board_hop_frames,
    board_timing,
    choose_hop_frames,
    device_detector_config,
    estimate_inference_ms,
    hop_for_busy,
    plan_timing,
    results_in_window,
)
from kws.config import DetectorConfig, FrontendConfig
from kws.detector import DetectorTables, build_detector_tables
from kws.errors import ConfigError, ModelError
from kws.model_types import INPUT_QUANT, OUTPUT_QUANT
from kws.tflite_ops import TfliteModel, io_tensors, resolver_ops

SETTINGS_VERSION = 1
"""Layout version of kws_model_settings.h (KWS_SETTINGS_VERSION)."""

ARENA_MARGIN = 0.25
"""Without an M4 measurement: tensor arena = the host's smallest arena x (1 + 25%), rounded up
to ARENA_ROUND bytes. That measurement uses TFLite Micro's reference kernels on the 64-bit
host; on the board the CMSIS-NN kernels ask for scratch buffers (im2col, depthwise) that the
reference kernels do not, and another TFLite Micro version can change the bookkeeping."""
ARENA_MARGIN_MEASURED = 0.10
"""With the metadata's board_measurement: tensor arena = the smallest arena that allocated and
ran on the emulated Cortex-M4 (32-bit, CMSIS-NN: the board's kernels and scratch buffers) x
(1 + 10%), rounded up to ARENA_ROUND bytes. Left to cover: the Arduino IDE defines ARDUINO but
not TF_LITE_STATIC_MEMORY, so the library uses its larger TfLiteTensor (about 200 B more,
../shared/third_party/README.md), and a user's Arduino_TensorFlowLite of another version."""
ARENA_ROUND = 1024
PDM_BLOCK_SAMPLES = 256
"""Samples per PDM callback on the Nano 33 BLE (512-byte blocks, 16 ms at 16 kHz)."""
PDM_BUFFER_BYTES = 2 * PDM_BLOCK_SAMPLES
"""PDM.setBufferSize: bytes of one block (int16 samples)."""
DETECTOR_HEADER = Path(__file__).resolve().parent / "c" / "kws_detector.h"
"""The C detector's header: the one place its buffer capacities are written."""

_C_INT_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)[ \t]+"
                           r"\(?[ \t]*(-?\d+)[ \t]*\)?[ \t]*(?:/\*.*?\*/[ \t]*)?$", re.M)


def c_int_defines(text: str) -> dict[str, int]:
    """Every ``#define NAME value`` of C source ``text`` whose value is a decimal integer
    (``64``, ``(-1)``, optionally followed by a ``/* comment */``): {NAME: value}. Other
    defines (expressions, strings, include guards without a value) are left out."""
    return {name: int(value) for name, value in _C_INT_DEFINE.findall(text)}


def _detector_capacity(name: str) -> int:
    try:
        defines = c_int_defines(DETECTOR_HEADER.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExportError(f"cannot read {DETECTOR_HEADER}: {exc.strerror}") from None
    if name not in defines:
        raise ExportError(f"{DETECTOR_HEADER} defines no integer {name}")
    return defines[name]


DETECTOR_MAX_RESULTS = _detector_capacity("KWS_DETECTOR_MAX_RESULTS")
"""KWS_DETECTOR_MAX_RESULTS of kws_detector.h (the C ring's capacity), read from the header."""
DETECTOR_MAX_LABELS = _detector_capacity("KWS_DETECTOR_MAX_LABELS")
"""KWS_DETECTOR_MAX_LABELS of kws_detector.h (scores per result), read from the header."""


@dataclasses.dataclass(frozen=True)
class DevicePlan:
    """Everything the exporter decides for the board (written into kws_model_settings.h)."""

    model_name: str
    model_bytes: int
    """Size of the device .tflite (the C array), bytes."""
    frontend: FrontendConfig
    labels: tuple[str, ...]
    metadata_detector: DetectorConfig
    """The detector defaults in the model's metadata (what the laptop runs)."""
    detector: DetectorConfig
    """The detector the board runs: the metadata's, with hop, window and min count adapted."""
    tables: DetectorTables
    ops: tuple[tuple[str, str], ...]
    """(operator, MicroMutableOpResolver method) for each distinct operator, in order."""
    macs: int
    cpu_mhz: float
    inference_ms: float
    """Inference time at cpu_mhz (ms): measured instructions x cycles per instruction, or the
    MAC estimate (``timing.measured`` says which)."""
    frontend_frame_ms: float
    """Front-end time per frame at cpu_mhz (ms)."""
    hop_frames: int
    arena_measured: int
    """Smallest arena with which TFLite Micro allocates and runs the device model, bytes: on
    the emulated M4 with CMSIS-NN (board_measurement) or on the host (reference kernels)."""
    arena_size: int
    """The arena the board allocates: arena_measured plus arena_margin, bytes."""
    audio_ring_samples: int
    """int16 samples of the sketch's audio ring (a whole number of PDM blocks)."""
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    format_version: int
    timing: BoardTiming | None = None
    """How inference_ms and the hop were obtained (measured or estimated, and why)."""
    arena_margin: float = ARENA_MARGIN
    """The margin applied to arena_measured (ARENA_MARGIN_MEASURED with an M4 measurement)."""
    arena_host: int | None = None
    """The host's smallest arena (TFLite Micro, reference kernels, 64-bit), bytes."""

    @property
    def measured(self) -> bool:
        """True when the timing and the arena come from the metadata's board_measurement."""
        return self.timing is not None and self.timing.measured

    @property
    def hop_ms(self) -> float:
        """Time between two inferences, ms (hop_frames x stride)."""
        return self.hop_frames * self.frontend.stride_ms

    @property
    def busy_fraction(self) -> float:
        """Estimated share of real time the board spends on inference and front end."""
        work = self.inference_ms + self.hop_frames * self.frontend_frame_ms
        return work / self.hop_ms


def arena_with_margin(measured: int, margin: float = ARENA_MARGIN) -> int:
    """The tensor arena the board allocates for a measured smallest arena (bytes): measured x
    (1 + margin), rounded up to ARENA_ROUND bytes."""
    return math.ceil(measured * (1 + margin) / ARENA_ROUND) * ARENA_ROUND


def audio_ring_samples(hop_ms: float, frontend: FrontendConfig) -> int:
    """Samples of the sketch's audio ring: one hop (which covers one inference, the longest
    stall of the main loop, by the choice of the hop) plus one window plus two PDM blocks,
    rounded up to whole PDM blocks."""
    ms = hop_ms + frontend.window_ms + 2 * PDM_BLOCK_SAMPLES * 1000 / frontend.sample_rate_hz
    samples = ms * frontend.sample_rate_hz / 1000
    return math.ceil(samples / PDM_BLOCK_SAMPLES) * PDM_BLOCK_SAMPLES


def check_io(model: TfliteModel, meta: dict[str, Any], frontend: FrontendConfig,
             labels: Sequence[str], name: str) -> tuple[float, int, float, int]:
    """Check the device model's input and output against its metadata and the board's
    contract; return (input scale, input zero point, output scale, output zero point).

    The board copies the front end's int8 codes straight into the input (identity
    quantization, kws.model_types.INPUT_QUANT) and the detector reads the int8 softmax as
    score + 128 (scale 1/256, zero point -128: OUTPUT_QUANT). Anything else raises ModelError
    naming the value.
    """
    inputs, outputs = io_tensors(model)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{name}: the board needs 1 input and 1 output, the model has "
                         f"{len(inputs)} and {len(outputs)}")
    inp, out = inputs[0], outputs[0]
    want_in = (1, frontend.frames_per_clip, frontend.num_coeffs, 1)
    if inp.dtype != "int8" or tuple(inp.shape) != want_in:
        raise ModelError(f"{name}: input is {inp.dtype} {tuple(inp.shape)}, the board feeds "
                         f"int8 {want_in}")
    if not inp.scale or not inp.zero_point:
        raise ModelError(f"{name}: the input tensor is not quantized")
    if (inp.scale[0], inp.zero_point[0]) != INPUT_QUANT:
        raise ModelError(f"{name}: input quantization scale={inp.scale[0]} zero_point="
                         f"{inp.zero_point[0]}, the board needs the identity {INPUT_QUANT}")
    if out.dtype != "int8" or tuple(out.shape) != (1, len(labels)):
        raise ModelError(f"{name}: output is {out.dtype} {tuple(out.shape)}, expected int8 "
                         f"(1, {len(labels)}) (one score per label)")
    if not out.scale or (out.scale[0], out.zero_point[0]) != OUTPUT_QUANT:
        raise ModelError(f"{name}: output quantization {out.scale[:1]} / {out.zero_point[:1]} "
                         "is not the int8 softmax (scale 1/256, zero point -128) the detector "
                         "reads")
    for key, tensor in (("input", inp), ("output", out)):
        declared = meta.get(key, {})
        if declared.get("scale") != tensor.scale[0] or \
                declared.get("zero_point") != tensor.zero_point[0]:
            raise ModelError(f"{name}: metadata {key} quantization {declared.get('scale')} / "
                             f"{declared.get('zero_point')} differs from the tensor's "
                             f"{tensor.scale[0]} / {tensor.zero_point[0]}")
    return inp.scale[0], inp.zero_point[0], out.scale[0], out.zero_point[0]


def make_plan(meta: dict[str, Any], device: TfliteModel, device_bytes: int,
              arena_measured: int, cpu_mhz: float = NANO33BLE_MHZ,
              name: str = "model") -> DevicePlan:
    """Decide the board settings of a model from its metadata and its device .tflite.

    ``arena_measured``: the host's smallest arena (bytes). When the metadata holds a
    board_measurement made for these weights, the hop comes from its instructions
    (kws.board.plan_timing) and the arena from its M4 arena + ARENA_MARGIN_MEASURED; else the
    MAC estimate and the host arena + ARENA_MARGIN (``plan.timing.reason`` says why)."""
    from kws.config import from_dict

    frontend = from_dict(FrontendConfig, meta["frontend"])
    detector = from_dict(DetectorConfig, meta["detector"])
    labels = tuple(meta["labels"])
    if len(labels) > DETECTOR_MAX_LABELS:
        raise ModelError(f"{name}: {len(labels)} labels exceed the C detector's "
                         f"KWS_DETECTOR_MAX_LABELS={DETECTOR_MAX_LABELS}")
    if detector.max_results > DETECTOR_MAX_RESULTS:
        raise ModelError(f"{name}: detector max_results={detector.max_results} exceeds the C "
                         f"detector's KWS_DETECTOR_MAX_RESULTS={DETECTOR_MAX_RESULTS}")
    io = check_io(device, meta, frontend, labels, name)
    ops = tuple(resolver_ops(device))
    timing = plan_timing(device, frontend, detector.hop_frames, meta, cpu_mhz, name)
    hop = timing.hop_frames
    host_arena = arena_measured
    margin = ARENA_MARGIN
    if timing.measurement is not None:
        arena_measured, margin = timing.measurement.arena_smallest, ARENA_MARGIN_MEASURED
    try:
        device_detector = board_detector_config(meta, hop, frontend)
    except ConfigError as exc:
        raise ModelError(f"{name}: bad metadata: {exc}") from None
    return DevicePlan(
        model_name=str(meta["model_name"]), model_bytes=device_bytes, frontend=frontend,
        labels=labels, metadata_detector=detector, detector=device_detector,
        tables=build_detector_tables(device_detector, labels), ops=ops, macs=timing.macs,
        cpu_mhz=cpu_mhz, inference_ms=timing.inference_ms, frontend_frame_ms=timing.frame_ms,
        hop_frames=hop, arena_measured=arena_measured,
        arena_size=arena_with_margin(arena_measured, margin),
        audio_ring_samples=audio_ring_samples(hop * frontend.stride_ms, frontend),
        input_scale=io[0], input_zero_point=io[1], output_scale=io[2],
        output_zero_point=io[3], format_version=int(meta["format_version"]), timing=timing,
        arena_margin=margin, arena_host=host_arena)


# --------------------------------------------------------------------------------------------
# kws_model_settings.h and kws_model_ops.h
# --------------------------------------------------------------------------------------------

C_LITERAL_CHARS = frozenset(string.ascii_letters + string.digits + " _-.,:;+=!#%&()[]<>|~^@$'")
"""Characters written as they are in a generated C string literal; every other byte of the
UTF-8 text (quotes, backslashes, ``?`` of trigraphs, ``*`` and ``/`` of comments, control
characters, non-ASCII) is written as a three-digit octal escape."""
COMMENT_CHARS = frozenset(string.ascii_letters + string.digits + "_-.+")
"""The only characters of metadata text (a model or file name) a generated comment carries."""
_SIMPLE_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92,
                   '"': 34, "'": 39, "?": 63}


def c_string_literal(text: str, what: str = "text") -> str:
    """``text`` as a C/C++ string literal whose bytes are its UTF-8 encoding.

    Only :data:`C_LITERAL_CHARS` appear raw; everything else becomes ``\\ooo``, so the literal
    holds no quote, backslash-newline, trigraph or comment opener. Raises ExportError for a
    NUL (a C string ends there) or text that is not valid Unicode.
    """
    if not isinstance(text, str):
        raise ExportError(f"{what} {text!r} is not a string")
    if "\0" in text:
        raise ExportError(f"{what} {text!r} holds a NUL character, which a C string cannot hold")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ExportError(f"{what} {text!r} is not valid Unicode text") from None
    return '"' + "".join(chr(b) if chr(b) in C_LITERAL_CHARS else f"\\{b:03o}"
                         for b in data) + '"'


def parse_c_string(literal: str) -> str:
    """The text of a C string literal (``"..."``, simple and octal escapes, UTF-8 bytes), as
    written by :func:`c_string_literal`. Raises ExportError for anything else."""
    if len(literal) < 2 or literal[0] != '"' or literal[-1] != '"':
        raise ExportError(f"{literal[:40]!r} is not a C string literal")
    body, out, i = literal[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            raise ExportError(f"unescaped quote in the C string literal {literal[:40]!r}")
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        octal = re.match(r"[0-7]{1,3}", body[i + 1:i + 4])
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            i += 1 + len(octal.group())
        elif body[i + 1:i + 2] in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[body[i + 1]])
            i += 2
        else:
            raise ExportError(f"unknown escape in the C string literal {literal[:40]!r}")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ExportError(f"the C string literal {literal[:40]!r} is not UTF-8") from None


def comment_text(text: str, limit: int = 64) -> str:
    """Metadata text made safe for a generated comment: every character outside
    :data:`COMMENT_CHARS` becomes ``_``, cut to ``limit`` characters (no ``*/``, newline,
    backslash or trigraph can survive)."""
    return "".join(c if c in COMMENT_CHARS else "_" for c in str(text)[:limit])


def c_identifier(text: str, what: str = "name") -> str:
    """``text`` if it is a plain ASCII C identifier, else ExportError naming it."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text or ""):
        raise ExportError(f"{what} {text!r} is not a C identifier")
    return text


def _c_float(value: float) -> str:
    text = repr(float(value))
    return text if any(c in text for c in ".eE") else text + ".0"


def _c_list(values: Sequence[Any], what: str = "text") -> str:
    """A C initializer list: strings as escaped literals (``what`` names them in errors),
    floats with a decimal point, ints as they are."""
    def one(v: Any) -> str:
        if isinstance(v, str):
            return c_string_literal(v, what)
        return _c_float(v) if isinstance(v, float) else str(int(v))

    return "{" + ", ".join(one(v) for v in values) + "}"


def settings_defines(plan: DevicePlan) -> list[tuple[str, str, str]]:
    """(macro, C value, comment) of every setting, in header order."""
    fe, det, t = plan.frontend, plan.detector, plan.tables
    meta_det = plan.metadata_detector
    return [
        ("KWS_SETTINGS_VERSION", str(SETTINGS_VERSION), "layout of this header"),
        ("KWS_MODEL_FORMAT_VERSION", str(plan.format_version), "kws metadata format version"),
        ("KWS_MODEL_NAME", c_string_literal(plan.model_name, "model name"),
         "model name (metadata)"),
        ("KWS_MODEL_BYTES", str(plan.model_bytes), "device .tflite size, bytes"),
        ("KWS_MODEL_MACS", str(plan.macs), "multiply-accumulates per inference"),
        ("KWS_MODEL_NUM_OPS", str(len(plan.ops)), "distinct operators (op resolver size)"),
        ("KWS_MODEL_OPS", _c_list([op for op, _ in plan.ops], "operator"),
         "the operators, first use first"),
        # front end (metadata); the tables header carries the same numbers as integers
        ("KWS_FE_SAMPLE_RATE_HZ", str(fe.sample_rate_hz), "audio sample rate, Hz"),
        ("KWS_FE_WINDOW_MS", _c_float(fe.window_ms), "analysis window, ms"),
        ("KWS_FE_STRIDE_MS", _c_float(fe.stride_ms), "frame stride, ms"),
        ("KWS_FE_WINDOW_SAMPLES", str(fe.window_samples), "analysis window, samples"),
        ("KWS_FE_STRIDE_SAMPLES", str(fe.stride_samples), "frame stride, samples"),
        ("KWS_FE_FFT_SIZE", str(fe.fft_size), "FFT length"),
        ("KWS_FE_NUM_MEL", str(fe.num_mel), "mel filters"),
        ("KWS_FE_LOWER_HZ", _c_float(fe.lower_hz), "lowest mel edge, Hz"),
        ("KWS_FE_UPPER_HZ", _c_float(fe.upper_hz), "highest mel edge, Hz"),
        ("KWS_FE_NUM_COEFFS", str(fe.num_coeffs), "MFCC coefficients per frame"),
        ("KWS_FE_LOG_FLOOR", _c_float(fe.log_floor), "added before the log"),
        ("KWS_FE_OUTPUT_GAIN", _c_list([float(g) for g in fe.output_gain]),
         "int8 code = coefficient x gain + offset"),
        ("KWS_FE_OUTPUT_OFFSET", _c_list([float(o) for o in fe.output_offset]),
         "per-coefficient offset, codes"),
        ("KWS_FE_CLIP_MS", _c_float(fe.clip_ms), "one classifier input, ms"),
        ("KWS_FE_FRAMES_PER_CLIP", str(fe.frames_per_clip), "frames per classifier input"),
        # model input and output
        ("KWS_INPUT_FRAMES", str(fe.frames_per_clip), "input tensor (1, frames, coeffs, 1)"),
        ("KWS_INPUT_COEFFS", str(fe.num_coeffs), ""),
        ("KWS_INPUT_SCALE", _c_float(plan.input_scale), "identity: the codes go in as they are"),
        ("KWS_INPUT_ZERO_POINT", str(plan.input_zero_point), ""),
        ("KWS_OUTPUT_SCALE", _c_float(plan.output_scale), "probability = (score - zp) x scale"),
        ("KWS_OUTPUT_ZERO_POINT", str(plan.output_zero_point), ""),
        ("KWS_NUM_LABELS", str(len(plan.labels)), "model outputs"),
        ("KWS_LABELS", _c_list(list(plan.labels), "label"), "label of each output, in order"),
        # detector on the board (kws.detector.DetectorTables of the device config)
        ("KWS_HOP_FRAMES", str(plan.hop_frames), "run the model every this many frames"),
        ("KWS_HOP_MS", str(round(plan.hop_ms)), "= KWS_HOP_FRAMES x stride, ms"),
        ("KWS_DET_AVERAGE_WINDOW_MS", str(t.average_window_ms),
         "average the results of this many ms"),
        ("KWS_DET_MIN_COUNT", str(t.min_count), "results needed in the window"),
        ("KWS_DET_THRESHOLD", str(det.threshold), "default threshold, 0..255"),
        ("KWS_DET_THRESHOLDS", _c_list([int(v) for v in t.thresholds]),
         "per label; 256 = never wakes"),
        ("KWS_DET_NUM_WAKE", str(t.wake.size), "labels that can wake the detector"),
        ("KWS_DET_WAKE", _c_list([int(v) for v in t.wake]), "their indices, ascending"),
        ("KWS_DET_SUPPRESSION_MS", str(t.suppression_ms), "silence after a detection, ms"),
        ("KWS_DET_MAX_RESULTS", str(t.max_results), "rows of the detector ring"),
        ("KWS_META_HOP_FRAMES", str(meta_det.hop_frames), "metadata: laptop hop, frames"),
        ("KWS_META_AVERAGE_WINDOW_MS", str(meta_det.average_window_ms),
         "metadata: laptop window, ms"),
        ("KWS_META_MIN_COUNT", str(meta_det.min_count), "metadata: laptop min count"),
        # memory and timing
        ("KWS_TENSOR_ARENA_MEASURED", str(plan.arena_measured),
         "smallest arena TFLite Micro ran with, bytes ("
         + ("Cortex-M4, CMSIS-NN)" if plan.measured else "host, reference kernels)")),
        ("KWS_TENSOR_ARENA_SIZE", str(plan.arena_size),
         f"measured + {plan.arena_margin:.0%}, rounded up to {ARENA_ROUND} bytes"),
        ("KWS_AUDIO_RING_SAMPLES", str(plan.audio_ring_samples),
         "int16 audio ring: one hop + one window + 2 PDM blocks"),
        ("KWS_PDM_BUFFER_BYTES", str(PDM_BUFFER_BYTES), "bytes per PDM block (2 per sample)"),
        ("KWS_CPU_MHZ", str(round(plan.cpu_mhz)), "clock the timing is computed for"),
        ("KWS_EST_INFERENCE_MS", str(math.ceil(plan.inference_ms)),
         "inference time, ms (KWS_TIMING_MEASURED: from measured instructions)"),
        ("KWS_TIMING_MEASURED", "1" if plan.measured else "0",
         "1: instructions measured (kws measure-board); 0: MAC estimate"),
        ("KWS_INFERENCE_INSTRUCTIONS",
         str(plan.timing.instructions if plan.measured and plan.timing else 0),
         "measured instructions per inference (0: none)"),
    ]


def timing_sentence(plan: DevicePlan) -> str:
    """The plan's timing in one sentence: measured (instructions x cycles per instruction) or
    the MAC estimate and why, the hop and the busy share."""
    if plan.timing is not None:
        return plan.timing.describe(reason=False)
    return (f"{plan.macs:,} MACs ~ {plan.inference_ms:.0f} ms per inference at "
            f"{plan.cpu_mhz:g} MHz (scaled from the MLPerf DS-CNN: {REFERENCE_MS} ms at "
            f"{REFERENCE_MHZ} MHz for {REFERENCE_MACS:,} MACs), front end ~"
            f"{plan.frontend_frame_ms:.1f} ms per frame: an inference every "
            f"{plan.hop_frames} frames ({plan.hop_ms:g} ms) keeps the board busy "
            f"~{plan.busy_fraction:.0%} of real time (safety margin {SAFETY_MARGIN}).")


def render_settings(plan: DevicePlan, banner: str) -> str:
    """kws_model_settings.h: every setting as a macro (C and C++, no code)."""
    rows = settings_defines(plan)
    width = max(len(name) for name, _, _ in rows) + 1
    body = []
    for name, value, comment in rows:
        line = f"#define {name:<{width}}{value}"
        if comment and len(line) + len(comment) + 6 <= 100:
            line += f" /* {comment} */"
        elif comment:
            body.append(f"/* {comment} */")
        body.append(line)
    timing = "Timing: " + timing_sentence(plan)
    words = timing.split()
    wrapped, line = [], ""
    for word in words:
        if len(line) + len(word) + 1 > 90:
            wrapped.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    wrapped.append(line)
    note = "".join(f" * {w}\n" for w in wrapped)
    return (f"{banner}\n#ifndef KWS_MODEL_SETTINGS_H\n#define KWS_MODEL_SETTINGS_H\n\n"
            f"/*\n{note} */\n\n" + "\n".join(body) + "\n\n#endif /* KWS_MODEL_SETTINGS_H */\n")


def render_ops_header(plan: DevicePlan, banner: str) -> str:
    """kws_model_ops.h (C++): the TFLite Micro op resolver with exactly the model's operators.

    ``KwsOpResolver`` is ``tflite::MicroMutableOpResolver<N>`` with N the number of distinct
    operators; ``KwsRegisterOps`` adds each one and fails on the first that does not register.
    """
    adds = "\n".join(f"  if (resolver.{c_identifier(method, 'op resolver method')}() != "
                     f"kTfLiteOk) return kTfLiteError;  // {c_identifier(op, 'operator')}"
                     for op, method in plan.ops)
    return f"""{banner}
#ifndef KWS_MODEL_OPS_H
#define KWS_MODEL_OPS_H

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

// The model's {len(plan.ops)} operators, in order of first use.
constexpr int kKwsNumOps = {len(plan.ops)};
using KwsOpResolver = tflite::MicroMutableOpResolver<kKwsNumOps>;

inline TfLiteStatus KwsRegisterOps(KwsOpResolver& resolver) {{
{adds}
  return kTfLiteOk;
}}

#endif  // KWS_MODEL_OPS_H
"""


_DEFINE_RE = re.compile(r"^#define (KWS_\w+) +(.+?)(?: +/\*.*\*/)?$", re.M)


def _parse_value(text: str) -> Any:
    text = text.strip()
    if text.startswith("{"):
        inner = text[1:-1].strip()
        return [] if not inner else [_parse_value(v) for v in _split_list(inner)]
    if text.startswith('"'):
        return parse_c_string(text)
    try:
        return int(text)
    except ValueError:
        return float(text)


def _split_list(inner: str) -> list[str]:
    parts, current, quoted = [], "", False
    for i, ch in enumerate(inner):
        if ch == '"' and (i == 0 or inner[i - 1] != "\\"):
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def parse_settings(text: str) -> dict[str, Any]:
    """The macros of a generated kws_model_settings.h: {name: int | float | str | list}."""
    return {name: _parse_value(value) for name, value in _DEFINE_RE.findall(text)
            if not name.endswith("_H")}


def frontend_macro(field: str) -> str:
    """The settings macro of a FrontendConfig field: ``KWS_FE_`` + its name in capitals
    (every field has one, written by :func:`settings_defines`)."""
    return "KWS_FE_" + field.upper()


def settings_frontend(values: dict[str, Any]) -> FrontendConfig:
    """The FrontendConfig written in a parsed settings header: each field of FrontendConfig
    from its :func:`frontend_macro` (C initializer lists back to tuples)."""
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(FrontendConfig):
        value = values[frontend_macro(field.name)]
        fields[field.name] = tuple(value) if isinstance(value, list) else value
    return FrontendConfig(**fields)


def settings_detector(values: dict[str, Any]) -> DetectorConfig:
    """The board's DetectorConfig as written in a parsed settings header (keywords and
    per-keyword thresholds recovered from the per-label tables)."""
    labels = values["KWS_LABELS"]
    thresholds = values["KWS_DET_THRESHOLDS"]
    wake = values["KWS_DET_WAKE"]
    default = values["KWS_DET_THRESHOLD"]
    return DetectorConfig(
        hop_frames=values["KWS_HOP_FRAMES"],
        average_window_ms=values["KWS_DET_AVERAGE_WINDOW_MS"],
        min_count=values["KWS_DET_MIN_COUNT"], threshold=default,
        keyword_thresholds={labels[i]: thresholds[i] for i in wake if thresholds[i] != default},
        suppression_ms=values["KWS_DET_SUPPRESSION_MS"],
        keywords=tuple(labels[i] for i in wake), max_results=values["KWS_DET_MAX_RESULTS"])


def same_detector(a: DetectorConfig, b: DetectorConfig, labels: Sequence[str]) -> bool:
    """True when two detector configs behave the same on a model with ``labels``: equal hop
    and equal integer tables (an empty keyword list and the list of every keyword are one)."""
    ta, tb = build_detector_tables(a, labels), build_detector_tables(b, labels)
    return (a.hop_frames == b.hop_frames and a.threshold == b.threshold
            and ta.thresholds.tolist() == tb.thresholds.tolist()
            and ta.wake.tolist() == tb.wake.tolist()
            and (ta.average_window_ms, ta.min_count, ta.suppression_ms, ta.max_results)
            == (tb.average_window_ms, tb.min_count, tb.suppression_ms, tb.max_results))

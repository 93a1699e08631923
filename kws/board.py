"""The board's timing model and the detector it runs: how often a model can run on the board.

Used by the exporter (firmware_export.settings writes the result into kws_model_settings.h)
and by the tuners (``kws quantize``, ``kws tune-detector``), which tune a detector at the
board's hop and store it in the metadata. No TensorFlow, no firmware_export.

Two timing models, chosen per model by :func:`plan_timing`:

**Measured** (the metadata holds a ``board_measurement``, written by ``kws measure-board``,
made for these weights). ``kws measure-board`` runs the model with TensorFlow Lite Micro and
the CMSIS-NN kernels on an emulated Cortex-M4F (``qemu-system-arm -M mps2-an386 -icount
shift=0``) and counts the INSTRUCTIONS executed per inference and per front-end frame. The
board needs CYCLES_PER_INSTRUCTION cycles for each of them (derived below), so one inference
takes instructions x CYCLES_PER_INSTRUCTION / clock. The hop is the smallest whole number of
frames h (at least the model's own ``hop_frames``) with

    inference_ms + h x frame_ms <= MAX_BUSY x h x stride_ms          (busy <= 70%)

**Estimated** (no measurement, or one for other weights; the exporter says so). TFLite Micro
with CMSIS-NN runs the MLPerf Tiny DS-CNN (REFERENCE_MACS multiply-accumulates) in
REFERENCE_MS on a REFERENCE_MHZ Cortex-M4F; we scale by MACs and by clock (about 340 ms for the
same model at the Nano 33 BLE's 64 MHz). The board keeps up with real time when one hop of audio
lasts longer than SAFETY_MARGIN x (one inference + hop_frames front-end frames of
FRONTEND_FRAME_MS): busy <= 67%.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from kws.config import DetectorConfig, FrontendConfig
from kws.errors import ConfigError, ExportError, ModelError
from kws.tflite_ops import TfliteModel, count_macs

REFERENCE_MACS = 2_660_000
"""MLPerf Tiny DS-CNN: multiply-accumulates per inference."""
REFERENCE_MS = 181.9
"""Its inference time with TFLite Micro + CMSIS-NN on a Cortex-M4F (MLPerf Tiny v0.5)."""
REFERENCE_MHZ = 120
"""The clock of that measurement."""
NANO33BLE_MHZ = 64
"""The Nano 33 BLE's nRF52840 Cortex-M4F clock."""
SAFETY_MARGIN = 1.5
"""Work per hop (inference + front end) may use at most 1 / 1.5 = 67% of the hop's audio time:
the estimate scales one measured model by MACs, and other models (other layer shapes, the
non-MAC operators) run at a different speed per MAC; the rest covers the PDM interrupt, USB
serial and the copies of the main loop."""
FRONTEND_FRAME_MS = 2.0
"""Assumed cost of one front-end frame on a 64 MHz Cortex-M4F, in ms (scaled by clock). The
C front end executes about 30,000 (-O2) to 33,000 (-Os, the Arduino default) instructions per
frame, counted under QEMU with -icount (instructions, not cycles); 2 ms at 64 MHz allows more
than 3 cycles each."""
MAX_AVERAGE_SPAN_MS = 400
"""The board averages results at most this far apart (see device_detector_config)."""

REFERENCE_INSTRUCTIONS = 7_950_404
"""Instructions per inference of the shipped DS-CNN-S (MLPerf's topology and layer shapes:
2,664,768 MACs against MLPerf's 2.66 M) with TFLite Micro + CMSIS-NN (Arduino_TensorFlowLite,
tflite-micro @4e62ea7b, arm-none-eabi-gcc 12.2 -O2), counted under QEMU -icount: mean over
the 476 test clips (docs/m4_firmware.md)."""
CYCLES_PER_INSTRUCTION = 2.75
"""Board cycles per instruction counted by ``kws measure-board`` (the factor of the measured
timing model). Where it comes from: MLPerf Tiny measured REFERENCE_MS = 181.9 ms for the same
DS-CNN topology with TFLite Micro + CMSIS-NN on a REFERENCE_MHZ = 120 MHz Cortex-M4F, i.e.
21.83 M cycles; we count REFERENCE_INSTRUCTIONS = 7.95 M instructions for it, so that board
spent 21.83 / 7.95 = 2.746 cycles per instruction we count; rounded up to 2.75.

How conservative (docs/board.md, "Timing"): no Cortex-M4 instruction takes less than one cycle
(the floor: 124 ms per inference at 64 MHz, 2.75x faster). The factor has to cover (1) the
Arduino build: the IDE compiles Arduino_TensorFlowLite at -Os, and CMSIS-NN + its kernel
wrappers at -Os execute 9.92 M instructions for this model instead of 7.95 M (x1.25, measured
here: benchmarks/bench_m4_firmware.py --os-kernels); (2) the Cortex-M4's multi-cycle loads,
stores, multiply-accumulates and taken branches: from the executed instruction mix and the
Cortex-M4 TRM's timings, 1.23 cycles per instruction at -O2 and 1.28 at -Os, zero wait
states (bench_m4_firmware.py --cycle-estimate: an estimate from a model of the core), so
1.60 cycles per instruction we count for the Arduino build; (3) flash wait states and cache
misses of the nRF52840 at 64 MHz (not modelled); (4) MLPerf's older TFLite Micro / CMSIS-NN
(2021), which may have executed more instructions than today's (unknown). 2.75 is 1.7x the
1.60 of (1) + (2): that is the margin left for (3) and the model's errors; the floor (one
cycle per instruction, -O2) is 2.75x below."""
MAX_BUSY = 0.70
"""Measured timing model: inference + front end may use at most 70% of real time (the rest:
the PDM interrupt, USB serial, the main loop's copies, and the factor's own uncertainty)."""
FRONTEND_FRAME_INSTRUCTIONS = 29_840
"""Instructions per 20 ms frame of the C front end at the default FrontendConfig (QEMU
-icount, arm-none-eabi-gcc -O2: mean 29,825, max 29,840; -Os: 33,213;
benchmarks/bench_c_frontend.py), used when a measurement does not carry its own count."""
MEASUREMENT_KEY = "board_measurement"
"""Metadata key of the measurement written by ``kws measure-board``."""
MEASUREMENT_VERSION = 1
"""Layout version of a board_measurement this code reads."""
MEASUREMENT_KERNELS = "cmsis_nn"
"""The kernel set a usable measurement ran (the one the Arduino library ships)."""
_INSTRUCTION_RANGE = (1_000, 10_000_000_000)
_BYTES_RANGE = (1, 64 << 20)


def estimate_inference_ms(macs: int, cpu_mhz: float) -> float:
    """Estimated TFLite Micro + CMSIS-NN inference time in ms of a model with ``macs``
    multiply-accumulates on a Cortex-M4F at ``cpu_mhz`` (scaled from the MLPerf DS-CNN)."""
    return macs / REFERENCE_MACS * REFERENCE_MS * REFERENCE_MHZ / cpu_mhz


def choose_hop_frames(inference_ms: float, frame_ms: float, frontend: FrontendConfig,
                      minimum: int = 1) -> int:
    """Smallest hop h >= minimum (whole frames) with h x stride >= SAFETY_MARGIN x
    (inference_ms + h x frame_ms). Raises ExportError when no hop within one clip works."""
    stride = frontend.stride_ms
    room = stride - SAFETY_MARGIN * frame_ms
    if room <= 0:
        raise ExportError(f"the front end alone (~{frame_ms:.1f} ms per {stride:g} ms frame) "
                          "cannot keep up with real time on this clock")
    hop = max(minimum, math.ceil(SAFETY_MARGIN * inference_ms / room - 1e-9))
    if hop > frontend.frames_per_clip:
        raise ExportError(f"one inference takes ~{inference_ms:.0f} ms on the board, so the "
                          f"model could run only every {hop} frames, more than its "
                          f"{frontend.frames_per_clip}-frame clip: choose a smaller model")
    return hop


def results_in_window(window_ms: float, hop_ms: float) -> int:
    """Results, hop_ms apart, that fit in the detector window (t - window_ms, t]."""
    return math.ceil(window_ms / hop_ms - 1e-9)


def device_detector_config(config: DetectorConfig, hop_frames: int,
                           frontend: FrontendConfig) -> DetectorConfig:
    """The metadata's detector, adapted to an inference every ``hop_frames`` frames.

    At the metadata's own hop nothing changes. At another hop the board averages the last
    k results, k = min(min_count, 1 + MAX_AVERAGE_SPAN_MS // hop_ms) (at least 1), with a
    window of k hops and min count k: results further apart than MAX_AVERAGE_SPAN_MS are
    never averaged together. Threshold, keywords, per-keyword thresholds, suppression and
    max_results stay as they are.

    Why: a one-second input holds a whole word over only a few hundred ms of window
    positions. With sparse results the metadata's 800 ms window mixes results that missed
    the word, and the averaged peak falls under the threshold. On a 20-minute test-split
    stream (DS-CNN-S, 10 dB SNR), false rejects at <= 100 false accepts per hour (best
    threshold): 800 ms / min count 3 at 40 ms (the laptop) 43%; at 240 ms 61% (this rule:
    38%); at 380 ms 77% (42%); at 620 ms 73% (this rule, one result: 42%). See
    benchmarks/bench_board_detector.py.
    """
    if hop_frames == config.hop_frames:
        return config
    hop_ms = hop_frames * frontend.stride_ms
    count = max(1, min(config.min_count, 1 + int(MAX_AVERAGE_SPAN_MS // hop_ms)))
    out = dataclasses.replace(config, hop_frames=hop_frames,
                              average_window_ms=math.ceil(count * hop_ms), min_count=count)
    if count > out.max_results:
        raise ConfigError(f"min_count={count} exceeds max_results={out.max_results}")
    return out


def board_timing(device: TfliteModel, cpu_mhz: float = NANO33BLE_MHZ
                 ) -> tuple[int, float, float]:
    """(multiply-accumulates, estimated inference ms, assumed front-end ms per frame) of a
    device model on a Cortex-M4F at ``cpu_mhz`` (the timing model above)."""
    macs = count_macs(device)
    return macs, estimate_inference_ms(macs, cpu_mhz), FRONTEND_FRAME_MS * NANO33BLE_MHZ / cpu_mhz


def board_hop_frames(device: TfliteModel, frontend: FrontendConfig, minimum: int,
                     cpu_mhz: float = NANO33BLE_MHZ, meta: dict[str, Any] | None = None) -> int:
    """The inference hop (whole frames) the exporter gives a device model on the board:
    :func:`plan_timing`'s (measured when ``meta`` holds a board_measurement for these
    weights, else estimated from MACs), never less than ``minimum`` (the laptop's hop).
    ``kws quantize`` and ``kws tune-detector`` tune a detector at this hop."""
    return plan_timing(device, frontend, minimum, meta, cpu_mhz).hop_frames


# ------------------------------------------------------------------------------------------
# The measured timing model (kws measure-board)
# ------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BoardMeasurement:
    """A model's ``board_measurement`` (metadata), as the exporter uses it."""

    instructions: int
    """Instructions per inference (the largest over the inputs measured; CMSIS-NN kernels,
    QEMU -icount: instructions executed, not cycles)."""
    instructions_mean: float
    """Mean instructions per inference over the same inputs."""
    frontend_instructions: int | None
    """Mean instructions of the C front end per frame, or None (then
    FRONTEND_FRAME_INSTRUCTIONS)."""
    arena_smallest: int
    """Smallest tensor arena that allocates and runs on the M4 (CMSIS-NN), bytes."""
    firmware_flash: int
    """Flash of the linked M4 image of the export's main.cc (text + data), bytes."""
    firmware_ram: int
    """RAM of that image (data + bss, heap and stack not counted), bytes."""
    arena_linked: int
    """The tensor arena that image was linked with (part of firmware_ram), bytes."""
    parts: tuple[tuple[str, int, int], ...]
    """(part, flash bytes, RAM bytes) of that image by part: ``tflite_micro`` (interpreter,
    kernels, CMSIS-NN), ``runtime`` (newlib-nano, libgcc, libstdc++ pieces, semihosting),
    ``export`` (model array, front end, detector, stream, main.cc with the arena),
    ``startup`` (start-up file, target functions)."""
    content_sha256: str
    """kws.model_file.content_hash of the weights measured."""
    target: str
    """What ran it (emulator, compiler, library)."""

    def part(self, name: str) -> tuple[int, int]:
        """(flash, RAM) bytes of one part of the linked image ((0, 0) if absent)."""
        for part, flash, ram in self.parts:
            if part == name:
                return flash, ram
        return 0, 0


def _int_in(raw: dict[str, Any], key: str, span: tuple[int, int], where: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or \
            not span[0] <= value <= span[1]:
        raise ModelError(f"{where}.{key}={value!r:.40} is not an integer in "
                         f"{span[0]:,}..{span[1]:,}")
    return value


def _dict(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ModelError(f"{where} is not a mapping")
    return raw


def parse_measurement(raw: Any, name: str = "model") -> BoardMeasurement:
    """Check a ``board_measurement`` (JSON written by ``kws measure-board``; see
    docs/board.md for its keys) and return it; ModelError naming the field otherwise."""
    where = f"{name}: {MEASUREMENT_KEY}"
    m = _dict(raw, where)
    if m.get("format_version") != MEASUREMENT_VERSION:
        raise ModelError(f"{where}.format_version={m.get('format_version')!r:.20} is not "
                         f"{MEASUREMENT_VERSION} (measure the model again: kws measure-board)")
    if m.get("kernels") != MEASUREMENT_KERNELS:
        raise ModelError(f"{where}.kernels={m.get('kernels')!r:.30} is not "
                         f"{MEASUREMENT_KERNELS!r} (the kernels the board runs)")
    digest = m.get("content_sha256")
    if not (isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)):
        raise ModelError(f"{where}.content_sha256 is not a sha256 hex digest")
    per = _dict(m.get("instructions_per_inference"), f"{where}.instructions_per_inference")
    low = _int_in(per, "min", _INSTRUCTION_RANGE, f"{where}.instructions_per_inference")
    high = _int_in(per, "max", _INSTRUCTION_RANGE, f"{where}.instructions_per_inference")
    mean = per.get("mean")
    if isinstance(mean, bool) or not isinstance(mean, (int, float)) or \
            not low <= mean <= high:
        raise ModelError(f"{where}.instructions_per_inference: min <= mean <= max does not "
                         "hold")
    fe = m.get("frontend_instructions_per_frame")
    frontend = None if fe is None else _int_in(
        {"value": fe}, "value", (100, 10_000_000), f"{where}.frontend_instructions_per_frame")
    fw = _dict(m.get("firmware"), f"{where}.firmware")
    parts = []
    for part, sizes in sorted(_dict(fw.get("parts"), f"{where}.firmware.parts").items()):
        sizes = _dict(sizes, f"{where}.firmware.parts.{part:.20}")
        parts.append((str(part)[:40], _int_in(sizes, "flash", (0, _BYTES_RANGE[1]),
                                              f"{where}.firmware.parts"),
                      _int_in(sizes, "ram", (0, _BYTES_RANGE[1]), f"{where}.firmware.parts")))
    target = m.get("target", "")
    return BoardMeasurement(
        instructions=high, instructions_mean=float(mean), frontend_instructions=frontend,
        arena_smallest=_int_in(m, "arena_smallest", _BYTES_RANGE, where),
        firmware_flash=_int_in(fw, "flash", _BYTES_RANGE, f"{where}.firmware"),
        firmware_ram=_int_in(fw, "ram", _BYTES_RANGE, f"{where}.firmware"),
        arena_linked=_int_in(fw, "arena_linked", _BYTES_RANGE, f"{where}.firmware"),
        parts=tuple(parts), content_sha256=digest,
        target=target[:200] if isinstance(target, str) else "")


def measurement_for(meta: dict[str, Any] | None, device: TfliteModel,
                    name: str = "model") -> tuple[BoardMeasurement | None, str]:
    """The metadata's board measurement when it is usable for ``device`` (same weights, by
    kws.model_file.content_hash), else None; and a sentence saying which, or why not."""
    from kws.model_file import content_hash

    raw = None if meta is None else meta.get(MEASUREMENT_KEY)
    if raw is None:
        return None, (f"no {MEASUREMENT_KEY} in the metadata (kws measure-board MODEL "
                      "measures one)")
    try:
        measured = parse_measurement(raw, name)
    except ModelError as exc:
        return None, f"the {MEASUREMENT_KEY} is unusable ({exc})"
    if measured.content_sha256 != content_hash(device):
        return None, (f"the {MEASUREMENT_KEY} was made for other weights (content hash "
                      f"{measured.content_sha256[:12]}...; measure this model again)")
    return measured, ("measured on the emulated Cortex-M4 "
                      f"({measured.target or 'kws measure-board'})")


def measured_inference_ms(instructions: float, cpu_mhz: float = NANO33BLE_MHZ,
                          cycles_per_instruction: float = CYCLES_PER_INSTRUCTION) -> float:
    """Time in ms of ``instructions`` (counted under QEMU) on a Cortex-M4F at ``cpu_mhz``,
    at ``cycles_per_instruction`` board cycles each."""
    return instructions * cycles_per_instruction / (cpu_mhz * 1000.0)


def hop_for_busy(inference_ms: float, frame_ms: float, frontend: FrontendConfig,
                 minimum: int = 1, max_busy: float = MAX_BUSY) -> int:
    """Smallest hop h >= ``minimum`` (whole frames of ``frontend.stride_ms``) with
    inference_ms + h x frame_ms <= max_busy x h x stride_ms: one inference per hop and the
    front end on every frame keep the processor busy at most ``max_busy`` of real time.
    Raises ExportError when the front end alone exceeds it or no hop within one clip works."""
    stride = frontend.stride_ms
    room = max_busy * stride - frame_ms  # ms of each frame left for inference
    if room <= 0:
        raise ExportError(f"the front end alone (~{frame_ms:.2f} ms per {stride:g} ms frame) "
                          f"takes more than {max_busy:.0%} of real time on this clock")
    hop = max(minimum, math.ceil(inference_ms / room - 1e-9))
    if hop > frontend.frames_per_clip:
        raise ExportError(f"one inference takes ~{inference_ms:.0f} ms on the board, so the "
                          f"model could run only every {hop} frames, more than its "
                          f"{frontend.frames_per_clip}-frame clip: choose a smaller model")
    return hop


def instructions_for_hop(hop_frames: int, frame_instructions: float, frontend: FrontendConfig,
                         cpu_mhz: float = NANO33BLE_MHZ, max_busy: float = MAX_BUSY,
                         cycles_per_instruction: float = CYCLES_PER_INSTRUCTION) -> int:
    """The most instructions per inference that still allow ``hop_frames`` under the
    measured rule (:func:`hop_for_busy`) with ``frame_instructions`` per front-end frame."""
    frame_ms = measured_inference_ms(frame_instructions, cpu_mhz, cycles_per_instruction)
    budget_ms = hop_frames * (max_busy * frontend.stride_ms - frame_ms)
    return int(budget_ms * cpu_mhz * 1000.0 / cycles_per_instruction)


@dataclasses.dataclass(frozen=True)
class BoardTiming:
    """How long a model takes on the board and the hop that follows (:func:`plan_timing`)."""

    measured: bool
    """True: from the metadata's board_measurement; False: estimated from MACs."""
    reason: str
    """Where the timing comes from, or why the measurement could not be used."""
    macs: int
    """Multiply-accumulates per inference."""
    cpu_mhz: float
    inference_ms: float
    """One inference at cpu_mhz, ms."""
    frame_ms: float
    """The front end per frame at cpu_mhz, ms."""
    hop_frames: int
    stride_ms: float
    """Frame stride, ms."""
    max_busy: float
    """The rule's limit on the busy share (measured: MAX_BUSY; estimate: 1 / SAFETY_MARGIN)."""
    instructions: int | None = None
    """Measured instructions per inference (QEMU, CMSIS-NN), else None."""
    frontend_instructions: float | None = None
    """Instructions per front-end frame used (measured: the measurement's or
    FRONTEND_FRAME_INSTRUCTIONS), else None."""
    cycles_per_instruction: float | None = None
    """The factor applied to the instructions (measured only)."""
    measurement: BoardMeasurement | None = None

    @property
    def hop_ms(self) -> float:
        """Time between two inferences, ms."""
        return self.hop_frames * self.stride_ms

    @property
    def busy_fraction(self) -> float:
        """Share of real time spent on inference and front end at this hop."""
        return (self.inference_ms + self.hop_frames * self.frame_ms) / self.hop_ms

    def describe(self, reason: bool = True) -> str:
        """One sentence: the timing, its source and the hop. ``reason``: also say why an
        estimate was used (text that may quote the model's metadata; False for generated C)."""
        if self.measured:
            how = (f"measured {self.instructions:,} instructions per inference (CMSIS-NN, "
                   f"emulated Cortex-M4) x {self.cycles_per_instruction:g} cycles per "
                   f"instruction = ~{self.inference_ms:.0f} ms at {self.cpu_mhz:g} MHz, front "
                   f"end {self.frontend_instructions:,.0f} instructions = "
                   f"~{self.frame_ms:.2f} ms per frame")
        else:
            how = (f"ESTIMATED from {self.macs:,} MACs (scaled from the MLPerf DS-CNN: "
                   f"{REFERENCE_MS} ms at {REFERENCE_MHZ} MHz) = ~{self.inference_ms:.0f} ms at "
                   f"{self.cpu_mhz:g} MHz, front end ~{self.frame_ms:.1f} ms per frame"
                   + (f"; not measured: {self.reason}" if reason else
                      f"; no usable {MEASUREMENT_KEY}"))
        return (f"{how} -> one inference every {self.hop_frames} frames ({self.hop_ms:g} ms), "
                f"busy {self.busy_fraction:.1%} of real time (limit {self.max_busy:.0%})")


def plan_timing(device: TfliteModel, frontend: FrontendConfig, minimum: int,
                meta: dict[str, Any] | None = None, cpu_mhz: float = NANO33BLE_MHZ,
                name: str = "model") -> BoardTiming:
    """The board's timing of a device model and its hop (never under ``minimum`` frames):
    measured when ``meta`` holds a board_measurement for these weights (hop by
    :func:`hop_for_busy`), else the MAC estimate (:func:`board_timing`,
    :func:`choose_hop_frames`) with the reason in ``reason``."""
    macs = count_macs(device)
    measured, reason = measurement_for(meta, device, name)
    if measured is None:
        _, inference_ms, frame_ms = board_timing(device, cpu_mhz)
        hop = choose_hop_frames(inference_ms, frame_ms, frontend, minimum)
        return BoardTiming(False, reason, macs, cpu_mhz, inference_ms, frame_ms, hop,
                           frontend.stride_ms, 1 / SAFETY_MARGIN)
    fe = float(measured.frontend_instructions or FRONTEND_FRAME_INSTRUCTIONS)
    inference_ms = measured_inference_ms(measured.instructions, cpu_mhz)
    frame_ms = measured_inference_ms(fe, cpu_mhz)
    hop = hop_for_busy(inference_ms, frame_ms, frontend, minimum)
    return BoardTiming(True, reason, macs, cpu_mhz, inference_ms, frame_ms, hop,
                       frontend.stride_ms, MAX_BUSY, measured.instructions, fe,
                       CYCLES_PER_INSTRUCTION, measured)


def board_detector_config(meta: dict[str, Any], hop_frames: int,
                          frontend: FrontendConfig) -> DetectorConfig:
    """The detector the board runs at ``hop_frames``: the metadata's ``board_detector`` when
    it was tuned at that hop (kws quantize / kws tune-detector), else the laptop detector
    adapted by :func:`device_detector_config`."""
    from kws.config import from_dict

    tuned = meta.get("board_detector")
    if isinstance(tuned, dict):
        config = from_dict(DetectorConfig, tuned, "board_detector.")
        if config.hop_frames == hop_frames:
            return config
    return device_detector_config(from_dict(DetectorConfig, meta["detector"]), hop_frames,
                                  frontend)

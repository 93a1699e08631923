"""The board's timing model and the detector it runs: how often a model can run on the board.

Used by the exporter (firmware_export.settings writes the result into kws_model_settings.h)
and by the tuners (``kws quantize``, ``kws tune-detector``), which tune a detector at the
board's hop and store it in the metadata. No TensorFlow, no firmware_export.

Timing model. TFLite Micro with CMSIS-NN kernels runs the MLPerf Tiny DS-CNN (REFERENCE_MACS
multiply-accumulates) in REFERENCE_MS on a REFERENCE_MHZ Cortex-M4F; we scale by MACs and by
clock (about 340 ms for the same model at the Nano 33 BLE's 64 MHz). The board keeps up with
real time when one hop of audio (hop_frames x stride) lasts longer than SAFETY_MARGIN x (one
inference + hop_frames front-end frames); the hop is the smallest whole number of frames that
satisfies this, and never less than the model's own ``hop_frames``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from kws.config import DetectorConfig, FrontendConfig
from kws.errors import ConfigError, ExportError
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
                     cpu_mhz: float = NANO33BLE_MHZ) -> int:
    """The inference hop (whole frames) the exporter gives a device model on the board: from
    its timing (:func:`board_timing`) and ``minimum`` (the laptop's hop). ``kws quantize``
    tunes a detector at this hop and stores it in the metadata."""
    _, inference_ms, frame_ms = board_timing(device, cpu_mhz)
    return choose_hop_frames(inference_ms, frame_ms, frontend, minimum)


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

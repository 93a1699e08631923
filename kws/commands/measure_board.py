"""``kws measure-board MODEL``: measure a model on the emulated Cortex-M4 and store the figures.

Runs the model with TensorFlow Lite Micro + CMSIS-NN under ``qemu-system-arm -M mps2-an386
-icount shift=0`` (firmware_export.m4_build.measure_model: the TFLite Micro library comes from
its cache, built on first use in about 5 minutes on 2 cores) and writes the result into the
model's metadata under ``board_measurement`` (kws.model_edit: only the metadata changes, so
the weights' content hash stays the same). ``kws export`` then takes the board's hop from the
measured instructions and its tensor arena from the measured arena (kws.board.plan_timing).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kws.commands import require_module


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``measure-board`` sub-command."""
    p = sub.add_parser(
        "measure-board", help="measure a model on an emulated Cortex-M4 (TFLite Micro + "
                              "CMSIS-NN under QEMU) and store the figures in its metadata",
        description="Export the model, build it with TensorFlow Lite Micro and the CMSIS-NN "
                    "kernels for a Cortex-M4F (the library is cached; the first build takes "
                    "minutes), run it under qemu-system-arm -icount and record instructions per "
                    "inference and per front-end frame (instructions, not cycles), the smallest "
                    "tensor arena and the flash/RAM of the linked firmware. They are written "
                    "into the model's metadata as board_measurement (weights unchanged); kws "
                    "export then chooses the board's hop and arena from them.")
    p.add_argument("model", type=Path, help="a .tflite with kws metadata (rewritten in place "
                                            "unless --out)")
    p.add_argument("--out", type=Path, default=None,
                   help="write the measured model here instead of in place (needed for the "
                        "shipped model, which kws never rewrites in place)")
    p.add_argument("--audio", type=Path, default=None,
                   help="recording whose windows are the inputs (default: the shipped demo "
                        "recording)")
    p.add_argument("--clips", type=int, default=None,
                   help="windows of --audio run (default: 8)")
    p.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    p.set_defaults(func=run)


def stamp_measurement(model_path: Path, measurement: dict[str, Any],
                      out_path: Path | None = None) -> Path:
    """Write ``measurement`` as the metadata's board_measurement of ``model_path`` into
    ``out_path`` (default: the model itself, atomically; a run folder's manifest.json that
    lists the model gets its new size and sha256 in the same step). Returns the path written."""
    from kws.board import MEASUREMENT_KEY
    from kws.model_edit import publish_metadata
    from kws.publish import recover_published_set
    from kws.runtime import read_metadata

    target = out_path if out_path is not None else model_path
    recover_published_set(target.parent)
    meta = read_metadata(model_path)
    meta[MEASUREMENT_KEY] = measurement
    publish_metadata(model_path, meta, target, manifest_section=(
        MEASUREMENT_KEY, {k: measurement[k] for k in
                          ("instructions_per_inference", "arena_smallest", "firmware", "target")
                          if k in measurement}))
    return target


def _is_shipped(path: Path) -> bool:
    from kws.runtime import DEFAULT_MODEL

    try:
        return path.resolve().parent == DEFAULT_MODEL.resolve().parent
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    require_module("tflite_micro")      # the export inside measures the host arena too
    from firmware_export.m4_build import MEASURE_CLIPS, measure_model
    from kws.audio import read_audio
    from kws.board import parse_measurement, plan_timing
    from kws.config import FrontendConfig, from_dict
    from kws.errors import ConfigError
    from kws.model_edit import strip_for_device
    from kws.runtime import read_metadata
    from kws.tflite_ops import parse_tflite

    model = args.model
    if not args.dry_run and args.out is None and _is_shipped(model):
        raise ConfigError(f"{model} is the shipped model, which kws does not rewrite in place: "
                          "give --out FILE (or --dry-run)")
    clips = MEASURE_CLIPS if args.clips is None else args.clips
    if not 1 <= clips <= 64:
        raise ConfigError(f"--clips {clips}: choose 1..64")
    meta = read_metadata(model)
    frontend = from_dict(FrontendConfig, meta["frontend"])
    audio_path = args.audio or Path(__file__).resolve().parents[1] / "assets" / "demo.wav"
    audio = read_audio(audio_path, frontend.sample_rate_hz)
    print(f"measuring {model} on the emulated Cortex-M4 (TFLite Micro + CMSIS-NN, QEMU "
          f"-icount): {clips} windows of {audio_path.name}; the TFLite Micro library is built "
          "once into its cache (minutes the first time)", flush=True)
    measurement = measure_model(model, audio, clips)
    parsed = parse_measurement(measurement, str(model))
    per = measurement["instructions_per_inference"]
    fw = measurement["firmware"]
    tflm = parsed.part("tflite_micro")
    print(f"instructions per inference (CMSIS-NN; instructions executed, not cycles): min "
          f"{per['min']:,}, mean {per['mean']:,.0f}, max {per['max']:,} over "
          f"{measurement['inputs']} inputs")
    print(f"front end: {measurement['frontend_instructions_per_frame']:,} instructions per "
          "frame")
    print("per operator: " + ", ".join(f"{k} {v:,}" for k, v in sorted(
        measurement["ops"].items(), key=lambda kv: -kv[1])))
    print(f"smallest tensor arena on the M4: {measurement['arena_smallest']:,} B")
    print(f"firmware (the export's main.cc, linked for the M4): flash {fw['flash']:,} B, RAM "
          f"{fw['ram']:,} B (with a {fw['arena_linked']:,} B arena; heap and stack not "
          f"counted); TFLite Micro + CMSIS-NN {tflm[0]:,} B flash, {tflm[1]:,} B RAM")
    device = parse_tflite(strip_for_device(model.read_bytes()))
    timing = plan_timing(device, frontend, from_dict_hop(meta),
                         {**meta, "board_measurement": measurement})
    print(f"on the Nano 33 BLE: {timing.describe()}")
    tuned = meta.get("board_detector")
    if isinstance(tuned, dict) and tuned.get("hop_frames") != timing.hop_frames:
        print(f"note: the metadata's board_detector was tuned at a hop of "
              f"{tuned.get('hop_frames')} frames; kws export adapts the laptop's detector to "
              f"{timing.hop_frames} frames instead, until kws tune-detector tunes it again")
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    written = stamp_measurement(model, measurement, args.out)
    print(f"wrote board_measurement into {written} (weights unchanged)")
    return 0


def from_dict_hop(meta: dict[str, Any]) -> int:
    """The laptop's hop (frames) of the metadata's detector: the board's minimum hop."""
    from kws.config import DetectorConfig, from_dict

    return from_dict(DetectorConfig, meta["detector"]).hop_frames

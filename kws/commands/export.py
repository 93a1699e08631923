"""``kws export [MODEL] --board nano33ble|generic --out DIR``: C sources and the board sketch."""

from __future__ import annotations

import argparse
from pathlib import Path

from kws.commands import require_module


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export`` sub-command."""
    p = sub.add_parser(
        "export", help="export a model as C sources and an Arduino Nano 33 BLE Sense sketch "
                       "(the Sense has the PDM microphone)",
        description="Write the model (a 16-byte-aligned const array), its settings, the C front "
                    "end and detector, and the Arduino sketch (or a generic main.cc) into DIR; "
                    "print the memory budget. DIR must not exist, be empty, or hold an earlier "
                    "export.")
    p.add_argument("model", nargs="?", type=Path, default=None,
                   help="a .tflite with kws metadata (default: the shipped default model)")
    p.add_argument("--board", choices=("nano33ble", "generic"), default="nano33ble",
                   help="nano33ble: an Arduino sketch folder; generic: sources and main.cc "
                        "(default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="destination folder")
    p.add_argument("--cpu-mhz", type=float, default=None,
                   help="clock of a generic board, for the timing estimate (default: 64 MHz, "
                        "the Nano 33 BLE's clock)")
    p.add_argument("--force", action="store_true",
                   help="replace an earlier export even if its files were edited")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_module("tflite_micro")      # the tensor arena is measured in TFLite Micro
    from firmware_export.export import export_model

    result = export_model(args.model, args.out, args.board, args.cpu_mhz, args.force)
    plan = result.plan
    action = "replaced the export in" if result.replaced else "exported to"
    print(f"{result.model_path.name} ({plan.model_name}) for {result.board}: {action} "
          f"{result.source_dir} ({len(result.files)} files)")
    print(f"model: {plan.model_bytes:,} bytes, {len(plan.ops)} operators "
          f"({', '.join(op for op, _ in plan.ops)}), {plan.macs:,} MACs per inference")
    print(f"timing: {plan.timing.describe() if plan.timing else plan.inference_ms}")
    d = plan.detector
    print(f"detector on the board: window {d.average_window_ms} ms, min count {d.min_count}, "
          f"threshold {d.threshold}, suppression {d.suppression_ms} ms")
    print(result.budget.format(result.board))
    return 0

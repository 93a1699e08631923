"""The exported model on a Cortex-M4F under QEMU (mps2-an386) with TensorFlow Lite Micro.

Run: python benchmarks/bench_m4_firmware.py [--model M.tflite | --export DIR] [--clips N]
     [--keep DIR]

Exports the model (`kws export --board generic`), builds the firmware of firmware_export/m4_build
with the CMSIS-NN kernels and with the reference kernels (the TFLite Micro library comes from
its cache, built on first use), and prints for each:
- INSTRUCTIONS per inference (min, mean, max over the first N test clips of the mini corpus),
  counted deterministically: QEMU -icount shift=0 makes one instruction one nanosecond of
  virtual time and SysTick (25 MHz) ticks once per 40 of them. These are instructions
  executed, not Cortex-M4 cycles (on silicon loads, multiplies and taken branches take 1-3
  cycles each);
- instructions per operator (a tflite::MicroProfilerInterface hook on every node; its own
  cost, a few hundred instructions per inference, is inside the per-inference figure of that
  run only, not the headline one);
- the smallest tensor arena that allocates and runs (bisection in the firmware);
- flash and RAM of the linked image (arm-none-eabi-size: flash = text + data, RAM = data +
  bss, the heap and the stack not counted), and their split by part from the link map.
The third-party README's figures are printed beside them for comparison.

With --os-kernels the CMSIS-NN kernel wrappers and the CMSIS-NN library are compiled once more
at -Os, the level at which the Arduino IDE compiles Arduino_TensorFlowLite for the Nano 33 BLE
(variants/ARDUINO_NANO33BLE/cflags.txt), and linked with the same interpreter core: the
instructions per inference of that build beside the -O2 one (kws.board.CYCLES_PER_INSTRUCTION
has to cover the difference).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from firmware_export import m4_build  # noqa: E402
from kws.board import CYCLES_PER_INSTRUCTION, measured_inference_ms  # noqa: E402
from kws.frontend import mfcc_batch  # noqa: E402

MINI = REPO.parent / "shared" / "data" / "speech_commands_mini_v0.02"
THIRD_PARTY_FIGURES = {"cmsis_nn": (7.95e6, 24_080), "reference": (42.6e6, 22_880)}
"""../shared/third_party/README.md: instructions per inference and smallest arena (bytes)."""


def test_features(count: int) -> np.ndarray:
    """int8 (count, 49, 10): mfcc_batch of the first ``count`` clips of testing_list.txt."""
    import soundfile as sf

    names = [ln for ln in (MINI / "testing_list.txt").read_text().split() if ln][:count]
    audio = np.zeros((len(names), 16000), dtype=np.int16)
    for i, name in enumerate(names):
        data, _ = sf.read(str(MINI / name), dtype="int16")
        audio[i, : min(16000, data.size)] = data[:16000]
    return mfcc_batch(audio)


def export(model: Path, out: Path) -> Path:
    """`kws export MODEL --board generic --out OUT`; returns OUT."""
    kws = shutil.which("kws") or sys.exit("the kws command is not on PATH (pip install -e .)")
    proc = subprocess.run([kws, "export", str(model), "--board", "generic", "--out", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"kws export failed: {proc.stderr.strip()[-500:]}")
    return out


def part_name(name: str) -> str:
    """A readable group for one entry of size_by_part."""
    groups = {"libtflm_core.a": "TFLite Micro (interpreter, other kernels)",
              "libkws_kernels_cmsis_nn.a": "TFLite Micro CMSIS-NN kernel wrappers",
              "libkws_kernels_reference.a": "TFLite Micro reference kernels (the 8)",
              "libcmsis_nn.a": "CMSIS-NN library",
              "kws_model_data.o": "model array",
              "kws_frontend.o": "C front end", "kws_frontend_tables.o": "C front end",
              "kws_detector.o": "C detector",
              "kws_m4_main.o": "measuring main (+ arena, buffers)",
              "main.o": "the export's main.cc (+ arena, buffers)",
              "m4_target.o": "start-up, target functions",
              "m4_board_audio.o": "board_read_audio (semihosting file)",
              "m4_startup.o": "start-up, target functions"}
    if name in groups:
        return groups[name]
    if name.startswith(("libstdc++", "libsupc++", "libgcc", "crt")):
        return "libgcc / libstdc++"
    if name.startswith(("libc", "libg", "libm", "librdimon", "libnosys")):
        return "newlib (nano) + semihosting"
    return "other (linker)"


def print_sizes(what: str, elf: Path) -> None:
    """Flash and RAM of one linked image, in all and by part (from its link map)."""
    size = m4_build.image_size(elf)
    print(f"{what} ({elf.name}): flash {size['flash']:,} B (text {size['text']:,} + data "
          f"{size['data']:,}), RAM {size['ram']:,} B (data + bss {size['bss']:,}; heap and "
          "stack not counted)")
    groups: dict[str, dict[str, int]] = {}
    for name, part in m4_build.size_by_part(elf.with_suffix(".map")).items():
        entry = groups.setdefault(part_name(name), {"flash": 0, "ram": 0})
        entry["flash"] += part["flash"]
        entry["ram"] += part["ram"]
    for name, part in sorted(groups.items(), key=lambda kv: -kv[1]["flash"]):
        print(f"  {name:<44} flash {part['flash']:>8,} B  RAM {part['ram']:>8,} B")
    tflm = sum(p["flash"] for n, p in groups.items() if n.startswith(("TFLite", "CMSIS")))
    print(f"  TFLite Micro + kernels (+ CMSIS-NN) together: flash {tflm:,} B\n")


def main() -> int:
    """Build, run and print; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "kws" / "assets" /
                        "default_model.tflite", help="int8 .tflite (default: the shipped model)")
    parser.add_argument("--export", type=Path, default=None,
                        help="an existing `kws export --board generic` folder to use instead "
                        "of exporting --model")
    parser.add_argument("--clips", type=int, default=50,
                        help="test clips timed per kernel set (default: 50; 476 = all)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="folder to keep the export and the ELFs in (default: a temporary one)")
    parser.add_argument("--os-kernels", action="store_true",
                        help="also time CMSIS-NN compiled at -Os (the Arduino IDE's level)")
    args = parser.parse_args()
    m4_build.require_tools()
    features = test_features(args.clips)
    with tempfile.TemporaryDirectory(prefix="kws-bench-m4-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        folder = args.export or export(args.model, work / "generic")
        plan = json.loads((folder / "kws_export.json").read_text())["plan"]
        source = folder if args.export else args.model.name
        print(f"model {source}: {plan['macs']:,} MACs; export arena {plan['arena_size']:,} B "
              f"(host TFLite Micro measured {plan['arena_measured']:,} B)")
        print("qemu-system-arm -M mps2-an386 -icount shift=0: INSTRUCTIONS executed, not "
              "Cortex-M4 cycles\n")
        for kernels in m4_build.KERNEL_SETS:
            library = m4_build.tflm_library(kernels)
            elf = m4_build.build_firmware(folder, library, work / f"fw-{kernels}")
            timed = m4_build.run_firmware(elf, features=features, icount=True)
            profiled = m4_build.run_firmware(elf, features=features[:3], icount=True,
                                             profile_ops=True, search_arena=True)
            instr = timed.instructions
            want_instr, want_arena = THIRD_PARTY_FIGURES[kernels]
            print(f"== {kernels} kernels (library {library.folder.name})")
            print(f"calibration: a 20,001-instruction loop read {timed.calibration_ticks} "
                  "ticks (500 expected)")
            print(f"instructions per inference over {instr.size} test clips: min {instr.min():,}"
                  f", mean {instr.mean():,.0f}, max {instr.max():,} (third-party README: about "
                  f"{want_instr / 1e6:.2f} M)")
            source = "measured" if plan.get("timing_measured") else "MAC estimate"
            print(f"at {plan['cpu_mhz']} MHz and one instruction per cycle (a lower bound: "
                  f"instructions are not cycles): >= {instr.mean() / plan['cpu_mhz'] / 1e3:.0f}"
                  f" ms per inference; at kws.board's {CYCLES_PER_INSTRUCTION:g} cycles per "
                  f"instruction: {measured_inference_ms(instr.max(), plan['cpu_mhz']):.0f} ms; "
                  f"the export's plan ({source}): {plan['inference_ms_estimate']} ms")
            print(f"smallest arena that allocates and runs: {profiled.smallest_arena:,} B "
                  f"(arena_used_bytes {profiled.arena_used:,} B; third-party README: "
                  f"{want_arena:,} B)")
            by_op: dict[str, int] = {}
            for name, count in profiled.op_instructions:
                by_op[name] = by_op.get(name, 0) + count
            total = sum(by_op.values())
            print(f"per operator ({len(profiled.op_instructions)} nodes, mean of 3 inferences):")
            for name, count in sorted(by_op.items(), key=lambda kv: -kv[1]):
                print(f"  {name:<20} {count:>12,} instructions  {100 * count / total:5.1f}%")
            print("per node: " + ", ".join(f"{i}:{n} {c / 1e3:,.0f}k" for i, (n, c)
                                           in enumerate(profiled.op_instructions)))
            generic = m4_build.build_generic_main(folder, library, work / f"generic-{kernels}")
            for what, image in (("the export's main.cc", generic), ("the measuring firmware", elf)):
                print_sizes(what, image)
            if kernels == "cmsis_nn" and args.os_kernels:
                os_lib = m4_build.kernels_at(library, "-Os", work / "kernels-Os")
                os_elf = m4_build.build_firmware(folder, os_lib, work / "fw-cmsis_nn-Os")
                os_instr = m4_build.run_firmware(os_elf, features=features,
                                                 icount=True).instructions
                print(f"CMSIS-NN and its kernel wrappers at -Os (the Arduino IDE's level; core "
                      f"at -O2): instructions per inference min {os_instr.min():,}, mean "
                      f"{os_instr.mean():,.0f}, max {os_instr.max():,}: "
                      f"x{os_instr.mean() / instr.mean():.3f} the -O2 build\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

With --cycle-estimate the instruction MIX of one inference is read from QEMU's translation
and execution log (-d in_asm,exec,nochain; runs of 1 and 3 clips, differenced) and turned into
an estimate of Cortex-M4 cycles at zero flash wait states with the instruction timings of the
Cortex-M4 Technical Reference Manual (CYCLE_MODEL below; approximate: a taken branch is
counted 1 + 2 cycles of pipeline refill, the middle of its 1 + 1..3, and a load or store
single right after another one pipelines into 1 cycle). This is an estimate from a model of
the core, not a measurement of one.

With --os-kernels the CMSIS-NN kernel wrappers and the CMSIS-NN library are compiled once more
at -Os, the level at which the Arduino IDE compiles Arduino_TensorFlowLite for the Nano 33 BLE
(variants/ARDUINO_NANO33BLE/cflags.txt), and linked with the same interpreter core: the
instructions per inference of that build beside the -O2 one (kws.board.CYCLES_PER_INSTRUCTION
has to cover the difference).
"""

from __future__ import annotations

import argparse
import json
import re
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


CONDITIONS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge",
              "lt", "gt", "le", "al")
BRANCH_REFILL = 2
"""Cycles of pipeline refill counted per taken branch (the TRM's P: 1 to 3)."""
SINGLE_MEMORY = ("ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "str", "strb", "strh",
                 "strex", "ldrt", "strt")
CYCLE_MODEL = {
    # Cortex-M4 TRM (r0p1) table 3-1, cycles per instruction; everything else: 1
    "ldrd": 3, "strd": 3, "mla": 2, "mls": 2, "sdiv": 7, "udiv": 7,
    "vldr": 2, "vstr": 2, "vmla": 3, "vmls": 3, "vnmla": 3, "vnmls": 3, "vdiv": 14,
    "vsqrt": 14, "tbb": 2 + BRANCH_REFILL, "tbh": 2 + BRANCH_REFILL,
}
"""Cortex-M4 cycles of the instructions that do not take one cycle (single loads and stores,
multiple transfers and branches are handled in instruction_cycles)."""
_ASM = re.compile(r"^0x([0-9a-f]+):\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+(\S+)\s*(.*)$")
_TRACE = re.compile(r"^Trace \d+: (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/")


BRANCHES = ("b", "bl", "blx", "bx", "cbz", "cbnz")
MULTIPLE = ("push", "pop", "ldm", "ldmia", "ldmdb", "stm", "stmia", "stmdb", "vpush", "vpop",
            "vldmia", "vstmdb", "vstmia", "vldmdb")
SPECIAL = frozenset((*BRANCHES, *SINGLE_MEMORY, *MULTIPLE, *CYCLE_MODEL, "mov"))


def _base(mnemonic: str) -> str:
    """The mnemonic without its width suffix and, for the instructions the cycle model tells
    apart, its condition ("ldr.w" -> "ldr", "beq" -> "b", "ldrbne" -> "ldrb", "moveq" -> "mov";
    "bics", "teq" stay themselves)."""
    m = mnemonic.split(".")[0]
    if m in SPECIAL:
        return m
    if len(m) > 2 and m[-2:] in CONDITIONS and m[:-2] in SPECIAL:
        return m[:-2]
    return m


def instruction_cycles(mnemonic: str, operands: str, after_memory: bool, taken: bool) -> int:
    """Cortex-M4 cycles of one executed instruction at zero wait states (TRM table 3-1;
    see CYCLE_MODEL and BRANCH_REFILL)."""
    m = _base(mnemonic)
    writes_pc = "pc" in operands.split("{")[-1] if m in ("pop", "ldm", "ldmia") else \
        operands.startswith("pc")
    if m in BRANCHES:
        return 1 + (BRANCH_REFILL if taken or m in ("bl", "blx", "bx") else 0)
    if m in SINGLE_MEMORY:
        base = 1 if after_memory else 2
        return base + (BRANCH_REFILL if writes_pc else 0)
    if m in MULTIPLE:
        regs = operands[operands.find("{") + 1: operands.find("}")]
        count = 0
        for part in (r.strip() for r in regs.split(",") if r.strip()):
            if "-" in part:
                lo, hi = part.split("-")
                count += int(hi.strip().lstrip("rsd")) - int(lo.strip().lstrip("rsd")) + 1
            else:
                count += 1
        return 1 + count + (BRANCH_REFILL if writes_pc else 0)
    if writes_pc and m == "mov":
        return 1 + BRANCH_REFILL
    return CYCLE_MODEL.get(m, 1)


def run_mix(elf: Path, features: np.ndarray, work: Path) -> tuple[int, float, dict[str, int]]:
    """(instructions, estimated zero-wait Cortex-M4 cycles, executions per mnemonic) of one
    whole firmware run on ``features``, from QEMU's -d in_asm,exec,nochain log."""
    work.mkdir(parents=True, exist_ok=True)
    (work / m4_build.IN_FILE).write_bytes(m4_build._input_file(features, None, None, 0))
    log = work / "qemu.log"
    cmd = [m4_build.QEMU, "-icount", "shift=0", "-M", m4_build.QEMU_MACHINE, "-nographic",
           "-monitor", "none", "-semihosting-config", "enable=on,target=native",
           "-d", "in_asm,exec,nochain", "-D", str(log), "-kernel", str(elf.resolve())]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        sys.exit(f"QEMU failed: {proc.stdout[-300:]}")
    pending: dict[int, list[tuple[int, int, str, str]]] = {}
    blocks: dict[str, list[tuple[int, int, str, str]]] = {}
    current: list[tuple[int, int, str, str]] | None = None
    executed: list[list[tuple[int, int, str, str]]] = []
    with log.open() as fh:
        for line in fh:
            asm = _ASM.match(line)
            if asm:
                size = 4 if asm.group(3) else 2
                if current is not None:
                    current.append((int(asm.group(1), 16), size, asm.group(4), asm.group(5)))
                continue
            if line.startswith("IN:"):
                current = []
                continue
            trace = _TRACE.match(line)
            if trace:
                if current:
                    pending[current[0][0]] = current
                current = None
                host, pc = trace.group(1), int(trace.group(2), 16)
                if pc in pending:
                    blocks[host] = pending.pop(pc)
                if host in blocks:
                    executed.append(blocks[host])
    instructions, cycles = 0, 0.0
    mix: dict[str, int] = {}
    after_memory = False
    for i, block in enumerate(executed):
        nxt = executed[i + 1][0][0] if i + 1 < len(executed) else None
        for k, (addr, size, mnemonic, operands) in enumerate(block):
            last = k == len(block) - 1
            taken = last and nxt is not None and nxt != addr + size
            cycles += instruction_cycles(mnemonic, operands, after_memory, taken)
            after_memory = _base(mnemonic) in SINGLE_MEMORY
            instructions += 1
            name = _base(mnemonic)
            mix[name] = mix.get(name, 0) + 1
    log.unlink()
    return instructions, cycles, mix


def cycle_estimate(elf: Path, features: np.ndarray, work: Path) -> None:
    """Print the instruction mix and the zero-wait cycle estimate of one inference (the
    difference of a 3-clip and a 1-clip run, halved)."""
    one = run_mix(elf, features[:1], work / "mix1")
    three = run_mix(elf, np.concatenate([features[:1]] * 3), work / "mix3")
    instr = (three[0] - one[0]) / 2
    cycles = (three[1] - one[1]) / 2
    mix = {k: (three[2].get(k, 0) - one[2].get(k, 0)) / 2 for k in three[2]}
    top = sorted(mix.items(), key=lambda kv: -kv[1])[:14]
    print(f"instruction mix of one inference (QEMU translation log; {instr:,.0f} instructions):"
          " " + ", ".join(f"{k} {100 * v / instr:.1f}%" for k, v in top))
    print(f"estimated Cortex-M4 cycles at zero wait states (TRM timings, taken branch 1 + "
          f"{BRANCH_REFILL}): {cycles:,.0f} = {cycles / instr:.2f} cycles per instruction "
          f"(kws.board uses {CYCLES_PER_INSTRUCTION:g}); at 64 MHz {cycles / 64e3:.0f} ms\n")


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
    parser.add_argument("--cycle-estimate", action="store_true",
                        help="also estimate Cortex-M4 cycles from the instruction mix (CMSIS-NN)")
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
            if kernels == "cmsis_nn" and args.cycle_estimate:
                cycle_estimate(elf, features, work / "mix")
            if kernels == "cmsis_nn" and args.os_kernels:
                os_lib = m4_build.kernels_at(library, "-Os", work / "kernels-Os")
                os_elf = m4_build.build_firmware(folder, os_lib, work / "fw-cmsis_nn-Os")
                os_instr = m4_build.run_firmware(os_elf, features=features,
                                                 icount=True).instructions
                print(f"CMSIS-NN and its kernel wrappers at -Os (the Arduino IDE's level; core "
                      f"at -O2): instructions per inference min {os_instr.min():,}, mean "
                      f"{os_instr.mean():,.0f}, max {os_instr.max():,}: "
                      f"x{os_instr.mean() / instr.mean():.3f} the -O2 build\n")
                if args.cycle_estimate:
                    print("the -Os build:")
                    cycle_estimate(os_elf, features, work / "mix-Os")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

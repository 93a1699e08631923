"""Size and speed of the C front end on a Cortex-M4F (QEMU mps2-an386), against its budget.

Run: python benchmarks/bench_c_frontend.py [--keep DIR]

Prints, for the default FrontendConfig:
- flash: text + data of kws_frontend.o and kws_frontend_tables.o (arm-none-eabi-gcc -O2,
  arm-none-eabi-size), and separately the newlib memcpy/memmove they call (goal: <= 8 KB);
- RAM: sizeof(kws_frontend_t) as the ELF prints it, the front end's own .data/.bss, and the
  stack of kws_frontend_push from -fstack-usage (goal: <= 4 KB for the state);
- INSTRUCTIONS per 20 ms frame (also for an -Os build), counted deterministically: QEMU
  -icount shift=0 makes one instruction one nanosecond of virtual time and SysTick (25 MHz)
  ticks once per 40 of them (goal: <= 40,000). These are instructions executed, not Cortex-M4
  cycles: on silicon loads, multiplies and taken branches take 1-3 cycles each. A second build
  with stage marks gives the breakdown (its marks cost a few instructions each; the headline
  figure has none).
Every frame is pushed as on a device (the first window, then one stride of samples per push) for
the golden file's signals (three real clips and edge signals).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from firmware_export import cbuild  # noqa: E402
from firmware_export.frontend_tables import write_frontend_tables  # noqa: E402
from kws.config import FrontendConfig  # noqa: E402

TESTS_C = REPO / "tests" / "c"
GOLDEN = REPO / "tests" / "golden" / "frontend_golden.bin"
FLASH_GOAL, RAM_GOAL, INSTR_GOAL = 8192, 4096, 40_000


def stack_usage(su_file: Path) -> str:
    """Worst-case stack of kws_frontend_push from a GCC -fstack-usage report: its own frame plus
    the largest frame of the stage functions it calls (they do not call each other)."""
    frames = {}
    for line in su_file.read_text().splitlines():
        fields = line.split("\t")
        frames[fields[0].rsplit(":", 1)[-1]] = (int(fields[1]), fields[2])
    push, kind = frames.pop("kws_frontend_push")
    for name in ("kws_frontend_init", "kws_frontend_reset"):
        frames.pop(name, None)
    deepest = max(frames, key=lambda n: frames[n][0]) if frames else None
    if deepest is None:
        return f"{push} bytes ({kind})"
    kinds = {kind, *(k for _, k in frames.values())}
    return (f"{push + frames[deepest][0]} bytes (kws_frontend_push {push} + {deepest} "
            f"{frames[deepest][0]}; {'/'.join(sorted(kinds))}), plus memcpy/memmove's own")


def library_sizes(elf: Path, names: tuple[str, ...]) -> dict[str, int]:
    """Bytes of the named functions linked into ``elf`` (arm-none-eabi-nm -S)."""
    import subprocess

    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    sizes = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[3] in names:
            sizes[fields[3]] = int(fields[1], 16)
    return sizes


def run(build: Path) -> int:
    config = FrontendConfig()
    _, tables_c = write_frontend_tables(config, build)
    includes = [cbuild.FRONTEND_C_DIR, build, TESTS_C]
    frontend_c = cbuild.FRONTEND_C_DIR / "kws_frontend.c"

    objects = cbuild.build_m4_objects([frontend_c, tables_c], build, includes,
                                      extra=["-fstack-usage"])
    sizes = cbuild.section_sizes(objects)
    blob = cbuild.incbin_source(GOLDEN, "kws_golden", build / "golden_blob.S")
    startup, ld = TESTS_C / "m4_startup.c", TESTS_C / "mps2_an386.ld"
    elf = cbuild.build_m4_elf([startup, TESTS_C / "m4_bench.c", *objects, blob],
                              build / "bench.elf", ld, includes)
    marks = build / "marks"
    marks.mkdir()
    marked = cbuild.build_m4_objects([frontend_c], marks, includes,
                                     extra=["-include", str(TESTS_C / "m4_bench_hooks.h")])
    elf_marks = cbuild.build_m4_elf([startup, TESTS_C / "m4_bench.c", *marked, objects[1], blob],
                                    build / "bench_marks.elf", ld, includes)

    print("C front end on a Cortex-M4F (arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb "
          "-mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2), default FrontendConfig")
    print("\nflash (arm-none-eabi-size, bytes):")
    flash = 0
    for name, s in sizes.items():
        flash += s["text"] + s["data"]
        print(f"  {name:24s} text {s['text']:5d}  data {s['data']:3d}  bss {s['bss']:3d}")
    lib = library_sizes(elf, ("memcpy", "memmove"))
    print(f"  total front end (text + data): {flash} bytes (goal <= {FLASH_GOAL}) "
          f"-> {'OK' if flash <= FLASH_GOAL else 'OVER'}")
    print("  plus newlib, linked by any application anyway: "
          + ", ".join(f"{k} {v} bytes" for k, v in sorted(lib.items())))

    result = cbuild.run_qemu(elf, icount=True, timeout=300)
    if result.returncode != 0:
        print(result.stdout + result.stderr)
        return 1
    out = result.stdout
    state = int(re.search(r"sizeof\(kws_frontend_t\) = (\d+)", out).group(1))
    static = sum(s["data"] + s["bss"] for s in sizes.values())
    print("\nRAM (bytes):")
    print(f"  state: sizeof(kws_frontend_t) = {state}; static .data + .bss of the front end = "
          f"{static}; total {state + static} (goal <= {RAM_GOAL}) -> "
          f"{'OK' if state + static <= RAM_GOAL else 'OVER'}")
    print(f"  stack, worst case during kws_frontend_push: {stack_usage(build / 'kws_frontend.su')}")

    print("\nINSTRUCTIONS (not cycles), QEMU -icount shift=0 + SysTick at 25 MHz:")
    for line in out.splitlines():
        if not line.startswith("sizeof"):
            print("  " + line)
    mean = int(re.search(r"mean (\d+), max", out).group(1))
    worst = int(re.search(r"max (\d+)", out).group(1))
    print(f"  per 20 ms frame: mean {mean}, max {worst} instructions (goal <= {INSTR_GOAL}) -> "
          f"{'OK' if worst <= INSTR_GOAL else 'OVER'}")

    os_dir = build / "os"
    os_dir.mkdir()
    os_objects = cbuild.build_m4_objects([frontend_c, tables_c], os_dir, includes, opt="-Os")
    os_elf = cbuild.build_m4_elf([startup, TESTS_C / "m4_bench.c", *os_objects, blob],
                                 os_dir / "bench.elf", ld, includes)
    os_run = cbuild.run_qemu(os_elf, icount=True, timeout=300)
    if os_run.returncode == 0:
        os_flash = sum(s["text"] + s["data"] for s in cbuild.section_sizes(os_objects).values())
        os_mean, os_max = re.search(r"mean (\d+), max (\d+)", os_run.stdout).groups()
        print(f"  built with -Os instead (the Arduino default): mean {os_mean}, max {os_max} "
              f"instructions per frame, flash {os_flash} bytes")

    staged = cbuild.run_qemu(elf_marks, icount=True, timeout=300)
    if staged.returncode == 0:
        print("\nbreakdown (build with stage marks):")
        for line in staged.stdout.splitlines():
            if line.startswith("stage"):
                print("  " + line)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it (default: a "
                    "temporary folder, removed afterwards)")
    args = ap.parse_args(argv)
    missing = cbuild.missing_tools(cbuild.M4_CC, cbuild.M4_SIZE, cbuild.QEMU)
    if missing:
        print(f"cannot run: not installed: {', '.join(missing)}")
        return 2
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args.keep)
    with tempfile.TemporaryDirectory(prefix="kws_bench_c_") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())

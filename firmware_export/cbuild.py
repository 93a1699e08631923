"""Build and run the C twins: host gcc, arm-none-eabi-gcc for a Cortex-M4F, QEMU mps2-an386.

Used by the tests (tests/test_c_frontend.py) and the benchmark (benchmarks/bench_c_frontend.py);
the start-up file and linker script of the QEMU board live in tests/c/. Every build goes to a
folder the caller chooses (a temporary one, never the repository). Facts about the board are in
the shared CORTEX_M4_QEMU.md: run with semihosting, QEMU's exit status is main's return value,
``-icount shift=0`` makes one instruction one nanosecond of virtual time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from firmware_export import ExportError

FRONTEND_C_DIR = Path(__file__).resolve().parent / "c"
"""kws_frontend.c and kws_frontend.h (the tables are generated beside the build)."""

HOST_CC = "gcc"
M4_CC = "arm-none-eabi-gcc"
M4_SIZE = "arm-none-eabi-size"
QEMU = "qemu-system-arm"
QEMU_MACHINE = "mps2-an386"

WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
M4_ARCH = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
M4_LINK = ("--specs=rdimon.specs", "-nostartfiles", "-Wl,--gc-sections")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


def missing_tools(*names: str) -> list[str]:
    """The names among ``names`` that are not on PATH (empty when all are installed)."""
    return [n for n in names if shutil.which(n) is None]


def run_tool(cmd: Sequence[str], what: str, timeout: float = 300,
             cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run a compiler-like tool; a missing tool, a time-out (seconds) or a failure is an
    ExportError of one line naming ``what`` and the tool's first error line."""
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                              cwd=cwd)
    except FileNotFoundError:
        raise ExportError(f"{cmd[0]} not found: install it to build {what}") from None
    except subprocess.TimeoutExpired:
        raise ExportError(f"{cmd[0]} timed out after {timeout} s building {what}") from None
    if proc.returncode != 0:
        lines = proc.stderr.splitlines()
        first = next((ln for ln in lines if re.search(r"(^|: )(fatal )?error:", ln)), None) or \
            next((ln for ln in lines if "undefined reference" in ln), None) or \
            (lines[0] if lines else f"exit status {proc.returncode}")
        raise ExportError(f"{cmd[0]} failed on {what}: {first.strip()}")
    return proc


def _includes(include_dirs: Iterable[str | Path]) -> list[str]:
    return [f"-I{d}" for d in include_dirs]


def build_host(sources: Sequence[str | Path], output: str | Path,
               include_dirs: Iterable[str | Path] = (), flags: Sequence[str] = ("-O2",)
               ) -> Path:
    """Compile and link C99 ``sources`` with the host gcc (-Wall -Wextra -Werror plus ``flags``).

    Returns the executable's path. Raises ExportError with the compiler's first error line.
    """
    out = Path(output)
    run_tool([HOST_CC, *WARNINGS, *flags, *_includes(include_dirs), *map(str, sources),
          "-o", str(out)], out.name)
    return out


def m4_compile_flags(opt: str = "-O2") -> list[str]:
    """Compiler flags of the Cortex-M4F build: arch, ``opt``, -Wall -Wextra -Werror, sections."""
    return [*M4_ARCH, opt, *WARNINGS, "-ffunction-sections", "-fdata-sections"]


def build_m4_objects(sources: Sequence[str | Path], out_dir: str | Path,
                     include_dirs: Iterable[str | Path] = (), opt: str = "-O2",
                     extra: Sequence[str] = ()) -> list[Path]:
    """Compile each source to a Cortex-M4F object in ``out_dir``; returns the object paths."""
    out = Path(out_dir)
    objects = []
    for src in map(Path, sources):
        obj = out / (src.stem + ".o")
        run_tool([M4_CC, *m4_compile_flags(opt), *extra, *_includes(include_dirs), "-c", str(src),
              "-o", str(obj)], src.name)
        objects.append(obj)
    return objects


def build_m4_elf(sources: Sequence[str | Path], output: str | Path, linker_script: str | Path,
                 include_dirs: Iterable[str | Path] = (), opt: str = "-O2",
                 extra: Sequence[str] = ()) -> Path:
    """Compile and link a Cortex-M4F ELF for QEMU mps2-an386 (semihosting, newlib rdimon).

    ``sources`` must include the start-up file (vector table, reset handler). Returns the ELF.
    """
    out = Path(output)
    run_tool([M4_CC, *m4_compile_flags(opt), *extra, *M4_LINK, "-T", str(linker_script),
          *_includes(include_dirs), *map(str, sources), "-o", str(out)], out.name)
    return out


def incbin_source(binary: str | Path, symbol: str, out_path: str | Path) -> Path:
    """Write an assembler file that links ``binary`` into .rodata between ``symbol``_start and
    ``symbol``_end (4-byte aligned). Returns its path."""
    path = Path(binary).resolve()
    if '"' in str(path) or "\\" in str(path):
        raise ExportError(f"cannot .incbin a path with quotes or backslashes: {path}")
    text = (f'    .section .rodata.{symbol}, "a"\n    .balign 4\n'
            f"    .global {symbol}_start\n{symbol}_start:\n"
            f'    .incbin "{path}"\n'
            f"    .global {symbol}_end\n{symbol}_end:\n")
    out = Path(out_path)
    out.write_text(text)
    return out


def run_qemu(elf: str | Path, icount: bool = False, timeout: float = 120,
             cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run an ELF on the Cortex-M4F board under QEMU with semihosting; returns the finished
    process (returncode = main's return value, stdout = what it printed). ``icount`` makes
    virtual time count instructions (-icount shift=0). Raises ExportError on a timeout."""
    cmd = [QEMU, "-M", QEMU_MACHINE, "-nographic", "-monitor", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
    if icount:
        cmd[1:1] = ["-icount", "shift=0"]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except FileNotFoundError:
        raise ExportError(f"{QEMU} not found: install qemu-system-arm to run {elf}") from None
    except subprocess.TimeoutExpired:
        raise ExportError(f"{Path(elf).name} did not finish within {timeout} s under QEMU "
                          "(a fault loop, or semihosting not enabled?)") from None


def section_sizes(objects: Sequence[str | Path]) -> dict[str, dict[str, int]]:
    """Bytes of text (code + read-only data), data and bss of each object file, from
    arm-none-eabi-size (Berkeley format): {file name: {"text": .., "data": .., "bss": ..}}."""
    proc = run_tool([M4_SIZE, "-B", *map(str, objects)], "size report")
    sizes = {}
    for line in proc.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 6:
            sizes[Path(fields[5]).name] = {"text": int(fields[0]), "data": int(fields[1]),
                                           "bss": int(fields[2])}
    return sizes

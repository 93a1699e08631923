"""An exported model as Cortex-M4 firmware: TensorFlow Lite Micro under QEMU ``mps2-an386``.

The firmware (``firmware_export/m4/kws_m4_main.cc``) links the model array of a
``kws export --board generic`` folder, the C front end and detector exactly as that folder ships
them, and TensorFlow Lite Micro from the Arduino library tree in ``../shared/third_party`` with
either of two kernel sets:

- ``"cmsis_nn"``: the Arduino tree as it is (its 8 kernels conv, depthwise_conv, pooling,
  softmax, fully_connected, add, mul and svdf are the CMSIS-NN versions, built with -DCMSIS_NN,
  plus the CMSIS-NN library itself);
- ``"reference"``: the same tree with those 8 replaced by the portable reference kernels of
  ``tflite-micro-reference-kernels`` (same tflite-micro commit).

It reads int8 feature clips or int16 PCM clips from a host file through semihosting, runs the
interpreter on each, and writes the int8 scores (and the front end's features, for PCM) back;
it prints the arena it used, the smallest arena that runs (a binary search, on request) and
instructions per inference and per operator (SysTick under ``-icount shift=0``: instructions
executed, not Cortex-M4 cycles).

Building the library takes about 5 minutes on 2 cores, so it is built once into a cache folder
named by a hash of everything that goes into it (compiler version, flags, every source and
header, this module's ``LIBRARY_VERSION``): ``$KWS_TFLM_CACHE/tflm-m4-<hash>`` when that
variable is set, else ``~/.cache/kws/tflm-m4-<hash>`` (``$XDG_CACHE_HOME/kws`` when set). A lock
file makes a second process wait for the first build instead of repeating it.

Used by tests/test_m4_firmware.py and benchmarks/bench_m4_firmware.py.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from firmware_export import ExportError
from firmware_export.cbuild import M4_ARCH, M4_SIZE, QEMU, QEMU_MACHINE, missing_tools

REPO = Path(__file__).resolve().parents[1]
THIRD_PARTY = Path(os.environ.get("KWS_THIRD_PARTY", REPO.parent / "shared" / "third_party"))
"""Read-only third-party sources (``../shared/third_party`` beside the checkout, or
``$KWS_THIRD_PARTY``); never copied into the repository."""
TFLM_SRC = THIRD_PARTY / "Arduino_TensorFlowLite" / "src"
REFERENCE_KERNELS = THIRD_PARTY / "tflite-micro-reference-kernels"
FIRMWARE_DIR = Path(__file__).resolve().parent / "m4"
"""kws_m4_main.cc, the firmware's main."""
BOARD_DIR = REPO / "tests" / "c"
"""m4_startup.c and mps2_an386.ld: the QEMU board's start-up file and linker script, shared
with the C front-end and detector tests."""

KERNEL_SETS = ("cmsis_nn", "reference")
OPTIMIZED_KERNELS = ("add", "conv", "depthwise_conv", "fully_connected", "mul", "pooling",
                     "softmax", "svdf")
"""The kernels the Arduino tree ships only in their CMSIS-NN form (kernels/cmsis_nn/*.cpp)."""
LIBRARY_VERSION = 1
"""Bump to rebuild every cached library (a change to how the library is built)."""

CXX = "arm-none-eabi-g++"
CC = "arm-none-eabi-gcc"
LIB_DEFINES = ("-DARDUINO", "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON",
               "-DTF_LITE_MCU_DEBUG_LOG")
"""The Arduino tree renamed TF_LITE_STATIC_MEMORY, CMSIS_NN, NDEBUG and
TF_LITE_USE_GLOBAL_CMATH_FUNCTIONS to ARDUINO, except in core/c/common.*, which still tests
TF_LITE_STATIC_MEMORY: a bare-metal build defines both (third_party/README.md)."""
LIB_CXXFLAGS = (*M4_ARCH, "-O2", "-std=c++17", "-fno-rtti", "-fno-exceptions",
                "-fno-threadsafe-statics", "-ffunction-sections", "-fdata-sections",
                *LIB_DEFINES)
LIB_CFLAGS = (*M4_ARCH, "-O2", "-std=gnu11", "-ffunction-sections", "-fdata-sections",
              *LIB_DEFINES)
COMPILE_TIMEOUT_S = 600
"""Per source file; the largest TFLite Micro file takes well under a minute."""
OUR_WARNINGS = ("-Wall", "-Wextra", "-Werror")
LINK_FLAGS = ("--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles",
              "-Wl,--gc-sections")

LEFT_OUT = re.compile(
    r"^tensorflow/lite/(experimental/|micro/(system_setup|micro_time|debug_log|test_helpers"
    r"|test_helper_custom_ops|fake_micro_context|mock_micro_graph|recording_micro_allocator)\.cpp"
    r"|micro/kernels/kernel_runner\.cpp|micro/kernels/cmsis_nn/)")
"""Left out of the core library: the Arduino target files (they include Arduino.h; the firmware
provides DebugLog, InitializeTarget and the tick functions), test helpers, the recording
allocator, experimental/, and the CMSIS-NN kernels (they form the kernel archive of their set).
"""

IN_FILE = "kws_m4_in.bin"
OUT_FILE = "kws_m4_out.bin"
"""Names the firmware opens through semihosting, relative to QEMU's working directory."""
IN_MAGIC = b"KWSM4IN1"
OUT_MAGIC = b"KWSM4OU1"
MODE_FEATURES = 0
MODE_PCM = 1
MODE_STREAM = 2
FLAG_SEARCH_ARENA = 1
FLAG_PROFILE_OPS = 2
INSTRUCTIONS_PER_TICK = 40
"""SysTick from the 25 MHz processor clock at -icount shift=0 (1 instruction per ns)."""


# ------------------------------------------------------------------------------------------
# The TFLite Micro library, cached
# ------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TflmLibrary:
    """One built TFLite Micro library: archives to link (in order) and what to compile with."""

    kernels: str
    """"cmsis_nn" or "reference"."""
    folder: Path
    """The cache folder it lives in."""
    archives: tuple[Path, ...]
    """libkws_kernels_<set>.a, libtflm_core.a (and libcmsis_nn.a for "cmsis_nn")."""
    cxxflags: tuple[str, ...]
    """Flags and include folders a translation unit using the library must be compiled with."""


def default_cache_root() -> Path:
    """``$KWS_TFLM_CACHE``, else ``$XDG_CACHE_HOME/kws``, else ``~/.cache/kws``."""
    if os.environ.get("KWS_TFLM_CACHE"):
        return Path(os.environ["KWS_TFLM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "kws"


def _check_third_party() -> None:
    for path in (TFLM_SRC / "tensorflow" / "lite" / "micro" / "micro_interpreter.cpp",
                 *(REFERENCE_KERNELS / f"{k}.cc" for k in OPTIMIZED_KERNELS)):
        if not path.is_file():
            raise ExportError(f"third-party source {path} not found: ../shared/third_party must "
                              "sit beside the checkout (or set KWS_THIRD_PARTY)")


def require_tools() -> None:
    """Raise ExportError naming every missing tool (and the C++ headers) the M4 build needs."""
    missing = missing_tools(CXX, CC, M4_SIZE, QEMU)
    if missing:
        raise ExportError(f"missing {', '.join(missing)}: apt-get install gcc-arm-none-eabi "
                          "libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm")
    probe = subprocess.run([CXX, *M4_ARCH, "-x", "c++", "-E", "-", "-o", os.devnull],
                           input="#include <algorithm>\n", capture_output=True, text=True)
    if probe.returncode != 0:
        raise ExportError(f"{CXX} cannot find <algorithm>: apt-get install -y "
                          "--no-install-recommends libstdc++-arm-none-eabi-newlib")


def _core_sources() -> list[Path]:
    tree = TFLM_SRC / "tensorflow"
    out = [p for p in sorted(tree.rglob("*")) if p.suffix in (".cpp", ".c")
           and not LEFT_OUT.match(p.relative_to(TFLM_SRC).as_posix())]
    return out


def _kernel_sources(kernels: str) -> list[Path]:
    if kernels == "cmsis_nn":
        folder = TFLM_SRC / "tensorflow" / "lite" / "micro" / "kernels" / "cmsis_nn"
        return [folder / f"{k}.cpp" for k in OPTIMIZED_KERNELS]
    return [REFERENCE_KERNELS / f"{k}.cc" for k in OPTIMIZED_KERNELS]


def _cmsis_nn_sources() -> list[Path]:
    return sorted((TFLM_SRC / "third_party" / "cmsis_nn" / "Source").rglob("*.c"))


def _compiler_id() -> str:
    proc = subprocess.run([CXX, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.splitlines()[0] if proc.stdout else "unknown"


def library_key() -> str:
    """Hex digest of everything the cached library depends on (16 digits)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([LIBRARY_VERSION, _compiler_id(), LIB_CXXFLAGS, LIB_CFLAGS,
                              LEFT_OUT.pattern, OPTIMIZED_KERNELS]).encode())
    roots = [TFLM_SRC / "tensorflow", TFLM_SRC / "third_party", REFERENCE_KERNELS]
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(path.relative_to(THIRD_PARTY).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _object_name(src: Path) -> str:
    rel = src.relative_to(THIRD_PARTY).as_posix()
    return re.sub(r"[^A-Za-z0-9_.]", "_", rel) + ".o"


def _compile_all(jobs: list[tuple[list[str], str]], log: Path, workers: int) -> None:
    """Run compiler command lines in parallel; every one's stderr goes to ``log``."""
    def run(job: tuple[list[str], str]) -> tuple[str, subprocess.CompletedProcess]:
        cmd, name = job
        try:
            return name, subprocess.run(cmd, capture_output=True, text=True, check=False,
                                        timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return name, subprocess.CompletedProcess(cmd, 124, "", f"error: {cmd[0]} timed out "
                                                     f"after {COMPILE_TIMEOUT_S} s")

    failures = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, log.open("a") as out:
        for name, proc in pool.map(run, jobs):
            if proc.stderr:
                out.write(f"== {name}\n{proc.stderr}")
            if proc.returncode != 0:
                failures.append((name, proc.stderr))
    if failures:
        name, err = failures[0]
        first = next((ln for ln in err.splitlines() if "error" in ln), err.strip()[:200])
        raise ExportError(f"TFLite Micro build failed on {name} ({len(failures)} files; "
                          f"compiler output in {log}): {first}")


def _archive(objects: Sequence[Path], archive: Path) -> None:
    proc = subprocess.run(["arm-none-eabi-ar", "rcs", str(archive), *map(str, objects)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ExportError(f"arm-none-eabi-ar failed on {archive.name}: {proc.stderr.strip()}")


def _build_library(folder: Path, workers: int) -> None:
    """Compile every archive into ``folder`` (a fresh, empty folder)."""
    log = folder / "build.log"
    include = [f"-I{TFLM_SRC}"]
    groups: dict[str, list[tuple[Path, list[str]]]] = {
        "tflm_core": [(s, [*(LIB_CXXFLAGS if s.suffix != ".c" else LIB_CFLAGS), *include])
                      for s in _core_sources()],
        "kws_kernels_cmsis_nn": [(s, [*LIB_CXXFLAGS, "-DCMSIS_NN", *include])
                                 for s in _kernel_sources("cmsis_nn")],
        "kws_kernels_reference": [(s, [*LIB_CXXFLAGS, *include])
                                  for s in _kernel_sources("reference")],
        "cmsis_nn": [(s, [*LIB_CFLAGS, "-DCMSIS_NN", *include]) for s in _cmsis_nn_sources()],
    }
    jobs, members = [], {}
    for group, entries in groups.items():
        sub = folder / group
        sub.mkdir()
        members[group] = []
        for src, flags in entries:
            obj = sub / _object_name(src)
            tool = CC if src.suffix == ".c" else CXX
            if src.suffix == ".cc":
                flags = [*flags, "-x", "c++"]
            jobs.append(([tool, *flags, "-c", str(src), "-o", str(obj)], src.name))
            members[group].append(obj)
    _compile_all(jobs, log, workers)
    for group, objects in members.items():
        _archive(objects, folder / f"lib{group}.a")
        shutil.rmtree(folder / group)
    (folder / "manifest.json").write_text(json.dumps(
        {"version": LIBRARY_VERSION, "compiler": _compiler_id(), "cxxflags": LIB_CXXFLAGS,
         "cflags": LIB_CFLAGS, "objects": {g: len(m) for g, m in members.items()}},
        indent=2) + "\n")


def tflm_library(kernels: str, cache_root: str | Path | None = None,
                 workers: int = 2) -> TflmLibrary:
    """The TFLite Micro library for ``kernels``, built (``workers`` compilers at a time) into
    the cache on first use and reused afterwards. Raises ExportError when a tool or the
    third-party tree is missing or the build fails."""
    if kernels not in KERNEL_SETS:
        raise ExportError(f"kernels={kernels!r} must be one of {', '.join(KERNEL_SETS)}")
    require_tools()
    _check_third_party()
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"tflm-m4-{library_key()}"
    with (root / f"{folder.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here for the first build
        if not (folder / "manifest.json").is_file():
            for stale in root.glob(f"{folder.name}.tmp-*"):  # left by a killed build
                shutil.rmtree(stale, ignore_errors=True)
            work = Path(tempfile.mkdtemp(prefix=f"{folder.name}.tmp-", dir=root))
            try:
                _build_library(work, workers)
                if folder.exists():
                    shutil.rmtree(folder)
                work.rename(folder)
            finally:
                if work.exists():
                    shutil.rmtree(work, ignore_errors=True)
    archives = [folder / f"libkws_kernels_{kernels}.a", folder / "libtflm_core.a"]
    if kernels == "cmsis_nn":
        archives.append(folder / "libcmsis_nn.a")
    return TflmLibrary(kernels, folder, tuple(archives),
                       (*LIB_CXXFLAGS, "-isystem", str(TFLM_SRC)))


def kernels_at(library: TflmLibrary, opt: str, out_dir: str | Path,
               workers: int = 2) -> TflmLibrary:
    """``library`` (the "cmsis_nn" set) with its CMSIS-NN kernel wrappers and the CMSIS-NN
    library recompiled at ``opt`` (e.g. "-Os", the Arduino IDE's level for the whole
    Arduino_TensorFlowLite library) into ``out_dir``; the interpreter core stays as cached.
    Not cached (about a minute on 2 cores). Raises ExportError when the build fails."""
    if library.kernels != "cmsis_nn":
        raise ExportError("kernels_at rebuilds the cmsis_nn kernel set only")
    if opt not in ("-O0", "-O1", "-O2", "-O3", "-Os", "-Oz"):
        raise ExportError(f"opt={opt!r} is not a gcc optimization level")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cxx = [opt if f == "-O2" else f for f in LIB_CXXFLAGS]
    cc = [opt if f == "-O2" else f for f in LIB_CFLAGS]
    include = [f"-I{TFLM_SRC}"]
    jobs: list[tuple[list[str], str]] = []
    members: dict[str, list[Path]] = {"kws_kernels_cmsis_nn": [], "cmsis_nn": []}
    for src in _kernel_sources("cmsis_nn"):
        obj = out / _object_name(src)
        jobs.append(([CXX, *cxx, "-DCMSIS_NN", *include, "-c", str(src), "-o", str(obj)],
                     src.name))
        members["kws_kernels_cmsis_nn"].append(obj)
    for src in _cmsis_nn_sources():
        obj = out / _object_name(src)
        jobs.append(([CC, *cc, "-DCMSIS_NN", *include, "-c", str(src), "-o", str(obj)],
                     src.name))
        members["cmsis_nn"].append(obj)
    log = out / "build.log"
    log.write_text("")
    _compile_all(jobs, log, workers)
    for group, objects in members.items():
        archive = out / f"lib{group}.a"
        archive.unlink(missing_ok=True)
        _archive(objects, archive)
    core = library.folder / "libtflm_core.a"
    return TflmLibrary("cmsis_nn", out, (out / "libkws_kernels_cmsis_nn.a", core,
                                         out / "libcmsis_nn.a"), library.cxxflags)


# ------------------------------------------------------------------------------------------
# The firmware
# ------------------------------------------------------------------------------------------

EXPORT_FILES = ("kws_model_data.cc", "kws_model_data.h", "kws_model_ops.h",
                "kws_model_settings.h", "kws_frontend.c", "kws_frontend.h",
                "kws_frontend_tables.c", "kws_frontend_tables.h", "kws_detector.c",
                "kws_detector.h", "kws_stream.c", "kws_stream.h", "main.cc")
"""What build_firmware and build_generic_main need from a `kws export --board generic`."""
OUR_CFLAGS = (*M4_ARCH, "-O2", "-std=c99", *OUR_WARNINGS, "-ffunction-sections",
              "-fdata-sections")


def _check_export(export: Path) -> None:
    missing = [f for f in EXPORT_FILES if not (export / f).is_file()]
    if missing:
        raise ExportError(f"{export} is not a `kws export --board generic` folder: "
                          f"no {', '.join(missing)}")


def _build_elf(sources: Sequence[Path], include: Sequence[Path], library: TflmLibrary,
               out: Path, name: str) -> Path:
    """Compile ``sources`` (C99 or C++17, -Wall -Wextra -Werror) with the board's start-up
    file, link them with ``library`` into ``out/name`` (a link map beside it); returns it."""
    out.mkdir(parents=True, exist_ok=True)
    incs = [f"-I{d}" for d in include]
    jobs, objects = [], []
    for src in (*sources, BOARD_DIR / "m4_startup.c"):
        obj = out / f"{src.stem}.o"
        if src.suffix == ".c":
            cmd = [CC, *OUR_CFLAGS, *incs, "-c", str(src), "-o", str(obj)]
        else:
            cmd = [CXX, *library.cxxflags, *OUR_WARNINGS, *incs, "-c", str(src), "-o", str(obj)]
        jobs.append((cmd, src.name))
        objects.append(obj)
    if len({o.name for o in objects}) != len(objects):
        raise ExportError(f"two sources of {name} share a file name: {[s.name for s in sources]}")
    log = out / "build.log"
    log.write_text("")
    _compile_all(jobs, log, 2)
    elf = out / name
    cmd = [CXX, *M4_ARCH, *LINK_FLAGS, "-T", str(BOARD_DIR / "mps2_an386.ld"),
           f"-Wl,-Map={elf.with_suffix('.map')}", *map(str, objects),
           *map(str, library.archives), "-lm", "-o", str(elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if "undefined" in ln or "error" in ln),
                     proc.stderr.strip()[:300])
        raise ExportError(f"linking {elf.name} failed: {first}")
    return elf


def build_firmware(export_dir: str | Path, library: TflmLibrary, out_dir: str | Path) -> Path:
    """The measuring firmware (m4/kws_m4_main.cc) for the export in ``export_dir``, built
    against ``library`` in ``out_dir``; returns the ELF (``kws_m4_<kernels>.elf``). It takes
    the export's model array, settings, front end and detector as they are."""
    export = Path(export_dir)
    _check_export(export)
    sources = [export / "kws_frontend.c", export / "kws_frontend_tables.c",
               export / "kws_detector.c", export / "kws_stream.c", export / "kws_model_data.cc",
               FIRMWARE_DIR / "kws_m4_main.cc", FIRMWARE_DIR / "m4_target.cc"]
    return _build_elf(sources, [export, FIRMWARE_DIR], library, Path(out_dir),
                      f"kws_m4_{library.kernels}.elf")


def build_generic_main(export_dir: str | Path, library: TflmLibrary,
                       out_dir: str | Path) -> Path:
    """The export's own generic main.cc, every C and C++ file of the export folder, as a
    firmware whose board_read_audio() reads a host file (m4/m4_board_audio.c); returns the ELF
    (``kws_generic_<kernels>.elf``). Run it with run_generic_main."""
    export = Path(export_dir)
    _check_export(export)
    sources = sorted(p for p in export.iterdir() if p.suffix in (".c", ".cc", ".cpp"))
    sources += [FIRMWARE_DIR / "m4_target.cc", FIRMWARE_DIR / "m4_board_audio.c"]
    return _build_elf(sources, [export, FIRMWARE_DIR], library, Path(out_dir),
                      f"kws_generic_{library.kernels}.elf")


# ------------------------------------------------------------------------------------------
# Running it
# ------------------------------------------------------------------------------------------

@dataclasses.dataclass
class M4Run:
    """What one firmware run reported."""

    scores: np.ndarray
    """int8 (N, num_labels): the output tensor of every inference."""
    features: np.ndarray | None
    """int8 (N, frames, coeffs): the C front end's features, for PCM input (else None)."""
    instructions: np.ndarray
    """int64 (N,): instructions per Invoke() (SysTick x 40; meaningful under icount only)."""
    times_ms: np.ndarray
    """int64 (N,): each result's time in a stream (end of its last frame), else -1."""
    detections: list[tuple[int, int, int]]
    """Stream mode: (label index, time_ms, score 0..255) of every detection, in order."""
    arena_used: int
    """interpreter.arena_used_bytes() after AllocateTensors, bytes."""
    arena_size: int
    """The arena the firmware was built with (KWS_TENSOR_ARENA_SIZE), bytes."""
    smallest_arena: int | None
    """Smallest arena size that allocates and runs (binary search), when asked for."""
    op_instructions: list[tuple[str, int]]
    """(operator name, mean instructions per inference) for each node in order, when asked."""
    calibration_ticks: int
    """SysTick ticks of a 20,001-instruction loop (500 under icount)."""
    stdout: str
    frontend_instructions: int | None = None
    """PCM input: instructions inside kws_frontend_push over every clip (SysTick x 40; under
    icount only), else None. The first clip counts twice (read again after the arena search)."""
    frontend_frames: int | None = None
    """PCM input: the frames those calls made (same counting as frontend_instructions)."""


def _input_file(features: np.ndarray | None, pcm: np.ndarray | None,
                stream: np.ndarray | None, flags: int) -> bytes:
    """The firmware's input file (see kws_m4_main.cc) for exactly one of the three inputs."""
    if sum(x is not None for x in (features, pcm, stream)) != 1:
        raise ExportError("give exactly one of features (int8), pcm (int16 clips) or stream")
    if features is not None:
        data = np.ascontiguousarray(features, dtype=np.int8)
        if data.ndim != 3 or data.shape[0] == 0:
            raise ExportError(f"features must be (clips, frames, coeffs), got {data.shape}")
        mode, count, record = MODE_FEATURES, data.shape[0], data.shape[1] * data.shape[2]
    elif pcm is not None:
        data = np.ascontiguousarray(pcm, dtype="<i2")
        if data.ndim != 2 or data.shape[0] == 0:
            raise ExportError(f"pcm must be (clips, samples), got {data.shape}")
        mode, count, record = MODE_PCM, data.shape[0], data.shape[1]
    else:
        data = np.ascontiguousarray(stream, dtype="<i2")
        if data.ndim != 1 or data.size == 0:
            raise ExportError(f"stream must be (samples,), got {data.shape}")
        mode, count, record = MODE_STREAM, 1, data.size
    return IN_MAGIC + struct.pack("<4I", mode, count, record, flags) + data.tobytes()


def _parse_output(blob: bytes) -> np.ndarray:
    """The records of the firmware's output file (see kws_m4_main.cc), a structured array."""
    if len(blob) < 20 or blob[:8] != OUT_MAGIC:
        raise ExportError("the firmware's output file is missing or has no header")
    count, labels, feature_bytes = struct.unpack("<3I", blob[8:20])
    dtype = np.dtype([("ticks", "<u4"), ("time_ms", "<i4"), ("scores", "i1", (labels,)),
                      ("features", "i1", (feature_bytes,))])
    body = blob[20:]
    if len(body) != count * dtype.itemsize:
        raise ExportError(f"the firmware's output file holds {len(body)} bytes after its header,"
                          f" {count * dtype.itemsize} expected for {count} records")
    return np.frombuffer(body, dtype=dtype)


def _field(stdout: str, key: str) -> int | None:
    match = re.search(rf"^{key}=(\d+)$", stdout, re.M)
    return int(match.group(1)) if match else None


def run_qemu(elf: str | Path, files: dict[str, bytes], read_back: str | None = None,
             icount: bool = False, timeout: float = 1800) -> tuple[str, bytes]:
    """Run ``elf`` under QEMU with semihosting in a fresh working directory holding ``files``
    ({name: content}); returns (its stdout, the content of ``read_back`` or b"" when it wrote
    none). ``icount``: -icount shift=0. Raises ExportError on a non-zero exit or a timeout."""
    with tempfile.TemporaryDirectory(prefix="kws-m4-run-") as tmp:
        for name, content in files.items():
            Path(tmp, name).write_bytes(content)
        cmd = [QEMU, "-M", QEMU_MACHINE, "-nographic", "-monitor", "none",
               "-semihosting-config", "enable=on,target=native", "-kernel",
               str(Path(elf).resolve())]
        if icount:
            cmd[1:1] = ["-icount", "shift=0"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except FileNotFoundError:
            raise ExportError(f"{QEMU} not found: install qemu-system-arm") from None
        except subprocess.TimeoutExpired:
            raise ExportError(f"{Path(elf).name} did not finish within {timeout} s under "
                              "QEMU") from None
        if proc.returncode != 0:
            tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            raise ExportError(f"{Path(elf).name} exited with status {proc.returncode} under "
                              f"QEMU: {tail or proc.stderr.strip()[:300]}")
        out_path = Path(tmp, read_back) if read_back else None
        raw = out_path.read_bytes() if out_path is not None and out_path.is_file() else b""
    return proc.stdout, raw


def run_firmware(elf: str | Path, *, features: np.ndarray | None = None,
                 pcm: np.ndarray | None = None, stream: np.ndarray | None = None,
                 frames: int = 49, coeffs: int = 10,
                 search_arena: bool = False, profile_ops: bool = False, icount: bool = False,
                 timeout: float = 1800) -> M4Run:
    """Run the build_firmware ELF under QEMU on int8 ``features`` (clips, frames, coeffs),
    int16 ``pcm`` clips (clips, samples) or one int16 ``stream`` (samples,) and return what it
    reported. ``icount`` makes the instruction figures exact (-icount shift=0; slower). Raises
    ExportError when it fails or times out."""
    flags = (FLAG_SEARCH_ARENA if search_arena else 0) | (FLAG_PROFILE_OPS if profile_ops else 0)
    blob = _input_file(features, pcm, stream, flags)
    stdout, raw = run_qemu(elf, {IN_FILE: blob}, OUT_FILE, icount, timeout)
    rec = _parse_output(raw)
    feats = (rec["features"].reshape(len(rec), frames, coeffs).copy()
             if rec.dtype["features"].shape[0] else None)
    detections = [(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                  for m in re.finditer(r"^heard (\d+) (\d+) (\d+)$", stdout, re.M)]
    ops = [(m.group(2), int(m.group(3)) * INSTRUCTIONS_PER_TICK)
           for m in re.finditer(r"^op (\d+) (\S+) ticks=(\d+)$", stdout, re.M)]
    arena_used, arena_size = _field(stdout, "arena_used"), _field(stdout, "arena_size")
    calibration = _field(stdout, "calibration_ticks")
    if arena_used is None or arena_size is None or calibration is None:
        raise ExportError(f"the firmware did not report its arena: {stdout[-300:]}")
    instructions = rec["ticks"].astype(np.int64) * INSTRUCTIONS_PER_TICK
    fe_ticks = _field(stdout, "frontend_ticks")
    return M4Run(rec["scores"].copy(), feats, instructions, rec["time_ms"].astype(np.int64),
                 detections, arena_used, arena_size, _field(stdout, "smallest_arena"), ops,
                 calibration, stdout,
                 None if fe_ticks is None else fe_ticks * INSTRUCTIONS_PER_TICK,
                 _field(stdout, "frontend_frames"))


HEARD = re.compile(r"^Heard (\S+) \((\d+)\) @(\d+)ms$", re.M)
"""The log line of generic/main.cc: label, averaged score 0..255, time in ms."""


def run_generic_main(elf: str | Path, audio: np.ndarray,
                     timeout: float = 1800) -> tuple[list[tuple[str, int, int]], str]:
    """Run the build_generic_main ELF on int16 ``audio`` (samples,) as its microphone; returns
    ((label, time_ms, score) of every "Heard ..." line, in order; the whole stdout). Raises
    ExportError unless the firmware reached the end of the audio."""
    data = np.ascontiguousarray(audio, dtype="<i2")
    if data.ndim != 1:
        raise ExportError(f"audio must be (samples,), got {data.shape}")
    stdout, _ = run_qemu(elf, {"kws_m4_audio.raw": data.tobytes()}, None, False, timeout)
    if "end of audio" not in stdout:
        raise ExportError(f"{Path(elf).name} stopped before the end of the audio: "
                          f"{stdout[-300:]}")
    heard = [(m.group(1), int(m.group(3)), int(m.group(2))) for m in HEARD.finditer(stdout)]
    return heard, stdout


# ------------------------------------------------------------------------------------------
# Sizes
# ------------------------------------------------------------------------------------------

def image_size(elf: str | Path) -> dict[str, int]:
    """Bytes of the linked image (arm-none-eabi-size, Berkeley): text, data, bss, flash
    (text + data) and ram (data + bss; the heap and stack above it are not counted)."""
    proc = subprocess.run([M4_SIZE, "-B", str(elf)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ExportError(f"{M4_SIZE} failed on {elf}: {proc.stderr.strip()}")
    text, data, bss = map(int, proc.stdout.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss}


MAP_LINE = re.compile(r"^ (?:\.\S+|COMMON)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$")
"""An input section of a GNU ld map: [name] address size origin (the name may sit on the line
before); symbol lines (one number) and *fill* lines do not match."""
FLASH_ONLY = (".text", ".ARM.exidx", ".ARM.extab", ".init_array", ".fini_array",
              ".preinit_array")


def size_by_part(map_file: str | Path) -> dict[str, dict[str, int]]:
    """Flash and RAM bytes of the linked image per part, from the GNU ld map file: each input
    section's size is charged to its archive (libtflm_core.a, libcmsis_nn.a, libc_nano.a ...)
    or object file. .data counts in both (its initial values are in flash); merged strings are
    charged to the first part that brought them. Returns {part: {"flash": .., "ram": ..}};
    alignment padding is not counted."""
    parts: dict[str, dict[str, int]] = {}
    section = None
    in_map = False
    reached = 0  # end address of what the current output section has charged so far
    for line in Path(map_file).read_text().splitlines():
        if line.startswith("Linker script and memory map"):
            in_map = True
            continue
        top = re.match(r"^(\.[^\s]+)", line)
        if top:
            section, reached = top.group(1), 0
            continue
        match = MAP_LINE.match(line)
        if not in_map or match is None or section not in (*FLASH_ONLY, ".data", ".bss"):
            continue
        start, size, origin = int(match.group(1), 16), int(match.group(2), 16), match.group(3)
        # merged strings (.rodata.*.str1.*) share addresses: charge only the bytes not yet seen
        size = max(0, start + size - max(start, reached))
        reached = max(reached, start + size)
        lib = re.match(r"^(.*?\.a)\(", origin)
        entry = parts.setdefault(Path(lib.group(1) if lib else origin).name,
                                 {"flash": 0, "ram": 0})
        entry["flash"] += size if section != ".bss" else 0
        entry["ram"] += size if section in (".data", ".bss") else 0
    return parts


# ------------------------------------------------------------------------------------------
# A model's board measurement (kws measure-board)
# ------------------------------------------------------------------------------------------

MEASURE_CLIPS = 8
"""PCM clips a measurement runs (instructions per inference vary by a few hundred of ~8 M
between inputs; the largest is used)."""
TFLM_PARTS = ("libtflm_core.a", "libkws_kernels_cmsis_nn.a", "libkws_kernels_reference.a",
              "libcmsis_nn.a")
STARTUP_PARTS = ("m4_startup.o", "m4_target.o", "m4_board_audio.o")
RUNTIME_PREFIXES = ("libstdc++", "libsupc++", "libgcc", "crt", "libc", "libg", "libm",
                    "librdimon", "libnosys")


def group_parts(parts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """:func:`size_by_part`'s entries summed into ``tflite_micro`` (interpreter, kernels,
    CMSIS-NN), ``runtime`` (newlib-nano, libgcc, libstdc++ pieces, semihosting), ``startup``
    (start-up file, target functions), ``export`` (the export's objects: model array, front
    end, detector, stream, main.cc with its arena) and ``other`` (linker-made): bytes."""
    out: dict[str, dict[str, int]] = {}
    for name, size in parts.items():
        if name in TFLM_PARTS:
            group = "tflite_micro"
        elif name in STARTUP_PARTS:
            group = "startup"
        elif name.startswith(RUNTIME_PREFIXES):
            group = "runtime"
        elif name.endswith(".o"):
            group = "export"
        else:
            group = "other"
        entry = out.setdefault(group, {"flash": 0, "ram": 0})
        entry["flash"] += size["flash"]
        entry["ram"] += size["ram"]
    return out


def measurement_clips(samples: np.ndarray, clip_samples: int,
                      count: int = MEASURE_CLIPS) -> np.ndarray:
    """int16 (count, clip_samples): windows of ``samples`` half a clip apart (zero-padded
    past its end), the inputs of a measurement."""
    step = max(1, clip_samples // 2)
    out = np.zeros((count, clip_samples), dtype=np.int16)
    for i in range(count):
        part = samples[i * step:i * step + clip_samples]
        out[i, :part.size] = part
    return out


def _tool_version(cmd: str) -> str:
    try:
        proc = subprocess.run([cmd, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return proc.stdout.splitlines()[0].strip() if proc.stdout else "unknown"


def measure_model(model_path: str | Path, audio: np.ndarray, clips: int = MEASURE_CLIPS,
                  work_dir: str | Path | None = None,
                  cache_root: str | Path | None = None) -> dict[str, object]:
    """Measure a model on the emulated Cortex-M4 with TFLite Micro + CMSIS-NN: returns the
    ``board_measurement`` (JSON-able; kws.board.parse_measurement reads it).

    Exports the model (``kws export --board generic`` into ``work_dir``, a temporary folder
    when None), builds the measuring firmware and the export's own main.cc against the cached
    library (built on first use, minutes), and runs ``clips`` PCM windows of ``audio`` (int16,
    the model's sample rate) under ``-icount shift=0``: instructions per inference (min, mean,
    max; instructions executed, not cycles), instructions of the C front end per frame, the
    smallest arena that allocates and runs, instructions per operator, and flash/RAM of the
    linked main.cc image by part (bytes). Raises ExportError (tools, build, run) or
    ModelError (the model)."""
    from firmware_export.export import export_model
    from kws.board import MEASUREMENT_KERNELS, MEASUREMENT_VERSION
    from kws.model_edit import strip_for_device
    from kws.model_file import content_hash
    from kws.runtime import read_metadata
    from kws.tflite_ops import parse_tflite

    path = Path(model_path)
    meta = read_metadata(path)
    device = strip_for_device(path.read_bytes())
    frames_per_clip, clip_samples = _clip_shape(meta)
    require_tools()
    with tempfile.TemporaryDirectory(prefix="kws-measure-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        export = export_model(path, work / "generic", "generic", force=True)
        library = tflm_library(MEASUREMENT_KERNELS, cache_root)
        elf = build_firmware(export.out_dir, library, work / "fw")
        inputs = measurement_clips(np.asarray(audio, dtype=np.int16), clip_samples, clips)
        timed = run_firmware(elf, pcm=inputs, icount=True, search_arena=True,
                             frames=frames_per_clip, coeffs=export.plan.frontend.num_coeffs)
        profiled = run_firmware(elf, pcm=inputs[:1], icount=True, profile_ops=True,
                                frames=frames_per_clip, coeffs=export.plan.frontend.num_coeffs)
        generic = build_generic_main(export.out_dir, library, work / "main")
        size = image_size(generic)
        parts = group_parts(size_by_part(generic.with_suffix(".map")))
    if timed.calibration_ticks != 500:
        raise ExportError(f"SysTick read {timed.calibration_ticks} ticks for the 20,001-"
                          "instruction loop (500 expected under -icount shift=0)")
    if not timed.smallest_arena or not timed.frontend_frames:
        raise ExportError("the firmware reported no smallest arena or no front-end frames")
    instr = timed.instructions
    ops: dict[str, int] = {}
    for name, count in profiled.op_instructions:
        ops[name] = ops.get(name, 0) + count
    return {
        "format_version": MEASUREMENT_VERSION,
        "kernels": MEASUREMENT_KERNELS,
        "content_sha256": content_hash(parse_tflite(device)),
        "device_sha256": hashlib.sha256(device).hexdigest(),
        "target": (f"{QEMU} -M {QEMU_MACHINE} -icount shift=0 ({_tool_version(QEMU)}); "
                   f"{_compiler_id()} -O2; TFLite Micro + CMSIS-NN of "
                   "Arduino_TensorFlowLite"),
        "library": library.folder.name,
        "units": "instructions executed under QEMU (not cycles); bytes",
        "inputs": int(instr.size),
        "instructions_per_inference": {"min": int(instr.min()), "mean": round(float(
            instr.mean()), 1), "max": int(instr.max())},
        "frontend_instructions_per_frame": round(timed.frontend_instructions
                                                 / timed.frontend_frames),
        "ops": ops,
        "arena_smallest": int(timed.smallest_arena),
        "firmware": {"image": "the export's main.cc (kws export --board generic)",
                     "flash": size["flash"], "ram": size["ram"],
                     "arena_linked": export.plan.arena_size, "parts": parts},
    }


def _clip_shape(meta: dict[str, object]) -> tuple[int, int]:
    """(frames per clip, samples per clip) of a model's front end (its metadata)."""
    from kws.config import FrontendConfig, from_dict

    fe = from_dict(FrontendConfig, meta["frontend"])
    return fe.frames_per_clip, fe.clip_samples

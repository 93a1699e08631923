"""The C front end (firmware_export/c/kws_frontend.c) equals the numpy front end, bit for bit.

The reference is always kws.frontend's numpy stages called one by one (numpy_mfcc in
tests/golden/make_frontend_golden.py), never kws.frontend.mfcc's choice of backend.

- the golden file (tests/golden/frontend_golden.bin) is regenerated in memory and compared byte
  for byte, so it cannot go stale, and its frames are numpy's;
- host gcc (-std=c99 -pedantic -Wall -Wextra -Werror -O2): every clip of the mini corpus
  (2,654) plus edge signals, under the chunkings 1, 7, 160, 320, 513 and a seeded random one
  (zeros included), the golden file under 7 chunkings, and the API contract;
- the same with -fsanitize=address,undefined (every clip, random chunking), with the plain-C
  twins of every builtin and assembler line (-DKWS_PORTABLE_C, a third of the clips), and for
  four other configurations (odd window, Nyquist-wide filters, odd num_mel, 16- to 1024-point
  FFTs);
- Cortex-M4F (arm-none-eabi-gcc, run under qemu-system-arm -M mps2-an386): the golden file under
  7 chunkings inside the ELF (also built with -DKWS_PORTABLE_C), its frames compared again here,
  and every clip of the mini corpus read through semihosting under two chunkings; the object is
  integer-only (no VFP instruction, no libm or libgcc call) and within the budget (flash, state,
  instructions per frame counted with QEMU -icount: deterministic, not a timing).

Skipped, with the reason, only when a compiler or QEMU is missing (CI installs them).
"""

from __future__ import annotations

import importlib.util
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware_export import cbuild
from firmware_export.frontend_tables import tables_fingerprint, write_frontend_tables
from kws.config import FrontendConfig

REPO = Path(__file__).resolve().parents[1]
TESTS_C = REPO / "tests" / "c"
C_DIR = cbuild.FRONTEND_C_DIR
SOURCES = [C_DIR / "kws_frontend.c", TESTS_C / "golden_check.c", TESTS_C / "stream_check.c"]
INCLUDES = [C_DIR, TESTS_C]
HOST_FLAGS = ["-O2", "-pedantic"]


def _load_golden_module():
    path = REPO / "tests" / "golden" / "make_frontend_golden.py"
    spec = importlib.util.spec_from_file_location("make_frontend_golden", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


golden = _load_golden_module()
numpy_mfcc = golden.numpy_mfcc
"""The reference: kws.frontend's numpy stages called one by one (kws.frontend.mfcc may pick
another backend, such as this very C code compiled for the host)."""

missing_host = cbuild.missing_tools(cbuild.HOST_CC)
missing_m4 = cbuild.missing_tools(cbuild.M4_CC, cbuild.M4_SIZE, cbuild.QEMU)
needs_host = pytest.mark.skipif(bool(missing_host), reason=f"not installed: {missing_host}")
needs_m4 = pytest.mark.skipif(bool(missing_m4), reason=f"not installed: {missing_m4}")

RANDOM_CHUNKS = ",".join(str(v) for v in np.random.default_rng(20261127).choice(
    [0, 1, 2, 3, 17, 160, 319, 320, 321, 479, 480, 481, 1000, 4096], size=400))
CHUNKINGS = {"1": "1", "7": "7", "160": "160", "320": "320", "513": "513",
             "random": RANDOM_CHUNKS}

OTHER_CONFIGS = {
    # odd window (481: a pair straddles the middle, a lone last sample), 10 ms stride, filters up
    # to Nyquist (256 bins: the mirrored half of the real split), odd num_mel, 16-bit mel index
    "odd_window_nyquist": FrontendConfig(window_ms=30.0625, stride_ms=10.0, upper_hz=8000.0,
                                         num_mel=41, num_coeffs=13, output_gain=(3.0,) * 13,
                                         output_offset=(0.0,) * 13),
    # 1024-point FFT (an odd number of radix-2 stages after the first pass), 64 filters
    "fft1024": FrontendConfig(fft_size=1024, window_ms=40.0, num_mel=64, num_coeffs=12,
                              lower_hz=60.0, upper_hz=7600.0, output_gain=(2.0,) + (6.0,) * 11,
                              output_offset=(40.0,) + (0.0,) * 11),
    # 256-point FFT, window = FFT size (no zero padding)
    "fft256": FrontendConfig(fft_size=256, window_ms=16.0, stride_ms=8.0, num_mel=24,
                             upper_hz=6000.0),
    # the smallest FFT the C code takes: 16 points, a single stage after the first pass
    "fft16": FrontendConfig(fft_size=16, window_ms=1.0, stride_ms=0.5, num_mel=2, num_coeffs=2,
                            lower_hz=500.0, upper_hz=8000.0, output_gain=(1.0, 1.0),
                            output_offset=(0.0, 0.0), clip_ms=10.0),
}


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def records(signals: list[np.ndarray]) -> bytes:
    """The stream protocol's input (tests/c/stream_check.h): (uint32 n, int16 samples[n])."""
    return b"".join(struct.pack("<I", s.size) + s.astype("<i2").tobytes() for s in signals)


def parse_frames(blob: bytes, count: int, num_coeffs: int) -> list[np.ndarray]:
    """The stream protocol's output: ``count`` int8 arrays (frames, num_coeffs)."""
    out, off = [], 0
    for _ in range(count):
        (frames,) = struct.unpack_from("<I", blob, off)
        off += 4
        out.append(np.frombuffer(blob, np.int8, frames * num_coeffs, off)
                   .reshape(frames, num_coeffs))
        off += frames * num_coeffs
    assert off == len(blob), "trailing bytes after the last record"
    return out


def assert_all_equal(got: list[np.ndarray], expect: list[np.ndarray], what: str) -> None:
    assert len(got) == len(expect)
    bad = [i for i, (g, e) in enumerate(zip(got, expect, strict=True))
           if g.shape != e.shape or not np.array_equal(g, e)]
    assert not bad, (f"{what}: {len(bad)} of {len(got)} signals differ from numpy, first "
                     f"#{bad[0]}: {got[bad[0]].shape} frames vs {expect[bad[0]].shape}")


def edge_signals() -> list[np.ndarray]:
    """The golden file's edge signals at 0.1 s and at 1 s, and 8 clips' worth of one signal."""
    return [s for _, s in golden.edge_signals()] + [s for _, s in golden.edge_signals(16000)]


def run_stream(exe: Path, chunks: str, blob: bytes) -> bytes:
    proc = subprocess.run([str(exe), "stream", chunks], input=blob, capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    return proc.stdout


# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tables_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kws_frontend_tables.{h,c} for the default config, generated into a temporary folder."""
    out = tmp_path_factory.mktemp("frontend_tables")
    write_frontend_tables(FrontendConfig(), out)
    return out


@pytest.fixture(scope="module")
def host_exe(tables_dir: Path) -> Path:
    return cbuild.build_host([*SOURCES, tables_dir / "kws_frontend_tables.c",
                              TESTS_C / "host_main.c"], tables_dir / "kws_host",
                             [*INCLUDES, tables_dir], HOST_FLAGS)


@pytest.fixture(scope="module")
def asan_exe(tables_dir: Path) -> Path:
    return cbuild.build_host([*SOURCES, tables_dir / "kws_frontend_tables.c",
                              TESTS_C / "host_main.c"], tables_dir / "kws_host_asan",
                             [*INCLUDES, tables_dir], [*HOST_FLAGS, *cbuild.SANITIZE])


@pytest.fixture(scope="module")
def corpus(mini_audio: np.ndarray) -> tuple[bytes, list[np.ndarray], list[np.ndarray]]:
    """(stream input, signals, numpy frames): every mini-corpus clip, the edge signals, and one
    8-second signal (8 clips back to back)."""
    edges = edge_signals()
    long_one = np.concatenate(mini_audio[:8])
    signals = [*mini_audio, *edges, long_one]
    expect = [*numpy_mfcc(mini_audio), *(numpy_mfcc(s) for s in edges), numpy_mfcc(long_one)]
    return records(signals), signals, expect


# ------------------------------------------------------------------------------------------
# the golden file
# ------------------------------------------------------------------------------------------

def test_golden_file_is_up_to_date(mini_dir: Path) -> None:
    committed = golden.GOLDEN_PATH.read_bytes()
    assert golden.build_golden(mini_dir) == committed, (
        "tests/golden/frontend_golden.bin is stale: run python "
        "tests/golden/make_frontend_golden.py and review the change")


def test_golden_frames_are_numpy_frames() -> None:
    vectors = golden.read_golden(golden.GOLDEN_PATH.read_bytes())
    assert len(vectors) == 20 and sum(f.shape[0] for _, _, f in vectors) == 203
    assert [n for n, _, _ in vectors[:3]] == [n for n, _ in golden.CLIPS]
    for name, samples, frames in vectors:
        np.testing.assert_array_equal(numpy_mfcc(samples), frames, err_msg=name)
    by_name = {n: f for n, _, f in vectors}
    assert by_name["clip_yes_demo"].shape == (49, 10) and by_name["empty"].shape == (0, 10)
    assert by_name["short_479"].shape == (0, 10) and by_name["exact_480"].shape == (1, 10)


# ------------------------------------------------------------------------------------------
# host
# ------------------------------------------------------------------------------------------

@needs_host
def test_host_state_size_and_fingerprint(host_exe: Path) -> None:
    out = subprocess.run([str(host_exe), "info"], capture_output=True, text=True, check=True)
    size, fingerprint = re.fullmatch(r"sizeof\(kws_frontend_t\)=(\d+) fingerprint=0x(\w+)\n",
                                     out.stdout).groups()
    # 480 int16 samples + fill + frames + 512 int32 work words + 40 int32 log-mel values
    assert int(size) == 2 * 480 + 4 + 4 + 4 * 512 + 4 * 40 == 3176
    assert int(fingerprint, 16) == tables_fingerprint(FrontendConfig())


@needs_host
def test_host_api_contract(host_exe: Path) -> None:
    proc = subprocess.run([str(host_exe), "api"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.endswith("api: 15 checks, 0 failed\n"), \
        proc.stdout


@needs_host
@pytest.mark.parametrize("chunking", list(CHUNKINGS))
def test_host_equals_numpy_on_every_clip(host_exe: Path, corpus: tuple, chunking: str) -> None:
    blob, signals, expect = corpus
    got = parse_frames(run_stream(host_exe, CHUNKINGS[chunking], blob), len(signals), 10)
    assert_all_equal(got, expect, f"host, chunks {chunking}")
    assert sum(g.shape[0] for g in got[:2654]) == 2654 * 49


@needs_host
def test_host_golden_file_under_seven_chunkings(host_exe: Path) -> None:
    proc = subprocess.run([str(host_exe), "golden", str(golden.GOLDEN_PATH), "1000000", "1",
                           "7", "160", "320", "513", "3,0,1000,1,319,64,0,4097,2"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ("golden: 140 runs, 1421 frames, 14210 values, 0 values differ, "
                           "0 frame counts differ\n")


@needs_host
def test_golden_check_reports_a_changed_value(host_exe: Path, tmp_path: Path) -> None:
    """The check can fail: one expected value of the demo clip changed by one code."""
    blob = bytearray(golden.GOLDEN_PATH.read_bytes())
    n, nf = struct.unpack_from("<2I", blob, 24 + 24)
    first_frame = 24 + 32 + 2 * n + (-2 * n % 4)
    blob[first_frame + 13] = (blob[first_frame + 13] + 1) % 256   # frame 1, coefficient 3
    bad = tmp_path / "bad_golden.bin"
    bad.write_bytes(bytes(blob))
    proc = subprocess.run([str(host_exe), "golden", str(bad), "7"], capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert "golden: clip_yes_demo pattern 0: 1 values differ" in proc.stdout
    assert "1 values differ, 0 frame counts differ" in proc.stdout


@needs_host
def test_sanitized_build_equals_numpy(asan_exe: Path, corpus: tuple) -> None:
    """AddressSanitizer + UndefinedBehaviorSanitizer, every clip, random chunks, and the API."""
    blob, signals, expect = corpus
    got = parse_frames(run_stream(asan_exe, CHUNKINGS["random"], blob), len(signals), 10)
    assert_all_equal(got, expect, "sanitized host build")
    proc = subprocess.run([str(asan_exe), "api"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([str(asan_exe), "golden", str(golden.GOLDEN_PATH), "1", "513"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "0 values differ, 0 frame counts differ" in proc.stdout


@needs_host
def test_portable_c_build_equals_numpy(tables_dir: Path, corpus: tuple) -> None:
    """-DKWS_PORTABLE_C: plain C99 instead of builtins, inline assembler and paired loads."""
    exe = cbuild.build_host([*SOURCES, tables_dir / "kws_frontend_tables.c",
                             TESTS_C / "host_main.c"], tables_dir / "kws_host_portable",
                            [*INCLUDES, tables_dir],
                            [*HOST_FLAGS, *cbuild.SANITIZE, "-DKWS_PORTABLE_C"])
    _, signals, expect = corpus
    signals, expect = signals[::3], expect[::3]      # a third of the clips, and of the edges
    got = parse_frames(run_stream(exe, CHUNKINGS["7"], records(signals)), len(signals), 10)
    assert_all_equal(got, expect, "portable C build")
    proc = subprocess.run([str(exe), "golden", str(golden.GOLDEN_PATH), "1", "513"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "0 values differ, 0 frame counts differ" in proc.stdout


@needs_host
@pytest.mark.parametrize("name", list(OTHER_CONFIGS))
def test_other_configs_equal_numpy(name: str, mini_audio: np.ndarray, tmp_path: Path) -> None:
    """Tables generated for another config, sanitized build, 40 clips and the edge signals."""
    config = OTHER_CONFIGS[name]
    write_frontend_tables(config, tmp_path)
    exe = cbuild.build_host([*SOURCES, tmp_path / "kws_frontend_tables.c",
                             TESTS_C / "host_main.c"], tmp_path / "kws_host",
                            [*INCLUDES, tmp_path], [*HOST_FLAGS, *cbuild.SANITIZE])
    clips = mini_audio[::67][:40] if name != "fft16" else mini_audio[::600][:5]
    signals = [*clips, *edge_signals()]
    expect = [*numpy_mfcc(clips, config), *(numpy_mfcc(s, config) for s in signals[len(clips):])]
    got = parse_frames(run_stream(exe, CHUNKINGS["random"], records(signals)), len(signals),
                       config.num_coeffs)
    assert_all_equal(got, expect, f"config {name}")


# ------------------------------------------------------------------------------------------
# Cortex-M4F under QEMU
# ------------------------------------------------------------------------------------------

def m4_sources(tables_dir: Path) -> list[Path]:
    return [TESTS_C / "m4_startup.c", TESTS_C / "m4_main.c", *SOURCES,
            tables_dir / "kws_frontend_tables.c"]


@needs_m4
@pytest.mark.parametrize("variant", ["arm", "portable_c"])
def test_m4_golden_file_under_seven_chunkings(tables_dir: Path, variant: str) -> None:
    build = tables_dir / f"m4_golden_{variant}"
    build.mkdir()
    blob = cbuild.incbin_source(golden.GOLDEN_PATH, "kws_golden", build / "golden_blob.S")
    dump = build / "frames.bin"
    portable = ["-DKWS_PORTABLE_C"] if variant == "portable_c" else []
    elf = cbuild.build_m4_elf([*m4_sources(tables_dir), blob], build / "golden.elf",
                              TESTS_C / "mps2_an386.ld", [*INCLUDES, tables_dir],
                              extra=[f'-DKWS_DUMP_PATH="{dump}"', *portable])
    run = cbuild.run_qemu(elf, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == ("m4 golden: sizeof(kws_frontend_t)=3176, 140 runs, 1421 frames, "
                          "14210 values, 0 values differ, 0 frame counts differ\n")
    # and once more against numpy itself: the frames of the first chunking (whole vectors)
    vectors = golden.read_golden(golden.GOLDEN_PATH.read_bytes())
    expect = np.concatenate([numpy_mfcc(samples) for _, samples, _ in vectors])
    got = np.frombuffer(dump.read_bytes(), np.int8).reshape(-1, 10)
    np.testing.assert_array_equal(got, expect)


@needs_m4
@pytest.mark.parametrize("chunking", ["320", "random"])
def test_m4_equals_numpy_on_every_clip(tables_dir: Path, corpus: tuple, chunking: str) -> None:
    """Every clip of the mini corpus (and the edge signals) on the Cortex-M4, through files
    read and written with semihosting."""
    blob, signals, expect = corpus
    build = tables_dir / f"m4_stream_{chunking}"
    build.mkdir()
    (build / "in.bin").write_bytes(blob)
    elf = cbuild.build_m4_elf(m4_sources(tables_dir), build / "stream.elf",
                              TESTS_C / "mps2_an386.ld", [*INCLUDES, tables_dir],
                              extra=[f'-DKWS_STREAM_IN="{build / "in.bin"}"',
                                     f'-DKWS_STREAM_OUT="{build / "out.bin"}"',
                                     f'-DKWS_STREAM_CHUNKS="{CHUNKINGS[chunking]}"'])
    run = cbuild.run_qemu(elf, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    got = parse_frames((build / "out.bin").read_bytes(), len(signals), 10)
    assert_all_equal(got, expect, f"Cortex-M4, chunks {chunking}")


@needs_m4
def test_m4_object_is_integer_only(tables_dir: Path) -> None:
    """No VFP instruction, no libm or libgcc helper: the only outside symbols are memcpy,
    memmove and the generated tables. The 32x32 -> high-word multiplies are SMMUL/SMMLA."""
    build = tables_dir / "m4_asm"
    build.mkdir()
    asm = build / "kws_frontend.s"
    subprocess.run([cbuild.M4_CC, *cbuild.m4_compile_flags(), f"-I{C_DIR}", f"-I{tables_dir}",
                    "-S", str(C_DIR / "kws_frontend.c"), "-o", str(asm)], check=True)
    text = asm.read_text()
    instructions = [ln.split()[0] for ln in text.splitlines()
                    if ln.startswith("\t") and not ln.startswith("\t.") and ln.split()]
    assert not [i for i in instructions if i.startswith("v")], "floating-point instruction"
    assert instructions.count("smmul") >= 10 and instructions.count("smmla") >= 5
    defined = set(re.findall(r"^([A-Za-z_]\w*):", text, re.M))
    called = set(re.findall(r"\tbl?\s+([A-Za-z_]\w*)", text)) - defined
    assert called <= {"memcpy", "memmove"}, called
    obj = cbuild.build_m4_objects([C_DIR / "kws_frontend.c"], build, [C_DIR, tables_dir])[0]
    nm = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], capture_output=True, text=True,
                        check=True)
    undefined = {ln.split()[-1] for ln in nm.stdout.splitlines() if ln.strip()}
    assert undefined <= {"memcpy", "memmove", "kws_window_half", "kws_twiddle_quarter",
                         "kws_mel_start", "kws_mel_length", "kws_mel_weights", "kws_log_table",
                         "kws_dct_half", "kws_dct_offset"}, undefined


@needs_m4
def test_m4_budget(tables_dir: Path) -> None:
    """The issue's budget, deterministic (sizes, and instructions counted by QEMU -icount, not
    time): flash <= 8 KB for code + tables, state <= 4 KB, <= 40,000 instructions per frame."""
    build = tables_dir / "m4_budget"
    build.mkdir()
    objects = cbuild.build_m4_objects([C_DIR / "kws_frontend.c",
                                       tables_dir / "kws_frontend_tables.c"], build,
                                      [C_DIR, tables_dir])
    sizes = cbuild.section_sizes(objects)
    assert sum(s["text"] + s["data"] for s in sizes.values()) <= 8192, sizes
    assert sum(s["bss"] + s["data"] for s in sizes.values()) == 0, sizes
    blob = cbuild.incbin_source(golden.GOLDEN_PATH, "kws_golden", build / "golden_blob.S")
    elf = cbuild.build_m4_elf([TESTS_C / "m4_startup.c", TESTS_C / "m4_bench.c", *objects, blob],
                              build / "bench.elf", TESTS_C / "mps2_an386.ld",
                              [*INCLUDES, tables_dir])
    run = cbuild.run_qemu(elf, icount=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "took 500 ticks (500 expected)" in run.stdout       # 40 instructions per tick
    assert "sizeof(kws_frontend_t) = 3176 bytes" in run.stdout
    frames, worst = re.search(r"steady-state frames: (\d+); .* max (\d+)", run.stdout).groups()
    assert int(frames) == 186 and 20_000 < int(worst) <= 40_000, run.stdout

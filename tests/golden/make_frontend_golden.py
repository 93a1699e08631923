"""Make tests/golden/frontend_golden.bin: int16 signals and the int8 frames numpy computes.

Run: python tests/golden/make_frontend_golden.py [--data DIR] [--check]

The frames come from the numpy stages of kws.frontend called one by one (numpy_frames), never
from another backend. The same file is checked by numpy (tests/test_c_frontend.py regenerates
it in memory and compares bytes, so it cannot go stale), by the C front end on the host and by
the C front end built for a Cortex-M4 and run under QEMU (tests/c/golden_check.c). Contents,
for the default FrontendConfig: three real clips of the mini corpus (the demo "yes", the
quietest clip, a clip that reaches -32768) and edge signals: silence, full-scale DC and square
waves, clipping, impulses, one-LSB noise, full-scale noise, a chirp, and inputs too short for
a frame.

Layout (little-endian, each part padded to 4 bytes; parsed by read_golden and golden_check.c):
"KWSGOLD1", uint32 version = 1, uint32 tables fingerprint, uint32 num_coeffs,
uint32 num_vectors; per vector: char name[24], uint32 num_samples, uint32 num_frames,
int16 samples[num_samples], int8 frames[num_frames][num_coeffs].
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from firmware_export.frontend_tables import tables_fingerprint  # noqa: E402
from kws.audio import read_audio  # noqa: E402
from kws.config import FrontendConfig  # noqa: E402
from kws.errors import DataError  # noqa: E402
from kws.frontend import build_tables  # noqa: E402
from kws.frontend.dct import dct_int8  # noqa: E402
from kws.frontend.fft import real_fft  # noqa: E402
from kws.frontend.framing import frame_audio  # noqa: E402
from kws.frontend.log import log_mel  # noqa: E402
from kws.frontend.mel import mel_energies  # noqa: E402
from kws.frontend.power import power_spectrum  # noqa: E402
from kws.frontend.window import window_and_normalize  # noqa: E402

GOLDEN_PATH = Path(__file__).with_name("frontend_golden.bin")
DEFAULT_DATA = REPO.parent / "shared" / "data" / "speech_commands_mini_v0.02"
MAGIC = b"KWSGOLD1"
VERSION = 1
NAME_BYTES = 24
CLIPS = (
    ("clip_yes_demo", "yes/0bac8a71_nohash_0.wav"),     # kws/assets/demo_yes.wav
    ("clip_on_quietest", "on/a8e25ebb_nohash_2.wav"),    # peak 1112: large normalizing shifts
    ("clip_zero_fullscale", "zero/44260689_nohash_1.wav"),  # reaches -32768
)
EDGE_SAMPLES = 1600
"""Edge signals are 0.1 s (4 frames) unless their point is their length."""


def numpy_frames(frames: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """int8 (F, num_coeffs) codes of int16 frames (F, window_samples), through the numpy stages
    of kws.frontend one after the other (never another backend): the reference that every C
    build is compared with. Blocks of 512 frames run on two threads (numpy releases the GIL)."""
    t = build_tables(config)
    out = np.empty((frames.shape[0], config.num_coeffs), dtype=np.int8)

    def block(start: int) -> None:
        v, shift = window_and_normalize(frames[start:start + 512], t)
        re, im = real_fft(v, t)
        acc = mel_energies(power_spectrum(re, im), t)
        out[start:start + 512] = dct_int8(log_mel(acc, shift, t), t)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(block, range(0, frames.shape[0], 512)))
    return out


def numpy_mfcc(audio: np.ndarray, config: FrontendConfig | None = None) -> np.ndarray:
    """int8 (frames, num_coeffs) of int16 audio (n,) or (clips, n) -> (clips, frames, coeffs),
    by :func:`numpy_frames`."""
    config = config or FrontendConfig()
    audio = np.asarray(audio, dtype=np.int16)
    frames = np.ascontiguousarray(frame_audio(audio, config))
    flat = frames.reshape(-1, config.window_samples)
    return numpy_frames(flat, config).reshape(*frames.shape[:-1], config.num_coeffs)


def edge_signals(n: int = EDGE_SAMPLES) -> list[tuple[str, np.ndarray]]:
    """(name, int16 signal) edge signals, deterministic (seeded); most are ``n`` samples long
    (n > 700), the short ones 0 to 800 samples whatever ``n``."""
    t = np.arange(n)
    hi, lo = np.int16(32767), np.int16(-32768)
    impulse = np.zeros(n, np.int16)
    impulse[240] = hi                       # at the window's peak in frame 0
    impulse_min = np.zeros(n, np.int16)
    impulse_min[700] = lo                   # inside frames 1 and 2
    chirp_t = np.arange(2 * n) / 16000.0
    f0, f1, dur = 20.0, 8000.0, 2 * n / 16000.0
    chirp = 30000 * np.sin(2 * np.pi * (f0 * chirp_t + (f1 - f0) / (2 * dur) * chirp_t**2))
    clipped = np.clip(np.rint(4 * 32767 * np.sin(2 * np.pi * 440 * t / 16000)), -32768, 32767)
    return [
        ("silence", np.zeros(n, np.int16)),
        ("dc_max", np.full(n, hi)),
        ("dc_min", np.full(n, lo)),
        ("dc_one", np.ones(n, np.int16)),
        ("square_1khz_fullscale", np.where(t % 16 < 8, hi, lo).astype(np.int16)),
        ("nyquist_fullscale", np.where(t % 2 == 0, hi, lo).astype(np.int16)),
        ("sine_clipped_4x", clipped.astype(np.int16)),
        ("impulse_max", impulse),
        ("impulse_min", impulse_min),
        ("noise_lsb", np.random.default_rng(1).integers(-1, 2, n).astype(np.int16)),
        ("noise_fullscale", np.random.default_rng(2).integers(-32768, 32768, n).astype(np.int16)),
        ("chirp_20_8000hz", np.rint(chirp).astype(np.int16)),
        ("empty", np.zeros(0, np.int16)),
        ("short_100", np.random.default_rng(3).integers(-9000, 9000, 100).astype(np.int16)),
        ("short_479", np.random.default_rng(4).integers(-9000, 9000, 479).astype(np.int16)),
        ("exact_480", np.random.default_rng(5).integers(-9000, 9000, 480).astype(np.int16)),
        ("two_frames_800", np.random.default_rng(6).integers(-9000, 9000, 800).astype(np.int16)),
    ]


def golden_signals(data_dir: Path = DEFAULT_DATA) -> list[tuple[str, np.ndarray]]:
    """(name, int16 (n,)) every signal of the golden file: real clips first, then edges."""
    out = []
    for name, rel in CLIPS:
        path = Path(data_dir) / rel
        if not path.is_file():
            raise DataError(f"golden clip {path} not found (is the mini corpus at {data_dir}?)")
        out.append((name, read_audio(path)))
    return out + edge_signals()


def _pad(blob: bytes) -> bytes:
    return blob + b"\0" * (-len(blob) % 4)


def build_golden(data_dir: Path = DEFAULT_DATA) -> bytes:
    """The golden file's bytes for the default FrontendConfig, frames computed by numpy."""
    config = FrontendConfig()
    signals = golden_signals(data_dir)
    parts = [MAGIC, struct.pack("<4I", VERSION, tables_fingerprint(config), config.num_coeffs,
                                len(signals))]
    for name, samples in signals:
        frames = numpy_mfcc(samples, config)
        parts.append(struct.pack(f"<{NAME_BYTES}s2I", name.encode("ascii"), samples.size,
                                 frames.shape[0]))
        parts.append(_pad(samples.astype("<i2").tobytes()))
        parts.append(_pad(frames.astype(np.int8).tobytes()))
    return b"".join(parts)


def read_golden(blob: bytes) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Parse a golden file: [(name, int16 samples (n,), int8 frames (F, num_coeffs))].

    Raises DataError for a file that is not a version-1 golden file.
    """
    if blob[:8] != MAGIC or len(blob) < 24:
        raise DataError("not a kws front-end golden file (bad magic)")
    version, _, coeffs, count = struct.unpack_from("<4I", blob, 8)
    if version != VERSION:
        raise DataError(f"golden file version {version}, expected {VERSION}")
    out, off = [], 24
    for _ in range(count):
        raw, n, nf = struct.unpack_from(f"<{NAME_BYTES}s2I", blob, off)
        off += NAME_BYTES + 8
        samples = np.frombuffer(blob, "<i2", n, off).astype(np.int16)
        off += 2 * n + (-2 * n % 4)
        frames = np.frombuffer(blob, np.int8, nf * coeffs, off).reshape(nf, coeffs)
        off += nf * coeffs + (-(nf * coeffs) % 4)
        out.append((raw.rstrip(b"\0").decode("ascii"), samples, frames))
    if off != len(blob):
        raise DataError(f"golden file has {len(blob) - off} trailing bytes")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="mini corpus folder")
    ap.add_argument("--check", action="store_true",
                    help="only compare with the committed file (exit 1 if it differs)")
    args = ap.parse_args(argv)
    blob = build_golden(args.data)
    if args.check:
        same = GOLDEN_PATH.is_file() and GOLDEN_PATH.read_bytes() == blob
        print(f"{GOLDEN_PATH}: {'up to date' if same else 'STALE'}")
        return 0 if same else 1
    tmp = GOLDEN_PATH.with_name(f".{GOLDEN_PATH.name}.{os.getpid()}.tmp")
    tmp.write_bytes(blob)          # then an atomic rename over the old file
    os.replace(tmp, GOLDEN_PATH)
    vectors = read_golden(blob)
    print(f"wrote {GOLDEN_PATH} ({len(blob)} bytes, {len(vectors)} vectors, "
          f"{sum(f.shape[0] for _, _, f in vectors)} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

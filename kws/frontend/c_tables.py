"""The C front end's tables: ``FrontendConfig`` -> ``kws_frontend_tables.h`` and ``.c``.

Every integer comes from :func:`kws.frontend.tables.build_tables`, the tables numpy uses.
This module (in kws, beside them, because kws.frontend.native and the exporter in
firmware_export both build the C code with these tables) only stores them compactly and
proves that the compact form expands back to exactly the numpy integers
(:func:`compact_tables` raises :class:`kws.errors.ConfigError` otherwise):

===================  ==========================  ==============================================
C array              FrontendTables field        stored (N = window_samples, F = fft_size)
===================  ==========================  ==============================================
kws_window_half      window, int16 Q15           w[0 .. N/2]; w[n] = w[N - n] above N/2
kws_twiddle_quarter  twiddle_cos/_sin, int32 Q31 sin(2 pi k / F) for k = 0 .. F/4 (quarter
                                                 wave): cos[k] = q[F/4 - k], sin[k] = q[k],
                                                 and for k > F/4 cos[k] = -q[k - F/4],
                                                 sin[k] = q[F/2 - k]
(none)               bitrev                      computed (bit reversal of log2(F) - 1 bits)
kws_mel_start        mel_start                   uint8 (uint16 when a bin index exceeds 255)
kws_mel_length       mel_length                  same type as kws_mel_start
kws_mel_weights      mel_weights, uint16 Q15     as is, filter after filter
kws_log_table        log_table, uint32 Q16       as is (2**LOG_TABLE_BITS + 1 entries)
kws_dct_half         dct, int32 Q20              columns 0 .. ceil(num_mel / 2) - 1 of each
                                                 row: row k is even (k even) or odd (k odd)
                                                 about its middle, dct[k, M-1-n] = (-1)**k
                                                 dct[k, n]
kws_dct_offset       dct_offset, int64 Q36       as is
===================  ==========================  ==============================================

The C code (``firmware_export/c/kws_frontend.c``) needs fft_size >= 16, Q31 twiddles and
num_bins <= fft_size / 2; other configurations raise ConfigError here, before any C is built.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path

import numpy as np

from kws.config import FrontendConfig
from kws.errors import ConfigError, ExportError
from kws.fileio import atomic_write_bytes, remove_stale_temps
from kws.frontend import tables as T
from kws.frontend.tables import FrontendTables, build_tables

HEADER_NAME = "kws_frontend_tables.h"
SOURCE_NAME = "kws_frontend_tables.c"
MIN_FFT_SIZE = 16
"""The C FFT fuses its first two stages (radix 4) and needs at least one more after them."""


@dataclasses.dataclass(frozen=True, eq=False)
class CompactTables:
    """The integer tables in the compact layout of the C arrays (see the module docstring)."""

    tables: FrontendTables
    window_half: np.ndarray
    """int16 (N // 2 + 1,), Q15: window[0 .. N // 2]."""
    twiddle_quarter: np.ndarray
    """int32 (F // 4 + 1,), Q31: twiddle_sin[0 .. F // 4]."""
    dct_half: np.ndarray
    """int32 (num_coeffs, ceil(num_mel / 2)), Q20: the left half of every DCT row."""
    mel_index_type: str
    """C type of kws_mel_start / kws_mel_length: 'uint8_t' or 'uint16_t'."""


def compact_tables(config: FrontendConfig) -> CompactTables:
    """Compact the numpy tables for C and check that they expand back exactly.

    Raises ConfigError, naming the value, when the configuration is outside what the C front
    end supports or a symmetry the compact layout relies on does not hold bit for bit.
    """
    t = build_tables(config)
    n_fft = config.fft_size
    half, quarter = n_fft // 2, n_fft // 4
    if n_fft < MIN_FFT_SIZE:
        raise ConfigError(f"fft_size={n_fft} is below {MIN_FFT_SIZE}, the C front end's minimum")
    if T.TWIDDLE_BITS != 31:
        raise ConfigError(f"TWIDDLE_BITS={T.TWIDDLE_BITS}: the C FFT multiplies by Q31 twiddles")
    if t.num_bins > half:
        raise ConfigError(f"num_bins={t.num_bins} exceeds fft_size/2={half} "
                          f"(upper_hz={config.upper_hz} reaches Nyquist)")

    window = t.window.astype(np.int64)
    n_win = window.size
    if not np.array_equal(window[1:], window[1:][::-1]):
        raise ConfigError(f"window_ms={config.window_ms}: the Q15 window is not symmetric "
                          f"(w[n] != w[{n_win} - n]), the C table keeps half of it")
    window_half = t.window[: n_win // 2 + 1].copy()

    cos, sin = t.twiddle_cos.astype(np.int64), t.twiddle_sin.astype(np.int64)
    q = sin[: quarter + 1]
    k_lo, k_hi = np.arange(quarter + 1), np.arange(quarter + 1, half + 1)
    symmetric = (np.array_equal(cos[k_lo], q[quarter - k_lo])
                 and np.array_equal(cos[k_hi], -q[k_hi - quarter])
                 and np.array_equal(sin[k_hi], q[half - k_hi]))
    one = (1 << T.TWIDDLE_BITS) - 1
    if not symmetric or q[0] != 0 or q[quarter] != one:
        raise ConfigError(f"fft_size={n_fft}: the Q31 twiddles are not quarter-wave symmetric")
    bits = t.fft_log2 - 1
    rev = [int(format(i, f"0{bits}b")[::-1], 2) for i in range(half)]
    if t.bitrev.tolist() != rev:
        raise ConfigError(f"fft_size={n_fft}: bitrev is not the bit-reversal permutation")

    dct = t.dct.astype(np.int64)
    m = config.num_mel
    signs = np.where(np.arange(config.num_coeffs) % 2 == 0, 1, -1)[:, None]
    if not np.array_equal(dct[:, ::-1], signs * dct):
        raise ConfigError(f"num_mel={m}: the Q20 DCT rows are not even/odd about their middle")
    dct_half = t.dct[:, : (m + 1) // 2].copy()

    index_type = "uint8_t" if t.num_bins <= 255 else "uint16_t"
    return CompactTables(tables=t, window_half=window_half, twiddle_quarter=q.astype(np.int32),
                         dct_half=dct_half, mel_index_type=index_type)


def tables_fingerprint(config: FrontendConfig) -> int:
    """CRC-32 of every integer of the front end (tables and constants): equal integers, equal
    fingerprint. The C header carries it as KWS_TABLES_FINGERPRINT; golden files record it."""
    t = build_tables(config)
    crc = 0
    for arr, dtype in ((t.window, "<i2"), (t.twiddle_cos, "<i4"), (t.twiddle_sin, "<i4"),
                       (t.bitrev, "<i4"), (t.mel_start, "<i4"), (t.mel_length, "<i4"),
                       (t.mel_weights, "<u2"), (t.log_table, "<u4"), (t.dct, "<i4"),
                       (t.dct_offset, "<i8")):
        crc = zlib.crc32(np.ascontiguousarray(arr, dtype=dtype).tobytes(), crc)
    scalars = [t.num_bins, t.mel_scale_log2, t.log_floor_q, config.window_samples,
               config.stride_samples, T.NORM_TARGET_BITS, T.MAX_NORM_SHIFT, T.MEL_INPUT_SHIFT,
               T.LOG_BITS, T.LOG_TABLE_BITS, T.OUTPUT_SHIFT]
    return zlib.crc32(np.array(scalars, dtype="<i8").tobytes(), crc)


def _banner(config: FrontendConfig) -> str:
    fields = ", ".join(f"{f.name}={getattr(config, f.name)!r}"
                       for f in dataclasses.fields(config))
    lines = ["Generated by kws (kws/frontend/c_tables.py) from",
             f"FrontendConfig({fields}).",
             "Do not edit: change the config and regenerate with",
             "kws.frontend.c_tables.write_frontend_tables(config, out_dir)."]
    wrapped: list[str] = []
    for line in lines:
        while len(line) > 92:
            cut = line.rfind(", ", 0, 92) + 1
            wrapped.append(line[:cut])
            line = "    " + line[cut:].lstrip()
        wrapped.append(line)
    return "/*\n" + "".join(f" * {w}\n" for w in wrapped) + " */\n"


def _literal(value: int, ctype: str) -> str:
    if ctype == "int64_t":
        return f"INT64_C({value})"
    if ctype.startswith("uint"):
        return f"{value}u"
    return str(value)


def _rows(ctype: str, values: list[int], per_line: int, indent: str) -> list[str]:
    return [indent + ", ".join(_literal(v, ctype) for v in values[i:i + per_line]) + ","
            for i in range(0, len(values), per_line)]


def _array(ctype: str, name: str, values: np.ndarray, doc: str, per_line: int = 10) -> str:
    """A C definition of the 1-D or 2-D integer array ``values`` (one brace per row)."""
    values = np.asarray(values)
    dims = "".join(f"[{d}]" for d in values.shape)
    if values.ndim == 1:
        body = _rows(ctype, [int(v) for v in values], per_line, "    ")
    else:
        body = []
        for row in values:
            body += ["    {", *_rows(ctype, [int(v) for v in row], per_line, "        "), "    },"]
    return f"/* {doc} */\nconst {ctype} {name}{dims} = {{\n" + "\n".join(body) + "\n};\n"


def render_frontend_tables(config: FrontendConfig) -> dict[str, str]:
    """The two generated files as text: {file name: contents}, for ``config``.

    Raises ConfigError when the C front end cannot take ``config`` (see compact_tables).
    """
    c = compact_tables(config)
    t = c.tables
    m, k = config.num_mel, config.num_coeffs
    idx = c.mel_index_type
    consts = [
        ("KWS_SAMPLE_RATE_HZ", config.sample_rate_hz, "input sample rate, Hz"),
        ("KWS_WINDOW_SAMPLES", config.window_samples, "samples per analysis window"),
        ("KWS_STRIDE_SAMPLES", config.stride_samples, "samples between frame starts"),
        ("KWS_FRAMES_PER_CLIP", config.frames_per_clip, "frames per classifier input"),
        ("KWS_FFT_SIZE", config.fft_size, "real FFT length"),
        ("KWS_FFT_LOG2", t.fft_log2, "log2(KWS_FFT_SIZE)"),
        ("KWS_NUM_BINS", t.num_bins, "spectrum bins computed (last mel bin + 1)"),
        ("KWS_NUM_MEL", m, "mel filters"),
        ("KWS_NUM_COEFFS", k, "DCT coefficients out (int8 codes per frame)"),
        ("KWS_WINDOW_HALF_LEN", c.window_half.size, "entries of kws_window_half"),
        ("KWS_TWIDDLE_QUARTER_LEN", c.twiddle_quarter.size, "entries of kws_twiddle_quarter"),
        ("KWS_MEL_WEIGHTS_LEN", t.mel_weights.size, "entries of kws_mel_weights"),
        ("KWS_LOG_TABLE_LEN", t.log_table.size, "entries of kws_log_table"),
        ("KWS_DCT_HALF_LEN", c.dct_half.shape[1], "columns of kws_dct_half"),
        ("KWS_TWIDDLE_ONE", int(c.twiddle_quarter[-1]), "Q31 1.0 (clipped to 2**31 - 1)"),
        ("KWS_WINDOW_BITS", T.WINDOW_BITS, "window: int16 Q15"),
        ("KWS_NORM_TARGET_BITS", T.NORM_TARGET_BITS, "windowed frame shifted to < 2**30"),
        ("KWS_MAX_NORM_SHIFT", T.MAX_NORM_SHIFT, "cap on that shift"),
        ("KWS_TWIDDLE_BITS", T.TWIDDLE_BITS, "twiddles: int32 Q31"),
        ("KWS_MEL_INPUT_SHIFT", T.MEL_INPUT_SHIFT, "power >> 20 before the mel weights"),
        ("KWS_MEL_WEIGHT_BITS", T.MEL_WEIGHT_BITS, "mel weights: uint16 Q15"),
        ("KWS_LOG_BITS", T.LOG_BITS, "log2 results: int32 Q16"),
        ("KWS_LOG_TABLE_BITS", T.LOG_TABLE_BITS, "log2(1 + f) table: 2**6 segments"),
        ("KWS_DCT_BITS", T.DCT_BITS, "DCT: int32 Q20"),
        ("KWS_OUTPUT_SHIFT", T.OUTPUT_SHIFT, "int64 DCT accumulator Q36 >> 36 = int8 code"),
        ("KWS_MEL_SCALE_LOG2", t.mel_scale_log2,
         "mel accumulator = float mel energy * 2**(this + 2 * shift)"),
    ]
    width = max(len(name) for name, _, _ in consts) + 1
    defines = "".join(f"#define {name:<{width}}{value:<12} /* {doc} */\n"
                      for name, value, doc in consts)
    defines += (f"#define {'KWS_LOG_FLOOR_Q':<{width}}UINT64_C({t.log_floor_q}) "
                "/* log_floor in mel units at shift 0 */\n")
    defines += (f"#define {'KWS_TABLES_FINGERPRINT':<{width}}0x{tables_fingerprint(config):08x}u"
                " /* CRC-32 of every front-end integer */\n")

    banner = _banner(config)
    header = f"""{banner}
#ifndef KWS_FRONTEND_TABLES_H
#define KWS_FRONTEND_TABLES_H

#include <stdint.h>

{defines}
typedef {idx} kws_mel_index_t;

extern const int16_t kws_window_half[KWS_WINDOW_HALF_LEN];
extern const int32_t kws_twiddle_quarter[KWS_TWIDDLE_QUARTER_LEN];
extern const kws_mel_index_t kws_mel_start[KWS_NUM_MEL];
extern const kws_mel_index_t kws_mel_length[KWS_NUM_MEL];
extern const uint16_t kws_mel_weights[KWS_MEL_WEIGHTS_LEN];
extern const uint32_t kws_log_table[KWS_LOG_TABLE_LEN];
extern const int32_t kws_dct_half[KWS_NUM_COEFFS][KWS_DCT_HALF_LEN];
extern const int64_t kws_dct_offset[KWS_NUM_COEFFS];

#endif /* KWS_FRONTEND_TABLES_H */
"""
    n_win = config.window_samples
    arrays = [
        _array("int16_t", "kws_window_half", c.window_half,
               f"Q15 periodic Hann, w[0 .. {n_win // 2}]; w[n] = w[{n_win} - n] above"),
        _array("int32_t", "kws_twiddle_quarter", c.twiddle_quarter,
               f"Q31 sin(2 pi k / {config.fft_size}), k = 0 .. {config.fft_size // 4}", 6),
        _array(idx, "kws_mel_start", t.mel_start, "first FFT bin of each mel filter", 16),
        _array(idx, "kws_mel_length", t.mel_length, "FFT bins in each mel filter", 16),
        _array("uint16_t", "kws_mel_weights", t.mel_weights,
               "Q15 triangular weights, filter after filter", 12),
        _array("uint32_t", "kws_log_table", t.log_table,
               "Q16 log2(1 + i / 64), i = 0 .. 64", 8),
        _array("int32_t", "kws_dct_half", c.dct_half,
               "Q20 orthonormal DCT-II x ln 2 x output gain, left half of each row", 5),
        _array("int64_t", "kws_dct_offset", t.dct_offset,
               "Q36 output offset plus one half (round half up)", 3),
    ]
    source = f"{banner}\n#include \"{HEADER_NAME}\"\n\n" + "\n".join(arrays)
    return {HEADER_NAME: header, SOURCE_NAME: source}


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (kws.fileio: a synced hidden temporary named
    with our pid, which a later run's remove_stale_temps deletes if we are killed)."""
    try:
        atomic_write_bytes(path, text.encode("ascii"))
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None


def write_frontend_tables(config: FrontendConfig, out_dir: str | Path) -> list[Path]:
    """Write kws_frontend_tables.h and kws_frontend_tables.c for ``config`` into ``out_dir``.

    Each file is written atomically (temporary file + rename). ``out_dir`` is created if
    missing. Returns the two paths [header, source]. Raises ConfigError for a configuration
    the C front end cannot take and ExportError when the files cannot be written.
    """
    out = Path(out_dir)
    files = render_frontend_tables(config)
    remove_stale_temps(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc.strerror}") from None
    paths = []
    for name in (HEADER_NAME, SOURCE_NAME):
        _write_atomic(out / name, files[name])
        paths.append(out / name)
    return paths

"""Print every intermediate integer of one real frame, for docs/fixed_point.md.

Run: python docs/fixed_point_walkthrough.py

Frame 47 of kws/assets/demo_yes.wav (Speech Commands yes/0bac8a71_nohash_0.wav), default
FrontendConfig, through the numpy stages of kws.frontend, with float64 checks beside the
integers. The output is pasted verbatim into docs/fixed_point.md, and a test
(tests/test_frontend_tables.py) fails when the two disagree.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from kws.audio import read_audio  # noqa: E402
from kws.config import FrontendConfig  # noqa: E402
from kws.frontend import build_tables, mfcc  # noqa: E402
from kws.frontend.dct import dct_int8  # noqa: E402
from kws.frontend.fft import real_fft  # noqa: E402
from kws.frontend.framing import frame_audio  # noqa: E402
from kws.frontend.log import log_mel  # noqa: E402
from kws.frontend.mel import mel_energies  # noqa: E402
from kws.frontend.power import power_spectrum  # noqa: E402
from kws.frontend.tables import (  # noqa: E402
    LOG_BITS,
    LOG_INTERP_BITS,
    MEL_INPUT_SHIFT,
    OUTPUT_SHIFT,
    dct_matrix,
    mel_matrix,
)
from kws.frontend.window import bit_length, window_and_normalize  # noqa: E402

CLIP = REPO / "kws" / "assets" / "demo_yes.wav"
FRAME = 47


def walkthrough() -> str:
    """The walkthrough text (deterministic)."""
    cfg = FrontendConfig()
    t = build_tables(cfg)
    audio = read_audio(CLIP)
    frames = np.ascontiguousarray(frame_audio(audio, cfg))
    x = frames[FRAME:FRAME + 1]
    lines: list[str] = []
    say = lines.append

    xs = x[0].astype(np.int64)
    say(f"1. input: frame {FRAME} = samples {FRAME * 320} .. {FRAME * 320 + 479} of "
        f"{CLIP.relative_to(REPO)}")
    say(f"   x[0:4] = {xs[:4].tolist()}, x[240] = {xs[240]}, max |x| = {np.abs(xs).max()} "
        f"(int16, Q15: x / 2**15 = {np.abs(xs).max() / 2**15:.6f})")

    v, shift = window_and_normalize(x, t)
    raw = xs * t.window.astype(np.int64)
    s = int(shift[0])
    peak = int(np.abs(raw).max())
    say("2. window: v = x * w, w int16 Q15 (w[0] = 0, w[120] = 16384, w[240] = 32767)")
    say(f"   v[240] = {xs[240]} * {t.window[240]} = {raw[240]} (Q30: {raw[240] / 2**30:.6f})")
    say(f"   max |v| = {peak} < 2**30, bit_length = {int(bit_length(np.array([peak]))[0])}"
        f" -> shift s = min(30 - {int(bit_length(np.array([peak]))[0])}, 16) = {s}")
    say(f"   v << s: max |v << s| = {int(np.abs(v).max())} < 2**30 = {2**30}")

    re, im = real_fft(v, t)
    ref = np.fft.rfft(v[0].astype(np.float64), cfg.fft_size)[: t.num_bins] / cfg.fft_size
    k_peak = int(np.argmax(re[0] ** 2 + im[0] ** 2))
    err = max(np.abs(re[0] - ref.real).max(), np.abs(im[0] - ref.imag).max())
    say("3. FFT: X[k] = DFT_512(v << s)[k] / 512 (8 halving complex stages + halving real split)")
    for k in (0, 1, k_peak):
        r, i = int(re[0, k]), int(im[0, k])
        say(f"   X[{k}] = {r} {'-' if i < 0 else '+'} {abs(i)}i   (float64 DFT / 512: "
            f"{ref[k].real:.1f} {'-' if ref[k].imag < 0 else '+'} {abs(ref[k].imag):.1f}i)")
    say(f"   largest |integer - float| over the {t.num_bins} bins: {err:.1f} "
        f"(of max |X| = {int(np.abs(np.concatenate([re[0], im[0]])).max())})")

    power = power_spectrum(re, im)
    p = int(power[0, k_peak])
    say(f"4. power: P[{k_peak}] = ({int(re[0, k_peak])})**2 + ({int(im[0, k_peak])})**2 = {p} "
        f"(< 2**{math.log2(p):.1f}); sum over bins = 2**{math.log2(int(power[0].sum())):.1f}")
    say(f"   P >> {MEL_INPUT_SHIFT} = {p >> MEL_INPUT_SHIFT}")

    acc = mel_energies(power, t)
    j = int(np.argmax(acc[0]))
    st, ln = int(t.mel_start[j]), int(t.mel_length[j])
    off = int(t.mel_length[:j].sum())
    w = t.mel_weights[off:off + ln].astype(np.int64)
    q = (power[0, st:st + ln] >> MEL_INPUT_SHIFT).astype(np.int64)
    scale = t.mel_scale_log2 + 2 * s
    # float64: |DFT(x / 2**15 * w / 2**15)|**2 through the unquantized triangular filter
    spectrum = np.fft.rfft(x[0] / 32768.0 * (t.window / 32768.0), cfg.fft_size)
    mel_float = float(mel_matrix(cfg)[j] @ np.abs(spectrum) ** 2)
    say(f"5. mel: filter {j} (the largest) = bins {st} .. {st + ln - 1}, Q15 weights "
        f"{w.tolist()}")
    say(f"   P >> 20 on those bins = {q.tolist()}")
    say(f"   acc = sum(w * (P >> 20)) = {int(acc[0, j])} (< 2**{math.log2(int(acc[0, j])):.1f})")
    say(f"   = float mel energy * 2**(mel_scale_log2 + 2 s) = * 2**({t.mel_scale_log2} + "
        f"{2 * s}) -> {int(acc[0, j]) / 2.0**scale:.6g} (float64 from the Q15 window: "
        f"{mel_float:.6g})")

    log_q = log_mel(acc, shift, t)
    floor = t.log_floor_q << (2 * s)
    y = int(acc[0, j]) + floor
    n = y.bit_length() - 1
    frac = ((y >> max(n - LOG_BITS, 0)) << max(LOG_BITS - n, 0)) & 0xFFFF
    idx, rem = frac >> LOG_INTERP_BITS, frac & ((1 << LOG_INTERP_BITS) - 1)
    lo, hi = int(t.log_table[idx]), int(t.log_table[idx + 1])
    l2 = (n << LOG_BITS) + lo + (((hi - lo) * rem) >> LOG_INTERP_BITS)
    say(f"6. log: y = acc + (log_floor_q << 2 s) = {int(acc[0, j])} + ({t.log_floor_q} << {2 * s})"
        f" = {y}")
    say(f"   n = bit_length(y) - 1 = {n}; f = 16 bits below the leading one = {frac}; "
        f"idx = f >> 10 = {idx}, rem = f & 1023 = {rem}")
    say(f"   table[{idx}] = {lo}, table[{idx + 1}] = {hi}: log2(y) = ({n} << 16) + {lo} + "
        f"(({hi} - {lo}) * {rem} >> 10) = {l2}")
    say(f"   L = log2(y) - ({t.mel_scale_log2} + {2 * s}) << 16 = {l2} - {scale << LOG_BITS} = "
        f"{int(log_q[0, j])} (Q16: {int(log_q[0, j]) / 65536:.6f}; float64 log2(mel + 1e-6) = "
        f"{math.log2(int(acc[0, j]) / 2.0**scale + cfg.log_floor):.6f})")
    say(f"   all 40: L = {log_q[0].tolist()}")

    codes = dct_int8(log_q, t)
    dct_acc = log_q[0].astype(np.int64) @ t.dct.T.astype(np.int64)
    gains, offsets = np.array(cfg.output_gain), np.array(cfg.output_offset)
    float_codes = (dct_matrix(10, 40) @ (log_q[0] / 65536.0 * math.log(2.0))) * gains + offsets
    say("7. DCT: acc_k = sum_j dct[k, j] * L[j] (int64, Q20 x Q16 = Q36), code = (acc_k + "
        "offset_k) >> 36, clipped")
    for k in range(3):
        say(f"   k={k}: acc = {int(dct_acc[k])}, offset = {int(t.dct_offset[k])}, "
            f"(acc + offset) >> 36 = {int((dct_acc[k] + t.dct_offset[k]) >> OUTPUT_SHIFT)}  "
            f"(float: {float_codes[k]:.3f})")
    say(f"   max |acc| = 2**{math.log2(np.abs(dct_acc).max()):.1f}")
    say(f"8. int8 codes: {codes[0].tolist()}")
    say(f"   kws.frontend.mfcc(clip)[{FRAME}] = {mfcc(audio, cfg)[FRAME].tolist()}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(walkthrough())

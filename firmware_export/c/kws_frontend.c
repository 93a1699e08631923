/*
 * kws_frontend.c: the fixed-point MFCC front end, a stage-for-stage twin of kws/frontend (numpy).
 *
 *   int16 window -> Q15 Hann + block-floating shift (window.py) -> 512-point real FFT as a
 *   256-point complex radix-2 DIT FFT with halving stages plus the real split (fft.py)
 *   -> power (power.py) -> sparse Q15 mel filters (mel.py) -> Q16 log2 (log.py)
 *   -> Q20 DCT-II, int64 accumulation, int8 codes (dct.py)
 *
 * Each stage computes the same integers as numpy with the same rounding, but not with numpy's
 * loops: the first two FFT stages are one radix-4 pass, the others run in pairs, the real split
 * and the power are one loop, the mel filterbank and the log are one loop, the tables are kept
 * in half or a quarter (symmetries checked when they are generated). Integer sums are exact in
 * any order and no value nears its type's limit (the bounds and their derivation:
 * docs/fixed_point.md), so only the schedule differs, never a value. The numpy DCT is a
 * float64 matmul that is exact (kws/frontend/dct.py); here it is the plain int64 sum, grouped
 * by the row symmetry dct[k][M-1-n] = (-1)^k dct[k][n], which is exact too.
 *
 * Signed right shifts: numpy's >> on negative integers is a floor (arithmetic) shift. C99 leaves
 * it implementation-defined; GCC, Clang and arm-none-eabi-gcc define it as arithmetic, which the
 * compile-time checks below and kws_frontend_init() verify. Left shifts of negative values are
 * undefined in C99, so they are written as multiplications by a power of two.
 *
 * Compiler- and target-specific code (SMMUL/SMMLA and RBIT on ARMv7E-M, __builtin_clz, paired
 * 16-bit loads on little-endian targets) each has a plain C99 twin with the same results;
 * defining KWS_PORTABLE_C selects the plain versions everywhere (the tests build both).
 */
#include "kws_frontend.h"

#include <string.h>

/* ---- compile-time checks ------------------------------------------------------------------ */

#define KWS_STATIC_ASSERT(cond, name) typedef char kws_static_assert_##name[(cond) ? 1 : -1]

/* Arithmetic (floor) right shift of negative int32 and int64, as numpy's >>. */
KWS_STATIC_ASSERT((-3 >> 1) == -2 && (-1 >> 31) == -1, arithmetic_shift_int32);
KWS_STATIC_ASSERT(((int64_t)-3 >> 1) == -2 && (INT64_C(-1) >> 63) == -1, arithmetic_shift_int64);
/* The formats this file is written for (kws/frontend/tables.py); the tables generator emits them. */
KWS_STATIC_ASSERT(KWS_TWIDDLE_BITS == 31, q31_twiddles);
KWS_STATIC_ASSERT(KWS_NORM_TARGET_BITS <= 30 && KWS_MAX_NORM_SHIFT < 32, norm_fits_int32);
KWS_STATIC_ASSERT(KWS_LOG_BITS == 16 && KWS_LOG_TABLE_BITS < KWS_LOG_BITS, q16_log);
KWS_STATIC_ASSERT(KWS_LOG_TABLE_LEN == (1 << KWS_LOG_TABLE_BITS) + 1, log_table_len);
KWS_STATIC_ASSERT(KWS_FFT_SIZE == (1 << KWS_FFT_LOG2) && KWS_FFT_SIZE >= 16 && KWS_FFT_SIZE <= 8192,
                  fft_size);
KWS_STATIC_ASSERT(KWS_WINDOW_SAMPLES <= KWS_FFT_SIZE && KWS_STRIDE_SAMPLES <= KWS_WINDOW_SAMPLES,
                  window_fits);
KWS_STATIC_ASSERT(KWS_NUM_BINS <= KWS_FFT_SIZE / 2, bins_fit_in_place);
KWS_STATIC_ASSERT(KWS_WINDOW_HALF_LEN == KWS_WINDOW_SAMPLES / 2 + 1, window_half_len);
KWS_STATIC_ASSERT(KWS_TWIDDLE_QUARTER_LEN == KWS_FFT_SIZE / 4 + 1, twiddle_quarter_len);
KWS_STATIC_ASSERT(KWS_DCT_HALF_LEN == (KWS_NUM_MEL + 1) / 2, dct_half_len);

#define HALF (KWS_FFT_SIZE / 2)        /* complex FFT points */
#define QUARTER (KWS_FFT_SIZE / 4)     /* twiddle index of -i (pi / 2) */
#define REV_BITS (KWS_FFT_LOG2 - 1)    /* bits of a complex FFT index */
#define LOG_INTERP_BITS (KWS_LOG_BITS - KWS_LOG_TABLE_BITS)

#if defined(__GNUC__)
#define KWS_ALWAYS_INLINE __attribute__((always_inline))
#define KWS_NOINLINE __attribute__((noinline))
#else
#define KWS_ALWAYS_INLINE
#define KWS_NOINLINE
#endif

/* Optional profiling hook between stages (benchmarks/bench_c_frontend.py defines it). */
#ifndef KWS_FRONTEND_MARK
#define KWS_FRONTEND_MARK(stage) ((void)0)
#endif

/* ---- small helpers ------------------------------------------------------------------------ */

/* floor(a * b / 2**32): the high word of the 64-bit product, numpy's mulh in fft.py. For a Q31
 * twiddle b it is a * b_real / 2 rounded down. On a Cortex-M4 it is one SMMUL (the high word of
 * the signed product, truncated, i.e. floored: exact), and mulh_add(acc, a, b) = acc + mulh(a, b)
 * is one SMMLA ((acc << 32) + a * b, high word: exact, since acc << 32 has no low bits). GCC
 * would emit SMULL (two result registers) plus an ADD for the portable form. */
#if defined(__GNUC__) && defined(__ARM_FEATURE_DSP) && !defined(KWS_PORTABLE_C)
KWS_ALWAYS_INLINE static inline int32_t mulh(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

KWS_ALWAYS_INLINE static inline int32_t mulh_add(int32_t acc, int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#else
KWS_ALWAYS_INLINE static inline int32_t mulh(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * b) >> 32);
}

KWS_ALWAYS_INLINE static inline int32_t mulh_add(int32_t acc, int32_t a, int32_t b)
{
    return acc + mulh(a, b);
}
#endif

/* Count leading zeros of a non-zero word. */
KWS_ALWAYS_INLINE static inline unsigned clz32(uint32_t x)
{
#if defined(__GNUC__) && !defined(KWS_PORTABLE_C)
    return (unsigned)__builtin_clz(x);
#else
    unsigned n = 0;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

KWS_ALWAYS_INLINE static inline unsigned clz64(uint64_t x)
{
#if defined(__GNUC__) && !defined(KWS_PORTABLE_C)
    return (unsigned)__builtin_clzll(x);
#else
    uint32_t hi = (uint32_t)(x >> 32);
    return hi ? clz32(hi) : 32u + clz32((uint32_t)x);
#endif
}

/* &z[2 * rev(m)]: where complex FFT input m goes, rev being the bit reversal of REV_BITS bits
 * (numpy's tables.bitrev). On ARMv7-M, RBIT puts rev(m) in the top REV_BITS bits, and one shift
 * right by 29 - REV_BITS gives the byte offset rev(m) * 8. */
KWS_ALWAYS_INLINE static inline int32_t *fft_slot(int32_t *z, uint32_t m)
{
#if defined(__GNUC__) && !defined(KWS_PORTABLE_C) && \
    (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__))
    uint32_t r;
    __asm__("rbit %0, %1" : "=r"(r) : "r"(m));
    return (int32_t *)(void *)((unsigned char *)z + (r >> (29 - REV_BITS)));
#else
    uint32_t r = 0;
    unsigned i;
    for (i = 0; i < REV_BITS; ++i) {
        r = (r << 1) | ((m >> i) & 1u);
    }
    return z + 2 * r;
#endif
}

KWS_ALWAYS_INLINE static inline uint32_t abs32(int32_t v)  /* |v| for |v| < 2**31 */
{
    return (uint32_t)(v < 0 ? -v : v);
}

/* Q15 window value w[n] from the half table: w[n] = w[N - n] above N / 2. */
KWS_ALWAYS_INLINE static inline int32_t window_at(uint32_t n)
{
    return n < KWS_WINDOW_HALF_LEN ? kws_window_half[n] : kws_window_half[KWS_WINDOW_SAMPLES - n];
}

/* ---- stage 1: window (window.py) ----------------------------------------------------------- */

/* Two consecutive int16 as one 32-bit word (one load); lo16/hi16 take them apart again. On a
 * little-endian target the first sample is the low half, and x * w on halves compiles to SMULBB,
 * SMULTT, SMULBT, SMULTB (16 x 16 -> 32, exact). Converting an out-of-range value to int16_t is
 * modular in GCC and Clang (implementation-defined in C99). Big-endian targets read one by one. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && !defined(KWS_PORTABLE_C) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define KWS_PAIR_LOADS 1
KWS_ALWAYS_INLINE static inline int32_t load_pair(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

KWS_ALWAYS_INLINE static inline int32_t lo16(int32_t v)
{
    return (int16_t)v;
}

KWS_ALWAYS_INLINE static inline int32_t hi16(int32_t v)
{
    return v >> 16;
}
#else
#define KWS_PAIR_LOADS 0
#endif

/* v[n] = x[n] * w[n] (int16 x Q15 -> int32, |v| < 2**30), zero-padded to KWS_FFT_SIZE and stored
 * as the complex FFT input z[m] = v[2m] + i v[2m + 1] at its bit-reversed position. Returns the
 * OR of every |v|, whose bit length is that of max |v|. */
KWS_NOINLINE static uint32_t window_frame(const int16_t *x, int32_t *z)
{
    enum {
        N = KWS_WINDOW_SAMPLES,
        DIRECT_END = KWS_WINDOW_HALF_LEN / 2,  /* pairs m < this: 2m + 1 <= N / 2 */
        MIRROR_START = (N - N / 2 + 1) / 2,    /* pairs m >= this: 2m >= ceil(N / 2) */
        PAIRS_END = N / 2                      /* pairs m < this: 2m + 1 < N */
    };
    uint32_t peak = 0;
    uint32_t m = 0;
    const int16_t *w = kws_window_half;

    for (; m < DIRECT_END; ++m) {              /* w[n] straight from the table */
#if KWS_PAIR_LOADS
        const int32_t xx = load_pair(x + 2 * m), ww = load_pair(w + 2 * m);
        const int32_t v0 = lo16(xx) * lo16(ww), v1 = hi16(xx) * hi16(ww);
#else
        const int32_t v0 = (int32_t)x[2 * m] * w[2 * m];
        const int32_t v1 = (int32_t)x[2 * m + 1] * w[2 * m + 1];
#endif
        int32_t *p = fft_slot(z, m);
        p[0] = v0;
        p[1] = v1;
        peak |= abs32(v0) | abs32(v1);
    }
    for (; m < MIRROR_START; ++m) {            /* a pair straddling N / 2 (odd N only) */
        const int32_t v0 = (int32_t)x[2 * m] * window_at(2 * m);
        const int32_t v1 = (int32_t)x[2 * m + 1] * window_at(2 * m + 1);
        int32_t *p = fft_slot(z, m);
        p[0] = v0;
        p[1] = v1;
        peak |= abs32(v0) | abs32(v1);
    }
    for (; m < PAIRS_END; ++m) {               /* w[n] = w[N - n], read backwards */
#if KWS_PAIR_LOADS
        /* ww = (w[N - 2m - 1], w[N - 2m]) in (low, high) */
        const int32_t xx = load_pair(x + 2 * m), ww = load_pair(w + (N - 2 * m - 1));
        const int32_t v0 = lo16(xx) * hi16(ww), v1 = hi16(xx) * lo16(ww);
#else
        const int32_t v0 = (int32_t)x[2 * m] * w[N - 2 * m];
        const int32_t v1 = (int32_t)x[2 * m + 1] * w[N - 2 * m - 1];
#endif
        int32_t *p = fft_slot(z, m);
        p[0] = v0;
        p[1] = v1;
        peak |= abs32(v0) | abs32(v1);
    }
    if (N % 2) {                               /* odd N: the last sample pairs with padding */
        const int32_t v0 = (int32_t)x[N - 1] * window_at(N - 1);
        int32_t *p = fft_slot(z, m);
        p[0] = v0;
        p[1] = 0;
        peak |= abs32(v0);
        ++m;
    }
    for (; m < HALF; ++m) {                    /* zero padding up to KWS_FFT_SIZE */
        int32_t *p = fft_slot(z, m);
        p[0] = 0;
        p[1] = 0;
    }
    return peak;
}

/* Block floating point (window.py): the largest left shift s with max |v << s| < 2**30, capped
 * at KWS_MAX_NORM_SHIFT (the cap for an all-zero frame too). */
static unsigned norm_shift(uint32_t peak)
{
    unsigned bits = peak ? 32u - clz32(peak) : 0u;
    unsigned s = KWS_NORM_TARGET_BITS - bits;
    return s < KWS_MAX_NORM_SHIFT ? s : KWS_MAX_NORM_SHIFT;
}

/* ---- stage 2: FFT (fft.py) ----------------------------------------------------------------- */

/* The first two radix-2 stages fused (a radix-4 pass over 4 consecutive points), with the
 * normalizing left shift applied as the points are loaded. Their twiddles are W^0 = (c, s) =
 * (ONE, 0) and W^(N/4) = (0, ONE); mulh(x, 0) = 0 exactly, so those products are dropped. */
KWS_NOINLINE static void fft_first_two_stages(int32_t *z, unsigned shift)
{
    const int32_t one = KWS_TWIDDLE_ONE;
    const int32_t scale = (int32_t)1 << shift;  /* v << s, written as v * 2**s */
    int32_t *p;
    for (p = z; p < z + 2 * HALF; p += 8) {
        int32_t r0 = p[0] * scale, i0 = p[1] * scale, r1 = p[2] * scale, i1 = p[3] * scale;
        int32_t r2 = p[4] * scale, i2 = p[5] * scale, r3 = p[6] * scale, i3 = p[7] * scale;
        int32_t tr, ti, hr, hi;
        int32_t y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i;
        /* stage 1 (span 1), twiddle 1: t = (mulh(b_re, ONE), mulh(b_im, ONE)) */
        tr = mulh(r1, one);
        ti = mulh(i1, one);
        hr = r0 >> 1;
        hi = i0 >> 1;
        y0r = hr + tr;
        y0i = hi + ti;
        y1r = hr - tr;
        y1i = hi - ti;
        tr = mulh(r3, one);
        ti = mulh(i3, one);
        hr = r2 >> 1;
        hi = i2 >> 1;
        y2r = hr + tr;
        y2i = hi + ti;
        y3r = hr - tr;
        y3i = hi - ti;
        /* stage 2 (span 2): (y0, y2) with twiddle 1 */
        tr = mulh(y2r, one);
        ti = mulh(y2i, one);
        hr = y0r >> 1;
        hi = y0i >> 1;
        p[0] = hr + tr;
        p[1] = hi + ti;
        p[4] = hr - tr;
        p[5] = hi - ti;
        /* (y1, y3) with twiddle -i (c = 0, s = ONE): t = (mulh(b_im, ONE), -mulh(b_re, ONE)) */
        tr = mulh(y3i, one);
        ti = -mulh(y3r, one);
        hr = y1r >> 1;
        hi = y1i >> 1;
        p[2] = hr + tr;
        p[3] = hi + ti;
        p[6] = hr - tr;
        p[7] = hi - ti;
    }
}

/* One halving butterfly (fft.py): t = W b / 2 with W = c - i s, a' = a/2 + t, b' = a/2 - t. */
KWS_ALWAYS_INLINE static inline void butterfly(int32_t *a, int32_t *b, int32_t c, int32_t s)
{
    const int32_t br = b[0], bi = b[1];
    const int32_t tr = mulh_add(mulh(br, c), bi, s);
    const int32_t ti = mulh(bi, c) - mulh(br, s);
    const int32_t ar = a[0] >> 1, ai = a[1] >> 1;
    a[0] = ar + tr;
    a[1] = ai + ti;
    b[0] = ar - tr;
    b[1] = ai - ti;
}

/* One radix-2 stage of span `span` (4 .. HALF / 2). Butterfly j of a group uses twiddle index
 * k = j * step (step = KWS_FFT_SIZE / (2 span)); butterflies j and j + span / 2 are done together
 * because W^(k + N/4) = (c, s) -> (-s, c): one pair of table reads serves both. Always inlined
 * with a constant span, so that every offset is an immediate and nothing spills. */
KWS_ALWAYS_INLINE static inline void fft_stage(int32_t *z, const unsigned span)
{
    const int32_t *q = kws_twiddle_quarter;  /* q[k] = sin, q[QUARTER - k] = cos (k <= N/4) */
    const unsigned step = KWS_FFT_SIZE / (2 * span);
    unsigned j;
    for (j = 0; j < span / 2; ++j) {
        const int32_t c = q[QUARTER - j * step], s = q[j * step], ns = -s;
        int32_t *a;
        for (a = z + 2 * j; a < z + 2 * HALF; a += 4 * span) {
            butterfly(a, a + 2 * span, c, s);
            butterfly(a + span, a + 3 * span, ns, c);
        }
    }
}

/* Two consecutive radix-2 stages, spans S and 2S, done together on each set of 4 points
 * {j, j + S, j + 2S, j + 3S} of a block of 4S (the set is closed under both stages, so every
 * butterfly sees the same inputs as stage after stage): half the loads and stores. Stage S uses
 * twiddle index k1 = j * N / (2S) for both of its butterflies; stage 2S uses k2 = k1 / 2 for
 * (j, j + 2S) and k2 + N/4, i.e. (c, s) -> (-s, c), for (j + S, j + 3S). */
KWS_ALWAYS_INLINE static inline void fft_dual_stage(int32_t *z, const unsigned span)
{
    const int32_t *q = kws_twiddle_quarter;
    const unsigned step2 = KWS_FFT_SIZE / (4 * span);
    unsigned j;
    for (j = 0; j < span; ++j) {
        const unsigned k2 = j * step2, k1 = 2 * k2;
        const int32_t c2 = q[QUARTER - k2], s2 = q[k2];
        const int32_t c1 = k1 <= QUARTER ? q[QUARTER - k1] : -q[k1 - QUARTER];
        const int32_t s1 = k1 <= QUARTER ? q[k1] : q[HALF - k1];
        int32_t *a = z + 2 * j;
        do {                             /* over the blocks (one block in the last pair) */
            int32_t *b = a + 2 * span, *c = a + 4 * span, *d = a + 6 * span;
            butterfly(a, b, c1, s1);     /* stage S */
            butterfly(c, d, c1, s1);
            butterfly(a, c, c2, s2);     /* stage 2S */
            butterfly(b, d, -s2, c2);
            a += 8 * span;
        } while (4 * span < HALF && a < z + 2 * HALF);
    }
}

/* The radix-2 stages after the first two (spans 4, 8, ..., HALF / 2): pairs of stages, and one
 * single stage first when their number is odd. Spans are constants in every call. */
KWS_NOINLINE static void fft_stages(int32_t *z)
{
#if (KWS_FFT_LOG2 - 3) % 2
#define KWS_FIRST_DUAL 8
    fft_stage(z, 4);
#else
#define KWS_FIRST_DUAL 4
#endif
#if KWS_FIRST_DUAL < HALF
    fft_dual_stage(z, KWS_FIRST_DUAL);
#endif
#if KWS_FIRST_DUAL * 4 < HALF
    fft_dual_stage(z, KWS_FIRST_DUAL * 4);
#endif
#if KWS_FIRST_DUAL * 16 < HALF
    fft_dual_stage(z, KWS_FIRST_DUAL * 16);
#endif
#if KWS_FIRST_DUAL * 64 < HALF
    fft_dual_stage(z, KWS_FIRST_DUAL * 64);
#endif
#if KWS_FIRST_DUAL * 256 < HALF
    fft_dual_stage(z, KWS_FIRST_DUAL * 256);
#endif
#if KWS_FIRST_DUAL * 1024 < HALF
    fft_dual_stage(z, KWS_FIRST_DUAL * 1024);
#endif
}

/* ---- stages 3 and 4: real split and power (fft.py, power.py) ------------------------------- */

/* Bin k of the real FFT from Z[k] = (ar, ai), Z[(HALF - k) % HALF] = (br, bi) and the twiddle
 * W_N^k = (c, s); returns its power re^2 + im^2 (< 2**60, docs/fixed_point.md "4. Power") shifted
 * right by KWS_MEL_INPUT_SHIFT. */
KWS_ALWAYS_INLINE static inline uint64_t split_power(int32_t ar, int32_t ai, int32_t br, int32_t bi, int32_t c,
                                   int32_t s)
{
    const int32_t zk_re = ar >> 1, zk_im = ai >> 1;
    const int32_t zc_re = br >> 1, zc_im = (-bi) >> 1;    /* conj Z[HALF - k], halved */
    const int32_t e_re = zk_re + zc_re, e_im = zk_im + zc_im;
    const int32_t d_re = zk_re - zc_re, d_im = zk_im - zc_im;
    /* X[k] = e / 2 + u, u = -i W d / 2 */
    const int32_t x_re = mulh_add(e_re >> 1, d_im, c) - mulh(d_re, s);
    const int32_t x_im = (e_im >> 1) - mulh(d_im, s) - mulh(d_re, c);
    const uint64_t power = (uint64_t)((int64_t)x_re * x_re) + (uint64_t)((int64_t)x_im * x_im);
    return power >> KWS_MEL_INPUT_SHIFT;
}

/* Store a uint64 in two consecutive words of the work buffer (low word first). */
KWS_ALWAYS_INLINE static inline void put64(uint32_t *w, uint64_t v)
{
    w[0] = (uint32_t)v;
    w[1] = (uint32_t)(v >> 32);
}

/* Bins 0 .. KWS_NUM_BINS - 1, in place: the pair of words of Z[k] receives (power[k] >> 20).
 * Bin k reads Z[k] and its mirror Z[(HALF - k) % HALF]; both are read before either slot is
 * written. Bin 0 is its own mirror; for k >= 1 the mirror walks down from the top. */
KWS_NOINLINE static void real_split_power(int32_t *z)
{
    /* The same words, seen as unsigned: allowed aliasing (signed/unsigned of one type). */
    uint32_t *w = (uint32_t *)z;
    const int32_t *sin_k = kws_twiddle_quarter;            /* q[k] = sin, k <= N/4 */
    const int32_t *cos_k = kws_twiddle_quarter + QUARTER;  /* q[QUARTER - k] = cos */
    const int32_t *zm = z + 2 * HALF;
    enum { LAST = KWS_NUM_BINS - 1 < QUARTER ? KWS_NUM_BINS - 1 : QUARTER };
    uint32_t k;
    put64(w, split_power(z[0], z[1], z[0], z[1], *cos_k, *sin_k));
    for (k = 1; k <= LAST; ++k) {
        const int32_t c = *--cos_k, s = *++sin_k;           /* W_N^k */
        const int32_t ar = z[2 * k], ai = z[2 * k + 1];
        const int32_t br = zm[-2], bi = zm[-1];             /* Z[HALF - k] */
        const uint64_t pk = split_power(ar, ai, br, bi, c, s);
        zm -= 2;
#if KWS_NUM_BINS > QUARTER + 1
        /* Bin m = HALF - k (above N/4) reads the same two points, swapped; W_N^m = (-c, s). */
        if (HALF - k < KWS_NUM_BINS && HALF - k != k) {
            put64(w + 2 * (HALF - k), split_power(br, bi, ar, ai, -c, s));
        }
#endif
        put64(w + 2 * k, pk);
    }
}

/* ---- stages 5 and 6: mel filterbank and log (mel.py, log.py) ------------------------------- */

/* Q16 log2 of y >= 1 (log.py's log2_q16): n = bit_length(y) - 1, f = the 16 bits below the
 * leading one, log2(1 + f) by linear interpolation in the 65-entry Q16 table. */
KWS_ALWAYS_INLINE static inline int32_t log2_q16(uint64_t y)
{
    const unsigned lz = clz64(y);
    const int32_t n = 63 - (int32_t)lz;
    const uint32_t top = (uint32_t)((y << lz) >> 32);  /* leading one at bit 31 */
    const uint32_t frac = (top >> (31 - KWS_LOG_BITS)) & ((1u << KWS_LOG_BITS) - 1u);
    const uint32_t idx = frac >> LOG_INTERP_BITS;
    const uint32_t rem = frac & ((1u << LOG_INTERP_BITS) - 1u);
    const uint32_t lo = kws_log_table[idx], hi = kws_log_table[idx + 1];
    return n * (1 << KWS_LOG_BITS) + (int32_t)(lo + (((hi - lo) * rem) >> LOG_INTERP_BITS));
}

/* log_mel[j] = log2(mel_j + floor) in Q16 (float units): acc = sum of Q15 weight * (P >> 20)
 * over the filter's bins (< 2**55), plus the floor in the same units (< 2**56 in all), minus the
 * scale. Bounds: docs/fixed_point.md, "5. Mel filterbank" and "6. Log". */
KWS_NOINLINE static void mel_log(const int32_t *z, unsigned shift, int32_t *log_mel)
{
    const uint32_t *p = (const uint32_t *)z;
    const uint64_t floor_q = KWS_LOG_FLOOR_Q << (2 * shift);
    const int32_t scale = (KWS_MEL_SCALE_LOG2 + 2 * (int32_t)shift) * (1 << KWS_LOG_BITS);
    const uint16_t *wt = kws_mel_weights;
    unsigned j;
    for (j = 0; j < KWS_NUM_MEL; ++j) {
        const uint32_t *bin = p + 2u * kws_mel_start[j];
        const uint16_t *const end = wt + kws_mel_length[j];  /* every filter has >= 1 bin */
        uint64_t acc_lo = 0;  /* sum of weight * low word: UMLAL */
        uint32_t acc_hi = 0;  /* sum of weight * high word (< 2**23 as acc < 2**55): MLA */
        do {
            const uint32_t wi = *wt++;
            acc_lo += (uint64_t)bin[0] * wi;
            acc_hi += bin[1] * wi;
            bin += 2;
        } while (wt != end);
        log_mel[j] = log2_q16(acc_lo + ((uint64_t)acc_hi << 32) + floor_q) - scale;
    }
}

/* ---- stage 7: DCT and int8 codes (dct.py) ---------------------------------------------------- */

/* code[k] = clip((sum_n dct[k][n] L[n] + offset[k]) >> 36, -128, 127). Row k is even (k even) or
 * odd (k odd) about its middle, so the sum runs over half the columns on L[n] + L[M-1-n] or
 * L[n] - L[M-1-n]; every product and sum is an exact integer (< 2**50), equal to numpy's. */
KWS_NOINLINE static void dct_int8(int32_t *log_mel, int8_t *out)
{
    enum { M = KWS_NUM_MEL };
    unsigned n, k;
    for (n = 0; n < M / 2; ++n) {  /* fold: sums on the left, differences on the right */
        const int32_t a = log_mel[n], b = log_mel[M - 1 - n];
        log_mel[n] = a + b;
        log_mel[M - 1 - n] = a - b;
    }
    for (k = 0; k < KWS_NUM_COEFFS; ++k) {
        const int32_t *row = kws_dct_half[k];
        int64_t acc = kws_dct_offset[k];
        int64_t code;
        if (k % 2 == 0) {
            for (n = 0; n < KWS_DCT_HALF_LEN; ++n) {   /* odd M: the middle column, unfolded */
                acc += (int64_t)row[n] * log_mel[n];
            }
        } else {
            for (n = 0; n < M / 2; ++n) {              /* odd M: the middle weight is 0 */
                acc += (int64_t)row[n] * log_mel[M - 1 - n];
            }
        }
        code = acc >> KWS_OUTPUT_SHIFT;
        out[k] = (int8_t)(code < -128 ? -128 : code > 127 ? 127 : code);
    }
}

/* ---- one frame, and the streaming API ------------------------------------------------------ */

static void compute_frame(kws_frontend_t *fe, int8_t *out)
{
    int32_t *z = fe->work;
    unsigned shift;
    KWS_FRONTEND_MARK(0);
    shift = norm_shift(window_frame(fe->samples, z));  /* Q15 window, bit-reversed order */
    KWS_FRONTEND_MARK(1);
    fft_first_two_stages(z, shift);                      /* << shift; radix 4, twiddles 1, -i */
    fft_stages(z);                                       /* radix-2 stages, X / N */
    KWS_FRONTEND_MARK(2);
    real_split_power(z);                                 /* (re^2 + im^2) >> 20 per bin */
    KWS_FRONTEND_MARK(3);
    mel_log(z, shift, fe->log_mel);                      /* Q15 filters, log2 in Q16 */
    KWS_FRONTEND_MARK(4);
    dct_int8(fe->log_mel, out);                          /* DCT-II, gain, offset -> int8 */
    KWS_FRONTEND_MARK(5);
}

int kws_frontend_init(kws_frontend_t *fe)
{
    /* The run-time twin of the compile-time shift checks (volatile: not folded away). */
    volatile int32_t m3 = -3;
    volatile int64_t m3l = -3;
    if (fe == NULL) {
        return KWS_FRONTEND_EARG;
    }
    if ((m3 >> 1) != -2 || (m3l >> 1) != -2) {
        return KWS_FRONTEND_EPLATFORM;
    }
    kws_frontend_reset(fe);
    return KWS_FRONTEND_OK;
}

void kws_frontend_reset(kws_frontend_t *fe)
{
    fe->fill = 0;
    fe->frames = 0;
}

int kws_frontend_push(kws_frontend_t *fe, const int16_t *samples, size_t n, size_t *consumed,
                      int8_t out[KWS_NUM_COEFFS])
{
    size_t take;
    enum { KEEP = KWS_WINDOW_SAMPLES - KWS_STRIDE_SAMPLES };
    if (fe == NULL || consumed == NULL || out == NULL || (samples == NULL && n > 0)) {
        if (consumed != NULL) {
            *consumed = 0;
        }
        return KWS_FRONTEND_EARG;
    }
    take = KWS_WINDOW_SAMPLES - fe->fill;
    if (n < take) {
        take = n;
    }
    if (take > 0) {
        memcpy(fe->samples + fe->fill, samples, take * sizeof(int16_t));
        fe->fill += (uint32_t)take;
    }
    *consumed = take;
    if (fe->fill < KWS_WINDOW_SAMPLES) {
        return KWS_FRONTEND_OK;
    }
    compute_frame(fe, out);
    /* Keep the overlap: the last KEEP samples become the start of the next window. A copy of
     * KEEP samples per frame is cheaper than wrap-around indexing in the window loop. */
    if (KEEP > 0) {
        memmove(fe->samples, fe->samples + KWS_STRIDE_SAMPLES, KEEP * sizeof(int16_t));
    }
    fe->fill = KEEP;
    fe->frames++;
    return KWS_FRONTEND_FRAME;
}

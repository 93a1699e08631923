/*
 * kws_frontend.h: the fixed-point MFCC front end in C99, bit-exact with kws.frontend (numpy).
 *
 * int16 audio at KWS_SAMPLE_RATE_HZ in, one int8 frame of KWS_NUM_COEFFS codes out every
 * KWS_STRIDE_SAMPLES samples (49 x 10 per second at the defaults). Integer arithmetic only, no
 * malloc, no libm; every table comes from kws_frontend_tables.h/.c, which are generated from a
 * Python FrontendConfig by kws/frontend/c_tables.py (never edited by hand). The same integers as
 * numpy, stage for stage, computed with loops of its own (fused FFT stages, fused mel and log):
 * see kws_frontend.c and docs/fixed_point.md.
 *
 * Usage (streaming; any chunk sizes, including 0 and 1):
 *
 *     static kws_frontend_t fe;                // ~3.2 KB at the defaults, see sizeof
 *     int8_t frame[KWS_NUM_COEFFS];
 *     if (kws_frontend_init(&fe) != KWS_FRONTEND_OK) { ... }   // platform self-check failed
 *     while (n > 0) {                          // samples: int16_t *, n: size_t
 *         size_t used;
 *         if (kws_frontend_push(&fe, samples, n, &used, frame) == KWS_FRONTEND_FRAME) {
 *             ... frame holds the next int8 feature frame ...
 *         }
 *         samples += used;
 *         n -= used;
 *     }
 *
 * kws_frontend_push consumes samples until a frame completes (returns KWS_FRONTEND_FRAME and
 * writes it to out) or the input runs out (returns KWS_FRONTEND_OK, every sample consumed). Frame f
 * covers samples [f * KWS_STRIDE_SAMPLES, f * KWS_STRIDE_SAMPLES + KWS_WINDOW_SAMPLES) counted
 * from the last init/reset; the frames equal kws.frontend.mfcc() of the same samples, bit for bit,
 * whatever the chunking. Not thread-safe per instance; instances are independent.
 */
#ifndef KWS_FRONTEND_H
#define KWS_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

#include "kws_frontend_tables.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_FRONTEND_OK 0        /* push: all input consumed, no frame completed */
#define KWS_FRONTEND_FRAME 1     /* push: a frame completed and was written to out */
#define KWS_FRONTEND_EARG (-1)   /* a NULL pointer where one is needed */
#define KWS_FRONTEND_EPLATFORM (-2) /* init: the compiler's signed shifts are not arithmetic */

/* The whole state: fixed size, known at compile time (no heap). */
typedef struct kws_frontend {
    /* The last samples, oldest first: the current window fills up to KWS_WINDOW_SAMPLES. */
    int16_t samples[KWS_WINDOW_SAMPLES];
    /* Samples held in `samples` (KWS_WINDOW_SAMPLES - KWS_STRIDE_SAMPLES after a frame). */
    uint32_t fill;
    /* Frames produced since init/reset. */
    uint32_t frames;
    /* Work buffer of one frame: the complex FFT (interleaved re, im int32), then, in place, the
     * power of bin k shifted right by KWS_MEL_INPUT_SHIFT as a uint64 split in two words. */
    int32_t work[KWS_FFT_SIZE];
    /* Q16 log2 mel energies of one frame, folded in place for the symmetric DCT. */
    int32_t log_mel[KWS_NUM_MEL];
} kws_frontend_t;

/* Check the platform (arithmetic right shifts) and reset. Returns KWS_FRONTEND_OK,
 * KWS_FRONTEND_EPLATFORM or KWS_FRONTEND_EARG (fe is NULL). */
int kws_frontend_init(kws_frontend_t *fe);

/* Forget all audio: the next sample pushed is sample 0 of a new signal. Same as a fresh init. */
void kws_frontend_reset(kws_frontend_t *fe);

/* Push up to n samples (samples may be NULL when n is 0). Sets *consumed to the number of samples
 * taken (n unless a frame completed earlier). Returns KWS_FRONTEND_FRAME with the frame in out,
 * KWS_FRONTEND_OK (no frame; all n consumed) or KWS_FRONTEND_EARG (fe, consumed or out is NULL, or
 * samples is NULL with n > 0; nothing consumed). */
int kws_frontend_push(kws_frontend_t *fe, const int16_t *samples, size_t n, size_t *consumed,
                      int8_t out[KWS_NUM_COEFFS]);

#ifdef __cplusplus
}
#endif

#endif /* KWS_FRONTEND_H */

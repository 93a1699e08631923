/*
 * native_batch.c: many frames through the C front end (firmware_export/c/kws_frontend.c) in
 * one call, for kws.frontend.native (training-time feature extraction on the host).
 *
 * Each frame is pushed into a freshly reset front end, so frame i of the output is the first
 * frame of frames[i]: exactly what the board computes for the same samples.
 */
#include <stddef.h>
#include <stdint.h>

#include "kws_frontend.h"

/* frames: int16 (count, KWS_WINDOW_SAMPLES); out: int8 (count, KWS_NUM_COEFFS).
 * Returns 0, or a negative kws_frontend error code. */
int kws_native_frames(const int16_t *frames, size_t count, int8_t *out)
{
    kws_frontend_t fe;
    int rc = kws_frontend_init(&fe);
    if (rc != KWS_FRONTEND_OK) {
        return rc;
    }
    for (size_t i = 0; i < count; ++i) {
        size_t used = 0;
        kws_frontend_reset(&fe);
        rc = kws_frontend_push(&fe, frames + i * KWS_WINDOW_SAMPLES, KWS_WINDOW_SAMPLES, &used,
                               out + i * KWS_NUM_COEFFS);
        if (rc != KWS_FRONTEND_FRAME || used != KWS_WINDOW_SAMPLES) {
            return rc < 0 ? rc : -100;
        }
    }
    return 0;
}

/* The sizes this library was built for, so Python can refuse a mismatched build. */
int kws_native_window_samples(void) { return KWS_WINDOW_SAMPLES; }
int kws_native_num_coeffs(void) { return KWS_NUM_COEFFS; }

/*
 * kws_stream.h - the streaming pipeline, C twin of kws/stream.py (ScoreStream + Pipeline).
 *
 *   int16 audio (any chunking)
 *     -> kws_frontend_push                       int8 frames (kws_frontend.c)
 *     -> history of the last KWS_FRAMES_PER_CLIP frames
 *     -> every hop_frames frames: one window     KWS_FRAMES_PER_CLIP x KWS_NUM_COEFFS int8
 *        (the caller runs the model on it: TFLite Micro on a board, anything in a test)
 *     -> kws_detector_update at the window's time (kws_detector.c)
 *
 * Written once for every target (the Arduino sketch, the generic main.cc, the host tests).
 * C99, integer only, fixed-size buffers, no malloc, no model code: the classifier stays
 * outside, so the same file builds with or without TensorFlow Lite Micro.
 *
 * Schedule and times, exactly as kws.stream.ScoreStream: frame f (counted from 0 since the
 * last reset or skip) completes a window when f + 1 >= KWS_FRAMES_PER_CLIP and
 * (f + 1 - KWS_FRAMES_PER_CLIP) % hop_frames == 0; the window is frames
 * f - KWS_FRAMES_PER_CLIP + 1 .. f, oldest first, and its result is stamped with the end of
 * frame f's audio, in ms:
 *
 *     time_ms = (start + f * KWS_STRIDE_SAMPLES + KWS_WINDOW_SAMPLES) * 1000 / KWS_SAMPLE_RATE_HZ
 *
 * (start: 0 after a reset, see kws_stream_skip; floor division; an int32, so the times stop advancing at
 * 2**31 - 1 ms, after 24.8 days). Detections therefore do not depend on how the audio was cut
 * into chunks, and a recording gives the same detections here as `kws detect` on the laptop.
 *
 * Usage, one step per call (Pipeline.push does the same for a whole chunk):
 *
 *     static kws_stream_t s;                             // ~5 KB at the defaults, see sizeof
 *     kws_stream_init(&s, &detector_config, hop_frames);
 *     while (n > 0) {
 *         size_t used;
 *         int rc = kws_stream_push(&s, samples, n, &used);     // KWS_STREAM_WINDOW or OK
 *         samples += used; n -= used;
 *         if (rc == KWS_STREAM_WINDOW) {
 *             kws_stream_window(&s, model_input);              // oldest frame first
 *             ... run the model: int8 scores[num_labels] ...
 *             KwsDetection d;
 *             if (kws_stream_result(&s, scores, &d) == KWS_STREAM_DETECTED) { ... }
 *         }
 *     }
 *
 * One thing has no Python counterpart: kws_stream_skip, for audio the board lost (its ring
 * overflowed while it was busy). The front end and the frame history start over after the
 * lost samples, the detector keeps its results, and the times keep counting the lost audio
 * (start = every sample pushed or skipped since the reset), so they stay audio time.
 */
#ifndef KWS_STREAM_H
#define KWS_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "kws_detector.h"
#include "kws_frontend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_STREAM_OK 0        /* push: every sample consumed, no window completed */
#define KWS_STREAM_WINDOW 1    /* push: a window completed; run the model, then _result */
#define KWS_STREAM_DETECTED 2  /* result: the detector reported a keyword */
#define KWS_STREAM_ERR_ARG (-1)     /* NULL pointer, hop_frames < 1, or a bad detector config */
#define KWS_STREAM_ERR_FRONTEND (-2) /* kws_frontend_init failed (signed shifts not arithmetic) */
#define KWS_STREAM_ERR_ORDER (-3)   /* push with a window waiting for its result, or a result
                                     * with no window waiting */
#define KWS_STREAM_ERR_DETECTOR (-4) /* kws_detector_update refused the result */
#define KWS_STREAM_NO_WINDOW (-1)   /* pending_ms when no window waits for its result */
#define KWS_STREAM_MAX_MS INT32_C(2147483647) /* times stop here (2**31 - 1 ms, 24.8 days) */

/* The whole state (fixed size). Read the fields, change them only through the functions. */
typedef struct {
  kws_frontend_t frontend;  /* the MFCC front end */
  KwsDetector detector;     /* the detector, fed one result per window */
  /* The last frames: frame f is row f % KWS_FRAMES_PER_CLIP. */
  int8_t history[KWS_FRAMES_PER_CLIP][KWS_NUM_COEFFS];
  int32_t hop_frames;       /* frames between two windows, >= 1 */
  uint64_t frames;          /* frames since the last reset or skip */
  uint32_t until_window;    /* frames still needed for the next window (>= 1) */
  uint64_t start_sample;    /* samples pushed or skipped before the current front-end stream */
  uint64_t samples;         /* samples pushed or skipped since the reset (the audio clock) */
  int32_t pending_ms;       /* time of the window waiting for its result, or NO_WINDOW */
  int32_t last_time_ms;     /* time of the newest result, -1 before the first */
  uint32_t windows;         /* windows completed since the reset (saturating) */
} kws_stream_t;

/* Start a fresh pipeline: check and keep detector_config (it must outlive the stream), set the
 * hop (frames between two windows, >= 1). Returns KWS_STREAM_OK or a negative error code. */
int kws_stream_init(kws_stream_t *stream, const KwsDetectorConfig *detector_config,
                    int32_t hop_frames);

/* Forget all audio and every result: the next sample is sample 0 of a new stream at 0 ms
 * (Pipeline.reset). */
void kws_stream_reset(kws_stream_t *stream);

/* Audio was lost: skipped samples (>= 0) that will never be pushed. The front end and the frame
 * history start over after them; the detector and the audio clock carry on. A window waiting
 * for its result is dropped. */
void kws_stream_skip(kws_stream_t *stream, uint64_t skipped);

/* Push up to n int16 samples (samples may be NULL when n is 0); *consumed = samples taken.
 * Returns KWS_STREAM_WINDOW as soon as a frame completes a window (the samples after it are
 * left for the next push), KWS_STREAM_OK when all n were consumed without one, or a negative
 * error code (nothing consumed). */
int kws_stream_push(kws_stream_t *stream, const int16_t *samples, size_t n, size_t *consumed);

/* Copy the waiting window, oldest frame first, into input (KWS_FRAMES_PER_CLIP x KWS_NUM_COEFFS
 * int8, the model's input tensor). Returns KWS_STREAM_OK or KWS_STREAM_ERR_ORDER (no window). */
int kws_stream_window(const kws_stream_t *stream, int8_t *input);

/* The model's int8 scores (num_labels of the detector config) for the waiting window: feed
 * them to the detector at the window's time. Returns KWS_STREAM_DETECTED (and fills
 * *detection), KWS_STREAM_OK, or a negative error code. */
int kws_stream_result(kws_stream_t *stream, const int8_t *scores, KwsDetection *detection);

#ifdef __cplusplus
}
#endif

#endif /* KWS_STREAM_H */

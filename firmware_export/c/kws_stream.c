/*
 * kws_stream.c - the streaming pipeline, C twin of kws/stream.py. See kws_stream.h for the
 * schedule and the times; the comments below name the Python lines each step follows.
 */
#include "kws_stream.h"

#include <string.h>

int kws_stream_init(kws_stream_t *stream, const KwsDetectorConfig *detector_config,
                    int32_t hop_frames) {
  if (stream == NULL || detector_config == NULL || hop_frames < 1) {
    return KWS_STREAM_ERR_ARG;  /* ScoreStream: hop_frames must be an int >= 1 */
  }
  if (kws_frontend_init(&stream->frontend) != KWS_FRONTEND_OK) {
    return KWS_STREAM_ERR_FRONTEND;
  }
  if (kws_detector_init(&stream->detector, detector_config) != KWS_DETECTOR_OK) {
    return KWS_STREAM_ERR_ARG;
  }
  stream->hop_frames = hop_frames;
  kws_stream_reset(stream);
  return KWS_STREAM_OK;
}

/* A new front-end stream whose sample 0 is audio-clock sample stream->samples. */
static void start_frontend(kws_stream_t *s) {
  kws_frontend_reset(&s->frontend);
  memset(s->history, 0, sizeof(s->history));
  s->frames = 0;
  s->until_window = KWS_FRAMES_PER_CLIP;  /* the first window ends at frame clip - 1 */
  s->start_sample = s->samples;
  s->pending_ms = KWS_STREAM_NO_WINDOW;
}

void kws_stream_reset(kws_stream_t *stream) {
  stream->samples = 0;
  start_frontend(stream);
  kws_detector_reset(&stream->detector);
  stream->last_time_ms = -1;
  stream->windows = 0;
}

void kws_stream_skip(kws_stream_t *stream, uint64_t skipped) {
  stream->samples += skipped;
  start_frontend(stream);
}

/* ms at the end of frame f's audio (kws.stream.result_time_ms), clamped to int32. */
static int32_t frame_end_ms(const kws_stream_t *s, uint64_t f) {
  const uint64_t end = s->start_sample + f * KWS_STRIDE_SAMPLES + KWS_WINDOW_SAMPLES;
  const uint64_t ms = end * 1000u / KWS_SAMPLE_RATE_HZ;
  return ms > (uint64_t)KWS_STREAM_MAX_MS ? KWS_STREAM_MAX_MS : (int32_t)ms;
}

int kws_stream_push(kws_stream_t *stream, const int16_t *samples, size_t n, size_t *consumed) {
  kws_stream_t *s = stream;
  size_t done = 0;
  if (consumed != NULL) {
    *consumed = 0;
  }
  if (s == NULL || consumed == NULL || (samples == NULL && n > 0)) {
    return KWS_STREAM_ERR_ARG;
  }
  if (s->pending_ms != KWS_STREAM_NO_WINDOW) {
    return KWS_STREAM_ERR_ORDER;  /* the waiting window needs its result first */
  }
  while (done < n) {
    size_t used = 0;
    int8_t frame[KWS_NUM_COEFFS];
    /* front end: StreamingMfcc.push */
    const int rc = kws_frontend_push(&s->frontend, samples + done, n - done, &used, frame);
    done += used;
    s->samples += used;
    if (rc != KWS_FRONTEND_FRAME) {
      break;  /* every sample consumed, no frame */
    }
    /* history: keep the last KWS_FRAMES_PER_CLIP frames (ScoreStream._history) */
    memcpy(s->history[s->frames % KWS_FRAMES_PER_CLIP], frame, KWS_NUM_COEFFS);
    s->frames += 1;
    /* schedule: f + 1 >= clip and (f + 1 - clip) % hop == 0, counted down */
    if (--s->until_window == 0) {
      s->until_window = (uint32_t)s->hop_frames;
      s->pending_ms = frame_end_ms(s, s->frames - 1);
      if (s->windows < UINT32_MAX) {
        s->windows += 1;
      }
      *consumed = done;
      return KWS_STREAM_WINDOW;
    }
  }
  *consumed = done;
  return KWS_STREAM_OK;
}

int kws_stream_window(const kws_stream_t *stream, int8_t *input) {
  uint32_t r;
  if (stream == NULL || input == NULL) {
    return KWS_STREAM_ERR_ARG;
  }
  if (stream->pending_ms == KWS_STREAM_NO_WINDOW) {
    return KWS_STREAM_ERR_ORDER;
  }
  /* rows f - clip + 1 .. f, oldest first: the oldest is row frames % clip */
  for (r = 0; r < KWS_FRAMES_PER_CLIP; ++r) {
    memcpy(input + (size_t)r * KWS_NUM_COEFFS,
           stream->history[(stream->frames + r) % KWS_FRAMES_PER_CLIP], KWS_NUM_COEFFS);
  }
  return KWS_STREAM_OK;
}

int kws_stream_result(kws_stream_t *stream, const int8_t *scores, KwsDetection *detection) {
  int rc;
  if (stream == NULL || scores == NULL || detection == NULL) {
    return KWS_STREAM_ERR_ARG;
  }
  if (stream->pending_ms == KWS_STREAM_NO_WINDOW) {
    return KWS_STREAM_ERR_ORDER;
  }
  /* detector: Pipeline.push, one detector.update per result in time order */
  rc = kws_detector_update(&stream->detector, scores, stream->pending_ms, detection);
  if (rc < 0) {
    return KWS_STREAM_ERR_DETECTOR;
  }
  stream->last_time_ms = stream->pending_ms;
  stream->pending_ms = KWS_STREAM_NO_WINDOW;
  return rc == KWS_DETECTOR_DETECTED ? KWS_STREAM_DETECTED : KWS_STREAM_OK;
}

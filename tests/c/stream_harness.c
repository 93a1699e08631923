/*
 * stream_harness.c: the C streaming pipeline (kws_stream.c) on the host, for
 * tests/test_c_stream.py. The model is replayed: the test gives the int8 scores the Python
 * pipeline's classifier returned for each window, in order.
 *
 *   kws_stream_harness run HOP WINDOW_MS MIN_COUNT SUPPRESSION_MS MAX_RESULTS THRESHOLDS WAKE
 *                          CHUNKS [SKIP_AT SKIP_SAMPLES] < input
 *       THRESHOLDS, WAKE, CHUNKS: comma lists (per-label thresholds 0..256, wake label
 *       indices, chunk sizes cycled; a 0 is an empty push). With SKIP_AT, the samples
 *       [SKIP_AT, SKIP_AT + SKIP_SAMPLES) are not pushed: kws_stream_skip(SKIP_SAMPLES) instead.
 *       input (little-endian): uint32 n, int16 samples[n], uint32 results, uint32 labels,
 *       int8 scores[results][labels].
 *       output, one line each: "W <window> <time_ms> <crc32 of the window, hex>" per window,
 *       "D <label> <time_ms> <score>" per detection, then "done windows <n> samples <n>".
 *   kws_stream_harness api
 *       the API contract (argument checks, call order, reset equals fresh, the schedule);
 *       prints "api: <n> checks, <m> failed" and exits 1 if any failed.
 * Exit status 2: bad arguments or input, more windows than scores, or a pipeline error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kws_stream.h"

#define MAX_LIST 4096u
#define WINDOW_BYTES ((size_t)KWS_FRAMES_PER_CLIP * KWS_NUM_COEFFS)

static kws_stream_t g_stream;
static int8_t g_input[WINDOW_BYTES];

static uint32_t crc32(const uint8_t *data, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  size_t i;
  int k;
  for (i = 0; i < n; ++i) {
    crc ^= data[i];
    for (k = 0; k < 8; ++k) {
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

/* "a,b,c" -> values; returns the count (0 if malformed or too long). */
static size_t parse_list(const char *text, long *values) {
  size_t count = 0;
  const char *p = text;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || (*end != ',' && *end != '\0') || count == MAX_LIST) {
      return 0;
    }
    values[count++] = v;
    p = *end ? end + 1 : end;
  }
  return count;
}

static int read_u32(FILE *in, uint32_t *out) {
  uint8_t b[4];
  if (fread(b, 1, 4, in) != 4) {
    return 0;
  }
  *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  return 1;
}

static int16_t *read_samples(FILE *in, uint32_t *n) {
  uint8_t *bytes;
  int16_t *samples;
  uint32_t i;
  if (!read_u32(in, n)) {
    return NULL;
  }
  bytes = malloc(2u * (size_t)*n + 1u);
  samples = malloc(2u * (size_t)*n + 2u);
  if (bytes == NULL || samples == NULL || fread(bytes, 1, 2u * (size_t)*n, in) != 2u * *n) {
    free(bytes);
    free(samples);
    return NULL;
  }
  for (i = 0; i < *n; ++i) {
    const int32_t u = (int32_t)bytes[2 * i] | (int32_t)bytes[2 * i + 1] << 8;
    samples[i] = (int16_t)(u >= 32768 ? u - 65536 : u);
  }
  free(bytes);
  return samples;
}

typedef struct {
  const int8_t *scores;  /* (results, labels) */
  uint32_t results;
  uint32_t labels;
  uint32_t windows;      /* windows run so far */
} Replay;

/* Push samples[0, n) in the chunk pattern; the model replays the recorded scores. */
static int push_all(const int16_t *samples, size_t n, const long *chunks, size_t num_chunks,
                    size_t *cursor, Replay *model) {
  size_t pos = 0;
  while (pos < n) {
    size_t left = (size_t)chunks[(*cursor)++ % num_chunks];
    if (left > n - pos) {
      left = n - pos;
    }
    for (;;) {  /* one push per chunk, more while windows complete before its end */
      size_t used;
      KwsDetection d;
      int rc = kws_stream_push(&g_stream, samples + pos, left, &used);
      pos += used;
      left -= used;
      if (rc == KWS_STREAM_OK) {
        break;
      }
      if (rc != KWS_STREAM_WINDOW || kws_stream_window(&g_stream, g_input) != KWS_STREAM_OK) {
        printf("harness: push failed with %d\n", rc);
        return 2;
      }
      if (model->windows >= model->results) {
        printf("harness: window %lu has no recorded scores\n", (unsigned long)model->windows);
        return 2;
      }
      printf("W %lu %ld %08lx\n", (unsigned long)model->windows, (long)g_stream.pending_ms,
             (unsigned long)crc32((const uint8_t *)g_input, WINDOW_BYTES));
      rc = kws_stream_result(&g_stream, model->scores + (size_t)model->windows * model->labels,
                             &d);
      model->windows++;
      if (rc == KWS_STREAM_DETECTED) {
        printf("D %ld %ld %ld\n", (long)d.label, (long)d.time_ms, (long)d.score);
      } else if (rc != KWS_STREAM_OK) {
        printf("harness: result failed with %d\n", rc);
        return 2;
      }
    }
  }
  return 0;
}

static long g_thresholds[MAX_LIST], g_wake[MAX_LIST], g_chunks[MAX_LIST];

static int run(int argc, char **argv) {
  int32_t thresholds[KWS_DETECTOR_MAX_LABELS], wake[KWS_DETECTOR_MAX_LABELS];
  KwsDetectorConfig config;
  size_t num_thresholds, num_wake, num_chunks, cursor = 0, i;
  uint32_t n, results, labels;
  int16_t *samples;
  int8_t *scores;
  Replay model;
  long skip_at = -1, skip = 0;
  int rc;
  num_thresholds = parse_list(argv[5], g_thresholds);
  num_wake = parse_list(argv[6], g_wake);
  num_chunks = parse_list(argv[7], g_chunks);
  if (num_thresholds == 0 || num_thresholds > KWS_DETECTOR_MAX_LABELS || num_wake == 0 ||
      num_wake > num_thresholds || num_chunks == 0) {
    printf("harness: bad thresholds, wake or chunk list\n");
    return 2;
  }
  if (argc == 10) {
    skip_at = atol(argv[8]);
    skip = atol(argv[9]);
  }
  for (i = 0; i < num_thresholds; ++i) {
    thresholds[i] = (int32_t)g_thresholds[i];
  }
  for (i = 0; i < num_wake; ++i) {
    wake[i] = (int32_t)g_wake[i];
  }
  config.num_labels = (int32_t)num_thresholds;
  config.thresholds = thresholds;
  config.wake = wake;
  config.num_wake = (int32_t)num_wake;
  config.average_window_ms = (int32_t)atol(argv[1]);
  config.min_count = (int32_t)atol(argv[2]);
  config.suppression_ms = (int32_t)atol(argv[3]);
  config.max_results = (int32_t)atol(argv[4]);
  rc = kws_stream_init(&g_stream, &config, (int32_t)atol(argv[0]));
  if (rc != KWS_STREAM_OK) {
    printf("harness: kws_stream_init failed with %d\n", rc);
    return 2;
  }
  samples = read_samples(stdin, &n);
  if (samples == NULL || !read_u32(stdin, &results) || !read_u32(stdin, &labels) ||
      labels != num_thresholds || skip_at > (long)n || skip < 0 || skip_at + skip > (long)n) {
    printf("harness: bad input\n");
    return 2;
  }
  scores = malloc((size_t)results * labels + 1u);
  if (scores == NULL || fread(scores, 1, (size_t)results * labels, stdin) !=
                            (size_t)results * labels) {
    printf("harness: truncated scores\n");
    return 2;
  }
  model.scores = scores;
  model.results = results;
  model.labels = labels;
  model.windows = 0;
  if (skip_at < 0) {
    rc = push_all(samples, n, g_chunks, num_chunks, &cursor, &model);
  } else {
    rc = push_all(samples, (size_t)skip_at, g_chunks, num_chunks, &cursor, &model);
    if (rc == 0) {
      kws_stream_skip(&g_stream, (uint64_t)skip);
      rc = push_all(samples + skip_at + skip, n - (size_t)(skip_at + skip), g_chunks,
                    num_chunks, &cursor, &model);
    }
  }
  if (rc == 0) {
    printf("done windows %lu samples %lu\n", (unsigned long)model.windows,
           (unsigned long)g_stream.samples);
  }
  free(samples);
  free(scores);
  return rc;
}

static int g_checks, g_failed;

static void check(int ok, const char *what) {
  g_checks++;
  if (!ok) {
    g_failed++;
    printf("api: FAILED %s\n", what);
  }
}

static int api(void) {
  static kws_stream_t a, b;
  static int16_t x[KWS_SAMPLE_RATE_HZ * 3];
  static int8_t wa[WINDOW_BYTES], wb[WINDOW_BYTES];
  const int32_t thresholds[3] = {256, 100, 100};
  const int32_t wake[2] = {1, 2};
  const KwsDetectorConfig config = {3, thresholds, wake, 2, 1000, 1, 500, 10};
  KwsDetectorConfig bad = config;
  const int8_t high[3] = {-128, 127, -128};
  KwsDetection d;
  size_t used = 99, i, total;
  int rc, windows;
  for (i = 0; i < sizeof(x) / sizeof(x[0]); ++i) {
    x[i] = (int16_t)((int32_t)(i * 7919u % 65536u) - 32768);
  }
  check(kws_stream_init(NULL, &config, 2) == KWS_STREAM_ERR_ARG, "init(NULL)");
  check(kws_stream_init(&a, NULL, 2) == KWS_STREAM_ERR_ARG, "init(config NULL)");
  check(kws_stream_init(&a, &config, 0) == KWS_STREAM_ERR_ARG, "hop 0 is refused");
  bad.min_count = 11;
  check(kws_stream_init(&a, &bad, 2) == KWS_STREAM_ERR_ARG, "min_count > max_results");
  check(kws_stream_init(&a, &config, 3) == KWS_STREAM_OK, "init");
  check(a.pending_ms == KWS_STREAM_NO_WINDOW && a.frames == 0 && a.samples == 0, "fresh");
  rc = kws_stream_push(&a, NULL, 10, &used);
  check(rc == KWS_STREAM_ERR_ARG && used == 0, "push(NULL, 10)");
  check(kws_stream_push(&a, x, 10, NULL) == KWS_STREAM_ERR_ARG, "push(consumed NULL)");
  check(kws_stream_push(&a, NULL, 0, &used) == KWS_STREAM_OK && used == 0, "empty push");
  check(kws_stream_window(&a, wa) == KWS_STREAM_ERR_ORDER, "window before any");
  check(kws_stream_result(&a, high, &d) == KWS_STREAM_ERR_ORDER, "result before any window");
  /* the first window completes with frame clip - 1: at sample (clip - 1) * stride + window */
  total = (size_t)(KWS_FRAMES_PER_CLIP - 1) * KWS_STRIDE_SAMPLES + KWS_WINDOW_SAMPLES;
  rc = kws_stream_push(&a, x, total - 1, &used);
  check(rc == KWS_STREAM_OK && used == total - 1, "one sample short of the first window");
  rc = kws_stream_push(&a, x + total - 1, 5000, &used);
  check(rc == KWS_STREAM_WINDOW && used == 1 && a.frames == KWS_FRAMES_PER_CLIP,
        "the first window's last sample");
  check(a.pending_ms == (int32_t)(total * 1000u / KWS_SAMPLE_RATE_HZ), "its time");
  check(kws_stream_push(&a, x + total, 10, &used) == KWS_STREAM_ERR_ORDER && used == 0,
        "push with a window waiting");
  check(kws_stream_window(&a, wa) == KWS_STREAM_OK, "window");
  check(kws_stream_result(&a, high, &d) == KWS_STREAM_DETECTED && d.label == 1 &&
            d.time_ms == a.last_time_ms && d.score == 255,
        "result: the detector fires");
  check(kws_stream_result(&a, high, &d) == KWS_STREAM_ERR_ORDER, "a second result");
  /* the next window comes hop = 3 frames later */
  rc = kws_stream_push(&a, x + total, 3 * KWS_STRIDE_SAMPLES, &used);
  check(rc == KWS_STREAM_WINDOW && used == 3 * KWS_STRIDE_SAMPLES &&
            a.frames == KWS_FRAMES_PER_CLIP + 3,
        "the next window after one hop");
  kws_stream_window(&a, wa);
  check(kws_stream_result(&a, high, &d) == KWS_STREAM_OK, "suppressed within 500 ms");
  /* b: the same samples in one-sample pushes gives the same windows */
  kws_stream_init(&b, &config, 3);
  windows = 0;
  for (i = 0; i < total + 3 * KWS_STRIDE_SAMPLES; ++i) {
    rc = kws_stream_push(&b, x + i, 1, &used);
    if (rc == KWS_STREAM_WINDOW) {
      windows++;
      kws_stream_window(&b, wb);
      kws_stream_result(&b, high, &d);
    }
  }
  check(windows == 2 && b.pending_ms == KWS_STREAM_NO_WINDOW, "one-sample pushes: 2 windows");
  check(memcmp(wa, wb, sizeof wa) == 0 && a.last_time_ms == b.last_time_ms,
        "chunking does not matter");
  /* reset, then the same audio: the same as a fresh stream */
  kws_stream_reset(&a);
  check(a.samples == 0 && a.frames == 0 && a.last_time_ms == -1 && a.windows == 0, "reset");
  kws_stream_init(&b, &config, 3);
  rc = kws_stream_push(&a, x + 7, total, &used);
  kws_stream_window(&a, wa);
  kws_stream_push(&b, x + 7, total, &used);
  kws_stream_window(&b, wb);
  check(rc == KWS_STREAM_WINDOW && a.pending_ms == b.pending_ms &&
            memcmp(wa, wb, sizeof wa) == 0,
        "reset equals fresh");
  /* skip: the front end starts over, the clock counts the lost samples */
  kws_stream_skip(&a, 1000);
  check(a.pending_ms == KWS_STREAM_NO_WINDOW && a.frames == 0 && a.samples == total + 1000 &&
            a.start_sample == total + 1000,
        "skip drops the waiting window and moves the clock");
  rc = kws_stream_push(&a, x, total, &used);
  check(rc == KWS_STREAM_WINDOW &&
            a.pending_ms == (int32_t)((2 * total + 1000) * 1000u / KWS_SAMPLE_RATE_HZ),
        "after a skip, times count the lost audio");
  printf("api: %d checks, %d failed\n", g_checks, g_failed);
  return g_failed ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "api") == 0) {
    return api();
  }
  if ((argc == 10 || argc == 12) && strcmp(argv[1], "run") == 0) {
    return run(argc - 2, argv + 2);
  }
  fprintf(stderr, "usage: kws_stream_harness api | run HOP WINDOW_MS MIN_COUNT SUPPRESSION_MS "
                  "MAX_RESULTS THRESHOLDS WAKE CHUNKS [SKIP_AT SKIP_SAMPLES]\n");
  return 2;
}

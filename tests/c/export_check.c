/*
 * export_check.c - the exported C sources together, built for a Cortex-M4F and run under QEMU
 * (tests/test_export.py): settings, model array, front end and detector, without TFLite Micro.
 *
 * Prints, one per line:
 *   model <bytes> crc <crc32 hex> aligned <0|1>
 *   labels <label> <label> ...
 *   detector_init <rc>
 *   frames <frames from one clip of a test tone> first <the first frame's codes>
 *   heard <label> (<score>) @<ms>ms      for a crafted score sequence (wake label 0 high)
 */
#include <stdint.h>
#include <stdio.h>

#include "kws_detector.h"
#include "kws_frontend.h"
#include "kws_model_data.h"
#include "kws_model_settings.h"

#if KWS_FE_SAMPLE_RATE_HZ != KWS_SAMPLE_RATE_HZ || KWS_FE_WINDOW_SAMPLES != KWS_WINDOW_SAMPLES || \
    KWS_FE_STRIDE_SAMPLES != KWS_STRIDE_SAMPLES || KWS_FE_NUM_COEFFS != KWS_NUM_COEFFS ||     \
    KWS_FE_FRAMES_PER_CLIP != KWS_FRAMES_PER_CLIP
#error "kws_frontend_tables.h and kws_model_settings.h disagree"
#endif

static const int32_t kThresholds[KWS_NUM_LABELS] = KWS_DET_THRESHOLDS;
static const int32_t kWake[KWS_DET_NUM_WAKE] = KWS_DET_WAKE;
static const KwsDetectorConfig kConfig =
    KWS_DETECTOR_CONFIG_FROM_SETTINGS(kThresholds, kWake);
static const char *const kLabels[KWS_NUM_LABELS] = KWS_LABELS;

static kws_frontend_t g_frontend;
static KwsDetector g_detector;
static int16_t g_audio[KWS_FE_SAMPLE_RATE_HZ];

static uint32_t crc32(const uint8_t *data, uint32_t n) {
  uint32_t crc = 0xFFFFFFFFu, i;
  int k;
  for (i = 0; i < n; ++i) {
    crc ^= data[i];
    for (k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

int main(void) {
  uint32_t i;
  int32_t r, frames = 0, t;
  int8_t frame[KWS_NUM_COEFFS], first[KWS_NUM_COEFFS];
  int8_t scores[KWS_NUM_LABELS];
  const int16_t *p = g_audio;
  size_t n = KWS_FE_SAMPLE_RATE_HZ, used;
  KwsDetection found;

  printf("model %u crc %08lx aligned %d\n", g_kws_model_data_len,
         (unsigned long)crc32(g_kws_model_data, g_kws_model_data_len),
         (int)(((uintptr_t)g_kws_model_data % 16u) == 0u));
  printf("labels");
  for (r = 0; r < KWS_NUM_LABELS; ++r) printf(" %s", kLabels[r]);
  printf("\n");
  printf("detector_init %d\n", kws_detector_init(&g_detector, &kConfig));

  /* one second of a 1 kHz square-ish tone built from integers */
  for (i = 0; i < KWS_FE_SAMPLE_RATE_HZ; ++i) g_audio[i] = (int16_t)(((i / 8u) % 2u) ? 8000 : -8000);
  if (kws_frontend_init(&g_frontend) != KWS_FRONTEND_OK) return 2;
  while (n > 0) {
    if (kws_frontend_push(&g_frontend, p, n, &used, frame) == KWS_FRONTEND_FRAME) {
      if (frames == 0) for (r = 0; r < KWS_NUM_COEFFS; ++r) first[r] = frame[r];
      ++frames;
    }
    p += used;
    n -= used;
  }
  printf("frames %ld first", (long)frames);
  for (r = 0; r < KWS_NUM_COEFFS; ++r) printf(" %d", first[r]);
  printf("\n");

  /* the first wake label scores 127 (uint8 255) for three seconds of results */
  for (t = 0; t < 3000; t += KWS_HOP_MS) {
    for (r = 0; r < KWS_NUM_LABELS; ++r) scores[r] = -128;
    scores[kWake[0]] = 127;
    if (kws_detector_update(&g_detector, scores, t, &found) == KWS_DETECTOR_DETECTED) {
      printf("heard %s (%ld) @%ldms\n", kLabels[found.label], (long)found.score,
             (long)found.time_ms);
    }
  }
  return 0;
}

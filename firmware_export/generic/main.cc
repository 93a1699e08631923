/*
 * main.cc - kws on any Cortex-M board: the calls in order, without Arduino (`kws export`).
 *
 *   board audio, int16 at KWS_SAMPLE_RATE_HZ -> kws_frontend_push -> frame history
 *     -> every KWS_HOP_FRAMES frames: TFLite Micro -> kws_detector_update -> your action
 *
 * Provide board_read_audio() (and retarget printf) for your board. Audio must keep arriving
 * while an inference runs (DMA or an interrupt into a buffer of at least
 * KWS_AUDIO_RING_SAMPLES samples): one inference takes about KWS_EST_INFERENCE_MS ms at
 * KWS_CPU_MHZ MHz, and KWS_HOP_FRAMES was chosen so that it fits in one hop with a margin.
 * On a faster or slower clock, export again with `kws export --board generic --cpu-mhz N`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kws_detector.h"
#include "kws_frontend.h"
#include "kws_model_data.h"
#include "kws_model_ops.h"
#include "kws_model_settings.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

#if KWS_FE_SAMPLE_RATE_HZ != KWS_SAMPLE_RATE_HZ || KWS_FE_NUM_COEFFS != KWS_NUM_COEFFS || \
    KWS_FE_FRAMES_PER_CLIP != KWS_FRAMES_PER_CLIP
#error "kws_frontend_tables.h and kws_model_settings.h disagree: export the model again"
#endif

// Your board: block until audio is available, copy up to `max` samples, return the count.
extern "C" size_t board_read_audio(int16_t *samples, size_t max);

namespace {

alignas(16) uint8_t g_arena[KWS_TENSOR_ARENA_SIZE];
kws_frontend_t g_frontend;
KwsDetector g_detector;
int8_t g_history[KWS_INPUT_FRAMES][KWS_INPUT_COEFFS];
const int32_t kThresholds[KWS_NUM_LABELS] = KWS_DET_THRESHOLDS;
const int32_t kWake[KWS_DET_NUM_WAKE] = KWS_DET_WAKE;
const KwsDetectorConfig kDetectorConfig = {
    KWS_NUM_LABELS,         kThresholds,       kWake,
    KWS_DET_NUM_WAKE,       KWS_DET_AVERAGE_WINDOW_MS, KWS_DET_MIN_COUNT,
    KWS_DET_SUPPRESSION_MS, KWS_DET_MAX_RESULTS};
const char *const kLabels[KWS_NUM_LABELS] = KWS_LABELS;

int Fail(const char *why) {
  printf("kws: error: %s\n", why);
  return 1;
}

}  // namespace

int main() {
  tflite::InitializeTarget();
  const tflite::Model *model = tflite::GetModel(g_kws_model_data);
  static KwsOpResolver resolver;  // exactly the model's operators
  if (model->version() != TFLITE_SCHEMA_VERSION || KwsRegisterOps(resolver) != kTfLiteOk) {
    return Fail("model schema or operators");
  }
  static tflite::MicroInterpreter interpreter(model, resolver, g_arena, sizeof(g_arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    return Fail("AllocateTensors: KWS_TENSOR_ARENA_SIZE too small");
  }
  TfLiteTensor *input = interpreter.input(0);
  TfLiteTensor *output = interpreter.output(0);
  if (kws_frontend_init(&g_frontend) != KWS_FRONTEND_OK ||
      kws_detector_init(&g_detector, &kDetectorConfig) != KWS_DETECTOR_OK) {
    return Fail("front end or detector init");
  }

  int16_t block[256];
  uint32_t frames = 0;
  for (;;) {
    size_t n = board_read_audio(block, sizeof(block) / sizeof(block[0]));
    const int16_t *samples = block;
    while (n > 0) {
      size_t used = 0;
      int8_t frame[KWS_NUM_COEFFS];
      const int rc = kws_frontend_push(&g_frontend, samples, n, &used, frame);
      samples += used;
      n -= used;
      if (rc != KWS_FRONTEND_FRAME) {
        continue;
      }
      memcpy(g_history[frames % KWS_INPUT_FRAMES], frame, KWS_INPUT_COEFFS);
      const uint32_t f = frames++;
      if (frames < KWS_INPUT_FRAMES || (frames - KWS_INPUT_FRAMES) % KWS_HOP_FRAMES != 0) {
        continue;
      }
      for (uint32_t r = 0; r < KWS_INPUT_FRAMES; ++r) {  // the model's input is the codes
        memcpy(input->data.int8 + r * KWS_INPUT_COEFFS,
               g_history[(frames + r) % KWS_INPUT_FRAMES], KWS_INPUT_COEFFS);
      }
      if (interpreter.Invoke() != kTfLiteOk) {
        return Fail("Invoke");
      }
      // Result time: end of frame f's audio, ms since the start (as kws.stream stamps it).
      const uint64_t end = static_cast<uint64_t>(f) * KWS_STRIDE_SAMPLES + KWS_WINDOW_SAMPLES;
      const int32_t time_ms = static_cast<int32_t>(end * 1000u / KWS_SAMPLE_RATE_HZ);
      KwsDetection found;
      if (kws_detector_update(&g_detector, output->data.int8, time_ms, &found) ==
          KWS_DETECTOR_DETECTED) {
        printf("Heard %s (%d) @%ldms\n", kLabels[found.label], static_cast<int>(found.score),
               static_cast<long>(found.time_ms));
      }
    }
  }
}

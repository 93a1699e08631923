/*
 * main.cc - kws on any Cortex-M board: the calls in order, without Arduino (`kws export`).
 *
 *   board audio, int16 at KWS_SAMPLE_RATE_HZ -> kws_stream_push (front end, frame history,
 *     a window every KWS_HOP_FRAMES frames and its time: kws_stream.c, the twin of kws.stream)
 *     -> TFLite Micro on the window -> kws_stream_result (the detector) -> your action
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
#include "kws_stream.h"
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
kws_stream_t g_stream;  // front end, frame history, schedule, times and detector
const int32_t kThresholds[KWS_NUM_LABELS] = KWS_DET_THRESHOLDS;
const int32_t kWake[KWS_DET_NUM_WAKE] = KWS_DET_WAKE;
const KwsDetectorConfig kDetectorConfig =
    KWS_DETECTOR_CONFIG_FROM_SETTINGS(kThresholds, kWake);
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
  if (kws_stream_init(&g_stream, &kDetectorConfig, KWS_HOP_FRAMES) != KWS_STREAM_OK) {
    return Fail("front end or detector init");
  }

  int16_t block[256];
  for (;;) {
    size_t n = board_read_audio(block, sizeof(block) / sizeof(block[0]));
    const int16_t *samples = block;
    while (n > 0) {
      size_t used = 0;
      const int rc = kws_stream_push(&g_stream, samples, n, &used);
      samples += used;
      n -= used;
      if (rc == KWS_STREAM_OK) {
        continue;  // every sample taken, no window yet
      }
      if (rc != KWS_STREAM_WINDOW) {
        return Fail("kws_stream_push");
      }
      kws_stream_window(&g_stream, input->data.int8);  // the model's input: the codes as they are
      if (interpreter.Invoke() != kTfLiteOk) {
        return Fail("Invoke");
      }
      KwsDetection found;
      const int result = kws_stream_result(&g_stream, output->data.int8, &found);
      if (result == KWS_STREAM_DETECTED) {
        printf("Heard %s (%d) @%ldms\n", kLabels[found.label], static_cast<int>(found.score),
               static_cast<long>(found.time_ms));
      } else if (result != KWS_STREAM_OK) {
        return Fail("kws_stream_result");
      }
    }
  }
}

/*
 * kws_nano33ble.ino - keyword spotting on the Arduino Nano 33 BLE Sense, written by `kws export`.
 *
 * The Sense, not the plain Nano 33 BLE: only the Sense (and the Sense Rev2) carries the PDM
 * microphone (MP34DT05 / MP34DT06JTR) this sketch listens through. Both are the FQBN
 * arduino:mbed_nano:nano33ble ("Arduino Nano 33 BLE" in the IDE's board menu).
 *
 *   PDM microphone, 16 kHz mono (interrupt: bytes -> int16 samples -> audio ring)
 *     -> kws_stream_push, fed as audio arrives   (kws_stream.c: the twin of kws.stream)
 *          front end (kws_frontend.c: the same int8 MFCC as Python), history of the last
 *          KWS_INPUT_FRAMES frames, a window every KWS_HOP_FRAMES frames, its time
 *     -> TFLite Micro on the window              (kws_model_data, exactly the model's ops)
 *     -> kws_stream_result -> detector           (kws_detector.c: the twin of kws.detector)
 *     -> RGB LED and one serial line per detection:  Heard <label> (<score>) @<ms>ms
 *
 * Everything model-specific is in the generated headers beside this file
 * (kws_model_settings.h, kws_model_ops.h, kws_model_data.h, kws_frontend_tables.h); this file
 * is the same for every model. Times are audio time: ms of audio since the sketch started
 * listening, exactly as `kws detect` stamps its results, so a recording played to the board
 * and the same recording on the laptop give the same times.
 */
#include <TensorFlowLite.h>

#include <PDM.h>
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

// The generated front-end tables and the model's settings come from the same metadata.
#if KWS_FE_SAMPLE_RATE_HZ != KWS_SAMPLE_RATE_HZ || KWS_FE_WINDOW_SAMPLES != KWS_WINDOW_SAMPLES || \
    KWS_FE_STRIDE_SAMPLES != KWS_STRIDE_SAMPLES || KWS_FE_NUM_COEFFS != KWS_NUM_COEFFS ||     \
    KWS_FE_FRAMES_PER_CLIP != KWS_FRAMES_PER_CLIP
#error "kws_frontend_tables.h and kws_model_settings.h disagree: export the model again"
#endif
#if KWS_NUM_LABELS > KWS_DETECTOR_MAX_LABELS || KWS_DET_MAX_RESULTS > KWS_DETECTOR_MAX_RESULTS
#error "the model's detector does not fit kws_detector.h's fixed buffers"
#endif

// Declared here so that the Arduino builder generates no prototypes of its own (it makes none
// for the functions in the anonymous namespace below, which are all defined before use).
void setup();
void loop();

namespace {

constexpr unsigned long kSerialBaud = 115200;
// PDM gain 13: what the micro_speech sketch of the Arduino_TensorFlowLite library sets for this
// board's microphone (PDM.setGain(13)); 20 is the PDM library's default. No kws model has been
// measured on the board's microphone yet, so we take the level of the one TFLite Micro speech
// example that runs on it rather than the library's untuned default.
constexpr int kPdmGain = 13;
constexpr uint32_t kLedOnMs = 1000;        // how long the colour of a detection stays on
constexpr int kBytesPerSample = 2;         // PDM delivers int16 samples: 2 BYTES each
constexpr int kPdmBlockSamples = KWS_PDM_BUFFER_BYTES / kBytesPerSample;
constexpr uint32_t kRingSamples = KWS_AUDIO_RING_SAMPLES;

// ---- Audio: written by the PDM interrupt, read by loop() ------------------------------------
int16_t g_pdm_block[kPdmBlockSamples];     // one PDM.read() at a time
int16_t g_ring[kRingSamples];              // audio ring, indexed by sample count % size
volatile uint32_t g_samples_written = 0;   // samples the interrupt has stored (wraps at 2**32)
uint32_t g_samples_read = 0;               // samples loop() has given to the front end
uint32_t g_overruns = 0;                   // times the ring overflowed (audio was lost)

// ---- Signal chain: front end, frame history, schedule, times, detector (kws_stream.c) -------
kws_stream_t g_stream;
const int32_t kThresholds[KWS_NUM_LABELS] = KWS_DET_THRESHOLDS;
const int32_t kWake[KWS_DET_NUM_WAKE] = KWS_DET_WAKE;
const KwsDetectorConfig kDetectorConfig =
    KWS_DETECTOR_CONFIG_FROM_SETTINGS(kThresholds, kWake);
const char *const kLabels[KWS_NUM_LABELS] = KWS_LABELS;

// ---- TFLite Micro ----------------------------------------------------------------------------
alignas(16) uint8_t g_arena[KWS_TENSOR_ARENA_SIZE];
tflite::MicroInterpreter *g_interpreter = nullptr;
TfLiteTensor *g_input = nullptr;
TfLiteTensor *g_output = nullptr;

// ---- RGB LED (Nano 33 BLE Sense: LEDR, LEDG, LEDB are active low) ---------------------------
struct Colour {
  bool r, g, b;
};
const Colour kPalette[] = {{false, true, false}, {true, false, false}, {false, false, true},
                           {true, true, false},  {true, false, true}, {false, true, true},
                           {true, true, true}};
uint32_t g_led_off_at_ms = 0;
bool g_led_on = false;

void SetLed(Colour c) {
  digitalWrite(LEDR, c.r ? LOW : HIGH);
  digitalWrite(LEDG, c.g ? LOW : HIGH);
  digitalWrite(LEDB, c.b ? LOW : HIGH);
}

// PDM interrupt: PDM.available() counts BYTES; the ring counts int16 SAMPLES.
void OnPdmData() {
  int bytes = PDM.available();
  if (bytes > static_cast<int>(sizeof(g_pdm_block))) {
    bytes = sizeof(g_pdm_block);
  }
  bytes -= bytes % kBytesPerSample;
  PDM.read(g_pdm_block, bytes);
  const int samples = bytes / kBytesPerSample;
  uint32_t w = g_samples_written;
  for (int i = 0; i < samples; ++i) {
    g_ring[(w + i) % kRingSamples] = g_pdm_block[i];
  }
  g_samples_written = w + samples;  // publish after the copy (one aligned 32-bit store)
}

void Halt(const char *why) {  // never returns
  for (;;) {
    Serial.print("kws: error: ");
    Serial.println(why);
    SetLed({true, false, false});
    delay(500);
    SetLed({false, false, false});
    delay(500);
  }
}

void Report(const KwsDetection &found) {
  char line[64];
  snprintf(line, sizeof(line), "Heard %s (%d) @%ldms", kLabels[found.label],
           static_cast<int>(found.score), static_cast<long>(found.time_ms));
  Serial.println(line);
  SetLed(kPalette[found.label % (sizeof(kPalette) / sizeof(kPalette[0]))]);
  g_led_on = true;
  g_led_off_at_ms = millis() + kLedOnMs;
}

// The window kws_stream_push completed: one inference, its scores to the detector.
void Classify() {
  if (kws_stream_window(&g_stream, g_input->data.int8) != KWS_STREAM_OK ||
      g_interpreter->Invoke() != kTfLiteOk) {
    Halt("Invoke failed");
  }
  KwsDetection found;
  const int rc = kws_stream_result(&g_stream, g_output->data.int8, &found);
  if (rc == KWS_STREAM_DETECTED) {
    Report(found);
  } else if (rc != KWS_STREAM_OK) {
    Halt("kws_stream_result failed");
  }
}

}  // namespace

void setup() {
  Serial.begin(kSerialBaud);
  pinMode(LEDR, OUTPUT);
  pinMode(LEDG, OUTPUT);
  pinMode(LEDB, OUTPUT);
  SetLed({false, false, false});
  // Waits for a USB serial host at most 4 s (kSerialMaxInitWait in the library's
  // system_setup.cpp), then goes on: never `while (!Serial);`, which would stall forever on a
  // battery or a charger, and the board would never listen.
  tflite::InitializeTarget();

  const tflite::Model *model = tflite::GetModel(g_kws_model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    Halt("the model's schema version is not this TFLite Micro's");
  }
  static KwsOpResolver resolver;
  if (KwsRegisterOps(resolver) != kTfLiteOk) {
    Halt("cannot register the model's operators");
  }
  static tflite::MicroInterpreter interpreter(model, resolver, g_arena, sizeof(g_arena));
  g_interpreter = &interpreter;
  if (g_interpreter->AllocateTensors() != kTfLiteOk) {
    Halt("AllocateTensors failed: KWS_TENSOR_ARENA_SIZE is too small");
  }
  g_input = g_interpreter->input(0);
  g_output = g_interpreter->output(0);
  if (g_input->type != kTfLiteInt8 || g_input->bytes != KWS_INPUT_FRAMES * KWS_INPUT_COEFFS ||
      g_output->type != kTfLiteInt8 || g_output->bytes != KWS_NUM_LABELS) {
    Halt("the model's input or output is not the one in kws_model_settings.h");
  }
  const int stream_rc = kws_stream_init(&g_stream, &kDetectorConfig, KWS_HOP_FRAMES);
  if (stream_rc == KWS_STREAM_ERR_FRONTEND) {
    Halt("kws_frontend_init failed (signed shifts are not arithmetic)");
  } else if (stream_rc != KWS_STREAM_OK) {
    Halt("kws_stream_init refused the detector settings");
  }

  PDM.onReceive(OnPdmData);
  PDM.setBufferSize(KWS_PDM_BUFFER_BYTES);
  PDM.setGain(kPdmGain);
  if (!PDM.begin(1, KWS_SAMPLE_RATE_HZ)) {  // 1 channel (mono) at 16 kHz
    Halt("PDM.begin failed");
  }
  Serial.print("kws: listening for ");
  Serial.print(KWS_MODEL_NAME);
  Serial.print(", one inference every ");
  Serial.print(KWS_HOP_MS);
  Serial.print(" ms, arena used ");
  Serial.print(static_cast<unsigned long>(g_interpreter->arena_used_bytes()));
  Serial.print(" of ");
  Serial.println(static_cast<unsigned long>(sizeof(g_arena)));
}

void loop() {
  if (g_led_on && static_cast<int32_t>(millis() - g_led_off_at_ms) >= 0) {
    SetLed({false, false, false});
    g_led_on = false;
  }
  const uint32_t written = g_samples_written;
  // The interrupt may have overwritten samples not read yet: restart the stream after them.
  if (written - g_samples_read > kRingSamples - kPdmBlockSamples) {
    ++g_overruns;
    Serial.print("kws: audio overrun ");
    Serial.print(static_cast<unsigned long>(g_overruns));
    Serial.println(": the board fell behind real time, samples were lost");
    // skip what is left: the front end starts over after it, the times keep counting it
    kws_stream_skip(&g_stream, written - g_samples_read);
    g_samples_read = written;
    return;
  }
  while (g_samples_read != written) {
    const uint32_t index = g_samples_read % kRingSamples;
    uint32_t n = written - g_samples_read;
    if (n > kRingSamples - index) {
      n = kRingSamples - index;  // up to the end of the ring; the rest on the next pass
    }
    size_t used = 0;
    const int rc = kws_stream_push(&g_stream, &g_ring[index], n, &used);
    g_samples_read += used;
    if (rc == KWS_STREAM_WINDOW) {
      Classify();  // one inference; the interrupt keeps filling the ring meanwhile
      return;      // re-check for an overrun before reading more
    }
    if (rc != KWS_STREAM_OK) {
      Halt("kws_stream_push failed");
    }
  }
}

/*
 * kws_nano33ble.ino - keyword spotting on the Arduino Nano 33 BLE Sense, written by `kws export`.
 *
 *   PDM microphone, 16 kHz mono (interrupt: bytes -> int16 samples -> audio ring)
 *     -> kws front end, fed as audio arrives     (kws_frontend.c: the same int8 MFCC as Python)
 *     -> history of the last KWS_INPUT_FRAMES frames
 *     -> every KWS_HOP_FRAMES frames: TFLite Micro (kws_model_data, exactly the model's ops)
 *     -> detector                                 (kws_detector.c: the twin of kws.detector)
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
constexpr int kPdmGain = 20;               // PDM microphone gain (as in micro_speech)
constexpr uint32_t kLedOnMs = 1000;        // how long the colour of a detection stays on
constexpr int kBytesPerSample = 2;         // PDM delivers int16 samples: 2 BYTES each
constexpr int kPdmBlockSamples = KWS_PDM_BUFFER_BYTES / kBytesPerSample;
constexpr uint32_t kRingSamples = KWS_AUDIO_RING_SAMPLES;

// ---- Audio: written by the PDM interrupt, read by loop() ------------------------------------
int16_t g_pdm_block[kPdmBlockSamples];     // one PDM.read() at a time
int16_t g_ring[kRingSamples];              // audio ring, indexed by sample count % size
volatile uint32_t g_samples_written = 0;   // samples the interrupt has stored (wraps at 2**32)
uint32_t g_samples_read = 0;               // samples loop() has given to the front end
uint64_t g_total_read = 0;                 // the same, never wrapping (sample index in time)
uint32_t g_overruns = 0;                   // times the ring overflowed (audio was lost)

// ---- Signal chain ----------------------------------------------------------------------------
kws_frontend_t g_frontend;
int8_t g_history[KWS_INPUT_FRAMES][KWS_INPUT_COEFFS];  // ring of the last frames
uint32_t g_frames = 0;                     // frames since the front end was (re)started
uint64_t g_stream_start = 0;               // sample index (since listening began) of frame 0

const int32_t kThresholds[KWS_NUM_LABELS] = KWS_DET_THRESHOLDS;
const int32_t kWake[KWS_DET_NUM_WAKE] = KWS_DET_WAKE;
const KwsDetectorConfig kDetectorConfig = {
    KWS_NUM_LABELS,         kThresholds,       kWake,
    KWS_DET_NUM_WAKE,       KWS_DET_AVERAGE_WINDOW_MS, KWS_DET_MIN_COUNT,
    KWS_DET_SUPPRESSION_MS, KWS_DET_MAX_RESULTS};
KwsDetector g_detector;
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

// Start a new front-end stream at absolute sample `start` (after an overrun: the detector
// keeps its history, its times stay in order because they are absolute audio times).
void RestartFrontend(uint64_t start) {
  kws_frontend_reset(&g_frontend);
  g_frames = 0;
  g_stream_start = start;
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

// One inference on the last KWS_INPUT_FRAMES frames, the newest ending at `time_ms`.
void Classify(int32_t time_ms) {
  int8_t *in = g_input->data.int8;
  for (uint32_t r = 0; r < KWS_INPUT_FRAMES; ++r) {  // oldest frame first
    memcpy(in + r * KWS_INPUT_COEFFS, g_history[(g_frames + r) % KWS_INPUT_FRAMES],
           KWS_INPUT_COEFFS);
  }
  if (g_interpreter->Invoke() != kTfLiteOk) {
    Halt("Invoke failed");
  }
  KwsDetection found;
  const int rc = kws_detector_update(&g_detector, g_output->data.int8, time_ms, &found);
  if (rc == KWS_DETECTOR_DETECTED) {
    Report(found);
  }
}

// A new frame: keep it, and classify on the same schedule as kws.stream.ScoreStream.
void OnFrame(const int8_t frame[KWS_NUM_COEFFS]) {
  memcpy(g_history[g_frames % KWS_INPUT_FRAMES], frame, KWS_INPUT_COEFFS);
  const uint32_t f = g_frames++;
  if (g_frames < KWS_INPUT_FRAMES || (g_frames - KWS_INPUT_FRAMES) % KWS_HOP_FRAMES != 0) {
    return;
  }
  // The result's time: the end of frame f's audio, in ms since listening began.
  const uint64_t end = g_stream_start + static_cast<uint64_t>(f) * KWS_STRIDE_SAMPLES +
                       KWS_WINDOW_SAMPLES;
  uint64_t ms = end * 1000u / KWS_SAMPLE_RATE_HZ;
  if (ms > 0x7fffffffu) {
    ms = 0x7fffffffu;  // after 24.8 days the times stop advancing
  }
  Classify(static_cast<int32_t>(ms));
}

}  // namespace

void setup() {
  Serial.begin(kSerialBaud);
  pinMode(LEDR, OUTPUT);
  pinMode(LEDG, OUTPUT);
  pinMode(LEDB, OUTPUT);
  SetLed({false, false, false});
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
  if (kws_frontend_init(&g_frontend) != KWS_FRONTEND_OK) {
    Halt("kws_frontend_init failed (signed shifts are not arithmetic)");
  }
  if (kws_detector_init(&g_detector, &kDetectorConfig) != KWS_DETECTOR_OK) {
    Halt("kws_detector_init refused the settings");
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
    g_total_read += written - g_samples_read;  // skip what is left; time keeps counting
    g_samples_read = written;
    RestartFrontend(g_total_read);
    return;
  }
  while (g_samples_read != written) {
    const uint32_t index = g_samples_read % kRingSamples;
    uint32_t n = written - g_samples_read;
    if (n > kRingSamples - index) {
      n = kRingSamples - index;  // up to the end of the ring; the rest on the next pass
    }
    size_t used = 0;
    int8_t frame[KWS_NUM_COEFFS];
    const int rc = kws_frontend_push(&g_frontend, &g_ring[index], n, &used, frame);
    g_samples_read += used;
    g_total_read += used;
    if (rc == KWS_FRONTEND_FRAME) {
      OnFrame(frame);  // may run an inference; the interrupt keeps filling the ring meanwhile
      return;          // re-check for an overrun before reading more
    }
  }
}

/*
 * sketch_sim.cpp - runs kws_nano33ble.ino on the host with stand-ins for Arduino, PDM and
 * TFLite Micro (tests/c/arduino_stubs), for tests/test_export.py.
 *
 * The test writes sim_data.h: an int16 recording, the PDM block sizes (in BYTES) to deliver it
 * in, and the int8 scores the model gives for each inference. The simulation plays the PDM
 * interrupt (OnPdmData, through PDM.onReceive) block by block and calls loop() until the
 * sketch has read everything; the stand-in Invoke() prints a CRC-32 of each input tensor and
 * returns the recorded scores. Output, one line each:
 *
 *   <every line the sketch prints on Serial>
 *   I <inference> <crc32 of the input, hex>
 *   led <R><G><B>       the LED pin levels (active low: 0 = lit) when they change
 *   sim: samples <n> inferences <n> leds <r><g><b>
 *
 * With the argument "overrun", whole seconds of audio arrive between two calls of loop().
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "Arduino.h"
#include "PDM.h"
#include "sim_data.h"
#include "tensorflow/lite/micro/micro_interpreter.h"

int g_stub_pins[64];
uint32_t g_stub_millis = 0;
StubSerial Serial;
PDMClass PDM;

static size_t g_audio_pos = 0;      // next sample of kSimAudio to deliver
static int g_pending_bytes = 0;     // bytes the current PDM block still holds
static size_t g_inferences = 0;

int PDMClass::available() { return g_pending_bytes; }

int PDMClass::read(void *buffer, int bytes) {
  if (bytes > g_pending_bytes) bytes = g_pending_bytes;
  memcpy(buffer, &kSimAudio[g_audio_pos], (size_t)bytes);  // whole samples: bytes is even
  g_audio_pos += (size_t)bytes / 2;
  g_pending_bytes -= bytes;
  return bytes;
}

static uint32_t crc32(const uint8_t *data, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

size_t stub_input_bytes() { return KWS_SIM_INPUT_BYTES; }
size_t stub_output_bytes() { return KWS_SIM_NUM_LABELS; }

TfLiteStatus stub_invoke(const int8_t *input, size_t input_bytes, int8_t *output,
                         size_t output_bytes) {
  printf("I %lu %08lx\n", (unsigned long)g_inferences,
         (unsigned long)crc32(reinterpret_cast<const uint8_t *>(input), input_bytes));
  if (g_inferences < KWS_SIM_NUM_RESULTS) {
    memcpy(output, kSimScores[g_inferences], output_bytes);
  } else {
    memset(output, -128, output_bytes);
  }
  ++g_inferences;
  return kTfLiteOk;
}

#include "kws_nano33ble.ino"

// One PDM block of `bytes` BYTES: the interrupt fires (the library calls the callback).
static void deliver(int bytes) {
  size_t left = (kSimAudioLen - g_audio_pos) * 2;
  g_pending_bytes = (size_t)bytes < left ? bytes : (int)left;
  while (g_pending_bytes > 0) PDM.callback_();
  g_stub_millis = (uint32_t)(g_audio_pos / 16);
}

// Print the RGB LED pin levels (active low) whenever they change.
static void report_led() {
  static int last = -1;
  const int now = g_stub_pins[LEDR] * 100 + g_stub_pins[LEDG] * 10 + g_stub_pins[LEDB];
  if (now != last) printf("led %03d\n", now);
  last = now;
}

static void drain() {
  while (g_samples_read != g_samples_written) {
    loop();
    report_led();
  }
  loop();  // and once more with nothing new (LED timer)
  report_led();
}

int main(int argc, char **argv) {
  const bool overrun = argc > 1 && strcmp(argv[1], "overrun") == 0;
  setup();
  size_t block = 0;
  while (g_audio_pos < kSimAudioLen) {
    deliver(kSimBlockBytes[block++ % KWS_SIM_NUM_BLOCKS]);
    if (overrun && g_audio_pos < 16000u * 3u) continue;  // 3 s arrive while loop() sleeps
    drain();
  }
  drain();
  printf("sim: samples %lu inferences %lu leds %d%d%d\n", (unsigned long)g_samples_written,
         (unsigned long)g_inferences, g_stub_pins[LEDR], g_stub_pins[LEDG], g_stub_pins[LEDB]);
  return 0;
}

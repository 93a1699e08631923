/*
 * m4_target.cc: the target functions TensorFlow Lite Micro leaves to the board (the Arduino
 * tree's system_setup.cpp, micro_time.cpp and debug_log.cpp include Arduino.h and are left out
 * of the library), for a Cortex-M4F under qemu-system-arm -M mps2-an386 with semihosting.
 * See m4_target.h.
 */
#include "m4_target.h"

#include <stdio.h>

#include "tensorflow/lite/micro/debug_log.h"
#include "tensorflow/lite/micro/micro_time.h"
#include "tensorflow/lite/micro/system_setup.h"

// With -nostartfiles no crtbegin.o provides it; C++ statics with destructors refer to it.
extern "C" {
void *__dso_handle = nullptr;
}

namespace {

volatile uint32_t *const kSystCsr = reinterpret_cast<volatile uint32_t *>(0xE000E010u);
volatile uint32_t *const kSystRvr = reinterpret_cast<volatile uint32_t *>(0xE000E014u);
volatile uint32_t *const kSystCvr = reinterpret_cast<volatile uint32_t *>(0xE000E018u);

uint32_t g_last_cvr;
uint32_t g_ticks;
int g_quiet;

}  // namespace

extern "C" uint32_t kws_m4_ticks(void) {
  const uint32_t now = *kSystCvr;  // counts down from 2**24 - 1 and wraps
  g_ticks += (g_last_cvr - now) & 0x00FFFFFFu;
  g_last_cvr = now;
  return g_ticks;
}

extern "C" uint32_t kws_m4_calibration_ticks(void) {
  const uint32_t t0 = kws_m4_ticks();
  __asm__ volatile("mov r0, #10000\n1:\n\tsubs r0, r0, #1\n\tbne 1b" ::: "r0", "cc");
  return kws_m4_ticks() - t0;
}

extern "C" void kws_m4_set_quiet(int quiet) { g_quiet = quiet; }

extern "C" void DebugLog(const char *s) {
  if (!g_quiet) {
    fputs(s, stdout);
  }
}

namespace tflite {

void InitializeTarget() {
  *kSystRvr = 0x00FFFFFFu;
  *kSystCvr = 0;
  *kSystCsr = 5u;  // enable, processor clock, no interrupt
  g_last_cvr = *kSystCvr;
  g_ticks = 0;
}

uint32_t ticks_per_second() { return KWS_M4_TICKS_PER_SECOND; }

uint32_t GetCurrentTimeTicks() { return kws_m4_ticks(); }

}  // namespace tflite

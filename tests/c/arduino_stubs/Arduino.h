/*
 * Arduino.h - host stand-in for the Arduino core, for tests/test_export.py's sketch simulation.
 * Only what kws_nano33ble.ino uses: Serial (to stdout), pins (LED state recorded), millis
 * (simulated audio time), delay (only the sketch's Halt calls it: the simulation stops).
 */
#ifndef KWS_STUB_ARDUINO_H
#define KWS_STUB_ARDUINO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define HIGH 1
#define LOW 0
#define OUTPUT 1
#define LEDR 22
#define LEDG 23
#define LEDB 24

extern int g_stub_pins[64];
extern uint32_t g_stub_millis;

inline void pinMode(int, int) {}
inline void digitalWrite(int pin, int value) { g_stub_pins[pin] = value; }
inline uint32_t millis() { return g_stub_millis; }
inline void delay(uint32_t) {
  printf("stub: delay() called: the sketch halted\n");
  exit(3);
}

class StubSerial {
 public:
  void begin(unsigned long) {}
  void print(const char *s) { fputs(s, stdout); }
  void print(long v) { printf("%ld", v); }
  void print(unsigned long v) { printf("%lu", v); }
  void print(int v) { printf("%d", v); }
  void println(const char *s) { printf("%s\n", s); }
  void println(unsigned long v) { printf("%lu\n", v); }
};
extern StubSerial Serial;

#endif

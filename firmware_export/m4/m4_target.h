/*
 * m4_target.h: what TensorFlow Lite Micro needs from a bare Cortex-M4F under qemu-system-arm
 * -M mps2-an386 (m4_target.cc): DebugLog to semihosting stdout, InitializeTarget (starts
 * SysTick), the tick functions of micro_time.h, and __dso_handle (no crtbegin.o with
 * -nostartfiles).
 *
 * Time: SysTick from the processor clock (CSR = 5), extended to 32 bits in software, so read it
 * at least every 2**24 ticks. Under -icount shift=0 one tick is 40 INSTRUCTIONS executed, not
 * Cortex-M4 cycles (loads, multiplies and taken branches take 1-3 cycles on silicon).
 */
#ifndef KWS_M4_TARGET_H
#define KWS_M4_TARGET_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_M4_TICKS_PER_SECOND 25000000u /* mps2-an386 SysTick: the 25 MHz processor clock */
#define KWS_M4_INSTRUCTIONS_PER_TICK 40u  /* under -icount shift=0: 1 instruction per ns */

/* SysTick ticks since InitializeTarget (32 bits). */
uint32_t kws_m4_ticks(void);

/* Ticks of a 20,001-instruction loop: 500 under -icount shift=0. */
uint32_t kws_m4_calibration_ticks(void);

/* Drop (nonzero) or print (0) TFLite Micro's log messages. */
void kws_m4_set_quiet(int quiet);

#ifdef __cplusplus
}
#endif

#endif /* KWS_M4_TARGET_H */

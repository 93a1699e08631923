/*
 * m4_bench.c: instructions per front-end frame on a Cortex-M4F under QEMU (mps2-an386), built
 * and run by benchmarks/bench_c_frontend.py with -icount shift=0.
 *
 * With -icount shift=0 one guest instruction is one nanosecond of virtual time, and SysTick,
 * clocked from the 25 MHz processor clock (CSR = 5), ticks once per 40 instructions: the counts
 * are INSTRUCTIONS executed, deterministic and independent of the host, NOT Cortex-M4 cycles
 * (loads, multiplies and taken branches take 1-3 cycles on silicon). A counted loop of known
 * length calibrates the ratio at start.
 *
 * Each golden vector with at least two frames is pushed as in a device: the first window, then
 * one push of KWS_STRIDE_SAMPLES samples per frame; the SysTick difference around each push
 * that completes a frame is that frame's cost (copying the samples in included). When built
 * with -include m4_bench_hooks.h, the stage marks inside kws_frontend.c add a breakdown.
 */
#include <stdio.h>
#include <string.h>

#include "kws_frontend.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define INSTR_PER_TICK 40u  /* 25 MHz SysTick at 1 instruction per ns */
#define NUM_STAGES 5

extern const uint8_t kws_golden_start[];
extern const uint8_t kws_golden_end[];

static kws_frontend_t fe;
static int16_t samples[65536];
static uint32_t stage_ticks[NUM_STAGES];
static uint32_t last_mark;

static inline uint32_t now(void)
{
    return SYST_CVR;  /* counts down */
}

static inline uint32_t elapsed(uint32_t start, uint32_t end)
{
    return (start - end) & 0x00FFFFFFu;
}

/* Called by KWS_FRONTEND_MARK(stage) when kws_frontend.c is built with m4_bench_hooks.h. */
void kws_bench_mark(int stage)
{
    uint32_t t = now();
    if (stage > 0 && stage <= NUM_STAGES) {
        stage_ticks[stage - 1] += elapsed(last_mark, t);
    }
    last_mark = now();  /* exclude this function's own instructions */
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t calibrate(void)
{
    uint32_t t0, t1;
    t0 = now();
    __asm__ volatile("mov r0, #10000\n1:\n\tsubs r0, r0, #1\n\tbne 1b" ::: "r0", "cc");
    t1 = now();
    return elapsed(t0, t1);  /* 20,001 instructions: 500 ticks expected */
}

int main(void)
{
    const uint8_t *data = kws_golden_start;
    const size_t size = (size_t)(kws_golden_end - kws_golden_start);
    uint32_t num_vectors, v, k;
    size_t off = 24;
    uint32_t frames = 0, total = 0, min_t = 0xFFFFFFFFu, max_t = 0, first_total = 0, firsts = 0;
    uint32_t overhead;
    int8_t out[KWS_NUM_COEFFS];

    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 5u;  /* enable, processor clock, no interrupt */
    {
        uint32_t t0 = now();
        overhead = elapsed(t0, now());
    }
    printf("calibration: a 20001-instruction loop took %lu ticks (500 expected); "
           "timer read overhead %lu ticks\n", (unsigned long)calibrate(), (unsigned long)overhead);
    printf("sizeof(kws_frontend_t) = %lu bytes\n", (unsigned long)sizeof(kws_frontend_t));
    if (size < 24 || memcmp(data, "KWSGOLD1", 8) != 0 || rd32(data + 12) != KWS_TABLES_FINGERPRINT
            || kws_frontend_init(&fe) != KWS_FRONTEND_OK) {
        printf("bench: golden file does not match this build\n");
        return 2;
    }
    num_vectors = rd32(data + 20);
    for (v = 0; v < num_vectors; ++v) {
        char name[25];
        uint32_t n = rd32(data + off + 24), nf = rd32(data + off + 28), i, vec_total = 0;
        size_t pos = 0;
        memcpy(name, data + off, 24);
        name[24] = '\0';
        off += 32;
        for (i = 0; i < n; ++i) {
            const int32_t u = (int32_t)data[off + 2 * i] | (int32_t)data[off + 2 * i + 1] << 8;
            samples[i] = (int16_t)(u >= 32768 ? u - 65536 : u);
        }
        off += (2u * n + 3u) & ~3u;
        off += (nf * KWS_NUM_COEFFS + 3u) & ~3u;
        if (nf < 2) {
            continue;
        }
        kws_frontend_reset(&fe);
        for (k = 0; k < nf; ++k) {
            const size_t chunk = k == 0 ? KWS_WINDOW_SAMPLES : KWS_STRIDE_SAMPLES;
            size_t used;
            uint32_t t0, t1, dt;
            int r;
            t0 = now();
            last_mark = t0;
            r = kws_frontend_push(&fe, samples + pos, chunk, &used, out);
            t1 = now();
            dt = elapsed(t0, t1) - overhead;
            pos += used;
            if (r != KWS_FRONTEND_FRAME || used != chunk) {
                printf("bench: push did not complete frame %lu of %s\n", (unsigned long)k, name);
                return 1;
            }
            if (k == 0) {
                first_total += dt;
                firsts++;
                continue;
            }
            vec_total += dt;
            total += dt;
            frames++;
            min_t = dt < min_t ? dt : min_t;
            max_t = dt > max_t ? dt : max_t;
        }
        printf("vector %-24s %3lu frames: %7lu instructions per frame (mean)\n", name,
               (unsigned long)(nf - 1), (unsigned long)(vec_total * INSTR_PER_TICK / (nf - 1)));
    }
    printf("steady-state frames: %lu; instructions per frame: min %lu, mean %lu, max %lu\n",
           (unsigned long)frames, (unsigned long)(min_t * INSTR_PER_TICK),
           (unsigned long)(total * INSTR_PER_TICK / frames),
           (unsigned long)(max_t * INSTR_PER_TICK));
    printf("first frame of a signal (480 samples copied in): mean %lu instructions\n",
           (unsigned long)(first_total * INSTR_PER_TICK / firsts));
    {
        static const char *const names[NUM_STAGES] = {
            "window + shift", "FFT (complex, 8 stages)", "real split + power",
            "mel + log", "DCT + int8"};
        uint32_t s, staged = 0;
        for (s = 0; s < NUM_STAGES; ++s) {
            staged += stage_ticks[s];
        }
        if (staged > 0) {
            for (s = 0; s < NUM_STAGES; ++s) {
                printf("stage %-24s %7lu instructions per frame (mean)\n", names[s],
                       (unsigned long)(stage_ticks[s] * INSTR_PER_TICK / (frames + firsts)));
            }
        }
    }
    return 0;
}

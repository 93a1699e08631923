/*
 * golden_check.h: run the C front end over tests/golden/frontend_golden.bin (held in memory)
 * under several chunkings and count every value that differs from the numpy frames in the file.
 * Shared by the host harness (host_main.c) and the Cortex-M4 harness (m4_main.c).
 *
 * File layout (little-endian; written by tests/golden/make_frontend_golden.py):
 *   "KWSGOLD1", uint32 version (1), uint32 tables fingerprint, uint32 num_coeffs,
 *   uint32 num_vectors, then per vector (each part padded to 4 bytes):
 *   char name[24], uint32 num_samples, uint32 num_frames, int16 samples[num_samples],
 *   int8 frames[num_frames][num_coeffs].
 */
#ifndef KWS_GOLDEN_CHECK_H
#define KWS_GOLDEN_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KWS_GOLDEN_MAX_SAMPLES 65536u  /* longest vector the harness accepts */
#define KWS_GOLDEN_WHOLE ((size_t)-1)  /* chunk size: the whole vector in one push */

typedef struct {
    uint32_t vectors;         /* vectors x chunkings run */
    uint32_t frames;          /* frames produced */
    uint32_t values;          /* int8 values compared */
    uint32_t bad_values;      /* values that differ from the file */
    uint32_t bad_counts;      /* runs whose frame count differs from the file */
} kws_golden_result_t;

/* Run every vector of the golden file under each chunk pattern (chunks[p] is an array of
 * chunk_lens[p] sizes, cycled). Frames of pattern 0 are written to dump (raw int8) unless dump is
 * NULL. Returns 0 when the file parsed, or a negative code (bad file, wrong fingerprint, ...)
 * after printing one line saying why. Mismatches are counted in *res and printed. */
int kws_golden_run(const uint8_t *data, size_t size, const size_t *const *chunks,
                   const size_t *chunk_lens, size_t num_patterns, FILE *dump,
                   kws_golden_result_t *res);

#endif

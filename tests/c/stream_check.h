/*
 * stream_check.h: the C front end over a stream of signals, for the host harness and for the
 * Cortex-M4 harness (files through semihosting), so that both run the same code.
 *
 * in: records of (uint32 n, int16 samples[n]), little-endian, until end of file. Each record is
 * one signal: the front end is reset, then the samples are pushed in chunks whose sizes cycle
 * through chunks[0 .. num_chunks) (the cycle runs on across records; a zero chunk is an empty
 * push). out: per record, uint32 num_frames then int8 frames[num_frames][KWS_NUM_COEFFS].
 */
#ifndef KWS_STREAM_CHECK_H
#define KWS_STREAM_CHECK_H

#include <stddef.h>
#include <stdio.h>

#define KWS_STREAM_MAX_SAMPLES 131072u  /* longest record accepted */
#define KWS_STREAM_MAX_CHUNKS 4096u     /* longest chunk list accepted */

/* Parse "a,b,c" (decimal sizes, at least one non-zero) into sizes; returns the count, 0 if bad. */
size_t kws_parse_chunks(const char *text, size_t *sizes);

/* Run every record of in; returns 0, or non-zero after printing one line saying why. */
int kws_stream_run(FILE *in, FILE *out, const size_t *chunks, size_t num_chunks);

#endif

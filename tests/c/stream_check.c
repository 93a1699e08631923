/* stream_check.c: see stream_check.h. */
#include "stream_check.h"

#include <stdlib.h>
#include <string.h>

#include "kws_frontend.h"

static int16_t g_samples[KWS_STREAM_MAX_SAMPLES];
static int8_t g_frames[(KWS_STREAM_MAX_SAMPLES / KWS_STRIDE_SAMPLES + 2) * KWS_NUM_COEFFS];
static uint8_t g_bytes[2 * 4096];
static kws_frontend_t g_fe;

size_t kws_parse_chunks(const char *text, size_t *sizes)
{
    size_t count = 0, nonzero = 0;
    const char *p = text;
    while (*p) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') || count == KWS_STREAM_MAX_CHUNKS) {
            return 0;
        }
        sizes[count++] = (size_t)v;
        nonzero += v != 0;
        p = *end ? end + 1 : end;
    }
    return nonzero ? count : 0;
}

static int read_samples(FILE *in, uint32_t n)
{
    uint32_t done = 0;
    while (done < n) {
        uint32_t k = n - done < 4096u ? n - done : 4096u, i;
        if (fread(g_bytes, 1, 2u * k, in) != 2u * k) {
            return 0;
        }
        for (i = 0; i < k; ++i) {
            const int32_t u = (int32_t)g_bytes[2 * i] | (int32_t)g_bytes[2 * i + 1] << 8;
            g_samples[done + i] = (int16_t)(u >= 32768 ? u - 65536 : u);
        }
        done += k;
    }
    return 1;
}

int kws_stream_run(FILE *in, FILE *out, const size_t *chunks, size_t num_chunks)
{
    const uint32_t max_frames = KWS_STREAM_MAX_SAMPLES / KWS_STRIDE_SAMPLES + 2;
    size_t cursor = 0;
    uint8_t head[4];
    if (kws_frontend_init(&g_fe) != KWS_FRONTEND_OK) {
        printf("stream: kws_frontend_init failed\n");
        return 2;
    }
    while (fread(head, 1, 4, in) == 4) {
        const uint32_t n = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16
                           | (uint32_t)head[3] << 24;
        uint32_t count = 0;
        size_t pos = 0;
        if (n > KWS_STREAM_MAX_SAMPLES || !read_samples(in, n)) {
            printf("stream: record of %lu samples is too long or truncated\n", (unsigned long)n);
            return 2;
        }
        kws_frontend_reset(&g_fe);
        while (pos < n) {
            size_t left = chunks[cursor++ % num_chunks];
            if (left > n - pos) {
                left = n - pos;
            }
            for (;;) {   /* one push per chunk, more while frames complete before its end */
                size_t used;
                int8_t frame[KWS_NUM_COEFFS];
                const int r = kws_frontend_push(&g_fe, g_samples + pos, left, &used, frame);
                pos += used;
                left -= used;
                if (r == KWS_FRONTEND_FRAME) {
                    if (count == max_frames) {
                        printf("stream: more frames than %lu samples allow\n", (unsigned long)n);
                        return 2;
                    }
                    memcpy(g_frames + (size_t)count * KWS_NUM_COEFFS, frame, sizeof frame);
                    count++;
                } else if (r != KWS_FRONTEND_OK) {
                    printf("stream: push failed with %d\n", r);
                    return 2;
                }
                if (r != KWS_FRONTEND_FRAME || left == 0) {
                    break;
                }
            }
        }
        head[0] = (uint8_t)count;
        head[1] = (uint8_t)(count >> 8);
        head[2] = (uint8_t)(count >> 16);
        head[3] = (uint8_t)(count >> 24);
        if (fwrite(head, 1, 4, out) != 4
                || fwrite(g_frames, 1, (size_t)count * KWS_NUM_COEFFS, out)
                   != (size_t)count * KWS_NUM_COEFFS) {
            printf("stream: cannot write the frames\n");
            return 2;
        }
    }
    return fflush(out) == 0 ? 0 : 2;
}

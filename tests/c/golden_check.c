/* golden_check.c: see golden_check.h. */
#include "golden_check.h"

#include <string.h>

#include "kws_frontend.h"

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t pad4(size_t n)
{
    return (n + 3u) & ~(size_t)3u;
}

static int16_t g_samples[KWS_GOLDEN_MAX_SAMPLES];
static kws_frontend_t g_fe;

/* Push samples[0 .. n) in the cycled chunk pattern; compare each frame with expect. */
static void run_one(const char *name, uint32_t n, uint32_t num_frames, const int8_t *expect,
                    const size_t *pattern, size_t pattern_len, size_t pattern_id, FILE *dump,
                    kws_golden_result_t *res)
{
    size_t pos = 0, cursor = 0;
    uint32_t frames = 0, bad = 0;
    int8_t out[KWS_NUM_COEFFS];
    kws_frontend_reset(&g_fe);
    for (;;) {
        /* one push per chunk, repeated while a frame completes before the chunk is used up; a
         * zero chunk is one empty push; after the last sample, one more empty push */
        size_t left = pos < n ? pattern[cursor++ % pattern_len] : 0;
        const int last = pos >= n;
        if (left > n - pos) {
            left = n - pos;
        }
        for (;;) {
            size_t used = 0;
            int r = kws_frontend_push(&g_fe, g_samples + pos, left, &used, out);
            pos += used;
            left -= used;
            if (r == KWS_FRONTEND_FRAME) {
                unsigned k;
                if (frames < num_frames) {
                    for (k = 0; k < KWS_NUM_COEFFS; ++k) {
                        bad += out[k] != expect[frames * KWS_NUM_COEFFS + k];
                    }
                    res->values += KWS_NUM_COEFFS;
                }
                if (dump != NULL && pattern_id == 0) {
                    fwrite(out, 1, sizeof out, dump);
                }
                frames++;
            } else if (r != KWS_FRONTEND_OK) {
                printf("golden: push failed with %d on %s\n", r, name);
                bad++;
            }
            if (r != KWS_FRONTEND_FRAME || left == 0) {
                break;  /* chunk used up (OK means every sample was taken) or an error */
            }
        }
        if (last) {
            break;
        }
    }
    res->vectors++;
    res->frames += frames;
    res->bad_values += bad;
    if (frames != num_frames || g_fe.frames != num_frames) {
        res->bad_counts++;
        printf("golden: %s pattern %u: %u frames, expected %u\n", name, (unsigned)pattern_id,
               (unsigned)frames, (unsigned)num_frames);
    }
    if (bad) {
        printf("golden: %s pattern %u: %u values differ\n", name, (unsigned)pattern_id,
               (unsigned)bad);
    }
}

int kws_golden_run(const uint8_t *data, size_t size, const size_t *const *chunks,
                   const size_t *chunk_lens, size_t num_patterns, FILE *dump,
                   kws_golden_result_t *res)
{
    size_t off = 24, p;
    uint32_t v, num_vectors;
    memset(res, 0, sizeof *res);
    if (size < 24 || memcmp(data, "KWSGOLD1", 8) != 0 || rd32(data + 8) != 1) {
        printf("golden: not a version-1 golden file\n");
        return -1;
    }
    if (rd32(data + 12) != KWS_TABLES_FINGERPRINT || rd32(data + 16) != KWS_NUM_COEFFS) {
        printf("golden: made for tables 0x%08lx, this build has 0x%08lx\n",
               (unsigned long)rd32(data + 12), (unsigned long)KWS_TABLES_FINGERPRINT);
        return -2;
    }
    if (kws_frontend_init(&g_fe) != KWS_FRONTEND_OK) {
        printf("golden: kws_frontend_init failed\n");
        return -3;
    }
    num_vectors = rd32(data + 20);
    for (v = 0; v < num_vectors; ++v) {
        char name[25];
        uint32_t n, nf, i;
        const int8_t *expect;
        if (off + 32 > size) {
            printf("golden: truncated at vector %u\n", (unsigned)v);
            return -4;
        }
        memcpy(name, data + off, 24);
        name[24] = '\0';
        n = rd32(data + off + 24);
        nf = rd32(data + off + 28);
        off += 32;
        if (n > KWS_GOLDEN_MAX_SAMPLES
                || off + pad4(2u * n) + pad4((size_t)nf * KWS_NUM_COEFFS) > size) {
            printf("golden: vector %s does not fit\n", name);
            return -4;
        }
        for (i = 0; i < n; ++i) {
            const int32_t u = (int32_t)data[off + 2 * i] | (int32_t)data[off + 2 * i + 1] << 8;
            g_samples[i] = (int16_t)(u >= 32768 ? u - 65536 : u);
        }
        off += pad4(2u * n);
        expect = (const int8_t *)(data + off);
        off += pad4((size_t)nf * KWS_NUM_COEFFS);
        for (p = 0; p < num_patterns; ++p) {
            run_one(name, n, nf, expect, chunks[p], chunk_lens[p], p, dump, res);
        }
    }
    return 0;
}

/*
 * host_main.c: the C front end on the host, for tests/test_c_frontend.py.
 *
 *   kws_host info
 *       prints "sizeof(kws_frontend_t)=<bytes> fingerprint=0x<tables>"
 *   kws_host stream CHUNKS < records > frames
 *       the stream protocol of stream_check.h on stdin/stdout; CHUNKS is a comma list of chunk
 *       sizes (e.g. 1, or 160,0,513), cycled
 *   kws_host golden FILE CHUNKS [CHUNKS ...]
 *       every vector of a golden file under each chunk pattern (golden_check.h); prints the counts
 *       and exits 1 if any value or frame count differs, 2 for an unreadable or foreign file
 *   kws_host api
 *       the API contract: argument checks, consumed counts at frame boundaries, reset equals a
 *       fresh instance; prints "api: <n> checks, <m> failed" and exits 1 if any failed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_check.h"
#include "kws_frontend.h"
#include "stream_check.h"

#define MAX_PATTERNS 8

static size_t g_sizes[MAX_PATTERNS][KWS_STREAM_MAX_CHUNKS];

static int run_golden(const char *path, int argc, char **argv)
{
    const size_t *patterns[MAX_PATTERNS];
    size_t lens[MAX_PATTERNS];
    int i, rc;
    long size;
    uint8_t *data;
    kws_golden_result_t res;
    FILE *f = fopen(path, "rb");
    if (argc > MAX_PATTERNS) {
        fprintf(stderr, "at most %d chunk patterns\n", MAX_PATTERNS);
        return 2;
    }
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
            || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        return 2;
    }
    data = malloc((size_t)size + 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        return 2;
    }
    fclose(f);
    for (i = 0; i < argc; ++i) {
        lens[i] = kws_parse_chunks(argv[i], g_sizes[i]);
        patterns[i] = g_sizes[i];
        if (lens[i] == 0) {
            fprintf(stderr, "bad chunk list: %s\n", argv[i]);
            return 2;
        }
    }
    rc = kws_golden_run(data, (size_t)size, patterns, lens, (size_t)argc, NULL, &res);
    free(data);
    if (rc != 0) {
        return 2;
    }
    printf("golden: %lu runs, %lu frames, %lu values, %lu values differ, %lu frame counts differ\n",
           (unsigned long)res.vectors, (unsigned long)res.frames, (unsigned long)res.values,
           (unsigned long)res.bad_values, (unsigned long)res.bad_counts);
    return res.bad_values || res.bad_counts ? 1 : 0;
}


static int g_checks, g_failed;

static void check(int ok, const char *what)
{
    g_checks++;
    if (!ok) {
        g_failed++;
        printf("api: FAILED %s\n", what);
    }
}

static int run_api(void)
{
    static kws_frontend_t a, b;
    static int16_t x[2000];
    int8_t fa[KWS_NUM_COEFFS], fb[KWS_NUM_COEFFS];
    size_t used = 99, i;
    int r;
    for (i = 0; i < 2000; ++i) {
        x[i] = (int16_t)((int32_t)(i * 7919u % 65536u) - 32768);
    }
    check(kws_frontend_init(NULL) == KWS_FRONTEND_EARG, "init(NULL) is EARG");
    check(kws_frontend_init(&a) == KWS_FRONTEND_OK && a.frames == 0 && a.fill == 0, "init");
    r = kws_frontend_push(NULL, x, 10, &used, fa);
    check(r == KWS_FRONTEND_EARG && used == 0, "push(fe NULL) is EARG, consumed 0");
    check(kws_frontend_push(&a, x, 10, NULL, fa) == KWS_FRONTEND_EARG, "push(consumed NULL)");
    used = 99;
    r = kws_frontend_push(&a, x, 10, &used, NULL);
    check(r == KWS_FRONTEND_EARG && used == 0, "push(out NULL) is EARG, consumed 0");
    used = 99;
    r = kws_frontend_push(&a, NULL, 10, &used, fa);
    check(r == KWS_FRONTEND_EARG && used == 0 && a.fill == 0, "push(samples NULL, n > 0)");
    r = kws_frontend_push(&a, NULL, 0, &used, fa);
    check(r == KWS_FRONTEND_OK && used == 0 && a.fill == 0, "push(NULL, 0) is an empty push");
    r = kws_frontend_push(&a, x, KWS_WINDOW_SAMPLES - 1, &used, fa);
    check(r == KWS_FRONTEND_OK && used == KWS_WINDOW_SAMPLES - 1, "one short of a window");
    r = kws_frontend_push(&a, x + KWS_WINDOW_SAMPLES - 1, 1000, &used, fa);
    check(r == KWS_FRONTEND_FRAME && used == 1 && a.frames == 1, "the window's last sample");
    check(a.fill == KWS_WINDOW_SAMPLES - KWS_STRIDE_SAMPLES, "the overlap is kept");
    r = kws_frontend_push(&a, x + KWS_WINDOW_SAMPLES, 1000, &used, fa);
    check(r == KWS_FRONTEND_FRAME && used == KWS_STRIDE_SAMPLES && a.frames == 2,
          "a stride completes the next frame");
    /* b gets the same samples as a in one push of 800: same two frames */
    kws_frontend_init(&b);
    r = kws_frontend_push(&b, x, KWS_WINDOW_SAMPLES + KWS_STRIDE_SAMPLES, &used, fb);
    check(r == KWS_FRONTEND_FRAME && used == KWS_WINDOW_SAMPLES, "first frame, one push");
    r = kws_frontend_push(&b, x + used, KWS_STRIDE_SAMPLES, &used, fb);
    check(r == KWS_FRONTEND_FRAME && memcmp(fa, fb, sizeof fa) == 0, "chunking does not matter");
    /* reset, then the same signal again: the same frames as a fresh instance */
    kws_frontend_reset(&a);
    check(a.frames == 0 && a.fill == 0, "reset clears the counters");
    r = kws_frontend_push(&a, x + 100, KWS_WINDOW_SAMPLES, &used, fa);
    kws_frontend_init(&b);
    kws_frontend_push(&b, x + 100, KWS_WINDOW_SAMPLES, &used, fb);
    check(r == KWS_FRONTEND_FRAME && memcmp(fa, fb, sizeof fa) == 0, "reset equals fresh");
    printf("api: %d checks, %d failed\n", g_checks, g_failed);
    return g_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "info") == 0) {
        printf("sizeof(kws_frontend_t)=%lu fingerprint=0x%08lx\n",
               (unsigned long)sizeof(kws_frontend_t), (unsigned long)KWS_TABLES_FINGERPRINT);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "stream") == 0) {
        size_t n = kws_parse_chunks(argv[2], g_sizes[0]);
        if (n == 0) {
            fprintf(stderr, "bad chunk list: %s\n", argv[2]);
            return 2;
        }
        return kws_stream_run(stdin, stdout, g_sizes[0], n);
    }
    if (argc == 2 && strcmp(argv[1], "api") == 0) {
        return run_api();
    }
    if (argc >= 4 && strcmp(argv[1], "golden") == 0) {
        return run_golden(argv[2], argc - 3, argv + 3);
    }
    fprintf(stderr, "usage: kws_host info | api | stream CHUNKS | golden FILE CHUNKS...\n");
    return 2;
}

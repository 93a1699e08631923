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
    if (argc >= 4 && strcmp(argv[1], "golden") == 0) {
        return run_golden(argv[2], argc - 3, argv + 3);
    }
    fprintf(stderr, "usage: kws_host info | stream CHUNKS | golden FILE CHUNKS...\n");
    return 2;
}

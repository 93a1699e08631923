/*
 * m4_main.c: the C front end on a Cortex-M4F (qemu-system-arm -M mps2-an386), two ways.
 *
 * Golden mode (default): the golden file is linked into the ELF (an .incbin of
 * tests/golden/frontend_golden.bin); every vector runs under the chunk patterns below and is
 * compared with the frames in the file. The frames of the first pattern are also written through
 * semihosting to KWS_DUMP_PATH (when defined), for the Python test to compare with numpy itself.
 *
 * Stream mode (KWS_STREAM_IN, KWS_STREAM_OUT and KWS_STREAM_CHUNKS defined): the protocol of
 * stream_check.h, reading and writing host files through semihosting; used to run the whole mini
 * corpus on the Cortex-M4.
 *
 * Prints one summary line; returns 0 only if everything matched (QEMU's exit status).
 */
#include <stdio.h>

#include "golden_check.h"
#include "kws_frontend.h"
#include "stream_check.h"

#if defined(KWS_STREAM_IN) && defined(KWS_STREAM_OUT) && defined(KWS_STREAM_CHUNKS)

static size_t g_chunks[KWS_STREAM_MAX_CHUNKS];

int main(void)
{
    FILE *in, *out;
    int rc;
    const size_t n = kws_parse_chunks(KWS_STREAM_CHUNKS, g_chunks);
    if (n == 0) {
        printf("m4 stream: bad chunk list %s\n", KWS_STREAM_CHUNKS);
        return 2;
    }
    in = fopen(KWS_STREAM_IN, "rb");
    out = fopen(KWS_STREAM_OUT, "wb");
    if (in == NULL || out == NULL) {
        printf("m4 stream: cannot open %s or %s\n", KWS_STREAM_IN, KWS_STREAM_OUT);
        return 2;
    }
    rc = kws_stream_run(in, out, g_chunks, n);
    fclose(in);
    if (fclose(out) != 0) {
        rc = 2;
    }
    printf("m4 stream: sizeof(kws_frontend_t)=%lu, done (%d)\n",
           (unsigned long)sizeof(kws_frontend_t), rc);
    return rc;
}

#else

extern const uint8_t kws_golden_start[];
extern const uint8_t kws_golden_end[];

static const size_t whole[] = {KWS_GOLDEN_WHOLE};
static const size_t one[] = {1};
static const size_t seven[] = {7};
static const size_t tenms[] = {160};
static const size_t stride[] = {KWS_STRIDE_SAMPLES};
static const size_t odd[] = {513};
static const size_t mixed[] = {3, 0, 1000, 1, 319, 64, 0, 4097, 2};

int main(void)
{
    const size_t *patterns[] = {whole, one, seven, tenms, stride, odd, mixed};
    const size_t lens[] = {1, 1, 1, 1, 1, 1, sizeof mixed / sizeof mixed[0]};
    kws_golden_result_t res;
    FILE *dump = NULL;
    int rc;
#ifdef KWS_DUMP_PATH
    dump = fopen(KWS_DUMP_PATH, "wb");
    if (dump == NULL) {
        printf("m4 golden: cannot open %s\n", KWS_DUMP_PATH);
        return 3;
    }
#endif
    rc = kws_golden_run(kws_golden_start, (size_t)(kws_golden_end - kws_golden_start), patterns,
                        lens, sizeof lens / sizeof lens[0], dump, &res);
    if (dump != NULL && fclose(dump) != 0) {
        rc = 3;
    }
    if (rc != 0) {
        return 2;
    }
    printf("m4 golden: sizeof(kws_frontend_t)=%lu, %lu runs, %lu frames, %lu values, "
           "%lu values differ, %lu frame counts differ\n",
           (unsigned long)sizeof(kws_frontend_t), (unsigned long)res.vectors,
           (unsigned long)res.frames, (unsigned long)res.values, (unsigned long)res.bad_values,
           (unsigned long)res.bad_counts);
    return res.bad_values || res.bad_counts ? 1 : 0;
}

#endif

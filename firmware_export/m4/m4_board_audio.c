/*
 * m4_board_audio.c: board_read_audio() for the exporter's generic/main.cc on the emulated
 * Cortex-M4: int16 little-endian samples from the host file kws_m4_audio.raw (semihosting,
 * QEMU's working directory). At the end of the file the run is over: it prints "end of audio"
 * and exits with status 0 (main.cc itself loops for ever, as on a board).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

size_t board_read_audio(int16_t *samples, size_t max);

static FILE *g_audio;

size_t board_read_audio(int16_t *samples, size_t max)
{
    uint8_t bytes[512];
    size_t n, i;
    if (g_audio == NULL) {
        g_audio = fopen("kws_m4_audio.raw", "rb");
        if (g_audio == NULL) {
            printf("board: cannot open kws_m4_audio.raw\n");
            exit(2);
        }
    }
    if (max > sizeof bytes / 2) {
        max = sizeof bytes / 2;
    }
    n = fread(bytes, 2, max, g_audio);
    if (n == 0) {
        fclose(g_audio);
        printf("end of audio\n");
        fflush(stdout);
        exit(0);
    }
    for (i = 0; i < n; ++i) {
        samples[i] = (int16_t)(uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8);
    }
    return n;
}

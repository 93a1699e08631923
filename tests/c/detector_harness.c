/*
 * detector_harness.c - runs kws_detector.c on recorded score sequences (tests/test_c_detector.py).
 *
 * The test generates "detector_cases.h" (one KwsDetectorConfig and one score sequence per case)
 * and builds this file for the host and for a Cortex-M4 under QEMU. For every case the
 * sequence runs twice, the second time after kws_detector_reset, and every outcome is printed:
 *
 *   case <index> run <0|1>
 *   D <row> <label> <time_ms> <score>     a detection
 *   E <row> <code>                        an error (state must be unchanged)
 *   end <index> <detections> <errors>
 *   init <name> <code>                    return codes of kws_detector_init on bad configs
 */
#include <stdint.h>
#include <stdio.h>

#include "detector_cases.h"
#include "kws_detector.h"

static KwsDetector g_detector; /* static: the ring is too big for a small stack */

static void run_case(int index, const DetectorCase *c, int run) {
  int32_t row, detections = 0, errors = 0;
  printf("case %d run %d\n", index, run);
  for (row = 0; row < c->num_results; ++row) {
    KwsDetection found;
    int rc = kws_detector_update(&g_detector, c->scores + (int32_t)row * c->config.num_labels,
                                 c->times_ms[row], &found);
    if (rc == KWS_DETECTOR_DETECTED) {
      printf("D %ld %ld %ld %ld\n", (long)row, (long)found.label, (long)found.time_ms,
             (long)found.score);
      ++detections;
    } else if (rc != KWS_DETECTOR_OK) {
      printf("E %ld %d\n", (long)row, rc);
      ++errors;
    }
  }
  printf("end %d %ld %ld\n", index, (long)detections, (long)errors);
}

static void init_checks(void) {
  static const int32_t thresholds[3] = {200, 200, 256};
  static const int32_t wake[2] = {0, 1};
  static const int32_t wake_unsorted[2] = {1, 0};
  KwsDetectorConfig ok = {3, thresholds, wake, 2, 1000, 3, 1500, 16};
  KwsDetectorConfig bad;
  int8_t scores[3] = {0, 0, 0};
  KwsDetection found;
  printf("init ok %d\n", kws_detector_init(&g_detector, &ok));
  bad = ok; bad.max_results = KWS_DETECTOR_MAX_RESULTS + 1; bad.min_count = 1;
  printf("init too_many_results %d\n", kws_detector_init(&g_detector, &bad));
  bad = ok; bad.num_labels = KWS_DETECTOR_MAX_LABELS + 1;
  printf("init too_many_labels %d\n", kws_detector_init(&g_detector, &bad));
  bad = ok; bad.min_count = 17;
  printf("init min_count_above_max %d\n", kws_detector_init(&g_detector, &bad));
  bad = ok; bad.wake = wake_unsorted;
  printf("init wake_unsorted %d\n", kws_detector_init(&g_detector, &bad));
  bad = ok; bad.average_window_ms = 0;
  printf("init zero_window %d\n", kws_detector_init(&g_detector, &bad));
  printf("init null_config %d\n", kws_detector_init(&g_detector, NULL));
  kws_detector_init(&g_detector, &ok);
  printf("init negative_time %d\n", kws_detector_update(&g_detector, scores, -1, &found));
}

int main(void) {
  int i;
  for (i = 0; i < NUM_DETECTOR_CASES; ++i) {
    const DetectorCase *c = &kDetectorCases[i];
    int rc = kws_detector_init(&g_detector, &c->config);
    if (rc != KWS_DETECTOR_OK) {
      printf("case %d init failed %d\n", i, rc);
      return 1;
    }
    run_case(i, c, 0);
    kws_detector_reset(&g_detector);
    run_case(i, c, 1);
  }
  init_checks();
  printf("done\n");
  return 0;
}

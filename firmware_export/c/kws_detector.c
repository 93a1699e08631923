/*
 * kws_detector.c - the streaming keyword detector, C twin of kws/detector.py.
 * See kws_detector.h for the eight steps; the comments below carry the same numbers.
 */
#include "kws_detector.h"

#include <stddef.h>
#include <string.h>

int kws_detector_init(KwsDetector *detector, const KwsDetectorConfig *config) {
  int32_t i;
  if (detector == NULL || config == NULL || config->thresholds == NULL ||
      config->wake == NULL) {
    return KWS_DETECTOR_ERR_ARG;
  }
  if (config->num_labels < 1 || config->num_wake < 1 || config->num_wake > config->num_labels ||
      config->average_window_ms < 1 || config->min_count < 1 || config->suppression_ms < 0 ||
      config->max_results < 1 || config->min_count > config->max_results) {
    return KWS_DETECTOR_ERR_ARG;
  }
  if (config->num_labels > KWS_DETECTOR_MAX_LABELS ||
      config->max_results > KWS_DETECTOR_MAX_RESULTS) {
    return KWS_DETECTOR_ERR_CAPACITY;
  }
  for (i = 0; i < config->num_wake; ++i) {
    if (config->wake[i] < 0 || config->wake[i] >= config->num_labels ||
        (i > 0 && config->wake[i] <= config->wake[i - 1])) {
      return KWS_DETECTOR_ERR_ARG;
    }
  }
  detector->config = config;
  kws_detector_reset(detector);
  return KWS_DETECTOR_OK;
}

void kws_detector_reset(KwsDetector *detector) {
  memset(detector->scores, 0, sizeof(detector->scores));
  memset(detector->times_ms, 0, sizeof(detector->times_ms));
  memset(detector->sums, 0, sizeof(detector->sums));
  detector->oldest = 0;
  detector->count = 0;
  detector->last_time_ms = KWS_DETECTOR_NEVER;
  detector->last_detection_ms = KWS_DETECTOR_NEVER;
}

/* Remove the oldest stored row from the ring and the sums. */
static void drop_oldest(KwsDetector *d) {
  const KwsDetectorConfig *t = d->config;
  int32_t i;
  for (i = 0; i < t->num_labels; ++i) {
    d->sums[i] -= d->scores[d->oldest][i];
  }
  d->oldest = (d->oldest + 1) % t->max_results;
  d->count -= 1;
}

int kws_detector_update(KwsDetector *detector, const int8_t *scores, int32_t time_ms,
                        KwsDetection *detection) {
  KwsDetector *d = detector;
  const KwsDetectorConfig *t;
  int32_t i, head, k, best, best_avg;
  if (d == NULL || d->config == NULL || scores == NULL || detection == NULL) {
    return KWS_DETECTOR_ERR_ARG;
  }
  t = d->config;
  /* 1. check */
  if (time_ms < 0 || time_ms < d->last_time_ms) {
    return KWS_DETECTOR_ERR_TIME;
  }
  d->last_time_ms = time_ms;
  /* 2. store (uint8 = int8 + 128) */
  if (d->count == t->max_results) {
    drop_oldest(d);
  }
  head = (d->oldest + d->count) % t->max_results;
  for (i = 0; i < t->num_labels; ++i) {
    d->scores[head][i] = (uint8_t)((int32_t)scores[i] + KWS_DETECTOR_SCORE_OFFSET);
    d->sums[i] += d->scores[head][i];
  }
  d->times_ms[head] = time_ms;
  d->count += 1;
  /* 3. evict results that left the window (time_ms - window, time_ms] */
  while (d->count > 1 && time_ms - d->times_ms[d->oldest] >= t->average_window_ms) {
    drop_oldest(d);
  }
  /* 4. count */
  if (d->count < t->min_count) {
    return KWS_DETECTOR_OK;
  }
  /* 5. average (floor) and 6. candidate: the first wake label with the highest average */
  best = t->wake[0];
  best_avg = d->sums[best] / d->count;
  for (k = 1; k < t->num_wake; ++k) {
    int32_t avg = d->sums[t->wake[k]] / d->count;
    if (avg > best_avg) {
      best = t->wake[k];
      best_avg = avg;
    }
  }
  /* 7. suppress */
  if (d->last_detection_ms != KWS_DETECTOR_NEVER &&
      time_ms - d->last_detection_ms < t->suppression_ms) {
    return KWS_DETECTOR_OK;
  }
  /* 8. decide */
  if (best_avg >= t->thresholds[best]) {
    d->last_detection_ms = time_ms;
    detection->label = best;
    detection->time_ms = time_ms;
    detection->score = best_avg;
    return KWS_DETECTOR_DETECTED;
  }
  return KWS_DETECTOR_OK;
}

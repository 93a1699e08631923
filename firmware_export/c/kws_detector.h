/*
 * kws_detector.h - the streaming keyword detector, C twin of kws/detector.py.
 *
 * Class scores over time in, "heard <word> @ t ms" out: keep the results of the last
 * average_window_ms, average them per class, report a wake keyword when its average reaches
 * its threshold, at most once per suppression_ms. C99, integer only, fixed-size buffers, no
 * malloc. One result (kws_detector_update) runs the same eight steps as Detector.update:
 *
 *   1. check     time_ms >= 0 and not before the previous result's time
 *   2. store     ring full: drop the oldest row; write uint8 = int8 + 128 at the head
 *   3. evict     drop rows with time_ms - their time >= average_window_ms (keep the newest)
 *   4. count     fewer than min_count rows: no decision
 *   5. average   avg[i] = sums[i] / count (floor: sums are >= 0)
 *   6. candidate the wake label with the highest average (ties: the lowest label index)
 *   7. suppress  within suppression_ms of the last detection: no decision
 *   8. decide    avg >= threshold: remember the time, report the detection
 *
 * Scores are the model's int8 softmax outputs (scale 1/256, zero point -128): the uint8 score
 * s is the probability s / 256, and thresholds are on the same 0..255 scale (256 = a label
 * that never wakes the detector).
 */
#ifndef KWS_DETECTOR_H
#define KWS_DETECTOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Capacity of the fixed buffers; a config asking for more is refused by kws_detector_init.
 * Override with -D for bigger models (RAM: MAX_RESULTS * (MAX_LABELS + 4) + 4 * MAX_LABELS). */
#ifndef KWS_DETECTOR_MAX_RESULTS
#define KWS_DETECTOR_MAX_RESULTS 64
#endif
#ifndef KWS_DETECTOR_MAX_LABELS
#define KWS_DETECTOR_MAX_LABELS 16
#endif

#define KWS_DETECTOR_SCORE_OFFSET 128 /* int8 score + 128 = uint8 score 0..255 */
#define KWS_DETECTOR_NEVER (-1)       /* last_*_ms before the first result / detection */

/* Return codes (negative = error; the detector state is unchanged). */
#define KWS_DETECTOR_OK 0
#define KWS_DETECTOR_DETECTED 1
#define KWS_DETECTOR_ERR_ARG (-1)      /* NULL pointer or impossible config value */
#define KWS_DETECTOR_ERR_CAPACITY (-2) /* config exceeds MAX_RESULTS / MAX_LABELS */
#define KWS_DETECTOR_ERR_TIME (-3)     /* time_ms < 0 or before the previous result */

/* The integer form of a DetectorConfig for one label list (kws.detector.DetectorTables);
 * the exporter writes every value into kws_model_settings.h. */
typedef struct {
  int32_t num_labels;        /* scores per result, 1..KWS_DETECTOR_MAX_LABELS */
  const int32_t *thresholds; /* (num_labels,) 0..255 for a wake label, 256 otherwise */
  const int32_t *wake;       /* (num_wake,) label indices that can wake, ascending */
  int32_t num_wake;          /* 1..num_labels */
  int32_t average_window_ms; /* >= 1 */
  int32_t min_count;         /* 1..max_results */
  int32_t suppression_ms;    /* >= 0 */
  int32_t max_results;       /* ring rows in use, 1..KWS_DETECTOR_MAX_RESULTS */
} KwsDetectorConfig;

/* The configuration a generated kws_model_settings.h spells (KWS_NUM_LABELS, KWS_DET_*), in
   this struct's field order; expand it where those settings are included, with the arrays
   made from KWS_DET_THRESHOLDS and KWS_DET_WAKE. */
#define KWS_DETECTOR_CONFIG_FROM_SETTINGS(thresholds, wake)                               \
  {KWS_NUM_LABELS,           (thresholds),      (wake),                 KWS_DET_NUM_WAKE, \
   KWS_DET_AVERAGE_WINDOW_MS, KWS_DET_MIN_COUNT, KWS_DET_SUPPRESSION_MS, KWS_DET_MAX_RESULTS}

/* The working state (kws.detector.DetectorState): the ring of stored results. */
typedef struct {
  const KwsDetectorConfig *config;
  uint8_t scores[KWS_DETECTOR_MAX_RESULTS][KWS_DETECTOR_MAX_LABELS];
  int32_t times_ms[KWS_DETECTOR_MAX_RESULTS];
  int32_t sums[KWS_DETECTOR_MAX_LABELS]; /* per-label sum of the stored rows, < 2**31 */
  int32_t oldest;                        /* index of the oldest stored row */
  int32_t count;                         /* stored rows, 0..max_results */
  int32_t last_time_ms;                  /* newest result, KWS_DETECTOR_NEVER before any */
  int32_t last_detection_ms;             /* last detection, KWS_DETECTOR_NEVER before any */
} KwsDetector;

/* One detected keyword: label index, ms since the stream began, averaged score 0..255. */
typedef struct {
  int32_t label;
  int32_t time_ms;
  int32_t score;
} KwsDetection;

/* Check config and start a fresh detector that keeps a pointer to it (config must outlive
 * the detector). Returns KWS_DETECTOR_OK or a negative error code. */
int kws_detector_init(KwsDetector *detector, const KwsDetectorConfig *config);

/* Forget every result and detection: the next update starts a new stream. */
void kws_detector_reset(KwsDetector *detector);

/* Add one classifier result: scores int8 (num_labels,), time_ms in 0..2**31-1 ms, never
 * before the previous result's. Returns KWS_DETECTOR_DETECTED (and fills *detection),
 * KWS_DETECTOR_OK (no detection) or a negative error code (state unchanged). */
int kws_detector_update(KwsDetector *detector, const int8_t *scores, int32_t time_ms,
                        KwsDetection *detection);

#ifdef __cplusplus
}
#endif

#endif /* KWS_DETECTOR_H */

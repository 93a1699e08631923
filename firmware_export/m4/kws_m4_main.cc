/*
 * kws_m4_main.cc: an exported model on a Cortex-M4F under qemu-system-arm -M mps2-an386, with
 * TensorFlow Lite Micro (CMSIS-NN or reference kernels), built by firmware_export/m4_build.py.
 *
 * It links what `kws export --board generic` writes (the model array, kws_model_ops.h,
 * kws_model_settings.h, the C front end, detector and streaming pipeline) and talks to the
 * host through semihosting files in QEMU's working directory:
 *
 *   kws_m4_in.bin   "KWSM4IN1", u32 mode, u32 count, u32 record, u32 flags, then count records
 *       mode 0 (features): record = KWS_INPUT_FRAMES x KWS_INPUT_COEFFS int8 codes per clip
 *       mode 1 (PCM clip): record = samples per clip, int16 LE; the C front end makes the
 *                          frames (the clip must give exactly KWS_INPUT_FRAMES of them)
 *       mode 2 (stream):   count = 1, record = samples of one stream, pushed in blocks of 256
 *                          through kws_stream.c as in generic/main.cc: an inference every
 *                          KWS_HOP_FRAMES frames, each result into the detector
 *       flags: 1 = binary-search the smallest arena on the first input, 2 = time each operator
 *   kws_m4_out.bin  "KWSM4OU1", u32 count, u32 num_labels, u32 feature bytes (490 for PCM
 *                   clips, else 0), then per inference: u32 SysTick ticks of Invoke(),
 *                   i32 time_ms (stream: the result's time, else -1), int8 scores[num_labels],
 *                   int8 features[feature bytes]
 *
 * stdout: key=value lines (arena_size, arena_used, smallest_arena, calibration_ticks; for PCM
 * clips frontend_ticks and frontend_frames: the ticks inside every kws_frontend_push call,
 * summed over all clips, and the frames those calls made; the first clip counts twice, as it
 * is read once more after the arena search),
 * per operator "op <node> <name> ticks=<mean per inference>", per detection
 * "heard <label> <time_ms> <score>", and "done <count>".
 *
 * Time: kws_m4_ticks() (m4_target.h): under -icount shift=0 one tick is 40 INSTRUCTIONS
 * executed, not Cortex-M4 cycles (loads, multiplies and taken branches take 1-3 cycles).
 * Exit status: 0 done, 2 bad input or I/O, 3 TFLite Micro, front end or detector error.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kws_detector.h"
#include "kws_frontend.h"
#include "kws_model_data.h"
#include "kws_model_ops.h"
#include "kws_model_settings.h"
#include "kws_stream.h"
#include "m4_target.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

#if KWS_FE_SAMPLE_RATE_HZ != KWS_SAMPLE_RATE_HZ || KWS_FE_NUM_COEFFS != KWS_NUM_COEFFS || \
    KWS_FE_FRAMES_PER_CLIP != KWS_FRAMES_PER_CLIP
#error "kws_frontend_tables.h and kws_model_settings.h disagree: export the model again"
#endif

namespace {

constexpr uint32_t kModeFeatures = 0;
constexpr uint32_t kModePcm = 1;
constexpr uint32_t kModeStream = 2;
constexpr uint32_t kFlagSearchArena = 1;
constexpr uint32_t kFlagProfileOps = 2;
constexpr size_t kInputBytes = KWS_INPUT_FRAMES * KWS_INPUT_COEFFS;
constexpr size_t kMaxClipSamples = 4 * KWS_SAMPLE_RATE_HZ;  // PCM clips up to 4 s
constexpr size_t kStreamBlock = 256;                          // samples per read, as main.cc
constexpr int kMaxNodes = 64;

alignas(16) uint8_t g_arena[KWS_TENSOR_ARENA_SIZE];
int8_t g_features[kInputBytes];
int16_t g_pcm[kStreamBlock];
kws_frontend_t g_frontend;
uint32_t g_frontend_ticks = 0;   // ticks inside kws_frontend_push (PCM clips)
uint32_t g_frontend_frames = 0;  // frames those calls completed
kws_stream_t g_stream;  // the stream mode: the pipeline of generic/main.cc (kws_stream.c)
const int32_t kThresholds[KWS_NUM_LABELS] = KWS_DET_THRESHOLDS;
const int32_t kWake[KWS_DET_NUM_WAKE] = KWS_DET_WAKE;
const KwsDetectorConfig kDetectorConfig =
    KWS_DETECTOR_CONFIG_FROM_SETTINGS(kThresholds, kWake);

// Mean ticks of each node of the graph over the inferences timed (tflite's profiler hook:
// MicroGraph::InvokeSubgraph opens one event per node, tagged with the operator's name).
class NodeProfiler : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char *tag) override {
    const int node = next_++;
    if (node < kMaxNodes) {
      tags_[node] = tag;
      start_[node] = kws_m4_ticks();
    }
    return static_cast<uint32_t>(node);
  }
  void EndEvent(uint32_t handle) override {
    if (handle < static_cast<uint32_t>(kMaxNodes)) {
      total_[handle] += kws_m4_ticks() - start_[handle];
    }
  }
  void StartInference() {
    next_ = 0;
    ++inferences_;
  }
  void Print() const {
    for (int i = 0; i < nodes() && inferences_ > 0; ++i) {
      printf("op %d %s ticks=%lu\n", i, tags_[i],
             static_cast<unsigned long>(total_[i] / inferences_));
    }
  }

 private:
  int nodes() const { return next_ < kMaxNodes ? next_ : kMaxNodes; }
  const char *tags_[kMaxNodes] = {};
  uint32_t start_[kMaxNodes] = {};
  uint64_t total_[kMaxNodes] = {};
  int next_ = 0;
  uint32_t inferences_ = 0;
};

NodeProfiler g_profiler;

struct InHeader {
  uint32_t mode;
  uint32_t count;
  uint32_t record;
  uint32_t flags;
};

int Fail(int status, const char *why) {
  printf("kws m4: error: %s\n", why);
  return status;
}

bool ReadU32(FILE *f, uint32_t *value) {
  uint8_t b[4];
  if (fread(b, 1, 4, f) != 4) {
    return false;
  }
  *value = static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
           static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
  return true;
}

bool WriteU32(FILE *f, uint32_t value) {
  const uint8_t b[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                        static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
  return fwrite(b, 1, 4, f) == 4;
}

bool ReadSamples(FILE *f, int16_t *out, size_t n) {
  uint8_t b[2 * kStreamBlock];
  while (n > 0) {
    const size_t k = n < kStreamBlock ? n : kStreamBlock;
    if (fread(b, 2, k, f) != k) {
      return false;
    }
    for (size_t i = 0; i < k; ++i) {
      out[i] = static_cast<int16_t>(static_cast<uint16_t>(b[2 * i] | b[2 * i + 1] << 8));
    }
    out += k;
    n -= k;
  }
  return true;
}

bool WriteRecord(FILE *f, uint32_t ticks, int32_t time_ms, const int8_t *scores,
                 const int8_t *features, size_t feature_bytes) {
  return WriteU32(f, ticks) && WriteU32(f, static_cast<uint32_t>(time_ms)) &&
         fwrite(scores, 1, KWS_NUM_LABELS, f) == KWS_NUM_LABELS &&
         fwrite(features, 1, feature_bytes, f) == feature_bytes;
}

// The model's frames from one PCM clip of `n` samples, read from `f` in blocks through the C
// front end; false on a short read or unless the clip gives exactly KWS_INPUT_FRAMES frames.
bool ClipFeatures(FILE *f, size_t n, int8_t *features) {
  size_t frames = 0;
  kws_frontend_reset(&g_frontend);
  while (n > 0) {
    size_t k = n < kStreamBlock ? n : kStreamBlock;
    if (!ReadSamples(f, g_pcm, k)) {
      return false;
    }
    n -= k;
    const int16_t *samples = g_pcm;
    while (k > 0) {
      size_t used = 0;
      int8_t frame[KWS_NUM_COEFFS];
      const uint32_t t0 = kws_m4_ticks();
      const int rc = kws_frontend_push(&g_frontend, samples, k, &used, frame);
      g_frontend_ticks += kws_m4_ticks() - t0;
      samples += used;
      k -= used;
      if (rc == KWS_FRONTEND_FRAME) {
        ++g_frontend_frames;
        if (frames == KWS_INPUT_FRAMES) {
          return false;
        }
        memcpy(features + frames * KWS_INPUT_COEFFS, frame, KWS_INPUT_COEFFS);
        ++frames;
      } else if (rc != KWS_FRONTEND_OK) {
        return false;
      }
    }
  }
  return frames == KWS_INPUT_FRAMES;
}

// Does an arena of `size` bytes allocate and run the model on `features`?
bool ArenaWorks(const tflite::Model *model, const KwsOpResolver &resolver, size_t size,
                const int8_t *features) {
  tflite::MicroInterpreter interpreter(model, resolver, g_arena, size);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    return false;
  }
  memcpy(interpreter.input(0)->data.int8, features, kInputBytes);
  return interpreter.Invoke() == kTfLiteOk;
}

// Smallest arena (bytes) that allocates and runs, by bisection below KWS_TENSOR_ARENA_SIZE;
// 0 when even the full arena fails.
size_t SmallestArena(const tflite::Model *model, const KwsOpResolver &resolver,
                     const int8_t *features) {
  size_t lo = 0, hi = KWS_TENSOR_ARENA_SIZE;  // lo fails, hi works
  kws_m4_set_quiet(1);  // the failing sizes make TFLite Micro complain
  if (!ArenaWorks(model, resolver, hi, features)) {
    kws_m4_set_quiet(0);
    return 0;
  }
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    if (ArenaWorks(model, resolver, mid, features)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  kws_m4_set_quiet(0);
  return hi;
}

}  // namespace

int main() {
  tflite::InitializeTarget();
  printf("calibration_ticks=%lu\n", static_cast<unsigned long>(kws_m4_calibration_ticks()));
  FILE *in = fopen("kws_m4_in.bin", "rb");
  if (in == nullptr) {
    return Fail(2, "cannot open kws_m4_in.bin");
  }
  char magic[8];
  InHeader h;
  if (fread(magic, 1, 8, in) != 8 || memcmp(magic, "KWSM4IN1", 8) != 0 ||
      !ReadU32(in, &h.mode) || !ReadU32(in, &h.count) || !ReadU32(in, &h.record) ||
      !ReadU32(in, &h.flags)) {
    return Fail(2, "kws_m4_in.bin has no KWSM4IN1 header");
  }
  if ((h.mode == kModeFeatures && h.record != kInputBytes) ||
      (h.mode == kModePcm && (h.record == 0 || h.record > kMaxClipSamples)) ||
      (h.mode == kModeStream && h.count != 1) || h.mode > kModeStream || h.count == 0) {
    return Fail(2, "bad mode, count or record size in the header");
  }

  const tflite::Model *model = tflite::GetModel(g_kws_model_data);
  KwsOpResolver resolver;  // exactly the model's operators
  if (model->version() != TFLITE_SCHEMA_VERSION || KwsRegisterOps(resolver) != kTfLiteOk) {
    return Fail(3, "model schema or operators");
  }
  if (kws_frontend_init(&g_frontend) != KWS_FRONTEND_OK ||
      kws_stream_init(&g_stream, &kDetectorConfig, KWS_HOP_FRAMES) != KWS_STREAM_OK) {
    return Fail(3, "front end or detector init");
  }
  const bool pcm = h.mode == kModePcm;
  const size_t feature_bytes = pcm ? kInputBytes : 0;

  // The first input: the arena search runs on it (its record is read again below).
  const long data_start = ftell(in);
  if (h.mode == kModeFeatures) {
    if (fread(g_features, 1, kInputBytes, in) != kInputBytes) {
      return Fail(2, "short read");
    }
  } else if (pcm) {
    if (!ClipFeatures(in, h.record, g_features)) {
      return Fail(2, "first PCM clip: short read, or not exactly KWS_INPUT_FRAMES frames");
    }
  } else {
    memset(g_features, 0, sizeof(g_features));
  }
  if (h.flags & kFlagSearchArena) {
    printf("smallest_arena=%lu\n",
           static_cast<unsigned long>(SmallestArena(model, resolver, g_features)));
  }
  if (fseek(in, data_start, SEEK_SET) != 0) {
    return Fail(2, "cannot rewind kws_m4_in.bin");
  }

  tflite::MicroInterpreter interpreter(model, resolver, g_arena, sizeof(g_arena), nullptr,
                                       (h.flags & kFlagProfileOps) ? &g_profiler : nullptr);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    return Fail(3, "AllocateTensors: KWS_TENSOR_ARENA_SIZE too small");
  }
  TfLiteTensor *input = interpreter.input(0);
  TfLiteTensor *output = interpreter.output(0);
  if (input->type != kTfLiteInt8 || input->bytes != kInputBytes ||
      output->type != kTfLiteInt8 || output->bytes != KWS_NUM_LABELS) {
    return Fail(3, "the model's input or output does not match kws_model_settings.h");
  }
  printf("arena_size=%lu\narena_used=%lu\n", static_cast<unsigned long>(sizeof(g_arena)),
         static_cast<unsigned long>(interpreter.arena_used_bytes()));

  FILE *out = fopen("kws_m4_out.bin", "wb");
  if (out == nullptr) {
    return Fail(2, "cannot open kws_m4_out.bin");
  }
  uint32_t inferences = 0;
  auto invoke = [&](uint32_t *ticks) {
    if (h.flags & kFlagProfileOps) {
      g_profiler.StartInference();
    }
    const uint32_t t0 = kws_m4_ticks();
    const TfLiteStatus status = interpreter.Invoke();
    *ticks = kws_m4_ticks() - t0;
    ++inferences;
    return status == kTfLiteOk;
  };
  const uint32_t records = h.mode == kModeStream ? 0 : h.count;
  // The header's count is patched at the end for a stream (inferences are counted as they run).
  if (fwrite("KWSM4OU1", 1, 8, out) != 8 || !WriteU32(out, records) ||
      !WriteU32(out, KWS_NUM_LABELS) || !WriteU32(out, static_cast<uint32_t>(feature_bytes))) {
    return Fail(2, "cannot write kws_m4_out.bin");
  }

  if (h.mode != kModeStream) {
    for (uint32_t i = 0; i < h.count; ++i) {
      if (pcm) {
        if (!ClipFeatures(in, h.record, g_features)) {
          return Fail(2, "PCM clip: short read, or not exactly KWS_INPUT_FRAMES frames");
        }
      } else if (fread(g_features, 1, kInputBytes, in) != kInputBytes) {
        return Fail(2, "short read");
      }
      memcpy(input->data.int8, g_features, kInputBytes);
      uint32_t ticks = 0;
      if (!invoke(&ticks)) {
        return Fail(3, "Invoke");
      }
      if (!WriteRecord(out, ticks, -1, output->data.int8, g_features, feature_bytes)) {
        return Fail(2, "cannot write kws_m4_out.bin");
      }
    }
  } else {
    // The streaming loop of generic/main.cc (kws_stream.c), reading the stream in blocks of
    // kStreamBlock samples; every result is recorded with its window's time.
    size_t left = h.record;
    while (left > 0) {
      size_t n = left < kStreamBlock ? left : kStreamBlock;
      if (!ReadSamples(in, g_pcm, n)) {
        return Fail(2, "short read");
      }
      left -= n;
      const int16_t *samples = g_pcm;
      while (n > 0) {
        size_t used = 0;
        const int rc = kws_stream_push(&g_stream, samples, n, &used);
        samples += used;
        n -= used;
        if (rc == KWS_STREAM_OK) {
          continue;
        }
        if (rc != KWS_STREAM_WINDOW) {
          return Fail(3, "kws_stream_push");
        }
        kws_stream_window(&g_stream, input->data.int8);
        uint32_t ticks = 0;
        if (!invoke(&ticks)) {
          return Fail(3, "Invoke");
        }
        const int32_t time_ms = g_stream.pending_ms;
        KwsDetection found;
        const int rc_result = kws_stream_result(&g_stream, output->data.int8, &found);
        if (rc_result == KWS_STREAM_DETECTED) {
          printf("heard %ld %ld %ld\n", static_cast<long>(found.label),
                 static_cast<long>(found.time_ms), static_cast<long>(found.score));
        } else if (rc_result != KWS_STREAM_OK) {
          return Fail(3, "kws_stream_result");
        }
        if (!WriteRecord(out, ticks, time_ms, output->data.int8, nullptr, 0)) {
          return Fail(2, "cannot write kws_m4_out.bin");
        }
      }
    }
    if (fseek(out, 8, SEEK_SET) != 0 || !WriteU32(out, inferences)) {
      return Fail(2, "cannot patch the record count of kws_m4_out.bin");
    }
  }
  fclose(in);
  if (fclose(out) != 0) {
    return Fail(2, "cannot close kws_m4_out.bin");
  }
  if (h.flags & kFlagProfileOps) {
    g_profiler.Print();
  }
  if (pcm) {
    printf("frontend_ticks=%lu\nfrontend_frames=%lu\n",
           static_cast<unsigned long>(g_frontend_ticks),
           static_cast<unsigned long>(g_frontend_frames));
  }
  printf("done %lu\n", static_cast<unsigned long>(inferences));
  return 0;
}

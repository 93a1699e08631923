/*
 * micro_interpreter.h - host stand-in for TFLite Micro's interpreter, for the sketch simulation:
 * Invoke() does not run the model; it reports a CRC-32 of the input tensor and returns the
 * scores the test recorded for that inference (stub_invoke, defined by the simulation).
 */
#ifndef KWS_STUB_MICRO_INTERPRETER_H
#define KWS_STUB_MICRO_INTERPRETER_H

#include <stddef.h>
#include <stdint.h>

typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteNoType = 0, kTfLiteInt8 = 9 } TfLiteType;
typedef struct {
  TfLiteType type;
  size_t bytes;
  union {
    int8_t *int8;
  } data;
} TfLiteTensor;

TfLiteStatus stub_invoke(const int8_t *input, size_t input_bytes, int8_t *output,
                         size_t output_bytes);
size_t stub_input_bytes();
size_t stub_output_bytes();

namespace tflite {

class Model {
 public:
  int version() const { return 3; }
};
inline const Model *GetModel(const void *data) { return static_cast<const Model *>(data); }

class MicroOpResolver {};

class MicroInterpreter {
 public:
  MicroInterpreter(const Model *, const MicroOpResolver &, uint8_t *arena, size_t arena_size)
      : arena_(arena), arena_size_(arena_size) {}
  TfLiteStatus AllocateTensors() {
    if (arena_size_ < stub_input_bytes() + stub_output_bytes()) return kTfLiteError;
    input_ = {kTfLiteInt8, stub_input_bytes(), {reinterpret_cast<int8_t *>(arena_)}};
    output_ = {kTfLiteInt8, stub_output_bytes(),
               {reinterpret_cast<int8_t *>(arena_) + stub_input_bytes()}};
    return kTfLiteOk;
  }
  TfLiteTensor *input(size_t) { return &input_; }
  TfLiteTensor *output(size_t) { return &output_; }
  TfLiteStatus Invoke() {
    return stub_invoke(input_.data.int8, input_.bytes, output_.data.int8, output_.bytes);
  }
  size_t arena_used_bytes() const { return input_.bytes + output_.bytes; }

 private:
  uint8_t *arena_;
  size_t arena_size_;
  TfLiteTensor input_{};
  TfLiteTensor output_{};
};

}  // namespace tflite

#endif

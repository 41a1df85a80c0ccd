// Internal header of the native library: not part of the public API.
// Error reporting shared by the CPU twins and the CUDA entry points.
#pragma once

#include "clip_surgery.h"

#include <cstdint>
#include <string>

namespace cs {

// Records `message` as this thread's last error and returns `status`, so that a check reads
//   if (tokens < 1) return cs::fail(CS_ERR_INVALID_ARGUMENT, "tokens must be >= 1");
int fail(int status, const std::string &message);

// Clears the thread's last error; entry points call it first so a stale message never survives
// a successful call.
void clear_error();

// Size in bytes of one element of a cs_dtype, or 0 for an unknown code.
size_t dtype_size(int dtype);

// fp16 / bf16 bit patterns to float, round-to-nearest-even back (CPU twins read and write the
// same bits the GPU does).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t b);
uint16_t float_to_bf16(float f);

// Element `i` of a buffer of type `dtype` as float.
inline float load_as_float(const void *data, int dtype, int64_t i) {
    switch (dtype) {
    case CS_F16: return half_to_float(static_cast<const uint16_t *>(data)[i]);
    case CS_BF16: return bf16_to_float(static_cast<const uint16_t *>(data)[i]);
    default: return static_cast<const float *>(data)[i];
    }
}

// Argument checks shared by the CPU twin and the CUDA entry point of each operation.
int check_feature_surgery_args(const void *image, int image_dtype, int64_t batch, int64_t tokens,
                               int64_t channels, const float *text, int64_t labels,
                               const float *out);

} // namespace cs

// Argument checks used by every entry point: return a status with a message naming the argument.
#define CS_CHECK_ARG(cond, msg)                                                                    \
    do {                                                                                           \
        if (!(cond)) return cs::fail(CS_ERR_INVALID_ARGUMENT, msg);                                \
    } while (0)

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

// Writes `v` as element `i` of a buffer of type `dtype` (f32, f16, bf16), rounding to nearest even.
inline void store_from_float(void *data, int dtype, int64_t i, float v) {
    switch (dtype) {
    case CS_F16: static_cast<uint16_t *>(data)[i] = float_to_half(v); break;
    case CS_BF16: static_cast<uint16_t *>(data)[i] = float_to_bf16(v); break;
    default: static_cast<float *>(data)[i] = v; break;
    }
}

// True for the floating-point tensor types (f32, f16, bf16).
inline bool is_float_dtype(int dtype) { return dtype == CS_F32 || dtype == CS_F16 || dtype == CS_BF16; }

// CLIP's normalisation constants (DESIGN.md step 1), shared by the preprocess twin and kernel.
constexpr float kClipMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr float kClipStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

// 1/√2, the exact GELU's argument scale: one constant for the twin and the kernel, so that both
// round the same product before erf.
constexpr float kInvSqrt2 = 0.70710678118654752f;

// Argument checks shared by the CPU twin and the CUDA entry point of each operation.
int check_feature_surgery_args(const void *image, int image_dtype, int64_t batch, int64_t tokens,
                               int64_t channels, const float *text, int64_t labels,
                               const float *out);
int check_attention_dual_args(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                              int64_t channels, int64_t heads, float scale, const void *out_ori,
                              const void *out_vv);
// `what` names the calling entry point in messages.
int check_map_args(const char *what, const float *similarity, int64_t batch, int64_t tokens,
                   int64_t labels, int64_t height, int64_t width, const void *out);
int check_map_upsample_args(const float *similarity, int64_t batch, int64_t tokens,
                            int64_t labels, int64_t height, int64_t width, int layout,
                            int out_dtype, const void *out);
int check_map_labels_args(const float *similarity, int64_t batch, int64_t tokens, int64_t labels,
                          int64_t height, int64_t width, int32_t background, int out_dtype,
                          const void *out);
int check_map_points_args(const float *similarity, int64_t batch, int64_t tokens, int64_t labels,
                          int64_t height, int64_t width, int64_t max_points,
                          const int32_t *points, const int32_t *counts);
int check_preprocess_args(const uint8_t *frame, int64_t height, int64_t width, int64_t row_pitch,
                          int order, int64_t out_height, int64_t out_width, int out_dtype,
                          const void *out);
int check_rows_args(const char *what, const void *x, int dtype, int64_t rows, int64_t cols,
                    const void *out);
int check_bias_activation_args(const char *what, const void *x, int dtype, int64_t rows,
                               int64_t cols, const float *bias, const void *out);
int check_embed_tokens_args(const void *patches, int dtype, int64_t batch, int64_t grid,
                            int64_t channels, const float *class_embedding,
                            const float *pos_embedding, int64_t pos_grid, const void *out);
int check_class_token_copy_args(const void *src, const void *dst, int dtype, int64_t batch,
                                int64_t tokens, int64_t channels);
int check_add_args(const void *a, const void *b, int64_t b_rows, int dtype, int64_t rows,
                   int64_t cols, const void *out);
int check_convert_args(const void *x, int x_dtype, int64_t n, const void *out, int out_dtype);
int check_gather_rows_args(const void *table, int64_t table_rows, int64_t row_bytes,
                           const int32_t *index, int64_t rows, const void *out);
int check_attention_args(const void *q, const void *k, const void *v, int64_t row_stride,
                         int dtype, int64_t batch, int64_t tokens, int64_t channels,
                         int64_t heads, float scale, int causal, const void *out);
int check_im2col_args(const void *x, int x_dtype, int layout, int64_t batch, int64_t channels,
                      int64_t height, int64_t width, int64_t kernel, int64_t stride,
                      int64_t padding, int out_dtype, const void *out);
int check_batch_norm_args(const void *x, int dtype, int64_t rows, int64_t channels,
                          const float *weight, const float *bias, const float *mean,
                          const float *var, float eps, const void *out);
int check_relu_args(const void *x, int dtype, int64_t n, const void *out);
int check_avg_pool_args(const void *x, int dtype, int64_t batch, int64_t height, int64_t width,
                        int64_t channels, int64_t kernel_h, int64_t kernel_w, const void *out);

int check_self_attention_args(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                              int64_t channels, int64_t heads, float scale, int mode, int64_t grid,
                              float sigma, const void *normed, const void *workspace,
                              const void *out);

// CS_ATTN_GEM's workspace, fp32, shared by the twin and the kernels: τ per image (padded to 64
// floats, keeping what follows 256-byte aligned), then ŵ, the per-head normalised q, k, v, then
// the iterated ŵ, each (batch, tokens, 3·channels) like qkv.
inline int64_t gem_tau_floats(int64_t batch) { return (batch + 63) / 64 * 64; }

// Whether the byte ranges [a, a + a_bytes) and [b, b + b_bytes) share a byte (host or device
// addresses alike: only the numbers are compared).
inline bool ranges_overlap(const void *a, uint64_t a_bytes, const void *b, uint64_t b_bytes) {
    const uint64_t x = (uint64_t)(uintptr_t)a, y = (uint64_t)(uintptr_t)b;
    return x < y + b_bytes && y < x + a_bytes;
}

// Grid side g of tokens = 1 + g·g, or -1 when tokens is not of that form.
int64_t grid_side(int64_t tokens);

// torch's bilinear source index (align_corners=False): for output index `dst` of `out` cells
// over `in` cells, the lower source cell, the upper one and the weight of the upper one.
inline void bilinear_source(int64_t dst, int64_t in, int64_t out, int64_t *i0, int64_t *i1,
                            float *w1) {
    const float scale = (float)in / (float)out;
    float src = scale * ((float)dst + 0.5f) - 0.5f;
    if (src < 0.f) src = 0.f;
    int64_t lo = (int64_t)src;
    if (lo > in - 1) lo = in - 1;
    *i0 = lo;
    *i1 = lo < in - 1 ? lo + 1 : lo;
    *w1 = src - (float)lo;
}

} // namespace cs

// Argument checks used by every entry point: return a status with a message naming the argument.
#define CS_CHECK_ARG(cond, msg)                                                                    \
    do {                                                                                           \
        if (!(cond)) return cs::fail(CS_ERR_INVALID_ARGUMENT, msg);                                \
    } while (0)

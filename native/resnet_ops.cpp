// CPU twins of the ModifiedResNet helpers (cuda/resnet_ops.cu): im2col (a convolution as one
// GEMM), inference batch norm, ReLU and average pooling on channels-last activations. Each
// twin does the kernel's fp32 arithmetic in the kernel's order, so f32 results agree to the
// last bit or two and f16/bf16 results to one rounding.
#include "common.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace {

// Element offset of (b, c, y, x) in an image of `layout`, (C, H, W) per image.
inline int64_t image_offset(int layout, int64_t b, int64_t c, int64_t y, int64_t x, int64_t C,
                            int64_t H, int64_t W) {
    return layout == CS_NHWC ? ((b * H + y) * W + x) * C + c : ((b * C + c) * H + y) * W + x;
}

// Whether a float read from a tensor element passes ReLU unchanged: positive, or NaN (torch's
// relu propagates NaN; IEEE max(NaN, 0) would not). Everything else (negatives, -0, +0) is
// written as +0.
inline bool relu_keeps(float v) { return v > 0.f || v != v; }

} // namespace

int cs::check_im2col_args(const void *x, int x_dtype, int layout, int64_t batch, int64_t channels,
                          int64_t height, int64_t width, int64_t kernel, int64_t stride,
                          int64_t padding, int out_dtype, const void *out) {
    CS_CHECK_ARG(x && out, "im2col: x and out must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(x_dtype) && cs::is_float_dtype(out_dtype),
                 "im2col: x_dtype and out_dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(layout == CS_NCHW || layout == CS_NHWC, "im2col: layout must be CS_NCHW or CS_NHWC");
    CS_CHECK_ARG(batch >= 1 && channels >= 1 && height >= 1 && width >= 1 && kernel >= 1 && stride >= 1,
                 "im2col: batch, channels, height, width, kernel, stride must be >= 1");
    CS_CHECK_ARG(padding >= 0, "im2col: padding must be >= 0");
    // Each factor is bounded before any product is formed (products in double: no overflow).
    CS_CHECK_ARG(batch <= (1 << 24) && channels <= (1 << 20) && height <= (1 << 20) &&
                     width <= (1 << 20) && kernel <= (1 << 12) && stride <= (1 << 20) &&
                     padding <= (1 << 20),
                 "im2col: shape too large");
    CS_CHECK_ARG(height + 2 * padding >= kernel && width + 2 * padding >= kernel,
                 "im2col: kernel larger than the padded image (no output position)");
    const int64_t oh = (height + 2 * padding - kernel) / stride + 1;
    const int64_t ow = (width + 2 * padding - kernel) / stride + 1;
    // The kernel indexes columns with int and rows with int64; out is bounded like convert's n.
    CS_CHECK_ARG((double)channels * kernel * kernel <= (double)(1 << 24) &&
                     (double)batch * oh * ow <= 2147483647.0 &&
                     (double)batch * oh * ow * channels * kernel * kernel <= 1099511627776.0 &&
                     (double)batch * channels * height * width <= 1099511627776.0,
                 "im2col: shape too large");
    const uint64_t in_bytes = (uint64_t)batch * channels * height * width * cs::dtype_size(x_dtype);
    const uint64_t out_bytes =
        (uint64_t)batch * oh * ow * channels * kernel * kernel * cs::dtype_size(out_dtype);
    CS_CHECK_ARG(!cs::ranges_overlap(x, in_bytes, out, out_bytes), "im2col: out must not overlap x");
    return CS_OK;
}

int cs::check_batch_norm_args(const void *x, int dtype, int64_t rows, int64_t channels,
                              const float *weight, const float *bias, const float *mean,
                              const float *var, float eps, const void *out) {
    CS_CHECK_ARG(x && out, "batch_norm: x and out must not be NULL");
    CS_CHECK_ARG(weight && bias && mean && var, "batch_norm: weight, bias, mean and var must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "batch_norm: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(rows >= 1 && channels >= 1, "batch_norm: rows and channels must be >= 1");
    CS_CHECK_ARG(rows <= ((int64_t)1 << 40) && channels <= (1 << 20) && rows * channels <= ((int64_t)1 << 40),
                 "batch_norm: shape too large");
    CS_CHECK_ARG(eps >= 0.f && std::isfinite(eps), "batch_norm: eps must be finite and >= 0");
    // Every element is read and written by the same thread, so out == x is safe; a partial
    // overlap would read elements another thread has already overwritten.
    const uint64_t bytes = (uint64_t)rows * channels * cs::dtype_size(dtype);
    CS_CHECK_ARG(out == x || !cs::ranges_overlap(x, bytes, out, bytes),
                 "batch_norm: out must equal x or not overlap it");
    return CS_OK;
}

int cs::check_relu_args(const void *x, int dtype, int64_t n, const void *out) {
    CS_CHECK_ARG(x && out, "relu: x and out must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "relu: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(n >= 1, "relu: n must be >= 1");
    CS_CHECK_ARG(n <= ((int64_t)1 << 40), "relu: n too large");
    const uint64_t bytes = (uint64_t)n * cs::dtype_size(dtype);
    CS_CHECK_ARG(out == x || !cs::ranges_overlap(x, bytes, out, bytes),
                 "relu: out must equal x or not overlap it");
    return CS_OK;
}

int cs::check_avg_pool_args(const void *x, int dtype, int64_t batch, int64_t height, int64_t width,
                            int64_t channels, int64_t kernel_h, int64_t kernel_w, const void *out) {
    CS_CHECK_ARG(x && out, "avg_pool: x and out must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "avg_pool: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(batch >= 1 && height >= 1 && width >= 1 && channels >= 1 && kernel_h >= 1 && kernel_w >= 1,
                 "avg_pool: batch, height, width, channels, kernel_h, kernel_w must be >= 1");
    CS_CHECK_ARG(kernel_h <= height && kernel_w <= width,
                 "avg_pool: kernel_h must be <= height and kernel_w <= width (no whole window otherwise)");
    CS_CHECK_ARG(batch <= (1 << 24) && height <= (1 << 20) && width <= (1 << 20) && channels <= (1 << 20) &&
                     (double)batch * (height / kernel_h) * (width / kernel_w) <= 2147483647.0 &&
                     (double)batch * height * width * channels <= 1099511627776.0,
                 "avg_pool: shape too large");
    const uint64_t es = cs::dtype_size(dtype);
    const uint64_t in_bytes = (uint64_t)batch * height * width * channels * es;
    const uint64_t out_bytes = (uint64_t)batch * (height / kernel_h) * (width / kernel_w) * channels * es;
    CS_CHECK_ARG(!cs::ranges_overlap(x, in_bytes, out, out_bytes), "avg_pool: out must not overlap x");
    return CS_OK;
}

extern "C" {

int cs_im2col_cpu(const void *x, int x_dtype, int layout, int64_t batch, int64_t channels,
                  int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t padding,
                  int out_dtype, void *out, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_im2col_args(x, x_dtype, layout, batch, channels, height, width, kernel,
                                       stride, padding, out_dtype, out))
        return rc;
    const int64_t k = kernel, oh = (height + 2 * padding - k) / stride + 1,
                  ow = (width + 2 * padding - k) / stride + 1;
    int64_t i = 0; // out is written in order: row (b, oy, ox), column (c, ky, kx)
    for (int64_t b = 0; b < batch; b++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t c = 0; c < channels; c++)
                    for (int64_t ky = 0; ky < k; ky++) {
                        const int64_t iy = oy * stride - padding + ky;
                        for (int64_t kx = 0; kx < k; kx++) {
                            const int64_t ix = ox * stride - padding + kx;
                            const bool inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
                            const float v = inside ? cs::load_as_float(x, x_dtype,
                                                                       image_offset(layout, b, c, iy, ix, channels, height, width))
                                                   : 0.f;
                            cs::store_from_float(out, out_dtype, i++, v);
                        }
                    }
    return CS_OK;
}

int cs_batch_norm_cpu(const void *x, int dtype, int64_t rows, int64_t channels, const float *weight,
                      const float *bias, const float *mean, const float *var, float eps, void *out,
                      cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_batch_norm_args(x, dtype, rows, channels, weight, bias, mean, var, eps, out))
        return rc;
    // The header's formula left to right: ((x − mean) · inv) · weight + bias, inv = 1 / sqrt(var + eps)
    // (a division and a square root, each correctly rounded, as the kernel computes it).
    std::vector<float> inv((size_t)channels);
    for (int64_t c = 0; c < channels; c++) inv[c] = 1.f / std::sqrt(var[c] + eps);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < channels; c++) {
            const int64_t i = r * channels + c;
            cs::store_from_float(out, dtype, i, (cs::load_as_float(x, dtype, i) - mean[c]) * inv[c] * weight[c] + bias[c]);
        }
    return CS_OK;
}

int cs_relu_cpu(const void *x, int dtype, int64_t n, void *out, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_relu_args(x, dtype, n, out)) return rc;
    // Elements that pass are copied as bits (NaN payloads included); no rounding anywhere.
    const size_t es = cs::dtype_size(dtype);
    for (int64_t i = 0; i < n; i++) {
        char *dst = static_cast<char *>(out) + i * es;
        if (relu_keeps(cs::load_as_float(x, dtype, i))) {
            if (out != x) std::memcpy(dst, static_cast<const char *>(x) + i * es, es);
        } else {
            std::memset(dst, 0, es);
        }
    }
    return CS_OK;
}

int cs_avg_pool_cpu(const void *x, int dtype, int64_t batch, int64_t height, int64_t width,
                    int64_t channels, int64_t kernel_h, int64_t kernel_w, void *out,
                    cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_avg_pool_args(x, dtype, batch, height, width, channels, kernel_h, kernel_w, out))
        return rc;
    const int64_t oh = height / kernel_h, ow = width / kernel_w;
    const float count = (float)(kernel_h * kernel_w);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t c = 0; c < channels; c++) {
                    // fp32 sum, rows of the window then columns, as the kernel adds.
                    float sum = 0.f;
                    for (int64_t ky = 0; ky < kernel_h; ky++)
                        for (int64_t kx = 0; kx < kernel_w; kx++)
                            sum += cs::load_as_float(x, dtype,
                                                     ((b * height + oy * kernel_h + ky) * width + ox * kernel_w + kx) * channels + c);
                    cs::store_from_float(out, dtype, ((b * oh + oy) * ow + ox) * channels + c, sum / count);
                }
    return CS_OK;
}

} // extern "C"

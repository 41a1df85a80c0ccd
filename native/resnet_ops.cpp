// CPU twins of the ResNet kernels (cuda/resnet_ops.cu): im2col (any convolution as one GEMM),
// inference batch norm, ReLU and average pooling on channels-last activations.
#include "common.h"

#include <cmath>

int cs::check_im2col_args(const void *x, int x_dtype, int layout, int64_t batch, int64_t channels,
                          int64_t height, int64_t width, int64_t kernel, int64_t stride,
                          int64_t padding, int out_dtype, const void *out) {
    CS_CHECK_ARG(x && out, "im2col: x and out must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(x_dtype) && cs::is_float_dtype(out_dtype),
                 "im2col: x_dtype and out_dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(layout == CS_NCHW || layout == CS_NHWC, "im2col: layout must be CS_NCHW or CS_NHWC");
    CS_CHECK_ARG(batch >= 1 && channels >= 1 && height >= 1 && width >= 1 && kernel >= 1 && stride >= 1,
                 "im2col: batch, channels, height, width, kernel, stride must be >= 1");
    CS_CHECK_ARG(padding >= 0 && padding < kernel, "im2col: padding must be in [0, kernel)");
    // Factors bounded first: the products below then fit comfortably.
    CS_CHECK_ARG(batch <= (1 << 24) && channels <= (1 << 16) && height <= (1 << 16) &&
                     width <= (1 << 16) && kernel <= 64 && stride <= 64,
                 "im2col: shape too large");
    CS_CHECK_ARG(height + 2 * padding >= kernel && width + 2 * padding >= kernel,
                 "im2col: the kernel does not fit the padded image");
    const int64_t oh = (height + 2 * padding - kernel) / stride + 1, ow = (width + 2 * padding - kernel) / stride + 1;
    const double rows = (double)batch * oh * ow, cols = (double)channels * kernel * kernel;
    CS_CHECK_ARG(rows <= 2147483647.0 && cols <= (1 << 24) && rows * cols <= 1099511627776.0 &&
                     (double)batch * channels * height * width <= 1099511627776.0,
                 "im2col: shape too large");
    CS_CHECK_ARG(!cs::ranges_overlap(x, (uint64_t)batch * channels * height * width * cs::dtype_size(x_dtype), out,
                                     (uint64_t)(rows * cols) * cs::dtype_size(out_dtype)),
                 "im2col: out must not overlap x");
    return CS_OK;
}

int cs::check_batch_norm_args(const void *x, int dtype, int64_t rows, int64_t channels,
                              const float *weight, const float *bias, const float *mean,
                              const float *var, float eps, const void *out) {
    if (int rc = cs::check_rows_args("batch_norm", x, dtype, rows, channels, out)) return rc;
    CS_CHECK_ARG(weight && bias && mean && var, "batch_norm: weight, bias, mean and var must not be NULL");
    CS_CHECK_ARG(eps >= 0.f && std::isfinite(eps), "batch_norm: eps must be finite and >= 0");
    CS_CHECK_ARG(x == out || !cs::ranges_overlap(x, (uint64_t)rows * channels * cs::dtype_size(dtype), out,
                                                 (uint64_t)rows * channels * cs::dtype_size(dtype)),
                 "batch_norm: out must equal x or not overlap it");
    return CS_OK;
}

int cs::check_relu_args(const void *x, int dtype, int64_t n, const void *out) {
    CS_CHECK_ARG(x && out, "relu: x and out must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "relu: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(n >= 1 && n <= ((int64_t)1 << 40), "relu: n must be in [1, 2^40]");
    const uint64_t bytes = (uint64_t)n * cs::dtype_size(dtype);
    CS_CHECK_ARG(x == out || !cs::ranges_overlap(x, bytes, out, bytes), "relu: out must equal x or not overlap it");
    return CS_OK;
}

int cs::check_avg_pool_args(const void *x, int dtype, int64_t batch, int64_t height, int64_t width,
                            int64_t channels, int64_t kernel_h, int64_t kernel_w, const void *out) {
    CS_CHECK_ARG(x && out, "avg_pool: x and out must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "avg_pool: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(batch >= 1 && height >= 1 && width >= 1 && channels >= 1 && kernel_h >= 1 && kernel_w >= 1,
                 "avg_pool: batch, height, width, channels, kernel_h, kernel_w must be >= 1");
    CS_CHECK_ARG(kernel_h <= height && kernel_w <= width, "avg_pool: the window must fit the image");
    CS_CHECK_ARG(batch <= (1 << 24) && height <= (1 << 24) && width <= (1 << 24) && channels <= (1 << 20) &&
                     (double)batch * height * width * channels <= 1099511627776.0,
                 "avg_pool: shape too large");
    const uint64_t in = (uint64_t)batch * height * width * channels * cs::dtype_size(dtype);
    const uint64_t outb = (uint64_t)batch * (height / kernel_h) * (width / kernel_w) * channels * cs::dtype_size(dtype);
    CS_CHECK_ARG(!cs::ranges_overlap(x, in, out, outb), "avg_pool: out must not overlap x");
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
    const int64_t k = kernel, oh = (height + 2 * padding - k) / stride + 1, ow = (width + 2 * padding - k) / stride + 1;
    const bool nhwc = layout == CS_NHWC;
    int64_t i = 0; // out is written in order: row (b, oy, ox), column (c, ky, kx)
    for (int64_t b = 0; b < batch; b++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t c = 0; c < channels; c++)
                    for (int64_t ky = 0; ky < k; ky++)
                        for (int64_t kx = 0; kx < k; kx++) {
                            const int64_t y = oy * stride - padding + ky, xx = ox * stride - padding + kx;
                            float v = 0.f;
                            if (y >= 0 && y < height && xx >= 0 && xx < width)
                                v = cs::load_as_float(x, x_dtype,
                                                      nhwc ? ((b * height + y) * width + xx) * channels + c
                                                           : ((b * channels + c) * height + y) * width + xx);
                            cs::store_from_float(out, out_dtype, i++, v);
                        }
    return CS_OK;
}

int cs_batch_norm_cpu(const void *x, int dtype, int64_t rows, int64_t channels, const float *weight,
                      const float *bias, const float *mean, const float *var, float eps, void *out,
                      cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_batch_norm_args(x, dtype, rows, channels, weight, bias, mean, var, eps, out)) return rc;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < channels; c++) {
            const int64_t i = r * channels + c;
            // the kernel's expression, term for term
            const float v = (cs::load_as_float(x, dtype, i) - mean[c]) / std::sqrt(var[c] + eps) * weight[c] + bias[c];
            cs::store_from_float(out, dtype, i, v);
        }
    return CS_OK;
}

int cs_relu_cpu(const void *x, int dtype, int64_t n, void *out, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_relu_args(x, dtype, n, out)) return rc;
    for (int64_t i = 0; i < n; i++) {
        const float v = cs::load_as_float(x, dtype, i);
        cs::store_from_float(out, dtype, i, v < 0.f ? 0.f : v); // NaN and −0 pass through
    }
    return CS_OK;
}

int cs_avg_pool_cpu(const void *x, int dtype, int64_t batch, int64_t height, int64_t width,
                    int64_t channels, int64_t kernel_h, int64_t kernel_w, void *out,
                    cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_avg_pool_args(x, dtype, batch, height, width, channels, kernel_h, kernel_w, out)) return rc;
    const int64_t oh = height / kernel_h, ow = width / kernel_w;
    const float area = (float)(kernel_h * kernel_w);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t c = 0; c < channels; c++) {
                    float sum = 0.f; // fp32, window rows then columns: the kernel's order
                    for (int64_t dy = 0; dy < kernel_h; dy++)
                        for (int64_t dx = 0; dx < kernel_w; dx++)
                            sum += cs::load_as_float(x, dtype, ((b * height + oy * kernel_h + dy) * width + ox * kernel_w + dx) * channels + c);
                    cs::store_from_float(out, dtype, ((b * oh + oy) * ow + ox) * channels + c, sum / area);
                }
    return CS_OK;
}

} // extern "C"

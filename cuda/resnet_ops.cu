// The ResNet image encoder's kernels (twin: native/resnet_ops.cpp): im2col, so that any
// convolution is one cuBLAS GEMM, and the memory-bound steps after it on channels-last
// activations (batch norm, ReLU, average pooling). Grid-stride loops over the output, one thread
// per element; fp32 arithmetic, T only at load and store.
#include "common.cuh"

namespace {

constexpr int kThreads = 256;

// out (rows, cols) with rows = (b, oy, ox) and cols = (c, ky, kx); neighbouring threads write
// neighbouring columns. x is NCHW or NHWC; the padding reads as zero.
template <typename Tin, typename Tout>
__global__ void im2col_kernel(const Tin *__restrict__ x, Tout *__restrict__ out, bool nhwc, int64_t total,
                              int channels, int height, int width, int kernel, int stride, int padding,
                              int oh, int ow) {
    const int64_t cols = (int64_t)channels * kernel * kernel;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = i / cols;
        const int col = (int)(i - row * cols);
        const int kx = col % kernel, ky = col / kernel % kernel, c = col / (kernel * kernel);
        const int ox = (int)(row % ow), oy = (int)(row / ow % oh);
        const int64_t b = row / ((int64_t)ow * oh);
        const int y = oy * stride - padding + ky, xx = ox * stride - padding + kx;
        float v = 0.f;
        if (y >= 0 && y < height && xx >= 0 && xx < width)
            v = cs::to_float(x[nhwc ? ((b * height + y) * width + xx) * channels + c
                                    : ((b * channels + c) * height + y) * width + xx]);
        out[i] = cs::from_float<Tout>(v);
    }
}

template <typename T>
__global__ void batch_norm_kernel(const T *x, const float *__restrict__ weight, const float *__restrict__ bias,
                                  const float *__restrict__ mean, const float *__restrict__ var, float eps, T *out,
                                  int64_t total, int channels) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int c = (int)(i % channels);
        // the twin's expression, term for term (IEEE sqrt and division: nvcc's defaults)
        out[i] = cs::from_float<T>(__fadd_rn(__fmul_rn(__fdiv_rn(__fsub_rn(cs::to_float(x[i]), mean[c]),
                                                                 __fsqrt_rn(__fadd_rn(var[c], eps))),
                                                       weight[c]),
                                             bias[c]));
    }
}

template <typename T>
__global__ void relu_kernel(const T *x, T *out, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const float v = cs::to_float(x[i]);
        out[i] = cs::from_float<T>(v < 0.f ? 0.f : v); // NaN and −0 pass through
    }
}

// One thread per output element (b, oy, ox, c): neighbouring threads read neighbouring channels.
template <typename T>
__global__ void avg_pool_kernel(const T *__restrict__ x, T *__restrict__ out, int64_t total, int height, int width,
                                int channels, int kernel_h, int kernel_w, int oh, int ow) {
    const float area = (float)(kernel_h * kernel_w);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int c = (int)(i % channels);
        const int64_t p = i / channels;
        const int ox = (int)(p % ow), oy = (int)(p / ow % oh);
        const int64_t b = p / ((int64_t)ow * oh);
        const T *src = x + ((b * height + (int64_t)oy * kernel_h) * width + (int64_t)ox * kernel_w) * channels + c;
        float sum = 0.f; // window rows then columns: the twin's order
        for (int dy = 0; dy < kernel_h; dy++)
            for (int dx = 0; dx < kernel_w; dx++) sum = __fadd_rn(sum, cs::to_float(src[((int64_t)dy * width + dx) * channels]));
        out[i] = cs::from_float<T>(__fdiv_rn(sum, area));
    }
}

} // namespace

extern "C" {

int cs_im2col_cuda(const void *x, int x_dtype, int layout, int64_t batch, int64_t channels,
                   int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t padding,
                   int out_dtype, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_im2col_args(x, x_dtype, layout, batch, channels, height, width, kernel,
                                       stride, padding, out_dtype, out))
        return rc;
    const int64_t oh = (height + 2 * padding - kernel) / stride + 1, ow = (width + 2 * padding - kernel) / stride + 1;
    const int64_t total = batch * oh * ow * channels * kernel * kernel;
    cs::dispatch(x_dtype, [&](auto tin) {
        cs::dispatch(out_dtype, [&](auto tout) {
            using Tin = decltype(tin);
            using Tout = decltype(tout);
            im2col_kernel<Tin, Tout><<<cs::grid_for(total, kThreads), kThreads, 0, stream>>>(
                static_cast<const Tin *>(x), static_cast<Tout *>(out), layout == CS_NHWC, total, (int)channels,
                (int)height, (int)width, (int)kernel, (int)stride, (int)padding, (int)oh, (int)ow);
        });
    });
    return cs::check_launch("im2col_cuda");
}

int cs_batch_norm_cuda(const void *x, int dtype, int64_t rows, int64_t channels, const float *weight,
                       const float *bias, const float *mean, const float *var, float eps, void *out,
                       cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_batch_norm_args(x, dtype, rows, channels, weight, bias, mean, var, eps, out)) return rc;
    const int64_t total = rows * channels;
    cs::dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        batch_norm_kernel<T><<<cs::grid_for(total, kThreads), kThreads, 0, stream>>>(
            static_cast<const T *>(x), weight, bias, mean, var, eps, static_cast<T *>(out), total, (int)channels);
    });
    return cs::check_launch("batch_norm_cuda");
}

int cs_relu_cuda(const void *x, int dtype, int64_t n, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_relu_args(x, dtype, n, out)) return rc;
    cs::dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        relu_kernel<T><<<cs::grid_for(n, kThreads), kThreads, 0, stream>>>(static_cast<const T *>(x),
                                                                         static_cast<T *>(out), n);
    });
    return cs::check_launch("relu_cuda");
}

int cs_avg_pool_cuda(const void *x, int dtype, int64_t batch, int64_t height, int64_t width,
                     int64_t channels, int64_t kernel_h, int64_t kernel_w, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_avg_pool_args(x, dtype, batch, height, width, channels, kernel_h, kernel_w, out)) return rc;
    const int64_t oh = height / kernel_h, ow = width / kernel_w, total = batch * oh * ow * channels;
    cs::dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        avg_pool_kernel<T><<<cs::grid_for(total, kThreads), kThreads, 0, stream>>>(
            static_cast<const T *>(x), static_cast<T *>(out), total, (int)height, (int)width, (int)channels,
            (int)kernel_h, (int)kernel_w, (int)oh, (int)ow);
    });
    return cs::check_launch("avg_pool_cuda");
}

} // extern "C"

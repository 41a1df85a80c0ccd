// ModifiedResNet helpers on the GPU (twin: native/resnet_ops.cpp): im2col, inference batch
// norm, ReLU and average pooling, all memory-bound. Arithmetic is fp32 with explicit _rn
// intrinsics (no FMA contraction), in the twin's order, so f32 results equal the twin's bit for
// bit and f16/bf16 results round the same fp32 value. T only at load and store.
//
// Row-shaped kernels (im2col, batch norm, average pool) use 2D blocks: threadIdx.x over columns
// (contiguous in memory, so loads and stores coalesce), threadIdx.y over rows, so that a row
// narrower than a warp (im2col of a 3-channel image, 27 columns) still fills the block. Both
// loops are grid-stride; row indices fit in int (the argument checks bound rows by 2^31 − 1), so
// decoding a row into (b, y, x) needs no 64-bit division.
#include "common.cuh"

#include <algorithm>

namespace {

constexpr int kThreads = 256;

struct Launch2D {
    dim3 grid, block;
};

// Blocks of kThreads threads for `rows` × `cols` work items: blockDim.x the smallest power of
// two >= cols (at most kThreads), blockDim.y the rest. At most `max_blocks_y` blocks along y
// (each thread then loops over several rows; batch norm uses that to load its per-channel
// parameters once for many rows).
Launch2D launch_2d(int64_t rows, int64_t cols, int64_t max_blocks_y = 65535) {
    int tx = 1;
    while (tx < kThreads && tx < cols) tx *= 2;
    const int ty = kThreads / tx;
    const int64_t bx = std::min<int64_t>((cols + tx - 1) / tx, 65535);
    const int64_t by = std::max<int64_t>(1, std::min<int64_t>({(rows + ty - 1) / ty, max_blocks_y, 65535}));
    return {dim3((unsigned)bx, (unsigned)by), dim3((unsigned)tx, (unsigned)ty)};
}

// x: (B, C, H, W) in `layout` → out: (B·oh·ow, C·k·k), row (b, oy, ox), column (c, ky, kx);
// zeros where the window reaches into the padding. Neighbouring threads write neighbouring
// columns; they read neighbouring kx, which are adjacent in NCHW and C elements apart in NHWC
// (there each input element is read k² times, from L1/L2).
template <typename In, typename Out>
__global__ void im2col_kernel(const In *__restrict__ x, Out *__restrict__ out, int layout,
                              int64_t rows, int channels, int height, int width, int k,
                              int stride, int padding, int oh, int ow) {
    const int cols = channels * k * k, kk = k * k;
    for (int64_t r = blockIdx.y * (int64_t)blockDim.y + threadIdx.y; r < rows;
         r += (int64_t)gridDim.y * blockDim.y) {
        const int ri = (int)r, ox = ri % ow, oy = ri / ow % oh, b = ri / ow / oh;
        const int y0 = oy * stride - padding, x0 = ox * stride - padding;
        Out *dst = out + r * cols;
        for (int col = blockIdx.x * blockDim.x + threadIdx.x; col < cols; col += gridDim.x * blockDim.x) {
            const int c = col / kk, rem = col - c * kk, ky = rem / k, kx = rem - ky * k;
            const int iy = y0 + ky, ix = x0 + kx;
            float v = 0.f;
            if (iy >= 0 && iy < height && ix >= 0 && ix < width) {
                const int64_t off = layout == CS_NHWC
                                        ? (((int64_t)b * height + iy) * width + ix) * channels + c
                                        : (((int64_t)b * channels + c) * height + iy) * width + ix;
                v = cs::to_float(x[off]);
            }
            dst[col] = cs::from_float<Out>(v);
        }
    }
}

// x, out: (rows, channels). Each thread keeps one channel's parameters for all its rows.
// No __restrict__: out may equal x (each element is read, then written, by one thread).
template <typename T>
__global__ void batch_norm_kernel(const T *x, const float *__restrict__ weight,
                                  const float *__restrict__ bias, const float *__restrict__ mean,
                                  const float *__restrict__ var, float eps, T *out, int64_t rows,
                                  int channels) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < channels; c += gridDim.x * blockDim.x) {
        const float inv = __fdiv_rn(1.f, __fsqrt_rn(__fadd_rn(var[c], eps)));
        const float m = mean[c], w = weight[c], bb = bias[c];
        for (int64_t r = blockIdx.y * (int64_t)blockDim.y + threadIdx.y; r < rows;
             r += (int64_t)gridDim.y * blockDim.y) {
            const int64_t i = r * channels + c;
            const float v = __fmul_rn(__fmul_rn(__fsub_rn(cs::to_float(x[i]), m), inv), w);
            out[i] = cs::from_float<T>(__fadd_rn(v, bb));
        }
    }
}

// out[i] = x[i] (the same bits) where x[i] > 0 or NaN, else +0. No __restrict__: in place.
template <typename T>
__global__ void relu_kernel(const T *x, T *out, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const T v = x[i];
        const float f = cs::to_float(v);
        out[i] = f > 0.f || isnan(f) ? v : cs::from_float<T>(0.f);
    }
}

// x: (B, H, W, C) → out: (B, oh, ow, C), one output element per (row, column) work item, row
// (b, oy, ox) and column c: threads of a warp read adjacent channels. The window is summed in
// fp32, rows then columns, and divided by `count` = kh·kw, as the twin does.
template <typename T>
__global__ void avg_pool_kernel(const T *__restrict__ x, T *__restrict__ out, int64_t rows,
                                int height, int width, int channels, int kh, int kw, int oh,
                                int ow, float count) {
    for (int64_t r = blockIdx.y * (int64_t)blockDim.y + threadIdx.y; r < rows;
         r += (int64_t)gridDim.y * blockDim.y) {
        const int ri = (int)r, ox = ri % ow, oy = ri / ow % oh, b = ri / ow / oh;
        const T *src = x + (((int64_t)b * height + (int64_t)oy * kh) * width + (int64_t)ox * kw) * channels;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < channels; c += gridDim.x * blockDim.x) {
            float sum = 0.f;
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                    sum = __fadd_rn(sum, cs::to_float(src[((int64_t)ky * width + kx) * channels + c]));
            out[r * channels + c] = cs::from_float<T>(__fdiv_rn(sum, count));
        }
    }
}

using cs::dispatch;

} // namespace

extern "C" {

int cs_im2col_cuda(const void *x, int x_dtype, int layout, int64_t batch, int64_t channels,
                   int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t padding,
                   int out_dtype, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_im2col_args(x, x_dtype, layout, batch, channels, height, width, kernel,
                                       stride, padding, out_dtype, out))
        return rc;
    const int64_t oh = (height + 2 * padding - kernel) / stride + 1;
    const int64_t ow = (width + 2 * padding - kernel) / stride + 1;
    const int64_t rows = batch * oh * ow;
    const Launch2D l = launch_2d(rows, channels * kernel * kernel);
    int rc = CS_OK;
    dispatch(x_dtype, [&](auto ti) {
        using In = decltype(ti);
        dispatch(out_dtype, [&](auto to) {
            using Out = decltype(to);
            rc = cs::launch("im2col_cuda", im2col_kernel<In, Out>, l.grid, l.block, 0, stream,
                            static_cast<const In *>(x), static_cast<Out *>(out), layout, rows, (int)channels,
                            (int)height, (int)width, (int)kernel, (int)stride, (int)padding, (int)oh, (int)ow);
        });
    });
    return rc;
}

int cs_batch_norm_cuda(const void *x, int dtype, int64_t rows, int64_t channels,
                       const float *weight, const float *bias, const float *mean, const float *var,
                       float eps, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_batch_norm_args(x, dtype, rows, channels, weight, bias, mean, var, eps, out))
        return rc;
    // About two waves of resident blocks on a large GPU; each thread then handles several rows
    // of its channel with the parameters loaded once.
    const Launch2D l0 = launch_2d(rows, channels);
    const Launch2D l = launch_2d(rows, channels, std::max<int64_t>(1, 2048 / (int64_t)l0.grid.x));
    int rc = CS_OK;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        rc = cs::launch("batch_norm_cuda", batch_norm_kernel<T>, l.grid, l.block, 0, stream, static_cast<const T *>(x),
                        weight, bias, mean, var, eps, static_cast<T *>(out), rows, (int)channels);
    });
    return rc;
}

int cs_relu_cuda(const void *x, int dtype, int64_t n, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_relu_args(x, dtype, n, out)) return rc;
    int rc = CS_OK;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        rc = cs::launch("relu_cuda", relu_kernel<T>, cs::grid_for(n, kThreads), kThreads, 0, stream,
                        static_cast<const T *>(x), static_cast<T *>(out), n);
    });
    return rc;
}

int cs_avg_pool_cuda(const void *x, int dtype, int64_t batch, int64_t height, int64_t width,
                     int64_t channels, int64_t kernel_h, int64_t kernel_w, void *out,
                     cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_avg_pool_args(x, dtype, batch, height, width, channels, kernel_h, kernel_w, out))
        return rc;
    const int64_t oh = height / kernel_h, ow = width / kernel_w, rows = batch * oh * ow;
    const float count = (float)(kernel_h * kernel_w); // as the twin converts it
    const Launch2D l = launch_2d(rows, channels);
    int rc = CS_OK;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        rc = cs::launch("avg_pool_cuda", avg_pool_kernel<T>, l.grid, l.block, 0, stream, static_cast<const T *>(x),
                        static_cast<T *>(out), rows, (int)height, (int)width, (int)channels, (int)kernel_h,
                        (int)kernel_w, (int)oh, (int)ow, count);
    });
    return rc;
}

} // extern "C"

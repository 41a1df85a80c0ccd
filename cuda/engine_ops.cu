// Engine helpers on the GPU (twin: native/engine_ops.cpp): the small memory-bound steps around
// the cuBLAS GEMMs of a transformer block. Row operations use one block per row; element-wise
// ones a grid-stride loop. fp32 arithmetic throughout, T only at load and store.
#include "common.cuh"

namespace {

constexpr int kThreads = 256;

// x, out: (rows, cols). Two passes over the row (mean, then centred variance) as the twin does;
// the second read hits L1/L2.
template <typename T>
__global__ void layer_norm_kernel(const T *x, const float *__restrict__ weight,
                                  const float *__restrict__ bias, float eps, T *out, int cols) {
    __shared__ float scratch[32];
    const T *row = x + (int64_t)blockIdx.x * cols;
    T *dst = out + (int64_t)blockIdx.x * cols;
    float sum = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) sum += cs::to_float(row[c]);
    const float mean = cs::block_reduce<cs::Reduce::Sum>(sum, scratch) / (float)cols;
    float sq = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float d = cs::to_float(row[c]) - mean;
        sq += d * d;
    }
    const float var = cs::block_reduce<cs::Reduce::Sum>(sq, scratch) / (float)cols;
    const float inv = rsqrtf(var + eps);
    __syncthreads(); // in place: every thread has read the row before anyone writes it
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        dst[c] = cs::from_float<T>((cs::to_float(row[c]) - mean) * inv * weight[c] + bias[c]);
}

template <typename T>
__global__ void bias_quick_gelu_kernel(const T *x, const float *__restrict__ bias, T *out,
                                       int64_t total, int cols) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float y = cs::to_float(x[i]) + (bias ? bias[i % cols] : 0.f);
        out[i] = cs::from_float<T>(y / (1.f + expf(-1.702f * y)));
    }
}

template <typename T>
__global__ void residual_add_kernel(T *x, const T *y, const float *__restrict__ bias,
                                    int64_t total, int cols) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] = cs::from_float<T>(cs::to_float(x[i]) + cs::to_float(y[i]) +
                                 (bias ? bias[i % cols] : 0.f));
}

// patches: (B, g·g, C); pos: (1 + g0·g0, C); out: (B, 1 + g·g, C).
template <typename T>
__global__ void embed_tokens_kernel(const T *__restrict__ patches, const float *__restrict__ cls,
                                    const float *__restrict__ pos, T *__restrict__ out, int batch,
                                    int g, int c, int g0) {
    const int64_t n = 1 + (int64_t)g * g;
    const int64_t total = batch * n * c;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int ch = (int)(idx % c);
        const int64_t tok = idx / c % n, b = idx / c / n;
        if (tok == 0) {
            out[idx] = cs::from_float<T>(cls[ch] + pos[ch]);
            continue;
        }
        const int i = (int)(tok - 1);
        int y0, y1, x0, x1;
        float wy, wx;
        cs::bilinear_source_dev(i / g, g0, g, &y0, &y1, &wy);
        cs::bilinear_source_dev(i % g, g0, g, &x0, &x1, &wx);
        const float *p = pos + c + ch;
        auto at = [&](int y, int x) { return p[(int64_t)(y * g0 + x) * c]; };
        const float e = cs::bilinear_blend(at(y0, x0), at(y0, x1), at(y1, x0), at(y1, x1), wy, wx);
        out[idx] = cs::from_float<T>(cs::to_float(patches[(b * g * g + i) * c + ch]) + e);
    }
}

template <typename T>
__global__ void l2_normalize_kernel(const T *x, T *out, int cols) {
    __shared__ float scratch[32];
    const T *row = x + (int64_t)blockIdx.x * cols;
    T *dst = out + (int64_t)blockIdx.x * cols;
    float sq = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float v = cs::to_float(row[c]);
        sq += v * v;
    }
    const float inv = 1.f / fmaxf(sqrtf(cs::block_reduce<cs::Reduce::Sum>(sq, scratch)), 1e-12f);
    __syncthreads();
    for (int c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = cs::from_float<T>(cs::to_float(row[c]) * inv);
}

// Calls f(T{}) with T the element type of `dtype` (already checked to be f32, f16 or bf16).
template <typename F> void dispatch(int dtype, F f) {
    switch (dtype) {
    case CS_F16: f(__half{}); break;
    case CS_BF16: f(__nv_bfloat16{}); break;
    default: f(float{}); break;
    }
}

} // namespace

extern "C" {

int cs_layer_norm_cuda(const void *x, int dtype, int64_t rows, int64_t cols, const float *weight,
                       const float *bias, float eps, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_rows_args("layer_norm", x, dtype, rows, cols, out)) return rc;
    CS_CHECK_ARG(weight && bias, "layer_norm: weight and bias must not be NULL");
    CS_CHECK_ARG(eps >= 0.f && isfinite(eps), "layer_norm: eps must be finite and >= 0");
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        layer_norm_kernel<T><<<(unsigned)rows, kThreads, 0, stream>>>(
            static_cast<const T *>(x), weight, bias, eps, static_cast<T *>(out), (int)cols);
    });
    return cs::check_launch("layer_norm_cuda");
}

int cs_bias_quick_gelu_cuda(const void *x, int dtype, int64_t rows, int64_t cols,
                            const float *bias, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_rows_args("bias_quick_gelu", x, dtype, rows, cols, out)) return rc;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        bias_quick_gelu_kernel<T><<<cs::grid_for(rows * cols, kThreads), kThreads, 0, stream>>>(
            static_cast<const T *>(x), bias, static_cast<T *>(out), rows * cols, (int)cols);
    });
    return cs::check_launch("bias_quick_gelu_cuda");
}

int cs_residual_add_cuda(void *x, const void *y, int dtype, int64_t rows, int64_t cols,
                         const float *bias, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_rows_args("residual_add", y, dtype, rows, cols, x)) return rc;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        residual_add_kernel<T><<<cs::grid_for(rows * cols, kThreads), kThreads, 0, stream>>>(
            static_cast<T *>(x), static_cast<const T *>(y), bias, rows * cols, (int)cols);
    });
    return cs::check_launch("residual_add_cuda");
}

int cs_embed_tokens_cuda(const void *patches, int dtype, int64_t batch, int64_t grid,
                         int64_t channels, const float *class_embedding, const float *pos_embedding,
                         int64_t pos_grid, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_embed_tokens_args(patches, dtype, batch, grid, channels,
                                             class_embedding, pos_embedding, pos_grid, out))
        return rc;
    const int64_t total = batch * (1 + grid * grid) * channels;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        embed_tokens_kernel<T><<<cs::grid_for(total, kThreads), kThreads, 0, stream>>>(
            static_cast<const T *>(patches), class_embedding, pos_embedding, static_cast<T *>(out),
            (int)batch, (int)grid, (int)channels, (int)pos_grid);
    });
    return cs::check_launch("embed_tokens_cuda");
}

int cs_class_token_copy_cuda(const void *src, void *dst, int dtype, int64_t batch, int64_t tokens,
                             int64_t channels, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_class_token_copy_args(src, dst, dtype, batch, tokens, channels)) return rc;
    const size_t row = (size_t)channels * cs::dtype_size(dtype), pitch = row * (size_t)tokens;
    cudaError_t err = cudaMemcpy2DAsync(dst, pitch, src, pitch, row, (size_t)batch,
                                        cudaMemcpyDeviceToDevice, stream);
    return err == cudaSuccess ? CS_OK : cs::cuda_fail(err, "class_token_copy_cuda: cudaMemcpy2DAsync");
}

int cs_l2_normalize_cuda(const void *x, int dtype, int64_t rows, int64_t cols, void *out,
                         cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_rows_args("l2_normalize", x, dtype, rows, cols, out)) return rc;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        l2_normalize_kernel<T><<<(unsigned)rows, kThreads, 0, stream>>>(
            static_cast<const T *>(x), static_cast<T *>(out), (int)cols);
    });
    return cs::check_launch("l2_normalize_cuda");
}

} // extern "C"

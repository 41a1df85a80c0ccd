// Engine helpers on the GPU (twin: native/engine_ops.cpp): the small memory-bound steps around
// the cuBLAS GEMMs of a transformer block. Row operations use one block per row; element-wise
// ones a grid-stride loop, or rows over blockIdx.y and columns over x where a column or row
// index is needed (no 64-bit division per element). fp32 arithmetic throughout, T only at load
// and store.
#include "common.cuh"

#include <algorithm>
#include <type_traits>

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

// The exact GELU, y/2 · (1 + erf(y/√2)), as the twin computes it (the device's erff may differ
// from the host's by an ulp or two).
template <typename T>
__global__ void bias_gelu_kernel(const T *x, const float *__restrict__ bias, T *out, int64_t total,
                                 int cols) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float y = cs::to_float(x[i]) + (bias ? bias[i % cols] : 0.f);
        out[i] = cs::from_float<T>(0.5f * y * (1.f + erff(y * cs::kInvSqrt2)));
    }
}

// a, out: (rows, cols); b: (b_rows, cols) or null, row r uses row r mod b_rows. The additions
// in the header's order, as the twin does them (bit-identical in fp32). out may equal a (or b
// when b_rows == rows): every element is read and written by the same thread.
template <typename T>
__global__ void add_kernel(const T *a, const float *__restrict__ a_bias, const T *b,
                           int64_t b_rows, const float *__restrict__ b_bias, T *out, int64_t rows,
                           int cols) {
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const T *ar = a + r * cols;
        const T *br = b ? b + (r % b_rows) * cols : nullptr;
        T *dst = out + r * cols;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) {
            float v = cs::to_float(ar[c]);
            if (a_bias) v += a_bias[c];
            if (br) v += cs::to_float(br[c]);
            if (b_bias) v += b_bias[c];
            dst[c] = cs::from_float<T>(v);
        }
    }
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

// x: (n) of In → out: (n) of Out, through fp32 (exact for f16/bf16 in, one rounding out).
// No __restrict__: f16 ↔ bf16 may run in place.
template <typename In, typename Out>
__global__ void convert_kernel(const In *x, Out *out, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = cs::from_float<Out>(cs::to_float(x[i]));
}

// out[r] = table[index[r]] in units U (2, 4, 8 or 16 bytes: the widest the pointers and row
// size allow), a zero row for an index outside [0, table_rows).
template <typename U>
__global__ void gather_rows_kernel(const U *__restrict__ table, int64_t table_rows,
                                   const int32_t *__restrict__ index, U *__restrict__ out,
                                   int64_t rows, int width) {
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const int64_t src = index[r];
        const bool valid = src >= 0 && src < table_rows;
        const U *from = table + (valid ? src : 0) * width;
        U *dst = out + r * width;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < width; c += gridDim.x * blockDim.x)
            dst[c] = valid ? from[c] : U{};
    }
}

// Blocks and threads for a kernel with rows over blockIdx.y and `cols` columns over x.
struct RowLaunch {
    dim3 grid;
    int threads;
};
RowLaunch row_launch(int64_t rows, int64_t cols) {
    const int threads = cols >= kThreads ? kThreads : (int)((cols + 31) / 32 * 32);
    const int64_t bx = std::min<int64_t>((cols + threads - 1) / threads, 65535);
    return {dim3((unsigned)bx, (unsigned)std::min<int64_t>(rows, 65535)), threads};
}

using cs::dispatch;

} // namespace

extern "C" {

int cs_layer_norm_cuda(const void *x, int dtype, int64_t rows, int64_t cols, const float *weight,
                       const float *bias, float eps, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_rows_args("layer_norm", x, dtype, rows, cols, out)) return rc;
    CS_CHECK_ARG(weight && bias, "layer_norm: weight and bias must not be NULL");
    CS_CHECK_ARG(eps >= 0.f && isfinite(eps), "layer_norm: eps must be finite and >= 0");
    int rc = CS_OK;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        rc = cs::launch("layer_norm_cuda", layer_norm_kernel<T>, (unsigned)rows, kThreads, 0, stream,
                        static_cast<const T *>(x), weight, bias, eps, static_cast<T *>(out), (int)cols);
    });
    return rc;
}

int cs_bias_quick_gelu_cuda(const void *x, int dtype, int64_t rows, int64_t cols,
                            const float *bias, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_bias_activation_args("bias_quick_gelu", x, dtype, rows, cols, bias, out)) return rc;
    int rc = CS_OK;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        rc = cs::launch("bias_quick_gelu_cuda", bias_quick_gelu_kernel<T>, cs::grid_for(rows * cols, kThreads),
                        kThreads, 0, stream, static_cast<const T *>(x), bias, static_cast<T *>(out), rows * cols,
                        (int)cols);
    });
    return rc;
}

int cs_bias_gelu_cuda(const void *x, int dtype, int64_t rows, int64_t cols, const float *bias,
                      void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_bias_activation_args("bias_gelu", x, dtype, rows, cols, bias, out)) return rc;
    int rc = CS_OK;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        rc = cs::launch("bias_gelu_cuda", bias_gelu_kernel<T>, cs::grid_for(rows * cols, kThreads), kThreads, 0,
                        stream, static_cast<const T *>(x), bias, static_cast<T *>(out), rows * cols, (int)cols);
    });
    return rc;
}

int cs_add_cuda(const void *a, const float *a_bias, const void *b, int64_t b_rows,
                const float *b_bias, int dtype, int64_t rows, int64_t cols, void *out,
                cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_add_args(a, b, b_rows, dtype, rows, cols, out)) return rc;
    const RowLaunch l = row_launch(rows, cols);
    int rc = CS_OK;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        rc = cs::launch("add_cuda", add_kernel<T>, l.grid, l.threads, 0, stream, static_cast<const T *>(a), a_bias,
                        static_cast<const T *>(b), b ? b_rows : 1, b_bias, static_cast<T *>(out), rows, (int)cols);
    });
    return rc;
}

int cs_embed_tokens_cuda(const void *patches, int dtype, int64_t batch, int64_t grid,
                         int64_t channels, const float *class_embedding, const float *pos_embedding,
                         int64_t pos_grid, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_embed_tokens_args(patches, dtype, batch, grid, channels,
                                             class_embedding, pos_embedding, pos_grid, out))
        return rc;
    const int64_t total = batch * (1 + grid * grid) * channels;
    int rc = CS_OK;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        rc = cs::launch("embed_tokens_cuda", embed_tokens_kernel<T>, cs::grid_for(total, kThreads), kThreads, 0,
                        stream, static_cast<const T *>(patches), class_embedding, pos_embedding,
                        static_cast<T *>(out), (int)batch, (int)grid, (int)channels, (int)pos_grid);
    });
    return rc;
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
    int rc = CS_OK;
    dispatch(dtype, [&](auto t) {
        using T = decltype(t);
        rc = cs::launch("l2_normalize_cuda", l2_normalize_kernel<T>, (unsigned)rows, kThreads, 0, stream,
                        static_cast<const T *>(x), static_cast<T *>(out), (int)cols);
    });
    return rc;
}

int cs_convert_cuda(const void *x, int x_dtype, int64_t n, void *out, int out_dtype,
                    cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_convert_args(x, x_dtype, n, out, out_dtype)) return rc;
    if (x_dtype == out_dtype) { // the same bits, NaN payloads included
        if (out == x) return CS_OK;
        cudaError_t err = cudaMemcpyAsync(out, x, (size_t)n * cs::dtype_size(x_dtype),
                                          cudaMemcpyDeviceToDevice, stream);
        return err == cudaSuccess ? CS_OK : cs::cuda_fail(err, "convert_cuda: cudaMemcpyAsync");
    }
    int rc = CS_OK;
    dispatch(x_dtype, [&](auto ti) {
        using In = decltype(ti);
        dispatch(out_dtype, [&](auto to) {
            using Out = decltype(to);
            if constexpr (!std::is_same<In, Out>::value) // equal types were copied above: no kernel for them
                rc = cs::launch("convert_cuda", convert_kernel<In, Out>, cs::grid_for(n, kThreads), kThreads, 0,
                                stream, static_cast<const In *>(x), static_cast<Out *>(out), n);
        });
    });
    return rc;
}

int cs_gather_rows_cuda(const void *table, int64_t table_rows, int64_t row_bytes,
                        const int32_t *index, int64_t rows, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_gather_rows_args(table, table_rows, row_bytes, index, rows, out)) return rc;
    const uint64_t align = (uint64_t)(uintptr_t)table | (uint64_t)(uintptr_t)out | (uint64_t)row_bytes;
    auto launch = [&](auto unit) {
        using U = decltype(unit);
        const int64_t width = row_bytes / (int64_t)sizeof(U);
        const RowLaunch l = row_launch(rows, width);
        return cs::launch("gather_rows_cuda", gather_rows_kernel<U>, l.grid, l.threads, 0, stream,
                          static_cast<const U *>(table), table_rows, index, static_cast<U *>(out), rows, (int)width);
    };
    if (align % 16 == 0) return launch(uint4{});
    if (align % 8 == 0) return launch(uint2{});
    if (align % 4 == 0) return launch(uint32_t{});
    return launch(uint16_t{});
}

} // extern "C"

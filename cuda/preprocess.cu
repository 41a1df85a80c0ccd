// Frame preprocessing on the GPU (twin: native/preprocess.cpp): Pillow's antialiased BICUBIC
// resize in the same integer arithmetic (coefficients from native/resample.h), then CLIP's
// normalisation into CHW planes. Three launches on the caller's stream:
//   1. coefficient tables for the columns and the rows (one thread per output index);
//   2. horizontal pass: (H_in, W_out, 3) uint8 into a stream-ordered scratch buffer;
//   3. vertical pass + normalisation into the output planes.
#include "common.cuh"
#include "resample.h"

#include <cmath>

namespace {

constexpr int kThreads = 256;

// bounds: (outputs, 2) first tap, count; k: (outputs, ksize) int32 weights.
__global__ void coeffs_kernel(int in_w, int out_w, int ksize_w, int2 *bounds_w, int32_t *k_w,
                              int in_h, int out_h, int ksize_h, int2 *bounds_h, int32_t *k_h) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    int first, count;
    if (i < out_w) {
        cs::resample_coeffs(in_w, out_w, i, &first, &count, k_w + (int64_t)i * ksize_w);
        bounds_w[i] = make_int2(first, count);
    } else if (i < out_w + out_h) {
        const int o = i - out_w;
        cs::resample_coeffs(in_h, out_h, o, &first, &count, k_h + (int64_t)o * ksize_h);
        bounds_h[o] = make_int2(first, count);
    }
}

__global__ void horizontal_kernel(const uint8_t *__restrict__ frame, int64_t pitch, int in_h,
                                  int out_w, int ksize, const int2 *__restrict__ bounds,
                                  const int32_t *__restrict__ k, uint8_t *__restrict__ mid) {
    const int64_t total = (int64_t)in_h * out_w;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int x = (int)(idx % out_w), y = (int)(idx / out_w);
        const int2 bd = bounds[x];
        const int32_t *kx = k + (int64_t)x * ksize;
        const uint8_t *src = frame + (int64_t)y * pitch + (int64_t)bd.x * 3;
        int32_t a0 = 1 << (cs::kPrecisionBits - 1), a1 = a0, a2 = a0;
        for (int i = 0; i < bd.y; i++) {
            a0 += src[3 * i] * kx[i];
            a1 += src[3 * i + 1] * kx[i];
            a2 += src[3 * i + 2] * kx[i];
        }
        uint8_t *dst = mid + idx * 3;
        dst[0] = cs::clip8(a0);
        dst[1] = cs::clip8(a1);
        dst[2] = cs::clip8(a2);
    }
}

struct Norm {
    float mean[3], std[3];
};

template <typename T>
__global__ void vertical_kernel(const uint8_t *__restrict__ mid, int out_w, int out_h, int ksize,
                                const int2 *__restrict__ bounds, const int32_t *__restrict__ k,
                                int bgr, Norm norm, T *__restrict__ out) {
    const int64_t plane = (int64_t)out_h * out_w;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < plane;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int x = (int)(idx % out_w), y = (int)(idx / out_w);
        const int2 bd = bounds[y];
        const int32_t *ky = k + (int64_t)y * ksize;
        int32_t acc[3] = {1 << (cs::kPrecisionBits - 1), 1 << (cs::kPrecisionBits - 1),
                          1 << (cs::kPrecisionBits - 1)};
        for (int i = 0; i < bd.y; i++) {
            const uint8_t *src = mid + ((int64_t)(bd.x + i) * out_w + x) * 3;
            acc[0] += src[0] * ky[i];
            acc[1] += src[1] * ky[i];
            acc[2] += src[2] * ky[i];
        }
        for (int ch = 0; ch < 3; ch++) {
            const int rgb = bgr ? 2 - ch : ch;
            const float v = __fdiv_rn(__fsub_rn(__fdiv_rn((float)cs::clip8(acc[ch]), 255.f),
                                                norm.mean[rgb]),
                                      norm.std[rgb]);
            out[rgb * plane + idx] = cs::from_float<T>(v);
        }
    }
}

template <typename T>
int launch_vertical(const uint8_t *mid, int out_w, int out_h, int ksize, const int2 *bounds,
                    const int32_t *k, int bgr, void *out, cudaStream_t stream) {
    Norm norm;
    for (int c = 0; c < 3; c++) {
        norm.mean[c] = cs::kClipMean[c];
        norm.std[c] = cs::kClipStd[c];
    }
    return cs::launch("preprocess_cuda (vertical)", vertical_kernel<T>, cs::grid_for((int64_t)out_w * out_h, kThreads),
                      kThreads, 0, stream, mid, out_w, out_h, ksize, bounds, k, bgr, norm, static_cast<T *>(out));
}

} // namespace

extern "C" int cs_preprocess_cuda(const uint8_t *frame, int64_t height, int64_t width,
                                  int64_t row_pitch, int order, int64_t out_height,
                                  int64_t out_width, int out_dtype, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_preprocess_args(frame, height, width, row_pitch, order, out_height,
                                           out_width, out_dtype, out))
        return rc;
    const int in_w = (int)width, in_h = (int)height, out_w = (int)out_width, out_h = (int)out_height;
    const int ksize_w = cs::taps_for(in_w, out_w), ksize_h = cs::taps_for(in_h, out_h);
    // One scratch allocation: bounds and weights of both passes, then the intermediate image.
    const size_t bytes_bw = (size_t)out_w * sizeof(int2), bytes_bh = (size_t)out_h * sizeof(int2);
    const size_t bytes_kw = (size_t)out_w * ksize_w * 4, bytes_kh = (size_t)out_h * ksize_h * 4;
    const size_t bytes_mid = (size_t)in_h * out_w * 3;
    char *scratch = nullptr;
    cudaError_t err = cudaMallocAsync(reinterpret_cast<void **>(&scratch),
                                      bytes_bw + bytes_bh + bytes_kw + bytes_kh + bytes_mid, stream);
    if (err != cudaSuccess) return cs::cuda_fail(err, "preprocess_cuda: cudaMallocAsync");
    int2 *bounds_w = reinterpret_cast<int2 *>(scratch);
    int2 *bounds_h = reinterpret_cast<int2 *>(scratch + bytes_bw);
    int32_t *k_w = reinterpret_cast<int32_t *>(scratch + bytes_bw + bytes_bh);
    int32_t *k_h = reinterpret_cast<int32_t *>(scratch + bytes_bw + bytes_bh + bytes_kw);
    uint8_t *mid = reinterpret_cast<uint8_t *>(scratch + bytes_bw + bytes_bh + bytes_kw + bytes_kh);

    int rc;
    rc = cs::launch("preprocess_cuda (coefficients)", coeffs_kernel, (out_w + out_h + 127) / 128, 128, 0, stream,
                    in_w, out_w, ksize_w, bounds_w, k_w, in_h, out_h, ksize_h, bounds_h, k_h);
    if (rc == CS_OK)
        rc = cs::launch("preprocess_cuda (horizontal)", horizontal_kernel, cs::grid_for((int64_t)in_h * out_w, kThreads),
                        kThreads, 0, stream, frame, row_pitch, in_h, out_w, ksize_w, bounds_w, k_w, mid);
    if (rc == CS_OK) {
        const int bgr = order == CS_BGR;
        switch (out_dtype) {
        case CS_F16: rc = launch_vertical<__half>(mid, out_w, out_h, ksize_h, bounds_h, k_h, bgr, out, stream); break;
        case CS_BF16: rc = launch_vertical<__nv_bfloat16>(mid, out_w, out_h, ksize_h, bounds_h, k_h, bgr, out, stream); break;
        default: rc = launch_vertical<float>(mid, out_w, out_h, ksize_h, bounds_h, k_h, bgr, out, stream); break;
        }
    }
    err = cudaFreeAsync(scratch, stream);
    if (rc == CS_OK && err != cudaSuccess) return cs::cuda_fail(err, "preprocess_cuda: cudaFreeAsync");
    return rc;
}

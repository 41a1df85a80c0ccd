// Feature surgery on the GPU (twin: native/feature_surgery.cpp). Two launches per call:
//   1. per image, the class-token label weights w = T · softmax(2 · x0·textᵀ) (label-set mode);
//   2. per token, normalise, dot with every label, weight, subtract the row mean.
// No N×T×C intermediate is formed; the text matrix is read from L2 by every block.
#include "common.cuh"

#include <algorithm>
#include <cfloat>

namespace {

constexpr int kThreads = 128; // 4 warps; each warp takes labels t = warp, warp+4, ...
// Shared memory holds a token's channels and its label scores, 4·(C + T) bytes, plus the static
// scratch below: C + T is capped so that both fit the 48 KiB a block has without an opt-in on
// every architecture (256 bytes are left for the static part, which ptxas reports as 32).
constexpr int64_t kMaxChannelsPlusLabels = (48 * 1024 - 256) / 4;
constexpr unsigned kMaxGridY = 65535; // images beyond are looped over by the blocks of one row

// One block per (token, image); images past the grid's y extent loop. image: (B, N, C); text:
// (T, C); redundant: (C) or null; weights: (B, T) label weights (label-set mode) or null;
// out: (B, N, T). When `class_only`, only token 0 is processed and `weights` is written instead
// of `out`. Control flow is uniform across the block (every branch depends on arguments only),
// so every thread reaches every barrier.
template <typename T>
__global__ void feature_surgery_kernel(const T *__restrict__ image, const float *__restrict__ text,
                                       const float *__restrict__ redundant, float *weights,
                                       float *__restrict__ out, int batch, int n_tokens, int channels,
                                       int n_labels, bool class_only) {
    CS_DYNAMIC_SHARED(float, smem); // x (C floats) then dots (T floats)
    __shared__ float scratch[32];
    __shared__ float row_mean;
    float *x = smem;
    float *dots = smem + channels;
    const int i = class_only ? 0 : blockIdx.x;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    // Reuse across images needs no barrier of its own: x is last read before the barrier that
    // follows the label scores, and dots and scratch are next written behind the barriers of the
    // next image's first block_reduce.
    for (int b = blockIdx.y; b < batch; b += gridDim.y) {
        const T *row = image + ((int64_t)b * n_tokens + i) * channels;
        float sq = 0.f;
        for (int k = threadIdx.x; k < channels; k += kThreads) {
            float v = cs::to_float(row[k]);
            x[k] = v;
            sq += v * v;
        }
        const float inv_norm = rsqrtf(cs::block_reduce<cs::Reduce::Sum>(sq, scratch));

        for (int t = warp; t < n_labels; t += kThreads / 32) {
            const float *tt = text + (int64_t)t * channels;
            float acc = 0.f;
            if (redundant) {
                for (int k = lane; k < channels; k += 32) acc += x[k] * (tt[k] - redundant[k]);
            } else {
                for (int k = lane; k < channels; k += 32) acc += x[k] * tt[k];
            }
            acc = cs::warp_sum(acc);
            if (lane == 0) dots[t] = acc * inv_norm;
        }
        __syncthreads(); // every warp's label scores are written

        float *out_row = out + ((int64_t)b * n_tokens + i) * n_labels;
        float *w = weights ? weights + (int64_t)b * n_labels : nullptr;
        if (redundant) {
            for (int t = threadIdx.x; t < n_labels; t += kThreads) out_row[t] = dots[t];
        } else if (class_only) { // w = T * softmax(2 * dots)
            float mx = -FLT_MAX;
            for (int t = threadIdx.x; t < n_labels; t += kThreads) mx = fmaxf(mx, 2.f * dots[t]);
            mx = cs::block_reduce<cs::Reduce::Max>(mx, scratch);
            float z = 0.f;
            for (int t = threadIdx.x; t < n_labels; t += kThreads) z += expf(2.f * dots[t] - mx);
            z = cs::block_reduce<cs::Reduce::Sum>(z, scratch);
            for (int t = threadIdx.x; t < n_labels; t += kThreads)
                w[t] = expf(2.f * dots[t] - mx) / z * (float)n_labels;
        } else {
            float part = 0.f;
            for (int t = threadIdx.x; t < n_labels; t += kThreads) part += w[t] * dots[t];
            const float total = cs::block_reduce<cs::Reduce::Sum>(part, scratch);
            if (threadIdx.x == 0) row_mean = total / (float)n_labels;
            __syncthreads();
            for (int t = threadIdx.x; t < n_labels; t += kThreads) out_row[t] = w[t] * dots[t] - row_mean;
        }
    }
}

template <typename T>
int launch(const void *image, const float *text, const float *redundant, float *weights,
           float *out, int64_t batch, int64_t tokens, int64_t channels, int64_t labels,
           cudaStream_t stream) {
    const size_t smem = (size_t)(channels + labels) * sizeof(float);
    const T *img = static_cast<const T *>(image);
    const unsigned grid_y = (unsigned)std::min<int64_t>(batch, kMaxGridY);
    if (!redundant) {
        if (int rc = cs::launch("feature_surgery_cuda (class weights)", feature_surgery_kernel<T>, dim3(1, grid_y),
                                kThreads, smem, stream, img, text, nullptr, weights, out, (int)batch, (int)tokens,
                                (int)channels, (int)labels, true))
            return rc;
    }
    return cs::launch("feature_surgery_cuda", feature_surgery_kernel<T>, dim3((unsigned)tokens, grid_y), kThreads,
                      smem, stream, img, text, redundant, weights, out, (int)batch, (int)tokens, (int)channels,
                      (int)labels, false);
}

} // namespace

extern "C" int cs_feature_surgery_cuda(const void *image, int image_dtype, int64_t batch,
                                       int64_t tokens, int64_t channels, const float *text,
                                       int64_t labels, const float *redundant, float *out,
                                       cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_feature_surgery_args(image, image_dtype, batch, tokens, channels, text,
                                                labels, out))
        return rc;
    if (channels + labels > kMaxChannelsPlusLabels)
        return cs::fail(CS_ERR_UNSUPPORTED, "feature_surgery_cuda: channels + labels = " +
                                                std::to_string(channels + labels) + " is above " +
                                                std::to_string(kMaxChannelsPlusLabels) +
                                                " (shared memory; the CPU entry point has no limit)");
    // Label weights live in a small scratch buffer carved from the tail of `out` would race;
    // allocate them on the stream instead (stream-ordered, capturable in a CUDA graph).
    float *weights = nullptr;
    if (!redundant) {
        cudaError_t err = cudaMallocAsync(&weights, (size_t)(batch * labels) * sizeof(float), stream);
        if (err != cudaSuccess) return cs::cuda_fail(err, "feature_surgery_cuda: cudaMallocAsync");
    }
    int rc;
    switch (image_dtype) {
    case CS_F16: rc = launch<__half>(image, text, redundant, weights, out, batch, tokens, channels, labels, stream); break;
    case CS_BF16: rc = launch<__nv_bfloat16>(image, text, redundant, weights, out, batch, tokens, channels, labels, stream); break;
    default: rc = launch<float>(image, text, redundant, weights, out, batch, tokens, channels, labels, stream); break;
    }
    if (weights) {
        cudaError_t err = cudaFreeAsync(weights, stream);
        if (rc == CS_OK && err != cudaSuccess) return cs::cuda_fail(err, "feature_surgery_cuda: cudaFreeAsync");
    }
    return rc;
}

// Dual-path attention on the GPU (twin: native/attention.cpp).
//
// One block per (64-query tile, head, image). Each thread owns one query row of one path: its
// scaled query and its fp32 output accumulator live in registers. Key/value tiles of 32 tokens
// are staged in shared memory as fp32 and shared by both paths: the original path reads k and v,
// the surgery path reads v as keys and values, so v is loaded once for both. Softmax is the
// online (flash) form in base 2: a running max m and sum l per row, the accumulator rescaled
// when the max grows; no tokens×tokens matrix exists anywhere.
//
// This is the SIMT baseline: fp32 FMAs from shared memory (broadcast reads, no bank conflicts).
// A tensor-core (mma) version for fp16/bf16 at head dim 64 is the next step once it can be
// measured on a GPU.
#include "common.cuh"

#include <cfloat>

namespace {

constexpr int kQueryTile = 64; // query rows per path per block
constexpr int kKeyTile = 32;   // keys staged per iteration
constexpr int kChunk = 8;      // keys scored before each rescale of the accumulator

// qkv: (B, N, 3C) of T; out_ori / out_vv: (B, N, C) of T or null. paths: bit 0 = original
// (q-k), bit 1 = surgery (v-v); blockDim.x = 64 · (number of paths). scale_log2 = scale·log2(e).
template <typename T, int D>
__global__ void __launch_bounds__(2 * kQueryTile)
attention_dual_kernel(const T *__restrict__ qkv, T *__restrict__ out_ori, T *__restrict__ out_vv,
                      int n, int c, float scale_log2, int paths) {
    __shared__ __align__(16) float ks[kKeyTile][D];
    __shared__ __align__(16) float vs[kKeyTile][D];

    const int tid = threadIdx.x;
    const int path = paths == 3 ? tid / kQueryTile : (paths == 1 ? 0 : 1);
    const int qi = blockIdx.x * kQueryTile + tid % kQueryTile;
    const int h = blockIdx.y, b = blockIdx.z;
    const int64_t row = 3 * (int64_t)c;
    const T *base = qkv + (int64_t)b * n * row + (int64_t)h * D;
    const bool active = qi < n;
    const bool need_k = paths & 1;

    float q[D], acc[D];
#pragma unroll
    for (int d = 0; d < D; d++) acc[d] = 0.f;
    if (active) {
        const T *src = base + (int64_t)qi * row + (path == 0 ? 0 : 2 * (int64_t)c);
#pragma unroll
        for (int d = 0; d < D; d++) q[d] = cs::to_float(src[d]) * scale_log2;
    } else {
#pragma unroll
        for (int d = 0; d < D; d++) q[d] = 0.f;
    }
    float m = -INFINITY, l = 0.f;

    for (int k0 = 0; k0 < n; k0 += kKeyTile) {
        const int kn = min(kKeyTile, n - k0);
        __syncthreads(); // the previous tile is no longer read
        for (int idx = tid; idx < kKeyTile * D; idx += blockDim.x) {
            const int j = idx / D, d = idx % D;
            float kv = 0.f, vv = 0.f;
            if (j < kn) {
                const T *r = base + (int64_t)(k0 + j) * row;
                if (need_k) kv = cs::to_float(r[c + d]);
                vv = cs::to_float(r[2 * (int64_t)c + d]);
            }
            ks[j][d] = kv;
            vs[j][d] = vv;
        }
        __syncthreads();
        if (!active) continue;
        const float(*keys)[D] = path == 0 ? ks : vs;
        for (int j0 = 0; j0 < kn; j0 += kChunk) {
            float s[kChunk];
            float chunk_max = m;
#pragma unroll
            for (int jj = 0; jj < kChunk; jj++) {
                float dot = -INFINITY;
                if (j0 + jj < kn) {
                    dot = 0.f;
#pragma unroll
                    for (int d = 0; d < D; d++) dot = fmaf(q[d], keys[j0 + jj][d], dot);
                }
                s[jj] = dot;
                chunk_max = fmaxf(chunk_max, dot);
            }
            // m = -inf only before the first chunk, where acc and l are 0 anyway.
            const float corr = m == -INFINITY ? 0.f : exp2f(m - chunk_max);
            l *= corr;
#pragma unroll
            for (int d = 0; d < D; d++) acc[d] *= corr;
#pragma unroll
            for (int jj = 0; jj < kChunk; jj++) {
                const float p = j0 + jj < kn ? exp2f(s[jj] - chunk_max) : 0.f;
                l += p;
#pragma unroll
                for (int d = 0; d < D; d++) acc[d] = fmaf(p, vs[j0 + jj][d], acc[d]);
            }
            m = chunk_max;
        }
    }
    if (active) {
        T *dst = (path == 0 ? out_ori : out_vv) + ((int64_t)b * n + qi) * c + (int64_t)h * D;
        const float inv = 1.f / l;
#pragma unroll
        for (int d = 0; d < D; d++) dst[d] = cs::from_float<T>(acc[d] * inv);
    }
}

template <typename T, int D>
int launch(const void *qkv, void *out_ori, void *out_vv, int64_t batch, int64_t tokens,
           int64_t channels, int64_t heads, float scale, cudaStream_t stream) {
    const int paths = (out_ori ? 1 : 0) | (out_vv ? 2 : 0);
    const int threads = kQueryTile * (paths == 3 ? 2 : 1);
    const dim3 grid((unsigned)((tokens + kQueryTile - 1) / kQueryTile), (unsigned)heads,
                    (unsigned)batch);
    attention_dual_kernel<T, D><<<grid, threads, 0, stream>>>(
        static_cast<const T *>(qkv), static_cast<T *>(out_ori), static_cast<T *>(out_vv),
        (int)tokens, (int)channels, scale * 1.4426950408889634f, paths);
    return cs::check_launch("attention_dual_cuda");
}

template <typename T>
int launch_dtype(const void *qkv, void *out_ori, void *out_vv, int64_t batch, int64_t tokens,
                 int64_t channels, int64_t heads, float scale, cudaStream_t stream) {
    switch (channels / heads) {
    case 32: return launch<T, 32>(qkv, out_ori, out_vv, batch, tokens, channels, heads, scale, stream);
    case 64: return launch<T, 64>(qkv, out_ori, out_vv, batch, tokens, channels, heads, scale, stream);
    case 80: return launch<T, 80>(qkv, out_ori, out_vv, batch, tokens, channels, heads, scale, stream);
    case 128: return launch<T, 128>(qkv, out_ori, out_vv, batch, tokens, channels, heads, scale, stream);
    default:
        return cs::fail(CS_ERR_UNSUPPORTED,
                        "attention_dual_cuda: head dim " + std::to_string(channels / heads) +
                            " is not compiled (32, 64, 80, 128 are)");
    }
}

} // namespace

extern "C" int cs_attention_dual_cuda(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                                      int64_t channels, int64_t heads, float scale, void *out_ori,
                                      void *out_vv, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_attention_dual_args(qkv, dtype, batch, tokens, channels, heads, scale,
                                               out_ori, out_vv))
        return rc;
    switch (dtype) {
    case CS_F16: return launch_dtype<__half>(qkv, out_ori, out_vv, batch, tokens, channels, heads, scale, stream);
    case CS_BF16: return launch_dtype<__nv_bfloat16>(qkv, out_ori, out_vv, batch, tokens, channels, heads, scale, stream);
    default: return launch_dtype<float>(qkv, out_ori, out_vv, batch, tokens, channels, heads, scale, stream);
    }
}

// Attention on the GPU (twins: native/attention.cpp): the dual-path kernels of the ViT surgery
// blocks first, then the training-free methods' modes (cs_self_attention_cuda), then the
// single-path ones (cs_attention_cuda) at the end of this file.
//
// Dual-path attention.
// One block per (query tile, head, image). The scaled query rows and their fp32 output
// accumulators live in registers (spread over the lanes). Key/value tiles of 32 tokens
// are staged in shared memory as fp32 and shared by both paths: the original path reads k and v,
// the surgery path reads v as keys and values, so v is loaded once for both. Softmax is the
// online (flash) form in base 2: a running max m and sum l per row, the accumulator rescaled
// when the max grows; no tokens×tokens matrix exists anywhere.
//
// Two implementations:
//  - fp16/bf16 (16-byte aligned, channels % 8 == 0): tensor cores, mma.sync m16n8k16 with fp32
//    accumulation, FlashAttention-2 style: each warp owns 16 query rows of one path; S = Q·Kᵀ
//    stays in registers, the online softmax works on the accumulator fragments (rows g and g+8
//    of the warp's tile, reduced over the 4 lanes of a quad), P is rounded to the input type and
//    fed straight back as the A operand of O += P·V. Shared-memory rows are padded by 8
//    elements so the fragment loads are free of bank conflicts.
//  - fp32 (and unaligned inputs): the SIMT kernel below, fp32 FMAs from shared memory; each
//    query row's head dim is split across a group of 4 to 16 lanes, scores summed by shuffles.
#include "common.cuh"
#include "mma.cuh"

#include <cfloat>
#include <cstdint>
#include <type_traits>

namespace {

constexpr int kKeyTile = 32;      // keys staged per iteration
constexpr int kChunk = 8;         // keys scored before each rescale of the accumulator
constexpr int kPathThreads = 256; // threads per path per block (8 warps)

// Lanes per query row (G) in the SIMT kernel: the head dim is split across a group of G
// neighbouring lanes, each holding D/G elements of q and D/G of the accumulator. One thread per
// row kept 2·D floats live and spilled at D = 128. G is the smallest power of two >= 4 that
// leaves at most 10 elements per lane: 4, 8, 8, 16 for D = 32, 64, 80, 128 (8, 8, 10, 8
// elements, 54-64 registers). With 16 elements per lane (G = 4 at D = 64, 8 at D = 128) a lane
// needs 78-94 registers, and ptxas (13.0, sm_80) squeezes those blocks of 512 to 64 registers
// for a second block per SM, spilling. Fewer elements would cost a butterfly step per score
// (log2 G shuffles per key) for nothing: G = 8 at D = 32 leaves 4 FMAs per 3 shuffles.
template <int D> constexpr int kDualGroup = D <= 40 ? 4 : D <= 80 ? 8 : 16;
// Floats per shared-memory load of a lane: the widest vector (4, 2, 1) its D/G elements split into.
template <int D>
constexpr int kDualVec = (D / kDualGroup<D>) % 4 == 0 ? 4 : (D / kDualGroup<D>) % 2 == 0 ? 2 : 1;

template <int W> __device__ __forceinline__ void load_floats(const float *p, float (&x)[W]) {
    if constexpr (W == 4) {
        const float4 v = *reinterpret_cast<const float4 *>(p);
        x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
    } else if constexpr (W == 2) {
        const float2 v = *reinterpret_cast<const float2 *>(p);
        x[0] = v.x, x[1] = v.y;
    } else {
        x[0] = p[0];
    }
}

// No additive bias on the scores: the dual path, and every self-attention mode but NACLIP's
// (attend_tile calls a bias only where kActive).
struct NoBias {
    static constexpr bool kActive = false;
};

// NACLIP's Gaussian of patch-grid distance for one query token, in the scores' base-2 units:
// log2(e)·exp(coef·‖p_i − p_j‖²), coef = −1/(2σ²), for patch tokens (>= 1, row-major on the
// grid); 0 where the query or the key is the class token.
struct GaussianBias {
    static constexpr bool kActive = true;
    int grid, yi, xi; // the query's grid coordinates; yi < 0: the query is the class token
    float coef_log2;  // coef·log2(e): exp(coef·x) = exp2(coef_log2·x)
    __device__ float operator()(int j) const {
        if (yi < 0 || j == 0) return 0.f;
        const int dy = (j - 1) / grid - yi, dx = (j - 1) % grid - xi;
        return 1.4426950408889634f * exp2f((float)(dx * dx + dy * dy) * coef_log2);
    }
};

// A query row into lane r's registers in the layout below (attention_dual_kernel): q pre-scaled
// to base 2 (0 for rows past the sequence, which compute but are never stored), acc cleared.
template <int D, typename T>
__device__ __forceinline__ void load_query(const T *row, bool active, float scale_log2, int r, float (&q)[D / kDualGroup<D>],
                                           float (&acc)[D / kDualGroup<D>]) {
    constexpr int G = kDualGroup<D>, W = kDualVec<D>;
#pragma unroll
    for (int i = 0; i < D / G / W; i++)
#pragma unroll
        for (int w = 0; w < W; w++) {
            q[i * W + w] = active ? cs::to_float(row[W * (r + G * i) + w]) * scale_log2 : 0.f;
            acc[i * W + w] = 0.f;
        }
}

// One staged tile into a query row group's online softmax (the SIMT kernels' inner loop): keys
// k0 .. k0 + kn − 1 are rows 0 .. kn − 1 of `keys` and `vals` (the tile's other rows are zero:
// scored like the others, then masked). Scores q·k (q pre-scaled to base 2) plus bias(key index)
// in chunks of kChunk keys, the running max m and sum l, acc += p·v. Lane r of a group of G holds
// elements W·(r + G·i) + w of q and acc (layout: attention_dual_kernel).
template <int D, typename Bias>
__device__ __forceinline__ void attend_tile(const float (*keys)[D], const float (*vals)[D], int k0, int kn, int r,
                                            const float (&q)[D / kDualGroup<D>], float (&acc)[D / kDualGroup<D>],
                                            float &m, float &l, const Bias &bias) {
    constexpr int G = kDualGroup<D>, W = kDualVec<D>;
    constexpr int E = D / G, V = E / W;
    for (int j0 = 0; j0 < kn; j0 += kChunk) { // kn is the same in the whole block
        float s[kChunk];
        float chunk_max = m;
#pragma unroll
        for (int jj = 0; jj < kChunk; jj++) {
            float dot = 0.f;
#pragma unroll
            for (int i = 0; i < V; i++) {
                float kx[W];
                load_floats<W>(&keys[j0 + jj][W * (r + G * i)], kx);
#pragma unroll
                for (int w = 0; w < W; w++) dot = fmaf(q[i * W + w], kx[w], dot);
            }
#pragma unroll
            for (int o = G / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
            if constexpr (Bias::kActive) dot += bias(k0 + j0 + jj);
            s[jj] = j0 + jj < kn ? dot : -INFINITY;
            chunk_max = fmaxf(chunk_max, s[jj]);
        }
        // m = -inf only before the first chunk, where acc and l are 0 anyway.
        const float corr = m == -INFINITY ? 0.f : exp2f(m - chunk_max);
        l *= corr;
#pragma unroll
        for (int e = 0; e < E; e++) acc[e] *= corr;
#pragma unroll
        for (int jj = 0; jj < kChunk; jj++) {
            const float p = j0 + jj < kn ? exp2f(s[jj] - chunk_max) : 0.f;
            l += p;
#pragma unroll
            for (int i = 0; i < V; i++) {
                float vx[W];
                load_floats<W>(&vals[j0 + jj][W * (r + G * i)], vx);
#pragma unroll
                for (int w = 0; w < W; w++) acc[i * W + w] = fmaf(p, vx[w], acc[i * W + w]);
            }
        }
        m = chunk_max;
    }
}

// qkv: (B, N, 3C) of T; out_ori / out_vv: (B, N, C) of T or null. paths: bit 0 = original
// (q-k), bit 1 = surgery (v-v); blockDim.x = 256 · (number of paths): threads 0..255 the first
// path, 256..511 the second. scale_log2 = scale·log2(e).
//
// Layout: thread t of a path is lane r = t % G of the group of query row t / G (R = 256 / G rows
// per path per block: 64, 32, 32, 16 for D = 32, 64, 80, 128). The lane owns the head-dim elements
// d = W·(r + G·i) + w (i < D/(G·W), w < W) of q and of the accumulator: for one key, the G lanes
// of a group read G·W consecutive floats of the staged row (W-wide vector loads), and every group
// of the warp reads the same key row (a warp is one path), so the loads are broadcasts without
// bank conflicts. A score is the lane's partial dot product summed over the group by an xor
// butterfly: each step adds the same two values in both partners (commutative), so every lane of
// the group ends with the same bits, and the group's lanes take the same max, correction and
// weights and keep identical copies of m and l. The shuffles run on all 32 lanes, unconditionally:
// query rows past n compute with q = 0 and only skip the store; a warp whose rows are all past n
// skips the whole tile (the test is warp-uniform).
template <typename T, int D>
__global__ void __launch_bounds__(2 * kPathThreads)
attention_dual_kernel(const T *__restrict__ qkv, T *__restrict__ out_ori, T *__restrict__ out_vv,
                      int n, int c, float scale_log2, int paths) {
    constexpr int G = kDualGroup<D>, W = kDualVec<D>;
    constexpr int E = D / G, V = E / W; // elements per lane, vectors per lane
    constexpr int R = kPathThreads / G; // query rows per path per block
    static_assert(32 % G == 0 && D % (G * W) == 0 && kPathThreads % 32 == 0 && kKeyTile % kChunk == 0,
                  "attention_dual_kernel: layout");
    __shared__ __align__(16) float ks[kKeyTile][D];
    __shared__ __align__(16) float vs[kKeyTile][D];

    const int tid = threadIdx.x;
    const int path = paths == 3 ? tid / kPathThreads : (paths == 1 ? 0 : 1);
    const int t = tid % kPathThreads, r = t % G;
    const int row0 = blockIdx.x * R; // the block's first query row
    const int qi = row0 + t / G;
    const int h = blockIdx.y, b = blockIdx.z;
    const int64_t row = 3 * (int64_t)c;
    const T *base = qkv + (int64_t)b * n * row + (int64_t)h * D;
    const bool active = qi < n;
    const bool warp_live = row0 + (t & ~31) / G < n; // the warp's first row is a query
    const bool need_k = paths & 1;

    float q[E], acc[E];
    load_query<D>(base + (int64_t)(active ? qi : 0) * row + (path == 0 ? 0 : 2 * (int64_t)c), active, scale_log2, r, q, acc);
    float m = -INFINITY, l = 0.f;

    for (int k0 = 0; k0 < n; k0 += kKeyTile) {
        const int kn = min(kKeyTile, n - k0);
        __syncthreads(); // the previous tile is no longer read
        for (int idx = tid; idx < kKeyTile * D; idx += blockDim.x) {
            const int j = idx / D, d = idx % D;
            float kv = 0.f, vv = 0.f;
            if (j < kn) {
                const T *kr = base + (int64_t)(k0 + j) * row;
                if (need_k) kv = cs::to_float(kr[c + d]);
                vv = cs::to_float(kr[2 * (int64_t)c + d]);
            }
            ks[j][d] = kv;
            vs[j][d] = vv;
        }
        __syncthreads();
        if (!warp_live) continue;
        attend_tile<D>(path == 0 ? ks : vs, vs, k0, kn, r, q, acc, m, l, NoBias{});
    }
    if (active) {
        T *dst = (path == 0 ? out_ori : out_vv) + ((int64_t)b * n + qi) * c + (int64_t)h * D;
        const float inv = 1.f / l;
#pragma unroll
        for (int i = 0; i < V; i++)
#pragma unroll
            for (int w = 0; w < W; w++) dst[W * (r + G * i) + w] = cs::from_float<T>(acc[i * W + w] * inv);
    }
}


// ---------------------------------------------------------------------------------------------
// Tensor-core kernel (fp16 / bf16).

constexpr int kMmaWarpsPerPath = 2; // 2 warps × 16 rows = 32 queries per path per block
constexpr int kMmaKeys = 64;        // keys per shared-memory tile
constexpr int kPad = 8;             // elements of padding per shared-memory row

// Two floats as a T pair in one register, the first in the low half (the lower index).
__device__ __forceinline__ uint32_t pack2(float lo, float hi, __half) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
__device__ __forceinline__ uint32_t pack2(float lo, float hi, __nv_bfloat16) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
template <typename T> __device__ __forceinline__ uint32_t pack_raw(const T &lo, const T &hi) {
    return (uint32_t) * reinterpret_cast<const uint16_t *>(&lo) |
           ((uint32_t) * reinterpret_cast<const uint16_t *>(&hi) << 16);
}

// Fragment layouts of mma.m16n8k16: cuda/mma.cuh (q here is the lane's index t in its quad).
template <typename T, int D>
__global__ void __launch_bounds__(64 * kMmaWarpsPerPath)
attention_mma_kernel(const T *__restrict__ qkv, T *__restrict__ out_ori, T *__restrict__ out_vv,
                     int n, int c, float scale_log2, int paths) {
    constexpr int KS = D / 16; // k-steps over the head dim
    constexpr int DT = D / 8;  // n-tiles over the head dim
    constexpr int NT = kMmaKeys / 8;
    __shared__ __align__(16) T ks[kMmaKeys][D + kPad];
    __shared__ __align__(16) T vs[kMmaKeys][D + kPad];

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, q = lane & 3;
    const int path = paths == 3 ? warp / kMmaWarpsPerPath : (paths == 1 ? 0 : 1);
    const int row0 = blockIdx.x * 16 * kMmaWarpsPerPath + (warp % kMmaWarpsPerPath) * 16;
    const int h = blockIdx.y, b = blockIdx.z;
    const int64_t row = 3 * (int64_t)c;
    const T *base = qkv + (int64_t)b * n * row + (int64_t)h * D;
    const bool need_k = paths & 1;

    // Queries of this warp as A fragments (rows past n read as 0 and are never stored).
    uint32_t qf[KS][4];
    {
        const T *qb = base + (path == 0 ? 0 : 2 * (int64_t)c);
        auto ld = [&](int r, int col) -> uint32_t {
            return r < n ? *reinterpret_cast<const uint32_t *>(qb + (int64_t)r * row + col) : 0u;
        };
#pragma unroll
        for (int kk = 0; kk < KS; kk++) {
            qf[kk][0] = ld(row0 + g, kk * 16 + 2 * q);
            qf[kk][1] = ld(row0 + g + 8, kk * 16 + 2 * q);
            qf[kk][2] = ld(row0 + g, kk * 16 + 8 + 2 * q);
            qf[kk][3] = ld(row0 + g + 8, kk * 16 + 8 + 2 * q);
        }
    }
    float o[DT][4];
#pragma unroll
    for (int dt = 0; dt < DT; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f; // rows g and g+8

    for (int k0 = 0; k0 < n; k0 += kMmaKeys) {
        __syncthreads(); // the previous tile is no longer read
        for (int idx = threadIdx.x; idx < kMmaKeys * (D / 8); idx += blockDim.x) {
            const int j = idx / (D / 8), d8 = idx % (D / 8) * 8;
            uint4 kv = make_uint4(0, 0, 0, 0), vv = kv;
            if (k0 + j < n) {
                const T *r = base + (int64_t)(k0 + j) * row;
                if (need_k) kv = *reinterpret_cast<const uint4 *>(r + c + d8);
                vv = *reinterpret_cast<const uint4 *>(r + 2 * (int64_t)c + d8);
            }
            *reinterpret_cast<uint4 *>(&ks[j][d8]) = kv;
            *reinterpret_cast<uint4 *>(&vs[j][d8]) = vv;
        }
        __syncthreads();
        const T(*kt)[D + kPad] = path == 0 ? ks : vs;

        // S = Q·Kᵀ for 64 keys: 8 n-tiles of 8 keys.
        float s[NT][4];
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < KS; kk++) {
                const uint32_t bf[2] = {*reinterpret_cast<const uint32_t *>(&kt[nt * 8 + g][kk * 16 + 2 * q]),
                                        *reinterpret_cast<const uint32_t *>(&kt[nt * 8 + g][kk * 16 + 8 + 2 * q])};
                cs::mma_16816(s[nt], qf[kk], bf, T{});
            }
        }
        // Scale to base 2, mask keys past n, running max per row (over the quad's 4 lanes).
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = k0 + nt * 8 + 2 * q + (e & 1);
                s[nt][e] = key < n ? s[nt][e] * scale_log2 : -INFINITY;
                if (e < 2) mx0 = fmaxf(mx0, s[nt][e]);
                else mx1 = fmaxf(mx1, s[nt][e]);
            }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float corr0 = m0 == -INFINITY ? 0.f : exp2f(m0 - mx0);
        const float corr1 = m1 == -INFINITY ? 0.f : exp2f(m1 - mx1);
        m0 = mx0;
        m1 = mx1;
        l0 *= corr0;
        l1 *= corr1;
#pragma unroll
        for (int dt = 0; dt < DT; dt++) {
            o[dt][0] *= corr0;
            o[dt][1] *= corr0;
            o[dt][2] *= corr1;
            o[dt][3] *= corr1;
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            s[nt][0] = exp2f(s[nt][0] - m0);
            s[nt][1] = exp2f(s[nt][1] - m0);
            s[nt][2] = exp2f(s[nt][2] - m1);
            s[nt][3] = exp2f(s[nt][3] - m1);
            l0 += s[nt][0] + s[nt][1];
            l1 += s[nt][2] + s[nt][3];
        }
        // O += P·V: 4 k-steps of 16 keys; P's A fragment is two neighbouring S tiles.
#pragma unroll
        for (int kk = 0; kk < kMmaKeys / 16; kk++) {
            const uint32_t af[4] = {pack2(s[2 * kk][0], s[2 * kk][1], T{}), pack2(s[2 * kk][2], s[2 * kk][3], T{}),
                                    pack2(s[2 * kk + 1][0], s[2 * kk + 1][1], T{}),
                                    pack2(s[2 * kk + 1][2], s[2 * kk + 1][3], T{})};
            const int key = kk * 16 + 2 * q;
#pragma unroll
            for (int dt = 0; dt < DT; dt++) {
                const int d = dt * 8 + g;
                const uint32_t bf[2] = {pack_raw(vs[key][d], vs[key + 1][d]), pack_raw(vs[key + 8][d], vs[key + 9][d])};
                cs::mma_16816(o[dt], af, bf, T{});
            }
        }
    }
    // Row sums over the quad, then store rows g and g+8 (two neighbouring columns per lane).
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    T *out = path == 0 ? out_ori : out_vv;
    const float inv0 = 1.f / l0, inv1 = 1.f / l1;
#pragma unroll
    for (int dt = 0; dt < DT; dt++) {
        const int d = dt * 8 + 2 * q;
        if (row0 + g < n)
            *reinterpret_cast<uint32_t *>(out + ((int64_t)b * n + row0 + g) * c + (int64_t)h * D + d) =
                pack2(o[dt][0] * inv0, o[dt][1] * inv0, T{});
        if (row0 + g + 8 < n)
            *reinterpret_cast<uint32_t *>(out + ((int64_t)b * n + row0 + g + 8) * c + (int64_t)h * D + d) =
                pack2(o[dt][2] * inv1, o[dt][3] * inv1, T{});
    }
}

template <typename T, int D>
int launch(const void *qkv, void *out_ori, void *out_vv, int64_t batch, int64_t tokens,
           int64_t channels, int64_t heads, float scale, cudaStream_t stream) {
    const int paths = (out_ori ? 1 : 0) | (out_vv ? 2 : 0);
    if constexpr (!std::is_same<T, float>::value) {
        // Tensor cores need 16-byte aligned rows (vector loads) and 4-byte aligned pairs.
        const bool aligned = ((uintptr_t)qkv % 16 == 0) && (!out_ori || (uintptr_t)out_ori % 4 == 0) &&
                             (!out_vv || (uintptr_t)out_vv % 4 == 0) && channels % 8 == 0;
        if (aligned) {
            const int rows = 16 * kMmaWarpsPerPath;
            const dim3 grid((unsigned)((tokens + rows - 1) / rows), (unsigned)heads, (unsigned)batch);
            return cs::launch("attention_dual_cuda (tensor cores)", attention_mma_kernel<T, D>, grid,
                              32 * kMmaWarpsPerPath * (paths == 3 ? 2 : 1), 0, stream,
                              static_cast<const T *>(qkv), static_cast<T *>(out_ori), static_cast<T *>(out_vv),
                              (int)tokens, (int)channels, scale * 1.4426950408889634f, paths);
        }
    }
    // SIMT kernel: 256 threads per path, a query row per group of kDualGroup<D> lanes.
    constexpr int rows = kPathThreads / kDualGroup<D>;
    const int threads = kPathThreads * (paths == 3 ? 2 : 1);
    const dim3 grid((unsigned)((tokens + rows - 1) / rows), (unsigned)heads, (unsigned)batch);
    return cs::launch("attention_dual_cuda", attention_dual_kernel<T, D>, grid, threads, 0, stream,
                      static_cast<const T *>(qkv), static_cast<T *>(out_ori), static_cast<T *>(out_vv),
                      (int)tokens, (int)channels, scale * 1.4426950408889634f, paths);
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

// ---------------------------------------------------------------------------------------------
// The training-free methods' self-attention (cs_self_attention_cuda): a sum of self-self
// attentions Σ_t softmax(s·a_t·a_tᵀ [+ Ω])·v, the SIMT kernel's layout and inner loop
// (attend_tile), one path of 256 threads per block of (query tile, head, image). Per term the
// block loads its query rows, then stages the term's keys and the values tile by tile (v again
// for each term: a second term costs a second pass over the keys, as a second launch would, but
// the terms' results add up in registers and the output is written once). GEM runs in stages
// through the workspace: τ per image, the normalised ŵ, one iteration of all three (3·heads heads
// of one launch), then the final sum of three terms.

// Sources of one launch. Term t's query and key rows are terms[t] (rows `stride` elements apart,
// head h at column h·D); values `vals` (the same stride); out rows `out_stride` apart. The scale
// (base 2) is scale_log2, or image_scale[b]·log2(e) when image_scale is set (GEM's τ).
template <typename K, typename V, typename O> struct SelfSelf {
    const K *terms[3];
    int nterms;
    const V *vals;
    int64_t stride;
    O *out;
    int64_t out_stride;
    int n;
    float scale_log2;
    const float *image_scale;
    int grid;      // > 0: NACLIP's Gaussian bias on this patch grid
    float coef;    // its −1/(2σ²)
    float divisor; // the sum is divided by it (GEM: 3)
    int normalize; // then each head row divided by its L2 norm (GEM's iteration)
};

// Launch bounds (256, 2): with (256) alone ptxas (13.0, sm_80) squeezed the Gaussian-bias
// variants at D = 64 and 128 to 64 registers and spilled; at least two blocks per SM lets it
// take up to 128 (it takes 96-105, no spills).
template <typename K, typename V, typename O, int D, typename Bias>
__global__ void __launch_bounds__(kPathThreads, 2) attention_self_kernel(SelfSelf<K, V, O> a) {
    constexpr int G = kDualGroup<D>, W = kDualVec<D>;
    constexpr int E = D / G, NV = E / W;
    constexpr int R = kPathThreads / G;
    __shared__ __align__(16) float ks[kKeyTile][D];
    __shared__ __align__(16) float vs[kKeyTile][D];

    const int tid = threadIdx.x, r = tid % G, n = a.n;
    const int row0 = blockIdx.x * R, qi = row0 + tid / G;
    const int h = blockIdx.y, b = blockIdx.z;
    const bool active = qi < n;
    const bool warp_live = row0 + (tid & ~31) / G < n;
    const int64_t image = (int64_t)b * n * a.stride + (int64_t)h * D;
    const float scale_log2 = a.image_scale ? a.image_scale[b] * 1.4426950408889634f : a.scale_log2;
    Bias bias{};
    if constexpr (Bias::kActive) bias = Bias{a.grid, qi >= 1 ? (qi - 1) / a.grid : -1, qi >= 1 ? (qi - 1) % a.grid : 0,
                                                    a.coef * 1.4426950408889634f};

    float total[E];
#pragma unroll
    for (int e = 0; e < E; e++) total[e] = 0.f;
    for (int t = 0; t < a.nterms; t++) {
        // (a select, not a.terms[t]: a dynamic index would copy the parameter array to local memory)
        const K *src = (t == 0 ? a.terms[0] : t == 1 ? a.terms[1] : a.terms[2]) + image;
        float q[E], acc[E];
        load_query<D>(src + (int64_t)(active ? qi : 0) * a.stride, active, scale_log2, r, q, acc);
        float m = -INFINITY, l = 0.f;
        for (int k0 = 0; k0 < n; k0 += kKeyTile) {
            const int kn = min(kKeyTile, n - k0);
            __syncthreads(); // the previous tile is no longer read
            for (int idx = tid; idx < kKeyTile * D; idx += blockDim.x) {
                const int j = idx / D, d = idx % D;
                const int64_t at = (int64_t)(k0 + j) * a.stride + d;
                ks[j][d] = j < kn ? cs::to_float(src[at]) : 0.f;
                vs[j][d] = j < kn ? cs::to_float(a.vals[image + at]) : 0.f;
            }
            __syncthreads();
            if (!warp_live) continue;
            attend_tile<D>(ks, vs, k0, kn, r, q, acc, m, l, bias);
        }
        const float inv = 1.f / l; // rows of dead warps: never stored
#pragma unroll
        for (int e = 0; e < E; e++) total[e] = fmaf(acc[e], inv, total[e]);
    }
    float ss = 0.f;
#pragma unroll
    for (int e = 0; e < E; e++) {
        total[e] /= a.divisor;
        ss = fmaf(total[e], total[e], ss);
    }
    float norm = 1.f;
    if (a.normalize) { // the group's butterfly, on every lane (a uniform branch)
#pragma unroll
        for (int o = G / 2; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        norm = sqrtf(ss);
    }
    if (active) {
        O *dst = a.out + ((int64_t)b * n + qi) * a.out_stride + (int64_t)h * D;
#pragma unroll
        for (int i = 0; i < NV; i++)
#pragma unroll
            for (int w = 0; w < W; w++) dst[W * (r + G * i) + w] = cs::from_float<O>(total[i * W + w] / norm);
    }
}

// GEM's τ[b] = scale · mean over tokens of ‖normed[b, i]‖: one block per image.
template <typename T>
__global__ void __launch_bounds__(256) gem_temperature_kernel(const T *__restrict__ normed, int n, int c, float scale,
                                                              float *__restrict__ tau) {
    __shared__ float scratch[32];
    const int b = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    float norms = 0.f; // lane 0 of each warp: the norms of its rows
    for (int i = warp; i < n; i += warps) {
        const T *row = normed + ((int64_t)b * n + i) * c;
        float ss = 0.f;
        for (int e = lane; e < c; e += 32) {
            const float u = cs::to_float(row[e]);
            ss = fmaf(u, u, ss);
        }
        norms += sqrtf(cs::warp_sum(ss));
    }
    const float sum = cs::block_reduce<cs::Reduce::Sum>(lane == 0 ? norms : 0.f, scratch);
    if (threadIdx.x == 0) tau[b] = scale * (sum / (float)n);
}

// ŵ = each head row of d elements divided by its L2 norm, fp32 out: one warp per row.
template <typename T>
__global__ void __launch_bounds__(256) normalize_rows_kernel(const T *__restrict__ x, int64_t rows, int d,
                                                             float *__restrict__ out) {
    const int lane = threadIdx.x % 32;
    for (int64_t rw = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; rw < rows;
         rw += (int64_t)gridDim.x * blockDim.x / 32) {
        float ss = 0.f;
        for (int e = lane; e < d; e += 32) {
            const float u = cs::to_float(x[rw * d + e]);
            ss = fmaf(u, u, ss);
        }
        const float norm = sqrtf(cs::warp_sum(ss));
        for (int e = lane; e < d; e += 32) out[rw * d + e] = cs::to_float(x[rw * d + e]) / norm;
    }
}

// MaskCLIP's v: out[b, i] = the v part of qkv[b, i].
template <typename T>
__global__ void __launch_bounds__(256) value_copy_kernel(const T *__restrict__ qkv, int64_t rows, int c, T *__restrict__ out) {
    const int64_t total = rows * c;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t rw = idx / c;
        out[idx] = qkv[rw * 3 * c + 2 * c + (idx - rw * c)];
    }
}

template <typename K, typename V, typename O, int D, typename Bias = NoBias>
int launch_self(const SelfSelf<K, V, O> &a, int64_t batch, int64_t heads, cudaStream_t stream) {
    constexpr int rows = kPathThreads / kDualGroup<D>;
    const dim3 grid((unsigned)((a.n + rows - 1) / rows), (unsigned)heads, (unsigned)batch);
    return cs::launch("self_attention_cuda", attention_self_kernel<K, V, O, D, Bias>, grid, kPathThreads, 0, stream, a);
}

template <typename T, int D>
int launch_modes(const T *qkv, int64_t batch, int64_t n, int64_t c, int64_t heads, float scale, int mode, int64_t grid,
                 float sigma, const T *normed, float *ws, T *out, cudaStream_t stream) {
    const int64_t row = 3 * c;
    if (mode != CS_ATTN_GEM) {
        SelfSelf<T, T, T> a{};
        const T *q = qkv, *k = qkv + c, *v = qkv + 2 * c;
        a.nterms = 1;
        a.terms[0] = mode == CS_ATTN_QQ || mode == CS_ATTN_QQ_PLUS_KK ? q : mode == CS_ATTN_VV ? v : k;
        if (mode == CS_ATTN_QQ_PLUS_KK) a.terms[a.nterms++] = k;
        a.vals = v;
        a.stride = row;
        a.out = out;
        a.out_stride = c;
        a.n = (int)n;
        a.scale_log2 = scale * 1.4426950408889634f;
        a.grid = mode == CS_ATTN_KK_GAUSSIAN ? (int)grid : 0;
        a.coef = -1.f / (2.f * sigma * sigma);
        a.divisor = 1.f;
        return a.grid > 0 ? launch_self<T, T, T, D, GaussianBias>(a, batch, heads, stream)
                          : launch_self<T, T, T, D>(a, batch, heads, stream);
    }
    float *tau = ws, *hat = ws + cs::gem_tau_floats(batch), *iter = hat + batch * n * row;
    if (int rc = cs::launch("self_attention_cuda (GEM temperature)", gem_temperature_kernel<T>, dim3((unsigned)batch), 256, 0,
                            stream, normed, (int)n, (int)c, scale, tau))
        return rc;
    const int64_t head_rows = batch * n * 3 * heads;
    if (int rc = cs::launch("self_attention_cuda (GEM normalise)", normalize_rows_kernel<T>, cs::grid_for(head_rows, 8), 256, 0,
                            stream, qkv, head_rows, D, hat))
        return rc;
    // one iteration of q, k and v at once: 3·heads heads of the fp32 (B, N, 3C) ŵ
    SelfSelf<float, float, float> it{};
    it.terms[0] = hat;
    it.nterms = 1;
    it.vals = hat;
    it.stride = row;
    it.out = iter;
    it.out_stride = row;
    it.n = (int)n;
    it.image_scale = tau;
    it.divisor = 1.f;
    it.normalize = 1;
    if (int rc = launch_self<float, float, float, D>(it, batch, 3 * heads, stream)) return rc;
    SelfSelf<float, T, T> fin{};
    fin.terms[0] = iter;
    fin.terms[1] = iter + c;
    fin.terms[2] = iter + 2 * c;
    fin.nterms = 3;
    fin.vals = qkv + 2 * c;
    fin.stride = row;
    fin.out = out;
    fin.out_stride = c;
    fin.n = (int)n;
    fin.image_scale = tau;
    fin.divisor = 3.f;
    return launch_self<float, T, T, D>(fin, batch, heads, stream);
}

template <typename T>
int launch_modes_dtype(const void *qkv, int64_t batch, int64_t n, int64_t c, int64_t heads, float scale, int mode,
                       int64_t grid, float sigma, const void *normed, void *workspace, void *out, cudaStream_t stream) {
    const T *x = static_cast<const T *>(qkv), *u = static_cast<const T *>(normed);
    T *o = static_cast<T *>(out);
    float *ws = static_cast<float *>(workspace);
    if (mode == CS_ATTN_VALUE)
        return cs::launch("self_attention_cuda (value)", value_copy_kernel<T>, cs::grid_for(batch * n * c, 256), 256, 0,
                          stream, x, batch * n, (int)c, o);
    switch (c / heads) {
    case 32: return launch_modes<T, 32>(x, batch, n, c, heads, scale, mode, grid, sigma, u, ws, o, stream);
    case 64: return launch_modes<T, 64>(x, batch, n, c, heads, scale, mode, grid, sigma, u, ws, o, stream);
    case 80: return launch_modes<T, 80>(x, batch, n, c, heads, scale, mode, grid, sigma, u, ws, o, stream);
    case 128: return launch_modes<T, 128>(x, batch, n, c, heads, scale, mode, grid, sigma, u, ws, o, stream);
    default:
        return cs::fail(CS_ERR_UNSUPPORTED, "self_attention_cuda: head dim " + std::to_string(c / heads) +
                                                " is not compiled (32, 64, 80, 128 are)");
    }
}

// ---------------------------------------------------------------------------------------------
// Single-path attention (cs_attention_cuda): q, k, v with rows `stride` elements apart, head h at
// columns h·d..h·d+d-1, optional causal mask; out (B, N, C). Two kernels, the entry point takes
// the first whose shared memory fits the default 48 KiB (no opt-in, any architecture):
//  - short sequences (the text encoder, 77 tokens; the ResNet attention pool): one block per
//    (head, image) holds the head's K and V as fp32 in shared memory; a warp per query, lanes
//    across the head dim (q in registers, d <= 128), each q·k reduced with shuffles. Needs
//    4·(2·tokens·d + warps·tokens) bytes.
//  - the rest, up to 3072 tokens: one warp per (image, head, query); lanes across keys for the
//    scores (kept in shared memory, 4·warps·tokens bytes), then across the head dim for the
//    weighted sum of v.
// Both follow the twin's order: fp32 dot, scale, max, exp, sum, weighted sum, divide by the sum.

constexpr int kSingleWarps = 4;          // warps per block of both kernels
constexpr int kSingleMaxHeadDim = 128;   // 4 registers of q per lane in the short kernel
constexpr int kSingleMaxTokens = 3072;   // 4 warps × 3072 scores × 4 bytes = 48 KiB
constexpr size_t kSharedLimit = 48 * 1024;

// The softmax numerators of one query's scores in place, s[j] = exp(s[j] − mx) for j < keys, each
// written by the lane that wrote the score (lane j mod 32); returns their sum in every lane, after
// a warp barrier, so that every lane may then read every weight.
__device__ __forceinline__ float softmax_numerators(float *s, int keys, float mx, int lane) {
    float sum = 0.f;
    for (int j = lane; j < keys; j += 32) {
        const float p = expf(s[j] - mx);
        s[j] = p;
        sum += p;
    }
    sum = cs::warp_sum(sum);
    __syncwarp();
    return sum;
}

template <typename T>
__global__ void __launch_bounds__(32 * kSingleWarps)
attention_short_kernel(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                       int64_t stride, T *__restrict__ out, int tokens, int channels, int d,
                       float scale, int causal) {
    CS_DYNAMIC_SHARED(float, smem);
    float *ks = smem, *vs = ks + tokens * d, *scores = vs + tokens * d;
    const int h = blockIdx.x, b = blockIdx.y;
    const int64_t base = (int64_t)b * tokens * stride + (int64_t)h * d;
    for (int idx = threadIdx.x; idx < tokens * d; idx += blockDim.x) {
        const int j = idx / d, e = idx - j * d;
        const int64_t src = base + (int64_t)j * stride + e;
        ks[idx] = cs::to_float(k[src]);
        vs[idx] = cs::to_float(v[src]);
    }
    __syncthreads();
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    float *s = scores + warp * tokens;
    for (int i = warp; i < tokens; i += warps) {
        const T *qrow = q + base + (int64_t)i * stride;
        float qr[4];
#pragma unroll
        for (int u = 0; u < 4; u++) qr[u] = lane + 32 * u < d ? cs::to_float(qrow[lane + 32 * u]) : 0.f;
        const int keys = causal ? i + 1 : tokens;
        // The butterfly sum leaves the same bits in every lane, so mx agrees across the warp.
        float mx = -INFINITY;
        for (int j = 0; j < keys; j++) {
            float part = 0.f;
#pragma unroll
            for (int u = 0; u < 4; u++)
                if (lane + 32 * u < d) part = fmaf(qr[u], ks[j * d + lane + 32 * u], part);
            const float dot = cs::warp_sum(part) * scale;
            if (lane == (j & 31)) s[j] = dot;
            mx = fmaxf(mx, dot);
        }
        const float sum = softmax_numerators(s, keys, mx, lane);
        for (int e = lane; e < d; e += 32) {
            float acc = 0.f;
            for (int j = 0; j < keys; j++) acc = fmaf(s[j], vs[j * d + e], acc);
            out[((int64_t)b * tokens + i) * channels + (int64_t)h * d + e] = cs::from_float<T>(acc / sum);
        }
        __syncwarp(); // s is rewritten for the next query
    }
}

template <typename T>
__global__ void __launch_bounds__(32 * kSingleWarps)
attention_long_kernel(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                      int64_t stride, T *__restrict__ out, int64_t items, int tokens, int channels,
                      int heads, int d, float scale, int causal) {
    CS_DYNAMIC_SHARED(float, smem);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    float *s = smem + warp * tokens;
    // item = (b, h, i) flattened, i fastest: the warps of a block share the keys of one head.
    for (int64_t item = (int64_t)blockIdx.x * warps + warp; item < items;
         item += (int64_t)gridDim.x * warps) {
        const int i = (int)(item % tokens);
        const int h = (int)(item / tokens % heads);
        const int64_t b = item / tokens / heads;
        const int64_t base = b * tokens * stride + (int64_t)h * d;
        const T *qrow = q + base + (int64_t)i * stride;
        const int keys = causal ? i + 1 : tokens;
        float mx = -INFINITY;
        for (int j = lane; j < keys; j += 32) {
            const T *krow = k + base + (int64_t)j * stride;
            float dot = 0.f;
            for (int e = 0; e < d; e++) dot = fmaf(cs::to_float(qrow[e]), cs::to_float(krow[e]), dot);
            dot *= scale;
            s[j] = dot;
            mx = fmaxf(mx, dot);
        }
        mx = cs::warp_max(mx);
        const float sum = softmax_numerators(s, keys, mx, lane);
        for (int e = lane; e < d; e += 32) {
            const T *vcol = v + base + e;
            float acc = 0.f;
            for (int j = 0; j < keys; j++) acc = fmaf(s[j], cs::to_float(vcol[(int64_t)j * stride]), acc);
            out[(b * tokens + i) * channels + (int64_t)h * d + e] = cs::from_float<T>(acc / sum);
        }
        __syncwarp(); // s is rewritten for the next item
    }
}

template <typename T>
int launch_single(const void *q, const void *k, const void *v, int64_t stride, void *out,
                  int64_t batch, int64_t tokens, int64_t channels, int64_t heads, float scale,
                  int causal, cudaStream_t stream) {
    const int d = (int)(channels / heads);
    const size_t short_bytes = sizeof(float) * ((size_t)2 * tokens * d + (size_t)kSingleWarps * tokens);
    if (short_bytes <= kSharedLimit) {
        const dim3 grid((unsigned)heads, (unsigned)batch);
        return cs::launch("attention_cuda (short sequences)", attention_short_kernel<T>, grid, 32 * kSingleWarps,
                          short_bytes, stream, static_cast<const T *>(q), static_cast<const T *>(k),
                          static_cast<const T *>(v), stride, static_cast<T *>(out), (int)tokens, (int)channels, d,
                          scale, causal);
    }
    const size_t long_bytes = sizeof(float) * (size_t)kSingleWarps * tokens;
    if (long_bytes > kSharedLimit)
        return cs::fail(CS_ERR_UNSUPPORTED, "attention_cuda: the scores of " + std::to_string(tokens) +
                                                " tokens do not fit in shared memory");
    const int64_t items = batch * heads * tokens;
    return cs::launch("attention_cuda", attention_long_kernel<T>, cs::grid_for(items, kSingleWarps),
                      32 * kSingleWarps, long_bytes, stream, static_cast<const T *>(q), static_cast<const T *>(k),
                      static_cast<const T *>(v), stride, static_cast<T *>(out), items, (int)tokens, (int)channels,
                      (int)heads, d, scale, causal);
}

} // namespace

extern "C" int cs_attention_cuda(const void *q, const void *k, const void *v, int64_t row_stride,
                                 int dtype, int64_t batch, int64_t tokens, int64_t channels,
                                 int64_t heads, float scale, int causal, void *out,
                                 cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_attention_args(q, k, v, row_stride, dtype, batch, tokens, channels,
                                          heads, scale, causal, out))
        return rc;
    const int64_t d = channels / heads;
    if (d > kSingleMaxHeadDim)
        return cs::fail(CS_ERR_UNSUPPORTED, "attention_cuda: head dim " + std::to_string(d) +
                                                " is above 128 (the CPU entry point has no limit)");
    if (tokens > kSingleMaxTokens)
        return cs::fail(CS_ERR_UNSUPPORTED, "attention_cuda: " + std::to_string(tokens) +
                                                " tokens are above 3072 (the CPU entry point has no limit)");
    int rc = CS_OK;
    cs::dispatch(dtype, [&](auto t) {
        rc = launch_single<decltype(t)>(q, k, v, row_stride, out, batch, tokens, channels, heads,
                                        scale, causal, stream);
    });
    return rc;
}

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


extern "C" int cs_self_attention_cuda(const void *qkv, int dtype, int64_t batch, int64_t tokens, int64_t channels,
                                      int64_t heads, float scale, int mode, int64_t grid, float sigma,
                                      const void *normed, void *workspace, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_self_attention_args(qkv, dtype, batch, tokens, channels, heads, scale, mode, grid, sigma,
                                               normed, workspace, out))
        return rc;
    switch (dtype) {
    case CS_F16:
        return launch_modes_dtype<__half>(qkv, batch, tokens, channels, heads, scale, mode, grid, sigma, normed, workspace,
                                          out, stream);
    case CS_BF16:
        return launch_modes_dtype<__nv_bfloat16>(qkv, batch, tokens, channels, heads, scale, mode, grid, sigma, normed,
                                                 workspace, out, stream);
    default:
        return launch_modes_dtype<float>(qkv, batch, tokens, channels, heads, scale, mode, grid, sigma, normed, workspace,
                                         out, stream);
    }
}

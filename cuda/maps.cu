// Maps on the GPU (twin: native/maps.cpp), from a similarity (B, N, T), N = 1 + g·g.
//   map_upsample: per (image, label) min/max of the patch values (one small launch into a
//                 stream-ordered scratch buffer), then one pass over the output that normalises
//                 the four bilinear taps and blends them; either output layout.
//   map_labels:   the same statistics, then per pixel the argmax over labels.
//   map_points:   one block per (image, label): downsample into shared memory, min-max, count,
//                 rank every cell by counting (a stable sort without sorting), write points.
// Arithmetic that decides a comparison is written with _rn intrinsics (no FMA contraction) so
// that thresholds and ranks agree with the CPU twin. Degenerate input as the header and the twin
// define it: non-finite values take no part in min/max and normalise to 0; a map whose range is
// not positive and finite is 0 everywhere and has no points.
#include "common.cuh"

namespace {

constexpr int kThreads = 256;

// 1 / (max − min), or 0 when the range is not positive and finite (the map is then 0).
__device__ __forceinline__ float inverse_range(float lo, float hi) {
    const float range = __fsub_rn(hi, lo);
    return range > 0.f && isfinite(range) ? __fdiv_rn(1.f, range) : 0.f;
}

// stats: (B, T, 2) = min over the finite patch values, inverse_range.
__global__ void minmax_kernel(const float *__restrict__ sim, float2 *__restrict__ stats, int n,
                              int t_count) {
    __shared__ float scratch[32];
    const int t = blockIdx.x, b = blockIdx.y;
    const float *col = sim + (int64_t)b * n * t_count + t;
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 1 + threadIdx.x; i < n; i += blockDim.x) {
        const float v = col[(int64_t)i * t_count];
        if (isfinite(v)) {
            lo = fminf(lo, v);
            hi = fmaxf(hi, v);
        }
    }
    lo = cs::block_reduce<cs::Reduce::Min>(lo, scratch);
    hi = cs::block_reduce<cs::Reduce::Max>(hi, scratch);
    if (threadIdx.x == 0) stats[b * t_count + t] = make_float2(lo, inverse_range(lo, hi));
}

struct Taps {
    int i00, i01, i10, i11; // token offsets (1 + cell) of the four taps
    float wy, wx;
};
__device__ __forceinline__ Taps pixel_taps(int y, int x, int g, int h, int w) {
    int y0, y1, x0, x1;
    Taps k;
    cs::bilinear_source_dev(y, g, h, &y0, &y1, &k.wy);
    cs::bilinear_source_dev(x, g, w, &x0, &x1, &k.wx);
    k.i00 = 1 + y0 * g + x0;
    k.i01 = 1 + y0 * g + x1;
    k.i10 = 1 + y1 * g + x0;
    k.i11 = 1 + y1 * g + x1;
    return k;
}
// The normalised map of label t of image b at the taps' pixel. sim_b: (N, T) of image b.
__device__ __forceinline__ float map_value(const float *sim_b, int t_count, int t, const Taps &k,
                                           float2 st) {
    auto norm = [&](int i) {
        const float v = sim_b[(int64_t)i * t_count + t];
        return st.y > 0.f && isfinite(v) ? __fmul_rn(__fsub_rn(v, st.x), st.y) : 0.f;
    };
    return cs::bilinear_blend(norm(k.i00), norm(k.i01), norm(k.i10), norm(k.i11), k.wy, k.wx);
}

template <typename O>
__global__ void upsample_kernel(const float *__restrict__ sim, const float2 *__restrict__ stats,
                                O *__restrict__ out, int batch, int n, int g, int t_count, int h,
                                int w, int layout) {
    const int64_t total = (int64_t)batch * t_count * h * w;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        int b, t, y, x;
        if (layout == CS_LAYOUT_BTHW) { // consecutive threads: consecutive x of one label
            x = (int)(idx % w);
            y = (int)(idx / w % h);
            t = (int)(idx / ((int64_t)w * h) % t_count);
            b = (int)(idx / ((int64_t)w * h * t_count));
        } else { // consecutive threads: consecutive labels of one pixel
            t = (int)(idx % t_count);
            x = (int)(idx / t_count % w);
            y = (int)(idx / ((int64_t)t_count * w) % h);
            b = (int)(idx / ((int64_t)t_count * w * h));
        }
        const Taps k = pixel_taps(y, x, g, h, w);
        const float v = map_value(sim + (int64_t)b * n * t_count, t_count, t, k,
                                  stats[b * t_count + t]);
        out[idx] = cs::from_float<O>(v);
    }
}

template <typename O>
__global__ void labels_kernel(const float *__restrict__ sim, const float2 *__restrict__ stats,
                              O *__restrict__ out, int batch, int n, int g, int t_count, int h,
                              int w, float threshold, int background) {
    const int64_t total = (int64_t)batch * h * w;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int x = (int)(idx % w), y = (int)(idx / w % h), b = (int)(idx / ((int64_t)w * h));
        const Taps k = pixel_taps(y, x, g, h, w);
        const float *sim_b = sim + (int64_t)b * n * t_count;
        float best = -INFINITY;
        int arg = 0;
        for (int t = 0; t < t_count; t++) {
            const float v = map_value(sim_b, t_count, t, k, stats[b * t_count + t]);
            if (v > best) {
                best = v;
                arg = t;
            }
        }
        if (!(best >= threshold)) arg = background;
        out[idx] = (O)arg;
    }
}

// One block per (label, image); dynamic shared memory: s·s floats (the downsampled map).
__global__ void points_kernel(const float *__restrict__ sim, int n, int g, int t_count, int h,
                              int w, float threshold, int max_points, int *__restrict__ points,
                              int *__restrict__ counts) {
    CS_DYNAMIC_SHARED(float, small);
    __shared__ float scratch[32];
    const int t = blockIdx.x, b = blockIdx.y;
    const int s = g / 2, cells = s * s;
    const float *col = sim + (int64_t)b * n * t_count + t_count + t; // token 1, label t
    float lo = INFINITY, hi = -INFINITY;
    for (int i = threadIdx.x; i < cells; i += blockDim.x) {
        int y0, y1, x0, x1;
        float wy, wx;
        cs::bilinear_source_dev(i / s, g, s, &y0, &y1, &wy);
        cs::bilinear_source_dev(i % s, g, s, &x0, &x1, &wx);
        auto at = [&](int y, int x) { return col[(int64_t)(y * g + x) * t_count]; };
        const float v = cs::bilinear_blend(at(y0, x0), at(y0, x1), at(y1, x0), at(y1, x1), wy, wx);
        small[i] = v;
        if (isfinite(v)) { // a non-finite tap makes the cell non-finite: it normalises to 0
            lo = fminf(lo, v);
            hi = fmaxf(hi, v);
        }
    }
    lo = cs::block_reduce<cs::Reduce::Min>(lo, scratch);
    hi = cs::block_reduce<cs::Reduce::Max>(hi, scratch);
    float above = 0.f;
    const float range = __fsub_rn(hi, lo);
    if (range > 0.f && isfinite(range)) { // else no point: n = 0, small is not read again
        for (int i = threadIdx.x; i < cells; i += blockDim.x) {
            const float u = small[i];
            const float v = isfinite(u) ? __fdiv_rn(__fsub_rn(u, lo), range) : 0.f;
            small[i] = v;
            if (v >= threshold) above += 1.f;
        }
    }
    const int count = (int)cs::block_reduce<cs::Reduce::Sum>(above, scratch); // exact below 2^24
    const int np = min(min(count, cells / 2), max_points);
    int *pts = points + ((int64_t)b * t_count + t) * max_points * 4;
    const float scale_w = __fdiv_rn((float)w, (float)s), scale_h = __fdiv_rn((float)h, (float)s);
    for (int i = threadIdx.x; i < cells && np > 0; i += blockDim.x) {
        const float v = small[i];
        int r = 0; // position of cell i in the stable ascending order
        for (int j = 0; j < cells; j++) {
            const float u = small[j];
            r += (u < v || (u == v && j < i)) ? 1 : 0;
        }
        int slot = -1;
        if (r >= cells - np) slot = r - (cells - np); // positives, ascending
        else if (r < np) slot = np + r;               // negatives, ascending
        if (slot >= 0) {
            pts[2 * slot] = (int)fminf(__fmul_rn((float)(i % s) + 0.5f, scale_w), (float)(w - 1));
            pts[2 * slot + 1] = (int)fminf(__fmul_rn((float)(i / s) + 0.5f, scale_h), (float)(h - 1));
        }
    }
    for (int k = 2 * np + threadIdx.x; k < 2 * max_points; k += blockDim.x) {
        pts[2 * k] = -1;
        pts[2 * k + 1] = -1;
    }
    if (threadIdx.x == 0) counts[b * t_count + t] = np;
}

// Allocates the (B, T) statistics on the stream and launches minmax_kernel.
int launch_stats(const float *sim, int64_t batch, int64_t tokens, int64_t labels,
                 float2 **stats, cudaStream_t stream, const char *what) {
    cudaError_t err = cudaMallocAsync(reinterpret_cast<void **>(stats),
                                      (size_t)(batch * labels) * sizeof(float2), stream);
    if (err != cudaSuccess) return cs::cuda_fail(err, what);
    return cs::launch(what, minmax_kernel, dim3((unsigned)labels, (unsigned)batch), kThreads, 0, stream, sim, *stats,
                      (int)tokens, (int)labels);
}

int free_stats(float2 *stats, int rc, cudaStream_t stream, const char *what) {
    cudaError_t err = cudaFreeAsync(stats, stream);
    if (rc == CS_OK && err != cudaSuccess) return cs::cuda_fail(err, what);
    return rc;
}

} // namespace

extern "C" {

int cs_map_upsample_cuda(const float *similarity, int64_t batch, int64_t tokens, int64_t labels,
                         int64_t height, int64_t width, int layout, int out_dtype, void *out,
                         cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_map_upsample_args(similarity, batch, tokens, labels, height, width,
                                             layout, out_dtype, out))
        return rc;
    const char *what = "map_upsample_cuda";
    float2 *stats = nullptr;
    int rc = launch_stats(similarity, batch, tokens, labels, &stats, stream, what);
    if (rc == CS_OK) {
        const unsigned blocks = cs::grid_for(batch * labels * height * width, kThreads);
        const int g = (int)cs::grid_side(tokens);
        if (out_dtype == CS_F16)
            rc = cs::launch(what, upsample_kernel<__half>, blocks, kThreads, 0, stream, similarity, stats,
                            static_cast<__half *>(out), (int)batch, (int)tokens, g, (int)labels, (int)height,
                            (int)width, layout);
        else
            rc = cs::launch(what, upsample_kernel<float>, blocks, kThreads, 0, stream, similarity, stats,
                            static_cast<float *>(out), (int)batch, (int)tokens, g, (int)labels, (int)height,
                            (int)width, layout);
    }
    return stats ? free_stats(stats, rc, stream, what) : rc;
}

int cs_map_labels_cuda(const float *similarity, int64_t batch, int64_t tokens, int64_t labels,
                       int64_t height, int64_t width, float threshold, int32_t background,
                       int out_dtype, void *out, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_map_labels_args(similarity, batch, tokens, labels, height, width,
                                           background, out_dtype, out))
        return rc;
    const char *what = "map_labels_cuda";
    float2 *stats = nullptr;
    int rc = launch_stats(similarity, batch, tokens, labels, &stats, stream, what);
    if (rc == CS_OK) {
        const unsigned blocks = cs::grid_for(batch * height * width, kThreads);
        const int g = (int)cs::grid_side(tokens);
        if (out_dtype == CS_U8)
            rc = cs::launch(what, labels_kernel<uint8_t>, blocks, kThreads, 0, stream, similarity, stats,
                            static_cast<uint8_t *>(out), (int)batch, (int)tokens, g, (int)labels, (int)height,
                            (int)width, threshold, (int)background);
        else
            rc = cs::launch(what, labels_kernel<int32_t>, blocks, kThreads, 0, stream, similarity, stats,
                            static_cast<int32_t *>(out), (int)batch, (int)tokens, g, (int)labels, (int)height,
                            (int)width, threshold, (int)background);
    }
    return stats ? free_stats(stats, rc, stream, what) : rc;
}

int cs_map_points_cuda(const float *similarity, int64_t batch, int64_t tokens, int64_t labels,
                       int64_t height, int64_t width, float threshold, int64_t max_points,
                       int32_t *points, int32_t *counts, cs_stream stream) {
    cs::clear_error();
    if (int rc = cs::check_map_points_args(similarity, batch, tokens, labels, height, width,
                                           max_points, points, counts))
        return rc;
    const int g = (int)cs::grid_side(tokens), s = g / 2;
    // The downsampled map lives in shared memory (48 KiB without opt-in, static part included).
    CS_CHECK_ARG((int64_t)s * s <= 12000, "map_points_cuda: the grid must be at most 219x219");
    return cs::launch("map_points_cuda", points_kernel, dim3((unsigned)labels, (unsigned)batch), kThreads,
                      (size_t)s * s * sizeof(float), stream, similarity, (int)tokens, g, (int)labels, (int)height,
                      (int)width, threshold, (int)max_points, points, counts);
}

} // extern "C"

// Native benchmark: every CUDA entry point at the model shapes, timed with CUDA events
// (median of many launches), with the achieved bandwidth or FLOP rate and its ratio to the
// device's peaks. The bandwidth peak is measured here with a copy kernel; the FLOP peak of the
// attention's fp32 SIMT loop is the device's fp32 FMA rate (SM count × 128 FMA/clk × 2 × clock).
//
// Usage: bench-native [iterations]      (built with CUDA only; needs a GPU)
// Shapes: ViT-B/16 at 224 px (N = 197) and 512 px (N = 1025), C = 768, 12 heads; ViT-L/14 at
// 336 px (N = 577), C = 1024, 16 heads; 59 labels; maps to 480×640; frames 480×640 BGR; the text
// encoder on a chunk of 256 prompts × 77 tokens, C = 512, 8 heads (causal); ModifiedResNet RN50
// at 224 px (im2col, batch norm, ReLU, average pool on f16 channels-last activations).
//
// Note: an in-place kernel timed repeatedly (add, bias + QuickGELU) keeps changing its data;
// the values stay finite for the iterations here and the time does not depend on them.
#include "clip_surgery.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#define CUDA_OK(call)                                                                              \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                          \
        }                                                                                          \
    } while (0)

static int iterations = 100;
static double peak_gbs = 0, peak_fp32_tflops = 0;

// Median time in ms of `f` (one launch sequence) over `iterations` runs after 5 warm-ups.
static double time_ms(const std::function<int()> &f) {
    cudaEvent_t a, b;
    CUDA_OK(cudaEventCreate(&a));
    CUDA_OK(cudaEventCreate(&b));
    for (int i = 0; i < 5; i++)
        if (int rc = f()) {
            std::fprintf(stderr, "call failed: %s: %s\n", cs_status_string(rc), cs_last_error());
            std::exit(1);
        }
    std::vector<float> ms(iterations);
    for (int i = 0; i < iterations; i++) {
        CUDA_OK(cudaEventRecord(a));
        f();
        CUDA_OK(cudaEventRecord(b));
        CUDA_OK(cudaEventSynchronize(b));
        CUDA_OK(cudaEventElapsedTime(&ms[i], a, b));
    }
    CUDA_OK(cudaGetLastError());
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    return ms[ms.size() / 2];
}

static void row(const std::string &kernel, const std::string &shape, double ms, double bytes, double flops) {
    const double gbs = bytes / ms * 1e-6, tflops = flops / ms * 1e-9;
    if (flops > 0)
        std::printf("%-28s %-34s %9.4f ms %8.1f GB/s %6.1f%%  %7.2f TFLOP/s %6.1f%% (fp32 FMA)\n", kernel.c_str(),
                    shape.c_str(), ms, gbs, 100 * gbs / peak_gbs, tflops, 100 * tflops / peak_fp32_tflops);
    else
        std::printf("%-28s %-34s %9.4f ms %8.1f GB/s %6.1f%%\n", kernel.c_str(), shape.c_str(), ms, gbs,
                    100 * gbs / peak_gbs);
}

__global__ void copy_kernel(const float4 *__restrict__ in, float4 *__restrict__ out, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = in[i];
}

__global__ void fill_kernel(__half *p, size_t n, float lo, float hi, unsigned seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        p[i] = __float2half(lo + (hi - lo) * (h & 0xffffff) / 16777216.f);
    }
}

// Device buffer of `bytes` filled with fp16 values in [lo, hi) (also used as f32/u8 data: any
// bit pattern of finite halves is a finite, small float pair).
static void *device_random(size_t bytes, float lo = -1.f, float hi = 1.f) {
    void *p;
    CUDA_OK(cudaMalloc(&p, bytes + 16));
    fill_kernel<<<1024, 256>>>(static_cast<__half *>(p), (bytes + 1) / 2, lo, hi, (unsigned)bytes);
    CUDA_OK(cudaGetLastError());
    return p;
}

static void measure_peaks() {
    const size_t bytes = (size_t)1 << 30;
    void *a, *b;
    CUDA_OK(cudaMalloc(&a, bytes));
    CUDA_OK(cudaMalloc(&b, bytes));
    CUDA_OK(cudaMemset(a, 0, bytes));
    const size_t n = bytes / sizeof(float4);
    const double ms = time_ms([&] {
        copy_kernel<<<4096, 256>>>(static_cast<float4 *>(a), static_cast<float4 *>(b), n);
        return 0;
    });
    peak_gbs = 2.0 * bytes / ms * 1e-6;
    CUDA_OK(cudaFree(a));
    CUDA_OK(cudaFree(b));
    int dev, sms, clock_khz;
    CUDA_OK(cudaGetDevice(&dev));
    CUDA_OK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    CUDA_OK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev));
    peak_fp32_tflops = sms * 128.0 * 2 * clock_khz * 1e3 * 1e-12;
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, dev));
    std::printf("device: %s (sm_%d%d, %d SMs, %.0f MHz)\n", prop.name, prop.major, prop.minor, sms, clock_khz / 1e3);
    std::printf("peaks: copy %.1f GB/s (measured, 1 GiB), fp32 FMA %.1f TFLOP/s (nominal)\n\n", peak_gbs, peak_fp32_tflops);
}

struct Model {
    const char *name;
    int resolution, patch, channels, heads;
};

int main(int argc, char **argv) {
    if (argc > 1) iterations = std::max(5, std::atoi(argv[1]));
    int count = 0;
    if (cs_cuda_device_count(&count) != CS_OK || count == 0) {
        std::fprintf(stderr, "bench-native: no CUDA device (%s)\n", cs_last_error());
        return 1;
    }
    measure_peaks();
    std::printf("%-28s %-34s %12s %13s %7s\n", "kernel", "shape", "median", "bandwidth", "of peak");
    const Model models[] = {{"ViT-B/16@224", 224, 16, 768, 12}, {"ViT-B/16@512", 512, 16, 768, 12}, {"ViT-L/14@336", 336, 14, 1024, 16}};
    const int T = 59, H = 480, W = 640;
    for (const Model &m : models) {
        const int g = m.resolution / m.patch, N = 1 + g * g, C = m.channels, heads = m.heads, d = C / heads;
        char shape[64];
        std::snprintf(shape, sizeof shape, "%s N=%d C=%d", m.name, N, C);
        const size_t tok = (size_t)N * C;

        // dual-path attention, fp16 (and the single paths)
        void *qkv = device_random(tok * 3 * 2, -1.f, 1.f);
        void *o1 = device_random(tok * 2), *o2 = device_random(tok * 2);
        const double att_flops = (double)heads * N * N * d * 4; // per path: two N×N×d GEMMs
        const double att_bytes = tok * 3 * 2.0 + tok * 2 * 2.0;
        const float scale = 1.f / std::sqrt((float)d);
        double ms = time_ms([&] { return cs_attention_dual_cuda(qkv, CS_F16, 1, N, C, heads, scale, o1, o2, nullptr); });
        row("attention_dual f16 (both)", shape, ms, att_bytes, 2 * att_flops);
        ms = time_ms([&] { return cs_attention_dual_cuda(qkv, CS_F16, 1, N, C, heads, scale, o1, nullptr, nullptr); });
        row("attention_dual f16 (q-k)", shape, ms, tok * 3 * 2.0 + tok * 2.0, att_flops);
        ms = time_ms([&] { return cs_attention_dual_cuda(qkv, CS_F16, 1, N, C, heads, scale, nullptr, o2, nullptr); });
        row("attention_dual f16 (v-v)", shape, ms, tok * 2 * 2.0, att_flops);

        // feature surgery, f16 tokens, 59 labels, embed dim = the projection's (512 / 768)
        const int E = C == 768 ? 512 : 768;
        void *img = device_random((size_t)N * E * 2), *text = device_random((size_t)T * E * 4, -0.05f, 0.05f);
        void *sim = device_random((size_t)N * T * 4);
        ms = time_ms([&] {
            return cs_feature_surgery_cuda(img, CS_F16, 1, N, E, static_cast<float *>(text), T, nullptr,
                                           static_cast<float *>(sim), nullptr);
        });
        std::snprintf(shape, sizeof shape, "%s N=%d E=%d T=%d", m.name, N, E, T);
        row("feature_surgery f16", shape, ms, N * E * 2.0 + T * E * 4.0 + N * T * 4.0, 2.0 * N * T * E);

        // maps: similarity (1, N, 59) f32 → 480×640
        void *maps = device_random((size_t)T * H * W * 4);
        std::snprintf(shape, sizeof shape, "%s g=%d T=%d -> %dx%d", m.name, g, T, H, W);
        for (int layout : {CS_LAYOUT_BTHW, CS_LAYOUT_BHWT})
            for (int dt : {CS_F32, CS_F16}) {
                ms = time_ms([&] { return cs_map_upsample_cuda(static_cast<float *>(sim), 1, N, T, H, W, layout, dt, maps, nullptr); });
                row(std::string("map_upsample ") + (layout ? "BHWT " : "BTHW ") + (dt == CS_F32 ? "f32" : "f16"), shape, ms,
                    (double)T * H * W * (dt == CS_F32 ? 4 : 2), 0);
            }
        ms = time_ms([&] { return cs_map_labels_cuda(static_cast<float *>(sim), 1, N, T, H, W, 0.5f, 255, CS_U8, maps, nullptr); });
        row("map_labels u8", shape, ms, (double)H * W + N * T * 4.0, 0);
        void *pts = device_random((size_t)T * 4 * 64 * 4), *cnt = device_random((size_t)T * 4);
        ms = time_ms([&] {
            return cs_map_points_cuda(static_cast<float *>(sim), 1, N, T, H, W, 0.8f, 64, static_cast<int32_t *>(pts),
                                      static_cast<int32_t *>(cnt), nullptr);
        });
        row("map_points (64 max)", shape, ms, N * T * 4.0, 0);

        // preprocess: 480×640 BGR frame → r×r
        void *frame = device_random((size_t)H * W * 3), *planes = device_random((size_t)3 * m.resolution * m.resolution * 4);
        std::snprintf(shape, sizeof shape, "%dx%d bgr -> %dx%d", H, W, m.resolution, m.resolution);
        for (int dt : {CS_F32, CS_F16}) {
            ms = time_ms([&] {
                return cs_preprocess_cuda(static_cast<uint8_t *>(frame), H, W, 3 * W, CS_BGR, m.resolution, m.resolution, dt, planes, nullptr);
            });
            row(std::string("preprocess ") + (dt == CS_F32 ? "f32" : "f16"), shape, ms,
                H * W * 3.0 + 3.0 * m.resolution * m.resolution * (dt == CS_F32 ? 4 : 2), 0);
        }

        // engine helpers, fp16 activations
        void *x = device_random(tok * 2), *y = device_random(tok * 2), *hidden = device_random(tok * 4 * 2);
        void *w = device_random((size_t)4 * C * 4, 0.5f, 1.5f), *b = device_random((size_t)4 * C * 4);
        void *pos = device_random((size_t)(1 + 7 * 7) * C * 4); // a 7×7 position grid, resized to g×g
        std::snprintf(shape, sizeof shape, "%s N=%d C=%d", m.name, N, C);
        ms = time_ms([&] { return cs_layer_norm_cuda(x, CS_F16, N, C, static_cast<float *>(w), static_cast<float *>(b), 1e-5f, y, nullptr); });
        row("layer_norm f16", shape, ms, tok * 4.0, 0);
        ms = time_ms([&] { return cs_bias_quick_gelu_cuda(hidden, CS_F16, N, 4 * C, static_cast<float *>(b), hidden, nullptr); });
        row("bias_quick_gelu f16 (4C)", shape, ms, tok * 4 * 4.0, 0);
        ms = time_ms([&] { return cs_add_cuda(x, nullptr, y, N, static_cast<float *>(b), CS_F16, N, C, x, nullptr); });
        row("add f16 (residual + bias)", shape, ms, tok * 6.0, 0);
        ms = time_ms([&] {
            return cs_embed_tokens_cuda(y, CS_F16, 1, g, C, static_cast<float *>(b), static_cast<float *>(pos), 7, x, nullptr);
        });
        row("embed_tokens f16 (7->g)", shape, ms, tok * 4.0, 0);
        ms = time_ms([&] { return cs_class_token_copy_cuda(x, y, CS_F16, 1, N, C, nullptr); });
        row("class_token_copy f16", shape, ms, C * 4.0, 0);
        ms = time_ms([&] { return cs_l2_normalize_cuda(x, CS_F16, N, C, y, nullptr); });
        row("l2_normalize f16", shape, ms, tok * 4.0, 0);
        // patch embedding as im2col (stride = kernel, no padding): 3 fp32 planes → f16 patch rows
        ms = time_ms([&] {
            return cs_im2col_cuda(planes, CS_F32, CS_NCHW, 1, 3, m.resolution, m.resolution, m.patch, m.patch, 0, CS_F16, x,
                                  nullptr);
        });
        std::snprintf(shape, sizeof shape, "%s 3x%dx%d k=s=%d", m.name, m.resolution, m.resolution, m.patch);
        row("im2col f32 -> f16 (patches)", shape, ms, 3.0 * m.resolution * m.resolution * (4 + 2), 0);
        std::printf("\n");
        for (void *p : {qkv, o1, o2, img, text, sim, maps, pts, cnt, frame, planes, x, y, hidden, w, b, pos}) cudaFree(p);
    }

    // ModifiedResNet RN50 at 224 px, one image, f16 activations channels-last: im2col of the
    // stem's conv1 (3×3/2, pad 1, on the fp32 NCHW pixels) and conv2 (3×3 on 112×112×32), of a
    // 3×3 convolution in layer1 (56×56×64); batch norm and ReLU on a layer1 output (56·56 × 256);
    // the 2×2 average pool that halves the grid entering layer2. Bytes: input read once plus
    // output written (im2col reads each input element k² times, mostly from cache).
    {
        const size_t stem_cols = (size_t)112 * 112 * 32 * 9, l1_cols = (size_t)56 * 56 * 64 * 9;
        const size_t act = (size_t)56 * 56 * 256;
        void *pix = device_random((size_t)3 * 224 * 224 * 4), *stem = device_random((size_t)112 * 112 * 32 * 2);
        void *l1 = device_random((size_t)56 * 56 * 64 * 2), *cols = device_random(std::max(stem_cols, l1_cols) * 2);
        void *a = device_random(act * 2, -3.f, 3.f), *y = device_random(act * 2), *pooled = device_random(act / 4 * 2);
        // batch norm parameters as real floats (var > 0), from the host
        std::vector<float> host_params(4 * 256);
        for (int c = 0; c < 256; c++) {
            host_params[c] = 1.f + 0.001f * c;              // weight
            host_params[256 + c] = 0.01f * (c % 7);         // bias
            host_params[512 + c] = 0.02f * (c % 5) - 0.04f; // running mean
            host_params[768 + c] = 0.5f + 0.003f * c;       // running var
        }
        float *params;
        CUDA_OK(cudaMalloc(&params, host_params.size() * 4));
        CUDA_OK(cudaMemcpy(params, host_params.data(), host_params.size() * 4, cudaMemcpyHostToDevice));
        double ms = time_ms([&] { return cs_im2col_cuda(pix, CS_F32, CS_NCHW, 1, 3, 224, 224, 3, 2, 1, CS_F16, cols, nullptr); });
        row("im2col f32 -> f16 (stem 1)", "RN50@224 3x224x224 NCHW k3 s2 p1", ms, 3 * 224 * 224 * 4.0 + 112 * 112 * 27 * 2.0, 0);
        ms = time_ms([&] { return cs_im2col_cuda(stem, CS_F16, CS_NHWC, 1, 32, 112, 112, 3, 1, 1, CS_F16, cols, nullptr); });
        row("im2col f16 (stem 2)", "RN50@224 112x112x32 NHWC k3 s1 p1", ms, 112 * 112 * 32 * 2.0 + stem_cols * 2.0, 0);
        ms = time_ms([&] { return cs_im2col_cuda(l1, CS_F16, CS_NHWC, 1, 64, 56, 56, 3, 1, 1, CS_F16, cols, nullptr); });
        row("im2col f16 (layer1 3x3)", "RN50@224 56x56x64 NHWC k3 s1 p1", ms, 56 * 56 * 64 * 2.0 + l1_cols * 2.0, 0);
        ms = time_ms([&] {
            return cs_batch_norm_cuda(a, CS_F16, 56 * 56, 256, params, params + 256, params + 512, params + 768, 1e-5f, y, nullptr);
        });
        row("batch_norm f16", "RN50@224 3136x256", ms, act * 4.0 + 4 * 256 * 4.0, 0);
        ms = time_ms([&] { return cs_relu_cuda(y, CS_F16, (int64_t)act, y, nullptr); });
        row("relu f16 (in place)", "RN50@224 3136x256", ms, act * 4.0, 0);
        ms = time_ms([&] { return cs_avg_pool_cuda(a, CS_F16, 1, 56, 56, 256, 2, 2, pooled, nullptr); });
        row("avg_pool f16 (2x2)", "RN50@224 56x56x256 -> 28x28", ms, act * 2.0 + act / 4 * 2.0, 0);
        for (void *p : {pix, stem, l1, cols, a, y, pooled, (void *)params}) cudaFree(p);
        std::printf("\n");
    }

    // Text encoder, one chunk of 256 prompts: token embedding gather, position embedding add
    // (broadcast over prompts), causal single-path attention on the packed qkv.
    {
        const int P = 256, N = 77, C = 512, heads = 8, d = C / heads, vocab = 49408;
        const size_t tok = (size_t)P * N * C;
        char shape[64];
        std::snprintf(shape, sizeof shape, "text %dx%d C=%d H=%d causal", P, N, C, heads);
        void *qkv = device_random(tok * 3 * 2), *out = device_random(tok * 2);
        const double att_flops = (double)P * heads * (N * (N + 1) / 2.0) * d * 4; // causal half of Q·Kᵀ and P·V
        double ms = time_ms([&] {
            const char *base = static_cast<const char *>(qkv);
            return cs_attention_cuda(base, base + 2 * C, base + 4 * C, 3 * C, CS_F16, P, N, C, heads,
                                     1.f / std::sqrt((float)d), 1, out, nullptr);
        });
        row("attention f16 (single path)", shape, ms, tok * 3 * 2.0 + tok * 2.0, att_flops);

        void *table = device_random((size_t)vocab * C * 2), *ids, *pos = device_random((size_t)N * C * 2);
        std::vector<int32_t> host_ids((size_t)P * N);
        for (size_t i = 0; i < host_ids.size(); i++) host_ids[i] = (int32_t)(i * 7919 % vocab);
        CUDA_OK(cudaMalloc(&ids, host_ids.size() * 4));
        CUDA_OK(cudaMemcpy(ids, host_ids.data(), host_ids.size() * 4, cudaMemcpyHostToDevice));
        std::snprintf(shape, sizeof shape, "text %dx%d C=%d", P, N, C);
        ms = time_ms([&] { return cs_gather_rows_cuda(table, vocab, 2 * C, static_cast<int32_t *>(ids), (int64_t)P * N, out, nullptr); });
        row("gather_rows f16 (embedding)", shape, ms, tok * 2 * 2.0 + P * N * 4.0, 0);
        ms = time_ms([&] { return cs_add_cuda(out, nullptr, pos, N, nullptr, CS_F16, (int64_t)P * N, C, out, nullptr); });
        row("add f16 (broadcast pos)", shape, ms, tok * 2 * 2.0 + N * C * 2.0, 0);
        for (void *p : {qkv, out, table, ids, pos}) cudaFree(p);
        std::printf("\n");
    }
    std::printf("PyTorch side by side (two SDPA calls; the official feature surgery) is not part of this\n"
                "program: it has no LibTorch headers. Run the same shapes in PyTorch on this machine.\n");
    return 0;
}

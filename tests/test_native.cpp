// Native tests.
//  1. Every CPU twin against a plain double-precision reference on seeded random inputs of
//     several shapes and every element type (always; the CI check).
//  2. Where a CUDA device is present, every CUDA entry point against its twin: outputs poisoned
//     with NaN (0xFF bytes), guard bytes after every output, several launch shapes and the
//     awkward ones (token counts 1 to 2401, every compiled head dim, batch 1 and 3, causal or
//     not, unaligned pointers and strides). The "device" is a GPU, or the SIMT emulation
//     (tests/emu), which runs the same kernel code on the CPU: the same source is both tests.
//     The run ends with the number of kernel-vs-twin comparisons per CUDA entry point of the
//     header (each must have at least one) and a line "N passed, M failed".
//
// Error measures (one each, bounds below):
//  - twin vs reference: normalised MSE, Σ(got − ref)² / Σ ref², bounded by the output type:
//    f32 1e-9 (fp32 accumulation over ≤ a few thousand terms gives ~1e-6 relative error, i.e.
//    NMSE ~1e-12; the bound leaves room), f16 1e-6 and bf16 2e-5 (the output rounding alone
//    contributes ~(2^-11)²/3 resp. ~(2^-8)²/3).
//  - kernel vs twin: |got − want| <= tol · max|want| + 1 ulp of the output type at want, tol
//    1e-5 for f32 and 2e-3 for f16/bf16 (the issue's bounds); the ulp term allows the two
//    fp32 results to round to neighbouring f16/bf16 values.
#include "clip_surgery.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#ifdef CS_TEST_CUDA
#include <cuda_runtime.h>
#endif

static int failures = 0;
static int checks = 0;

// The CUDA entry point called last, and how many of each entry point's outputs were downloaded
// and compared with the twin (every cs_*_cuda call goes through CUDA_CALL).
static const char *g_entry = "?";
static std::map<std::string, int> g_comparisons;
// Per entry point, the largest kernel-vs-twin error seen, as a fraction of its tolerance (1 = at
// the bound): the number to compare between the emulation and a GPU.
static std::map<std::string, double> g_worst;
#define CUDA_CALL(fn, ...) (g_entry = #fn, fn(__VA_ARGS__))

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                                       \
            std::printf(__VA_ARGS__);                                                              \
            std::printf("\n");                                                                     \
        }                                                                                          \
    } while (0)

// ---- element types (written here, not taken from the library, so the test is independent) ----

static float f16_to_f32(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0) v = std::ldexp((float)mant, -24);
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = std::ldexp((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}
static uint16_t f32_to_f16(float f) { // round to nearest even; inputs here are finite, < 65504
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const double a = std::fabs((double)f);
    if (a < std::ldexp(1.0, -14)) return sign | (uint16_t)std::nearbyint(a * std::ldexp(1.0, 24));
    int e;
    std::frexp(a, &e); // a = m · 2^e, m in [0.5, 1)
    double m = std::nearbyint(std::ldexp(a, 11 - e)); // 11 significant bits
    if (m >= 2048) { m /= 2; e++; }
    return sign | (uint16_t)((e + 14) << 10) | (uint16_t)((int)m - 1024);
}
static float bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
static size_t type_size(int dtype) { return dtype == CS_F16 || dtype == CS_BF16 ? 2 : dtype == CS_U8 ? 1 : 4; }
static const char *type_name(int dtype) {
    static const char *names[] = {"f32", "f16", "bf16", "u8", "i32"};
    return names[dtype];
}

// A host tensor: raw bytes of `dtype` plus its values as double.
struct Tensor {
    int dtype = CS_F32;
    std::vector<uint8_t> bytes;
    size_t count() const { return bytes.size() / type_size(dtype); }
    void *data() { return bytes.data(); }
    const void *data() const { return bytes.data(); }
    double at(size_t i) const {
        uint16_t h;
        switch (dtype) {
        case CS_F16: std::memcpy(&h, &bytes[2 * i], 2); return f16_to_f32(h);
        case CS_BF16: std::memcpy(&h, &bytes[2 * i], 2); return bf16_to_f32(h);
        case CS_U8: return bytes[i];
        case CS_I32: { int32_t v; std::memcpy(&v, &bytes[4 * i], 4); return v; }
        default: { float v; std::memcpy(&v, &bytes[4 * i], 4); return v; }
        }
    }
    void set(size_t i, float v) {
        uint16_t h;
        switch (dtype) {
        case CS_F16: h = f32_to_f16(v); std::memcpy(&bytes[2 * i], &h, 2); break;
        case CS_BF16: h = f32_to_bf16(v); std::memcpy(&bytes[2 * i], &h, 2); break;
        default: std::memcpy(&bytes[4 * i], &v, 4); break;
        }
    }
    std::vector<double> values() const {
        std::vector<double> v(count());
        for (size_t i = 0; i < v.size(); i++) v[i] = at(i);
        return v;
    }
};
static Tensor zeros(int dtype, size_t n) {
    Tensor t;
    t.dtype = dtype;
    t.bytes.assign(n * type_size(dtype), 0);
    return t;
}
static Tensor random_tensor(int dtype, size_t n, std::mt19937 &rng, float lo = -1.f, float hi = 1.f) {
    Tensor t = zeros(dtype, n);
    std::uniform_real_distribution<float> u(lo, hi);
    for (size_t i = 0; i < n; i++) t.set(i, u(rng));
    return t;
}
static std::vector<float> random_floats(size_t n, std::mt19937 &rng, float lo = -1.f, float hi = 1.f) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (auto &x : v) x = u(rng);
    return v;
}

// ---- error measures ----

static double nmse_bound(int dtype) { return dtype == CS_F16 ? 1e-6 : dtype == CS_BF16 ? 2e-5 : 1e-9; }

// Twin vs reference: normalised MSE under `bound` (the output type's default unless given).
static void expect_nmse(const std::string &what, const Tensor &got, const std::vector<double> &ref,
                        double bound = -1) {
    if (bound < 0) bound = nmse_bound(got.dtype);
    double err = 0, norm = 0;
    bool finite = got.count() == ref.size();
    for (size_t i = 0; i < ref.size() && finite; i++) {
        const double g = got.at(i);
        finite = std::isfinite(g);
        err += (g - ref[i]) * (g - ref[i]);
        norm += ref[i] * ref[i];
    }
    const double nmse = norm > 0 ? err / norm : err;
    EXPECT(finite && nmse <= bound, "%s: nmse %.3g > %.3g%s", what.c_str(), nmse, bound,
           finite ? "" : " (non-finite or wrong size)");
}

static double ulp_at(int dtype, double v) {
    if (dtype == CS_F32) return 0;
    const int bits = dtype == CS_F16 ? 10 : 7;
    int e;
    std::frexp(std::fmax(std::fabs(v), dtype == CS_F16 ? std::ldexp(1.0, -14) : 1e-38), &e);
    return std::ldexp(1.0, e - 1 - bits);
}

// Kernel vs twin: |got − want| <= tol·max|want| + ulp(want); prints the first mismatches.
[[maybe_unused]] static void expect_close(const std::string &what, const Tensor &got, const Tensor &want) {
    const double tol = want.dtype == CS_F32 ? 1e-5 : 2e-3;
    double scale = 0;
    for (size_t i = 0; i < want.count(); i++) scale = std::fmax(scale, std::fabs(want.at(i)));
    int bad = 0, nonfinite = 0;
    double worst = 0, worst_of_bound = 0;
    for (size_t i = 0; i < want.count(); i++) {
        const double g = got.at(i), w = want.at(i), diff = std::fabs(g - w), bound = tol * scale + ulp_at(want.dtype, w);
        nonfinite += !std::isfinite(g) && std::isfinite(w);
        worst = std::fmax(worst, scale > 0 ? diff / scale : diff);
        worst_of_bound = std::fmax(worst_of_bound, bound > 0 ? diff / bound : diff > 0 ? INFINITY : 0);
        if (!(diff <= bound)) {
            if (bad < 5) std::printf("  %s: [%zu] got %.9g want %.9g\n", what.c_str(), i, g, w);
            bad++;
        }
    }
    EXPECT(bad == 0, "%s: %d of %zu elements differ (worst %.3g of scale; %d not finite)", what.c_str(), bad,
           want.count(), worst, nonfinite);
    double &w = g_worst[g_entry];
    w = std::fmax(w, worst_of_bound);
}

[[maybe_unused]] static void expect_equal_bytes(const std::string &what, const Tensor &got, const Tensor &want) {
    size_t bad = 0;
    for (size_t i = 0; i < want.count(); i++) bad += got.at(i) != want.at(i);
    EXPECT(bad == 0, "%s: %zu of %zu elements differ", what.c_str(), bad, want.count());
}

// ---- device harness ----

static bool g_gpu = false;

#ifdef CS_TEST_CUDA
constexpr size_t kGuard = 256;
constexpr uint8_t kGuardByte = 0xA5;

// Device buffers of one check; freed at scope end. Inputs are exact-size allocations (under the
// emulation AddressSanitizer then sees a read past their end); outputs, and operands a kernel
// writes in place, carry kGuard guard bytes, checked at download.
struct Device {
    std::vector<void *> ptrs;
    ~Device() {
        for (void *p : ptrs) cudaFree(p);
    }
    void *upload(const void *host, size_t bytes) {
        void *p = nullptr;
        if (cudaMalloc(&p, bytes) != cudaSuccess) return nullptr;
        ptrs.push_back(p);
        cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice);
        return p;
    }
    void *upload(const Tensor &t) { return upload(t.data(), t.bytes.size()); }
    // An output: `bytes` of 0xFF (NaN in f32, f16 and bf16) then kGuard guard bytes.
    void *output(size_t bytes) {
        void *p = nullptr;
        if (cudaMalloc(&p, bytes + kGuard) != cudaSuccess) return nullptr;
        ptrs.push_back(p);
        cudaMemset(p, 0xFF, bytes);
        cudaMemset(static_cast<char *>(p) + bytes, kGuardByte, kGuard);
        return p;
    }
    // An in-place operand: `t`'s bytes then kGuard guard bytes (an output that starts as t).
    void *copy_of(const Tensor &t) {
        void *p = output(t.bytes.size());
        if (p) cudaMemcpy(p, t.data(), t.bytes.size(), cudaMemcpyHostToDevice);
        return p;
    }
    // Synchronises, copies an output back and checks its guard bytes; counts one comparison of
    // the last CUDA entry point called (the caller compares what it downloads).
    bool download(const std::string &what, const void *dev, void *host, size_t bytes) {
        cudaError_t err = cudaDeviceSynchronize();
        EXPECT(err == cudaSuccess, "%s: kernel failed: %s", what.c_str(), cudaGetErrorString(err));
        if (err != cudaSuccess) return false;
        std::vector<uint8_t> all(bytes + kGuard);
        cudaMemcpy(all.data(), dev, bytes + kGuard, cudaMemcpyDeviceToHost);
        std::memcpy(host, all.data(), bytes);
        size_t touched = 0;
        for (size_t i = bytes; i < all.size(); i++) touched += all[i] != kGuardByte;
        EXPECT(touched == 0, "%s: %zu guard bytes after the output were overwritten", what.c_str(), touched);
        g_comparisons[g_entry]++;
        return touched == 0;
    }
    bool download(const std::string &what, const void *dev, Tensor &t) {
        return download(what, dev, t.data(), t.bytes.size());
    }
};
#endif

static void expect_ok(int rc, const std::string &what) {
    EXPECT(rc == CS_OK, "%s: rc=%d (%s) %s", what.c_str(), rc, cs_status_string(rc), cs_last_error());
}

// ================================ dual-path attention ================================

// Plain reference: softmax(scale · a·bᵀ)·v per head in double. part_q/part_k: 0 q, 1 k, 2 v.
static std::vector<double> attention_reference(const std::vector<double> &qkv, int B, int N, int C,
                                               int H, double scale, int part_q, int part_k) {
    const int d = C / H;
    std::vector<double> out((size_t)B * N * C), p(N);
    auto at = [&](int b, int i, int part, int h, int e) {
        return qkv[((size_t)b * N + i) * 3 * C + (size_t)part * C + h * d + e];
    };
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < N; i++) {
                double mx = -1e300, z = 0;
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int e = 0; e < d; e++) s += at(b, i, part_q, h, e) * at(b, j, part_k, h, e);
                    p[j] = s * scale;
                    mx = std::fmax(mx, p[j]);
                }
                for (int j = 0; j < N; j++) z += (p[j] = std::exp(p[j] - mx));
                for (int e = 0; e < d; e++) {
                    double acc = 0;
                    for (int j = 0; j < N; j++) acc += p[j] * at(b, j, 2, h, e);
                    out[((size_t)b * N + i) * C + h * d + e] = acc / z;
                }
            }
    return out;
}

static void test_attention() {
    std::mt19937 rng(101);
    // B, N, C, H: head dims 32, 64, 80, 128 and an odd one (4; CPU only); N across the 64-query
    // and 32-key tiles of the kernel.
    const int shapes[][4] = {{1, 2, 64, 2}, {2, 37, 128, 2}, {1, 70, 160, 2},
                             {1, 33, 256, 2}, {1, 5, 12, 3}, {1, 130, 64, 1}};
    for (auto &s : shapes)
        for (int dtype : {CS_F32, CS_F16, CS_BF16}) {
            const int B = s[0], N = s[1], C = s[2], H = s[3];
            const float scale = 1.f / std::sqrt((float)(C / H));
            // Scaled inputs keep the softmax from collapsing to one-hot on the v-v diagonal.
            Tensor qkv = random_tensor(dtype, (size_t)B * N * 3 * C, rng, -1.5f, 1.5f);
            const auto vals = qkv.values();
            const auto ref_ori = attention_reference(vals, B, N, C, H, scale, 0, 1);
            const auto ref_vv = attention_reference(vals, B, N, C, H, scale, 2, 2);
            char tag[128];
            std::snprintf(tag, sizeof tag, "attention %s B=%d N=%d C=%d H=%d", type_name(dtype), B, N, C, H);
            for (int paths = 1; paths <= 3; paths++) {
                Tensor ori = zeros(dtype, (size_t)B * N * C), vv = zeros(dtype, (size_t)B * N * C);
                void *o = paths & 1 ? ori.data() : nullptr, *v = paths & 2 ? vv.data() : nullptr;
                const std::string what = std::string(tag) + " paths=" + std::to_string(paths);
                expect_ok(cs_attention_dual_cpu(qkv.data(), dtype, B, N, C, H, scale, o, v, nullptr), what);
                if (o) expect_nmse(what + " ori", ori, ref_ori);
                if (v) expect_nmse(what + " vv", vv, ref_vv);
#ifdef CS_TEST_CUDA
                if (!g_gpu || (C / H) % 16 != 0) continue;
                Device dev;
                void *dq = dev.upload(qkv);
                void *go = o ? dev.output(ori.bytes.size()) : nullptr;
                void *gv = v ? dev.output(vv.bytes.size()) : nullptr;
                expect_ok(CUDA_CALL(cs_attention_dual_cuda, dq, dtype, B, N, C, H, scale, go, gv, nullptr), what + " cuda");
                Tensor t = zeros(dtype, ori.count());
                if (go && dev.download(what + " cuda ori", go, t)) expect_close(what + " cuda ori", t, ori);
                if (gv && dev.download(what + " cuda vv", gv, t)) expect_close(what + " cuda vv", t, vv);
                if (dtype == CS_F32 || paths != 3) continue;
                // qkv 8 bytes off 16-byte alignment: f16/bf16 take the SIMT kernel instead of
                // the tensor-core one; both must equal the twin.
                std::vector<uint8_t> shifted(qkv.bytes.size() + 8);
                std::memcpy(shifted.data() + 8, qkv.data(), qkv.bytes.size());
                char *dq8 = static_cast<char *>(dev.upload(shifted.data(), shifted.size())) + 8;
                void *go8 = dev.output(ori.bytes.size()), *gv8 = dev.output(vv.bytes.size());
                expect_ok(CUDA_CALL(cs_attention_dual_cuda, dq8, dtype, B, N, C, H, scale, go8, gv8, nullptr), what + " cuda unaligned");
                if (dev.download(what + " cuda unaligned ori", go8, t)) expect_close(what + " cuda unaligned ori", t, ori);
                if (dev.download(what + " cuda unaligned vv", gv8, t)) expect_close(what + " cuda unaligned vv", t, vv);
#endif
            }
        }
    float dummy[16] = {};
    EXPECT(cs_attention_dual_cpu(dummy, CS_F32, 1, 2, 6, 4, 1.f, dummy + 8, nullptr, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "channels not a multiple of heads must be rejected");
    EXPECT(cs_attention_dual_cpu(dummy, CS_F32, 1, 2, 4, 1, 1.f, nullptr, nullptr, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "no output must be rejected");
    EXPECT(cs_attention_dual_cpu(dummy, CS_U8, 1, 2, 4, 1, 1.f, dummy + 8, nullptr, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "u8 attention must be rejected");
    // Outputs are written while other queries still read qkv: any shared byte is refused, on both
    // entry points (qkv is 1·2·3·4 = 24 floats here, each output 8).
    {
        float buf[64] = {};
        const int invalid_cuda = cs_cuda_built() ? CS_ERR_INVALID_ARGUMENT : CS_ERR_NO_CUDA;
        struct { float *ori, *vv; const char *what; } overlaps[] = {
            {buf + 20, nullptr, "out_ori over the tail of qkv"},   {nullptr, buf + 1, "out_vv inside qkv"},
            {buf + 24, buf + 28, "out_ori and out_vv sharing 4 floats"}, {buf + 30, buf + 24, "out_vv overlapping out_ori's start"}};
        for (auto &o : overlaps) {
            EXPECT(cs_attention_dual_cpu(buf, CS_F32, 1, 2, 4, 1, 1.f, o.ori, o.vv, nullptr) == CS_ERR_INVALID_ARGUMENT,
                   "attention_dual_cpu with %s must be rejected", o.what);
            EXPECT(CUDA_CALL(cs_attention_dual_cuda, buf, CS_F32, 1, 2, 4, 1, 1.f, o.ori, o.vv, nullptr) == invalid_cuda,
                   "attention_dual_cuda with %s must be rejected", o.what);
        }
        expect_ok(cs_attention_dual_cpu(buf, CS_F32, 1, 2, 4, 1, 1.f, buf + 24, buf + 32, nullptr),
                  "attention_dual_cpu with outputs right after qkv and after each other");
    }
#ifdef CS_TEST_CUDA
    if (g_gpu) { // long sequence (issue: >= 2400 tokens), fp16, one head of 64
        const int B = 1, N = 2401, C = 64, H = 1;
        Tensor qkv = random_tensor(CS_F16, (size_t)B * N * 3 * C, rng, -1.5f, 1.5f);
        Tensor ori = zeros(CS_F16, (size_t)N * C), vv = ori, t = ori;
        expect_ok(cs_attention_dual_cpu(qkv.data(), CS_F16, B, N, C, H, 0.125f, ori.data(), vv.data(), nullptr), "attention N=2401 cpu");
        Device dev;
        void *dq = dev.upload(qkv), *go = dev.output(ori.bytes.size()), *gv = dev.output(vv.bytes.size());
        expect_ok(CUDA_CALL(cs_attention_dual_cuda, dq, CS_F16, B, N, C, H, 0.125f, go, gv, nullptr), "attention N=2401 cuda");
        if (dev.download("attention N=2401 ori", go, t)) expect_close("attention N=2401 ori", t, ori);
        if (dev.download("attention N=2401 vv", gv, t)) expect_close("attention N=2401 vv", t, vv);
    }
#endif
}

// ============================ the methods' self-attention ============================

// One head's softmax(scale·a·aᵀ + bias)·val in double: a, val (n, d) row-major.
static std::vector<double> self_self_reference(const std::vector<double> &a, const std::vector<double> &val, int n, int d,
                                               double scale, const std::function<double(int, int)> &bias) {
    std::vector<double> out((size_t)n * d), p(n);
    for (int i = 0; i < n; i++) {
        double mx = -1e300, z = 0;
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int e = 0; e < d; e++) s += a[(size_t)i * d + e] * a[(size_t)j * d + e];
            p[j] = s * scale + bias(i, j);
            mx = std::fmax(mx, p[j]);
        }
        for (int j = 0; j < n; j++) z += (p[j] = std::exp(p[j] - mx));
        for (int e = 0; e < d; e++) {
            double acc = 0;
            for (int j = 0; j < n; j++) acc += p[j] * val[(size_t)j * d + e];
            out[(size_t)i * d + e] = acc / z;
        }
    }
    return out;
}

static void normalize_rows(std::vector<double> &x, int n, int d) {
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int e = 0; e < d; e++) ss += x[(size_t)i * d + e] * x[(size_t)i * d + e];
        for (int e = 0; e < d; e++) x[(size_t)i * d + e] /= std::sqrt(ss);
    }
}

// The formulas of include/clip_surgery.h (cs_attention_mode), straight, in double: per image and
// head the parts as (n, d) matrices; NACLIP's Ω from grid coordinates; GEM's τ, normalisation,
// iteration and three maps.
static std::vector<double> self_attention_reference(const std::vector<double> &qkv, const std::vector<double> &normed,
                                                    int B, int N, int C, int H, double scale, int mode, int grid,
                                                    double sigma) {
    const int d = C / H;
    std::vector<double> out((size_t)B * N * C);
    auto part = [&](int b, int which, int h) {
        std::vector<double> m((size_t)N * d);
        for (int i = 0; i < N; i++)
            for (int e = 0; e < d; e++) m[(size_t)i * d + e] = qkv[((size_t)b * N + i) * 3 * C + (size_t)which * C + h * d + e];
        return m;
    };
    const auto none = [](int, int) { return 0.0; };
    const auto omega = [&](int i, int j) {
        if (i == 0 || j == 0) return 0.0;
        const double dy = (i - 1) / grid - (j - 1) / grid, dx = (i - 1) % grid - (j - 1) % grid;
        return std::exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
    };
    for (int b = 0; b < B; b++) {
        double tau = 0;
        for (int i = 0; i < N; i++) {
            double ss = 0;
            for (int e = 0; e < C; e++) ss += normed[((size_t)b * N + i) * C + e] * normed[((size_t)b * N + i) * C + e];
            tau += std::sqrt(ss) / N;
        }
        tau *= scale;
        for (int h = 0; h < H; h++) {
            const auto q = part(b, 0, h), k = part(b, 1, h), v = part(b, 2, h);
            std::vector<double> o((size_t)N * d, 0.0);
            auto add = [&](const std::vector<double> &x, double f) {
                for (size_t i = 0; i < o.size(); i++) o[i] += x[i] * f;
            };
            switch (mode) {
            case CS_ATTN_QQ: o = self_self_reference(q, v, N, d, scale, none); break;
            case CS_ATTN_KK: o = self_self_reference(k, v, N, d, scale, none); break;
            case CS_ATTN_VV: o = self_self_reference(v, v, N, d, scale, none); break;
            case CS_ATTN_QQ_PLUS_KK:
                add(self_self_reference(q, v, N, d, scale, none), 1);
                add(self_self_reference(k, v, N, d, scale, none), 1);
                break;
            case CS_ATTN_KK_GAUSSIAN: o = self_self_reference(k, v, N, d, scale, omega); break;
            case CS_ATTN_VALUE: o = v; break;
            default: // GEM
                for (const auto *w : {&v, &k, &q}) {
                    std::vector<double> hat = *w;
                    normalize_rows(hat, N, d);
                    hat = self_self_reference(hat, hat, N, d, tau, none);
                    normalize_rows(hat, N, d);
                    add(self_self_reference(hat, v, N, d, tau, none), 1.0 / 3);
                }
            }
            for (int i = 0; i < N; i++)
                for (int e = 0; e < d; e++) out[((size_t)b * N + i) * C + h * d + e] = o[(size_t)i * d + e];
        }
    }
    return out;
}

static const char *mode_name(int mode) {
    static const char *names[] = {"qq", "kk", "vv", "qq+kk", "kk+gaussian", "value", "gem"};
    return names[mode];
}

#ifdef CS_TEST_CUDA
// The CUDA entry point against the twin's output (and, for GEM, the twin's workspace: τ, ŵ and
// the iterated ŵ, stage by stage).
static void self_attention_kernel_vs_twin(const std::string &what, const Tensor &qkv, const Tensor &normed, int B, int N,
                                          int C, int H, float scale, int mode, int grid, const Tensor &want,
                                          const std::vector<float> &want_ws) {
    Device dev;
    const int dtype = qkv.dtype;
    void *dq = dev.upload(qkv), *dn = mode == CS_ATTN_GEM ? dev.upload(normed) : nullptr;
    const size_t ws_bytes = want_ws.size() * 4;
    void *dws = ws_bytes ? dev.output(ws_bytes) : nullptr, *dout = dev.output(want.bytes.size());
    expect_ok(CUDA_CALL(cs_self_attention_cuda, dq, dtype, B, N, C, H, scale, mode, grid, 5.f, dn, dws, dout, nullptr),
              what + " cuda");
    Tensor got = zeros(dtype, want.count());
    if (dev.download(what + " cuda", dout, got)) expect_close(what + " cuda", got, want);
    if (!dws) return;
    Tensor ws = zeros(CS_F32, want_ws.size()), ws_want = ws;
    std::memcpy(ws_want.data(), want_ws.data(), ws_bytes);
    // τ per image (the padding after it is never written), then ŵ and the iteration
    const size_t pad = cs_self_attention_workspace(mode, B, N, C) / 4 - (size_t)2 * B * N * 3 * C;
    if (!dev.download(what + " cuda workspace", dws, ws)) return;
    for (size_t i = B; i < pad; i++) ws.set(i, 0.f), ws_want.set(i, 0.f);
    expect_close(what + " cuda workspace", ws, ws_want);
}
#endif

static void self_attention_case(std::mt19937 &rng, int dtype, int B, int grid, int C, int H, int mode, bool reference) {
    const int N = 1 + grid * grid;
    const float scale = 1.f / std::sqrt((float)(C / H));
    Tensor qkv = random_tensor(dtype, (size_t)B * N * 3 * C, rng, -1.5f, 1.5f);
    Tensor normed = random_tensor(dtype, (size_t)B * N * C, rng);
    Tensor out = zeros(dtype, (size_t)B * N * C);
    const int64_t ws_bytes = cs_self_attention_workspace(mode, B, N, C);
    std::vector<float> ws(ws_bytes / 4, 0.f);
    char what[160];
    std::snprintf(what, sizeof what, "self_attention %s %s B=%d N=%d C=%d H=%d", mode_name(mode), type_name(dtype), B, N, C,
                  H);
    expect_ok(cs_self_attention_cpu(qkv.data(), dtype, B, N, C, H, scale, mode, grid, 5.f, normed.data(),
                                    ws.empty() ? nullptr : ws.data(), out.data(), nullptr),
              what);
    if (reference)
        expect_nmse(what, out, self_attention_reference(qkv.values(), normed.values(), B, N, C, H, scale, mode, grid, 5.0));
#ifdef CS_TEST_CUDA
    if (g_gpu && (C / H) % 16 == 0) self_attention_kernel_vs_twin(what, qkv, normed, B, N, C, H, scale, mode, grid, out, ws);
#endif
}

static void test_self_attention() {
    std::mt19937 rng(1515);
    // B, grid (N = 1 + grid²), C, H: head dims 32, 64, 80, 128 and 4 (CPU only); N from 2 (the
    // class token and one patch) across the kernel's 32-key tiles and 16-64-row query tiles.
    const int shapes[][4] = {{1, 1, 64, 2}, {2, 6, 128, 2}, {1, 8, 160, 2}, {1, 7, 256, 2}, {1, 2, 12, 3}, {2, 11, 64, 1}};
    for (int mode = CS_ATTN_QQ; mode <= CS_ATTN_GEM; mode++)
        for (auto &s : shapes)
            for (int dtype : {CS_F32, CS_F16, CS_BF16}) self_attention_case(rng, dtype, s[0], s[1], s[2], s[3], mode, true);

    // Workspace sizes, and what the entry points refuse (the same on both).
    EXPECT(cs_self_attention_workspace(7, 1, 2, 4) == -1, "an unknown mode has no workspace size");
    EXPECT(cs_self_attention_workspace(CS_ATTN_QQ_PLUS_KK, 2, 5, 8) == 0, "only GEM needs a workspace");
    EXPECT(cs_self_attention_workspace(CS_ATTN_GEM, 2, 5, 8) == 4 * (64 + 2 * 2 * 5 * 24), "GEM's workspace: tau, then two copies of qkv in fp32");
    alignas(16) float buf[512] = {};
    float *qkv = buf, *normed = buf + 64, *out = buf + 128; // B=1, N=5, C=4: qkv 60 floats, out 20
    alignas(16) static float ws[4 * (64 + 2 * 5 * 12) + 64];
    const int invalid_cuda = cs_cuda_built() ? CS_ERR_INVALID_ARGUMENT : CS_ERR_NO_CUDA;
    struct Refused {
        int mode;
        int64_t tokens, grid;
        float sigma;
        const void *normed;
        void *ws, *out;
        const char *what;
    } refused[] = {
        {7, 5, 2, 5.f, normed, ws, out, "mode 7"},
        {CS_ATTN_KK_GAUSSIAN, 5, 3, 5.f, normed, ws, out, "a Gaussian grid of 3 for 5 tokens"},
        {CS_ATTN_KK_GAUSSIAN, 5, 2, 0.f, normed, ws, out, "sigma 0"},
        {CS_ATTN_GEM, 5, 2, 5.f, nullptr, ws, out, "GEM without normed"},
        {CS_ATTN_GEM, 5, 2, 5.f, normed, nullptr, out, "GEM without a workspace"},
        {CS_ATTN_GEM, 5, 2, 5.f, normed, ws + 1, out, "GEM with a workspace off 16-byte alignment"},
        {CS_ATTN_GEM, 5, 2, 5.f, normed, out, buf + 200, "GEM with the workspace over out"},
        {CS_ATTN_QQ, 5, 2, 5.f, normed, ws, buf + 50, "out over the tail of qkv"},
    };
    for (auto &r : refused) {
        EXPECT(cs_self_attention_cpu(qkv, CS_F32, 1, r.tokens, 4, 1, 1.f, r.mode, r.grid, r.sigma, r.normed, r.ws, r.out,
                                     nullptr) == CS_ERR_INVALID_ARGUMENT,
               "self_attention_cpu with %s must be rejected", r.what);
        EXPECT(CUDA_CALL(cs_self_attention_cuda, qkv, CS_F32, 1, r.tokens, 4, 1, 1.f, r.mode, r.grid, r.sigma, r.normed, r.ws,
                         r.out, nullptr) == invalid_cuda,
               "self_attention_cuda with %s must be rejected", r.what);
    }
}

// ================================ feature surgery ================================

// Official formulation: the N×T×C tensor, summed, in double. redundant: empty for label-set mode.
static std::vector<double> feature_surgery_reference(const std::vector<double> &img, int B, int N,
                                                     int C, const std::vector<float> &text, int T,
                                                     const std::vector<float> &redundant) {
    std::vector<double> out((size_t)B * N * T, 0.0);
    for (int b = 0; b < B; b++) {
        std::vector<double> xs((size_t)N * C);
        for (int i = 0; i < N; i++) {
            double n = 0;
            for (int k = 0; k < C; k++) n += img[((size_t)b * N + i) * C + k] * img[((size_t)b * N + i) * C + k];
            n = std::sqrt(n);
            for (int k = 0; k < C; k++) xs[(size_t)i * C + k] = img[((size_t)b * N + i) * C + k] / n;
        }
        if (!redundant.empty()) {
            for (int i = 0; i < N; i++)
                for (int t = 0; t < T; t++) {
                    double s = 0;
                    for (int k = 0; k < C; k++) s += xs[(size_t)i * C + k] * ((double)text[t * C + k] - redundant[k]);
                    out[((size_t)b * N + i) * T + t] = s;
                }
            continue;
        }
        std::vector<double> p(T);
        double z = 0, mx = -1e300;
        for (int t = 0; t < T; t++) {
            double d = 0;
            for (int k = 0; k < C; k++) d += xs[k] * text[t * C + k];
            p[t] = 2 * d;
            mx = std::fmax(mx, p[t]);
        }
        for (int t = 0; t < T; t++) z += (p[t] = std::exp(p[t] - mx));
        double mean_p = 0;
        for (int t = 0; t < T; t++) mean_p += (p[t] /= z);
        mean_p /= T;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < C; k++) {
                double m = 0;
                for (int t = 0; t < T; t++) m += xs[(size_t)i * C + k] * text[t * C + k] * (p[t] / mean_p);
                m /= T;
                for (int t = 0; t < T; t++)
                    out[((size_t)b * N + i) * T + t] += xs[(size_t)i * C + k] * text[t * C + k] * (p[t] / mean_p) - m;
            }
    }
    return out;
}

static void test_feature_surgery() {
    std::mt19937 rng(1234);
    std::normal_distribution<float> normal;
    const int shapes[][4] = {{1, 2, 1, 1},      {1, 65, 64, 7},   {2, 17, 33, 5},
                             {3, 50, 128, 59},  {1, 197, 512, 59}, {3, 257, 768, 7},
                             {1, 577, 768, 130}, {1, 1025, 512, 3}};
    for (auto &s : shapes)
        for (int dtype : {CS_F32, CS_F16, CS_BF16})
            for (int redundant_mode = 0; redundant_mode < 2; redundant_mode++) {
                const int B = s[0], N = s[1], C = s[2], T = s[3];
                Tensor img = zeros(dtype, (size_t)B * N * C);
                for (size_t i = 0; i < img.count(); i++) img.set(i, normal(rng));
                std::vector<float> text((size_t)T * C), redundant;
                for (int t = 0; t < T; t++) {
                    double n = 0;
                    for (int k = 0; k < C; k++) n += std::pow(text[t * C + k] = normal(rng), 2);
                    for (int k = 0; k < C; k++) text[t * C + k] /= (float)std::sqrt(n);
                }
                if (redundant_mode) redundant = random_floats(C, rng, -0.2f, 0.2f);
                const float *r = redundant_mode ? redundant.data() : nullptr;
                Tensor out = zeros(CS_F32, (size_t)B * N * T);
                char what[128];
                std::snprintf(what, sizeof what, "feature_surgery %s%s B=%d N=%d C=%d T=%d",
                              type_name(dtype), redundant_mode ? " redundant" : "", B, N, C, T);
                expect_ok(cs_feature_surgery_cpu(img.data(), dtype, B, N, C, text.data(), T, r,
                                                 static_cast<float *>(out.data()), nullptr), what);
                // One label: the label-set map is identically 0 (w·x − mean = 0), so the
                // normalised error is undefined; compare absolutely instead.
                const auto ref = feature_surgery_reference(img.values(), B, N, C, text, T, redundant);
                expect_nmse(what, out, ref, T == 1 && !redundant_mode ? 1e-12 : -1);
#ifdef CS_TEST_CUDA
                if (!g_gpu) continue;
                Device dev;
                void *di = dev.upload(img), *dt = dev.upload(text.data(), text.size() * 4);
                void *dr = r ? dev.upload(r, C * 4) : nullptr, *dout = dev.output(out.bytes.size());
                expect_ok(CUDA_CALL(cs_feature_surgery_cuda, di, dtype, B, N, C, static_cast<float *>(dt), T,
                                                  static_cast<float *>(dr), static_cast<float *>(dout), nullptr),
                          std::string(what) + " cuda");
                Tensor got = zeros(CS_F32, out.count());
                if (dev.download(std::string(what) + " cuda", dout, got)) expect_close(std::string(what) + " cuda", got, out);
#endif
            }
    float dummy[4] = {};
    EXPECT(cs_feature_surgery_cpu(nullptr, CS_F32, 1, 2, 1, dummy, 1, nullptr, dummy, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "NULL image must be rejected");
    EXPECT(cs_feature_surgery_cpu(dummy, 7, 1, 2, 1, dummy, 1, nullptr, dummy, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "unknown dtype must be rejected");
}

// ================================ maps ================================

// Bilinear source index in double (torch semantics, align_corners=False).
static void src_index(int dst, int in, int out, int &i0, int &i1, double &w1) {
    double s = ((double)dst + 0.5) * in / out - 0.5;
    if (s < 0) s = 0;
    i0 = std::min((int)s, in - 1);
    i1 = std::min(i0 + 1, in - 1);
    w1 = s - i0;
}
static double bilinear(const std::function<double(int, int)> &at, int y, int x, int gin_h,
                       int gin_w, int h, int w) {
    int y0, y1, x0, x1;
    double wy, wx;
    src_index(y, gin_h, h, y0, y1, wy);
    src_index(x, gin_w, w, x0, x1, wx);
    return (at(y0, x0) * (1 - wx) + at(y0, x1) * wx) * (1 - wy) + (at(y1, x0) * (1 - wx) + at(y1, x1) * wx) * wy;
}

// maps[b][t][y][x] in double: min-max over the patches (0 for a constant map), then bilinear.
static std::vector<double> maps_reference(const std::vector<float> &sim, int B, int N, int T, int H, int W) {
    const int g = (int)std::lround(std::sqrt(N - 1.0));
    std::vector<double> out((size_t)B * T * H * W);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            double lo = 1e300, hi = -1e300;
            for (int i = 1; i < N; i++) {
                lo = std::fmin(lo, sim[((size_t)b * N + i) * T + t]);
                hi = std::fmax(hi, sim[((size_t)b * N + i) * T + t]);
            }
            auto at = [&](int y, int x) {
                return hi > lo ? (sim[((size_t)b * N + 1 + y * g + x) * T + t] - lo) / (hi - lo) : 0.0;
            };
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    out[(((size_t)b * T + t) * H + y) * W + x] = bilinear(at, y, x, g, g, H, W);
        }
    return out;
}

static const int kMapShapes[][5] = {// B, N, T, H, W
                                    {1, 2, 2, 3, 3},     {1, 5, 1, 7, 9},  {2, 17, 3, 16, 16},
                                    {1, 197, 5, 31, 45}, {1, 65, 4, 8, 8}, {2, 50, 3, 5, 3}, // 50 = 1 + 7²
                                    // ViT-L/14 (16²), L/14@336 (24²), B/16 at 512 (32²) grids; batch 3
                                    {3, 257, 4, 37, 29}, {1, 577, 3, 48, 64}, {1, 1025, 2, 61, 47}};

static void test_map_upsample() {
    std::mt19937 rng(202);
    for (auto &s : kMapShapes) {
        const int B = s[0], N = s[1], T = s[2], H = s[3], W = s[4];
        const auto sim = random_floats((size_t)B * N * T, rng);
        const auto ref = maps_reference(sim, B, N, T, H, W);
        for (int layout : {CS_LAYOUT_BTHW, CS_LAYOUT_BHWT})
            for (int dtype : {CS_F32, CS_F16}) {
                char what[128];
                std::snprintf(what, sizeof what, "map_upsample %s layout=%d B=%d N=%d T=%d %dx%d",
                              type_name(dtype), layout, B, N, T, H, W);
                Tensor out = zeros(dtype, ref.size());
                expect_ok(cs_map_upsample_cpu(sim.data(), B, N, T, H, W, layout, dtype, out.data(), nullptr), what);
                std::vector<double> want = ref;
                if (layout == CS_LAYOUT_BHWT)
                    for (int b = 0; b < B; b++)
                        for (int t = 0; t < T; t++)
                            for (int p = 0; p < H * W; p++)
                                want[((size_t)b * H * W + p) * T + t] = ref[((size_t)b * T + t) * H * W + p];
                // A constant map (g = 1) is all zeros: compare absolutely.
                expect_nmse(what, out, want, N == 2 ? 1e-12 : -1);
#ifdef CS_TEST_CUDA
                if (!g_gpu) continue;
                Device dev;
                void *ds = dev.upload(sim.data(), sim.size() * 4), *dout = dev.output(out.bytes.size());
                expect_ok(CUDA_CALL(cs_map_upsample_cuda, static_cast<float *>(ds), B, N, T, H, W, layout, dtype, dout, nullptr),
                          std::string(what) + " cuda");
                Tensor got = zeros(dtype, out.count());
                if (dev.download(std::string(what) + " cuda", dout, got)) expect_close(std::string(what) + " cuda", got, out);
#endif
            }
    }
    float dummy[64] = {};
    EXPECT(cs_map_upsample_cpu(dummy, 1, 51, 1, 4, 4, CS_LAYOUT_BTHW, CS_F32, dummy, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "tokens that are not 1 + g*g must be rejected");
    EXPECT(cs_map_upsample_cpu(dummy, 1, 5, 1, 4, 4, 7, CS_F32, dummy, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "unknown layout must be rejected");
    EXPECT(cs_map_upsample_cpu(dummy, 1, 5, 1, 4, 4, CS_LAYOUT_BTHW, CS_BF16, dummy, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "bf16 maps must be rejected");
}

static void test_map_labels() {
    std::mt19937 rng(303);
    for (auto &s : kMapShapes) {
        const int B = s[0], N = s[1], T = s[2], H = s[3], W = s[4];
        const auto sim = random_floats((size_t)B * N * T, rng);
        const auto ref = maps_reference(sim, B, N, T, H, W);
        for (int dtype : {CS_U8, CS_I32})
            for (float threshold : {-1.f, 0.6f}) {
                const int background = dtype == CS_U8 ? 255 : -7;
                char what[128];
                std::snprintf(what, sizeof what, "map_labels %s thr=%g B=%d N=%d T=%d %dx%d",
                              type_name(dtype), threshold, B, N, T, H, W);
                Tensor out = zeros(dtype, (size_t)B * H * W);
                expect_ok(cs_map_labels_cpu(sim.data(), B, N, T, H, W, threshold, background, dtype, out.data(), nullptr), what);
                // The chosen label must be a maximum of the reference maps up to rounding
                // (near-ties may go either way), and background exactly where the maximum is
                // below the threshold (again up to rounding).
                int bad = 0;
                for (int b = 0; b < B; b++)
                    for (int p = 0; p < H * W; p++) {
                        double best = -1e300;
                        for (int t = 0; t < T; t++) best = std::fmax(best, ref[((size_t)b * T + t) * H * W + p]);
                        const int got = (int)out.at((size_t)b * H * W + p);
                        bool ok;
                        if (got == background) ok = best < threshold + 1e-5;
                        else ok = got >= 0 && got < T && best >= threshold - 1e-5 &&
                                  ref[((size_t)b * T + got) * H * W + p] >= best - 1e-5;
                        bad += !ok;
                    }
                EXPECT(bad == 0, "%s: %d pixels disagree with the reference", what, bad);
#ifdef CS_TEST_CUDA
                if (!g_gpu) continue;
                Device dev;
                void *ds = dev.upload(sim.data(), sim.size() * 4), *dout = dev.output(out.bytes.size());
                expect_ok(CUDA_CALL(cs_map_labels_cuda, static_cast<float *>(ds), B, N, T, H, W, threshold, background, dtype, dout, nullptr),
                          std::string(what) + " cuda");
                Tensor got = zeros(dtype, out.count());
                if (dev.download(std::string(what) + " cuda", dout, got)) expect_equal_bytes(std::string(what) + " cuda", got, out);
#endif
            }
    }
    float dummy[64] = {};
    EXPECT(cs_map_labels_cpu(dummy, 1, 5, 300, 4, 4, 0.f, 0, CS_U8, dummy, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "300 labels in u8 must be rejected");
    EXPECT(cs_map_labels_cpu(dummy, 1, 5, 2, 4, 4, 0.f, 0, CS_F32, dummy, nullptr) ==
               CS_ERR_INVALID_ARGUMENT, "float label maps must be rejected");
}

// Reference of the official similarity_map_to_points, in double, stable sort.
static void points_reference(const std::vector<float> &sim, int B, int N, int T, int H, int W,
                             double thr, int max_points, std::vector<int> &pts, std::vector<int> &counts) {
    const int g = (int)std::lround(std::sqrt(N - 1.0)), s = g / 2, cells = s * s;
    pts.assign((size_t)B * T * max_points * 4, -1);
    counts.assign((size_t)B * T, 0);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            auto at = [&](int y, int x) { return (double)sim[((size_t)b * N + 1 + y * g + x) * T + t]; };
            std::vector<double> v(cells);
            for (int c = 0; c < cells; c++) v[c] = bilinear(at, c / s, c % s, g, g, s, s);
            const double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
            int n = 0;
            if (hi > lo)
                for (auto &x : v) n += (x = (x - lo) / (hi - lo)) >= thr;
            n = std::min({n, cells / 2, max_points});
            std::vector<int> rank(cells);
            std::iota(rank.begin(), rank.end(), 0);
            std::stable_sort(rank.begin(), rank.end(), [&](int a, int c) { return v[a] < v[c]; });
            int *p = &pts[((size_t)b * T + t) * max_points * 4];
            for (int k = 0; k < 2 * n; k++) {
                const int c = k < n ? rank[cells - n + k] : rank[k - n];
                p[2 * k] = (int)std::min((c % s + 0.5) * W / s, W - 1.0);
                p[2 * k + 1] = (int)std::min((c / s + 0.5) * H / s, H - 1.0);
            }
            counts[(size_t)b * T + t] = n;
        }
}

static void test_map_points() {
    // A hand-checked case: g = 4 → 2×2 cells, each the mean of one 2×2 quadrant (scale 2).
    // Quadrant means 0, 1, 2, 3 → normalised 0, 1/3, 2/3, 1; threshold 0.5 → 2 pass, n = 2
    // (= cells / 2). Positives ascending: cell 2 (2/3) then cell 3; negatives: cell 0, cell 1.
    // 100×60 image: cell (r, c) → x = (c + 0.5)·50, y = (r + 0.5)·30.
    {
        std::vector<float> sim(17, 99.f); // class token value must be ignored
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) sim[1 + y * 4 + x] = (float)((y / 2) * 2 + x / 2);
        std::vector<int32_t> pts(2 * 3 * 2), counts(1);
        expect_ok(cs_map_points_cpu(sim.data(), 1, 17, 1, 60, 100, 0.5f, 3, pts.data(), counts.data(), nullptr), "map_points hand case");
        const int32_t want[] = {25, 45, 75, 45, 25, 15, 75, 15, -1, -1, -1, -1};
        EXPECT(counts[0] == 2 && std::equal(pts.begin(), pts.end(), want),
               "map_points hand case: n=%d, points %d,%d %d,%d %d,%d %d,%d", counts[0], pts[0],
               pts[1], pts[2], pts[3], pts[4], pts[5], pts[6], pts[7]);
    }
    std::mt19937 rng(404);
    const int shapes[][5] = {{1, 17, 2, 60, 100}, {2, 65, 3, 375, 500}, {1, 197, 4, 224, 224}, {1, 50, 1, 8, 8}};
    for (auto &s : shapes) {
        const int B = s[0], N = s[1], T = s[2], H = s[3], W = s[4];
        const auto sim = random_floats((size_t)B * N * T, rng);
        for (int max_points : {1, 4, 64})
            for (float thr : {0.8f, 0.3f}) {
                char what[128];
                std::snprintf(what, sizeof what, "map_points thr=%g max=%d B=%d N=%d T=%d %dx%d", thr, max_points, B, N, T, H, W);
                std::vector<int32_t> pts((size_t)B * T * max_points * 4, 1234), counts((size_t)B * T, 1234);
                expect_ok(cs_map_points_cpu(sim.data(), B, N, T, H, W, thr, max_points, pts.data(), counts.data(), nullptr), what);
                std::vector<int> ref_pts, ref_counts;
                points_reference(sim, B, N, T, H, W, thr, max_points, ref_pts, ref_counts);
                EXPECT(std::equal(counts.begin(), counts.end(), ref_counts.begin()), "%s: counts differ", what);
                EXPECT(std::equal(pts.begin(), pts.end(), ref_pts.begin()), "%s: points differ", what);
#ifdef CS_TEST_CUDA
                if (!g_gpu) continue;
                Device dev;
                void *ds = dev.upload(sim.data(), sim.size() * 4);
                void *dp = dev.output(pts.size() * 4), *dc = dev.output(counts.size() * 4);
                expect_ok(CUDA_CALL(cs_map_points_cuda, static_cast<float *>(ds), B, N, T, H, W, thr, max_points,
                                             static_cast<int32_t *>(dp), static_cast<int32_t *>(dc), nullptr),
                          std::string(what) + " cuda");
                std::vector<int32_t> gp(pts.size()), gc(counts.size());
                if (dev.download(std::string(what) + " cuda points", dp, gp.data(), gp.size() * 4) &&
                    dev.download(std::string(what) + " cuda counts", dc, gc.data(), gc.size() * 4))
                    EXPECT(gp == pts && gc == counts, "%s cuda: points or counts differ from the twin", what);
#endif
            }
    }
    float dummy[64] = {};
    int32_t ip[64];
    EXPECT(cs_map_points_cpu(dummy, 1, 2, 1, 4, 4, 0.8f, 1, ip, ip + 8, nullptr) == CS_ERR_INVALID_ARGUMENT,
           "a 1x1 grid has no downsampled cell and must be rejected");
    EXPECT(cs_map_points_cpu(dummy, 1, 5, 1, 4, 4, 0.8f, 0, ip, ip + 8, nullptr) == CS_ERR_INVALID_ARGUMENT,
           "max_points 0 must be rejected");
}

// Degenerate input, the header's rule written out by hand: non-finite values take no part in
// min/max and normalise to 0; a map without a positive, finite range is 0 and has no points;
// n = 0 gives no point (every entry -1). Each case runs the twin and, on a device, the kernel.
static void map_case(const char *what, const std::vector<float> &sim, int N, int T, int H, int W,
                     const std::vector<float> &want_maps /* (T, H, W), empty: not checked */,
                     const std::vector<int32_t> &want_labels /* (H, W) at threshold 0, background -1 */) {
    Tensor maps = zeros(CS_F32, (size_t)T * H * W);
    expect_ok(cs_map_upsample_cpu(sim.data(), 1, N, T, H, W, CS_LAYOUT_BTHW, CS_F32, maps.data(), nullptr), what);
    bool finite = true;
    for (size_t i = 0; i < maps.count(); i++) finite = finite && std::isfinite(maps.at(i));
    EXPECT(finite, "%s: maps must be finite", what);
    if (!want_maps.empty()) {
        Tensor want = zeros(CS_F32, want_maps.size());
        for (size_t i = 0; i < want_maps.size(); i++) want.set(i, want_maps[i]);
        expect_equal_bytes(std::string(what) + " maps", maps, want);
    }
    Tensor labels = zeros(CS_I32, (size_t)H * W);
    expect_ok(cs_map_labels_cpu(sim.data(), 1, N, T, H, W, 0.f, -1, CS_I32, labels.data(), nullptr), what);
    if (!want_labels.empty()) {
        Tensor want = zeros(CS_I32, want_labels.size());
        std::memcpy(want.data(), want_labels.data(), want_labels.size() * 4);
        expect_equal_bytes(std::string(what) + " labels", labels, want);
    }
#ifdef CS_TEST_CUDA
    if (!g_gpu) return;
    Device dev;
    void *ds = dev.upload(sim.data(), sim.size() * 4);
    void *dm = dev.output(maps.bytes.size()), *dl = dev.output(labels.bytes.size());
    expect_ok(CUDA_CALL(cs_map_upsample_cuda, static_cast<float *>(ds), 1, N, T, H, W, CS_LAYOUT_BTHW, CS_F32, dm, nullptr),
              std::string(what) + " cuda");
    Tensor got = zeros(CS_F32, maps.count());
    if (dev.download(std::string(what) + " cuda maps", dm, got)) expect_close(std::string(what) + " cuda maps", got, maps);
    expect_ok(CUDA_CALL(cs_map_labels_cuda, static_cast<float *>(ds), 1, N, T, H, W, 0.f, -1, CS_I32, dl, nullptr),
              std::string(what) + " cuda");
    Tensor gl = zeros(CS_I32, labels.count());
    if (dev.download(std::string(what) + " cuda labels", dl, gl)) expect_equal_bytes(std::string(what) + " cuda labels", gl, labels);
#endif
}

static void points_case(const char *what, const std::vector<float> &sim, int N, int H, int W, float thr,
                        int max_points, int want_n, const std::vector<int32_t> &want_pts) {
    std::vector<int32_t> pts((size_t)max_points * 4, 1234), counts(1, 1234);
    expect_ok(cs_map_points_cpu(sim.data(), 1, N, 1, H, W, thr, max_points, pts.data(), counts.data(), nullptr), what);
    EXPECT(counts[0] == want_n && pts == want_pts, "%s: n=%d (want %d), first point %d,%d", what, counts[0], want_n,
           pts[0], pts[1]);
#ifdef CS_TEST_CUDA
    if (!g_gpu) return;
    Device dev;
    void *ds = dev.upload(sim.data(), sim.size() * 4);
    void *dp = dev.output(pts.size() * 4), *dc = dev.output(4);
    expect_ok(CUDA_CALL(cs_map_points_cuda, static_cast<float *>(ds), 1, N, 1, H, W, thr, max_points,
                        static_cast<int32_t *>(dp), static_cast<int32_t *>(dc), nullptr),
              std::string(what) + " cuda");
    std::vector<int32_t> gp(pts.size()), gc(1);
    if (dev.download(std::string(what) + " cuda points", dp, gp.data(), gp.size() * 4) &&
        dev.download(std::string(what) + " cuda counts", dc, gc.data(), 4))
        EXPECT(gp == pts && gc == counts, "%s cuda: points or counts differ from the twin", what);
#endif
}

static void test_map_degenerate() {
    const float nan = NAN, inf = INFINITY;
    // Upsampling a g×g grid to g×g is the identity (source = destination, weight 0 on the
    // second tap), so the expected maps are the normalised grids themselves.
    {
        // Label 0 constant, label 1 = cell index: label 0 is 0 everywhere; the argmax (threshold
        // 0) is label 1 except at cell 0, where both are 0 and the first label wins the tie.
        std::vector<float> sim(10 * 2, 7.f);
        for (int i = 0; i < 9; i++) sim[(1 + i) * 2 + 1] = (float)i;
        std::vector<float> maps(2 * 9, 0.f);
        for (int i = 0; i < 9; i++) maps[9 + i] = (float)i * (1.f / 8.f);
        map_case("map degenerate: constant label", sim, 10, 2, 3, 3, maps, {0, 1, 1, 1, 1, 1, 1, 1, 1});
    }
    {
        // NaN and +inf cells: min/max over the finite cells (0 and 15), those cells become 0.
        std::vector<float> sim(17);
        for (int i = 0; i < 16; i++) sim[1 + i] = (float)i;
        sim[1 + 5] = nan;
        sim[1 + 10] = inf;
        sim[0] = nan; // the class token is never read
        std::vector<float> maps(16);
        for (int i = 0; i < 16; i++) maps[i] = (float)i * (1.f / 15.f);
        maps[5] = maps[10] = 0.f;
        map_case("map degenerate: NaN and inf cells", sim, 17, 1, 4, 4, maps, {});
    }
    {
        // All NaN (NaN features): no finite value → 0 everywhere, also when upsampled; a second,
        // ordinary label then wins every pixel except its own zero (cell 0, a tie at 0).
        std::vector<float> sim(5 * 2, nan);
        for (int i = 0; i < 4; i++) sim[(1 + i) * 2 + 1] = -(float)(4 - i); // min at cell 0
        map_case("map degenerate: all NaN", sim, 5, 2, 2, 2, {0, 0, 0, 0, 0, 1.f / 3.f, 2.f / 3.f, 1}, {0, 1, 1, 1});
        std::vector<float> all_nan(5, nan);
        map_case("map degenerate: all NaN upsampled", all_nan, 5, 1, 7, 5, std::vector<float>(35, 0.f), {});
        std::vector<float> huge = {0.f, -3e38f, 3e38f, 0.f, 1.f}; // range overflows: 0 everywhere
        map_case("map degenerate: overflowing range", huge, 5, 1, 2, 2, {0, 0, 0, 0}, {});
    }
    // Points. g = 4 → 2×2 cells, each the mean of one 2×2 quadrant; 100×60 image: cell (r, c)
    // → x = (c + 0.5)·50, y = (r + 0.5)·30, i.e. cells 0..3 at (25,15) (75,15) (25,45) (75,45).
    auto quadrants = [](float q0, float q1, float q2, float q3) {
        std::vector<float> sim(17, 99.f);
        const float q[4] = {q0, q1, q2, q3};
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) sim[1 + y * 4 + x] = q[(y / 2) * 2 + x / 2];
        return sim;
    };
    const std::vector<int32_t> none(2 * 3 * 2, -1);
    points_case("points: constant map, threshold 0", quadrants(1, 1, 1, 1), 17, 60, 100, 0.f, 3, 0, none);
    points_case("points: all NaN", quadrants(nan, nan, nan, nan), 17, 60, 100, 0.f, 3, 0, none);
    points_case("points: no cell above the threshold", quadrants(0, 1, 2, 3), 17, 60, 100, 1.5f, 3, 0, none);
    // Fewer cells than points asked: n = min(4 passing, 4 / 2, 3) = 2, entries past 2n are -1.
    points_case("points: fewer cells than points", quadrants(0, 1, 2, 3), 17, 60, 100, 0.f, 3, 2,
                {25, 45, 75, 45, 25, 15, 75, 15, -1, -1, -1, -1});
    // A NaN tap makes cell 3 NaN → 0: cells 0, 0.5, 1, 0; one passes 0.8 (cell 2); the lowest in
    // stable order is cell 0 (before cell 3, also 0).
    {
        std::vector<float> sim = quadrants(0, 1, 2, 3);
        sim[1 + 15] = nan;
        points_case("points: NaN cell", sim, 17, 60, 100, 0.8f, 3, 1, {25, 45, 25, 15, -1, -1, -1, -1, -1, -1, -1, -1});
    }
    // One cell (g = 3 → 1×1): cells / 2 = 0, so no point (the official code returns the cell
    // with an empty label list).
    points_case("points: one cell", std::vector<float>(10, 1.f), 10, 60, 100, 0.f, 1, 0, {-1, -1, -1, -1});

    // The CPU maps do not depend on the thread count (rows are split among threads).
    {
        std::mt19937 rng(505);
        const int N = 197, T = 59, H = 48, W = 64;
        auto sim = random_floats((size_t)N * T, rng);
        sim[(1 + 3) * T + 2] = nan;
        for (int layout : {CS_LAYOUT_BTHW, CS_LAYOUT_BHWT}) {
            Tensor one = zeros(CS_F32, (size_t)T * H * W), many = zeros(CS_F32, (size_t)T * H * W);
            Tensor l1 = zeros(CS_I32, (size_t)H * W), l3 = zeros(CS_I32, (size_t)H * W);
            setenv("CS_CPU_THREADS", "1", 1);
            expect_ok(cs_map_upsample_cpu(sim.data(), 1, N, T, H, W, layout, CS_F32, one.data(), nullptr), "threads 1");
            expect_ok(cs_map_labels_cpu(sim.data(), 1, N, T, H, W, 0.5f, -1, CS_I32, l1.data(), nullptr), "threads 1");
            setenv("CS_CPU_THREADS", "3", 1);
            expect_ok(cs_map_upsample_cpu(sim.data(), 1, N, T, H, W, layout, CS_F32, many.data(), nullptr), "threads 3");
            expect_ok(cs_map_labels_cpu(sim.data(), 1, N, T, H, W, 0.5f, -1, CS_I32, l3.data(), nullptr), "threads 3");
            unsetenv("CS_CPU_THREADS");
            EXPECT(one.bytes == many.bytes, "map_upsample layout=%d: 1 and 3 threads differ", layout);
            EXPECT(l1.bytes == l3.bytes, "map_labels: 1 and 3 threads differ");
        }
    }
}

// ================================ preprocess ================================

// Pillow's resample written out directly (Resample.c semantics) for one channel plane.
static std::vector<int> pil_pass(const std::vector<int> &in, int in_len, int lines, int out_len,
                                 bool along_rows) {
    // along_rows: resample each row (length in_len) of `lines` rows; else each column.
    std::vector<int> out((size_t)lines * out_len);
    const double scale = (double)in_len / out_len, fs = std::max(scale, 1.0), support = 2 * fs;
    auto cubic = [](double x) {
        x = std::fabs(x);
        return x < 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? ((-0.5 * x + 2.5) * x - 4) * x + 2 : 0.0;
    };
    for (int o = 0; o < out_len; o++) {
        const double center = (o + 0.5) * scale;
        const int lo = std::max((int)(center - support + 0.5), 0), hi = std::min((int)(center + support + 0.5), in_len);
        std::vector<double> w;
        double sum = 0;
        for (int i = lo; i < hi; i++) sum += w.emplace_back(cubic((i - center + 0.5) / fs));
        std::vector<long long> k;
        for (double x : w) k.push_back((long long)(x / sum * (1 << 22) + (x < 0 ? -0.5 : 0.5)));
        for (int l = 0; l < lines; l++) {
            long long acc = 1 << 21;
            for (int i = lo; i < hi; i++)
                acc += (long long)(along_rows ? in[(size_t)l * in_len + i] : in[(size_t)i * lines + l]) * k[i - lo];
            const int v = (int)std::clamp(acc >> 22, 0LL, 255LL);
            if (along_rows) out[(size_t)l * out_len + o] = v;
            else out[(size_t)o * lines + l] = v;
        }
    }
    return out;
}

static size_t differing_elements(const Tensor &got, const Tensor &want);

static void test_preprocess() {
    std::mt19937 rng(505);
    std::uniform_int_distribution<int> byte(0, 255);
    const double mean[3] = {0.48145466, 0.4578275, 0.40821073}, stdv[3] = {0.26862954, 0.26130258, 0.27577711};
    // H, W, pitch padding, out H, out W: shrink, enlarge, identity, mixed, strong shrink, and a
    // shrink by 140x (a panorama at a small resolution: no bound on the number of taps).
    const int shapes[][5] = {{5, 7, 0, 5, 7},    {37, 53, 3, 16, 16},  {9, 6, 1, 20, 13},   {64, 48, 16, 64, 24},
                             {300, 200, 0, 7, 9}, {375, 500, 0, 64, 64}, {480, 640, 4, 224, 224}, {97, 131, 2, 96, 96},
                             {6, 1400, 0, 3, 10}};
    for (auto &s : shapes)
        for (int order : {CS_RGB, CS_BGR})
            for (int dtype : {CS_F32, CS_F16, CS_BF16}) {
                const int H = s[0], W = s[1], pitch = 3 * W + s[2], OH = s[3], OW = s[4];
                std::vector<uint8_t> frame((size_t)H * pitch);
                for (auto &b : frame) b = (uint8_t)byte(rng);
                char what[128];
                std::snprintf(what, sizeof what, "preprocess %s %s %dx%d pitch %d -> %dx%d", order == CS_RGB ? "rgb" : "bgr",
                              type_name(dtype), H, W, pitch, OH, OW);
                Tensor out = zeros(dtype, (size_t)3 * OH * OW);
                expect_ok(cs_preprocess_cpu(frame.data(), H, W, pitch, order, OH, OW, dtype, out.data(), nullptr), what);
                int bad = 0;
                for (int c = 0; c < 3; c++) { // c: RGB plane
                    const int src_c = order == CS_RGB ? c : 2 - c;
                    std::vector<int> plane((size_t)H * W);
                    for (int y = 0; y < H; y++)
                        for (int x = 0; x < W; x++) plane[(size_t)y * W + x] = frame[(size_t)y * pitch + 3 * x + src_c];
                    const auto mid = W == OW ? plane : pil_pass(plane, W, H, OW, true);
                    const auto fin = H == OH ? mid : pil_pass(mid, H, OW, OH, false);
                    for (int i = 0; i < OH * OW; i++) {
                        // The twin must be PIL exactly: its value must decode to the same byte.
                        const double want = (fin[i] / 255.0 - mean[c]) / stdv[c];
                        const double got = out.at((size_t)c * OH * OW + i);
                        const double step = 1 / (255.0 * stdv[c]); // one uint8 level
                        // f32 and f16 resolve a third of a level, so they prove the byte exact;
                        // bf16 (8 bits) cannot and is checked to its own rounding.
                        const double tol = dtype == CS_F32 ? 1e-5 : ulp_at(dtype, want);
                        if (!(std::fabs(got - want) <= (dtype == CS_BF16 ? tol : std::min(tol, step / 3)))) bad++;
                    }
                }
                EXPECT(bad == 0, "%s: %d values differ from PIL's arithmetic", what, bad);
#ifdef CS_TEST_CUDA
                if (!g_gpu) continue;
                Device dev;
                void *df = dev.upload(frame.data(), frame.size()), *dout = dev.output(out.bytes.size());
                expect_ok(CUDA_CALL(cs_preprocess_cuda, static_cast<uint8_t *>(df), H, W, pitch, order, OH, OW, dtype, dout, nullptr),
                          std::string(what) + " cuda");
                Tensor got = zeros(dtype, out.count());
                // The same integer weights (computed without FMA contraction on both sides) and
                // the same _rn normalisation: bit for bit.
                if (dev.download(std::string(what) + " cuda", dout, got))
                    EXPECT(got.bytes == out.bytes, "%s cuda: %zu of %zu values differ from the twin", what,
                           differing_elements(got, out), out.count());
#endif
            }
    uint8_t px[12] = {};
    float o[12];
    EXPECT(cs_preprocess_cpu(px, 2, 2, 5, CS_RGB, 2, 2, CS_F32, o, nullptr) == CS_ERR_INVALID_ARGUMENT,
           "row pitch below 3*width must be rejected");
    EXPECT(cs_preprocess_cpu(px, 2, 2, 6, 9, 2, 2, CS_F32, o, nullptr) == CS_ERR_INVALID_ARGUMENT,
           "unknown channel order must be rejected");
}

// ================================ engine helpers ================================

static void test_engine_ops() {
    std::mt19937 rng(606);
    const int shapes[][2] = {{1, 1}, {3, 7}, {17, 64}, {5, 768}, {2, 1030}};
    for (auto &s : shapes)
        for (int dtype : {CS_F32, CS_F16, CS_BF16}) {
            const int R = s[0], C = s[1];
            char tag[64];
            std::snprintf(tag, sizeof tag, "%s %dx%d", type_name(dtype), R, C);
            Tensor x = random_tensor(dtype, (size_t)R * C, rng, -3.f, 3.f);
            Tensor y = random_tensor(dtype, (size_t)R * C, rng, -3.f, 3.f);
            const auto w = random_floats(C, rng, 0.5f, 1.5f), bias = random_floats(C, rng);
            const auto xv = x.values(), yv = y.values();
            const size_t n = xv.size();
            // layer norm (out of place); rows of one column are constant: (x − mean) = 0 → bias.
            std::vector<double> ref(n);
            for (int r = 0; r < R; r++) {
                double mean = 0, var = 0;
                for (int c = 0; c < C; c++) mean += xv[(size_t)r * C + c];
                mean /= C;
                for (int c = 0; c < C; c++) var += std::pow(xv[(size_t)r * C + c] - mean, 2);
                var /= C;
                for (int c = 0; c < C; c++)
                    ref[(size_t)r * C + c] = (xv[(size_t)r * C + c] - mean) / std::sqrt(var + 1e-5) * w[c] + bias[c];
            }
            Tensor ln = zeros(dtype, n);
            expect_ok(cs_layer_norm_cpu(x.data(), dtype, R, C, w.data(), bias.data(), 1e-5f, ln.data(), nullptr), "layer_norm");
            expect_nmse(std::string("layer_norm ") + tag, ln, ref);
            // bias + QuickGELU
            for (size_t i = 0; i < n; i++) {
                const double v = xv[i] + bias[i % C];
                ref[i] = v / (1 + std::exp(-1.702 * v));
            }
            Tensor ge = zeros(dtype, n);
            expect_ok(cs_bias_quick_gelu_cpu(x.data(), dtype, R, C, bias.data(), ge.data(), nullptr), "bias_quick_gelu");
            expect_nmse(std::string("bias_quick_gelu ") + tag, ge, ref);
            // bias + exact GELU, out of place and in place
            for (size_t i = 0; i < n; i++) {
                const double v = xv[i] + bias[i % C];
                ref[i] = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
            }
            Tensor gg = zeros(dtype, n);
            expect_ok(cs_bias_gelu_cpu(x.data(), dtype, R, C, bias.data(), gg.data(), nullptr), "bias_gelu");
            expect_nmse(std::string("bias_gelu ") + tag, gg, ref);
            Tensor gi = x;
            expect_ok(cs_bias_gelu_cpu(gi.data(), dtype, R, C, bias.data(), gi.data(), nullptr), "bias_gelu in place");
            EXPECT(gi.bytes == gg.bytes, "bias_gelu in place %s: differs from out of place", tag);
            // without a bias: the activation alone
            for (size_t i = 0; i < n; i++) ref[i] = 0.5 * xv[i] * (1 + std::erf(xv[i] / std::sqrt(2.0)));
            Tensor gn = zeros(dtype, n);
            expect_ok(cs_bias_gelu_cpu(x.data(), dtype, R, C, nullptr, gn.data(), nullptr), "bias_gelu without bias");
            expect_nmse(std::string("bias_gelu without bias ") + tag, gn, ref);
            // residual add as the engine calls it: cs_add(x, NULL, y, rows, bias, ..., out = x)
            for (size_t i = 0; i < n; i++) ref[i] = xv[i] + yv[i] + bias[i % C];
            Tensor ra = x;
            expect_ok(cs_add_cpu(ra.data(), nullptr, y.data(), R, bias.data(), dtype, R, C, ra.data(), nullptr),
                      "add (residual)");
            expect_nmse(std::string("add (residual) ") + tag, ra, ref);
            // L2 normalise
            for (int r = 0; r < R; r++) {
                double sq = 0;
                for (int c = 0; c < C; c++) sq += xv[(size_t)r * C + c] * xv[(size_t)r * C + c];
                for (int c = 0; c < C; c++) ref[(size_t)r * C + c] = xv[(size_t)r * C + c] / std::max(std::sqrt(sq), 1e-12);
            }
            Tensor l2 = zeros(dtype, n);
            expect_ok(cs_l2_normalize_cpu(x.data(), dtype, R, C, l2.data(), nullptr), "l2_normalize");
            expect_nmse(std::string("l2_normalize ") + tag, l2, ref);
#ifdef CS_TEST_CUDA
            if (!g_gpu) continue;
            Device dev;
            void *dx = dev.upload(x), *dy = dev.upload(y);
            float *dw = static_cast<float *>(dev.upload(w.data(), C * 4)), *db = static_cast<float *>(dev.upload(bias.data(), C * 4));
            const size_t bytes = x.bytes.size();
            Tensor got = zeros(dtype, n);
            void *o1 = dev.output(bytes), *o2 = dev.output(bytes), *o3 = dev.copy_of(x), *o4 = dev.output(bytes);
            expect_ok(CUDA_CALL(cs_layer_norm_cuda, dx, dtype, R, C, dw, db, 1e-5f, o1, nullptr), "layer_norm cuda");
            if (dev.download("layer_norm cuda", o1, got)) expect_close(std::string("layer_norm cuda ") + tag, got, ln);
            expect_ok(CUDA_CALL(cs_bias_quick_gelu_cuda, dx, dtype, R, C, db, o2, nullptr), "bias_quick_gelu cuda");
            if (dev.download("bias_quick_gelu cuda", o2, got)) expect_close(std::string("bias_quick_gelu cuda ") + tag, got, ge);
            void *o5 = dev.output(bytes), *o6 = dev.copy_of(x), *o7 = dev.output(bytes);
            expect_ok(CUDA_CALL(cs_bias_gelu_cuda, dx, dtype, R, C, db, o5, nullptr), "bias_gelu cuda");
            if (dev.download("bias_gelu cuda", o5, got)) expect_close(std::string("bias_gelu cuda ") + tag, got, gg);
            expect_ok(CUDA_CALL(cs_bias_gelu_cuda, o6, dtype, R, C, db, o6, nullptr), "bias_gelu cuda in place");
            if (dev.download("bias_gelu cuda in place", o6, got)) expect_close(std::string("bias_gelu cuda in place ") + tag, got, gg);
            expect_ok(CUDA_CALL(cs_bias_gelu_cuda, dx, dtype, R, C, nullptr, o7, nullptr), "bias_gelu cuda without bias");
            if (dev.download("bias_gelu cuda without bias", o7, got))
                expect_close(std::string("bias_gelu cuda without bias ") + tag, got, gn);
            expect_ok(CUDA_CALL(cs_add_cuda, o3, nullptr, dy, R, db, dtype, R, C, o3, nullptr), "add (residual) cuda");
            if (dev.download("add (residual) cuda", o3, got)) expect_close(std::string("add (residual) cuda ") + tag, got, ra);
            expect_ok(CUDA_CALL(cs_l2_normalize_cuda, dx, dtype, R, C, o4, nullptr), "l2_normalize cuda");
            if (dev.download("l2_normalize cuda", o4, got)) expect_close(std::string("l2_normalize cuda ") + tag, got, l2);
            // in place layer norm
            void *dxi = dev.copy_of(x);
            expect_ok(CUDA_CALL(cs_layer_norm_cuda, dxi, dtype, R, C, dw, db, 1e-5f, dxi, nullptr), "layer_norm cuda in place");
            if (dev.download("layer_norm cuda in place", dxi, got)) expect_close(std::string("layer_norm cuda in place ") + tag, got, ln);
#endif
        }

    // class token + position embedding (grid resize) and the class-token copy
    const int eshapes[][4] = {{1, 2, 3, 2}, {2, 3, 5, 4}, {1, 14, 16, 7}, {2, 4, 8, 4}, {1, 1, 4, 3}}; // B, g, C, g0
    for (auto &s : eshapes)
        for (int dtype : {CS_F32, CS_F16, CS_BF16}) {
            const int B = s[0], g = s[1], C = s[2], g0 = s[3], N = 1 + g * g;
            char what[96];
            std::snprintf(what, sizeof what, "embed_tokens %s B=%d g=%d C=%d g0=%d", type_name(dtype), B, g, C, g0);
            Tensor patches = random_tensor(dtype, (size_t)B * g * g * C, rng);
            const auto cls = random_floats(C, rng), pos = random_floats((size_t)(1 + g0 * g0) * C, rng);
            const auto pv = patches.values();
            std::vector<double> ref((size_t)B * N * C);
            for (int b = 0; b < B; b++)
                for (int c = 0; c < C; c++) {
                    ref[(size_t)b * N * C + c] = (double)cls[c] + pos[c];
                    auto at = [&](int y, int x) { return (double)pos[(size_t)(1 + y * g0 + x) * C + c]; };
                    for (int i = 0; i < g * g; i++)
                        ref[((size_t)b * N + 1 + i) * C + c] = pv[((size_t)b * g * g + i) * C + c] + bilinear(at, i / g, i % g, g0, g0, g, g);
                }
            Tensor out = zeros(dtype, ref.size());
            expect_ok(cs_embed_tokens_cpu(patches.data(), dtype, B, g, C, cls.data(), pos.data(), g0, out.data(), nullptr), what);
            expect_nmse(what, out, ref);
            // class-token copy: token 0 of `out` into a random tensor of the same shape
            Tensor dst = random_tensor(dtype, ref.size(), rng);
            Tensor want = dst;
            for (int b = 0; b < B; b++)
                std::memcpy(&want.bytes[(size_t)b * N * C * type_size(dtype)], &out.bytes[(size_t)b * N * C * type_size(dtype)], C * type_size(dtype));
            Tensor copied = dst;
            expect_ok(cs_class_token_copy_cpu(out.data(), copied.data(), dtype, B, N, C, nullptr), "class_token_copy");
            EXPECT(copied.bytes == want.bytes, "class_token_copy %s: bytes differ", what);
#ifdef CS_TEST_CUDA
            if (!g_gpu) continue;
            Device dev;
            void *dp = dev.upload(patches);
            float *dc = static_cast<float *>(dev.upload(cls.data(), C * 4)), *dpos = static_cast<float *>(dev.upload(pos.data(), pos.size() * 4));
            void *dout = dev.output(out.bytes.size());
            expect_ok(CUDA_CALL(cs_embed_tokens_cuda, dp, dtype, B, g, C, dc, dpos, g0, dout, nullptr), std::string(what) + " cuda");
            Tensor got = zeros(dtype, out.count());
            if (dev.download(std::string(what) + " cuda", dout, got)) expect_close(std::string(what) + " cuda", got, out);
            void *ddst = dev.copy_of(dst);
            expect_ok(CUDA_CALL(cs_class_token_copy_cuda, dout, ddst, dtype, B, N, C, nullptr), "class_token_copy cuda");
            if (dev.download("class_token_copy cuda", ddst, got)) EXPECT(got.bytes == want.bytes, "class_token_copy cuda %s: bytes differ", what);
#endif
        }
    float d[8] = {};
    EXPECT(cs_layer_norm_cpu(d, CS_F32, 1, 4, nullptr, d, 1e-5f, d, nullptr) == CS_ERR_INVALID_ARGUMENT, "layer_norm without weight");
    EXPECT(cs_bias_quick_gelu_cpu(d, CS_I32, 1, 4, nullptr, d, nullptr) == CS_ERR_INVALID_ARGUMENT, "i32 gelu");
    EXPECT(cs_bias_gelu_cpu(d, CS_I32, 1, 4, nullptr, d, nullptr) == CS_ERR_INVALID_ARGUMENT, "i32 exact gelu");
    EXPECT(cs_bias_gelu_cpu(d, CS_F32, 0, 4, nullptr, d, nullptr) == CS_ERR_INVALID_ARGUMENT, "exact gelu rows 0");
    EXPECT(cs_bias_gelu_cpu(nullptr, CS_F32, 1, 4, nullptr, d, nullptr) == CS_ERR_INVALID_ARGUMENT, "exact gelu x NULL");
    EXPECT(cs_bias_gelu_cpu(d, CS_F32, 1, 4, nullptr, nullptr, nullptr) == CS_ERR_INVALID_ARGUMENT, "exact gelu out NULL");
    EXPECT(cs_bias_gelu_cpu(d, CS_F32, 1, 4, nullptr, d + 1, nullptr) == CS_ERR_INVALID_ARGUMENT, "exact gelu shifted overlap");
    EXPECT(cs_bias_quick_gelu_cpu(d, CS_F32, 1, 4, nullptr, d + 1, nullptr) == CS_ERR_INVALID_ARGUMENT, "quick gelu shifted overlap");
    EXPECT(cs_bias_gelu_cpu(d, CS_F32, 1, 2, d + 2, d, nullptr) == CS_OK, "exact gelu in place with a bias elsewhere");
    EXPECT(cs_bias_gelu_cpu(d, CS_F32, 1, 4, d + 2, d, nullptr) == CS_ERR_INVALID_ARGUMENT, "exact gelu writing over its bias");
    EXPECT(cs_embed_tokens_cpu(d, CS_F32, 1, 0, 4, d, d, 1, d + 4, nullptr) == CS_ERR_INVALID_ARGUMENT, "embed grid 0");
    EXPECT(cs_class_token_copy_cpu(d, d, CS_F32, 0, 1, 1, nullptr) == CS_ERR_INVALID_ARGUMENT, "class_token_copy batch 0");
    EXPECT(cs_l2_normalize_cpu(d, CS_F32, 1, -1, d, nullptr) == CS_ERR_INVALID_ARGUMENT, "l2_normalize cols -1");
}

// ================================ add, convert, gather ================================

static void test_add() {
    std::mt19937 rng(707);
    // rows, cols, b_rows: b with all rows, one row, a proper divisor of rows; the text shape
    // (3 prompts of 77 tokens, b = the position embedding).
    const int shapes[][3] = {{1, 1, 1}, {6, 5, 3}, {12, 64, 1}, {231, 512, 77}, {8, 1030, 8}, {4, 33, 2}};
    for (auto &s : shapes)
        for (int dtype : {CS_F32, CS_F16, CS_BF16})
            for (int mask = 0; mask < 8; mask++) { // bit 0: a_bias, bit 1: b, bit 2: b_bias
                const int R = s[0], C = s[1], BR = s[2];
                Tensor a = random_tensor(dtype, (size_t)R * C, rng, -3.f, 3.f);
                Tensor b = random_tensor(dtype, (size_t)BR * C, rng, -3.f, 3.f);
                const auto ab = random_floats(C, rng), bb = random_floats(C, rng);
                const float *pab = mask & 1 ? ab.data() : nullptr, *pbb = mask & 4 ? bb.data() : nullptr;
                const void *pb = mask & 2 ? b.data() : nullptr;
                const auto av = a.values(), bv = b.values();
                std::vector<double> ref(av.size());
                for (int r = 0; r < R; r++)
                    for (int c = 0; c < C; c++)
                        ref[(size_t)r * C + c] = av[(size_t)r * C + c] + (pab ? ab[c] : 0.0) +
                                                 (pb ? bv[(size_t)(r % BR) * C + c] : 0.0) + (pbb ? bb[c] : 0.0);
                char what[128];
                std::snprintf(what, sizeof what, "add %s rows=%d cols=%d b_rows=%d%s%s%s", type_name(dtype), R, C, BR,
                              pab ? " a_bias" : "", pb ? " b" : "", pbb ? " b_bias" : "");
                Tensor out = zeros(dtype, ref.size());
                expect_ok(cs_add_cpu(a.data(), pab, pb, BR, pbb, dtype, R, C, out.data(), nullptr), what);
                expect_nmse(what, out, ref);
                // In place (out = a) must give the same bits; so must out = b when b has all rows.
                Tensor in_a = a;
                expect_ok(cs_add_cpu(in_a.data(), pab, pb, BR, pbb, dtype, R, C, in_a.data(), nullptr), what);
                EXPECT(in_a.bytes == out.bytes, "%s in place (out = a): differs from out of place", what);
                Tensor in_b = b;
                if (pb && BR == R) {
                    expect_ok(cs_add_cpu(a.data(), pab, in_b.data(), BR, pbb, dtype, R, C, in_b.data(), nullptr), what);
                    EXPECT(in_b.bytes == out.bytes, "%s in place (out = b): differs from out of place", what);
                }
#ifdef CS_TEST_CUDA
                if (!g_gpu) continue;
                Device dev;
                void *da = dev.upload(a), *db = pb ? dev.upload(b) : nullptr;
                float *dab = static_cast<float *>(dev.upload(ab.data(), C * 4)), *dbb = static_cast<float *>(dev.upload(bb.data(), C * 4));
                float *gab = pab ? dab : nullptr, *gbb = pbb ? dbb : nullptr;
                void *dout = dev.output(out.bytes.size());
                const std::string w = std::string(what) + " cuda";
                expect_ok(CUDA_CALL(cs_add_cuda, da, gab, db, BR, gbb, dtype, R, C, dout, nullptr), w);
                Tensor got = zeros(dtype, out.count());
                if (dev.download(w, dout, got)) expect_close(w, got, out);
                void *dina = dev.copy_of(a);
                expect_ok(CUDA_CALL(cs_add_cuda, dina, gab, db, BR, gbb, dtype, R, C, dina, nullptr), w + " in place");
                if (dev.download(w + " in place", dina, got)) expect_close(w + " in place", got, out);
                if (pb && BR == R) {
                    void *dinb = dev.copy_of(b);
                    expect_ok(CUDA_CALL(cs_add_cuda, da, gab, dinb, BR, gbb, dtype, R, C, dinb, nullptr), w + " out = b");
                    if (dev.download(w + " out = b", dinb, got)) expect_close(w + " out = b", got, out);
                }
#endif
            }
    float d[64] = {};
    auto invalid = [&](int rc, const char *what) {
        EXPECT(rc == CS_ERR_INVALID_ARGUMENT, "add %s must be rejected (rc=%d)", what, rc);
    };
    invalid(cs_add_cpu(nullptr, nullptr, d, 1, nullptr, CS_F32, 2, 4, d + 16, nullptr), "NULL a");
    invalid(cs_add_cpu(d, nullptr, d + 8, 1, nullptr, CS_F32, 2, 4, nullptr, nullptr), "NULL out");
    invalid(cs_add_cpu(d, nullptr, d + 8, 1, nullptr, CS_U8, 2, 4, d + 16, nullptr), "u8");
    invalid(cs_add_cpu(d, nullptr, d + 8, 1, nullptr, CS_F32, 0, 4, d + 16, nullptr), "rows 0");
    invalid(cs_add_cpu(d, nullptr, d + 8, 1, nullptr, CS_F32, 2, 0, d + 16, nullptr), "cols 0");
    invalid(cs_add_cpu(d, nullptr, d + 8, 0, nullptr, CS_F32, 2, 4, d + 16, nullptr), "b_rows 0 with b");
    invalid(cs_add_cpu(d, nullptr, d + 8, 4, nullptr, CS_F32, 6, 2, d + 32, nullptr), "b_rows not dividing rows");
    invalid(cs_add_cpu(d, nullptr, d + 8, 4, nullptr, CS_F32, 2, 2, d + 32, nullptr), "b_rows > rows");
    invalid(cs_add_cpu(d, nullptr, d + 16, 1, nullptr, CS_F32, 2, 4, d + 16, nullptr), "out = b with b_rows < rows");
    invalid(cs_add_cpu(d, nullptr, nullptr, 1, nullptr, CS_F32, 2, 4, d + 1, nullptr), "out overlapping a");
    // b NULL: b_rows is not read (a bias alone may pass 0).
    expect_ok(cs_add_cpu(d, d + 8, nullptr, 0, nullptr, CS_F32, 2, 4, d + 16, nullptr), "add bias only, b_rows 0");
}

// Bit patterns equal, any NaN matching any NaN.
static size_t differing_elements(const Tensor &got, const Tensor &want) {
    const size_t es = type_size(want.dtype);
    size_t bad = 0;
    for (size_t i = 0; i < want.count(); i++) {
        const double g = got.at(i), w = want.at(i);
        if (std::isnan(w) ? !std::isnan(g) : std::memcmp(&got.bytes[i * es], &want.bytes[i * es], es) != 0) bad++;
    }
    return bad;
}

// The expected bits of `x` (exactly representable as float) rounded to nearest even in `dtype`.
static void set_rounded(Tensor &t, size_t i, double x) {
    uint16_t h;
    if (t.dtype == CS_F32) {
        t.set(i, (float)x);
        return;
    }
    if (std::isnan(x)) h = t.dtype == CS_F16 ? 0x7e00 : 0x7fc0;
    else if (t.dtype == CS_BF16) h = f32_to_bf16((float)x); // the bit trick is RNE for inf and subnormals too
    else if (std::fabs(x) >= 65520.0) h = std::signbit(x) ? 0xfc00 : 0x7c00; // rounds past 65504
    else h = f32_to_f16((float)x);
    std::memcpy(&t.bytes[2 * i], &h, 2);
}

static void test_convert() {
    std::mt19937 rng(808);
    std::uniform_real_distribution<float> unit(-1.f, 1.f);
    std::uniform_int_distribution<int> exponent(-30, 18);
    // f32 values on the rounding edges of f16 and bf16: ties to even either way, the f16
    // subnormal range and its underflow tie, the largest f16 and the first value past it.
    const float f32_specials[] = {0.f, -0.f, 1.f, -1.f, 65504.f, 65519.99f, 65520.f, -1e6f,
                                  std::ldexp(1.f, -24), std::ldexp(1.f, -25), 3 * std::ldexp(1.f, -25),
                                  std::ldexp(1.f, -14) - std::ldexp(1.f, -25), 1 + std::ldexp(1.f, -11),
                                  1 + 3 * std::ldexp(1.f, -11), 1 + std::ldexp(1.f, -8), 1 + 3 * std::ldexp(1.f, -8),
                                  INFINITY, -INFINITY, NAN, 1e-40f, 3.4e38f};
    // f16 / bf16 inputs: inf, NaN, the smallest subnormal, the largest finite value, -0.
    const uint16_t f16_specials[] = {0x7c00, 0x7e00, 0x0001, 0x7bff, 0x8000};
    const uint16_t bf16_specials[] = {0x7f80, 0x7fc0, 0x0001, 0x7f7f, 0x8000};
    for (int n : {1, 7, 1000, 4099})
        for (int xt : {CS_F32, CS_F16, CS_BF16})
            for (int ot : {CS_F32, CS_F16, CS_BF16}) {
                Tensor x = zeros(xt, n);
                for (int i = 0; i < n; i++) {
                    float v = unit(rng) * std::ldexp(1.f, exponent(rng));
                    if (xt == CS_F16) v = std::fmax(std::fmin(v, 65000.f), -65000.f);
                    x.set(i, v);
                }
                if (n >= 64) {
                    if (xt == CS_F32)
                        for (size_t i = 0; i < std::size(f32_specials); i++) x.set(i, f32_specials[i]);
                    else
                        for (size_t i = 0; i < 5; i++)
                            std::memcpy(&x.bytes[2 * i], xt == CS_F16 ? &f16_specials[i] : &bf16_specials[i], 2);
                }
                Tensor want = zeros(ot, n);
                for (int i = 0; i < n; i++) set_rounded(want, i, x.at(i));
                char what[96];
                std::snprintf(what, sizeof what, "convert %s -> %s n=%d", type_name(xt), type_name(ot), n);
                Tensor out = zeros(ot, n);
                std::memset(out.data(), 0xAB, out.bytes.size());
                expect_ok(cs_convert_cpu(x.data(), xt, n, out.data(), ot, nullptr), what);
                size_t bad = differing_elements(out, want);
                EXPECT(bad == 0, "%s: %zu elements not rounded to nearest even", what, bad);
                if (type_size(xt) == type_size(ot)) { // in place
                    Tensor in = x;
                    in.dtype = xt;
                    expect_ok(cs_convert_cpu(in.data(), xt, n, in.data(), ot, nullptr), what);
                    in.dtype = ot;
                    EXPECT(in.bytes == out.bytes, "%s in place: differs from out of place", what);
                }
#ifdef CS_TEST_CUDA
                if (!g_gpu) continue;
                Device dev;
                void *dx = dev.upload(x), *dout = dev.output(out.bytes.size());
                const std::string w = std::string(what) + " cuda";
                expect_ok(CUDA_CALL(cs_convert_cuda, dx, xt, n, dout, ot, nullptr), w);
                Tensor got = zeros(ot, n);
                if (dev.download(w, dout, got)) {
                    bad = differing_elements(got, out);
                    EXPECT(bad == 0, "%s: %zu elements differ from the twin's bits", w.c_str(), bad);
                }
                if (type_size(xt) == type_size(ot)) {
                    Tensor xs = x;
                    void *din = dev.copy_of(xs);
                    expect_ok(CUDA_CALL(cs_convert_cuda, din, xt, n, din, ot, nullptr), w + " in place");
                    if (dev.download(w + " in place", din, got)) {
                        bad = differing_elements(got, out);
                        EXPECT(bad == 0, "%s in place: %zu elements differ from the twin's bits", w.c_str(), bad);
                    }
                }
#endif
            }
    float d[64] = {};
    auto invalid = [&](int rc, const char *what) {
        EXPECT(rc == CS_ERR_INVALID_ARGUMENT, "convert %s must be rejected (rc=%d)", what, rc);
    };
    invalid(cs_convert_cpu(nullptr, CS_F32, 4, d, CS_F16, nullptr), "NULL x");
    invalid(cs_convert_cpu(d, CS_F32, 4, nullptr, CS_F16, nullptr), "NULL out");
    invalid(cs_convert_cpu(d, CS_U8, 4, d + 16, CS_F16, nullptr), "u8 in");
    invalid(cs_convert_cpu(d, CS_F32, 4, d + 16, CS_I32, nullptr), "i32 out");
    invalid(cs_convert_cpu(d, CS_F32, 0, d + 16, CS_F16, nullptr), "n 0");
    invalid(cs_convert_cpu(d, CS_F32, 8, d, CS_F16, nullptr), "f32 -> f16 in place (sizes differ)");
    invalid(cs_convert_cpu(d, CS_F16, 8, d + 1, CS_BF16, nullptr), "a partial overlap");
}

static void test_gather_rows() {
    std::mt19937 rng(1010);
    std::uniform_int_distribution<int> byte(0, 255);
    // table_rows, row_bytes, rows: every unit width of the kernel (2, 4, 8, 16 bytes) and odd
    // multiples of 2; 1024 = a 512-channel f16 embedding row.
    const int shapes[][3] = {{1, 2, 1}, {5, 6, 9}, {300, 16, 100}, {17, 1026, 33}, {64, 48, 7}, {3, 8, 5}, {10, 12, 10}, {49, 1024, 77}};
    for (auto &s : shapes) {
        const int TR = s[0], RB = s[1], R = s[2];
        std::vector<uint8_t> table((size_t)TR * RB);
        for (auto &b : table) b = (uint8_t)byte(rng);
        std::uniform_int_distribution<int32_t> pick(-3, TR + 2); // some out of range on both sides
        std::vector<int32_t> index(R);
        for (auto &i : index) i = pick(rng);
        if (R >= 3) {
            index[0] = INT32_MIN;
            index[1] = INT32_MAX;
            index[2] = TR; // one past the end
        }
        std::vector<uint8_t> want((size_t)R * RB, 0);
        for (int r = 0; r < R; r++)
            if (index[r] >= 0 && index[r] < TR) std::memcpy(&want[(size_t)r * RB], &table[(size_t)index[r] * RB], RB);
        char what[96];
        std::snprintf(what, sizeof what, "gather_rows table=%dx%dB rows=%d", TR, RB, R);
        std::vector<uint8_t> out(want.size(), 0xAB); // zero rows must be written, not skipped
        expect_ok(cs_gather_rows_cpu(table.data(), TR, RB, index.data(), R, out.data(), nullptr), what);
        EXPECT(out == want, "%s: bytes differ from the reference", what);
#ifdef CS_TEST_CUDA
        if (!g_gpu) continue;
        // Offsets of table and out from 256-byte alignment pick the unit: 0 → the widest the row
        // size allows, 2 → 16-bit, 4 → 32-bit, 8 → 64-bit.
        for (int off : {0, 2, 4, 8}) {
            Device dev;
            std::vector<uint8_t> shifted(off + table.size());
            std::memcpy(shifted.data() + off, table.data(), table.size());
            char *dt = static_cast<char *>(dev.upload(shifted.data(), shifted.size())) + off;
            void *di = dev.upload(index.data(), index.size() * 4);
            char *dout = static_cast<char *>(dev.output(off + want.size()));
            const std::string w = std::string(what) + " cuda offset " + std::to_string(off);
            expect_ok(CUDA_CALL(cs_gather_rows_cuda, dt, TR, RB, static_cast<int32_t *>(di), R, dout + off, nullptr), w);
            std::vector<uint8_t> got(off + want.size());
            if (dev.download(w, dout, got.data(), got.size())) {
                size_t before = 0;
                for (int i = 0; i < off; i++) before += got[i] != 0xFF;
                EXPECT(before == 0, "%s: %zu bytes before out were written", w.c_str(), before);
                EXPECT(std::equal(want.begin(), want.end(), got.begin() + off), "%s: bytes differ from the twin", w.c_str());
            }
        }
#endif
    }
    uint8_t t[64] = {}, o[64];
    int32_t idx[4] = {0, 1, 2, 3};
    auto invalid = [&](int rc, const char *what) {
        EXPECT(rc == CS_ERR_INVALID_ARGUMENT, "gather_rows %s must be rejected (rc=%d)", what, rc);
    };
    invalid(cs_gather_rows_cpu(t, 4, 3, idx, 4, o, nullptr), "odd row_bytes");
    invalid(cs_gather_rows_cpu(t, 4, 0, idx, 4, o, nullptr), "row_bytes 0");
    invalid(cs_gather_rows_cpu(t, 4, 4, nullptr, 4, o, nullptr), "NULL index");
    invalid(cs_gather_rows_cpu(nullptr, 4, 4, idx, 4, o, nullptr), "NULL table");
    invalid(cs_gather_rows_cpu(t, 4, 4, idx, 4, nullptr, nullptr), "NULL out");
    invalid(cs_gather_rows_cpu(t, 0, 4, idx, 4, o, nullptr), "table_rows 0");
    invalid(cs_gather_rows_cpu(t, 4, 4, idx, 0, o, nullptr), "rows 0");
    invalid(cs_gather_rows_cpu(t, 4, 4, idx, 4, t + 8, nullptr), "out overlapping table");
}

// ================================ single-path attention ================================

// Plain reference in double: q, k, v rows `stride` apart, head h at h·d; out (B, N, C).
static std::vector<double> single_attention_reference(const std::vector<double> &q, const std::vector<double> &k,
                                                      const std::vector<double> &v, int stride, int B, int N,
                                                      int C, int H, double scale, bool causal) {
    const int d = C / H;
    std::vector<double> out((size_t)B * N * C), p(N);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < N; i++) {
                const int keys = causal ? i + 1 : N;
                double mx = -1e300, z = 0;
                for (int j = 0; j < keys; j++) {
                    double s = 0;
                    for (int e = 0; e < d; e++)
                        s += q[((size_t)b * N + i) * stride + h * d + e] * k[((size_t)b * N + j) * stride + h * d + e];
                    mx = std::fmax(mx, p[j] = s * scale);
                }
                for (int j = 0; j < keys; j++) z += (p[j] = std::exp(p[j] - mx));
                for (int e = 0; e < d; e++) {
                    double acc = 0;
                    for (int j = 0; j < keys; j++) acc += p[j] * v[((size_t)b * N + j) * stride + h * d + e];
                    out[((size_t)b * N + i) * C + h * d + e] = acc / z;
                }
            }
    return out;
}

// Where q, k and v come from.
enum class QkvLayout { Packed, Separate, Same, Strided };
static const char *layout_name(QkvLayout l) {
    return l == QkvLayout::Packed     ? "packed qkv (stride 3C)"
           : l == QkvLayout::Separate ? "separate q,k,v (stride C)"
           : l == QkvLayout::Same     ? "q=k=v (stride C)"
                                      : "separate q,k,v (stride C+3: unaligned rows)";
}

// One attention case: inputs, twin vs reference, and (on a GPU) kernel vs twin. `check_ref`
// false skips the double reference (long sequences: the GPU comparison is the point there).
static void attention_case(std::mt19937 &rng, int dtype, int B, int N, int C, int H, bool causal, QkvLayout layout,
                           bool check_ref = true) {
    const int stride = layout == QkvLayout::Packed ? 3 * C : layout == QkvLayout::Strided ? C + 3 : C;
    const bool separate = layout == QkvLayout::Separate || layout == QkvLayout::Strided;
    const size_t es = type_size(dtype);
    // Scaled inputs keep the softmax from collapsing to one-hot (see test_attention).
    Tensor t0 = random_tensor(dtype, (size_t)B * N * stride, rng, -1.5f, 1.5f);
    Tensor t1 = separate ? random_tensor(dtype, (size_t)B * N * stride, rng, -1.5f, 1.5f) : Tensor{};
    Tensor t2 = separate ? random_tensor(dtype, (size_t)B * N * stride, rng, -1.5f, 1.5f) : Tensor{};
    // Element offsets of q, k, v in their tensors and which tensor holds each.
    const Tensor *src[3] = {&t0, separate ? &t1 : &t0, separate ? &t2 : &t0};
    const size_t off[3] = {0, layout == QkvLayout::Packed ? (size_t)C : 0, layout == QkvLayout::Packed ? (size_t)2 * C : 0};
    const void *ptr[3];
    for (int i = 0; i < 3; i++) ptr[i] = static_cast<const uint8_t *>(src[i]->data()) + off[i] * es;
    const float scale = 1.f / std::sqrt((float)(C / H));
    char what[160];
    std::snprintf(what, sizeof what, "attention %s B=%d N=%d C=%d H=%d%s %s", type_name(dtype), B, N, C, H,
                  causal ? " causal" : "", layout_name(layout));
    Tensor out = zeros(dtype, (size_t)B * N * C);
    expect_ok(cs_attention_cpu(ptr[0], ptr[1], ptr[2], stride, dtype, B, N, C, H, scale, causal, out.data(), nullptr), what);
    if (check_ref) {
        std::vector<double> part[3];
        for (int i = 0; i < 3; i++) {
            const auto all = src[i]->values();
            part[i].assign(all.begin() + off[i], all.end());
            part[i].resize((size_t)B * N * stride); // the tail past the last row is never read
        }
        expect_nmse(what, out, single_attention_reference(part[0], part[1], part[2], stride, B, N, C, H, scale, causal));
    }
#ifdef CS_TEST_CUDA
    if (!g_gpu) return;
    Device dev;
    const void *dsrc[3];
    void *d0 = dev.upload(t0);
    void *d1 = separate ? dev.upload(t1) : d0, *d2 = separate ? dev.upload(t2) : d0;
    const void *dbase[3] = {d0, d1, d2};
    for (int i = 0; i < 3; i++) dsrc[i] = static_cast<const uint8_t *>(dbase[i]) + off[i] * es;
    void *dout = dev.output(out.bytes.size());
    const std::string w = std::string(what) + " cuda";
    expect_ok(CUDA_CALL(cs_attention_cuda, dsrc[0], dsrc[1], dsrc[2], stride, dtype, B, N, C, H, scale, causal, dout, nullptr), w);
    Tensor got = zeros(dtype, out.count());
    if (dev.download(w, dout, got)) expect_close(w, got, out);
#endif
}

static void test_single_attention() {
    std::mt19937 rng(1111);
    // B, N, C, H: head dims 4, 64, 48, 1, 16; N from 1 (causal and plain coincide) up.
    const int shapes[][4] = {{1, 1, 4, 1}, {2, 5, 12, 3}, {1, 37, 128, 2}, {2, 20, 96, 2}, {1, 9, 8, 8}, {1, 77, 64, 4}};
    for (auto &s : shapes)
        for (int dtype : {CS_F32, CS_F16, CS_BF16})
            for (bool causal : {false, true})
                for (QkvLayout layout : {QkvLayout::Packed, QkvLayout::Separate, QkvLayout::Same, QkvLayout::Strided})
                    attention_case(rng, dtype, s[0], s[1], s[2], s[3], causal, layout);
    // The v part of a packed qkv as q = k = v is the dual kernel's surgery path: the twins share
    // their arithmetic order, so the bits agree.
    for (int dtype : {CS_F32, CS_F16, CS_BF16}) {
        const int B = 2, N = 23, C = 64, H = 2;
        const size_t es = type_size(dtype);
        Tensor qkv = random_tensor(dtype, (size_t)B * N * 3 * C, rng, -1.5f, 1.5f);
        Tensor vv = zeros(dtype, (size_t)B * N * C), single = vv;
        const void *v = static_cast<const uint8_t *>(qkv.data()) + 2 * C * es;
        expect_ok(cs_attention_dual_cpu(qkv.data(), dtype, B, N, C, H, 0.25f, nullptr, vv.data(), nullptr), "dual vv");
        expect_ok(cs_attention_cpu(v, v, v, 3 * C, dtype, B, N, C, H, 0.25f, 0, single.data(), nullptr), "single vv");
        EXPECT(single.bytes == vv.bytes, "attention %s: q = k = v = the v part differs from attention_dual's vv", type_name(dtype));
    }
#ifdef CS_TEST_CUDA
    if (g_gpu) {
        // The text encoder (77 tokens, 512 channels, 8 heads, causal, packed qkv): short kernel.
        for (int dtype : {CS_F32, CS_F16, CS_BF16}) attention_case(rng, dtype, 3, 77, 512, 8, true, QkvLayout::Packed, false);
        // Either side of the short kernel's shared-memory limit at d = 64 (90 tokens fit, 96 do not);
        // d = 128 and an odd d = 100 in the short kernel, d = 100 in the long one.
        for (int dtype : {CS_F32, CS_F16}) {
            attention_case(rng, dtype, 2, 90, 128, 2, false, QkvLayout::Packed, false);
            attention_case(rng, dtype, 2, 96, 128, 2, true, QkvLayout::Packed, false);
            attention_case(rng, dtype, 1, 20, 256, 2, true, QkvLayout::Separate, false);
            attention_case(rng, dtype, 2, 50, 200, 2, false, QkvLayout::Same, false);
            attention_case(rng, dtype, 1, 200, 200, 2, true, QkvLayout::Packed, false);
        }
        // Long sequences (ViT-B/16 at 512 px: 1025 tokens) in the general kernel, with d = 64 and
        // d = 48 (which attention_dual does not compile).
        for (int dtype : {CS_F32, CS_F16, CS_BF16})
            for (bool causal : {false, true}) {
                attention_case(rng, dtype, 1, 1025, 64, 1, causal, QkvLayout::Packed, false);
                attention_case(rng, dtype, 1, 1025, 96, 2, causal, QkvLayout::Separate, false);
            }
        // The largest supported sequence: 4 warps × 3072 scores fill 48 KiB exactly.
        attention_case(rng, CS_F16, 1, 3072, 32, 1, false, QkvLayout::Same, false);
    }
#endif
    // CUDA limits: checked on the host before any launch, so they hold without a device too.
    {
        const int unsupported = cs_cuda_built() ? CS_ERR_UNSUPPORTED : CS_ERR_NO_CUDA;
        std::vector<float> q(3073 * 129), o(3073 * 129);
        EXPECT(CUDA_CALL(cs_attention_cuda, q.data(), q.data(), q.data(), 129, CS_F32, 1, 2, 129, 1, 1.f, 0, o.data(), nullptr) == unsupported,
               "attention_cuda head dim 129: rc %s", cs_last_error());
        EXPECT(CUDA_CALL(cs_attention_cuda, q.data(), q.data(), q.data(), 64, CS_F32, 1, 3073, 64, 1, 1.f, 0, o.data(), nullptr) == unsupported,
               "attention_cuda 3073 tokens: %s", cs_last_error());
        // The CPU has no such limits.
        expect_ok(cs_attention_cpu(q.data(), q.data(), q.data(), 129, CS_F32, 1, 2, 129, 1, 1.f, 0, o.data(), nullptr),
                  "attention_cpu head dim 129");
    }
    float d[128] = {};
    auto invalid = [&](int rc, const char *what) {
        EXPECT(rc == CS_ERR_INVALID_ARGUMENT, "attention %s must be rejected (rc=%d)", what, rc);
    };
    invalid(cs_attention_cpu(nullptr, d, d, 4, CS_F32, 1, 2, 4, 1, 1.f, 0, d + 64, nullptr), "NULL q");
    invalid(cs_attention_cpu(d, nullptr, d, 4, CS_F32, 1, 2, 4, 1, 1.f, 0, d + 64, nullptr), "NULL k");
    invalid(cs_attention_cpu(d, d, nullptr, 4, CS_F32, 1, 2, 4, 1, 1.f, 0, d + 64, nullptr), "NULL v");
    invalid(cs_attention_cpu(d, d, d, 4, CS_F32, 1, 2, 4, 1, 1.f, 0, nullptr, nullptr), "NULL out");
    invalid(cs_attention_cpu(d, d, d, 4, CS_U8, 1, 2, 4, 1, 1.f, 0, d + 64, nullptr), "u8");
    invalid(cs_attention_cpu(d, d, d, 6, CS_F32, 1, 2, 6, 4, 1.f, 0, d + 64, nullptr), "channels not a multiple of heads");
    invalid(cs_attention_cpu(d, d, d, 3, CS_F32, 1, 2, 4, 1, 1.f, 0, d + 64, nullptr), "row_stride < channels");
    invalid(cs_attention_cpu(d, d, d, 4, CS_F32, 1, 2, 4, 1, 1.f, 2, d + 64, nullptr), "causal 2");
    invalid(cs_attention_cpu(d, d, d, 4, CS_F32, 1, 2, 4, 1, NAN, 0, d + 64, nullptr), "NaN scale");
    invalid(cs_attention_cpu(d, d, d, 4, CS_F32, 0, 2, 4, 1, 1.f, 0, d + 64, nullptr), "batch 0");
    invalid(cs_attention_cpu(d, d, d, 4, CS_F32, 1, 0, 4, 1, 1.f, 0, d + 64, nullptr), "tokens 0");
    invalid(cs_attention_cpu(d, d + 64, d + 64, 12, CS_F32, 1, 2, 4, 1, 1.f, 0, d + 8, nullptr), "out overlapping q");
    invalid(cs_attention_cpu(d, d + 64, d + 96, 4, CS_F32, 1, 2, 4, 1, 1.f, 0, d + 100, nullptr), "out overlapping v");
}

// ================================ im2col, batch norm, relu, avg pool ================================

// Offset of element (b, c, y, x) of a (B, C, H, W) image stored in `layout`.
static size_t image_index(int layout, int b, int c, int y, int x, int C, int H, int W) {
    return layout == CS_NHWC ? (((size_t)b * H + y) * W + x) * C + c : (((size_t)b * C + c) * H + y) * W + x;
}

// The image whose element (b, c, y, x) is logical[(b, c, y, x) in NCHW order], stored in `layout`.
static Tensor in_layout(const Tensor &logical, int layout, int B, int C, int H, int W) {
    Tensor t = zeros(logical.dtype, logical.count());
    const size_t es = type_size(logical.dtype);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    std::memcpy(&t.bytes[image_index(layout, b, c, y, x, C, H, W) * es],
                                &logical.bytes[image_index(CS_NCHW, b, c, y, x, C, H, W) * es], es);
    return t;
}

// im2col from the header in double: v (B, C, H, W) logical values → (B·oh·ow, C·k·k), row
// (b, oy, ox), column (c, ky, kx), the window at (oy·s − p, ox·s − p), zero outside the image.
static std::vector<double> im2col_reference(const std::vector<double> &v, int B, int C, int H, int W, int k,
                                            int s, int p, int &oh, int &ow) {
    oh = (H + 2 * p - k) / s + 1;
    ow = (W + 2 * p - k) / s + 1;
    const size_t cols = (size_t)C * k * k;
    std::vector<double> out((size_t)B * oh * ow * cols);
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            const int y = oy * s - p + ky, x = ox * s - p + kx;
                            const bool inside = y >= 0 && y < H && x >= 0 && x < W;
                            out[(((size_t)b * oh + oy) * ow + ox) * cols + ((size_t)c * k + ky) * k + kx] =
                                inside ? v[image_index(CS_NCHW, b, c, y, x, C, H, W)] : 0.0;
                        }
    return out;
}

// The convolution computed directly in double on an explicitly zero-padded copy of the image:
// conv[b, oy, ox, o] = Σ w[o, c, ky, kx] · padded[b, c, oy·s + ky, ox·s + kx], channels-last.
static std::vector<double> conv_reference(const std::vector<double> &v, const std::vector<float> &w, int O, int B,
                                          int C, int H, int W, int k, int s, int p) {
    const int PH = H + 2 * p, PW = W + 2 * p, oh = (PH - k) / s + 1, ow = (PW - k) / s + 1;
    std::vector<double> padded((size_t)B * C * PH * PW, 0.0);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    padded[(((size_t)b * C + c) * PH + y + p) * PW + x + p] = v[image_index(CS_NCHW, b, c, y, x, C, H, W)];
    std::vector<double> conv((size_t)B * oh * ow * O);
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int o = 0; o < O; o++) {
                    double acc = 0;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++)
                                acc += (double)w[(((size_t)o * C + c) * k + ky) * k + kx] *
                                       padded[(((size_t)b * C + c) * PH + oy * s + ky) * PW + ox * s + kx];
                    conv[(((size_t)b * oh + oy) * ow + ox) * O + o] = acc;
                }
    return conv;
}

#ifdef CS_TEST_CUDA
// The kernel on a poisoned output with guard bytes, compared bit for bit with the twin's `want`
// (im2col only moves values; both round the same float once).
static void im2col_cuda_case(const Tensor &x, int layout, int B, int C, int H, int W, int k, int s, int p,
                             const Tensor &want, const std::string &what) {
    Device dev;
    void *dx = dev.upload(x), *dout = dev.output(want.bytes.size());
    const std::string w = what + " cuda";
    expect_ok(CUDA_CALL(cs_im2col_cuda, dx, x.dtype, layout, B, C, H, W, k, s, p, want.dtype, dout, nullptr), w);
    Tensor got = zeros(want.dtype, want.count());
    if (dev.download(w, dout, got)) EXPECT(got.bytes == want.bytes, "%s: differs from the twin", w.c_str());
}
#endif

static void test_im2col() {
    std::mt19937 rng(909);
    // B, C, H, W, kernel, stride, padding
    const int shapes[][7] = {
        {1, 1, 1, 1, 1, 1, 0},     // one pixel
        {1, 3, 4, 4, 2, 2, 0},     // patches (stride = kernel)
        {2, 3, 32, 48, 16, 16, 0}, // ViT-like patch embedding, non-square
        {2, 4, 8, 11, 3, 3, 0},    // stride = kernel = 3, remainders 2 and 2 dropped
        {1, 2, 5, 7, 3, 1, 1},     // 3×3 "same" convolution, non-square
        {2, 3, 10, 9, 3, 2, 1},    // stride 2: 10 + 2 − 3 = 9 is odd (last row of windows dropped)
        {1, 3, 16, 13, 7, 2, 3},   // a 7×7/2 stem with padding 3: 16 + 6 − 7 = 15 is odd
        {1, 4, 8, 11, 3, 3, 1},    // stride 3 with padding
        {2, 5, 6, 6, 1, 1, 0},     // 1×1 convolution (NCHW in: a transpose to channels-last)
        {1, 2, 7, 5, 1, 2, 0},     // 1×1 stride 2
        {1, 2, 3, 4, 3, 1, 3},     // padding = kernel: some windows lie wholly in the padding
        {1, 3, 5, 4, 7, 1, 3},     // kernel larger than the image, not than the padded image
    };
    for (auto &s : shapes)
        for (int layout : {CS_NCHW, CS_NHWC})
            for (int xt : {CS_F32, CS_F16, CS_BF16}) {
                const int B = s[0], C = s[1], H = s[2], W = s[3], k = s[4], st = s[5], p = s[6];
                const Tensor logical = random_tensor(xt, (size_t)B * C * H * W, rng);
                const Tensor x = in_layout(logical, layout, B, C, H, W);
                int oh, ow;
                const auto ref = im2col_reference(logical.values(), B, C, H, W, k, st, p, oh, ow);
                for (int ot : {CS_F32, CS_F16, CS_BF16}) {
                    char what[160];
                    std::snprintf(what, sizeof what, "im2col %s %s -> %s B=%d C=%d %dx%d k=%d s=%d p=%d",
                                  layout == CS_NHWC ? "nhwc" : "nchw", type_name(xt), type_name(ot), B, C, H, W, k, st, p);
                    // The values are exact in float: the expected bits are one rounding to `ot`.
                    Tensor want = zeros(ot, ref.size());
                    for (size_t i = 0; i < ref.size(); i++) want.set(i, (float)ref[i]);
                    Tensor out = zeros(ot, ref.size());
                    std::memset(out.data(), 0xFF, out.bytes.size()); // every element must be written
                    expect_ok(cs_im2col_cpu(x.data(), xt, layout, B, C, H, W, k, st, p, ot, out.data(), nullptr), what);
                    EXPECT(out.bytes == want.bytes, "%s: differs from the header's layout", what);
                    if (ot == CS_F32) {
                        // The point of the layout: rows · weightᵀ, weight (O, C, k, k) flattened, is
                        // the convolution, computed here directly on a zero-padded image.
                        const int O = 5;
                        const size_t cols = (size_t)C * k * k, rows = (size_t)B * oh * ow;
                        const auto wt = random_floats((size_t)O * cols, rng);
                        Tensor gemm = zeros(CS_F32, rows * O);
                        for (size_t r = 0; r < rows; r++)
                            for (int o = 0; o < O; o++) {
                                double g = 0;
                                for (size_t j = 0; j < cols; j++) g += out.at(r * cols + j) * wt[o * cols + j];
                                gemm.set(r * O + o, (float)g);
                            }
                        expect_nmse(std::string(what) + " as a convolution", gemm,
                                    conv_reference(logical.values(), wt, O, B, C, H, W, k, st, p));
                    }
#ifdef CS_TEST_CUDA
                    if (g_gpu) im2col_cuda_case(x, layout, B, C, H, W, k, st, p, out, what);
#endif
                }
            }

    // cs_patchify's cases (it was im2col with NCHW f32 input, stride = kernel, padding 0),
    // against its own formula: row (b, gy, gx) holds patch pixels in (channel, ky, kx) order.
    const int pshapes[][5] = {{1, 1, 1, 1, 1}, {1, 3, 4, 4, 2}, {2, 3, 32, 48, 16}, {1, 1, 5, 5, 5}, {2, 4, 6, 9, 3}}; // B, C, H, W, p
    for (auto &s : pshapes)
        for (int dtype : {CS_F32, CS_F16, CS_BF16}) {
            const int B = s[0], C = s[1], H = s[2], W = s[3], p = s[4], gh = H / p, gw = W / p, cols = C * p * p;
            const auto pix = random_floats((size_t)B * C * H * W, rng);
            Tensor want = zeros(dtype, (size_t)B * gh * gw * cols);
            for (int b = 0; b < B; b++)
                for (int gy = 0; gy < gh; gy++)
                    for (int gx = 0; gx < gw; gx++)
                        for (int c = 0; c < C; c++)
                            for (int ky = 0; ky < p; ky++)
                                for (int kx = 0; kx < p; kx++)
                                    want.set((((size_t)b * gh + gy) * gw + gx) * cols + ((size_t)c * p + ky) * p + kx,
                                             pix[(((size_t)b * C + c) * H + gy * p + ky) * W + gx * p + kx]);
            char what[96];
            std::snprintf(what, sizeof what, "im2col as patchify %s B=%d C=%d %dx%d p=%d", type_name(dtype), B, C, H, W, p);
            Tensor out = zeros(dtype, want.count());
            std::memset(out.data(), 0xFF, out.bytes.size());
            expect_ok(cs_im2col_cpu(pix.data(), CS_F32, CS_NCHW, B, C, H, W, p, p, 0, dtype, out.data(), nullptr), what);
            EXPECT(out.bytes == want.bytes, "%s: differs from the patch layout", what);
        }

#ifdef CS_TEST_CUDA
    if (g_gpu) { // larger launch shapes: the engine's cases and both loops' strides
        const int gshapes[][9] = {
            // layout, x dtype, out dtype, B, C, H, W, k, s (padding below)
            {CS_NCHW, CS_F32, CS_F16, 2, 3, 224, 224, 16, 16},  // ViT-B/16 patch embedding at 224 px
            {CS_NCHW, CS_F32, CS_F16, 2, 3, 224, 224, 3, 2},    // the RN50 stem's conv1 (27 columns, 8 rows a block)
            {CS_NHWC, CS_F16, CS_F16, 1, 64, 56, 56, 3, 1},     // a 3×3 convolution in layer1 (576 columns, 3 blocks)
            {CS_NHWC, CS_BF16, CS_BF16, 1, 64, 260, 260, 2, 1}, // 67081 rows of 256 columns: more rows than grid.y
            {CS_NCHW, CS_F16, CS_F32, 1, 7, 30, 31, 7, 2},      // 343 columns: a partial second block in x
        };
        const int gpad[] = {0, 1, 1, 0, 3};
        for (int i = 0; i < 5; i++) {
            const int *g = gshapes[i];
            const int layout = g[0], xt = g[1], ot = g[2], B = g[3], C = g[4], H = g[5], W = g[6], k = g[7], st = g[8], p = gpad[i];
            const Tensor x = random_tensor(xt, (size_t)B * C * H * W, rng);
            const int64_t oh = (H + 2 * p - k) / st + 1, ow = (W + 2 * p - k) / st + 1;
            Tensor out = zeros(ot, (size_t)B * oh * ow * C * k * k);
            char what[160];
            std::snprintf(what, sizeof what, "im2col %s %s -> %s B=%d C=%d %dx%d k=%d s=%d p=%d", layout == CS_NHWC ? "nhwc" : "nchw",
                          type_name(xt), type_name(ot), B, C, H, W, k, st, p);
            expect_ok(cs_im2col_cpu(x.data(), xt, layout, B, C, H, W, k, st, p, ot, out.data(), nullptr), what);
            im2col_cuda_case(x, layout, B, C, H, W, k, st, p, out, what);
        }
    }
#endif
    float d[64] = {};
    auto invalid = [&](int rc, const char *what) {
        EXPECT(rc == CS_ERR_INVALID_ARGUMENT, "im2col %s must be rejected (rc=%d)", what, rc);
    };
    // valid: 1×1×2×2 f32 at d, k = 2 → 4 floats at d + 32
    expect_ok(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 2, 2, 2, 1, 0, CS_F32, d + 32, nullptr), "im2col small valid call");
    expect_ok(cs_im2col_cpu(d, CS_F32, CS_NHWC, 1, 1, 2, 2, 4, 1, 1, CS_F32, d + 32, nullptr), "im2col kernel = padded size");
    invalid(cs_im2col_cpu(nullptr, CS_F32, CS_NCHW, 1, 1, 2, 2, 2, 1, 0, CS_F32, d + 32, nullptr), "NULL x");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 2, 2, 2, 1, 0, CS_F32, nullptr, nullptr), "NULL out");
    invalid(cs_im2col_cpu(d, CS_U8, CS_NCHW, 1, 1, 2, 2, 2, 1, 0, CS_F32, d + 32, nullptr), "u8 x");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 2, 2, 2, 1, 0, CS_I32, d + 32, nullptr), "i32 out");
    invalid(cs_im2col_cpu(d, CS_F32, 2, 1, 1, 2, 2, 2, 1, 0, CS_F32, d + 32, nullptr), "layout 2");
    invalid(cs_im2col_cpu(d, CS_F32, -1, 1, 1, 2, 2, 2, 1, 0, CS_F32, d + 32, nullptr), "layout -1");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 0, 1, 2, 2, 2, 1, 0, CS_F32, d + 32, nullptr), "batch 0");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 0, 2, 2, 2, 1, 0, CS_F32, d + 32, nullptr), "channels 0");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 0, 2, 1, 1, 0, CS_F32, d + 32, nullptr), "height 0");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 2, 2, 0, 1, 0, CS_F32, d + 32, nullptr), "kernel 0");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 2, 2, 2, 0, 0, CS_F32, d + 32, nullptr), "stride 0");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 2, 2, 2, 1, -1, CS_F32, d + 32, nullptr), "padding -1");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 2, 6, 5, 1, 1, CS_F32, d + 32, nullptr), "kernel > padded height");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NHWC, 1, 1, 6, 2, 5, 1, 1, CS_F32, d + 32, nullptr), "kernel > padded width");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 2, 2, 1, 1, 0, CS_F32, d + 3, nullptr), "out overlapping x's end");
    invalid(cs_im2col_cpu(d + 8, CS_F16, CS_NCHW, 1, 1, 2, 2, 2, 1, 0, CS_F32, d + 5, nullptr), "out overlapping x's start");
    invalid(cs_im2col_cpu(d, CS_F32, CS_NCHW, 1, 1, 2, 2, 2, 1, 0, CS_F32, d, nullptr), "out = x");
}

static void test_batch_norm() {
    std::mt19937 rng(1212);
    const int shapes[][2] = {{1, 1}, {3, 7}, {17, 64}, {100, 3}, {5, 768}, {2, 1030}, {64, 256}}; // rows, channels
    for (auto &s : shapes)
        for (int dtype : {CS_F32, CS_F16, CS_BF16}) {
            const int R = s[0], C = s[1];
            const size_t n = (size_t)R * C;
            const float eps = 1e-5f;
            Tensor x = random_tensor(dtype, n, rng, -3.f, 3.f);
            const auto w = random_floats(C, rng, 0.5f, 1.5f), b = random_floats(C, rng), m = random_floats(C, rng),
                       var = random_floats(C, rng, 0.05f, 2.f);
            const auto xv = x.values();
            std::vector<double> ref(n);
            for (int r = 0; r < R; r++)
                for (int c = 0; c < C; c++)
                    ref[(size_t)r * C + c] = (xv[(size_t)r * C + c] - m[c]) / std::sqrt((double)var[c] + eps) * w[c] + b[c];
            char what[96];
            std::snprintf(what, sizeof what, "batch_norm %s rows=%d channels=%d", type_name(dtype), R, C);
            Tensor out = zeros(dtype, n);
            expect_ok(cs_batch_norm_cpu(x.data(), dtype, R, C, w.data(), b.data(), m.data(), var.data(), eps, out.data(), nullptr), what);
            expect_nmse(what, out, ref);
            Tensor in_place = x;
            expect_ok(cs_batch_norm_cpu(in_place.data(), dtype, R, C, w.data(), b.data(), m.data(), var.data(), eps,
                                        in_place.data(), nullptr), what);
            EXPECT(in_place.bytes == out.bytes, "%s in place: differs from out of place", what);
#ifdef CS_TEST_CUDA
            if (!g_gpu) continue;
            Device dev;
            void *dx = dev.upload(x), *dout = dev.output(out.bytes.size()), *dinp = dev.copy_of(x);
            float *p[4];
            const std::vector<float> *host[4] = {&w, &b, &m, &var};
            for (int i = 0; i < 4; i++) p[i] = static_cast<float *>(dev.upload(host[i]->data(), C * 4));
            const std::string wh = std::string(what) + " cuda";
            expect_ok(CUDA_CALL(cs_batch_norm_cuda, dx, dtype, R, C, p[0], p[1], p[2], p[3], eps, dout, nullptr), wh);
            expect_ok(CUDA_CALL(cs_batch_norm_cuda, dinp, dtype, R, C, p[0], p[1], p[2], p[3], eps, dinp, nullptr), wh + " in place");
            Tensor got = zeros(dtype, n);
            if (dev.download(wh, dout, got)) expect_close(wh, got, out);
            if (dev.download(wh + " in place", dinp, got)) expect_close(wh + " in place", got, out);
#endif
        }
#ifdef CS_TEST_CUDA
    if (g_gpu) {
        // RN50 layer1 (3136 × 256), narrow rows (3 channels: 4 × 64 threads a block) and wide
        // ones (9 blocks in x). Each runs past the kernel's cap of blocks in y (2048 over the
        // blocks in x), so threads loop over rows with their channel's parameters.
        const int gshapes[][2] = {{3136, 256}, {200000, 3}, {4099, 2050}};
        for (auto &s : gshapes) {
            const int R = s[0], C = s[1];
            Tensor x = random_tensor(CS_F16, (size_t)R * C, rng, -3.f, 3.f), out = zeros(CS_F16, (size_t)R * C);
            const auto w = random_floats(C, rng, 0.5f, 1.5f), b = random_floats(C, rng), m = random_floats(C, rng),
                       var = random_floats(C, rng, 0.05f, 2.f);
            char what[96];
            std::snprintf(what, sizeof what, "batch_norm f16 rows=%d channels=%d cuda", R, C);
            expect_ok(cs_batch_norm_cpu(x.data(), CS_F16, R, C, w.data(), b.data(), m.data(), var.data(), 1e-5f, out.data(), nullptr), what);
            Device dev;
            void *dx = dev.copy_of(x);
            float *p[4];
            const std::vector<float> *host[4] = {&w, &b, &m, &var};
            for (int i = 0; i < 4; i++) p[i] = static_cast<float *>(dev.upload(host[i]->data(), C * 4));
            expect_ok(CUDA_CALL(cs_batch_norm_cuda, dx, CS_F16, R, C, p[0], p[1], p[2], p[3], 1e-5f, dx, nullptr), what);
            Tensor got = zeros(CS_F16, out.count());
            if (dev.download(what, dx, got)) expect_close(what, got, out);
        }
    }
#endif
    float d[64] = {};
    auto invalid = [&](int rc, const char *what) {
        EXPECT(rc == CS_ERR_INVALID_ARGUMENT, "batch_norm %s must be rejected (rc=%d)", what, rc);
    };
    float *w = d + 48, *b = d + 52, *m = d + 56, *v = d + 60; // 4 channels each
    invalid(cs_batch_norm_cpu(nullptr, CS_F32, 2, 4, w, b, m, v, 1e-5f, d + 16, nullptr), "NULL x");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 4, w, b, m, v, 1e-5f, nullptr, nullptr), "NULL out");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 4, nullptr, b, m, v, 1e-5f, d + 16, nullptr), "NULL weight");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 4, w, nullptr, m, v, 1e-5f, d + 16, nullptr), "NULL bias");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 4, w, b, nullptr, v, 1e-5f, d + 16, nullptr), "NULL mean");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 4, w, b, m, nullptr, 1e-5f, d + 16, nullptr), "NULL var");
    invalid(cs_batch_norm_cpu(d, CS_U8, 2, 4, w, b, m, v, 1e-5f, d + 16, nullptr), "u8");
    invalid(cs_batch_norm_cpu(d, CS_F32, 0, 4, w, b, m, v, 1e-5f, d + 16, nullptr), "rows 0");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 0, w, b, m, v, 1e-5f, d + 16, nullptr), "channels 0");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 4, w, b, m, v, -1e-5f, d + 16, nullptr), "eps < 0");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 4, w, b, m, v, NAN, d + 16, nullptr), "eps NaN");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 4, w, b, m, v, INFINITY, d + 16, nullptr), "eps inf");
    invalid(cs_batch_norm_cpu(d, CS_F32, 2, 4, w, b, m, v, 1e-5f, d + 4, nullptr), "out overlapping x (not equal)");
    expect_ok(cs_batch_norm_cpu(d, CS_F32, 2, 4, w, b, m, v, 0.f, d + 16, nullptr), "batch_norm eps 0");
}

// The expected bits of relu(x[i]): x's bits where x > 0 or NaN (torch propagates NaN), else
// +0 (negative zero too: IEEE max(-0, 0) may return either zero; the header picks +0).
static Tensor relu_reference(const Tensor &x) {
    Tensor want = zeros(x.dtype, x.count());
    const size_t es = type_size(x.dtype);
    for (size_t i = 0; i < x.count(); i++) {
        const double v = x.at(i);
        if (std::isnan(v) || v > 0) std::memcpy(&want.bytes[i * es], &x.bytes[i * es], es);
    }
    return want;
}

// Elements whose bits differ (NaN payloads and the sign of zero count).
static size_t differing_bits(const Tensor &got, const Tensor &want) {
    const size_t es = type_size(want.dtype);
    size_t bad = 0;
    for (size_t i = 0; i < want.count(); i++) bad += std::memcmp(&got.bytes[i * es], &want.bytes[i * es], es) != 0;
    return bad;
}

static void test_relu() {
    std::mt19937 rng(1313);
    // Specials, as bits: +0, -0, +inf, -inf, NaN, -NaN, NaN with a payload, ± the smallest
    // subnormal, ± the largest finite value, ±1.
    const uint32_t f32_specials[] = {0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800123u,
                                     1, 0x80000001u, 0x7f7fffffu, 0xff7fffffu, 0x3f800000u, 0xbf800000u};
    const uint16_t f16_specials[] = {0, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c21, 1, 0x8001, 0x7bff, 0xfbff, 0x3c00, 0xbc00};
    const uint16_t bf16_specials[] = {0, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xffc0, 0x7f81, 1, 0x8001, 0x7f7f, 0xff7f, 0x3f80, 0xbf80};
    const int nspecial = 13;
    for (int n : {1, 7, 13, 1000, 4099})
        for (int dtype : {CS_F32, CS_F16, CS_BF16}) {
            Tensor x = random_tensor(dtype, n, rng);
            if (n >= nspecial)
                for (int i = 0; i < nspecial; i++) {
                    if (dtype == CS_F32) std::memcpy(&x.bytes[4 * i], &f32_specials[i], 4);
                    else std::memcpy(&x.bytes[2 * i], dtype == CS_F16 ? &f16_specials[i] : &bf16_specials[i], 2);
                }
            char what[64];
            std::snprintf(what, sizeof what, "relu %s n=%d", type_name(dtype), n);
            const Tensor want = relu_reference(x);
            Tensor out = zeros(dtype, n);
            std::memset(out.data(), 0xA5, out.bytes.size());
            expect_ok(cs_relu_cpu(x.data(), dtype, n, out.data(), nullptr), what);
            EXPECT(out.bytes == want.bytes, "%s: %zu elements differ from max(x, 0) with NaN kept", what, differing_bits(out, want));
            if (n >= nspecial) {
                EXPECT(std::signbit(out.at(1)) == 0 && out.at(1) == 0, "%s: relu(-0) must be +0", what);
                EXPECT(std::isnan(out.at(4)) && std::isnan(out.at(5)) && std::isnan(out.at(6)), "%s: relu(NaN) must be NaN", what);
                EXPECT(std::isinf(out.at(2)) && out.at(3) == 0 && out.at(8) == 0 && out.at(7) > 0, "%s: inf, -inf, subnormals", what);
            }
            Tensor in_place = x;
            expect_ok(cs_relu_cpu(in_place.data(), dtype, n, in_place.data(), nullptr), what);
            EXPECT(in_place.bytes == want.bytes, "%s in place: differs", what);
#ifdef CS_TEST_CUDA
            if (!g_gpu) continue;
            Device dev;
            void *dx = dev.upload(x), *dout = dev.output(out.bytes.size()), *dinp = dev.copy_of(x);
            const std::string w = std::string(what) + " cuda";
            expect_ok(CUDA_CALL(cs_relu_cuda, dx, dtype, n, dout, nullptr), w);
            expect_ok(CUDA_CALL(cs_relu_cuda, dinp, dtype, n, dinp, nullptr), w + " in place");
            Tensor got = zeros(dtype, n);
            if (dev.download(w, dout, got)) EXPECT(got.bytes == want.bytes, "%s: differs from the twin", w.c_str());
            if (dev.download(w + " in place", dinp, got)) EXPECT(got.bytes == want.bytes, "%s in place: differs from the twin", w.c_str());
#endif
        }
#ifdef CS_TEST_CUDA
    if (g_gpu) // lengths around block and grid sizes
        for (int n : {31, 33, 257, 65537, (1 << 20) + 3}) {
            Tensor x = random_tensor(CS_BF16, n, rng);
            const Tensor want = relu_reference(x);
            Device dev;
            void *dx = dev.upload(x), *dout = dev.output(x.bytes.size());
            const std::string w = "relu bf16 n=" + std::to_string(n) + " cuda";
            expect_ok(CUDA_CALL(cs_relu_cuda, dx, CS_BF16, n, dout, nullptr), w);
            Tensor got = zeros(CS_BF16, n);
            if (dev.download(w, dout, got)) EXPECT(got.bytes == want.bytes, "%s: differs from the reference", w.c_str());
        }
#endif
    float d[64] = {};
    auto invalid = [&](int rc, const char *what) {
        EXPECT(rc == CS_ERR_INVALID_ARGUMENT, "relu %s must be rejected (rc=%d)", what, rc);
    };
    invalid(cs_relu_cpu(nullptr, CS_F32, 4, d, nullptr), "NULL x");
    invalid(cs_relu_cpu(d, CS_F32, 4, nullptr, nullptr), "NULL out");
    invalid(cs_relu_cpu(d, CS_I32, 4, d + 16, nullptr), "i32");
    invalid(cs_relu_cpu(d, CS_F32, 0, d + 16, nullptr), "n 0");
    invalid(cs_relu_cpu(d, CS_F16, 8, d + 1, nullptr), "out overlapping x (not equal)");
}

static void test_avg_pool() {
    std::mt19937 rng(1414);
    // B, H, W, C, kernel_h, kernel_w
    const int shapes[][6] = {
        {1, 1, 1, 1, 1, 1},    // identity
        {1, 2, 2, 1, 2, 2},    // one window
        {2, 8, 6, 5, 2, 2},    // AvgPool2d(2), even sides
        {1, 7, 10, 3, 3, 3},   // AvgPool2d(3) with remainders 1 and 1 (dropped)
        {2, 5, 7, 4, 5, 7},    // kernel = the image: the mean over all positions
        {1, 7, 7, 64, 7, 7},   // RN50's last grid, global mean
        {1, 56, 56, 3, 56, 56},// a 3136-term mean
        {1, 6, 9, 4, 2, 3},    // kernel_h ≠ kernel_w
        {2, 11, 13, 6, 4, 3},  // kernel_h ≠ kernel_w with remainders 3 and 1
        {1, 9, 4, 2, 3, 1},    // a column kernel
        {3, 4, 8, 300, 2, 2},  // channels over more than one block
    };
    for (auto &s : shapes)
        for (int dtype : {CS_F32, CS_F16, CS_BF16}) {
            const int B = s[0], H = s[1], W = s[2], C = s[3], kh = s[4], kw = s[5], oh = H / kh, ow = W / kw;
            Tensor x = random_tensor(dtype, (size_t)B * H * W * C, rng);
            const auto xv = x.values();
            std::vector<double> ref((size_t)B * oh * ow * C);
            for (int b = 0; b < B; b++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                        for (int c = 0; c < C; c++) {
                            double sum = 0;
                            for (int y = oy * kh; y < (oy + 1) * kh; y++)
                                for (int xx = ox * kw; xx < (ox + 1) * kw; xx++) sum += xv[(((size_t)b * H + y) * W + xx) * C + c];
                            ref[(((size_t)b * oh + oy) * ow + ox) * C + c] = sum / (kh * kw);
                        }
            char what[96];
            std::snprintf(what, sizeof what, "avg_pool %s B=%d %dx%d C=%d k=%dx%d", type_name(dtype), B, H, W, C, kh, kw);
            Tensor out = zeros(dtype, ref.size());
            std::memset(out.data(), 0xFF, out.bytes.size());
            expect_ok(cs_avg_pool_cpu(x.data(), dtype, B, H, W, C, kh, kw, out.data(), nullptr), what);
            expect_nmse(what, out, ref);
#ifdef CS_TEST_CUDA
            if (!g_gpu) continue;
            Device dev;
            void *dx = dev.upload(x), *dout = dev.output(out.bytes.size());
            const std::string w = std::string(what) + " cuda";
            expect_ok(CUDA_CALL(cs_avg_pool_cuda, dx, dtype, B, H, W, C, kh, kw, dout, nullptr), w);
            Tensor got = zeros(dtype, out.count());
            if (dev.download(w, dout, got)) expect_close(w, got, out);
#endif
        }
#ifdef CS_TEST_CUDA
    if (g_gpu) { // RN50 shapes, wide channels, more rows than grid.y
        const int gshapes[][6] = {{1, 56, 56, 256, 2, 2}, {2, 7, 7, 2048, 7, 7}, {1, 264, 264, 256, 1, 1}, {1, 15, 17, 1030, 3, 2}};
        for (auto &s : gshapes) {
            const int B = s[0], H = s[1], W = s[2], C = s[3], kh = s[4], kw = s[5];
            Tensor x = random_tensor(CS_F16, (size_t)B * H * W * C, rng), out = zeros(CS_F16, (size_t)B * (H / kh) * (W / kw) * C);
            char what[96];
            std::snprintf(what, sizeof what, "avg_pool f16 B=%d %dx%d C=%d k=%dx%d cuda", B, H, W, C, kh, kw);
            expect_ok(cs_avg_pool_cpu(x.data(), CS_F16, B, H, W, C, kh, kw, out.data(), nullptr), what);
            Device dev;
            void *dx = dev.upload(x), *dout = dev.output(out.bytes.size());
            expect_ok(CUDA_CALL(cs_avg_pool_cuda, dx, CS_F16, B, H, W, C, kh, kw, dout, nullptr), what);
            Tensor got = zeros(CS_F16, out.count());
            if (dev.download(what, dout, got)) expect_close(what, got, out);
        }
    }
#endif
    float d[64] = {};
    auto invalid = [&](int rc, const char *what) {
        EXPECT(rc == CS_ERR_INVALID_ARGUMENT, "avg_pool %s must be rejected (rc=%d)", what, rc);
    };
    expect_ok(cs_avg_pool_cpu(d, CS_F32, 1, 4, 4, 2, 2, 2, d + 32, nullptr), "avg_pool small valid call");
    invalid(cs_avg_pool_cpu(nullptr, CS_F32, 1, 4, 4, 2, 2, 2, d + 32, nullptr), "NULL x");
    invalid(cs_avg_pool_cpu(d, CS_F32, 1, 4, 4, 2, 2, 2, nullptr, nullptr), "NULL out");
    invalid(cs_avg_pool_cpu(d, CS_U8, 1, 4, 4, 2, 2, 2, d + 32, nullptr), "u8");
    invalid(cs_avg_pool_cpu(d, CS_F32, 0, 4, 4, 2, 2, 2, d + 32, nullptr), "batch 0");
    invalid(cs_avg_pool_cpu(d, CS_F32, 1, 4, 4, 0, 2, 2, d + 32, nullptr), "channels 0");
    invalid(cs_avg_pool_cpu(d, CS_F32, 1, 4, 4, 2, 0, 2, d + 32, nullptr), "kernel_h 0");
    invalid(cs_avg_pool_cpu(d, CS_F32, 1, 4, 4, 2, 2, 0, d + 32, nullptr), "kernel_w 0");
    invalid(cs_avg_pool_cpu(d, CS_F32, 1, 4, 4, 2, 5, 2, d + 32, nullptr), "kernel_h > height");
    invalid(cs_avg_pool_cpu(d, CS_F32, 1, 4, 4, 2, 2, 5, d + 32, nullptr), "kernel_w > width");
    invalid(cs_avg_pool_cpu(d, CS_F32, 1, 4, 4, 2, 2, 2, d + 30, nullptr), "out overlapping x");
    invalid(cs_avg_pool_cpu(d, CS_F32, 1, 4, 4, 2, 2, 2, d, nullptr), "out = x");
}

// ================================ the kernels at awkward shapes ================================

#ifdef CS_TEST_CUDA
// One dual-attention case, kernel against twin only (the twin is checked against the reference
// above; the point here is the kernel at shapes a reference would be slow for). qkv is placed
// `misalign` bytes past a 16-byte boundary: f16/bf16 then take the SIMT kernel instead of the
// tensor-core one.
static void dual_attention_vs_twin(std::mt19937 &rng, int dtype, int B, int N, int C, int H, int paths, size_t misalign) {
    const float scale = 1.f / std::sqrt((float)(C / H));
    Tensor qkv = random_tensor(dtype, (size_t)B * N * 3 * C, rng, -1.5f, 1.5f);
    Tensor ori = zeros(dtype, (size_t)B * N * C), vv = ori;
    void *o = paths & 1 ? ori.data() : nullptr, *v = paths & 2 ? vv.data() : nullptr;
    char what[160];
    std::snprintf(what, sizeof what, "attention_dual %s B=%d N=%d C=%d H=%d paths=%d%s", type_name(dtype), B, N, C, H, paths,
                  misalign ? " (qkv not 16-byte aligned)" : "");
    expect_ok(cs_attention_dual_cpu(qkv.data(), dtype, B, N, C, H, scale, o, v, nullptr), what);
    Device dev;
    std::vector<uint8_t> shifted(qkv.bytes.size() + misalign);
    std::memcpy(shifted.data() + misalign, qkv.data(), qkv.bytes.size());
    char *dq = static_cast<char *>(dev.upload(shifted.data(), shifted.size())) + misalign;
    void *go = o ? dev.output(ori.bytes.size()) : nullptr, *gv = v ? dev.output(vv.bytes.size()) : nullptr;
    const std::string w = std::string(what) + " cuda";
    expect_ok(CUDA_CALL(cs_attention_dual_cuda, dq, dtype, B, N, C, H, scale, go, gv, nullptr), w);
    Tensor got = zeros(dtype, ori.count());
    if (go && dev.download(w + " ori", go, got)) expect_close(w + " ori", got, ori);
    if (gv && dev.download(w + " vv", gv, got)) expect_close(w + " vv", got, vv);
}
#endif

// Token counts of real models (ViT-B/32 at 224 px: 50, B/16: 197, L/14: 257, L/14@336: 577,
// B/16 at 512: 1025; the text encoder: 77) and counts that fill no tile (1, 17), every head dim
// the dual kernel compiles, batch 1 and 3, every path, aligned and unaligned inputs; single-path
// attention causal and not, with packed, separate, shared and unaligned-stride inputs; the
// methods' self-attention modes in turn where the count is 1 + grid² (to 257, then two at 577).
static void test_attention_awkward_shapes() {
#ifdef CS_TEST_CUDA
    if (!g_gpu) return;
    std::mt19937 rng(2401);
    const int tokens[] = {1, 17, 50, 77, 197, 257, 577, 1025};
    const int dims[] = {32, 64, 80, 128};
    const int dtypes[] = {CS_F32, CS_F16, CS_BF16};
    const QkvLayout layouts[] = {QkvLayout::Packed, QkvLayout::Separate, QkvLayout::Same, QkvLayout::Strided};
    int k = 0;
    for (int N : tokens)
        for (int D : dims) {
            // Long sequences cost N² on both sides: one type per (N, head dim), rotating, batch 1.
            const bool long_sequence = N >= 577;
            for (int t = 0; t < 3; t++) {
                if (long_sequence && t != k % 3) continue;
                const int dtype = dtypes[t], v = k + t;
                const int B = long_sequence ? 1 : v % 2 ? 3 : 1, H = long_sequence ? 1 : 2;
                const size_t misalign = dtype != CS_F32 && v % 2 ? 2 * (size_t)(1 + v % 4) : 0; // 2, 4, 6 or 8 bytes
                dual_attention_vs_twin(rng, dtype, B, N, H * D, H, 1 + v % 3, misalign);
                attention_case(rng, dtype, B, N, H * D, H, v % 2 == 0, layouts[v % 4], false);
                // the methods' modes, rotating, on the token counts that are 1 + grid² (up to 257)
                const int g = (int)std::lround(std::sqrt((double)(N - 1)));
                if (g >= 1 && g * g == N - 1 && N <= 257)
                    self_attention_case(rng, dtype, B, g, H * D, H, v % (CS_ATTN_GEM + 1), false);
            }
            k++;
        }
    // The longest sequence of the issue's list (ViT-B/16 at 784 px), once; GEM (four launches)
    // and NACLIP's bias at ViT-L/14@336's 577 tokens, once each.
    dual_attention_vs_twin(rng, CS_F16, 1, 2401, 64, 1, 3, 0);
    self_attention_case(rng, CS_F16, 1, 24, 64, 1, CS_ATTN_GEM, false);
    self_attention_case(rng, CS_BF16, 1, 24, 64, 1, CS_ATTN_KK_GAUSSIAN, false);
#endif
}

// Feature surgery on the GPU keeps a token's channels and label scores in shared memory: the
// largest size the CUDA entry point accepts must launch (before, C + T up to 12288 was accepted
// and the launch then failed for want of shared memory), the next one is refused up front.
// Batches past 65535 (the grid's y limit) must work too.
static void test_feature_surgery_cuda_limits() {
#ifdef CS_TEST_CUDA
    if (!g_gpu) return;
    std::mt19937 rng(12288);
    auto run = [&](int B, int N, int C, int T, bool redundant_mode) -> int {
        Tensor img = random_tensor(CS_F16, (size_t)B * N * C, rng);
        std::vector<float> text = random_floats((size_t)T * C, rng), redundant = random_floats(C, rng);
        const float *r = redundant_mode ? redundant.data() : nullptr;
        Tensor out = zeros(CS_F32, (size_t)B * N * T);
        expect_ok(cs_feature_surgery_cpu(img.data(), CS_F16, B, N, C, text.data(), T, r, static_cast<float *>(out.data()), nullptr),
                  "feature_surgery cpu at a CUDA limit");
        Device dev;
        void *di = dev.upload(img), *dt = dev.upload(text.data(), text.size() * 4);
        void *dr = r ? dev.upload(r, C * 4) : nullptr, *dout = dev.output(out.bytes.size());
        const int rc = CUDA_CALL(cs_feature_surgery_cuda, di, CS_F16, B, N, C, static_cast<float *>(dt), T,
                                 static_cast<float *>(dr), static_cast<float *>(dout), nullptr);
        char what[128];
        std::snprintf(what, sizeof what, "feature_surgery f16 B=%d N=%d C=%d T=%d%s cuda", B, N, C, T, r ? " redundant" : "");
        if (rc == CS_OK) {
            Tensor got = zeros(CS_F32, out.count());
            if (dev.download(what, dout, got)) expect_close(what, got, out);
        }
        return rc;
    };
    const int most = 12224; // channels + labels (the header's CUDA limit)
    for (bool redundant_mode : {false, true}) {
        expect_ok(run(1, 2, 768, most - 768, redundant_mode), "feature_surgery cuda with channels + labels at the limit");
        const int rc = run(1, 2, 768, most - 767, redundant_mode);
        EXPECT(rc == CS_ERR_UNSUPPORTED, "feature_surgery cuda past the limit: rc=%d (%s), want CS_ERR_UNSUPPORTED", rc, cs_last_error());
        // Every size the entry point accepts launches: 12288 was accepted and could not launch.
        const int rc2 = run(1, 2, 4096, 8192, redundant_mode);
        EXPECT(rc2 == CS_OK || rc2 == CS_ERR_UNSUPPORTED, "feature_surgery cuda with C + T = 12288: rc=%d (%s)", rc2, cs_last_error());
    }
    // (redundant mode: one launch of 2 × 65535 blocks instead of three, the emulation's cost)
    expect_ok(run(65537, 2, 8, 3, true), "feature_surgery cuda with 65537 images");
#endif
}

// A launch reports its own error: an earlier failed CUDA call (here an allocation the device
// cannot hold, whose error the runtime keeps as the thread's last error) is not reported by the
// next entry point that launches a kernel. (On a GPU this test binary may hold another copy of
// the runtime than the library's; on the emulation there is one.)
static void test_launch_reports_its_own_error() {
#ifdef CS_TEST_CUDA
    if (!g_gpu) return;
    void *huge = nullptr;
    EXPECT(cudaMalloc(&huge, (size_t)1 << 62) != cudaSuccess, "a 4 EiB allocation must fail");
    std::mt19937 rng(35);
    Tensor x = random_tensor(CS_F32, 300, rng), want = x;
    expect_ok(cs_relu_cpu(x.data(), CS_F32, 300, want.data(), nullptr), "relu cpu");
    Device dev;
    void *dx = dev.upload(x), *dout = dev.output(x.bytes.size());
    expect_ok(CUDA_CALL(cs_relu_cuda, dx, CS_F32, 300, dout, nullptr), "relu cuda after a failed cudaMalloc");
    Tensor got = zeros(CS_F32, 300);
    if (dev.download("relu cuda after a failed cudaMalloc", dout, got))
        EXPECT(got.bytes == want.bytes, "relu cuda after a failed cudaMalloc: differs from the twin");
    cudaGetLastError();
#endif
}

// Kernel-vs-twin comparisons per CUDA entry point of the header: every one must have run.
static void report_cuda_coverage() {
#if defined(CS_TEST_CUDA) && defined(CS_CUDA_ENTRY_POINTS)
    if (!g_gpu) return;
    std::vector<std::string> entries;
    const std::string list = CS_CUDA_ENTRY_POINTS;
    for (size_t at = 0; at < list.size();) {
        const size_t comma = std::min(list.find(',', at), list.size());
        entries.push_back(list.substr(at, comma - at));
        at = comma + 1;
    }
    std::printf("kernel-vs-twin comparisons per CUDA entry point (include/clip_surgery.h), and the largest\n"
                "error seen as a fraction of its tolerance (exact comparisons: 0):\n");
    int total = 0;
    for (const auto &e : entries) {
        const int n = g_comparisons.count(e) ? g_comparisons[e] : 0;
        total += n;
        std::printf("  %-28s %6d  %.3f\n", e.c_str(), n, g_worst.count(e) ? g_worst[e] : 0.0);
        EXPECT(n > 0, "%s: no kernel-vs-twin comparison ran", e.c_str());
    }
    for (const auto &c : g_comparisons)
        EXPECT(std::find(entries.begin(), entries.end(), c.first) != entries.end(), "%d comparisons counted for %s, not in the header",
               c.second, c.first.c_str());
    std::printf("  %-28s %6d\n", "total", total);
#endif
}

// Every CUDA entry point on a library without CUDA (or without a device) fails cleanly.
static void test_cuda_entry_points_fail_cleanly() {
    if (g_gpu) return;
    float d[64] = {};
    int32_t ip[64];
    const int expected = cs_cuda_built() ? CS_ERR_CUDA : CS_ERR_NO_CUDA;
    auto expect_status = [&](int rc, const char *name) {
        // Without a device a launch fails with a CUDA error; without CUDA, CS_ERR_NO_CUDA.
        EXPECT(rc == expected || (cs_cuda_built() && rc == CS_ERR_OUT_OF_MEMORY), "%s without a GPU: rc=%d (%s)", name, rc, cs_last_error());
        EXPECT(cs_last_error()[0] != 0, "%s: no message", name);
    };
    expect_status(CUDA_CALL(cs_feature_surgery_cuda, d, CS_F32, 1, 2, 1, d, 1, nullptr, d, nullptr), "feature_surgery_cuda");
    std::vector<float> qkv(2 * 3 * 64 + 2 * 64); // qkv (1, 2, 3·64), then the output
    expect_status(CUDA_CALL(cs_attention_dual_cuda, qkv.data(), CS_F32, 1, 2, 64, 1, 1.f, qkv.data() + 2 * 3 * 64, nullptr, nullptr),
                  "attention_dual_cuda");
    expect_status(CUDA_CALL(cs_map_upsample_cuda, d, 1, 5, 1, 2, 2, CS_LAYOUT_BTHW, CS_F32, d, nullptr), "map_upsample_cuda");
    expect_status(CUDA_CALL(cs_map_labels_cuda, d, 1, 5, 1, 2, 2, 0.f, 0, CS_I32, d, nullptr), "map_labels_cuda");
    expect_status(CUDA_CALL(cs_map_points_cuda, d, 1, 5, 1, 2, 2, 0.8f, 1, ip, ip + 8, nullptr), "map_points_cuda");
    expect_status(CUDA_CALL(cs_preprocess_cuda, reinterpret_cast<uint8_t *>(d), 2, 2, 6, CS_RGB, 2, 2, CS_F32, d, nullptr), "preprocess_cuda");
    expect_status(CUDA_CALL(cs_layer_norm_cuda, d, CS_F32, 1, 4, d, d, 1e-5f, d, nullptr), "layer_norm_cuda");
    expect_status(CUDA_CALL(cs_bias_quick_gelu_cuda, d, CS_F32, 1, 4, d + 8, d, nullptr), "bias_quick_gelu_cuda");
    expect_status(CUDA_CALL(cs_bias_gelu_cuda, d, CS_F32, 1, 4, d + 8, d, nullptr), "bias_gelu_cuda");
    expect_status(CUDA_CALL(cs_add_cuda, d, d + 4, d + 8, 1, d + 12, CS_F32, 1, 4, d + 16, nullptr), "add_cuda");
    expect_status(CUDA_CALL(cs_convert_cuda, d, CS_F32, 4, d + 16, CS_F16, nullptr), "convert_cuda");
    expect_status(CUDA_CALL(cs_gather_rows_cuda, d, 2, 8, ip, 1, d + 16, nullptr), "gather_rows_cuda");
    expect_status(CUDA_CALL(cs_attention_cuda, d, d + 1, d + 2, 12, CS_F32, 1, 2, 4, 2, 0.5f, 1, d + 32, nullptr), "attention_cuda");
    expect_status(CUDA_CALL(cs_embed_tokens_cuda, d, CS_F32, 1, 1, 4, d, d, 1, d + 16, nullptr), "embed_tokens_cuda");
    expect_status(CUDA_CALL(cs_class_token_copy_cuda, d, d + 8, CS_F32, 1, 1, 4, nullptr), "class_token_copy_cuda");
    expect_status(CUDA_CALL(cs_l2_normalize_cuda, d, CS_F32, 1, 4, d, nullptr), "l2_normalize_cuda");
    expect_status(CUDA_CALL(cs_im2col_cuda, d, CS_F32, CS_NHWC, 1, 1, 2, 2, 2, 2, 0, CS_BF16, d + 16, nullptr), "im2col_cuda");
    expect_status(CUDA_CALL(cs_batch_norm_cuda, d, CS_F16, 2, 4, d + 8, d + 12, d + 16, d + 20, 1e-5f, d, nullptr), "batch_norm_cuda");
    expect_status(CUDA_CALL(cs_relu_cuda, d, CS_BF16, 8, d, nullptr), "relu_cuda");
    expect_status(CUDA_CALL(cs_avg_pool_cuda, d, CS_F32, 1, 2, 2, 4, 2, 2, d + 16, nullptr), "avg_pool_cuda");
    // Arguments are checked before CUDA is touched, in every build.
    EXPECT(CUDA_CALL(cs_attention_dual_cuda, nullptr, CS_F32, 1, 2, 64, 1, 1.f, d, nullptr, nullptr) ==
               (cs_cuda_built() ? CS_ERR_INVALID_ARGUMENT : CS_ERR_NO_CUDA),
           "attention_dual_cuda with NULL qkv");
    EXPECT(CUDA_CALL(cs_attention_cuda, d, nullptr, d, 4, CS_F32, 1, 2, 4, 1, 1.f, 0, d + 32, nullptr) ==
               (cs_cuda_built() ? CS_ERR_INVALID_ARGUMENT : CS_ERR_NO_CUDA),
           "attention_cuda with NULL k");
    EXPECT(CUDA_CALL(cs_add_cuda, d, nullptr, d + 8, 3, nullptr, CS_F32, 4, 2, d + 16, nullptr) ==
               (cs_cuda_built() ? CS_ERR_INVALID_ARGUMENT : CS_ERR_NO_CUDA),
           "add_cuda with b_rows not dividing rows");
    const int invalid_or_no_cuda = cs_cuda_built() ? CS_ERR_INVALID_ARGUMENT : CS_ERR_NO_CUDA;
    EXPECT(CUDA_CALL(cs_im2col_cuda, d, CS_F32, 2, 1, 1, 2, 2, 2, 2, 0, CS_F32, d + 16, nullptr) == invalid_or_no_cuda,
           "im2col_cuda with layout 2");
    EXPECT(CUDA_CALL(cs_im2col_cuda, d, CS_F32, CS_NCHW, 1, 1, 2, 2, 2, 1, 0, CS_F32, d + 2, nullptr) == invalid_or_no_cuda,
           "im2col_cuda with out overlapping x");
    EXPECT(CUDA_CALL(cs_batch_norm_cuda, d, CS_F32, 2, 4, d + 8, nullptr, d + 16, d + 20, 1e-5f, d, nullptr) == invalid_or_no_cuda,
           "batch_norm_cuda with NULL bias");
    EXPECT(CUDA_CALL(cs_relu_cuda, d, CS_F32, 8, d + 1, nullptr) == invalid_or_no_cuda, "relu_cuda with a partial overlap");
    EXPECT(CUDA_CALL(cs_bias_gelu_cuda, d, CS_F32, 2, 4, nullptr, d + 1, nullptr) == invalid_or_no_cuda,
           "bias_gelu_cuda with a partial overlap");
    EXPECT(CUDA_CALL(cs_bias_gelu_cuda, d, CS_I32, 2, 4, nullptr, d + 16, nullptr) == invalid_or_no_cuda,
           "bias_gelu_cuda with an integer dtype");
    EXPECT(CUDA_CALL(cs_avg_pool_cuda, d, CS_F32, 1, 2, 2, 4, 3, 2, d + 16, nullptr) == invalid_or_no_cuda,
           "avg_pool_cuda with kernel_h > height");
}

// Arguments: names of groups to run (default: all), e.g. `test-native-emu single_attention`.
int main(int argc, char **argv) {
    int count = 0;
    const int rc = cs_cuda_device_count(&count);
    g_gpu = rc == CS_OK && count > 0;
#ifndef CS_TEST_CUDA
    g_gpu = false;
#endif
    std::printf("clip_surgery %s, CUDA built: %d, devices: %d\n", cs_version(), cs_cuda_built(), g_gpu ? count : 0);
    // Each group with its time: the emulation makes the CUDA half far slower than the twins'.
    const std::pair<const char *, void (*)()> groups[] = {
        {"attention", test_attention},
        {"self_attention", test_self_attention},
        {"feature_surgery", test_feature_surgery},
        {"map_upsample", test_map_upsample},
        {"map_labels", test_map_labels},
        {"map_points", test_map_points},
        {"map_degenerate", test_map_degenerate},
        {"preprocess", test_preprocess},
        {"engine_ops", test_engine_ops},
        {"add", test_add},
        {"convert", test_convert},
        {"im2col", test_im2col},
        {"batch_norm", test_batch_norm},
        {"relu", test_relu},
        {"avg_pool", test_avg_pool},
        {"gather_rows", test_gather_rows},
        {"single_attention", test_single_attention},
        {"attention_awkward_shapes", test_attention_awkward_shapes},
        {"feature_surgery_cuda_limits", test_feature_surgery_cuda_limits},
        {"launch_reports_its_own_error", test_launch_reports_its_own_error},
        {"cuda_entry_points_fail_cleanly", test_cuda_entry_points_fail_cleanly},
    };
    const std::vector<std::string> only(argv + 1, argv + argc);
    for (const auto &g : groups) {
        if (!only.empty() && std::find(only.begin(), only.end(), g.first) == only.end()) continue;
        const auto start = std::chrono::steady_clock::now();
        const int failed_before = failures;
        g.second();
        std::printf("%-32s %7.1f s%s\n", g.first,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                    failures > failed_before ? "  (failures above)" : "");
    }
    if (!g_gpu) std::printf("GPU checks skipped: no CUDA device (kernels vs twins not run)\n");
    if (only.empty()) report_cuda_coverage();
    std::printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}

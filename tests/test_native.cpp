// Native tests: each CPU twin against a plain reference on fresh random inputs.
// (Kernel-vs-twin comparisons on a GPU are added by the kernels work.)
#include "clip_surgery.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

static int failures = 0;

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                                       \
            std::printf(__VA_ARGS__);                                                              \
            std::printf("\n");                                                                     \
        }                                                                                          \
    } while (0)

// Official formulation: the N×T×C tensor, summed, in double precision.
static void feature_surgery_reference(const std::vector<float> &img, int B, int N, int C,
                                      const std::vector<float> &text, int T,
                                      std::vector<double> &out) {
    out.assign((size_t)B * N * T, 0.0);
    for (int b = 0; b < B; b++) {
        std::vector<double> xs((size_t)N * C);
        for (int i = 0; i < N; i++) {
            double n = 0;
            for (int k = 0; k < C; k++) n += (double)img[(b * N + i) * C + k] * img[(b * N + i) * C + k];
            n = std::sqrt(n);
            for (int k = 0; k < C; k++) xs[i * C + k] = img[(b * N + i) * C + k] / n;
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
                for (int t = 0; t < T; t++) m += xs[i * C + k] * text[t * C + k] * (p[t] / mean_p);
                m /= T;
                for (int t = 0; t < T; t++)
                    out[((size_t)b * N + i) * T + t] += xs[i * C + k] * text[t * C + k] * (p[t] / mean_p) - m;
            }
    }
}

static void test_feature_surgery() {
    std::mt19937 rng(1234);
    std::normal_distribution<float> normal;
    const int shapes[][4] = {{1, 2, 1, 1}, {1, 65, 64, 7}, {2, 17, 33, 5}, {3, 50, 128, 59}};
    for (auto &s : shapes) {
        const int B = s[0], N = s[1], C = s[2], T = s[3];
        std::vector<float> img((size_t)B * N * C), text((size_t)T * C), out((size_t)B * N * T);
        for (auto &v : img) v = normal(rng);
        for (int t = 0; t < T; t++) {
            double n = 0;
            for (int k = 0; k < C; k++) n += std::pow(text[t * C + k] = normal(rng), 2);
            for (int k = 0; k < C; k++) text[t * C + k] /= (float)std::sqrt(n);
        }
        int rc = cs_feature_surgery_cpu(img.data(), CS_F32, B, N, C, text.data(), T, nullptr,
                                        out.data(), nullptr);
        EXPECT(rc == CS_OK, "feature_surgery_cpu rc=%d %s", rc, cs_last_error());
        std::vector<double> ref;
        feature_surgery_reference(img, B, N, C, text, T, ref);
        double worst = 0;
        for (size_t j = 0; j < ref.size(); j++)
            worst = std::fmax(worst, std::fabs(out[j] - ref[j]) / (1e-6 + std::fabs(ref[j])));
        EXPECT(worst < 1e-3 || T == 1, "feature_surgery B=%d N=%d C=%d T=%d: rel err %g", B, N, C,
               T, worst);
    }
    float dummy[4] = {};
    EXPECT(cs_feature_surgery_cpu(nullptr, CS_F32, 1, 2, 1, dummy, 1, nullptr, dummy, nullptr) ==
               CS_ERR_INVALID_ARGUMENT,
           "NULL image must be rejected");
    EXPECT(cs_feature_surgery_cpu(dummy, 7, 1, 2, 1, dummy, 1, nullptr, dummy, nullptr) ==
               CS_ERR_INVALID_ARGUMENT,
           "unknown dtype must be rejected");
}

int main() {
    std::printf("clip_surgery %s, CUDA built: %d\n", cs_version(), cs_cuda_built());
    test_feature_surgery();
    std::printf(failures ? "native tests: %d FAILED\n" : "native tests: all passed\n", failures);
    return failures ? 1 : 0;
}

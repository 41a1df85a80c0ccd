// CPU twin of cs_feature_surgery_cuda: feature surgery as one GEMM plus a row mean.
#include "common.h"

#include <cmath>
#include <vector>

namespace {

// Per image: normalise tokens, similarity GEMM, then either label-set weights + row-mean
// subtraction or the redundant-feature difference.
void feature_surgery_image(const void *image, int dtype, int64_t b, int64_t n_tokens, int64_t c,
                           const float *text, int64_t n_labels, const float *redundant,
                           float *out) {
    std::vector<float> x(c);
    std::vector<float> dots(n_labels);
    std::vector<float> weights(n_labels, 1.0f);
    std::vector<float> shifted; // text - r, redundant mode only
    if (redundant) {
        shifted.resize(n_labels * c);
        for (int64_t t = 0; t < n_labels; t++)
            for (int64_t k = 0; k < c; k++) shifted[t * c + k] = text[t * c + k] - redundant[k];
    }
    const float *rhs = redundant ? shifted.data() : text;
    const int64_t base = b * n_tokens * c;

    for (int64_t i = 0; i < n_tokens; i++) {
        double sq = 0.0;
        for (int64_t k = 0; k < c; k++) {
            x[k] = cs::load_as_float(image, dtype, base + i * c + k);
            sq += (double)x[k] * x[k];
        }
        const float inv = 1.0f / (float)std::sqrt(sq);
        for (int64_t t = 0; t < n_labels; t++) {
            double acc = 0.0;
            for (int64_t k = 0; k < c; k++) acc += (double)x[k] * rhs[t * c + k];
            dots[t] = (float)(acc * inv);
        }
        float *row = out + (b * n_tokens + i) * n_labels;
        if (redundant) {
            for (int64_t t = 0; t < n_labels; t++) row[t] = dots[t];
            continue;
        }
        if (i == 0) { // class token: w = softmax(2 * x0 . t) / mean(softmax) = T * softmax
            float mx = -INFINITY;
            for (int64_t t = 0; t < n_labels; t++) mx = std::fmax(mx, 2.0f * dots[t]);
            double z = 0.0;
            for (int64_t t = 0; t < n_labels; t++) z += std::exp((double)(2.0f * dots[t] - mx));
            for (int64_t t = 0; t < n_labels; t++)
                weights[t] = (float)(std::exp((double)(2.0f * dots[t] - mx)) / z * n_labels);
        }
        double mean = 0.0;
        for (int64_t t = 0; t < n_labels; t++) mean += (double)weights[t] * dots[t];
        mean /= (double)n_labels;
        for (int64_t t = 0; t < n_labels; t++) row[t] = (float)(weights[t] * dots[t] - mean);
    }
}

} // namespace

int cs::check_feature_surgery_args(const void *image, int image_dtype, int64_t batch,
                                   int64_t tokens, int64_t channels, const float *text,
                                   int64_t labels, const float *out) {
    CS_CHECK_ARG(image && text && out, "feature_surgery: image, text and out must not be NULL");
    CS_CHECK_ARG(cs::dtype_size(image_dtype) != 0, "feature_surgery: unknown image dtype");
    CS_CHECK_ARG(batch >= 1 && tokens >= 2 && channels >= 1 && labels >= 1,
                 "feature_surgery: need batch >= 1, tokens >= 2, channels >= 1, labels >= 1");
    CS_CHECK_ARG(batch <= (1 << 20) && tokens <= (1 << 20) && channels <= (1 << 16) &&
                     labels <= (1 << 20) && batch * tokens * labels <= ((int64_t)1 << 40),
                 "feature_surgery: shape too large");
    return CS_OK;
}

extern "C" int cs_feature_surgery_cpu(const void *image, int image_dtype, int64_t batch,
                                      int64_t tokens, int64_t channels, const float *text,
                                      int64_t labels, const float *redundant, float *out,
                                      cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_feature_surgery_args(image, image_dtype, batch, tokens, channels, text,
                                                labels, out))
        return rc;
    for (int64_t b = 0; b < batch; b++)
        feature_surgery_image(image, image_dtype, b, tokens, channels, text, labels, redundant,
                              out);
    return CS_OK;
}

// CPU twins of the attention kernels (cuda/attention.cu):
//  - cs_attention_dual_cpu: per image and head, softmax(s·q·kᵀ)·v and softmax(s·v·vᵀ)·v straight
//    from the packed (B, N, 3·C) in_proj output;
//  - cs_attention_cpu: one path, q, k, v with strided rows, optionally causal;
//  - cs_self_attention_cpu: the training-free methods' modes, a sum of self-self attentions
//    (q·qᵀ, k·kᵀ, v·vᵀ, NACLIP's Gaussian bias, GEM's normalised iteration) in the kernels' stages.
#include "common.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// One head of single-path attention. q, k, v: rows `stride` elements apart, head h at columns
// h·d..h·d+d-1; out (B, N, C). causal: query i sees keys 0..i. Scores of one query row at a
// time (N floats); fp32 dot, scale, max, exp, sum, weighted sum, divide (the kernels' order).
void attention_single_head(const void *q, const void *k, const void *v, int64_t stride, int dtype,
                           int64_t b, int64_t n, int64_t c, int64_t h, int64_t d, float scale,
                           bool causal, void *out) {
    const int64_t base = b * n * stride + h * d;
    std::vector<float> keys(n * d), values(n * d), qr(d), p(n), acc(d);
    for (int64_t j = 0; j < n; j++)
        for (int64_t e = 0; e < d; e++) {
            keys[j * d + e] = cs::load_as_float(k, dtype, base + j * stride + e);
            values[j * d + e] = cs::load_as_float(v, dtype, base + j * stride + e);
        }
    for (int64_t i = 0; i < n; i++) {
        const int64_t nk = causal ? i + 1 : n;
        for (int64_t e = 0; e < d; e++) qr[e] = cs::load_as_float(q, dtype, base + i * stride + e);
        float mx = -INFINITY;
        for (int64_t j = 0; j < nk; j++) {
            float s = 0.f;
            for (int64_t e = 0; e < d; e++) s += qr[e] * keys[j * d + e];
            p[j] = s * scale;
            mx = std::fmax(mx, p[j]);
        }
        float z = 0.f;
        for (int64_t j = 0; j < nk; j++) z += (p[j] = std::exp(p[j] - mx));
        for (int64_t e = 0; e < d; e++) acc[e] = 0.f;
        for (int64_t j = 0; j < nk; j++)
            for (int64_t e = 0; e < d; e++) acc[e] += p[j] * values[j * d + e];
        for (int64_t e = 0; e < d; e++)
            cs::store_from_float(out, dtype, (b * n + i) * c + h * d + e, acc[e] / z);
    }
}

} // namespace

int cs::check_attention_args(const void *q, const void *k, const void *v, int64_t row_stride,
                             int dtype, int64_t batch, int64_t tokens, int64_t channels,
                             int64_t heads, float scale, int causal, const void *out) {
    CS_CHECK_ARG(q && k && v && out, "attention: q, k, v and out must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "attention: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(batch >= 1 && tokens >= 1 && channels >= 1 && heads >= 1,
                 "attention: need batch, tokens, channels, heads >= 1");
    CS_CHECK_ARG(channels % heads == 0, "attention: channels must be a multiple of heads");
    CS_CHECK_ARG(row_stride >= channels, "attention: row_stride must be >= channels");
    CS_CHECK_ARG(batch <= 65535 && heads <= 65535 && tokens <= (1 << 24) && channels <= (1 << 16) &&
                     row_stride <= (1 << 20) && (double)batch * tokens * row_stride <= 1099511627776.0,
                 "attention: shape too large");
    CS_CHECK_ARG(std::isfinite(scale), "attention: scale must be finite");
    CS_CHECK_ARG(causal == 0 || causal == 1, "attention: causal must be 0 or 1");
    // q, k and v may overlap each other (parts of one packed qkv, or q = k = v); out is written
    // while other queries still read them, so it must be apart from all three.
    const uint64_t es = cs::dtype_size(dtype);
    const uint64_t in_bytes = ((uint64_t)(batch * tokens - 1) * row_stride + channels) * es;
    const uint64_t out_bytes = (uint64_t)batch * tokens * channels * es;
    CS_CHECK_ARG(!cs::ranges_overlap(out, out_bytes, q, in_bytes) &&
                     !cs::ranges_overlap(out, out_bytes, k, in_bytes) &&
                     !cs::ranges_overlap(out, out_bytes, v, in_bytes),
                 "attention: out must not overlap q, k or v");
    return CS_OK;
}

int cs::check_attention_dual_args(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                                  int64_t channels, int64_t heads, float scale,
                                  const void *out_ori, const void *out_vv) {
    CS_CHECK_ARG(qkv, "attention_dual: qkv must not be NULL");
    CS_CHECK_ARG(out_ori || out_vv, "attention_dual: out_ori and out_vv are both NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "attention_dual: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(batch >= 1 && tokens >= 1 && channels >= 1 && heads >= 1,
                 "attention_dual: need batch, tokens, channels, heads >= 1");
    CS_CHECK_ARG(channels % heads == 0, "attention_dual: channels must be a multiple of heads");
    CS_CHECK_ARG(batch <= 65535 && heads <= 65535 && tokens <= (1 << 24) && channels <= (1 << 16),
                 "attention_dual: shape too large");
    CS_CHECK_ARG(std::isfinite(scale), "attention_dual: scale must be finite");
    // Outputs are written while other queries still read qkv: no byte may be shared (a pointer
    // comparison alone would let a partial overlap through).
    const uint64_t es = cs::dtype_size(dtype);
    const uint64_t qkv_bytes = (uint64_t)batch * tokens * 3 * channels * es, out_bytes = qkv_bytes / 3;
    CS_CHECK_ARG((!out_ori || !cs::ranges_overlap(out_ori, out_bytes, qkv, qkv_bytes)) &&
                     (!out_vv || !cs::ranges_overlap(out_vv, out_bytes, qkv, qkv_bytes)) &&
                     (!out_ori || !out_vv || !cs::ranges_overlap(out_ori, out_bytes, out_vv, out_bytes)),
                 "attention_dual: outputs must not overlap qkv or each other");
    return CS_OK;
}

extern "C" int cs_attention_dual_cpu(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                                     int64_t channels, int64_t heads, float scale, void *out_ori,
                                     void *out_vv, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_attention_dual_args(qkv, dtype, batch, tokens, channels, heads, scale,
                                               out_ori, out_vv))
        return rc;
    const int64_t d = channels / heads;
    // q, k and v side by side in each row of 3·channels elements
    const char *q = static_cast<const char *>(qkv), *k = q + channels * cs::dtype_size(dtype),
               *v = k + channels * cs::dtype_size(dtype);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < heads; h++) {
            if (out_ori)
                attention_single_head(q, k, v, 3 * channels, dtype, b, tokens, channels, h, d,
                                      scale, false, out_ori);
            if (out_vv)
                attention_single_head(v, v, v, 3 * channels, dtype, b, tokens, channels, h, d,
                                      scale, false, out_vv);
        }
    return CS_OK;
}

extern "C" int cs_attention_cpu(const void *q, const void *k, const void *v, int64_t row_stride,
                                int dtype, int64_t batch, int64_t tokens, int64_t channels,
                                int64_t heads, float scale, int causal, void *out,
                                cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_attention_args(q, k, v, row_stride, dtype, batch, tokens, channels,
                                          heads, scale, causal, out))
        return rc;
    const int64_t d = channels / heads;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < heads; h++)
            attention_single_head(q, k, v, row_stride, dtype, b, tokens, channels, h, d, scale,
                                  causal != 0, out);
    return CS_OK;
}

// ---- the training-free methods' self-attention (cs_self_attention) ----

namespace {

// NACLIP's additive bias for a grid of patch tokens: exp(coef·‖p_i − p_j‖²), coef = −1/(2σ²);
// grid 0: no bias.
struct GaussianBias {
    int64_t grid = 0;
    float coef = 0.f;
    float operator()(int64_t i, int64_t j) const {
        if (grid == 0 || i == 0 || j == 0) return 0.f;
        const int64_t dy = (j - 1) / grid - (i - 1) / grid, dx = (j - 1) % grid - (i - 1) % grid;
        return std::exp((float)(dx * dx + dy * dy) * coef);
    }
};

// One head of a sum of self-self attentions, for every query row i (the kernel's order):
//   o = Σ_t softmax_j(scale·a_t[i]·a_t[j] + bias(i, j))·val[j], then o / divisor, then, with
//   `normalize`, o / ‖o‖.
// Rows of the term sources a_t and of val are `stride` floats apart, out's `out_stride`; every
// pointer is at its head's first column.
void self_self_head(const float *const *terms, int nterms, const float *val, int64_t stride, int64_t n,
                    int64_t d, float scale, GaussianBias bias, float divisor, bool normalize, float *out,
                    int64_t out_stride) {
    std::vector<float> p(n), acc(d), total(d);
    for (int64_t i = 0; i < n; i++) {
        std::fill(total.begin(), total.end(), 0.f);
        for (int t = 0; t < nterms; t++) {
            const float *a = terms[t];
            float mx = -INFINITY;
            for (int64_t j = 0; j < n; j++) {
                float s = 0.f;
                for (int64_t e = 0; e < d; e++) s += a[i * stride + e] * a[j * stride + e];
                p[j] = s * scale + bias(i, j);
                mx = std::fmax(mx, p[j]);
            }
            float z = 0.f;
            for (int64_t j = 0; j < n; j++) z += (p[j] = std::exp(p[j] - mx));
            std::fill(acc.begin(), acc.end(), 0.f);
            for (int64_t j = 0; j < n; j++)
                for (int64_t e = 0; e < d; e++) acc[e] += p[j] * val[j * stride + e];
            for (int64_t e = 0; e < d; e++) total[e] += acc[e] / z;
        }
        float ss = 0.f;
        for (int64_t e = 0; e < d; e++) ss += (total[e] /= divisor) * total[e];
        const float norm = normalize ? std::sqrt(ss) : 1.f;
        for (int64_t e = 0; e < d; e++) out[i * out_stride + e] = total[e] / norm;
    }
}

} // namespace

int cs::check_self_attention_args(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                                  int64_t channels, int64_t heads, float scale, int mode, int64_t grid,
                                  float sigma, const void *normed, const void *workspace, const void *out) {
    CS_CHECK_ARG(mode >= CS_ATTN_QQ && mode <= CS_ATTN_GEM, "self_attention: mode must be a cs_attention_mode (0 to 6)");
    CS_CHECK_ARG(qkv && out, "self_attention: qkv and out must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "self_attention: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(batch >= 1 && tokens >= 1 && channels >= 1 && heads >= 1,
                 "self_attention: need batch, tokens, channels, heads >= 1");
    CS_CHECK_ARG(channels % heads == 0, "self_attention: channels must be a multiple of heads");
    CS_CHECK_ARG(batch <= 65535 && heads <= 65535 && tokens <= (1 << 24) && channels <= (1 << 16),
                 "self_attention: shape too large");
    CS_CHECK_ARG(std::isfinite(scale), "self_attention: scale must be finite");
    if (mode == CS_ATTN_KK_GAUSSIAN) {
        CS_CHECK_ARG(grid >= 1 && grid <= 4096 && tokens == 1 + grid * grid,
                     "self_attention: CS_ATTN_KK_GAUSSIAN needs tokens = 1 + grid²");
        CS_CHECK_ARG(std::isfinite(sigma) && sigma > 0.f, "self_attention: sigma must be finite and > 0");
    }
    const uint64_t es = cs::dtype_size(dtype);
    const uint64_t qkv_bytes = (uint64_t)batch * tokens * 3 * channels * es, out_bytes = qkv_bytes / 3;
    CS_CHECK_ARG(!cs::ranges_overlap(out, out_bytes, qkv, qkv_bytes), "self_attention: out must not overlap qkv");
    if (mode == CS_ATTN_GEM) {
        CS_CHECK_ARG(normed && workspace, "self_attention: CS_ATTN_GEM needs normed and a workspace");
        CS_CHECK_ARG((uintptr_t)workspace % 16 == 0, "self_attention: the workspace must be 16-byte aligned");
        const uint64_t ws_bytes = (uint64_t)cs_self_attention_workspace(mode, batch, tokens, channels);
        CS_CHECK_ARG(!cs::ranges_overlap(out, out_bytes, normed, out_bytes) &&
                         !cs::ranges_overlap(workspace, ws_bytes, qkv, qkv_bytes) &&
                         !cs::ranges_overlap(workspace, ws_bytes, normed, out_bytes) &&
                         !cs::ranges_overlap(workspace, ws_bytes, out, out_bytes),
                     "self_attention: out and the workspace must not overlap qkv, normed or each other");
    }
    return CS_OK;
}

extern "C" int64_t cs_self_attention_workspace(int mode, int64_t batch, int64_t tokens, int64_t channels) {
    if (mode < CS_ATTN_QQ || mode > CS_ATTN_GEM || batch < 1 || tokens < 1 || channels < 1 || batch > 65535 ||
        tokens > (1 << 24) || channels > (1 << 16))
        return -1;
    if (mode != CS_ATTN_GEM) return 0;
    return 4 * (cs::gem_tau_floats(batch) + 2 * batch * tokens * 3 * channels);
}

extern "C" int cs_self_attention_cpu(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                                     int64_t channels, int64_t heads, float scale, int mode, int64_t grid,
                                     float sigma, const void *normed, void *workspace, void *out,
                                     cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_self_attention_args(qkv, dtype, batch, tokens, channels, heads, scale, mode, grid,
                                               sigma, normed, workspace, out))
        return rc;
    const int64_t n = tokens, c = channels, d = c / heads, row = 3 * c;
    std::vector<float> x(n * row), o(n * c);
    float *ws = static_cast<float *>(workspace);
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < n * row; i++) x[i] = cs::load_as_float(qkv, dtype, b * n * row + i);
        const float *q = x.data(), *k = q + c, *v = k + c;
        if (mode == CS_ATTN_VALUE) {
            for (int64_t i = 0; i < n; i++)
                for (int64_t e = 0; e < c; e++) o[i * c + e] = v[i * row + e];
        } else if (mode == CS_ATTN_GEM) {
            // τ from the block's ln_1 output
            float norms = 0.f;
            for (int64_t i = 0; i < n; i++) {
                float ss = 0.f;
                for (int64_t e = 0; e < c; e++) {
                    const float u = cs::load_as_float(normed, dtype, (b * n + i) * c + e);
                    ss += u * u;
                }
                norms += std::sqrt(ss);
            }
            const float tau = ws[b] = scale * (norms / (float)n);
            // ŵ: every head row of q, k and v normalised (3·heads heads of d in a row of 3·c)
            float *hat = ws + cs::gem_tau_floats(batch) + b * n * row, *iter = hat + batch * n * row;
            for (int64_t i = 0; i < n * row; i += d) {
                float ss = 0.f;
                for (int64_t e = 0; e < d; e++) ss += x[i + e] * x[i + e];
                const float norm = std::sqrt(ss);
                for (int64_t e = 0; e < d; e++) hat[i + e] = x[i + e] / norm;
            }
            // one self-self iteration of each, renormalised
            for (int64_t h = 0; h < 3 * heads; h++) {
                const float *a = hat + h * d;
                self_self_head(&a, 1, a, row, n, d, tau, {}, 1.f, true, iter + h * d, row);
            }
            // (A_q + A_k + A_v)·v / 3
            for (int64_t h = 0; h < heads; h++) {
                const float *terms[3] = {iter + h * d, iter + c + h * d, iter + 2 * c + h * d};
                self_self_head(terms, 3, v + h * d, row, n, d, tau, {}, 3.f, false, o.data() + h * d, c);
            }
        } else {
            const GaussianBias bias = mode == CS_ATTN_KK_GAUSSIAN ? GaussianBias{grid, -1.f / (2.f * sigma * sigma)}
                                                                  : GaussianBias{};
            for (int64_t h = 0; h < heads; h++) {
                const float *qh = q + h * d, *kh = k + h * d, *vh = v + h * d;
                const float *qq[1] = {qh}, *kk[1] = {kh}, *vv[1] = {vh}, *both[2] = {qh, kh};
                const float *const *terms = mode == CS_ATTN_QQ ? qq : mode == CS_ATTN_VV ? vv
                                            : mode == CS_ATTN_QQ_PLUS_KK ? both : kk;
                self_self_head(terms, mode == CS_ATTN_QQ_PLUS_KK ? 2 : 1, vh, row, n, d, scale, bias, 1.f, false,
                               o.data() + h * d, c);
            }
        }
        for (int64_t i = 0; i < n * c; i++) cs::store_from_float(out, dtype, b * n * c + i, o[i]);
    }
    return CS_OK;
}

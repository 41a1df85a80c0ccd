// CPU twins of the attention kernels (cuda/attention.cu):
//  - cs_attention_dual_cpu: per image and head, softmax(s·q·kᵀ)·v and softmax(s·v·vᵀ)·v straight
//    from the packed (B, N, 3·C) in_proj output;
//  - cs_attention_cpu: one path, q, k, v with strided rows, optionally causal.
#include "common.h"

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

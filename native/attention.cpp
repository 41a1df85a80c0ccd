// CPU twin of cs_attention_dual_cuda: per image and head, softmax(s·q·kᵀ)·v and
// softmax(s·v·vᵀ)·v straight from the packed (B, N, 3·C) in_proj output.
#include "common.h"

#include <cmath>
#include <vector>

namespace {

// One head of one path. queries/keys: which third of qkv (0 = q, 1 = k, 2 = v) holds them;
// values are always v. Scores of one query row at a time (N floats), fp32 softmax.
void attention_head(const void *qkv, int dtype, int64_t b, int64_t n, int64_t c, int64_t h,
                    int64_t d, float scale, int query_part, int key_part, void *out) {
    const int64_t row = 3 * c;
    const int64_t base = b * n * row + h * d;
    std::vector<float> keys(n * d), values(n * d), q(d), p(n), acc(d);
    for (int64_t j = 0; j < n; j++)
        for (int64_t e = 0; e < d; e++) {
            keys[j * d + e] = cs::load_as_float(qkv, dtype, base + j * row + key_part * c + e);
            values[j * d + e] = cs::load_as_float(qkv, dtype, base + j * row + 2 * c + e);
        }
    for (int64_t i = 0; i < n; i++) {
        for (int64_t e = 0; e < d; e++)
            q[e] = cs::load_as_float(qkv, dtype, base + i * row + query_part * c + e);
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; j++) {
            float s = 0.f;
            for (int64_t e = 0; e < d; e++) s += q[e] * keys[j * d + e];
            p[j] = s * scale;
            mx = std::fmax(mx, p[j]);
        }
        float z = 0.f;
        for (int64_t j = 0; j < n; j++) z += (p[j] = std::exp(p[j] - mx));
        for (int64_t e = 0; e < d; e++) acc[e] = 0.f;
        for (int64_t j = 0; j < n; j++)
            for (int64_t e = 0; e < d; e++) acc[e] += p[j] * values[j * d + e];
        for (int64_t e = 0; e < d; e++)
            cs::store_from_float(out, dtype, (b * n + i) * c + h * d + e, acc[e] / z);
    }
}

} // namespace

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
    CS_CHECK_ARG(out_ori != qkv && out_vv != qkv && out_ori != out_vv,
                 "attention_dual: outputs must not alias qkv or each other");
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
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < heads; h++) {
            if (out_ori) attention_head(qkv, dtype, b, tokens, channels, h, d, scale, 0, 1, out_ori);
            if (out_vv) attention_head(qkv, dtype, b, tokens, channels, h, d, scale, 2, 2, out_vv);
        }
    return CS_OK;
}

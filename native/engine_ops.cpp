// CPU twins of the engine helpers (cuda/engine_ops.cu): layer norm, bias + QuickGELU, residual
// add, class token + position embedding, class-token copy, L2 normalisation.
#include "common.h"

#include <cmath>
#include <cstring>
#include <vector>

int cs::check_rows_args(const char *what, const void *x, int dtype, int64_t rows, int64_t cols,
                        const void *out) {
    const std::string w(what);
    CS_CHECK_ARG(x && out, w + ": tensors must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), w + ": dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(rows >= 1 && cols >= 1, w + ": rows and cols must be >= 1");
    CS_CHECK_ARG(rows <= ((int64_t)1 << 31) - 1 && cols <= (1 << 20) &&
                     rows * cols <= ((int64_t)1 << 40),
                 w + ": shape too large");
    return CS_OK;
}

int cs::check_embed_tokens_args(const void *patches, int dtype, int64_t batch, int64_t grid,
                                int64_t channels, const float *class_embedding,
                                const float *pos_embedding, int64_t pos_grid, const void *out) {
    CS_CHECK_ARG(patches && class_embedding && pos_embedding && out,
                 "embed_tokens: tensors must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "embed_tokens: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(batch >= 1 && grid >= 1 && channels >= 1 && pos_grid >= 1,
                 "embed_tokens: batch, grid, channels, pos_grid must be >= 1");
    CS_CHECK_ARG(batch <= 65535 && grid <= 4096 && pos_grid <= 4096 && channels <= (1 << 16),
                 "embed_tokens: shape too large");
    CS_CHECK_ARG(patches != out, "embed_tokens: out must not alias patches (it has one more row)");
    return CS_OK;
}

int cs::check_class_token_copy_args(const void *src, const void *dst, int dtype, int64_t batch,
                                    int64_t tokens, int64_t channels) {
    CS_CHECK_ARG(src && dst, "class_token_copy: src and dst must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(dtype), "class_token_copy: dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(batch >= 1 && tokens >= 1 && channels >= 1,
                 "class_token_copy: batch, tokens, channels must be >= 1");
    CS_CHECK_ARG(batch <= 65535 && channels <= (1 << 20) && tokens <= (1 << 24),
                 "class_token_copy: shape too large");
    return CS_OK;
}

extern "C" {

int cs_layer_norm_cpu(const void *x, int dtype, int64_t rows, int64_t cols, const float *weight,
                      const float *bias, float eps, void *out, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_rows_args("layer_norm", x, dtype, rows, cols, out)) return rc;
    CS_CHECK_ARG(weight && bias, "layer_norm: weight and bias must not be NULL");
    CS_CHECK_ARG(eps >= 0.f && std::isfinite(eps), "layer_norm: eps must be finite and >= 0");
    std::vector<float> v(cols);
    for (int64_t r = 0; r < rows; r++) {
        float mean = 0.f;
        for (int64_t c = 0; c < cols; c++) mean += (v[c] = cs::load_as_float(x, dtype, r * cols + c));
        mean /= (float)cols;
        float var = 0.f;
        for (int64_t c = 0; c < cols; c++) var += (v[c] - mean) * (v[c] - mean);
        const float inv = 1.f / std::sqrt(var / (float)cols + eps);
        for (int64_t c = 0; c < cols; c++)
            cs::store_from_float(out, dtype, r * cols + c, (v[c] - mean) * inv * weight[c] + bias[c]);
    }
    return CS_OK;
}

int cs_bias_quick_gelu_cpu(const void *x, int dtype, int64_t rows, int64_t cols,
                           const float *bias, void *out, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_rows_args("bias_quick_gelu", x, dtype, rows, cols, out)) return rc;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            const float y = cs::load_as_float(x, dtype, r * cols + c) + (bias ? bias[c] : 0.f);
            cs::store_from_float(out, dtype, r * cols + c, y / (1.f + std::exp(-1.702f * y)));
        }
    return CS_OK;
}

int cs_residual_add_cpu(void *x, const void *y, int dtype, int64_t rows, int64_t cols,
                        const float *bias, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_rows_args("residual_add", y, dtype, rows, cols, x)) return rc;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            const int64_t i = r * cols + c;
            const float v = cs::load_as_float(x, dtype, i) + cs::load_as_float(y, dtype, i) +
                            (bias ? bias[c] : 0.f);
            cs::store_from_float(x, dtype, i, v);
        }
    return CS_OK;
}

int cs_embed_tokens_cpu(const void *patches, int dtype, int64_t batch, int64_t grid,
                        int64_t channels, const float *class_embedding, const float *pos_embedding,
                        int64_t pos_grid, void *out, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_embed_tokens_args(patches, dtype, batch, grid, channels,
                                             class_embedding, pos_embedding, pos_grid, out))
        return rc;
    const int64_t n = 1 + grid * grid;
    const float *pos = pos_embedding + channels; // the pos_grid × pos_grid part
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t c = 0; c < channels; c++)
            cs::store_from_float(out, dtype, b * n * channels + c, class_embedding[c] + pos_embedding[c]);
        for (int64_t y = 0; y < grid; y++)
            for (int64_t x = 0; x < grid; x++) {
                int64_t y0, y1, x0, x1;
                float wy, wx;
                cs::bilinear_source(y, pos_grid, grid, &y0, &y1, &wy);
                cs::bilinear_source(x, pos_grid, grid, &x0, &x1, &wx);
                const int64_t i = y * grid + x;
                for (int64_t c = 0; c < channels; c++) {
                    auto p = [&](int64_t yy, int64_t xx) { return pos[(yy * pos_grid + xx) * channels + c]; };
                    const float e = (p(y0, x0) * (1.f - wx) + p(y0, x1) * wx) * (1.f - wy) +
                                    (p(y1, x0) * (1.f - wx) + p(y1, x1) * wx) * wy;
                    const float v = cs::load_as_float(patches, dtype, (b * grid * grid + i) * channels + c);
                    cs::store_from_float(out, dtype, (b * n + 1 + i) * channels + c, v + e);
                }
            }
    }
    return CS_OK;
}

int cs_class_token_copy_cpu(const void *src, void *dst, int dtype, int64_t batch, int64_t tokens,
                            int64_t channels, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_class_token_copy_args(src, dst, dtype, batch, tokens, channels)) return rc;
    const size_t row = (size_t)channels * cs::dtype_size(dtype);
    for (int64_t b = 0; b < batch; b++) {
        const size_t off = (size_t)b * tokens * row;
        std::memmove(static_cast<char *>(dst) + off, static_cast<const char *>(src) + off, row);
    }
    return CS_OK;
}

int cs_l2_normalize_cpu(const void *x, int dtype, int64_t rows, int64_t cols, void *out,
                        cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_rows_args("l2_normalize", x, dtype, rows, cols, out)) return rc;
    for (int64_t r = 0; r < rows; r++) {
        float sq = 0.f;
        for (int64_t c = 0; c < cols; c++) {
            const float v = cs::load_as_float(x, dtype, r * cols + c);
            sq += v * v;
        }
        const float inv = 1.f / std::fmax(std::sqrt(sq), 1e-12f);
        for (int64_t c = 0; c < cols; c++)
            cs::store_from_float(out, dtype, r * cols + c, cs::load_as_float(x, dtype, r * cols + c) * inv);
    }
    return CS_OK;
}

} // extern "C"

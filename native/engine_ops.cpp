// CPU twins of the engine helpers (cuda/engine_ops.cu): layer norm, bias + QuickGELU or GELU, add with
// broadcast and biases, class token + position embedding, class-token copy, L2 normalisation,
// dtype conversion and row gather. (Patch extraction is cs_im2col, in resnet_ops.cpp.)
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

int cs::check_bias_activation_args(const char *what, const void *x, int dtype, int64_t rows,
                                   int64_t cols, const float *bias, const void *out) {
    if (int rc = cs::check_rows_args(what, x, dtype, rows, cols, out)) return rc;
    const std::string w(what);
    const uint64_t bytes = (uint64_t)rows * cols * cs::dtype_size(dtype);
    // Each element is read and written by one thread: in place is safe, a shifted overlap is a
    // race, and so is writing over the bias other threads still read.
    CS_CHECK_ARG(out == x || !cs::ranges_overlap(x, bytes, out, bytes), w + ": out must equal x or not overlap it");
    CS_CHECK_ARG(!bias || !cs::ranges_overlap(bias, 4 * (uint64_t)cols, out, bytes), w + ": out must not overlap bias");
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

int cs::check_add_args(const void *a, const void *b, int64_t b_rows, int dtype, int64_t rows,
                       int64_t cols, const void *out) {
    if (int rc = cs::check_rows_args("add", a, dtype, rows, cols, out)) return rc;
    const uint64_t es = cs::dtype_size(dtype), bytes = (uint64_t)rows * cols * es;
    // Every element is read and written by the same thread, so out == a (and out == b when b
    // has all rows) is safe; any other overlap would read elements already overwritten.
    CS_CHECK_ARG(out == a || !cs::ranges_overlap(out, bytes, a, bytes),
                 "add: out must equal a or not overlap it");
    if (b) {
        CS_CHECK_ARG(b_rows >= 1 && b_rows <= rows && rows % b_rows == 0,
                     "add: b_rows must be >= 1 and divide rows");
        CS_CHECK_ARG((out == b && b_rows == rows) ||
                         !cs::ranges_overlap(out, bytes, b, (uint64_t)b_rows * cols * es),
                     "add: out must not overlap b (out == b only when b_rows == rows)");
    }
    return CS_OK;
}

int cs::check_convert_args(const void *x, int x_dtype, int64_t n, const void *out, int out_dtype) {
    CS_CHECK_ARG(x && out, "convert: x and out must not be NULL");
    CS_CHECK_ARG(cs::is_float_dtype(x_dtype) && cs::is_float_dtype(out_dtype),
                 "convert: x_dtype and out_dtype must be CS_F32, CS_F16 or CS_BF16");
    CS_CHECK_ARG(n >= 1, "convert: n must be >= 1");
    CS_CHECK_ARG(n <= ((int64_t)1 << 40), "convert: n too large");
    const uint64_t xs = cs::dtype_size(x_dtype), os = cs::dtype_size(out_dtype);
    // In place (out == x) works element by element for types of one size; any other overlap
    // would read elements another thread has already overwritten.
    CS_CHECK_ARG((out == x && xs == os) || !cs::ranges_overlap(x, n * xs, out, n * os),
                 "convert: out must not overlap x (out == x is allowed for types of the same size)");
    return CS_OK;
}

int cs::check_gather_rows_args(const void *table, int64_t table_rows, int64_t row_bytes,
                               const int32_t *index, int64_t rows, const void *out) {
    CS_CHECK_ARG(table && index && out, "gather_rows: table, index and out must not be NULL");
    CS_CHECK_ARG(table_rows >= 1 && rows >= 1, "gather_rows: table_rows and rows must be >= 1");
    CS_CHECK_ARG(row_bytes >= 2 && row_bytes % 2 == 0,
                 "gather_rows: row_bytes must be a positive multiple of 2");
    CS_CHECK_ARG(row_bytes <= (1 << 30) && table_rows <= ((int64_t)1 << 31) &&
                     rows <= ((int64_t)1 << 31) - 1 && rows * row_bytes <= ((int64_t)1 << 42),
                 "gather_rows: shape too large");
    const uint64_t out_bytes = (uint64_t)rows * row_bytes;
    CS_CHECK_ARG(!cs::ranges_overlap(out, out_bytes, table, (uint64_t)table_rows * row_bytes) &&
                     !cs::ranges_overlap(out, out_bytes, index, 4 * (uint64_t)rows),
                 "gather_rows: out must not overlap table or index");
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
    if (int rc = cs::check_bias_activation_args("bias_quick_gelu", x, dtype, rows, cols, bias, out)) return rc;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            const float y = cs::load_as_float(x, dtype, r * cols + c) + (bias ? bias[c] : 0.f);
            cs::store_from_float(out, dtype, r * cols + c, y / (1.f + std::exp(-1.702f * y)));
        }
    return CS_OK;
}

int cs_bias_gelu_cpu(const void *x, int dtype, int64_t rows, int64_t cols, const float *bias,
                     void *out, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_bias_activation_args("bias_gelu", x, dtype, rows, cols, bias, out)) return rc;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            const float y = cs::load_as_float(x, dtype, r * cols + c) + (bias ? bias[c] : 0.f);
            cs::store_from_float(out, dtype, r * cols + c, 0.5f * y * (1.f + std::erf(y * cs::kInvSqrt2)));
        }
    return CS_OK;
}

int cs_add_cpu(const void *a, const float *a_bias, const void *b, int64_t b_rows,
               const float *b_bias, int dtype, int64_t rows, int64_t cols, void *out,
               cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_add_args(a, b, b_rows, dtype, rows, cols, out)) return rc;
    // The order of the header's formula, left to right, as the kernel adds.
    for (int64_t r = 0; r < rows; r++) {
        const int64_t br = b ? r % b_rows : 0;
        for (int64_t c = 0; c < cols; c++) {
            const int64_t i = r * cols + c;
            float v = cs::load_as_float(a, dtype, i);
            if (a_bias) v += a_bias[c];
            if (b) v += cs::load_as_float(b, dtype, br * cols + c);
            if (b_bias) v += b_bias[c];
            cs::store_from_float(out, dtype, i, v);
        }
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

int cs_convert_cpu(const void *x, int x_dtype, int64_t n, void *out, int out_dtype,
                   cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_convert_args(x, x_dtype, n, out, out_dtype)) return rc;
    if (x_dtype == out_dtype) { // the same bits, NaN payloads included
        if (out != x) std::memcpy(out, x, (size_t)n * cs::dtype_size(x_dtype));
        return CS_OK;
    }
    for (int64_t i = 0; i < n; i++) cs::store_from_float(out, out_dtype, i, cs::load_as_float(x, x_dtype, i));
    return CS_OK;
}

int cs_gather_rows_cpu(const void *table, int64_t table_rows, int64_t row_bytes,
                       const int32_t *index, int64_t rows, void *out, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_gather_rows_args(table, table_rows, row_bytes, index, rows, out)) return rc;
    for (int64_t r = 0; r < rows; r++) {
        char *dst = static_cast<char *>(out) + r * row_bytes;
        const int64_t src = index[r];
        if (src >= 0 && src < table_rows)
            std::memcpy(dst, static_cast<const char *>(table) + src * row_bytes, (size_t)row_bytes);
        else
            std::memset(dst, 0, (size_t)row_bytes);
    }
    return CS_OK;
}

} // extern "C"

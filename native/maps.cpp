// CPU twins of the map kernels (cuda/maps.cu): min-max + bilinear upsampling, the argmax label
// map and SAM point selection, from a similarity (B, N, T) with N = 1 + g·g.
#include "common.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace {

// Per image and label, the g·g patch values min-max normalised: grid[t][cell].
void normalised_grids(const float *sim, int64_t b, int64_t n, int64_t t_count,
                      std::vector<float> &grids) {
    const int64_t cells = n - 1;
    grids.resize(t_count * cells);
    for (int64_t t = 0; t < t_count; t++) {
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 1; i < n; i++) {
            float v = sim[(b * n + i) * t_count + t];
            lo = std::fmin(lo, v);
            hi = std::fmax(hi, v);
        }
        // A constant map has no contrast: 0 rather than torch's 0/0 = NaN.
        const float inv = hi > lo ? 1.f / (hi - lo) : 0.f;
        for (int64_t i = 1; i < n; i++)
            grids[t * cells + i - 1] = (sim[(b * n + i) * t_count + t] - lo) * inv;
    }
}

// Bilinear value of `grid` (g×g) at output pixel (y, x) of an h×w map.
struct Taps {
    int64_t y0, y1, x0, x1;
    float wy, wx;
};
inline float sample(const float *grid, int64_t g, const Taps &k) {
    const float top = grid[k.y0 * g + k.x0] * (1.f - k.wx) + grid[k.y0 * g + k.x1] * k.wx;
    const float bot = grid[k.y1 * g + k.x0] * (1.f - k.wx) + grid[k.y1 * g + k.x1] * k.wx;
    return top * (1.f - k.wy) + bot * k.wy;
}
inline Taps taps(int64_t y, int64_t x, int64_t g, int64_t h, int64_t w) {
    Taps k;
    cs::bilinear_source(y, g, h, &k.y0, &k.y1, &k.wy);
    cs::bilinear_source(x, g, w, &k.x0, &k.x1, &k.wx);
    return k;
}

} // namespace

int64_t cs::grid_side(int64_t tokens) {
    if (tokens < 2) return -1;
    int64_t g = (int64_t)std::llround(std::sqrt((double)(tokens - 1)));
    return g * g == tokens - 1 ? g : -1;
}

int cs::check_map_args(const char *what, const float *similarity, int64_t batch, int64_t tokens,
                       int64_t labels, int64_t height, int64_t width, const void *out) {
    const std::string w(what);
    CS_CHECK_ARG(similarity && out, w + ": similarity and outputs must not be NULL");
    CS_CHECK_ARG(batch >= 1 && labels >= 1 && height >= 1 && width >= 1,
                 w + ": need batch, labels, height, width >= 1");
    CS_CHECK_ARG(grid_side(tokens) >= 1, w + ": tokens must be 1 + g*g (class token + square grid)");
    CS_CHECK_ARG(batch <= 65535 && labels <= 65535 && tokens <= (1 << 24) && height <= (1 << 16) &&
                     width <= (1 << 16) && batch * labels * height * width <= ((int64_t)1 << 40),
                 w + ": shape too large");
    return CS_OK;
}

int cs::check_map_upsample_args(const float *similarity, int64_t batch, int64_t tokens,
                                int64_t labels, int64_t height, int64_t width, int layout,
                                int out_dtype, const void *out) {
    if (int rc = check_map_args("map_upsample", similarity, batch, tokens, labels, height, width, out))
        return rc;
    CS_CHECK_ARG(layout == CS_LAYOUT_BTHW || layout == CS_LAYOUT_BHWT,
                 "map_upsample: layout must be CS_LAYOUT_BTHW or CS_LAYOUT_BHWT");
    CS_CHECK_ARG(out_dtype == CS_F32 || out_dtype == CS_F16,
                 "map_upsample: out_dtype must be CS_F32 or CS_F16");
    return CS_OK;
}

int cs::check_map_labels_args(const float *similarity, int64_t batch, int64_t tokens,
                              int64_t labels, int64_t height, int64_t width, int32_t background,
                              int out_dtype, const void *out) {
    if (int rc = check_map_args("map_labels", similarity, batch, tokens, labels, height, width, out))
        return rc;
    CS_CHECK_ARG(out_dtype == CS_U8 || out_dtype == CS_I32,
                 "map_labels: out_dtype must be CS_U8 or CS_I32");
    CS_CHECK_ARG(out_dtype != CS_U8 || (labels <= 256 && background >= 0 && background <= 255),
                 "map_labels: CS_U8 output needs labels <= 256 and background in 0..255");
    return CS_OK;
}

int cs::check_map_points_args(const float *similarity, int64_t batch, int64_t tokens,
                              int64_t labels, int64_t height, int64_t width, int64_t max_points,
                              const int32_t *points, const int32_t *counts) {
    if (int rc = check_map_args("map_points", similarity, batch, tokens, labels, height, width, points))
        return rc;
    CS_CHECK_ARG(counts, "map_points: counts must not be NULL");
    CS_CHECK_ARG(grid_side(tokens) >= 2, "map_points: the grid must be at least 2x2");
    CS_CHECK_ARG(max_points >= 1 && max_points <= (1 << 20), "map_points: max_points must be 1..2^20");
    return CS_OK;
}

extern "C" int cs_map_upsample_cpu(const float *similarity, int64_t batch, int64_t tokens,
                                   int64_t labels, int64_t height, int64_t width, int layout,
                                   int out_dtype, void *out, cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_map_upsample_args(similarity, batch, tokens, labels, height, width,
                                             layout, out_dtype, out))
        return rc;
    const int64_t g = cs::grid_side(tokens);
    std::vector<float> grids;
    for (int64_t b = 0; b < batch; b++) {
        normalised_grids(similarity, b, tokens, labels, grids);
        for (int64_t y = 0; y < height; y++)
            for (int64_t x = 0; x < width; x++) {
                const Taps k = taps(y, x, g, height, width);
                for (int64_t t = 0; t < labels; t++) {
                    const float v = sample(&grids[t * g * g], g, k);
                    const int64_t idx = layout == CS_LAYOUT_BTHW
                                            ? ((b * labels + t) * height + y) * width + x
                                            : ((b * height + y) * width + x) * labels + t;
                    cs::store_from_float(out, out_dtype, idx, v);
                }
            }
    }
    return CS_OK;
}

extern "C" int cs_map_labels_cpu(const float *similarity, int64_t batch, int64_t tokens,
                                 int64_t labels, int64_t height, int64_t width, float threshold,
                                 int32_t background, int out_dtype, void *out,
                                 cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_map_labels_args(similarity, batch, tokens, labels, height, width,
                                           background, out_dtype, out))
        return rc;
    const int64_t g = cs::grid_side(tokens);
    std::vector<float> grids;
    for (int64_t b = 0; b < batch; b++) {
        normalised_grids(similarity, b, tokens, labels, grids);
        for (int64_t y = 0; y < height; y++)
            for (int64_t x = 0; x < width; x++) {
                const Taps k = taps(y, x, g, height, width);
                float best = -INFINITY;
                int32_t arg = 0;
                for (int64_t t = 0; t < labels; t++) {
                    const float v = sample(&grids[t * g * g], g, k);
                    if (v > best) {
                        best = v;
                        arg = (int32_t)t;
                    }
                }
                if (!(best >= threshold)) arg = background;
                const int64_t idx = (b * height + y) * width + x;
                if (out_dtype == CS_U8)
                    static_cast<uint8_t *>(out)[idx] = (uint8_t)arg;
                else
                    static_cast<int32_t *>(out)[idx] = arg;
            }
    }
    return CS_OK;
}

extern "C" int cs_map_points_cpu(const float *similarity, int64_t batch, int64_t tokens,
                                 int64_t labels, int64_t height, int64_t width, float threshold,
                                 int64_t max_points, int32_t *points, int32_t *counts,
                                 cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_map_points_args(similarity, batch, tokens, labels, height, width,
                                           max_points, points, counts))
        return rc;
    const int64_t g = cs::grid_side(tokens), s = g / 2, cells = s * s;
    std::vector<float> small(cells);
    std::vector<int64_t> rank(cells);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t t = 0; t < labels; t++) {
            // Downsample the raw patch values (bilinear, g -> g/2), then min-max.
            const float *col = similarity + b * tokens * labels + labels + t; // token 1, label t
            for (int64_t r = 0; r < s; r++)
                for (int64_t c = 0; c < s; c++) {
                    int64_t y0, y1, x0, x1;
                    float wy, wx;
                    cs::bilinear_source(r, g, s, &y0, &y1, &wy);
                    cs::bilinear_source(c, g, s, &x0, &x1, &wx);
                    auto at = [&](int64_t y, int64_t x) { return col[(y * g + x) * labels]; };
                    const float top = at(y0, x0) * (1.f - wx) + at(y0, x1) * wx;
                    const float bot = at(y1, x0) * (1.f - wx) + at(y1, x1) * wx;
                    small[r * s + c] = top * (1.f - wy) + bot * wy;
                }
            const auto [lo_it, hi_it] = std::minmax_element(small.begin(), small.end());
            const float lo = *lo_it, hi = *hi_it;
            int64_t n = 0;
            if (hi > lo) { // a constant map: torch gives NaN everywhere, so no point passes
                for (auto &v : small) {
                    v = (v - lo) / (hi - lo);
                    if (v >= threshold) n++;
                }
            }
            n = std::min({n, cells / 2, max_points});
            std::iota(rank.begin(), rank.end(), 0);
            std::stable_sort(rank.begin(), rank.end(),
                             [&](int64_t a, int64_t c) { return small[a] < small[c]; });
            int32_t *pts = points + (b * labels + t) * max_points * 4;
            const float scale_w = (float)width / (float)s, scale_h = (float)height / (float)s;
            for (int64_t k = 0; k < 2 * max_points; k++) {
                int32_t x = -1, y = -1;
                if (k < 2 * n) {
                    const int64_t cell = k < n ? rank[cells - n + k] : rank[k - n];
                    x = (int32_t)std::fmin(((float)(cell % s) + 0.5f) * scale_w, (float)(width - 1));
                    y = (int32_t)std::fmin(((float)(cell / s) + 0.5f) * scale_h, (float)(height - 1));
                }
                pts[2 * k] = x;
                pts[2 * k + 1] = y;
            }
            counts[b * labels + t] = (int32_t)n;
        }
    return CS_OK;
}

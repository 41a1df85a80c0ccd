// CPU twins of the map kernels (cuda/maps.cu): min-max + bilinear upsampling, the argmax label
// map and SAM point selection, from a similarity (B, N, T) with N = 1 + g·g. These are the only
// CPU implementation: Java's SimilarityMaps / LabelMap / SamPoints call them.
//
// Degenerate input follows the header (one rule for twin and kernel): non-finite values take no
// part in min/max and normalise to 0; a map whose range is not positive and finite is 0
// everywhere; points need a positive, finite range.
//
// The two map entry points fill outputs of up to B·T·H·W values (59 × 480 × 640 = 18 M): they
// share output rows among threads (parallel.h). Each output value is computed by one thread with
// the same arithmetic whatever the split, so results do not depend on the thread count.
#include "common.h"
#include "parallel.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <numeric>
#include <vector>

namespace {

// 1 / (max − min) over the finite values of a map, or 0 when that range is not positive and
// finite (a constant map, no finite value, or an overflowing range): the map is then 0.
inline float inverse_range(float lo, float hi) {
    const float range = hi - lo;
    return range > 0.f && std::isfinite(range) ? 1.f / range : 0.f;
}
// The normalised value of a raw similarity v: (v − min)·inv, 0 for non-finite v or inv = 0.
inline float normalise(float v, float lo, float inv) {
    return inv > 0.f && std::isfinite(v) ? (v - lo) * inv : 0.f;
}

// Per image b, the g·g patch values of every label min-max normalised, cell-major:
// grids[cell·T + t], so that one pixel's taps for all labels are contiguous.
void normalised_grids(const float *sim, int64_t b, int64_t n, int64_t t_count,
                      std::vector<float> &grids) {
    const int64_t cells = n - 1;
    const float *patches = sim + (b * n + 1) * t_count; // token 1 of image b
    grids.resize(cells * t_count);
    std::vector<float> lo(t_count, INFINITY), hi(t_count, -INFINITY), inv(t_count);
    for (int64_t i = 0; i < cells; i++)
        for (int64_t t = 0; t < t_count; t++) {
            const float v = patches[i * t_count + t];
            if (std::isfinite(v)) {
                lo[t] = std::fmin(lo[t], v);
                hi[t] = std::fmax(hi[t], v);
            }
        }
    for (int64_t t = 0; t < t_count; t++) inv[t] = inverse_range(lo[t], hi[t]);
    for (int64_t i = 0; i < cells; i++)
        for (int64_t t = 0; t < t_count; t++)
            grids[i * t_count + t] = normalise(patches[i * t_count + t], lo[t], inv[t]);
}

// The bilinear taps of every output index of one axis (g cells → `out` samples).
struct AxisTaps {
    std::vector<int64_t> i0, i1;
    std::vector<float> w1, w0; // w0 = 1 − w1, rounded once as the kernel rounds it
    AxisTaps(int64_t g, int64_t out) : i0(out), i1(out), w1(out), w0(out) {
        for (int64_t d = 0; d < out; d++) {
            cs::bilinear_source(d, g, out, &i0[d], &i1[d], &w1[d]);
            w0[d] = 1.f - w1[d];
        }
    }
};

// The kernel's bilinear_blend, operation for operation (this file is built without FMA
// contraction): top = a·(1 − wx) + b·wx and bot = c·(1 − wx) + d·wx along the row, then
// top·(1 − wy) + bot·wy. The horizontal part depends on the grid row and x only, not on y: it is
// computed once per grid row (rows[gy][x][t]), and each output row is then two of those rows
// blended, a contiguous loop the compiler vectorises. Same operations, same order: the values
// are the kernel's bit for bit.
void horizontal_rows(const float *grids, int64_t g, int64_t t_count, const AxisTaps &ax,
                     std::vector<float> &rows) {
    const int64_t w = (int64_t)ax.i0.size();
    rows.resize(g * w * t_count);
    cs::parallel_for(g, 1, [&](int64_t gy0, int64_t gy1) {
        for (int64_t gy = gy0; gy < gy1; gy++)
            for (int64_t x = 0; x < w; x++) {
                const float *__restrict a = grids + (gy * g + ax.i0[x]) * t_count;
                const float *__restrict b = grids + (gy * g + ax.i1[x]) * t_count;
                float *__restrict dst = rows.data() + (gy * w + x) * t_count;
                const float w0 = ax.w0[x], w1 = ax.w1[x];
                for (int64_t t = 0; t < t_count; t++) dst[t] = a[t] * w0 + b[t] * w1;
            }
    });
}

// Output row y, (width, T): top·(1 − wy) + bot·wy of the two grid rows it falls between.
inline void blend_rows(const float *__restrict top, const float *__restrict bot, float wy0, float wy1,
                       int64_t n, float *__restrict dst) {
    for (int64_t i = 0; i < n; i++) dst[i] = top[i] * wy0 + bot[i] * wy1;
}

// Rows of output per thread at least this long (in values), so small maps stay on one thread.
constexpr int64_t kValuesPerTask = 1 << 15;

// The upsampled maps of every image, one output row at a time, the rows shared among threads:
// per image the normalised grids are blended horizontally once, then each output row y is blended
// from two of those rows into `target(b, y)` (nullptr: a scratch row of the task) and handed to
// `use(b, y, px)` as (width, T) values. cs_map_upsample stores the rows, cs_map_labels takes
// their argmax.
template <class Target, class Use>
void for_each_map_row(const float *similarity, int64_t batch, int64_t tokens, int64_t t_count,
                      int64_t height, int64_t width, Target target, Use use) {
    const int64_t g = cs::grid_side(tokens), row = width * t_count;
    const AxisTaps ay(g, height), ax(g, width);
    std::vector<float> grids, rows;
    for (int64_t b = 0; b < batch; b++) {
        normalised_grids(similarity, b, tokens, t_count, grids);
        horizontal_rows(grids.data(), g, t_count, ax, rows);
        cs::parallel_for(height, std::max<int64_t>(1, kValuesPerTask / row), [&](int64_t y0, int64_t y1) {
            std::vector<float> scratch(row);
            for (int64_t y = y0; y < y1; y++) {
                float *px = target(b, y);
                if (!px) px = scratch.data();
                blend_rows(rows.data() + ay.i0[y] * row, rows.data() + ay.i1[y] * row, ay.w0[y], ay.w1[y],
                           row, px);
                use(b, y, px);
            }
        });
    }
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
    const int64_t T = labels, row = width * T;
    // fp32 (B, H, W, T) is the blended rows as they are: blended straight into the output
    const bool direct = layout == CS_LAYOUT_BHWT && out_dtype == CS_F32;
    try {
        for_each_map_row(
            similarity, batch, tokens, T, height, width,
            [&](int64_t b, int64_t y) { return direct ? static_cast<float *>(out) + (b * height + y) * row : nullptr; },
            [&](int64_t b, int64_t y, const float *px) {
                if (direct) return;
                if (layout == CS_LAYOUT_BTHW) // label-major: one contiguous output row per label
                    for (int64_t t = 0; t < T; t++) {
                        const int64_t base = ((b * T + t) * height + y) * width;
                        for (int64_t x = 0; x < width; x++)
                            cs::store_from_float(out, out_dtype, base + x, px[x * T + t]);
                    }
                else
                    for (int64_t i = 0; i < row; i++)
                        cs::store_from_float(out, out_dtype, (b * height + y) * row + i, px[i]);
            });
    } catch (const std::bad_alloc &) {
        return cs::fail(CS_ERR_OUT_OF_MEMORY, "map_upsample: out of host memory");
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
    const int64_t T = labels;
    try {
        for_each_map_row(
            similarity, batch, tokens, T, height, width, [](int64_t, int64_t) -> float * { return nullptr; },
            [&](int64_t b, int64_t y, const float *px) {
                for (int64_t x = 0; x < width; x++) {
                    const float *v = px + x * T;
                    float best = -INFINITY;
                    int32_t arg = 0;
                    for (int64_t t = 0; t < T; t++) { // the first of equal values wins
                        const bool higher = v[t] > best;   // selects, not branches: the
                        arg = higher ? (int32_t)t : arg;   // winner is unpredictable
                        best = higher ? v[t] : best;
                    }
                    if (!(best >= threshold)) arg = background;
                    const int64_t idx = (b * height + y) * width + x;
                    if (out_dtype == CS_U8)
                        static_cast<uint8_t *>(out)[idx] = (uint8_t)arg;
                    else
                        static_cast<int32_t *>(out)[idx] = arg;
                }
            });
    } catch (const std::bad_alloc &) {
        return cs::fail(CS_ERR_OUT_OF_MEMORY, "map_labels: out of host memory");
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
            // Min-max over the finite cells (a non-finite tap makes its cell non-finite); a
            // cell that is not finite normalises to 0. Without a positive, finite range there
            // is nothing to point at: n = 0 (torch gives NaN everywhere, and NaN never passes).
            float lo = INFINITY, hi = -INFINITY;
            for (const float v : small)
                if (std::isfinite(v)) {
                    lo = std::fmin(lo, v);
                    hi = std::fmax(hi, v);
                }
            const float range = hi - lo;
            int64_t n = 0;
            if (range > 0.f && std::isfinite(range)) {
                for (auto &v : small) {
                    v = std::isfinite(v) ? (v - lo) / range : 0.f;
                    if (v >= threshold) n++;
                }
            } else {
                std::fill(small.begin(), small.end(), 0.f);
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

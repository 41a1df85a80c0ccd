// CPU twin of cs_preprocess_cuda: Pillow's antialiased BICUBIC resize of an 8-bit RGB/BGR frame
// (separable: horizontal pass, then vertical, each rounded to uint8 with 22-bit fixed-point
// weights, as Pillow's Resample.c), then CLIP's normalisation into CHW planes. Rows are shared
// among threads (native/parallel.h, CS_CPU_THREADS).
#include "common.h"
#include "parallel.h"
#include "resample.h"

#include <new>
#include <vector>

int cs::check_preprocess_args(const uint8_t *frame, int64_t height, int64_t width,
                              int64_t row_pitch, int order, int64_t out_height, int64_t out_width,
                              int out_dtype, const void *out) {
    CS_CHECK_ARG(frame && out, "preprocess: frame and out must not be NULL");
    CS_CHECK_ARG(height >= 1 && width >= 1 && out_height >= 1 && out_width >= 1,
                 "preprocess: sizes must be >= 1");
    CS_CHECK_ARG(height <= (1 << 15) && width <= (1 << 15) && out_height <= (1 << 15) &&
                     out_width <= (1 << 15),
                 "preprocess: sizes must be <= 32768");
    CS_CHECK_ARG(row_pitch >= 3 * width, "preprocess: row_pitch must be >= 3 * width");
    CS_CHECK_ARG(order == CS_RGB || order == CS_BGR, "preprocess: order must be CS_RGB or CS_BGR");
    CS_CHECK_ARG(cs::is_float_dtype(out_dtype), "preprocess: out_dtype must be CS_F32, CS_F16 or CS_BF16");
    return CS_OK;
}

extern "C" int cs_preprocess_cpu(const uint8_t *frame, int64_t height, int64_t width,
                                 int64_t row_pitch, int order, int64_t out_height,
                                 int64_t out_width, int out_dtype, void *out,
                                 cs_stream /*stream*/) {
    cs::clear_error();
    if (int rc = cs::check_preprocess_args(frame, height, width, row_pitch, order, out_height,
                                           out_width, out_dtype, out))
        return rc;
    const int w_in = (int)width, h_in = (int)height, w_out = (int)out_width, h_out = (int)out_height;
    try {
        // Every output column's (and row's) taps once, then both passes row by row (the input is
        // read in memory order) with rows shared among threads; each output value is the same
        // integer sum in the same order whatever the split.
        const int taps_w = cs::taps_for(w_in, w_out), taps_h = cs::taps_for(h_in, h_out);
        std::vector<int32_t> kw((size_t)w_out * taps_w), kh((size_t)h_out * taps_h);
        std::vector<int> first_w(w_out), count_w(w_out), first_h(h_out), count_h(h_out);
        for (int x = 0; x < w_out; x++) cs::resample_coeffs(w_in, w_out, x, &first_w[x], &count_w[x], &kw[(size_t)x * taps_w]);
        for (int y = 0; y < h_out; y++) cs::resample_coeffs(h_in, h_out, y, &first_h[y], &count_h[y], &kh[(size_t)y * taps_h]);
        // Horizontal pass: (h_in, w_out, 3) uint8.
        std::vector<uint8_t> mid((size_t)h_in * w_out * 3);
        cs::parallel_for(h_in, 16, [&](int64_t y0, int64_t y1) {
            for (int64_t y = y0; y < y1; y++) {
                const uint8_t *row = frame + y * row_pitch;
                uint8_t *dst = &mid[(size_t)y * w_out * 3];
                for (int x = 0; x < w_out; x++) {
                    const int32_t *k = &kw[(size_t)x * taps_w];
                    const uint8_t *src = row + (size_t)first_w[x] * 3;
                    for (int ch = 0; ch < 3; ch++) {
                        int32_t acc = 1 << (cs::kPrecisionBits - 1);
                        for (int i = 0; i < count_w[x]; i++) acc += src[i * 3 + ch] * k[i];
                        dst[x * 3 + ch] = cs::clip8(acc);
                    }
                }
            }
        });
        // Vertical pass, then normalise into the RGB planes.
        const int64_t plane = out_height * out_width;
        cs::parallel_for(h_out, 8, [&](int64_t y0, int64_t y1) {
            for (int64_t y = y0; y < y1; y++) {
                const int32_t *k = &kh[(size_t)y * taps_h];
                const uint8_t *src = &mid[(size_t)first_h[y] * w_out * 3];
                for (int x = 0; x < w_out; x++)
                    for (int ch = 0; ch < 3; ch++) {
                        int32_t acc = 1 << (cs::kPrecisionBits - 1);
                        for (int i = 0; i < count_h[y]; i++) acc += src[((size_t)i * w_out + x) * 3 + ch] * k[i];
                        const int rgb = order == CS_BGR ? 2 - ch : ch;
                        const float v = ((float)cs::clip8(acc) / 255.f - cs::kClipMean[rgb]) / cs::kClipStd[rgb];
                        cs::store_from_float(out, out_dtype, rgb * plane + y * w_out + x, v);
                    }
            }
        });
    } catch (const std::bad_alloc &) {
        return cs::fail(CS_ERR_OUT_OF_MEMORY, "preprocess: out of host memory");
    }
    return CS_OK;
}

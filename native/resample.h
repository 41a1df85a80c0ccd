// Internal header of the native library: not part of the public API.
// Pillow's BICUBIC resampling coefficients (src/libImaging/Resample.c semantics), shared by the
// CPU twin and the CUDA kernel so both compute the same integer weights.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define CS_HD __host__ __device__
#else
#define CS_HD
#endif

namespace cs {

constexpr int kPrecisionBits = 32 - 8 - 2; // Pillow's PRECISION_BITS for 8-bit images

// Products and sums rounded one at a time: nvcc contracts a·b + c into an FMA by default (and the
// SIMT emulation's host compiler likewise), the CPU twin is built without contraction; these keep
// the weights bit-identical on both sides.
CS_HD inline double mul(double a, double b) {
#if defined(__CUDA_ARCH__) || defined(CS_EMULATION)
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}
CS_HD inline double add(double a, double b) {
#if defined(__CUDA_ARCH__) || defined(CS_EMULATION)
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}

// a = -0.5 cubic, as Pillow's bicubic_filter.
CS_HD inline double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return add(mul(mul(add(mul(a + 2.0, x), -(a + 3.0)), x), x), 1.0);
    if (x < 2.0) return mul(add(mul(add(mul(x - 5.0, x), 8.0), x), -4.0), a);
    return 0.0;
}

// Taps reserved per output index (Pillow's ksize): 2·ceil(support) + 1, support = 2·max(in/out, 1).
inline int taps_for(int in, int out) {
    const double scale = (double)in / out;
    const double support = 2.0 * (scale < 1.0 ? 1.0 : scale);
    const int whole = (int)support;
    return (whole < support ? whole + 1 : whole) * 2 + 1;
}

// Coefficients of output index `o` of a resize from `in` to `out` samples: taps from `first`,
// `count` of them (at most taps_for(in, out)), fixed-point weights in k (22 fractional bits,
// rounded half away from zero). The float weights are computed twice (once for their sum, once
// to normalise) rather than kept, so that no shrink factor is too large for a stack array.
CS_HD inline void resample_coeffs(int in, int out, int o, int *first, int *count, int32_t *k) {
    const double scale = (double)in / out;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 2.0 * filterscale;
    const double center = mul(o + 0.5, scale);
    const double ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) ww += bicubic(mul(x + xmin - center + 0.5, ss));
    for (int x = 0; x < xmax; x++) {
        const double w = bicubic(mul(x + xmin - center + 0.5, ss));
        const double v = ww != 0.0 ? w / ww : w;
        k[x] = v < 0 ? (int32_t)add(-0.5, mul(v, 1 << kPrecisionBits))
                     : (int32_t)add(0.5, mul(v, 1 << kPrecisionBits));
    }
    *first = xmin;
    *count = xmax;
}

CS_HD inline uint8_t clip8(int32_t acc) {
    if (acc <= 0) return 0;
    if (acc >= (255 << kPrecisionBits)) return 255;
    return (uint8_t)(acc >> kPrecisionBits);
}

} // namespace cs

package org.clipsurgery.post;

/**
 * Test reference (the C API's cs_map_upsample / cs_map_points are the implementation): bilinear
 * resampling with the semantics and the float32 arithmetic of PyTorch's
 * {@code torch.nn.functional.interpolate(x, size, mode='bilinear')} (align_corners=False, no scale
 * factor given), which the official CLIP Surgery code uses for its maps and points.
 *
 * <p>Per axis: {@code scale = (float) in / out}; {@code src = scale·(dst + 0.5) − 0.5}, clamped at
 * 0; {@code i0 = (int) src}; {@code i1 = i0 + (i0 < in − 1 ? 1 : 0)}; {@code λ1 = src − i0},
 * {@code λ0 = 1 − λ1}. Per output value:
 * {@code λh0·(λw0·v00 + λw1·v01) + λh1·(λw0·v10 + λw1·v11)}.
 *
 * <p><b>Rounding.</b> The reference fixtures were produced by PyTorch on a CUDA device: its
 * upsample_bilinear2d kernels (aten/src/ATen/native/cuda/UpSampleBilinear2d.cu, NCHW and NHWC
 * alike) use the expression above in float, and nvcc contracts each {@code a·b + c·d} into
 * {@code fma(a, b, c·d)} and {@code scale·(dst + 0.5) − 0.5} into {@code fma(scale, dst + 0.5, −0.5)}.
 * This class does the same, which reproduces the fixture's {@code similarity_map} bit for bit. The
 * fused multiply-add is evaluated as {@code (float)((double) a·b + c)}: the product of two floats is
 * exact in double, so this differs from a true fma only when the double sum lands exactly half-way
 * between two floats (never on the fixtures), and it stays fast on JVMs without an fma intrinsic.
 * PyTorch's CPU kernels (aten/src/ATen/native/cpu/UpSampleKernel.cpp) sum the four taps in other
 * orders; their results differ from these by at most an ulp or two (2.4e-7 on the fixture's maps).
 */
final class Bilinear {
    private Bilinear() {}

    /** Precomputed taps of one axis: for each output index, two input indices and two weights. */
    static final class Axis {
        final int[] i0;
        final int[] i1;
        final float[] l0;
        final float[] l1;

        private Axis(int out) {
            i0 = new int[out];
            i1 = new int[out];
            l0 = new float[out];
            l1 = new float[out];
        }
    }

    /** The taps for resizing an axis of {@code in} samples to {@code out} samples. */
    static Axis axis(int in, int out) {
        if (in <= 0 || out <= 0) {
            throw new IllegalArgumentException("bilinear resize needs positive sizes, got " + in + " -> " + out);
        }
        Axis a = new Axis(out);
        float scale = (float) in / (float) out;
        for (int d = 0; d < out; d++) {
            float src = fma(scale, (float) d + 0.5f, -0.5f);
            if (src < 0f) src = 0f;
            // src < in always (its largest value is in − scale/2 − 0.5); the min only guards it
            int i0 = Math.min((int) src, in - 1);
            float l1 = src - (float) i0;
            a.i0[d] = i0;
            a.i1[d] = i0 + (i0 < in - 1 ? 1 : 0);
            a.l1[d] = l1;
            a.l0[d] = 1f - l1;
        }
        return a;
    }

    /** Resizes one plane {@code src} (inH × inW, row-major) into {@code dst} (outH × outW). */
    static void resize(float[] src, int inH, int inW, float[] dst, int outH, int outW) {
        Axis ah = axis(inH, outH), aw = axis(inW, outW);
        for (int y = 0; y < outH; y++) {
            int r0 = ah.i0[y] * inW, r1 = ah.i1[y] * inW;
            for (int x = 0; x < outW; x++) {
                dst[y * outW + x] = interpolate(src[r0 + aw.i0[x]], src[r0 + aw.i1[x]], src[r1 + aw.i0[x]],
                        src[r1 + aw.i1[x]], ah.l0[y], ah.l1[y], aw.l0[x], aw.l1[x]);
            }
        }
    }

    /** One output value from its four taps and the row (h) and column (w) weights. */
    static float interpolate(float v00, float v01, float v10, float v11, float h0, float h1, float w0, float w1) {
        float t0 = fma(w0, v00, w1 * v01);
        float t1 = fma(w0, v10, w1 * v11);
        return fma(h0, t0, h1 * t1);
    }

    /** a·b + c with one rounding to float in all but double-rounding ties (see the class comment). */
    static float fma(float a, float b, float c) {
        return (float) ((double) a * (double) b + (double) c);
    }
}

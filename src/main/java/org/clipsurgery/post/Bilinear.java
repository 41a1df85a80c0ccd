package org.clipsurgery.post;

/**
 * Bilinear resampling with the semantics and the float32 arithmetic of PyTorch's CPU kernel for
 * {@code torch.nn.functional.interpolate(x, size, mode='bilinear')} (align_corners=False, no
 * scale factor given), which the official CLIP Surgery code uses for its maps and points.
 *
 * <p>Per axis (aten/src/ATen/native/UpSample.h, {@code compute_source_index_and_lambda}):
 * {@code scale = (float) in / out}; {@code src = scale·(dst + 0.5f) − 0.5f}, clamped at 0;
 * {@code i0 = min(floor(src), in − 1)}; {@code i1 = i0 + (i0 < in − 1 ? 1 : 0)};
 * {@code λ1 = clamp(src − i0, 0, 1)}, {@code λ0 = 1 − λ1}; when {@code in == out} the axis is copied
 * ({@code i0 = i1 = dst}, λ = (1, 0)). Everything is float32, as in ATen for float tensors.
 *
 * <p>ATen has two float kernels that combine the four taps differently
 * (aten/src/ATen/native/cpu/UpSampleKernel.cpp, {@code upsample_bilinear2d_kernel_impl_float}):
 * <ul>
 *   <li>the channels-last kernel, used when the input is channels-last contiguous with more than 3
 *       channels, or when {@code outH + outW <= 128}: weights {@code w00 = λh0·λw0} etc., then
 *       {@code ((v00·w00 + v01·w01) + v10·w10) + v11·w11} (its scalar loop; the SIMD loop for
 *       channel blocks of the vector width sums right to left, within one ulp of this);</li>
 *   <li>the generic separable kernel otherwise:
 *       {@code (v00·λw0 + v01·λw1)·λh0 + (v10·λw0 + v11·λw1)·λh1}.</li>
 * </ul>
 * {@link #channelsLastKernel} says which one torch picks, so that the result equals torch's up to
 * the compiler's use of fused multiply-add in the native build (a difference of about one ulp).
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
        if (in == out) {
            for (int d = 0; d < out; d++) {
                a.i0[d] = d;
                a.i1[d] = d;
                a.l0[d] = 1f;
                a.l1[d] = 0f;
            }
            return a;
        }
        float scale = (float) in / (float) out;
        for (int d = 0; d < out; d++) {
            float src = scale * ((float) d + 0.5f) - 0.5f;
            if (src < 0f) src = 0f;
            int i0 = Math.min((int) Math.floor(src), in - 1);
            float l1 = Math.min(Math.max(src - (float) i0, 0f), 1f);
            a.i0[d] = i0;
            a.i1[d] = i0 + (i0 < in - 1 ? 1 : 0);
            a.l1[d] = l1;
            a.l0[d] = 1f - l1;
        }
        return a;
    }

    /**
     * Whether ATen resizes a float (N, C, h, w) tensor with its channels-last kernel: C &gt; 3 and
     * the input channels-last contiguous (true for the maps, whose input is a permuted
     * (N, g, g, C) tensor), or a small output ({@code outH + outW <= 128}).
     */
    static boolean channelsLastKernel(int channels, boolean inputChannelsLast, int outH, int outW) {
        return (inputChannelsLast && channels > 3) || outH + outW <= 128;
    }

    /** Channels-last formula (see the class comment). */
    static float channelsLast(float v00, float v01, float v10, float v11,
            float h0, float h1, float w0, float w1) {
        float w00 = h0 * w0;
        float w01 = h0 * w1;
        float w10 = h1 * w0;
        float w11 = h1 * w1;
        return v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11;
    }

    /** Generic separable formula (see the class comment). */
    static float generic(float v00, float v01, float v10, float v11,
            float h0, float h1, float w0, float w1) {
        float t0 = v00 * w0 + v01 * w1;
        float t1 = v10 * w0 + v11 * w1;
        return t0 * h0 + t1 * h1;
    }
}

package org.clipsurgery.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import org.clipsurgery.weights.DType;
import org.clipsurgery.weights.Half;

/** Shared pieces of the {@code gpu}-tagged tests: the device assumption, inputs, one error measure. */
final class GpuTests {
    private GpuTests() {}

    /** Skips the calling test (class) where no CUDA device can be used. */
    static void requireDevice() {
        assumeTrue(CudaRuntime.deviceAvailable(),
                "no CUDA device (or a library built without CUDA, or a driver older than CUDA 13): GPU tests skipped");
    }

    /** Uniform values in [lo, hi), rounded to what {@code t} can hold (so both sides see the same inputs). */
    static float[] random(SplittableRandom rng, int n, double lo, double hi, DType t) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = round((float) (lo + (hi - lo) * rng.nextDouble()), t);
        return v;
    }

    static float round(float x, DType t) {
        return switch (t) {
            case F16 -> Half.toFloat(Half.fromFloat(x));
            case BF16 -> Half.bf16ToFloat(Half.floatToBf16(x));
            default -> x;
        };
    }

    static float[] round(float[] x, DType t) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) out[i] = round(x[i], t);
        return out;
    }

    /**
     * Tolerance of an op's result in type t, relative to the largest |reference| value: fp32 1e-4
     * (accumulation order), fp16 2e-3 (about 4 ulps of fp16's 2^-11 relative rounding, applied to
     * the output and where kernels round intermediates such as softmax weights), bf16 1.6e-2 (the
     * same 4 ulps of bf16's 2^-8).
     */
    static double tolerance(DType t) {
        return switch (t) {
            case F16 -> 2e-3;
            case BF16 -> 1.6e-2;
            default -> 1e-4;
        };
    }

    /** max |actual − expected| ≤ rel · max |expected|; reports the first offending element. */
    static void assertClose(float[] expected, float[] actual, double rel, String what) {
        assertEquals(expected.length, actual.length, what + ": size");
        double scale = 1e-30;
        for (float e : expected) scale = Math.max(scale, Math.abs(e));
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs((double) actual[i] - expected[i]);
            if (!(err <= worst)) {
                worst = err;
                at = i;
            }
        }
        double bound = rel * scale;
        assertTrue(worst <= bound, String.format("%s: element %d expected %g, got %g (error %.3g > %.3g = %.1g × scale %.3g)",
                what, at, at < 0 ? 0 : expected[at], at < 0 ? 0 : actual[at], worst, bound, rel, scale));
    }
}

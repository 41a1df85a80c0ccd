package org.clipsurgery.graph;

import org.bytedeco.javacpp.FloatPointer;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;
import org.clipsurgery.weights.HostTensor;

/**
 * Position embeddings for another grid, as each official implementation makes them: the class row
 * kept, the patch rows reshaped to g0×g0 and resized to g×g by the method's own rule
 * ({@link Resize}). The model's own weights are never changed; backends cache the result per grid.
 *
 * <p>CLIP Surgery's bilinear resize is the C API's {@code cs_embed_tokens_cpu}
 * (include/clip_surgery.h) with zero patches and a zero class embedding (adding +0 changes no
 * value): the same arithmetic as the CUDA engine's {@code cs_embed_tokens_cuda}, so both engines
 * start from the same embeddings. The other methods' bicubic rules are computed here, on the
 * host, once per grid, for both engines.
 */
public final class PositionEmbeddings {
    private PositionEmbeddings() {}

    /** The resize rules of the official implementations (PyTorch's {@code interpolate}, align_corners=False). */
    public enum Resize {
        /** CLIP Surgery: bilinear to g×g. */
        BILINEAR,
        /**
         * SCLIP, ClearCLIP, NACLIP ({@code interpolate_pos_encoding}): bicubic (A = −0.75) with
         * {@code scale_factor = (g + 0.1)/g0}, so output i samples input (i + 0.5)·g0/(g + 0.1) − 0.5.
         */
        BICUBIC_SCALE_FACTOR,
        /** MaskCLIP: bicubic (A = −0.75) to g×g. */
        BICUBIC,
        /** GEM: bicubic with antialias to g×g (PyTorch's antialiased kernel, a = −0.5, weights normalised). */
        BICUBIC_ANTIALIAS
    }

    /** pos (1 + g0², C) → (1 + g², C), fp32, by CLIP Surgery's bilinear rule. */
    public static HostTensor resize(HostTensor pos, int grid) {
        return resize(pos, grid, Resize.BILINEAR);
    }

    /** pos (1 + g0², C) → (1 + g², C), fp32, by {@code rule}. */
    public static HostTensor resize(HostTensor pos, int grid, Resize rule) {
        int rows = (int) pos.size(0), c = (int) pos.size(1);
        int g0 = (int) Math.round(Math.sqrt(rows - 1));
        if (g0 * g0 + 1 != rows) {
            throw new IllegalArgumentException("position embedding with " + rows + " rows is not 1 + g²");
        }
        float[] src = pos.toFloatArray();
        if (g0 == grid) return HostTensor.ofFloats(src, rows, c);
        if (rule != Resize.BILINEAR) return bicubic(src, g0, grid, c, rule);
        float[] out = new float[(1 + grid * grid) * c];
        NativeCalls.load();
        try (FloatPointer zeros = new FloatPointer((long) grid * grid * c);
                FloatPointer o = new FloatPointer(out.length)) {
            zeros.zero();
            NativeCalls.check(ClipSurgeryNative.cs_embed_tokens_cpu(zeros, ClipSurgeryNative.CS_F32, 1, grid, c,
                    new float[c], src, g0, o, null), "cs_embed_tokens_cpu");
            o.get(out);
        }
        return HostTensor.ofFloats(out, 1 + grid * grid, c);
    }

    /** The separable bicubic rules: rows then columns of the g0×g0×C patch grid, the class row copied. */
    private static HostTensor bicubic(float[] src, int g0, int g, int c, Resize rule) {
        Taps taps = taps(g0, g, rule);
        float[] out = new float[(1 + g * g) * c];
        System.arraycopy(src, 0, out, 0, c);
        double[] across = new double[g0 * g * c]; // (g0 rows, g columns, C)
        for (int y = 0; y < g0; y++) {
            for (int x = 0; x < g; x++) {
                for (int t = 0; t < taps.index[x].length; t++) {
                    int from = 1 + y * g0 + taps.index[x][t];
                    double wt = taps.weight[x][t];
                    for (int ch = 0; ch < c; ch++) across[(y * g + x) * c + ch] += wt * src[from * c + ch];
                }
            }
        }
        for (int y = 0; y < g; y++) {
            for (int x = 0; x < g; x++) {
                for (int ch = 0; ch < c; ch++) {
                    double v = 0;
                    for (int t = 0; t < taps.index[y].length; t++) v += taps.weight[y][t] * across[(taps.index[y][t] * g + x) * c + ch];
                    out[(1 + y * g + x) * c + ch] = (float) v;
                }
            }
        }
        return HostTensor.ofFloats(out, 1 + g * g, c);
    }

    /** Per output index of one axis: the input indices it reads and their weights. */
    private record Taps(int[][] index, double[][] weight) {}

    private static Taps taps(int in, int out, Resize rule) {
        int[][] index = new int[out][];
        double[][] weight = new double[out][];
        for (int i = 0; i < out; i++) {
            if (rule == Resize.BICUBIC_ANTIALIAS) {
                // PyTorch's antialiased weights (PIL's scheme in floating point): support 2 when
                // upsampling, widened by the scale when downsampling; a = −0.5; normalised.
                double scale = (double) in / out, support = scale >= 1 ? 2 * scale : 2, inv = scale >= 1 ? 1 / scale : 1;
                double center = scale * (i + 0.5);
                int lo = Math.max((int) (center - support + 0.5), 0), hi = Math.min((int) (center + support + 0.5), in);
                index[i] = new int[hi - lo];
                weight[i] = new double[hi - lo];
                double total = 0;
                for (int j = lo; j < hi; j++) {
                    index[i][j - lo] = j;
                    total += weight[i][j - lo] = cubic((j - center + 0.5) * inv, -0.5);
                }
                for (int j = 0; j < weight[i].length; j++) weight[i][j] /= total;
            } else {
                double ratio = rule == Resize.BICUBIC_SCALE_FACTOR ? in / (out + 0.1) : (double) in / out;
                double real = (i + 0.5) * ratio - 0.5; // not clamped: PyTorch's cubic source index
                int base = (int) Math.floor(real);
                double t = real - base;
                index[i] = new int[4];
                weight[i] = new double[4];
                for (int k = 0; k < 4; k++) {
                    index[i][k] = Math.min(Math.max(base - 1 + k, 0), in - 1); // borders clamped
                    weight[i][k] = cubic(t + 1 - k, -0.75);
                }
            }
        }
        return new Taps(index, weight);
    }

    /** Keys' cubic convolution kernel with parameter a, at distance x. */
    private static double cubic(double x, double a) {
        x = Math.abs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }
}

package org.clipsurgery.nativeapi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import java.util.function.IntSupplier;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;
import org.clipsurgery.weights.Half;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every CPU entry point of the kernels called through JavaCPP against a plain Java reference on
 * seeded random inputs (the native test covers many more shapes), bad arguments becoming
 * {@link NativeException}s, and the CUDA entry points failing cleanly where there is no GPU.
 */
class KernelsCpuNativeTest {
    private static final int F32 = ClipSurgeryNative.CS_F32;

    @BeforeAll
    static void load() {
        NativeCalls.load();
    }

    private static float[] random(Random rng, int n, float lo, float hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = lo + (hi - lo) * rng.nextFloat();
        return v;
    }

    private static void assertClose(double[] want, float[] got, double tol, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertTrue(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])),
                    what + " element " + i + ": expected " + want[i] + ", got " + got[i]);
        }
    }

    private static float[] read(FloatPointer p) {
        float[] v = new float[(int) p.limit()];
        p.get(v);
        return v;
    }

    private static double[] attentionReference(float[] qkv, int n, int c, int heads, float scale, int qPart, int kPart) {
        int d = c / heads;
        double[] out = new double[n * c];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < n; i++) {
                double[] p = new double[n];
                double mx = Double.NEGATIVE_INFINITY, z = 0;
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int e = 0; e < d; e++) s += qkv[i * 3 * c + qPart * c + h * d + e] * qkv[j * 3 * c + kPart * c + h * d + e];
                    p[j] = s * scale;
                    mx = Math.max(mx, p[j]);
                }
                for (int j = 0; j < n; j++) z += (p[j] = Math.exp(p[j] - mx));
                for (int e = 0; e < d; e++) {
                    double acc = 0;
                    for (int j = 0; j < n; j++) acc += p[j] * qkv[j * 3 * c + 2 * c + h * d + e];
                    out[i * c + h * d + e] = acc / z;
                }
            }
        }
        return out;
    }

    @Test
    void attentionDualBothPathsAndSinglePaths() {
        Random rng = new Random(7);
        int n = 29, c = 64, heads = 2;
        float scale = (float) (1 / Math.sqrt(c / heads));
        float[] qkv = random(rng, n * 3 * c, -1, 1);
        double[] ori = attentionReference(qkv, n, c, heads, scale, 0, 1);
        double[] vv = attentionReference(qkv, n, c, heads, scale, 2, 2);
        try (FloatPointer in = new FloatPointer(qkv); FloatPointer o = new FloatPointer(n * c); FloatPointer v = new FloatPointer(n * c)) {
            NativeCalls.check(ClipSurgeryNative.cs_attention_dual_cpu(in, F32, 1, n, c, heads, scale, o, v, null), "attention");
            assertClose(ori, read(o), 1e-5, "ori");
            assertClose(vv, read(v), 1e-5, "vv");
            o.fill(0);
            NativeCalls.check(ClipSurgeryNative.cs_attention_dual_cpu(in, F32, 1, n, c, heads, scale, o, null, null), "q-k only");
            assertClose(ori, read(o), 1e-5, "q-k only");
            NativeCalls.check(ClipSurgeryNative.cs_attention_dual_cpu(in, F32, 1, n, c, heads, scale, null, v, null), "v-v only");
            assertClose(vv, read(v), 1e-5, "v-v only");
        }
        // fp16 in and out: the reference sees the same rounded inputs; the output is rounded once.
        try (ShortPointer in = new ShortPointer(qkv.length); ShortPointer v = new ShortPointer(n * c)) {
            float[] rounded = new float[qkv.length];
            for (int i = 0; i < qkv.length; i++) {
                in.put(i, Half.fromFloat(qkv[i]));
                rounded[i] = Half.toFloat(Half.fromFloat(qkv[i]));
            }
            NativeCalls.check(ClipSurgeryNative.cs_attention_dual_cpu(in, ClipSurgeryNative.CS_F16, 1, n, c, heads, scale, null, v, null), "f16");
            float[] got = new float[n * c];
            for (int i = 0; i < got.length; i++) got[i] = Half.toFloat(v.get(i));
            assertClose(attentionReference(rounded, n, c, heads, scale, 2, 2), got, 1e-3, "f16 vv");
        }
    }

    @Test
    void engineHelpers() {
        Random rng = new Random(11);
        int rows = 5, cols = 48;
        float[] x = random(rng, rows * cols, -2, 2), y = random(rng, rows * cols, -2, 2);
        float[] w = random(rng, cols, 0.5f, 1.5f), b = random(rng, cols, -1, 1);
        double[] ln = new double[x.length], gelu = new double[x.length], add = new double[x.length], l2 = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double mean = 0, var = 0, sq = 0;
            for (int c = 0; c < cols; c++) mean += x[r * cols + c];
            mean /= cols;
            for (int c = 0; c < cols; c++) {
                var += Math.pow(x[r * cols + c] - mean, 2);
                sq += x[r * cols + c] * x[r * cols + c];
            }
            var /= cols;
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                ln[i] = (x[i] - mean) / Math.sqrt(var + 1e-5) * w[c] + b[c];
                double v = x[i] + b[c];
                gelu[i] = v / (1 + Math.exp(-1.702 * v));
                add[i] = x[i] + y[i] + b[c];
                l2[i] = x[i] / Math.sqrt(sq);
            }
        }
        try (FloatPointer px = new FloatPointer(x); FloatPointer py = new FloatPointer(y); FloatPointer pw = new FloatPointer(w);
                FloatPointer pb = new FloatPointer(b); FloatPointer out = new FloatPointer(x.length)) {
            NativeCalls.check(ClipSurgeryNative.cs_layer_norm_cpu(px, F32, rows, cols, pw, pb, 1e-5f, out, null), "layer_norm");
            assertClose(ln, read(out), 1e-5, "layer_norm");
            NativeCalls.check(ClipSurgeryNative.cs_bias_quick_gelu_cpu(px, F32, rows, cols, pb, out, null), "gelu");
            assertClose(gelu, read(out), 1e-5, "bias_quick_gelu");
            NativeCalls.check(ClipSurgeryNative.cs_l2_normalize_cpu(px, F32, rows, cols, out, null), "l2");
            assertClose(l2, read(out), 1e-5, "l2_normalize");
            out.put(x);
            // the residual add as the engine calls it: out = x, b = y with all rows, b_bias = bias
            NativeCalls.check(ClipSurgeryNative.cs_add_cpu(out, (FloatPointer) null, py, rows, pb, F32, rows, cols, out, null), "residual");
            assertClose(add, read(out), 1e-5, "add (residual)");
        }
    }

    @Test
    void embedTokensResizesPositionGridAndClassTokenCopies() {
        Random rng = new Random(13);
        int g = 3, g0 = 2, c = 4, n = 1 + g * g;
        float[] patches = random(rng, g * g * c, -1, 1), cls = random(rng, c, -1, 1), pos = random(rng, (1 + g0 * g0) * c, -1, 1);
        double[] want = new double[n * c];
        for (int ch = 0; ch < c; ch++) {
            want[ch] = cls[ch] + pos[ch];
            for (int i = 0; i < g * g; i++) {
                // torch bilinear, align_corners=False, scale g0/g: src = (dst + 0.5)·g0/g − 0.5, clamped at 0
                double sy = Math.max((i / g + 0.5) * g0 / g - 0.5, 0), sx = Math.max((i % g + 0.5) * g0 / g - 0.5, 0);
                int y0 = (int) sy, x0 = (int) sx, y1 = Math.min(y0 + 1, g0 - 1), x1 = Math.min(x0 + 1, g0 - 1);
                double wy = sy - y0, wx = sx - x0;
                double e = (1 - wy) * ((1 - wx) * pos[(1 + y0 * g0 + x0) * c + ch] + wx * pos[(1 + y0 * g0 + x1) * c + ch])
                        + wy * ((1 - wx) * pos[(1 + y1 * g0 + x0) * c + ch] + wx * pos[(1 + y1 * g0 + x1) * c + ch]);
                want[(1 + i) * c + ch] = patches[i * c + ch] + e;
            }
        }
        try (FloatPointer out = new FloatPointer(n * c); FloatPointer dst = new FloatPointer(n * c)) {
            NativeCalls.check(ClipSurgeryNative.cs_embed_tokens_cpu(new FloatPointer(patches), F32, 1, g, c,
                    new FloatPointer(cls), new FloatPointer(pos), g0, out, null), "embed_tokens");
            assertClose(want, read(out), 1e-5, "embed_tokens");
            dst.fill(0);
            NativeCalls.check(ClipSurgeryNative.cs_class_token_copy_cpu(out, dst, F32, 1, n, c, null), "class_token_copy");
            for (int i = 0; i < n * c; i++) assertEquals(i < c ? out.get(i) : 0f, dst.get(i), 0f, "class_token_copy " + i);
        }
    }

    @Test
    void addBroadcastsRowsAndAddsBiases() {
        Random rng = new Random(17);
        int rows = 6, cols = 10, bRows = 3;
        float[] a = random(rng, rows * cols, -2, 2), b = random(rng, bRows * cols, -2, 2);
        float[] ab = random(rng, cols, -1, 1), bb = random(rng, cols, -1, 1);
        double[] all = new double[rows * cols], aBiasOnly = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                all[i] = (double) a[i] + ab[c] + b[(r % bRows) * cols + c] + bb[c];
                aBiasOnly[i] = (double) a[i] + ab[c];
            }
        }
        try (FloatPointer pa = new FloatPointer(a); FloatPointer pb = new FloatPointer(b); FloatPointer pab = new FloatPointer(ab);
                FloatPointer pbb = new FloatPointer(bb); FloatPointer out = new FloatPointer(rows * cols)) {
            NativeCalls.check(ClipSurgeryNative.cs_add_cpu(pa, pab, pb, bRows, pbb, F32, rows, cols, out, null), "add");
            assertClose(all, read(out), 1e-6, "add, b broadcast over rows, both biases");
            // a bias alone: b = NULL (b_rows is then not read)
            NativeCalls.check(ClipSurgeryNative.cs_add_cpu(pa, pab, null, 0, null, F32, rows, cols, out, null), "bias only");
            assertClose(aBiasOnly, read(out), 1e-6, "add, a_bias only");
            // in place: out = a
            out.put(a);
            NativeCalls.check(ClipSurgeryNative.cs_add_cpu(out, pab, pb, bRows, pbb, F32, rows, cols, out, null), "in place");
            assertClose(all, read(out), 1e-6, "add in place");
        }
    }

    /** x rounded to nearest even with `bits` significant bits, exponent at least minExp (gradual
     * underflow), infinity past `max`: a reference independent of the library's bit tricks. */
    private static double roundNearestEven(double x, int bits, int minExp, double max) {
        if (x == 0 || Double.isNaN(x) || Double.isInfinite(x)) return x;
        double ulp = Math.scalb(1.0, Math.max(Math.getExponent(x), minExp) - (bits - 1));
        double r = Math.rint(x / ulp) * ulp;
        return Math.abs(r) > max ? Math.copySign(Double.POSITIVE_INFINITY, x) : r;
    }

    @Test
    void convertRoundsToNearestEven() {
        Random rng = new Random(19);
        int n = 300;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (rng.nextFloat() * 2 - 1) * (float) Math.scalb(1.0, rng.nextInt(40) - 28);
        // ties either way in f16 and bf16, f16 underflow ties, the f16 overflow edge
        float[] edges = {1 + 0x1p-11f, 1 + 3 * 0x1p-11f, 1 + 0x1p-8f, 1 + 3 * 0x1p-8f, 0x1p-25f, 3 * 0x1p-25f, 65504f, 65519f,
            65520f, -70000f, 0x1p-14f - 0x1p-25f, -0f};
        System.arraycopy(edges, 0, x, 0, edges.length);
        try (FloatPointer px = new FloatPointer(x); ShortPointer h = new ShortPointer(n); ShortPointer bf = new ShortPointer(n);
                FloatPointer back = new FloatPointer(n)) {
            NativeCalls.check(ClipSurgeryNative.cs_convert_cpu(px, F32, n, h, ClipSurgeryNative.CS_F16, null), "f32 -> f16");
            NativeCalls.check(ClipSurgeryNative.cs_convert_cpu(px, F32, n, bf, ClipSurgeryNative.CS_BF16, null), "f32 -> bf16");
            for (int i = 0; i < n; i++) {
                assertEquals((float) roundNearestEven(x[i], 11, -14, 65504), Half.toFloat(h.get(i)), "f16 of " + x[i]);
                assertEquals((float) roundNearestEven(x[i], 8, -126, 0x1.fep127), Half.bf16ToFloat(bf.get(i)), "bf16 of " + x[i]);
            }
            // widening is exact; f16 -> bf16 rounds the f16 value once
            NativeCalls.check(ClipSurgeryNative.cs_convert_cpu(h, ClipSurgeryNative.CS_F16, n, back, F32, null), "f16 -> f32");
            for (int i = 0; i < n; i++) assertEquals(Half.toFloat(h.get(i)), back.get(i), "f32 of f16 " + i);
            NativeCalls.check(ClipSurgeryNative.cs_convert_cpu(h, ClipSurgeryNative.CS_F16, n, h, ClipSurgeryNative.CS_BF16, null),
                    "f16 -> bf16 in place");
            for (int i = 0; i < n; i++) { // back holds the f16 values exactly
                assertEquals((float) roundNearestEven(back.get(i), 8, -126, 0x1.fep127), Half.bf16ToFloat(h.get(i)), "bf16 of f16 " + i);
            }
        }
    }

    /** Offset of (n, c, y, x) in a (b, ch, h, w) image stored NCHW or NHWC. */
    private static int imageIndex(boolean nhwc, int n, int c, int y, int x, int ch, int h, int w) {
        return nhwc ? ((n * h + y) * w + x) * ch + c : ((n * ch + c) * h + y) * w + x;
    }

    /** im2col from the header: img (b, ch, h, w) NCHW → rows (n, oy, ox), columns (c, ky, kx), the
     * window at (oy·s − p, ox·s − p), zeros in the padding. */
    private static double[] im2colReference(float[] img, int b, int ch, int h, int w, int k, int s, int p) {
        int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1, cols = ch * k * k;
        double[] out = new double[b * oh * ow * cols];
        for (int n = 0; n < b; n++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int c = 0; c < ch; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int y = oy * s - p + ky, x = ox * s - p + kx;
                                boolean inside = y >= 0 && y < h && x >= 0 && x < w;
                                out[((n * oh + oy) * ow + ox) * cols + (c * k + ky) * k + kx] =
                                        inside ? img[imageIndex(false, n, c, y, x, ch, h, w)] : 0;
                            }
        return out;
    }

    @Test
    void im2colLaysOutWindowsAsConvolutionRows() {
        Random rng = new Random(23);
        // b, ch, h, w, kernel, stride, padding: patches (stride = kernel, padding 0: what cs_patchify
        // was), a padded 3×3/2 with an odd remainder (7 + 2 − 3 = 6 rows, 8 + 2 − 3 = 7 columns), a
        // 1×1 and a 7×7/2 stem with padding 3
        int[][] shapes = {{2, 3, 8, 12, 4, 4, 0}, {1, 2, 7, 8, 3, 2, 1}, {2, 4, 3, 5, 1, 1, 0}, {1, 3, 9, 8, 7, 2, 3}};
        for (int[] sh : shapes) {
            int b = sh[0], ch = sh[1], h = sh[2], w = sh[3], k = sh[4], s = sh[5], p = sh[6];
            float[] img = random(rng, b * ch * h * w, -1, 1);
            double[] want = im2colReference(img, b, ch, h, w, k, s, p);
            for (int layout : new int[] {ClipSurgeryNative.CS_NCHW, ClipSurgeryNative.CS_NHWC}) {
                boolean nhwc = layout == ClipSurgeryNative.CS_NHWC;
                float[] stored = new float[img.length];
                for (int n = 0; n < b; n++)
                    for (int c = 0; c < ch; c++)
                        for (int y = 0; y < h; y++)
                            for (int x = 0; x < w; x++)
                                stored[imageIndex(nhwc, n, c, y, x, ch, h, w)] = img[imageIndex(false, n, c, y, x, ch, h, w)];
                String what = "im2col " + (nhwc ? "nhwc " : "nchw ") + Arrays.toString(sh);
                try (FloatPointer px = new FloatPointer(stored); FloatPointer out = new FloatPointer(want.length);
                        ShortPointer half = new ShortPointer(want.length)) {
                    out.fill(0xFF); // NaN: every element must be written
                    NativeCalls.check(ClipSurgeryNative.cs_im2col_cpu(px, F32, layout, b, ch, h, w, k, s, p, F32, out, null), what);
                    assertClose(want, read(out), 0, what + " f32");
                    NativeCalls.check(ClipSurgeryNative.cs_im2col_cpu(px, F32, layout, b, ch, h, w, k, s, p, ClipSurgeryNative.CS_F16,
                            half, null), what + " f16");
                    for (int i = 0; i < want.length; i++) assertEquals(Half.fromFloat((float) want[i]), half.get(i), what + " f16 " + i);
                }
            }
        }
        // f16 input (channels-last, as the ResNet's activations) → f32 out: exact
        int b = 1, ch = 5, h = 6, w = 5, k = 3, s = 1, p = 1;
        float[] img = random(rng, b * ch * h * w, -1, 1);
        try (ShortPointer px = new ShortPointer(img.length); FloatPointer out = new FloatPointer((long) h * w * ch * k * k)) {
            for (int c = 0; c < ch; c++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        int i = imageIndex(false, 0, c, y, x, ch, h, w);
                        img[i] = Half.toFloat(Half.fromFloat(img[i]));
                        px.put(imageIndex(true, 0, c, y, x, ch, h, w), Half.fromFloat(img[i]));
                    }
            NativeCalls.check(ClipSurgeryNative.cs_im2col_cpu(px, ClipSurgeryNative.CS_F16, ClipSurgeryNative.CS_NHWC, b, ch, h, w, k, s,
                    p, F32, out, null), "im2col f16 nhwc");
            assertClose(im2colReference(img, b, ch, h, w, k, s, p), read(out), 0, "im2col f16 nhwc -> f32");
        }
    }

    @Test
    void batchNormInPlaceAndOutOfPlace() {
        Random rng = new Random(31);
        int rows = 6, ch = 10;
        float eps = 1e-5f;
        float[] x = random(rng, rows * ch, -3, 3), wt = random(rng, ch, 0.5f, 1.5f), bias = random(rng, ch, -1, 1);
        float[] mean = random(rng, ch, -1, 1), var = random(rng, ch, 0.05f, 2);
        double[] want = new double[x.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < ch; c++)
                want[r * ch + c] = (x[r * ch + c] - (double) mean[c]) / Math.sqrt((double) var[c] + eps) * wt[c] + bias[c];
        try (FloatPointer px = new FloatPointer(x); FloatPointer pw = new FloatPointer(wt); FloatPointer pb = new FloatPointer(bias);
                FloatPointer pm = new FloatPointer(mean); FloatPointer pv = new FloatPointer(var); FloatPointer out = new FloatPointer(x.length)) {
            NativeCalls.check(ClipSurgeryNative.cs_batch_norm_cpu(px, F32, rows, ch, pw, pb, pm, pv, eps, out, null), "batch_norm");
            assertClose(want, read(out), 1e-5, "batch_norm");
            out.put(x);
            NativeCalls.check(ClipSurgeryNative.cs_batch_norm_cpu(out, F32, rows, ch, pw, pb, pm, pv, eps, out, null), "in place");
            assertClose(want, read(out), 1e-5, "batch_norm in place");
        }
    }

    @Test
    void reluKeepsPositivesAndNaN() {
        Random rng = new Random(37);
        float[] x = random(rng, 40, -1, 1);
        float[] specials = {-0f, 0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, -Float.MIN_VALUE};
        System.arraycopy(specials, 0, x, 0, specials.length);
        try (FloatPointer px = new FloatPointer(x); FloatPointer out = new FloatPointer(x.length)) {
            for (boolean inPlace : new boolean[] {false, true}) {
                FloatPointer dst = inPlace ? px : out;
                NativeCalls.check(ClipSurgeryNative.cs_relu_cpu(px, F32, x.length, dst, null), "relu");
                for (int i = 0; i < x.length; i++) {
                    // torch: NaN propagates; negatives and -0 give +0 (the bits of 0f)
                    float expected = Float.isNaN(x[i]) ? Float.NaN : x[i] > 0 ? x[i] : 0f;
                    assertEquals(Float.floatToIntBits(expected), Float.floatToIntBits(dst.get(i)),
                            "relu(" + x[i] + ")" + (inPlace ? " in place" : "") + ": " + dst.get(i));
                }
            }
        }
    }

    @Test
    void avgPoolMeansWholeWindows() {
        Random rng = new Random(41);
        int b = 2, h = 7, w = 9, ch = 3;
        float[] x = random(rng, b * h * w * ch, -1, 1);
        // AvgPool2d(2) and (3, 2) with rows/columns past the last window dropped; the global mean
        for (int[] k : new int[][] {{2, 2}, {3, 2}, {h, w}}) {
            int kh = k[0], kw = k[1], oh = h / kh, ow = w / kw;
            double[] want = new double[b * oh * ow * ch];
            for (int n = 0; n < b; n++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                        for (int c = 0; c < ch; c++) {
                            double sum = 0;
                            for (int y = oy * kh; y < oy * kh + kh; y++)
                                for (int xx = ox * kw; xx < ox * kw + kw; xx++) sum += x[((n * h + y) * w + xx) * ch + c];
                            want[((n * oh + oy) * ow + ox) * ch + c] = sum / (kh * kw);
                        }
            try (FloatPointer px = new FloatPointer(x); FloatPointer out = new FloatPointer(want.length)) {
                NativeCalls.check(ClipSurgeryNative.cs_avg_pool_cpu(px, F32, b, h, w, ch, kh, kw, out, null), "avg_pool");
                assertClose(want, read(out), 1e-6, "avg_pool " + kh + "x" + kw);
            }
        }
    }

    @Test
    void gatherRowsCopiesRowsAndZeroesOutOfRange() {
        int tableRows = 5, rowBytes = 6;
        int[] index = {4, -1, 0, 5, 2, Integer.MAX_VALUE};
        try (BytePointer table = new BytePointer(tableRows * rowBytes); IntPointer idx = new IntPointer(index);
                BytePointer out = new BytePointer(index.length * rowBytes)) {
            for (int i = 0; i < tableRows * rowBytes; i++) table.put(i, (byte) (i * 37 + 1));
            out.fill(0x55);
            NativeCalls.check(ClipSurgeryNative.cs_gather_rows_cpu(table, tableRows, rowBytes, idx, index.length, out, null), "gather");
            for (int r = 0; r < index.length; r++) {
                for (int k = 0; k < rowBytes; k++) {
                    boolean valid = index[r] >= 0 && index[r] < tableRows;
                    byte expected = valid ? table.get(index[r] * rowBytes + k) : 0;
                    assertEquals(expected, out.get(r * rowBytes + k), "row " + r + " byte " + k);
                }
            }
        }
    }

    /** softmax(scale·q·kᵀ)·v per head; rows `stride` apart from the given offsets; causal option. */
    private static double[] singleAttentionReference(float[] src, int qOff, int kOff, int vOff, int stride, int n, int c, int heads,
            float scale, boolean causal) {
        int d = c / heads;
        double[] out = new double[n * c];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < n; i++) {
                int keys = causal ? i + 1 : n;
                double[] p = new double[keys];
                double mx = Double.NEGATIVE_INFINITY, z = 0;
                for (int j = 0; j < keys; j++) {
                    double s = 0;
                    for (int e = 0; e < d; e++) s += (double) src[qOff + i * stride + h * d + e] * src[kOff + j * stride + h * d + e];
                    p[j] = s * scale;
                    mx = Math.max(mx, p[j]);
                }
                for (int j = 0; j < keys; j++) z += (p[j] = Math.exp(p[j] - mx));
                for (int e = 0; e < d; e++) {
                    double acc = 0;
                    for (int j = 0; j < keys; j++) acc += p[j] * src[vOff + j * stride + h * d + e];
                    out[i * c + h * d + e] = acc / z;
                }
            }
        }
        return out;
    }

    @Test
    void attentionCausalStridedAndVv() {
        Random rng = new Random(29);
        int n = 13, c = 32, heads = 2;
        float scale = (float) (1 / Math.sqrt(c / heads));
        float[] qkv = random(rng, n * 3 * c, -1.5f, 1.5f), plain = random(rng, n * c, -1.5f, 1.5f);
        try (FloatPointer in = new FloatPointer(qkv); FloatPointer x = new FloatPointer(plain); FloatPointer out = new FloatPointer(n * c)) {
            for (boolean causal : new boolean[] {false, true}) {
                // parts of a packed qkv: rows 3C apart
                NativeCalls.check(ClipSurgeryNative.cs_attention_cpu(in, in.getPointer(c), in.getPointer(2 * c), 3 * c, F32, 1, n, c, heads,
                        scale, causal ? 1 : 0, out, null), "attention packed");
                assertClose(singleAttentionReference(qkv, 0, c, 2 * c, 3 * c, n, c, heads, scale, causal), read(out), 1e-5,
                        "attention packed causal=" + causal);
                // q = k = v, a plain (n, c) tensor
                NativeCalls.check(ClipSurgeryNative.cs_attention_cpu(x, x, x, c, F32, 1, n, c, heads, scale, causal ? 1 : 0, out, null),
                        "attention q=k=v");
                assertClose(singleAttentionReference(plain, 0, 0, 0, c, n, c, heads, scale, causal), read(out), 1e-5,
                        "attention q=k=v causal=" + causal);
            }
        }
    }

    /**
     * The header's degenerate rules for maps, Java → twin, answers written out: non-finite values
     * take no part in min/max and become 0; a map without a positive, finite range is 0 and has
     * no points; n = 0 leaves every point entry at -1.
     */
    @Test
    void mapsDegenerateInputFollowsTheHeader() {
        float nan = Float.NaN;
        // g = 2 (N = 5), two labels per token: label 0 constant, label 1 = 0, NaN, 2, +inf.
        float[] sim = {7, 7, 3, 0, 3, nan, 3, 2, 3, Float.POSITIVE_INFINITY};
        try (FloatPointer out = new FloatPointer(8); IntPointer labels = new IntPointer(4)) {
            // 2×2 output: each pixel sits on its cell, so the maps are the normalised grids.
            NativeCalls.check(ClipSurgeryNative.cs_map_upsample_cpu(sim, 1, 5, 2, 2, 2,
                    ClipSurgeryNative.CS_LAYOUT_BTHW, F32, out, null), "map_upsample");
            assertEquals(Arrays.toString(new float[] {0, 0, 0, 0, 0, 0, 1, 0}), Arrays.toString(read(out)));
            NativeCalls.check(ClipSurgeryNative.cs_map_labels_cpu(sim, 1, 5, 2, 2, 2, 0f, -1,
                    ClipSurgeryNative.CS_I32, labels, null), "map_labels");
            int[] got = new int[4];
            labels.get(got);
            assertEquals(Arrays.toString(new int[] {0, 0, 1, 0}), Arrays.toString(got), "ties go to label 0");
        }
        // All NaN (NaN features): 0 everywhere, at any size.
        float[] allNan = new float[5];
        Arrays.fill(allNan, nan);
        try (FloatPointer out = new FloatPointer(6 * 9)) {
            NativeCalls.check(ClipSurgeryNative.cs_map_upsample_cpu(allNan, 1, 5, 1, 6, 9,
                    ClipSurgeryNative.CS_LAYOUT_BHWT, F32, out, null), "map_upsample");
            assertEquals(Arrays.toString(new float[6 * 9]), Arrays.toString(read(out)));
        }
        // Points, g = 4 → 2×2 cells (means of the 2×2 quadrants), 100×60 image: cells 0..3 at
        // (25,15) (75,15) (25,45) (75,45); max_points 3 → 6 (x, y) entries.
        int[] none = new int[12];
        Arrays.fill(none, -1);
        assertArrayEqualsText(none, 0, points(quadrants(1, 1, 1, 1), 0f), "constant map, threshold 0");
        assertArrayEqualsText(none, 0, points(quadrants(nan, nan, nan, nan), 0f), "all NaN");
        assertArrayEqualsText(none, 0, points(quadrants(0, 1, 2, 3), 1.5f), "no cell >= threshold");
        // Fewer cells than points asked: n = min(4, 4 / 2, 3) = 2.
        assertArrayEqualsText(new int[] {25, 45, 75, 45, 25, 15, 75, 15, -1, -1, -1, -1}, 2,
                points(quadrants(0, 1, 2, 3), 0f), "fewer cells than points");
        // A NaN patch: its cell → 0; cells 0, 0.5, 1, 0; one passes 0.8; lowest (stable): cell 0.
        float[] withNan = quadrants(0, 1, 2, 3);
        withNan[16] = nan; // patch (3, 3), a tap of cell 3 only
        assertArrayEqualsText(new int[] {25, 45, 25, 15, -1, -1, -1, -1, -1, -1, -1, -1}, 1,
                points(withNan, 0.8f), "NaN patch");
    }

    /** Similarity (1, 17, 1): a 4×4 grid of four 2×2 quadrants with the given values. */
    private static float[] quadrants(float q0, float q1, float q2, float q3) {
        float[] q = {q0, q1, q2, q3};
        float[] sim = new float[17];
        sim[0] = 99;
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) sim[1 + y * 4 + x] = q[(y / 2) * 2 + x / 2];
        }
        return sim;
    }

    /** cs_map_points_cpu on a 100×60 image with max_points 3: the 12 entries, then n. */
    private static int[] points(float[] sim, float threshold) {
        int[] pts = new int[13];
        int[] counts = {1234};
        Arrays.fill(pts, 1234);
        NativeCalls.check(ClipSurgeryNative.cs_map_points_cpu(sim, 1, 17, 1, 60, 100, threshold, 3, pts, counts, null),
                "map_points");
        assertEquals(1234, pts[12], "no write past the points");
        pts[12] = counts[0];
        return pts;
    }

    private static void assertArrayEqualsText(int[] wantPoints, int wantN, int[] got, String what) {
        assertEquals(wantN, got[12], what + ": n");
        assertEquals(Arrays.toString(wantPoints), Arrays.toString(Arrays.copyOf(got, 12)), what + ": points");
    }

    private static void assertInvalid(IntSupplier call, String what) {
        NativeException e = assertThrows(NativeException.class, () -> NativeCalls.check(call.getAsInt(), what));
        assertEquals(ClipSurgeryNative.CS_ERR_INVALID_ARGUMENT, e.status(), e.getMessage());
        assertTrue(e.getMessage().contains(what), e.getMessage());
    }

    @Test
    void badArgumentsBecomeExceptions() {
        try (FloatPointer f = new FloatPointer(1024); IntPointer ip = new IntPointer(64); BytePointer bp = new BytePointer(64)) {
            assertInvalid(() -> ClipSurgeryNative.cs_attention_dual_cpu(f, F32, 1, 4, 6, 4, 1f, f.getPointer(512), null, null), "attention_dual");
            assertInvalid(() -> ClipSurgeryNative.cs_attention_dual_cpu(f, 3, 1, 4, 8, 1, 1f, f.getPointer(512), null, null), "attention_dual");
            assertInvalid(() -> ClipSurgeryNative.cs_map_upsample_cpu(f, 1, 6, 1, 4, 4, ClipSurgeryNative.CS_LAYOUT_BTHW, F32, f.getPointer(512), null), "map_upsample");
            assertInvalid(() -> ClipSurgeryNative.cs_map_labels_cpu(f, 1, 5, 2, 4, 4, 0f, 300, ClipSurgeryNative.CS_U8, bp, null), "map_labels");
            assertInvalid(() -> ClipSurgeryNative.cs_map_points_cpu(f, 1, 5, 1, 4, 4, 0.8f, 0, ip, ip.getPointer(32), null), "map_points");
            assertInvalid(() -> ClipSurgeryNative.cs_preprocess_cpu(bp, 2, 2, 4, ClipSurgeryNative.CS_RGB, 2, 2, F32, f, null), "preprocess");
            assertInvalid(() -> ClipSurgeryNative.cs_layer_norm_cpu(f, F32, 1, 4, (FloatPointer) null, f, 1e-5f, f, null), "layer_norm");
            assertInvalid(() -> ClipSurgeryNative.cs_bias_quick_gelu_cpu(f, F32, 0, 4, f, f, null), "bias_quick_gelu");
            assertInvalid(() -> ClipSurgeryNative.cs_bias_gelu_cpu(f, F32, 0, 4, f, f.getPointer(8), null), "bias_gelu");
            assertInvalid(() -> ClipSurgeryNative.cs_add_cpu(f, (FloatPointer) null, f.getPointer(64), 4, null, F32, 6, 4, f.getPointer(128), null), "add");
            assertInvalid(() -> ClipSurgeryNative.cs_convert_cpu(f, ClipSurgeryNative.CS_U8, 4, f.getPointer(64), F32, null), "convert");
            assertInvalid(() -> ClipSurgeryNative.cs_im2col_cpu(f, F32, 2, 1, 1, 4, 4, 2, 2, 0, F32, f.getPointer(64), null), "im2col");
            assertInvalid(() -> ClipSurgeryNative.cs_im2col_cpu(f, F32, ClipSurgeryNative.CS_NCHW, 1, 1, 4, 4, 7, 1, 1, F32,
                    f.getPointer(64), null), "im2col");
            assertInvalid(() -> ClipSurgeryNative.cs_im2col_cpu(f, F32, ClipSurgeryNative.CS_NCHW, 1, 1, 4, 4, 2, 2, 0, F32, f.getPointer(8),
                    null), "im2col");
            assertInvalid(() -> ClipSurgeryNative.cs_batch_norm_cpu(f, F32, 2, 4, f, f, f, (FloatPointer) null, 1e-5f, f.getPointer(64), null),
                    "batch_norm");
            assertInvalid(() -> ClipSurgeryNative.cs_relu_cpu(f, F32, 0, f.getPointer(64), null), "relu");
            assertInvalid(() -> ClipSurgeryNative.cs_relu_cpu(f, F32, 8, f.getPointer(1), null), "relu");
            assertInvalid(() -> ClipSurgeryNative.cs_avg_pool_cpu(f, F32, 1, 2, 4, 4, 3, 2, f.getPointer(512), null), "avg_pool");
            assertInvalid(() -> ClipSurgeryNative.cs_gather_rows_cpu(f, 4, 3, ip, 2, f.getPointer(64), null), "gather_rows");
            assertInvalid(() -> ClipSurgeryNative.cs_attention_cpu(f, f, f, 8, F32, 1, 4, 8, 2, 1f, 2, f.getPointer(512), null), "attention");
            assertInvalid(() -> ClipSurgeryNative.cs_embed_tokens_cpu(f, F32, 1, 2, 4, f, f, 2, f, null), "embed_tokens");
            assertInvalid(() -> ClipSurgeryNative.cs_class_token_copy_cpu(f, f, ClipSurgeryNative.CS_I32, 1, 1, 4, null), "class_token_copy");
            assertInvalid(() -> ClipSurgeryNative.cs_l2_normalize_cpu(null, F32, 1, 4, f, null), "l2_normalize");
        }
    }

    @Test
    void cudaEntryPointsFailCleanlyWithoutGpu() {
        int[] count = new int[1];
        if (ClipSurgeryNative.cs_cuda_device_count(count) == ClipSurgeryNative.CS_OK && count[0] > 0) {
            return; // a GPU is here: KernelsCudaNativeTest (tag "gpu") exercises these
        }
        int expected = NativeCalls.cudaBuilt() ? ClipSurgeryNative.CS_ERR_CUDA : ClipSurgeryNative.CS_ERR_NO_CUDA;
        try (FloatPointer f = new FloatPointer(1024); IntPointer ip = new IntPointer(64); BytePointer bp = new BytePointer(64)) {
            Pointer o = f.getPointer(512);
            IntSupplier[] calls = {
                () -> ClipSurgeryNative.cs_attention_dual_cuda(f, F32, 1, 2, 64, 1, 0.125f, o, null, null),
                () -> ClipSurgeryNative.cs_map_upsample_cuda(f, 1, 5, 1, 4, 4, ClipSurgeryNative.CS_LAYOUT_BHWT, F32, o, null),
                () -> ClipSurgeryNative.cs_map_labels_cuda(f, 1, 5, 1, 4, 4, 0f, 0, ClipSurgeryNative.CS_I32, o, null),
                () -> ClipSurgeryNative.cs_map_points_cuda(f, 1, 5, 1, 4, 4, 0.8f, 1, ip, ip.getPointer(32), null),
                () -> ClipSurgeryNative.cs_preprocess_cuda(bp, 2, 2, 6, ClipSurgeryNative.CS_BGR, 2, 2, F32, o, null),
                () -> ClipSurgeryNative.cs_layer_norm_cuda(f, F32, 1, 4, f, f, 1e-5f, o, null),
                () -> ClipSurgeryNative.cs_bias_quick_gelu_cuda(f, F32, 1, 4, f, o, null),
                () -> ClipSurgeryNative.cs_bias_gelu_cuda(f, F32, 1, 4, f, o, null),
                () -> ClipSurgeryNative.cs_add_cuda(f, f.getPointer(8), f.getPointer(16), 1, f.getPointer(24), F32, 1, 4, o, null),
                () -> ClipSurgeryNative.cs_convert_cuda(f, F32, 4, o, ClipSurgeryNative.CS_F16, null),
                () -> ClipSurgeryNative.cs_im2col_cuda(f, F32, ClipSurgeryNative.CS_NHWC, 1, 1, 2, 2, 2, 2, 0, F32, o, null),
                () -> ClipSurgeryNative.cs_batch_norm_cuda(f, F32, 1, 4, f, f, f, f, 1e-5f, o, null),
                () -> ClipSurgeryNative.cs_relu_cuda(f, F32, 4, f, null),
                () -> ClipSurgeryNative.cs_avg_pool_cuda(f, F32, 1, 2, 2, 4, 2, 2, o, null),
                () -> ClipSurgeryNative.cs_gather_rows_cuda(f, 2, 8, ip, 1, o, null),
                () -> ClipSurgeryNative.cs_attention_cuda(f, f, f, 64, F32, 1, 2, 64, 1, 0.125f, 1, o, null),
                () -> ClipSurgeryNative.cs_embed_tokens_cuda(f, F32, 1, 1, 4, f, f, 1, o, null),
                () -> ClipSurgeryNative.cs_class_token_copy_cuda(f, o, F32, 1, 1, 4, null),
                () -> ClipSurgeryNative.cs_l2_normalize_cuda(f, F32, 1, 4, o, null),
                () -> ClipSurgeryNative.cs_feature_surgery_cuda(f, F32, 1, 2, 1, f, 1, (FloatPointer) null, f.getPointer(512), null),
            };
            for (IntSupplier call : calls) {
                NativeException e = assertThrows(NativeException.class, () -> NativeCalls.check(call.getAsInt(), "cuda call"));
                assertEquals(expected, e.status(), e.getMessage());
            }
        }
    }
}

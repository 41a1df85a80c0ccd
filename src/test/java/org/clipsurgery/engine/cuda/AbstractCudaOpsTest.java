package org.clipsurgery.engine.cuda;

import static org.clipsurgery.engine.cuda.GpuTests.assertClose;
import static org.clipsurgery.engine.cuda.GpuTests.random;
import static org.clipsurgery.engine.cuda.GpuTests.round;
import static org.clipsurgery.engine.cuda.GpuTests.tolerance;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.clipsurgery.CudaException;
import org.clipsurgery.Precision;
import org.clipsurgery.graph.Ops;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;
import org.clipsurgery.weights.DType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.clipsurgery.weights.HostTensor;

/**
 * {@link CudaOps} op by op against plain Java references (double accumulation) and the project's
 * CPU twins, on fresh seeded random inputs, in each precision. Inputs are rounded to the compute
 * type first, so the references see exactly what the GPU sees; the tolerance covers rounding of
 * outputs and intermediates ({@link GpuTests#tolerance}). LibTorch is not used: the GPU machine
 * does not carry it. Runs on a GPU ({@link CudaOpsGpuTest}) and on the host emulation
 * ({@link CudaOpsEmulatedTest}, which checks the backend's own logic, not the kernels).
 */
abstract class AbstractCudaOpsTest {
    /** A fresh device for one test. */
    abstract Gpu newGpu();

    private static DType type(Precision p) {
        return p == Precision.FP32 ? DType.F32 : p == Precision.FP16 ? DType.F16 : DType.BF16;
    }

    /** A CudaOps whose weights are the given host tensors. */
    private CudaOps ops(Precision p, Map<String, HostTensor> weights) {
        return new CudaOps(newGpu(), name -> {
            HostTensor h = weights.get(name);
            if (h == null) throw new IllegalArgumentException("no weight " + name);
            return h;
        }, p);
    }

    // ---- references ----------------------------------------------------------------------------

    /** x (m, k) · wᵀ, w (n, k), + bias (n) or null. */
    static float[] linearRef(float[] x, float[] w, float[] bias, int m, int n, int k) {
        float[] y = new float[m * n];
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) {
            double s = bias == null ? 0 : bias[j];
            for (int l = 0; l < k; l++) s += (double) x[i * k + l] * w[j * k + l];
            y[i * n + j] = (float) s;
        }
        return y;
    }

    static float gelu(double y) {
        return (float) (y / (1 + Math.exp(-1.702 * y)));
    }

    /** The exact GELU of fp32 values, by the CPU twin (test-native checks it against a double erf). */
    static float[] exactGelu(float[] x) {
        NativeCalls.load();
        try (FloatPointer in = new FloatPointer(x); FloatPointer out = new FloatPointer(x.length)) {
            NativeCalls.check(ClipSurgeryNative.cs_bias_gelu_cpu(in, ClipSurgeryNative.CS_F32, 1, x.length, (FloatPointer) null, out, null), "twin");
            float[] g = new float[x.length];
            out.get(g);
            return g;
        }
    }

    /** softmax(s·q·kᵀ)·v per head; q, k, v (b, n, c) with rows `stride` apart at the given offsets. */
    static float[] attentionRef(float[] src, int qOff, int kOff, int vOff, int stride, int b, int n, int c, int heads, boolean causal) {
        int d = c / heads;
        double scale = 1 / Math.sqrt(d);
        float[] out = new float[b * n * c];
        double[] p = new double[n];
        for (int bi = 0; bi < b; bi++) for (int h = 0; h < heads; h++) for (int i = 0; i < n; i++) {
            int keys = causal ? i + 1 : n;
            double mx = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < keys; j++) {
                double s = 0;
                for (int e = 0; e < d; e++) s += (double) src[(bi * n + i) * stride + qOff + h * d + e] * src[(bi * n + j) * stride + kOff + h * d + e];
                p[j] = s * scale;
                mx = Math.max(mx, p[j]);
            }
            double sum = 0;
            for (int j = 0; j < keys; j++) sum += p[j] = Math.exp(p[j] - mx);
            for (int e = 0; e < d; e++) {
                double acc = 0;
                for (int j = 0; j < keys; j++) acc += p[j] * src[(bi * n + j) * stride + vOff + h * d + e];
                out[(bi * n + i) * c + h * d + e] = (float) (acc / sum);
            }
        }
        return out;
    }

    // ---- tests -----------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Precision.class)
    void linearMatmulAndFusedBias(Precision p) {
        DType t = type(p);
        SplittableRandom rng = new SplittableRandom(1);
        int m = 37, k = 96, n = 80;
        float[] w = random(rng, n * k, -0.2, 0.2, t), bias = random(rng, n, -1, 1, DType.F32), w2 = random(rng, k * n, -0.2, 0.2, t);
        float[] x = random(rng, m * k, -1, 1, t), r = random(rng, m * n, -1, 1, t);
        Map<String, HostTensor> weights = new HashMap<>();
        weights.put("w", HostTensor.ofFloats(w, n, k));
        weights.put("b", HostTensor.ofFloats(bias, n));
        weights.put("w2", HostTensor.ofFloats(w2, k, n));
        try (CudaOps ops = ops(p, weights); Ops.Scope s = ops.scope()) {
            DeviceTensor dx = ops.upload(x, t, 1, m, k);
            float[] want = linearRef(x, w, bias, m, n, k);
            // bias added in place when the result is read
            assertClose(want, ops.toHost(ops.linear(dx, ops.weight("w"), ops.weight("b"))), tolerance(t), "linear " + p);
            // bias fused into the residual add
            float[] sum = new float[m * n];
            for (int i = 0; i < sum.length; i++) sum[i] = r[i] + round(want[i], t);
            DeviceTensor dr = ops.upload(r, t, 1, m, n);
            assertClose(sum, ops.toHost(ops.add(dr, ops.linear(dx, ops.weight("w"), ops.weight("b")))), tolerance(t), "linear+add " + p);
            // bias fused into QuickGELU
            float[] g = new float[m * n];
            for (int i = 0; i < g.length; i++) g[i] = gelu(want[i]);
            assertClose(g, ops.toHost(ops.quickGelu(ops.linear(dx, ops.weight("w"), ops.weight("b")))), tolerance(t), "linear+gelu " + p);
            // bias fused into the exact GELU (reference: the twin, which test-native checks against erf)
            assertClose(exactGelu(want), ops.toHost(ops.gelu(ops.linear(dx, ops.weight("w"), ops.weight("b")))), tolerance(t),
                    "linear+exact gelu " + p);
            // matmul with w2 (k, n)
            float[] w2t = new float[n * k];
            for (int i = 0; i < k; i++) for (int j = 0; j < n; j++) w2t[j * k + i] = w2[i * n + j];
            assertClose(linearRef(x, w2t, null, m, n, k), ops.toHost(ops.matmul(dx, ops.weight("w2"))), tolerance(t), "matmul " + p);
            // an fp32 input to a low-precision weight is converted
            DeviceTensor x32 = ops.upload(x, DType.F32, m, k);
            assertClose(linearRef(x, w, null, m, n, k), ops.toHost(ops.linear(x32, ops.weight("w"), null)), tolerance(t), "linear f32 in " + p);
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void layerNormGeluAddAgainstTwinsAndReferences(Precision p) {
        DType t = type(p);
        SplittableRandom rng = new SplittableRandom(2);
        int rows = 2 * 50, c = 192;
        float[] x = random(rng, rows * c, -3, 3, t), y = random(rng, 50 * c, -1, 1, t);
        float[] w = random(rng, c, 0.5, 1.5, DType.F32), b = random(rng, c, -0.5, 0.5, DType.F32);
        Map<String, HostTensor> weights = Map.of("ln.w", HostTensor.ofFloats(w, c), "ln.b", HostTensor.ofFloats(b, c));
        try (CudaOps ops = ops(p, weights); Ops.Scope s = ops.scope()) {
            DeviceTensor dx = ops.upload(x, t, 2, 50, c);
            NativeCalls.load();
            // OpenAI's epsilon and a large one, which shows that the argument reaches the kernel
            for (float eps : new float[] {1e-5f, 0.5f}) {
                float[] want = new float[rows * c];
                try (FloatPointer hx = new FloatPointer(x); FloatPointer hw = new FloatPointer(w); FloatPointer hb = new FloatPointer(b);
                        FloatPointer ho = new FloatPointer((long) rows * c)) {
                    NativeCalls.check(ClipSurgeryNative.cs_layer_norm_cpu(hx, ClipSurgeryNative.CS_F32, rows, c, hw, hb, eps, ho, null), "twin");
                    ho.get(want);
                }
                assertClose(want, ops.toHost(ops.layerNorm(dx, ops.weight("ln.w"), ops.weight("ln.b"), eps)), tolerance(t),
                        "layerNorm eps " + eps + " " + p);
            }
            float[] g = new float[x.length];
            for (int i = 0; i < g.length; i++) g[i] = gelu(x[i]);
            assertClose(g, ops.toHost(ops.quickGelu(dx)), tolerance(t), "quickGelu " + p);
            assertClose(exactGelu(x), ops.toHost(ops.gelu(dx)), tolerance(t), "gelu " + p);
            // broadcast add: (2, 50, c) + (50, c)
            float[] sum = new float[x.length];
            for (int i = 0; i < sum.length; i++) sum[i] = x[i] + y[i % y.length];
            assertClose(sum, ops.toHost(ops.add(dx, ops.upload(y, t, 50, c))), tolerance(t), "add broadcast " + p);
            assertThrows(IllegalArgumentException.class, () -> ops.add(dx, ops.upload(y, t, 50, 2, c / 2)));
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void patchConvolutionAndTokenOps(Precision p) {
        DType t = type(p);
        SplittableRandom rng = new SplittableRandom(3);
        int b = 2, ch = 3, patch = 8, side = 32, g = side / patch, cout = 64, n = g * g;
        float[] pix = random(rng, b * ch * side * side, -2, 2, DType.F32);
        float[] w = random(rng, cout * ch * patch * patch, -0.1, 0.1, t), cls = random(rng, cout, -1, 1, DType.F32);
        Map<String, HostTensor> weights = Map.of("conv", HostTensor.ofFloats(w, cout, ch, patch, patch), "cls", HostTensor.ofFloats(cls, cout));
        float[] pixT = round(pix, t); // the patches are converted to the compute type before the GEMM
        float[] tokens = new float[b * n * cout];
        for (int bi = 0; bi < b; bi++) for (int gy = 0; gy < g; gy++) for (int gx = 0; gx < g; gx++) for (int o = 0; o < cout; o++) {
            double s = 0;
            for (int c = 0; c < ch; c++) for (int ky = 0; ky < patch; ky++) for (int kx = 0; kx < patch; kx++) {
                s += (double) pixT[((bi * ch + c) * side + gy * patch + ky) * side + gx * patch + kx] * w[((o * ch + c) * patch + ky) * patch + kx];
            }
            tokens[(bi * n + gy * g + gx) * cout + o] = (float) s;
        }
        try (CudaOps ops = ops(p, weights); Ops.Scope s = ops.scope()) {
            DeviceTensor grid = ops.conv2d(ops.input(pix, b, ch, side, side), ops.weight("conv"), patch, 0);
            assertArrayEquals(new long[] {b, cout, g, g}, grid.shape());
            DeviceTensor tok = ops.gridToTokens(grid);
            assertArrayEquals(new long[] {b, n, cout}, tok.shape());
            assertClose(tokens, ops.toHost(tok), tolerance(t), "conv2d patches " + p);
            float[] tokT = ops.toHost(tok); // compare token moves exactly against what the GPU holds

            float[] withCls = new float[b * (n + 1) * cout];
            for (int bi = 0; bi < b; bi++) {
                for (int o = 0; o < cout; o++) withCls[bi * (n + 1) * cout + o] = round(cls[o], t);
                System.arraycopy(tokT, bi * n * cout, withCls, (bi * (n + 1) + 1) * cout, n * cout);
            }
            DeviceTensor x = ops.prependToken(tok, ops.weight("cls"));
            assertClose(withCls, ops.toHost(x), 1e-7, "prependToken (square grid) " + p);
            DeviceTensor odd = ops.upload(java.util.Arrays.copyOf(tokT, b * 3 * cout), t, b, 3, cout); // 3 tokens: not a square
            float[] oddWant = new float[b * 4 * cout];
            for (int bi = 0; bi < b; bi++) {
                for (int o = 0; o < cout; o++) oddWant[bi * 4 * cout + o] = round(cls[o], t);
                System.arraycopy(tokT, bi * 3 * cout, oddWant, (bi * 4 + 1) * cout, 3 * cout);
            }
            assertClose(oddWant, ops.toHost(ops.prependToken(odd, ops.weight("cls"))), 1e-7, "prependToken (other) " + p);

            float[] xs = ops.toHost(x);

            float[] other = random(rng, b * (n + 1) * cout, -1, 1, t);
            DeviceTensor src = ops.upload(other, t, b, n + 1, cout);
            DeviceTensor token0 = ops.classToken(src);
            assertArrayEquals(new long[] {b, 1, cout}, token0.shape(), "classToken shape");
            float[] swapped = xs.clone(), tokens0 = new float[b * cout];
            for (int bi = 0; bi < b; bi++) {
                System.arraycopy(other, bi * (n + 1) * cout, swapped, bi * (n + 1) * cout, cout);
                System.arraycopy(other, bi * (n + 1) * cout, tokens0, bi * cout, cout);
            }
            assertClose(tokens0, ops.toHost(token0), 1e-7, "classToken " + p);
            assertClose(swapped, ops.toHost(ops.withToken0From(x, token0)), 1e-7, "withToken0From " + p);
            assertClose(xs, ops.toHost(x), 1e-7, "withToken0From leaves its input alone " + p);
            assertThrows(IllegalArgumentException.class, () -> ops.withToken0From(x, src), "a token of the wrong shape");

            int[] index = {5, 2};
            float[] gathered = new float[b * cout];
            for (int bi = 0; bi < b; bi++) System.arraycopy(xs, (bi * (n + 1) + index[bi]) * cout, gathered, bi * cout, cout);
            assertClose(gathered, ops.toHost(ops.gatherTokens(x, index)), 1e-7, "gatherTokens " + p);
            assertThrows(IllegalArgumentException.class, () -> ops.gatherTokens(x, new int[] {n + 1, 0}));
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void embeddingAndTokenIds(Precision p) {
        DType t = type(p);
        SplittableRandom rng = new SplittableRandom(4);
        int vocab = 1000, c = 64, b = 3, len = 7;
        float[] table = random(rng, vocab * c, -1, 1, t);
        long[] ids = new long[b * len];
        for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(vocab);
        try (CudaOps ops = ops(p, Map.of("emb", HostTensor.ofFloats(table, vocab, c))); Ops.Scope s = ops.scope()) {
            DeviceTensor dids = ops.tokenIds(ids, b, len);
            float[] back = ops.toHost(dids);
            for (int i = 0; i < ids.length; i++) assertEquals(ids[i], (long) back[i], "token id " + i);
            float[] want = new float[b * len * c];
            for (int i = 0; i < ids.length; i++) System.arraycopy(table, (int) ids[i] * c, want, i * c, c);
            DeviceTensor e = ops.embedding(ops.weight("emb"), dids);
            assertArrayEquals(new long[] {b, len, c}, e.shape());
            assertClose(want, ops.toHost(e), 1e-7, "embedding " + p);
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void attentionAllPathsAgainstReferenceAndTwin(Precision p) {
        DType t = type(p);
        SplittableRandom rng = new SplittableRandom(5);
        // head dim 64 (the dual-path flash kernel) and 16 (cs_attention); 50 tokens (its
        // shared-memory variant, as for text) and 400 (its general one)
        for (int[] shape : new int[][] {{2, 50}, {8, 50}, {2, 400}, {8, 400}}) {
            int heads = shape[0], b = 2, n = shape[1], c = 128;
            float[] qkv = random(rng, b * n * 3 * c, -1.5, 1.5, t);
            try (CudaOps ops = ops(p, Map.of()); Ops.Scope s = ops.scope()) {
                DeviceTensor d = ops.upload(qkv, t, b, n, 3 * c);
                float[] ori = attentionRef(qkv, 0, c, 2 * c, 3 * c, b, n, c, heads, false);
                float[] vv = attentionRef(qkv, 2 * c, 2 * c, 2 * c, 3 * c, b, n, c, heads, false);
                float[] causal = attentionRef(qkv, 0, c, 2 * c, 3 * c, b, n, c, heads, true);
                String what = p + " heads " + heads + " tokens " + n;
                assertClose(ori, ops.toHost(ops.attention(d, heads, false)), tolerance(t), "attention " + what);
                assertClose(causal, ops.toHost(ops.attention(d, heads, true)), tolerance(t), "causal attention " + what);
                DeviceTensor[] dual = ops.dualAttention(d, heads);
                assertClose(ori, ops.toHost(dual[0]), tolerance(t), "dual (original path) " + what);
                assertClose(vv, ops.toHost(dual[1]), tolerance(t), "dual (v-v path) " + what);
                float[] v = new float[b * n * c];
                for (int r = 0; r < b * n; r++) System.arraycopy(qkv, r * 3 * c + 2 * c, v, r * c, c);
                assertClose(vv, ops.toHost(ops.vvAttention(ops.upload(v, t, b, n, c), heads)), tolerance(t), "vvAttention " + what);
                if (p == Precision.FP32) {
                    // the CPU twin agrees with the reference too (the oracle of the CUDA kernel)
                    float[] twin = new float[b * n * c];
                    NativeCalls.load();
                    try (FloatPointer h = new FloatPointer(qkv); FloatPointer o = new FloatPointer((long) b * n * c)) {
                        NativeCalls.check(ClipSurgeryNative.cs_attention_dual_cpu(h, ClipSurgeryNative.CS_F32, b, n, c, heads,
                                (float) (1 / Math.sqrt((double) c / heads)), o, null, null), "twin");
                        o.get(twin);
                    }
                    assertClose(ori, twin, 1e-5, "twin " + what);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void featureSurgeryBothModesAgainstTwin(Precision p) {
        DType t = type(p);
        SplittableRandom rng = new SplittableRandom(6);
        int b = 2, n = 65, c = 64, labels = 9;
        float[] img = random(rng, b * n * c, -1, 1, t), text = random(rng, labels * c, -0.3, 0.3, DType.F32), red = random(rng, c, -0.1, 0.1, DType.F32);
        NativeCalls.load();
        try (CudaOps ops = ops(p, Map.of()); Ops.Scope s = ops.scope()) {
            DeviceTensor di = ops.upload(img, t, b, n, c), dt = ops.input(text, labels, c), dr = ops.input(red, c);
            for (boolean redundant : new boolean[] {false, true}) {
                float[] want = new float[b * n * labels];
                try (FloatPointer hi = new FloatPointer(img); FloatPointer ht = new FloatPointer(text); FloatPointer hr = new FloatPointer(red);
                        FloatPointer ho = new FloatPointer(want.length)) {
                    NativeCalls.check(ClipSurgeryNative.cs_feature_surgery_cpu(hi, ClipSurgeryNative.CS_F32, b, n, c, ht, labels,
                            redundant ? hr : null, ho, null), "twin");
                    ho.get(want);
                }
                // fp32 similarity from low-precision tokens: the kernel normalises in fp32, so the
                // fp32 tolerance holds for every input type
                assertClose(want, ops.toHost(ops.featureSurgery(di, dt, redundant ? dr : null)), 1e-4,
                        "featureSurgery " + p + (redundant ? " redundant" : " label set"));
            }
        }
    }

    /** Direct convolution (B, C, H, W) * (O, C, k, k), zero padding, double accumulation. */
    static float[] convRef(float[] x, float[] w, int b, int c, int h, int wd, int o, int k, int stride, int pad) {
        int oh = (h + 2 * pad - k) / stride + 1, ow = (wd + 2 * pad - k) / stride + 1;
        float[] y = new float[b * o * oh * ow];
        for (int bi = 0; bi < b; bi++) for (int oc = 0; oc < o; oc++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) {
            double s = 0;
            for (int ci = 0; ci < c; ci++) for (int ky = 0; ky < k; ky++) for (int kx = 0; kx < k; kx++) {
                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += (double) x[((bi * c + ci) * h + iy) * wd + ix] * w[((oc * c + ci) * k + ky) * k + kx];
            }
            y[((bi * o + oc) * oh + oy) * ow + ox] = (float) s;
        }
        return y;
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void resnetOpsAgainstReferences(Precision p) {
        DType t = type(p);
        SplittableRandom rng = new SplittableRandom(8);
        int b = 2, c = 3, h = 13, wd = 10, o = 24, o2 = 16;
        float[] pix = random(rng, b * c * h * wd, -2, 2, DType.F32);
        float[] w1 = random(rng, o * c * 9, -0.3, 0.3, t), w2 = random(rng, o2 * o * 9, -0.1, 0.1, t), w3 = random(rng, o * o2, -0.2, 0.2, t);
        float[] gamma = random(rng, o, 0.5, 1.5, DType.F32), beta = random(rng, o, -0.5, 0.5, DType.F32),
                mean = random(rng, o, -0.2, 0.2, DType.F32), var = random(rng, o, 0.1, 2, DType.F32);
        Map<String, HostTensor> weights = new HashMap<>();
        weights.put("w1", HostTensor.ofFloats(w1, o, c, 3, 3));
        weights.put("w2", HostTensor.ofFloats(w2, o2, o, 3, 3));
        weights.put("w3", HostTensor.ofFloats(w3, o, o2, 1, 1));
        weights.put("g", HostTensor.ofFloats(gamma, o));
        weights.put("b", HostTensor.ofFloats(beta, o));
        weights.put("m", HostTensor.ofFloats(mean, o));
        weights.put("v", HostTensor.ofFloats(var, o));
        try (CudaOps ops = ops(p, weights); Ops.Scope s = ops.scope()) {
            // the stem: 3×3, stride 2, padding 1 on NCHW pixels (converted to the compute type first)
            DeviceTensor y1 = ops.conv2d(ops.input(pix, b, c, h, wd), ops.weight("w1"), 2, 1);
            int h1 = (h + 2 - 3) / 2 + 1, wd1 = (wd + 2 - 3) / 2 + 1;
            assertArrayEquals(new long[] {b, o, h1, wd1}, y1.shape());
            float[] ref1 = convRef(round(pix, t), w1, b, c, h, wd, o, 3, 2, 1);
            assertClose(ref1, ops.toHost(y1), tolerance(t), "conv 3×3 s2 p1 " + p);
            float[] got1 = ops.toHost(y1); // NCHW, what the GPU holds (rounded to t)

            // batch norm and ReLU on the channels-last result
            DeviceTensor bn = ops.batchNorm(y1, ops.weight("g"), ops.weight("b"), ops.weight("m"), ops.weight("v"));
            float[] refBn = new float[got1.length], refRelu = new float[got1.length];
            int plane = h1 * wd1;
            for (int i = 0; i < got1.length; i++) {
                int ch = i / plane % o;
                refBn[i] = (float) ((got1[i] - mean[ch]) / Math.sqrt(var[ch] + 1e-5) * gamma[ch] + beta[ch]);
                refRelu[i] = Math.max(round(refBn[i], t), 0f);
            }
            assertClose(refBn, ops.toHost(bn), tolerance(t), "batch norm " + p);
            DeviceTensor r = ops.relu(bn);
            assertClose(refRelu, ops.toHost(r), tolerance(t), "relu " + p);
            float[] gotR = ops.toHost(r);

            // 3×3, stride 1, padding 1 on channels-last input; then 1×1 (the GEMM alone)
            DeviceTensor y2 = ops.conv2d(r, ops.weight("w2"), 1, 1);
            float[] ref2 = convRef(gotR, w2, b, o, h1, wd1, o2, 3, 1, 1);
            assertClose(ref2, ops.toHost(y2), tolerance(t), "conv 3×3 s1 p1 channels-last " + p);
            float[] got2 = ops.toHost(y2);
            DeviceTensor y3 = ops.conv2d(y2, ops.weight("w3"), 1, 0);
            assertClose(convRef(got2, w3, b, o2, h1, wd1, o, 1, 1, 0), ops.toHost(y3), tolerance(t), "conv 1×1 " + p);

            // residual add of two channels-last maps, average pooling (remainders dropped), tokens
            DeviceTensor sum = ops.add(y3, y1);
            float[] got3 = ops.toHost(y3), refSum = new float[got3.length];
            for (int i = 0; i < refSum.length; i++) refSum[i] = got3[i] + got1[i];
            assertClose(refSum, ops.toHost(sum), tolerance(t), "channels-last add " + p);
            float[] gotSum = ops.toHost(sum);
            DeviceTensor pooled = ops.avgPool(sum, 2);
            int ph = h1 / 2, pw = wd1 / 2;
            assertArrayEquals(new long[] {b, o, ph, pw}, pooled.shape());
            float[] refPool = new float[b * o * ph * pw];
            for (int bc = 0; bc < b * o; bc++) for (int y = 0; y < ph; y++) for (int x = 0; x < pw; x++) {
                double acc = 0;
                for (int dy = 0; dy < 2; dy++) for (int dx = 0; dx < 2; dx++) acc += gotSum[(bc * h1 + 2 * y + dy) * wd1 + 2 * x + dx];
                refPool[(bc * ph + y) * pw + x] = (float) (acc / 4);
            }
            assertClose(refPool, ops.toHost(pooled), tolerance(t), "avg pool 2 " + p);
            DeviceTensor tokens = ops.gridToTokens(pooled);
            assertArrayEquals(new long[] {b, ph * pw, o}, tokens.shape());
            float[] gotTok = ops.toHost(tokens), refMean = new float[b * o];
            for (int bi = 0; bi < b; bi++) for (int ch = 0; ch < o; ch++) {
                double acc = 0;
                for (int n = 0; n < ph * pw; n++) acc += gotTok[(bi * ph * pw + n) * o + ch];
                refMean[bi * o + ch] = (float) (acc / (ph * pw));
            }
            assertClose(refMean, ops.toHost(ops.meanToken(tokens)), tolerance(t), "mean token " + p);

            // refused clearly: ResNet-only ops on a plain tensor, mismatched layouts, non-square kernels
            DeviceTensor plain = ops.upload(new float[b * o * 4], t, b, o, 2, 2);
            assertThrows(IllegalArgumentException.class, () -> ops.batchNorm(plain, ops.weight("g"), ops.weight("b"), ops.weight("m"),
                    ops.weight("v")));
            assertThrows(IllegalArgumentException.class, () -> ops.avgPool(plain, 2));
            assertThrows(IllegalArgumentException.class, () -> ops.add(y1, plain));
            assertThrows(IllegalArgumentException.class, () -> ops.conv2d(plain, ops.upload(new float[o * o * 2], t, o, o, 2, 1), 1, 0));
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void scopesReuseMemoryAndOutOfMemorySaysSo(Precision p) {
        DType t = type(p);
        try (CudaOps ops = ops(p, Map.of())) {
            long before;
            try (Ops.Scope s = ops.scope()) {
                before = ops.arena.mark();
                ops.upload(new float[4096], t, 4096);
            }
            try (Ops.Scope s = ops.scope()) {
                assertEquals(before, ops.arena.mark(), "a closed scope gives its memory back");
            }
            CudaException oom = assertThrows(CudaException.class, () -> {
                try (Ops.Scope s = ops.scope()) {
                    ops.upload(new float[1], t, 1L << 50); // a petabyte: cudaMalloc must refuse
                }
            });
            org.junit.jupiter.api.Assertions.assertTrue(oom.kind() == CudaException.Kind.OUT_OF_MEMORY, oom.getMessage());
        }
    }
}

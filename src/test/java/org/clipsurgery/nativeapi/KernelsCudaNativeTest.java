package org.clipsurgery.nativeapi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Every CUDA entry point through JavaCPP against its CPU twin, on device memory from
 * org.bytedeco:cuda. Tagged {@code gpu} (excluded by default: run with
 * {@code -Dsurefire.excludedGroups= -Dgroups=gpu}); skips where there is no CUDA device.
 * Outputs are poisoned with NaN (0xFF bytes) first, so an element the kernel never writes fails.
 * Tolerance: 1e-5 of the output's scale (fp32, as the issue asks).
 */
@Tag("gpu")
class KernelsCudaNativeTest {
    private static final int F32 = ClipSurgeryNative.CS_F32;
    private final List<Pointer> allocations = new ArrayList<>();

    @BeforeAll
    static void requireDevice() {
        NativeCalls.load();
        int[] count = new int[1];
        assumeTrue(NativeCalls.cudaBuilt(), "library built without CUDA");
        assumeTrue(ClipSurgeryNative.cs_cuda_device_count(count) == ClipSurgeryNative.CS_OK && count[0] > 0,
                "no CUDA device");
    }

    @AfterEach
    void free() {
        for (Pointer p : allocations) cudart.cudaFree(p);
        allocations.clear();
    }

    private Pointer device(long bytes, int fill) {
        PointerPointer<Pointer> pp = new PointerPointer<>(1);
        assertEquals(0, cudart.cudaMalloc(pp, bytes), "cudaMalloc");
        Pointer p = pp.get(0);
        allocations.add(p);
        assertEquals(0, cudart.cudaMemset(p, fill, bytes));
        return p;
    }

    private Pointer upload(Pointer host, long bytes) {
        Pointer p = device(bytes, 0);
        assertEquals(0, cudart.cudaMemcpy(p, host, bytes, cudart.cudaMemcpyHostToDevice));
        return p;
    }

    private static void download(Pointer host, Pointer dev, long bytes) {
        assertEquals(0, cudart.cudaDeviceSynchronize(), "kernel failed");
        assertEquals(0, cudart.cudaMemcpy(host, dev, bytes, cudart.cudaMemcpyDeviceToHost));
    }

    private static FloatPointer random(Random rng, int n, float lo, float hi) {
        FloatPointer p = new FloatPointer(n);
        for (int i = 0; i < n; i++) p.put(i, lo + (hi - lo) * rng.nextFloat());
        return p;
    }

    private static void assertClose(FloatPointer want, FloatPointer got, String what) {
        double scale = 0;
        for (long i = 0; i < want.limit(); i++) scale = Math.max(scale, Math.abs(want.get(i)));
        for (long i = 0; i < want.limit(); i++) {
            assertTrue(Math.abs(got.get(i) - want.get(i)) <= 1e-5 * scale,
                    what + " element " + i + ": twin " + want.get(i) + ", kernel " + got.get(i));
        }
    }

    @Test
    void attentionDualEqualsTwin() {
        Random rng = new Random(21);
        for (int n : new int[] {2, 65, 197}) {
            int c = 128, heads = 2;
            float scale = 0.125f;
            FloatPointer qkv = random(rng, n * 3 * c, -1, 1);
            FloatPointer ori = new FloatPointer(n * c), vv = new FloatPointer(n * c);
            NativeCalls.check(ClipSurgeryNative.cs_attention_dual_cpu(qkv, F32, 1, n, c, heads, scale, ori, vv, null), "cpu");
            Pointer dq = upload(qkv, 4L * n * 3 * c), dori = device(4L * n * c, 0xFF), dvv = device(4L * n * c, 0xFF);
            NativeCalls.check(ClipSurgeryNative.cs_attention_dual_cuda(dq, F32, 1, n, c, heads, scale, dori, dvv, null), "cuda");
            FloatPointer got = new FloatPointer(n * c);
            download(got, dori, 4L * n * c);
            assertClose(ori, got, "attention ori n=" + n);
            download(got, dvv, 4L * n * c);
            assertClose(vv, got, "attention vv n=" + n);
        }
    }

    @Test
    void featureSurgeryEqualsTwin() {
        Random rng = new Random(22);
        int n = 50, c = 64, t = 7;
        FloatPointer img = random(rng, n * c, -1, 1), text = random(rng, t * c, -0.2f, 0.2f), want = new FloatPointer(n * t);
        NativeCalls.check(ClipSurgeryNative.cs_feature_surgery_cpu(img, F32, 1, n, c, text, t, (FloatPointer) null, want, null), "cpu");
        Pointer dout = device(4L * n * t, 0xFF);
        NativeCalls.check(ClipSurgeryNative.cs_feature_surgery_cuda(upload(img, 4L * n * c), F32, 1, n, c,
                new FloatPointer(upload(text, 4L * t * c)), t, (FloatPointer) null, new FloatPointer(dout), null), "cuda");
        FloatPointer got = new FloatPointer(n * t);
        download(got, dout, 4L * n * t);
        assertClose(want, got, "feature surgery");
    }

    @Test
    void mapsEqualTwin() {
        Random rng = new Random(23);
        int n = 197, t = 5, h = 60, w = 80;
        FloatPointer sim = random(rng, n * t, -1, 1);
        FloatPointer dsim = new FloatPointer(upload(sim, 4L * n * t));
        FloatPointer want = new FloatPointer((long) t * h * w), got = new FloatPointer((long) t * h * w);
        for (int layout : new int[] {ClipSurgeryNative.CS_LAYOUT_BTHW, ClipSurgeryNative.CS_LAYOUT_BHWT}) {
            NativeCalls.check(ClipSurgeryNative.cs_map_upsample_cpu(sim, 1, n, t, h, w, layout, F32, want, null), "cpu");
            Pointer dout = device(4L * t * h * w, 0xFF);
            NativeCalls.check(ClipSurgeryNative.cs_map_upsample_cuda(dsim, 1, n, t, h, w, layout, F32, dout, null), "cuda");
            download(got, dout, 4L * t * h * w);
            assertClose(want, got, "map_upsample layout " + layout);
        }
        BytePointer labels = new BytePointer((long) h * w), glabels = new BytePointer((long) h * w);
        NativeCalls.check(ClipSurgeryNative.cs_map_labels_cpu(sim, 1, n, t, h, w, 0.5f, 200, ClipSurgeryNative.CS_U8, labels, null), "cpu");
        Pointer dl = device((long) h * w, 0xFF);
        NativeCalls.check(ClipSurgeryNative.cs_map_labels_cuda(dsim, 1, n, t, h, w, 0.5f, 200, ClipSurgeryNative.CS_U8, dl, null), "cuda");
        download(glabels, dl, (long) h * w);
        byte[] a = new byte[h * w], b = new byte[h * w];
        labels.get(a);
        glabels.get(b);
        assertArrayEquals(a, b, "map_labels");
        int max = 16;
        int[] pts = new int[t * max * 4], counts = new int[t];
        try (IntPointer hp = new IntPointer(pts.length); IntPointer hc = new IntPointer(t)) {
            NativeCalls.check(ClipSurgeryNative.cs_map_points_cpu(sim, 1, n, t, h, w, 0.8f, max, hp, hc, null), "cpu");
            hp.get(pts);
            hc.get(counts);
        }
        Pointer dp = device(4L * pts.length, 0xFF), dc = device(4L * t, 0xFF);
        NativeCalls.check(ClipSurgeryNative.cs_map_points_cuda(dsim, 1, n, t, h, w, 0.8f, max, new IntPointer(dp), new IntPointer(dc), null), "cuda");
        IntPointer gp = new IntPointer(pts.length), gc = new IntPointer(t);
        download(gp, dp, 4L * pts.length);
        download(gc, dc, 4L * t);
        int[] gpa = new int[pts.length], gca = new int[t];
        gp.get(gpa);
        gc.get(gca);
        assertArrayEquals(counts, gca, "map_points counts");
        assertArrayEquals(pts, gpa, "map_points points");
    }

    @Test
    void preprocessEqualsTwin() {
        Random rng = new Random(24);
        int h = 120, w = 160, pitch = 3 * w + 32, r = 64;
        BytePointer frame = new BytePointer((long) h * pitch);
        for (int i = 0; i < h * pitch; i++) frame.put(i, (byte) rng.nextInt(256));
        FloatPointer want = new FloatPointer(3L * r * r), got = new FloatPointer(3L * r * r);
        NativeCalls.check(ClipSurgeryNative.cs_preprocess_cpu(frame, h, w, pitch, ClipSurgeryNative.CS_BGR, r, r, F32, want, null), "cpu");
        Pointer dout = device(4L * 3 * r * r, 0xFF);
        NativeCalls.check(ClipSurgeryNative.cs_preprocess_cuda(new BytePointer(upload(frame, (long) h * pitch)), h, w, pitch,
                ClipSurgeryNative.CS_BGR, r, r, F32, dout, null), "cuda");
        download(got, dout, 4L * 3 * r * r);
        for (int i = 0; i < 3 * r * r; i++) {
            // within one uint8 level (1 / (255 · 0.26) after normalisation), as the issue allows
            assertTrue(Math.abs(got.get(i) - want.get(i)) <= 1 / (255 * 0.26) + 1e-5, "preprocess element " + i);
        }
    }

    @Test
    void engineHelpersEqualTwin() {
        Random rng = new Random(25);
        int rows = 9, cols = 96, g = 4, g0 = 3, c = 8;
        FloatPointer x = random(rng, rows * cols, -2, 2), y = random(rng, rows * cols, -2, 2);
        FloatPointer wgt = random(rng, cols, 0.5f, 1.5f), bias = random(rng, cols, -1, 1);
        Pointer dx = upload(x, 4L * rows * cols), dy = upload(y, 4L * rows * cols);
        FloatPointer dw = new FloatPointer(upload(wgt, 4L * cols)), db = new FloatPointer(upload(bias, 4L * cols));
        FloatPointer want = new FloatPointer(rows * cols), got = new FloatPointer(rows * cols);
        Pointer dout = device(4L * rows * cols, 0xFF);

        NativeCalls.check(ClipSurgeryNative.cs_layer_norm_cpu(x, F32, rows, cols, wgt, bias, 1e-5f, want, null), "cpu");
        NativeCalls.check(ClipSurgeryNative.cs_layer_norm_cuda(dx, F32, rows, cols, dw, db, 1e-5f, dout, null), "cuda");
        download(got, dout, 4L * rows * cols);
        assertClose(want, got, "layer_norm");

        NativeCalls.check(ClipSurgeryNative.cs_bias_quick_gelu_cpu(x, F32, rows, cols, bias, want, null), "cpu");
        NativeCalls.check(ClipSurgeryNative.cs_bias_quick_gelu_cuda(dx, F32, rows, cols, db, dout, null), "cuda");
        download(got, dout, 4L * rows * cols);
        assertClose(want, got, "bias_quick_gelu");

        NativeCalls.check(ClipSurgeryNative.cs_l2_normalize_cpu(x, F32, rows, cols, want, null), "cpu");
        NativeCalls.check(ClipSurgeryNative.cs_l2_normalize_cuda(dx, F32, rows, cols, dout, null), "cuda");
        download(got, dout, 4L * rows * cols);
        assertClose(want, got, "l2_normalize");

        want.put(x);
        NativeCalls.check(ClipSurgeryNative.cs_add_cpu(want, (FloatPointer) null, y, rows, bias, F32, rows, cols, want, null), "cpu");
        NativeCalls.check(ClipSurgeryNative.cs_add_cuda(dx, (FloatPointer) null, dy, rows, db, F32, rows, cols, dx, null), "cuda");
        download(got, dx, 4L * rows * cols);
        assertClose(want, got, "add (residual, in place)");

        int n = 1 + g * g;
        FloatPointer patches = random(rng, g * g * c, -1, 1), cls = random(rng, c, -1, 1), pos = random(rng, (1 + g0 * g0) * c, -1, 1);
        FloatPointer ew = new FloatPointer(n * c), eg = new FloatPointer(n * c);
        NativeCalls.check(ClipSurgeryNative.cs_embed_tokens_cpu(patches, F32, 1, g, c, cls, pos, g0, ew, null), "cpu");
        Pointer de = device(4L * n * c, 0xFF);
        NativeCalls.check(ClipSurgeryNative.cs_embed_tokens_cuda(upload(patches, 4L * g * g * c), F32, 1, g, c,
                new FloatPointer(upload(cls, 4L * c)), new FloatPointer(upload(pos, 4L * (1 + g0 * g0) * c)), g0, de, null), "cuda");
        download(eg, de, 4L * n * c);
        assertClose(ew, eg, "embed_tokens");

        Pointer dst = device(4L * n * c, 0);
        NativeCalls.check(ClipSurgeryNative.cs_class_token_copy_cuda(de, dst, F32, 1, n, c, null), "cuda");
        download(eg, dst, 4L * n * c);
        for (int i = 0; i < n * c; i++) assertEquals(i < c ? ew.get(i) : 0f, eg.get(i), 0f, "class_token_copy " + i);
    }

    @Test
    void addBroadcastAndBiasesEqualTwin() {
        Random rng = new Random(26);
        int rows = 3 * 77, cols = 64, bRows = 77; // three prompts plus the position embedding
        FloatPointer a = random(rng, rows * cols, -2, 2), b = random(rng, bRows * cols, -2, 2);
        FloatPointer ab = random(rng, cols, -1, 1), bb = random(rng, cols, -1, 1);
        FloatPointer dab = new FloatPointer(upload(ab, 4L * cols)), dbb = new FloatPointer(upload(bb, 4L * cols));
        Pointer da = upload(a, 4L * rows * cols), db = upload(b, 4L * bRows * cols);
        FloatPointer want = new FloatPointer(rows * cols), got = new FloatPointer(rows * cols);
        NativeCalls.check(ClipSurgeryNative.cs_add_cpu(a, ab, b, bRows, bb, F32, rows, cols, want, null), "cpu");
        Pointer dout = device(4L * rows * cols, 0xFF);
        NativeCalls.check(ClipSurgeryNative.cs_add_cuda(da, dab, db, bRows, dbb, F32, rows, cols, dout, null), "cuda");
        download(got, dout, 4L * rows * cols);
        assertClose(want, got, "add broadcast + biases");
        // a bias alone, in place
        NativeCalls.check(ClipSurgeryNative.cs_add_cpu(a, ab, null, 0, null, F32, rows, cols, want, null), "cpu");
        NativeCalls.check(ClipSurgeryNative.cs_add_cuda(da, dab, null, 0, null, F32, rows, cols, da, null), "cuda");
        download(got, da, 4L * rows * cols);
        assertClose(want, got, "add bias only, in place");
    }

    @Test
    void convertEqualsTwinBitForBit() {
        Random rng = new Random(27);
        int n = 4099;
        FloatPointer x = new FloatPointer(n);
        for (int i = 0; i < n; i++) x.put(i, (rng.nextFloat() * 2 - 1) * (float) Math.scalb(1.0, rng.nextInt(44) - 28));
        Pointer dx = upload(x, 4L * n);
        for (int type : new int[] {ClipSurgeryNative.CS_F16, ClipSurgeryNative.CS_BF16}) {
            ShortPointer want = new ShortPointer(n), got = new ShortPointer(n);
            NativeCalls.check(ClipSurgeryNative.cs_convert_cpu(x, F32, n, want, type, null), "cpu");
            Pointer dout = device(2L * n, 0xFF);
            NativeCalls.check(ClipSurgeryNative.cs_convert_cuda(dx, F32, n, dout, type, null), "cuda");
            download(got, dout, 2L * n);
            for (int i = 0; i < n; i++) assertEquals(want.get(i), got.get(i), "convert to type " + type + " element " + i);
        }
    }

    @Test
    void im2colEqualsTwinBitForBit() {
        Random rng = new Random(28);
        // b, ch, h, w, kernel, stride, padding, layout: ViT patches (stride = kernel) from NCHW
        // pixels; a padded 3×3/2 with an odd remainder on channels-last activations; a 7×7/2 stem
        int[][] shapes = {{2, 3, 64, 96, 16, 16, 0, ClipSurgeryNative.CS_NCHW}, {2, 64, 15, 14, 3, 2, 1, ClipSurgeryNative.CS_NHWC},
            {1, 3, 33, 30, 7, 2, 3, ClipSurgeryNative.CS_NCHW}};
        for (int[] sh : shapes) {
            int b = sh[0], ch = sh[1], h = sh[2], w = sh[3], k = sh[4], s = sh[5], p = sh[6], layout = sh[7];
            int in = b * ch * h * w, oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1, total = b * oh * ow * ch * k * k;
            FloatPointer x = random(rng, in, -2, 2), want = new FloatPointer(total), got = new FloatPointer(total);
            NativeCalls.check(ClipSurgeryNative.cs_im2col_cpu(x, F32, layout, b, ch, h, w, k, s, p, F32, want, null), "cpu");
            Pointer dout = device(4L * total, 0xFF);
            NativeCalls.check(ClipSurgeryNative.cs_im2col_cuda(upload(x, 4L * in), F32, layout, b, ch, h, w, k, s, p, F32, dout, null), "cuda");
            download(got, dout, 4L * total);
            for (int i = 0; i < total; i++) assertEquals(want.get(i), got.get(i), "im2col " + Arrays.toString(sh) + " element " + i);
        }
    }

    @Test
    void batchNormReluAvgPoolEqualTwin() {
        Random rng = new Random(31);
        int b = 2, h = 9, w = 7, ch = 96, rows = b * h * w, n = rows * ch;
        FloatPointer x = random(rng, n, -3, 3), want = new FloatPointer(n), got = new FloatPointer(n);
        FloatPointer wt = random(rng, ch, 0.5f, 1.5f), bias = random(rng, ch, -1, 1), mean = random(rng, ch, -1, 1),
                var = random(rng, ch, 0.05f, 2);
        Pointer dx = upload(x, 4L * n), dout = device(4L * n, 0xFF);
        NativeCalls.check(ClipSurgeryNative.cs_batch_norm_cpu(x, F32, rows, ch, wt, bias, mean, var, 1e-5f, want, null), "cpu");
        NativeCalls.check(ClipSurgeryNative.cs_batch_norm_cuda(dx, F32, rows, ch, new FloatPointer(upload(wt, 4L * ch)),
                new FloatPointer(upload(bias, 4L * ch)), new FloatPointer(upload(mean, 4L * ch)), new FloatPointer(upload(var, 4L * ch)),
                1e-5f, dout, null), "cuda");
        download(got, dout, 4L * n);
        assertClose(want, got, "batch_norm");

        // relu in place, with -0, NaN and infinities among the inputs: the same bits as the twin
        float[] specials = {-0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -Float.MIN_VALUE};
        for (int i = 0; i < specials.length; i++) x.put(i, specials[i]);
        dx = upload(x, 4L * n);
        NativeCalls.check(ClipSurgeryNative.cs_relu_cpu(x, F32, n, want, null), "cpu");
        NativeCalls.check(ClipSurgeryNative.cs_relu_cuda(dx, F32, n, dx, null), "cuda");
        download(got, dx, 4L * n);
        for (int i = 0; i < n; i++) {
            assertEquals(Float.floatToRawIntBits(want.get(i)), Float.floatToRawIntBits(got.get(i)), "relu element " + i);
        }

        // average pools over channels-last x: 2×2 and 3×2 with remainders, and the global mean
        x = random(rng, n, -1, 1);
        dx = upload(x, 4L * n);
        for (int[] k : new int[][] {{2, 2}, {3, 2}, {h, w}}) {
            int total = b * (h / k[0]) * (w / k[1]) * ch;
            FloatPointer pw = new FloatPointer(total), pg = new FloatPointer(total);
            NativeCalls.check(ClipSurgeryNative.cs_avg_pool_cpu(x, F32, b, h, w, ch, k[0], k[1], pw, null), "cpu");
            Pointer dp = device(4L * total, 0xFF);
            NativeCalls.check(ClipSurgeryNative.cs_avg_pool_cuda(dx, F32, b, h, w, ch, k[0], k[1], dp, null), "cuda");
            download(pg, dp, 4L * total);
            assertClose(pw, pg, "avg_pool " + k[0] + "x" + k[1]);
        }
    }

    @Test
    void gatherRowsEqualsTwin() {
        Random rng = new Random(29);
        int tableRows = 100, rowBytes = 1024, rows = 77;
        BytePointer table = new BytePointer((long) tableRows * rowBytes);
        for (int i = 0; i < tableRows * rowBytes; i++) table.put(i, (byte) rng.nextInt(256));
        IntPointer index = new IntPointer(rows);
        for (int r = 0; r < rows; r++) index.put(r, rng.nextInt(tableRows + 10) - 5); // some out of range
        BytePointer want = new BytePointer((long) rows * rowBytes), got = new BytePointer((long) rows * rowBytes);
        NativeCalls.check(ClipSurgeryNative.cs_gather_rows_cpu(table, tableRows, rowBytes, index, rows, want, null), "cpu");
        Pointer dout = device((long) rows * rowBytes, 0xFF);
        NativeCalls.check(ClipSurgeryNative.cs_gather_rows_cuda(upload(table, (long) tableRows * rowBytes), tableRows, rowBytes,
                new IntPointer(upload(index, 4L * rows)), rows, dout, null), "cuda");
        download(got, dout, (long) rows * rowBytes);
        byte[] a = new byte[rows * rowBytes], c = new byte[rows * rowBytes];
        want.get(a);
        got.get(c);
        assertArrayEquals(a, c, "gather_rows");
    }

    @Test
    void attentionEqualsTwin() {
        Random rng = new Random(30);
        // text encoder (77 tokens, 8 heads of 64, causal; the short-sequence kernel) and a long
        // sequence with head dim 48 (the general kernel)
        int[][] shapes = {{77, 512, 8, 1}, {1025, 96, 2, 0}, {1025, 96, 2, 1}};
        for (int[] s : shapes) {
            int n = s[0], c = s[1], heads = s[2], causal = s[3];
            float scale = (float) (1 / Math.sqrt(c / heads));
            FloatPointer qkv = random(rng, n * 3 * c, -1.5f, 1.5f), want = new FloatPointer((long) n * c), got = new FloatPointer((long) n * c);
            NativeCalls.check(ClipSurgeryNative.cs_attention_cpu(qkv, qkv.getPointer(c), qkv.getPointer(2 * c), 3 * c, F32, 1, n, c,
                    heads, scale, causal, want, null), "cpu");
            Pointer dq = upload(qkv, 4L * n * 3 * c), dout = device(4L * n * c, 0xFF);
            NativeCalls.check(ClipSurgeryNative.cs_attention_cuda(dq, dq.getPointer(4L * c), dq.getPointer(8L * c), 3 * c, F32, 1, n, c,
                    heads, scale, causal, dout, null), "cuda");
            download(got, dout, 4L * n * c);
            assertClose(want, got, "attention n=" + n + " c=" + c + " heads=" + heads + " causal=" + causal);
        }
    }
}

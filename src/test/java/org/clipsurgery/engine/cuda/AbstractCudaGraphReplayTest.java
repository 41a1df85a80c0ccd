package org.clipsurgery.engine.cuda;

import static org.clipsurgery.engine.cuda.GpuTests.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import org.clipsurgery.Device;
import org.clipsurgery.Precision;
import org.clipsurgery.engine.Frame;
import org.clipsurgery.engine.HostOutput;
import org.clipsurgery.engine.Output;
import org.clipsurgery.engine.Request;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.PromptTemplates;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The CUDA engine's captured runners on a small random ViT (width 128, 2 heads of 64, 3 layers,
 * patch 16, text width 64), through {@link CudaEngine#explain}: a replay equals the same forward
 * enqueued op by op; every output read from the device equals the host contract (the C twins)
 * applied to the same run's similarity, at the captured thresholds and at others, for a uint8 and
 * an int32 label map; batches equal single frames; the GPU prompt ensemble is normalised. Runs on
 * a GPU ({@link CudaGraphReplayGpuTest}) and on the host emulation ({@link CudaGraphReplayEmulatedTest}).
 */
abstract class AbstractCudaGraphReplayTest {
    static final ModelConfig SMALL = new ModelConfig(64, 64, new int[] {3}, 128, 16, 77, 49408, 64, 1, 2);

    /** A fresh device for one engine. */
    abstract Gpu newGpu();

    static List<Frame> frames(SplittableRandom rng, int n, int h, int w, boolean bgr) {
        List<Frame> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] b = new byte[h * w * 3];
            for (int j = 0; j < b.length; j++) b[j] = (byte) rng.nextInt(256);
            out.add(new Frame(b, h, w, bgr));
        }
        return out;
    }

    /** {@code labels} random unit rows of width E. */
    static float[] randomLabels(SplittableRandom rng, int labels, int e) {
        float[] t = new float[labels * e];
        for (int l = 0; l < labels; l++) {
            double n = 0;
            for (int k = 0; k < e; k++) n += Math.pow(t[l * e + k] = (float) rng.nextGaussian(), 2);
            for (int k = 0; k < e; k++) t[l * e + k] /= (float) Math.sqrt(n);
        }
        return t;
    }

    /** Everything one output holds, read at once (a later run of the same runner makes it stale). */
    record Read(float[] similarity, float[] features, float[] pixels, float[] maps, int[] labelMap, List<SamPoints> points) {
        static Read of(Output o, float labelThreshold, float pointThreshold) {
            List<SamPoints> p = new ArrayList<>();
            for (int l = 0; l < o.labels(); l++) p.add(o.points(l, pointThreshold));
            return new Read(o.similarity(), o.imageFeatures(), o.pixels(), o.maps().values(), o.labelMap(labelThreshold).values(), p);
        }
    }

    static void assertSamePoints(SamPoints want, SamPoints got, String what) {
        assertEquals(want.size(), got.size(), what + ": number of points");
        for (int i = 0; i < want.size(); i++) {
            assertEquals(want.x(i), got.x(i), what + " point " + i + " x");
            assertEquals(want.y(i), got.y(i), what + " point " + i + " y");
        }
        assertArrayEquals(want.labels(), got.labels(), what + ": positive/negative");
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void replayEqualsEager(Precision precision) throws Exception {
        SplittableRandom rng = new SplittableRandom(7);
        try (WeightStore weights = WeightStore.of(RandomWeights.generate(SMALL, 11));
                CudaEngine engine = CudaEngine.open(weights, precision, newGpu())) {
            List<String> names = List.of("cat", "dog", "sky", "road", "tree");
            float[] text = engine.promptEnsemble(names, PromptTemplates.defaults().subList(0, 4), Progress.none());
            int e = SMALL.embedDim();
            assertEquals(5 * e, text.length);
            for (int l = 0; l < 5; l++) {
                double norm = 0;
                for (int k = 0; k < e; k++) norm += text[l * e + k] * text[l * e + k];
                assertEquals(1.0, norm, 1e-5, "ensemble row " + l + " is normalised");
            }
            int res = 96, h = 48, w = 64;
            Request q = Request.resolve(SMALL, Device.CUDA, precision, res, 3).withLabels(text, 5, null);
            List<Frame> f1 = frames(rng, 2, h, w, true), f2 = frames(rng, 2, h, w, true);

            List<Output> graph = engine.explain(f1, q);
            Read graph1 = Read.of(graph.get(1), 0.5f, 0.8f);
            engine.runEagerly = true;
            Read eager1 = Read.of(engine.explain(f1, q).get(1), 0.5f, 0.8f);
            engine.runEagerly = false;
            // Same kernels and GEMMs in the same order on the same buffers: equal up to cuBLAS
            // picking another algorithm under capture (it should not; report if bitwise equal).
            assertClose(eager1.similarity(), graph1.similarity(), 1e-6, "similarity graph vs eager " + precision);
            assertClose(eager1.features(), graph1.features(), 1e-6, "features graph vs eager " + precision);
            assertClose(eager1.maps(), graph1.maps(), 1e-6, "maps graph vs eager " + precision);
            assertArrayEquals(eager1.pixels(), graph1.pixels(), "pixels graph vs eager");
            assertArrayEquals(eager1.labelMap(), graph1.labelMap(), "label map graph vs eager");
            for (int l = 0; l < 5; l++) assertSamePoints(eager1.points().get(l), graph1.points().get(l), "label " + l + " graph vs eager");
            System.out.println(precision + ": graph replay bitwise equal to eager: " + Arrays.equals(eager1.similarity(), graph1.similarity()));

            Read graph2 = Read.of(engine.explain(f2, q).get(1), 0.5f, 0.8f);
            assertFalse(Arrays.equals(graph1.similarity(), graph2.similarity()), "a new input gives new outputs");
            assertArrayEquals(graph1.similarity(), Read.of(engine.explain(f1, q).get(1), 0.5f, 0.8f).similarity(), 0f,
                    "replay is deterministic");

            int tokens = 1 + (res / 16) * (res / 16);
            assertEquals(tokens * 5, graph1.similarity().length);
            assertEquals(tokens * e, graph1.features().length);
            assertEquals(3 * res * res, graph1.pixels().length);
            assertEquals(h * w * 5, graph1.maps().length);
            assertEquals(h * w, graph1.labelMap().length);
            for (int v : graph1.labelMap()) assertTrue(v == -1 || (v >= 0 && v < 5), "label map value " + v);
            for (float v : graph1.maps()) assertTrue(v >= 0 && v <= 1, "map value " + v);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "FP16"})
    void deviceOutputsFollowTheHostContract(Precision precision) throws Exception {
        SplittableRandom rng = new SplittableRandom(9);
        try (WeightStore weights = WeightStore.of(RandomWeights.generate(SMALL, 14));
                CudaEngine engine = CudaEngine.open(weights, precision, newGpu())) {
            // 300 labels: the device label map is int32 (background −1 does not fit a byte); 3: uint8
            for (int labels : new int[] {3, 300}) {
                int res = 128, h = 20, w = 30;
                Request q = Request.resolve(SMALL, Device.CUDA, precision, res, 0)
                        .withLabels(randomLabels(rng, labels, SMALL.embedDim()), labels, null).withThresholds(0.5f, 0.8f);
                List<Frame> frames = frames(rng, 2, h, w, false);
                List<Output> batch = engine.explain(frames, q);
                for (int b = 0; b < 2; b++) {
                    Output o = batch.get(b);
                    String what = labels + " labels, image " + b;
                    HostOutput host = new HostOutput(h, w, o.similarity(), labels, null, null);
                    assertClose(host.maps().values(), o.maps().values(), 1e-5, what + ": maps");
                    for (float t : new float[] {0.5f, 0.3f}) { // captured, then one more launch
                        int[] want = host.labelMap(t).values(), got = o.labelMap(t).values();
                        int differ = 0;
                        for (int i = 0; i < want.length; i++) if (want[i] != got[i]) differ++;
                        // a pixel whose two best labels are within rounding may go either way
                        assertTrue(differ <= want.length / 200, what + ": " + differ + " label map pixels differ at " + t);
                    }
                    for (int l = 0; l < Math.min(labels, 3); l++) {
                        for (float t : new float[] {0.8f, 0.6f}) {
                            assertSamePoints(host.points(l, t), o.points(l, t), what + ", label " + l + " at " + t);
                        }
                    }
                }
                // image 1 of the batch alone; scores alone (no maps, label map or points captured)
                Output alone = engine.explain(frames.subList(1, 2), q).get(0);
                assertClose(batch.get(1).similarity(), alone.similarity(), precision == Precision.FP32 ? 1e-5 : 2e-2,
                        "batch 2 image 1 vs batch 1");
                Output bare = engine.explain(frames.subList(1, 2), q.withOutputs(EnumSet.noneOf(Request.Output.class))).get(0);
                assertArrayEquals(alone.similarity(), bare.similarity(), 0f, "the similarity does not depend on the outputs asked for");
                assertClose(new HostOutput(h, w, bare.similarity(), labels, null, null).maps().values(), bare.maps().values(), 0,
                        "maps not captured are computed on the host");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = "FP16")
    void badRequestsAreRefusedClearly(Precision precision) throws Exception {
        try (WeightStore weights = WeightStore.of(RandomWeights.generate(SMALL, 12));
                CudaEngine engine = CudaEngine.open(weights, precision, newGpu())) {
            Request model = Request.resolve(SMALL, Device.CUDA, precision, 64, 0);
            List<Frame> frames = frames(new SplittableRandom(1), 1, 8, 8, false);
            assertThrows(IllegalArgumentException.class, () -> engine.explain(frames, model), "no labels");
            Request q = model.withLabels(new float[64 * 2], 2, null);
            assertThrows(IllegalArgumentException.class, () -> engine.explain(List.of(), q), "no frames");
            assertThrows(IllegalArgumentException.class, () -> engine.runner(q, 0, 8, 8, false), "batch 0");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> engine.explain(frames, model.withLabels(new float[5 * 2], 2, null)));
            assertTrue(e.getMessage().contains("width 64"), e.getMessage());
        }
    }
}

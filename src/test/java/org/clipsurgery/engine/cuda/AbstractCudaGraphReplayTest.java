package org.clipsurgery.engine.cuda;

import static org.clipsurgery.engine.cuda.GpuTests.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.clipsurgery.Precision;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.text.PromptTemplates;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * CUDA-graph replay against the same forward run op by op, on a small random ViT (width 128,
 * 2 heads of 64, 3 layers, patch 16, text width 64): frames preprocessed on the GPU, maps of
 * chosen labels, label map, points. Also: replays follow their input, and the GPU prompt
 * ensemble is normalised. Runs on a GPU ({@link CudaGraphReplayGpuTest}) and on the host emulation
 * ({@link CudaGraphReplayEmulatedTest}).
 */
abstract class AbstractCudaGraphReplayTest {
    static final ModelConfig SMALL = new ModelConfig(64, 64, new int[] {3}, 128, 16, 77, 49408, 64, 1, 2);

    /** A fresh device for one engine. */
    abstract Gpu newGpu();

    private static byte[] frames(SplittableRandom rng, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) rng.nextInt(256);
        return b;
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void replayEqualsEager(Precision precision) throws Exception {
        SplittableRandom rng = new SplittableRandom(7);
        try (WeightStore weights = WeightStore.of(RandomWeights.generate(SMALL, 11));
                CudaEngine engine = CudaEngine.open(weights, precision, newGpu())) {
            List<String> names = List.of("cat", "dog", "sky", "road", "tree");
            CudaEngine.Labels labels = engine.labels(names, PromptTemplates.defaults().subList(0, 4), false);
            int batch = 2, h = 48, w = 64, res = 96;
            CudaEngine.Runner runner = engine.runner(new CudaEngine.Capture(labels, res, 3).batch(batch)
                    .frames(h, w, ClipSurgeryNative.CS_BGR).maps(30, 40, 4, 1).labelMap(0.5f, 200).points(0.8f, 8)
                    .copySimilarity(true));
            byte[] f1 = frames(rng, batch * h * w * 3), f2 = frames(rng, batch * h * w * 3);

            CudaEngine.Result graph1 = runner.run(f1);
            runner.launchEager();
            CudaEngine.Result eager1 = runner.collect();
            // Same kernels and GEMMs in the same order on the same buffers: equal up to cuBLAS
            // picking another algorithm under capture (it should not; report if bitwise equal).
            assertClose(eager1.similarity, graph1.similarity, 1e-6, "similarity graph vs eager " + precision);
            assertClose(eager1.maps, graph1.maps, 1e-6, "maps graph vs eager " + precision);
            assertArrayEquals(eager1.labelMap, graph1.labelMap, "label map graph vs eager");
            assertArrayEquals(eager1.points, graph1.points, "points graph vs eager");
            assertArrayEquals(eager1.pointCounts, graph1.pointCounts, "point counts graph vs eager");
            System.out.println(precision + ": graph replay bitwise equal to eager: "
                    + java.util.Arrays.equals(eager1.similarity, graph1.similarity));

            CudaEngine.Result graph2 = runner.run(f2);
            assertFalse(java.util.Arrays.equals(graph1.similarity, graph2.similarity), "a new input gives new outputs");
            CudaEngine.Result again = runner.run(f1);
            assertArrayEquals(graph1.similarity, again.similarity, 0f, "replay is deterministic");

            // shapes of the outputs
            int tokens = runner.tokens();
            assertEquals(1 + (res / 16) * (res / 16), tokens);
            assertEquals(batch * tokens * 5, graph1.similarity.length);
            assertEquals(batch * 2 * 30 * 40, graph1.maps.length);
            assertEquals(batch * 30 * 40, graph1.labelMap.length);
            assertEquals(batch * 5, graph1.scores.length);
            for (int v : graph1.labelMap) assertTrue(v == 200 || (v >= 0 && v < 5), "label map value " + v);
            for (float v : graph1.maps) assertTrue(v >= 0 && v <= 1, "map value " + v);

            // maps of labels (4, 1) are the columns 4 and 1 of the all-label maps
            CudaEngine.Runner all = engine.runner(new CudaEngine.Capture(labels, res, 3).batch(batch)
                    .frames(h, w, ClipSurgeryNative.CS_BGR).maps(30, 40, CudaEngine.Capture.all()));
            CudaEngine.Result full = all.run(f1);
            int plane = 30 * 40;
            for (int b = 0; b < batch; b++) {
                for (int j = 0; j < 2; j++) {
                    int label = j == 0 ? 4 : 1;
                    float[] want = java.util.Arrays.copyOfRange(full.maps, (b * 5 + label) * plane, (b * 5 + label + 1) * plane);
                    float[] got = java.util.Arrays.copyOfRange(graph1.maps, (b * 2 + j) * plane, (b * 2 + j + 1) * plane);
                    assertArrayEquals(want, got, 0f, "chosen label " + label + " of image " + b);
                }
            }

            // the GPU prompt ensemble: one row per label, each normalised
            int e = SMALL.embedDim();
            float[] text = engine.ensemble(names, PromptTemplates.defaults().subList(0, 4));
            assertEquals(5 * e, text.length);
            for (int l = 0; l < 5; l++) {
                double norm = 0;
                for (int k = 0; k < e; k++) norm += text[l * e + k] * text[l * e + k];
                assertEquals(1.0, norm, 1e-5, "ensemble row " + l + " is normalised");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "FP16"})
    void outputVariantsAgree(Precision precision) throws Exception {
        SplittableRandom rng = new SplittableRandom(9);
        try (WeightStore weights = WeightStore.of(RandomWeights.generate(SMALL, 14));
                CudaEngine engine = CudaEngine.open(weights, precision, newGpu())) {
            CudaEngine.Labels labels = engine.labels(List.of("cat", "dog", "sky"), PromptTemplates.defaults().subList(0, 3), false);
            int batch = 2, res = 64, h = 20, w = 30;
            float[] pixels = new float[batch * 3 * res * res];
            for (int i = 0; i < pixels.length; i++) pixels[i] = (float) (rng.nextDouble() * 4 - 2);
            // reference: fp32 maps of every label, uint8 label map (background 255)
            CudaEngine.Result ref = engine.runner(new CudaEngine.Capture(labels, res, 3).batch(batch).maps(h, w, CudaEngine.Capture.all())
                    .labelMap(0.3f, 255)).run(pixels);
            // fp16 maps are the fp32 ones rounded; a background past 255 makes the label map int32
            CudaEngine.Result alt = engine.runner(new CudaEngine.Capture(labels, res, 3).batch(batch).maps(h, w, CudaEngine.Capture.all())
                    .halfMaps(true).labelMap(0.3f, 1000)).run(pixels);
            assertEquals(null, alt.maps, "fp16 maps come as raw bits only");
            assertEquals(ref.maps.length, alt.mapsHalf.length);
            for (int i = 0; i < ref.maps.length; i++) {
                assertEquals(org.clipsurgery.weights.Half.toFloat(org.clipsurgery.weights.Half.fromFloat(ref.maps[i])),
                        org.clipsurgery.weights.Half.toFloat(alt.mapsHalf[i]), 1e-3, "fp16 map element " + i);
            }
            for (int i = 0; i < ref.labelMap.length; i++) {
                int want = ref.labelMap[i] == 255 ? 1000 : ref.labelMap[i];
                assertEquals(want, alt.labelMap[i], "int32 label map element " + i);
            }
            assertArrayEquals(ref.scores, alt.scores, 0f, "scores do not depend on the outputs asked for");
            // the same pixels as a float-pixel runner of batch 1, image by image
            CudaEngine.Runner one = engine.runner(new CudaEngine.Capture(labels, res, 3).maps(h, w, CudaEngine.Capture.all()));
            for (int b = 0; b < batch; b++) {
                float[] img = java.util.Arrays.copyOfRange(pixels, b * 3 * res * res, (b + 1) * 3 * res * res);
                float[] maps = one.run(img).maps;
                float[] want = java.util.Arrays.copyOfRange(ref.maps, b * 3 * h * w, (b + 1) * 3 * h * w);
                assertClose(want, maps, precision == Precision.FP32 ? 1e-5 : 2e-2, "batch 2 image " + b + " vs batch 1");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = "FP16")
    void badRequestsAreRefusedClearly(Precision precision) throws Exception {
        try (WeightStore weights = WeightStore.of(RandomWeights.generate(SMALL, 12));
                CudaEngine engine = CudaEngine.open(weights, precision, newGpu())) {
            CudaEngine.Labels labels = engine.labels(new float[64 * 2], 2, null);
            assertThrows(IllegalArgumentException.class, () -> engine.runner(new CudaEngine.Capture(labels, 60, 3)));
            assertThrows(IllegalArgumentException.class, () -> engine.runner(new CudaEngine.Capture(labels, 64, 3).maps(10, 10, 2)));
            assertThrows(IllegalArgumentException.class, () -> engine.runner(new CudaEngine.Capture(labels, 64, 3).labelMap(0.5f, 255)));
            CudaEngine.Runner r = engine.runner(new CudaEngine.Capture(labels, 64, 3));
            assertThrows(IllegalArgumentException.class, () -> r.run(new byte[10]));
            assertThrows(IllegalArgumentException.class, () -> r.run(new float[10]));
            assertThrows(IllegalArgumentException.class, () -> engine.labels(new float[5], 2, null));
        }
        // ResNet: the stride is 32, not a patch size
        try (WeightStore rn = WeightStore.of(RandomWeights.generate(
                new ModelConfig(64, 64, new int[] {1, 1, 1, 1}, 32, 0, 77, 49408, 64, 1, 1), 1));
                CudaEngine engine = CudaEngine.open(rn, precision, newGpu())) {
            CudaEngine.Labels labels = engine.labels(new float[64 * 2], 2, null);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> engine.runner(new CudaEngine.Capture(labels, 48, 1)));
            assertTrue(e.getMessage().contains("32"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> engine.runner(new CudaEngine.Capture(labels, 64, 2)));
        }
    }
}

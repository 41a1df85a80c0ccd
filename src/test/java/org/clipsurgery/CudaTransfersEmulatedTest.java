package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.clipsurgery.engine.cuda.EmulatedCuda;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.SimilarityMaps;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.api.Test;

/**
 * What crosses between host and device for the facade on Device.CUDA, counted on the emulated
 * device (every copy and copy2d, by direction and size): a frame goes up once as uint8, the
 * similarity comes down with the explanation, and each further output comes down only when read;
 * a stale explanation computes on the host. A small random ViT (width 128, 3 layers, patch 16) at
 * 64 px: N = 17 tokens.
 */
class CudaTransfersEmulatedTest {
    static final ModelConfig SMALL = new ModelConfig(64, 64, new int[] {3}, 128, 16, 77, 49408, 64, 1, 2);
    static final int TOKENS = 17, LABELS = 3;

    static RgbImage image(SplittableRandom rng, int w, int h) {
        byte[] b = new byte[w * h * 3];
        for (int i = 0; i < b.length; i++) b[i] = (byte) rng.nextInt(256);
        return new RgbImage(w, h, b);
    }

    static ClipSurgery open(EmulatedCuda.Device gpu) throws Exception {
        ClipSurgery.Options o = new ClipSurgery.Options().optDevice(Device.CUDA).optPrecision(Precision.FP32)
                .optTemplates(List.of("a photo of a {}."));
        return ClipSurgery.open(WeightStore.of(RandomWeights.generate(SMALL, 5)), o, (w, m) -> EmulatedCuda.engine(w, m.precision(), gpu));
    }

    @Test
    void oneExplainMovesTheFrameUpOnceAndOnlyWhatIsReadDown() throws Exception {
        EmulatedCuda.Device gpu = EmulatedCuda.device();
        SplittableRandom rng = new SplittableRandom(1);
        try (ClipSurgery cs = open(gpu)) {
            LabelSet labels = cs.labels("cat", "dog", "sky");
            int w = 40, h = 30;
            RgbImage img = image(rng, w, h);
            cs.explain(List.of(img), labels, Redundancy.LABELS); // first: weights, labels, capture
            gpu.resetTransfers();

            Explanation e = cs.explain(List.of(img), labels, Redundancy.LABELS).get(0);
            assertEquals(List.of((long) h * w * 3), gpu.uploads(), "the frame, once, as uint8");
            assertEquals(List.of(4L * TOKENS * LABELS), gpu.downloads(), "the similarity (N, T) fp32, nothing else");

            e.scores();
            e.similarity();
            e.map("cat"); // one map is made on the host from the similarity
            assertEquals(1, gpu.downloads().size(), "scores, similarity and one target's map need no download");

            float[] maps = e.maps().values();
            assertEquals(List.of(4L * TOKENS * LABELS, 4L * h * w * LABELS), gpu.downloads(), "maps(): one (H, W, T) fp32 buffer");
            e.maps();
            assertEquals(2, gpu.downloads().size(), "maps are kept");
            assertArrayEquals(SimilarityMaps.compute(e.similarity(), 1, TOKENS, LABELS, h, w).values(), maps, 1e-5f,
                    "device maps = the host contract");

            e.labelMap(0.5f);
            assertEquals((long) h * w, gpu.downloads().get(2), "labelMap(): one (H, W) uint8 buffer");
            e.labelMap(0.25f); // another threshold: a launch on the device, the same one download
            assertEquals((long) h * w, gpu.downloads().get(3));
            int before = gpu.downloads().size();
            e.points("dog");
            List<Long> after = gpu.downloads().subList(before, gpu.downloads().size());
            assertTrue(!after.isEmpty() && after.size() <= 2, "points(): the count, and the points if any: " + after);
            for (long bytes : after) assertTrue(bytes <= 4L * 2 * 2 * 2, "points(): no map-sized copy, got " + bytes + " bytes");
            assertEquals(List.of((long) h * w * 3), gpu.uploads(), "nothing else went up");
        }
    }

    @Test
    void aStaleExplanationComputesOnTheHostAndMixedSizesRunInGroups() throws Exception {
        EmulatedCuda.Device gpu = EmulatedCuda.device();
        SplittableRandom rng = new SplittableRandom(2);
        try (ClipSurgery cs = open(gpu)) {
            LabelSet labels = cs.labels("cat", "dog", "sky");
            RgbImage a = image(rng, 40, 30), b = image(rng, 24, 20), c = image(rng, 40, 30);
            Explanation first = cs.explain(List.of(a), labels, Redundancy.LABELS).get(0);
            Explanation second = cs.explain(List.of(c), labels, Redundancy.LABELS).get(0); // same runner: first is stale
            gpu.resetTransfers();
            float[] stale = first.maps().values();
            first.labelMap(0.5f);
            first.points("cat");
            assertEquals(List.of(), gpu.downloads(), "a stale explanation reads nothing from the device");
            assertArrayEquals(SimilarityMaps.compute(first.similarity(), 1, TOKENS, LABELS, 30, 40).values(), stale, 0f);
            IllegalStateException gone = assertThrows(IllegalStateException.class, first::imageFeatures);
            assertTrue(gone.getMessage().contains("explain this image again"), gone.getMessage());
            assertEquals(TOKENS * 64, second.imageFeatures().length, "the latest run's features are there");

            gpu.resetTransfers();
            List<Explanation> mixed = cs.explain(List.of(a, b, c), labels, Redundancy.LABELS);
            assertEquals(List.of(2L * 40 * 30 * 3, 24L * 20 * 3), gpu.uploads(), "one upload per size group, in order of first appearance");
            assertArrayEquals(first.similarity(), mixed.get(0).similarity(), 1e-6f, "image a in a batch = alone");
            assertArrayEquals(second.similarity(), mixed.get(2).similarity(), 1e-6f, "image c in a batch = alone");
            assertArrayEquals(cs.explain(List.of(b), labels, Redundancy.LABELS).get(0).similarity(), mixed.get(1).similarity(), 1e-6f);
            assertEquals(20, mixed.get(1).height());
            assertEquals(24, mixed.get(1).maps().width());
        }
    }
}

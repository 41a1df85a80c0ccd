package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.clipsurgery.ClipSurgeryFixtureTest.Engine;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The degenerate rules of include/clip_surgery.h through the facade, one test body on both devices
 * (the CPU engine; the CUDA engine on the emulated device), each device giving the header's
 * answer and so the same answer as the other:
 * <ul>
 *   <li>a constant map (every patch token the same: the final layer norm's weight set to 0, so
 *       each token is its bias; see {@link #weights}) is 0 everywhere; the label map is the first label with no
 *       threshold and background at 0.5; there are no points (no contrast), whatever the
 *       threshold — the official code gives NaN maps and every cell as a positive;</li>
 *   <li>NaN features (the visual projection set to 0: 0/0 in the cosine) give a NaN similarity
 *       and, from it, the same answer as a constant map;</li>
 *   <li>no cell at or above the threshold gives no points; a threshold every cell reaches gives
 *       cells/2 positives and as many negatives (fewer cells than points would be asked); a grid
 *       too small for one cell after down-sampling gives none.</li>
 * </ul>
 */
class DegenerateCasesTest {
    /** How the random model is broken. */
    enum Broken {
        CONSTANT_MAPS, NAN_FEATURES
    }

    private static final List<String> LABELS = List.of("cat", "dog", "sky");

    private static WeightStore weights(Broken broken) throws Exception {
        Map<String, HostTensor> w = new HashMap<>(RandomWeights.generate(CudaTransfersEmulatedTest.SMALL, 21));
        if (broken == Broken.NAN_FEATURES) {
            w.put("visual.proj", zeros(w.get("visual.proj")));
        } else {
            // Each token the final layer norm's bias; bias and projection small integers, so
            // that the projection's sums are exact whatever order a GEMM adds them in (with
            // random floats, identical rows came out of LibTorch's GEMM differing in the last
            // bits, which min-max then stretches to [0, 1]).
            w.put("visual.ln_post.weight", zeros(w.get("visual.ln_post.weight")));
            w.put("visual.ln_post.bias", integers(w.get("visual.ln_post.bias"), 1));
            w.put("visual.proj", integers(w.get("visual.proj"), 2));
        }
        return WeightStore.of(w);
    }

    private static HostTensor zeros(HostTensor like) {
        return HostTensor.ofFloats(new float[(int) like.numel()], like.shape());
    }

    private static HostTensor integers(HostTensor like, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] v = new float[(int) like.numel()];
        for (int i = 0; i < v.length; i++) v[i] = rng.nextInt(-2, 3);
        return HostTensor.ofFloats(v, like.shape());
    }

    private static ClipSurgery open(Engine engine, WeightStore weights, int resolution) {
        return ClipSurgeryFixtureTest.open(engine, weights, new ClipSurgery.Options().optPrecision(Precision.FP32)
                .optResolution(resolution).optTemplates(List.of("a photo of a {}.")));
    }

    private static RgbImage image(int h, int w) {
        byte[] d = new byte[h * w * 3];
        SplittableRandom rng = new SplittableRandom(3);
        for (int i = 0; i < d.length; i++) d[i] = (byte) rng.nextInt(256);
        return new RgbImage(w, h, d);
    }

    /** What one device answers for one image: similarity, maps, label maps at two thresholds, points at two. */
    record Answer(float[] similarity, float[] maps, int[] labelsNoThreshold, int[] labelsHalf, List<SamPoints> points) {
        static Answer of(Explanation e) {
            List<SamPoints> points = new ArrayList<>();
            for (String l : LABELS) for (float t : new float[] {0.8f, 0f, 1.5f}) points.add(e.points(l, t));
            return new Answer(e.similarity(), e.maps().values(), e.labelMap(Float.NEGATIVE_INFINITY).values(),
                    e.labelMap(0.5f).values(), points);
        }

        void assertSameAs(Answer other, String what) {
            // the similarity is computed by different code on each device: equal within rounding, NaN where NaN
            assertEquals(similarity.length, other.similarity.length, what + ": similarity size");
            for (int i = 0; i < similarity.length; i++) {
                assertEquals(Float.isNaN(similarity[i]), Float.isNaN(other.similarity[i]), what + ": NaN at " + i);
                if (!Float.isNaN(similarity[i])) assertEquals(similarity[i], other.similarity[i], 1e-5, what + ": similarity " + i);
            }
            assertArrayEquals(maps, other.maps, 0f, what + ": maps");
            assertArrayEquals(labelsNoThreshold, other.labelsNoThreshold, what + ": label map, no threshold");
            assertArrayEquals(labelsHalf, other.labelsHalf, what + ": label map at 0.5");
            for (int i = 0; i < points.size(); i++) {
                assertArrayEquals(points.get(i).points(), other.points.get(i).points(), what + ": points " + i);
                assertArrayEquals(points.get(i).labels(), other.points.get(i).labels(), what + ": point labels " + i);
            }
        }
    }

    private static Answer answer(Engine engine, WeightStore weights, int resolution, RgbImage image) {
        try (ClipSurgery cs = open(engine, weights, resolution)) {
            return Answer.of(cs.explain(List.of(image), cs.labels(LABELS), Redundancy.LABELS).get(0));
        }
    }

    @ParameterizedTest
    @EnumSource(Broken.class)
    void aFlatMapHasTheHeadersAnswerOnBothDevices(Broken broken) throws Exception {
        RgbImage image = image(30, 40);
        Map<Engine, Answer> answers = new HashMap<>();
        for (Engine engine : Engine.values()) {
            Answer a = answer(engine, weights(broken), 64, image);
            answers.put(engine, a);
            String what = broken + " on " + engine;
            int patchValues = a.similarity().length - LABELS.size(); // token 0 is the class token
            if (broken == Broken.NAN_FEATURES) {
                for (float v : a.similarity()) assertTrue(Float.isNaN(v), what + ": the similarity is NaN");
            } else {
                // every patch token is the same token: each label's patch values are one value
                for (int i = LABELS.size(); i < a.similarity().length; i++) {
                    assertEquals(a.similarity()[LABELS.size() + i % LABELS.size()], a.similarity()[i], 0f, what + ": patch value " + i);
                }
                assertTrue(patchValues > 0);
            }
            for (float v : a.maps()) assertEquals(0f, v, what + ": a flat map is 0");
            for (int v : a.labelsNoThreshold()) assertEquals(0, v, what + ": the first label wins the tie");
            for (int v : a.labelsHalf()) assertEquals(LabelMap.BACKGROUND, v, what + ": below 0.5 everywhere");
            for (SamPoints p : a.points()) assertTrue(p.isDegenerate(), what + ": no contrast, no points");
        }
        answers.get(Engine.CPU).assertSameAs(answers.get(Engine.CUDA_EMULATED), broken + ": CPU vs CUDA");
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void pointsAtTheEdges(Engine engine) throws Exception {
        RgbImage image = image(30, 40);
        try (ClipSurgery cs = open(engine, WeightStore.of(RandomWeights.generate(CudaTransfersEmulatedTest.SMALL, 22)), 64)) {
            Explanation e = cs.explain(List.of(image), cs.labels(LABELS), Redundancy.LABELS).get(0);
            for (String label : LABELS) {
                // a 4×4 grid down-sampled to 2×2 cells: at most 2 positives and 2 negatives
                assertTrue(e.points(label, 1.5f).isDegenerate(), engine + " " + label + ": no cell reaches 1.5");
                SamPoints all = e.points(label, 0f);
                assertEquals(4, all.size(), engine + " " + label + ": every cell reaches 0, cells/2 are positives");
                assertEquals("[1, 1, 0, 0]", Arrays.toString(all.labels()), engine + " " + label);
            }
        }
        // 32 px: a 2×2 grid, one cell after down-sampling, cells/2 = 0
        try (ClipSurgery cs = open(engine, WeightStore.of(RandomWeights.generate(CudaTransfersEmulatedTest.SMALL, 22)), 32)) {
            Explanation e = cs.explain(List.of(image), cs.labels(LABELS), Redundancy.LABELS).get(0);
            for (String label : LABELS) assertTrue(e.points(label, 0f).isDegenerate(), engine + " " + label + ": a one-cell grid");
        }
    }
}

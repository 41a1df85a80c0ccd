package org.clipsurgery.post;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.junit.jupiter.api.Test;

class SimilarityMapsTest {

    /** The fixture's maps, from the fixture's similarity, within 1e-4 abs + 1e-3 rel (README). */
    @Test
    void reproducesOfficialSimilarityMap() throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file("reference-vit.safetensors"));
        HostTensor sim = ref.get("vit.64.similarity");
        HostTensor expected = ref.get("vit.64.similarity_map");
        int b = (int) sim.size(0), n = (int) sim.size(1), t = (int) sim.size(2);
        int h = (int) expected.size(1), w = (int) expected.size(2);
        assertEquals(375, h);
        assertEquals(500, w);
        SimilarityMaps maps = SimilarityMaps.compute(sim.toFloatArray(), b, n, t, h, w);
        float[] want = expected.toFloatArray();
        float[] got = maps.values();
        assertEquals(want.length, got.length);
        double maxAbs = 0;
        int bad = 0;
        int exact = 0;
        for (int i = 0; i < want.length; i++) {
            if (got[i] == want[i]) exact++;
            double err = Math.abs(got[i] - want[i]);
            maxAbs = Math.max(maxAbs, err);
            if (!(err <= 1e-4 + 1e-3 * Math.abs(want[i]))) {
                if (bad++ < 5) System.out.println("mismatch at " + i + ": " + got[i] + " vs " + want[i]);
            }
        }
        System.out.printf("similarity_map vit.64: max abs error %.3g over %d values, %d bit-identical%n",
                maxAbs, want.length, exact);
        assertEquals(0, bad, "values outside 1e-4 + 1e-3·|ref|");
        // The test reference Bilinear (fused multiply-adds, as the GPU run that made the fixture)
        // reproduces it bit for bit; the C API rounds each product, as its kernel does, so its
        // values are a few ulps away: far inside the tolerance, and not all identical.
        assertTrue(maxAbs < 1e-6, "max abs error " + maxAbs);
        // The per-label accessors agree with the full tensor.
        for (int label = 0; label < t; label++) {
            float[] one = SimilarityMaps.mapOf(sim.toFloatArray(), b, n, t, 0, label, h, w);
            assertArrayEquals(maps.map(0, label), one);
        }
        assertEquals(want[(10 * w + 20) * t + 3], maps.value(0, 10, 20, 3), 1e-4f);
    }

    @Test
    void constantGridGivesConstantMapAndCornersKeepGridValues() {
        // g = 2, one label, values 0,1,2,3 → normalised 0,1/3,2/3,1. Upsampling to 4×4:
        // output pixel 0 maps to src 0 (clamped) and pixel 3 to src 1.25 → clamped at index 1.
        float[] sim = {42f, 0f, 1f, 2f, 3f};
        float[] map = SimilarityMaps.mapOf(sim, 1, 5, 1, 0, 0, 4, 4);
        assertEquals(0f, map[0], 0f);
        assertEquals(1f, map[15], 0f);
        assertEquals(1f / 3f, map[3], 1e-7f);
        assertEquals(2f / 3f, map[12], 1e-7f);
        // Row 1 samples src 0.25 between rows: value at (1, 0) = 0.75·0 + 0.25·(2/3).
        assertEquals(0.25f * (2f / 3f), map[4], 1e-7f);
        // Same size: a copy of the normalised grid.
        float[] same = SimilarityMaps.mapOf(sim, 1, 5, 1, 0, 0, 2, 2);
        assertArrayEquals(new float[] {0f, 1f / 3f, 2f / 3f, 1f}, same, 1e-7f);
    }

    @Test
    void batchAndLabelLayoutIsIndependentPerImage() {
        Random rnd = new Random(7);
        int g = 3, n = 1 + g * g, t = 5, h = 7, w = 11;
        float[] a = random(rnd, n * t);
        float[] c = random(rnd, n * t);
        float[] both = new float[2 * n * t];
        System.arraycopy(a, 0, both, 0, a.length);
        System.arraycopy(c, 0, both, a.length, c.length);
        SimilarityMaps m2 = SimilarityMaps.compute(both, 2, n, t, h, w);
        SimilarityMaps ma = SimilarityMaps.compute(a, 1, n, t, h, w);
        SimilarityMaps mc = SimilarityMaps.compute(c, 1, n, t, h, w);
        for (int label = 0; label < t; label++) {
            assertArrayEquals(ma.map(0, label), m2.map(0, label));
            assertArrayEquals(mc.map(0, label), m2.map(1, label));
        }
        // Normalisation per label: every map spans [0, 1] on the grid points it hits.
        float[] grid = SimilarityMaps.normalisedGrid(both, 2, n, t, 1, 2);
        float min = 1, max = 0;
        for (float v : grid) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertEquals(0f, min);
        assertEquals(1f, max);
        float[] raw = SimilarityMaps.patchSimilarity(both, 2, n, t, 1, 2);
        assertEquals(c[(1 + 4) * t + 2], raw[4]);
    }

    @Test
    void largeOutputRunsInParallelAndMatchesSingleLabelPath() {
        Random rnd = new Random(11);
        int g = 14, n = 1 + g * g, t = 59, h = 120, w = 160;
        float[] s = random(rnd, n * t);
        SimilarityMaps maps = SimilarityMaps.compute(s, 1, n, t, h, w);
        for (int label : new int[] {0, 17, 58}) {
            assertArrayEquals(SimilarityMaps.mapOf(s, 1, n, t, 0, label, h, w), maps.map(0, label));
        }
        for (float v : maps.values()) assertTrue(v >= -1e-6f && v <= 1f + 1e-6f);
    }

    /**
     * The header's degenerate rules through the Java entry points: a constant label is 0
     * everywhere (the official code: NaN), non-finite similarities take no part in min/max and
     * become 0, and a label with no finite value is 0.
     */
    @Test
    void degenerateMapsFollowTheHeader() {
        float nan = Float.NaN;
        // g = 2, three labels per token: constant 5; 0..3 with a NaN at cell 1; all NaN.
        float[] sim = {
            9, 9, 9,        // class token, not read
            5, 0, nan,
            5, nan, nan,
            5, 2, nan,
            5, Float.POSITIVE_INFINITY, nan,
        };
        SimilarityMaps maps = SimilarityMaps.compute(sim, 1, 5, 3, 2, 2);   // same size: the grids
        assertArrayEquals(new float[] {0, 0, 0, 0}, maps.map(0, 0));
        // label 1: finite cells 0 and 2 → min 0, max 2; NaN and +inf become 0
        assertArrayEquals(new float[] {0, 0, 1, 0}, maps.map(0, 1));
        assertArrayEquals(new float[] {0, 0, 0, 0}, maps.map(0, 2));
        assertArrayEquals(new float[] {0, 0, 1, 0}, SimilarityMaps.normalisedGrid(sim, 1, 5, 3, 0, 1));
        float[] big = SimilarityMaps.mapOf(sim, 1, 5, 3, 0, 2, 30, 40);
        for (float v : big) assertEquals(0f, v);
        // The label map: label 1 wins only where it is 1; elsewhere all three are 0 and the first wins.
        assertArrayEquals(new int[] {0, 0, 1, 0}, LabelMap.compute(sim, 1, 5, 3, 2, 2, 0f).values());
        assertArrayEquals(new int[] {-1, -1, 1, -1}, LabelMap.compute(sim, 1, 5, 3, 2, 2, 0.5f).values());
    }

    /** The C API's maps against the Java reference (min-max, then {@link Bilinear}) on random input. */
    @Test
    void matchesJavaReference() {
        Random rnd = new Random(13);
        int g = 14, n = 1 + g * g, t = 3, h = 45, w = 61;
        float[] s = random(rnd, n * t);
        SimilarityMaps maps = SimilarityMaps.compute(s, 1, n, t, h, w);
        for (int label = 0; label < t; label++) {
            float[] grid = SimilarityMaps.patchSimilarity(s, 1, n, t, 0, label);
            float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
            for (float v : grid) {
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            for (int i = 0; i < grid.length; i++) grid[i] = (grid[i] - min) / (max - min);
            float[] want = new float[h * w];
            Bilinear.resize(grid, g, g, want, h, w);
            // The reference fuses multiply-adds and divides where the C API multiplies by
            // 1/range: a few ulps of [0, 1].
            assertArrayEquals(want, maps.map(0, label), 1e-6f);
        }
    }

    @Test
    void axisTapsFollowTorchAlignCornersFalse() {
        Bilinear.Axis a = Bilinear.axis(8, 375);
        // scale = 8/375; dst 0 → src clamped to 0.
        assertEquals(0, a.i0[0]);
        assertEquals(1, a.i1[0]);
        assertEquals(0f, a.l1[0]);
        // last output: src = 8/375·374.5 − 0.5 = 7.4893 → i0 = 7, i1 = 7 (clamped), λ1 = 0.4893
        assertEquals(7, a.i0[374]);
        assertEquals(7, a.i1[374]);
        float scale = 8f / 375f;
        assertEquals(scale * 374.5f - 0.5f - 7f, a.l1[374], 1e-6f);
        assertEquals(1f - a.l1[374], a.l0[374], 0f);
        // downsampling 8 → 4: src = 2·(d + 0.5) − 0.5 = 0.5, 2.5, 4.5, 6.5
        Bilinear.Axis d = Bilinear.axis(8, 4);
        assertArrayEquals(new int[] {0, 2, 4, 6}, d.i0);
        assertArrayEquals(new int[] {1, 3, 5, 7}, d.i1);
        assertArrayEquals(new float[] {0.5f, 0.5f, 0.5f, 0.5f}, d.l1);
    }

    @Test
    void badInputIsRejected() {
        float[] ok = new float[(1 + 4) * 3];
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.compute(ok, 1, 6, 3, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.compute(ok, 1, 5, 2, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.compute(ok, 2, 5, 3, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.compute(ok, 1, 5, 3, 0, 10));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.compute(ok, 1, 5, 3, 10, -1));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.compute(new float[0], 1, 1, 0, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.compute(new float[0], 0, 5, 3, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.compute(null, 1, 5, 3, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.compute(ok, 1, 5, 3, 100000, 100000));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.mapOf(ok, 1, 5, 3, 0, 3, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SimilarityMaps.mapOf(ok, 1, 5, 3, 1, 0, 10, 10));
        SimilarityMaps m = SimilarityMaps.compute(ok, 1, 5, 3, 4, 4);
        assertThrows(IllegalArgumentException.class, () -> m.map(0, 3));
        assertThrows(IllegalArgumentException.class, () -> m.value(0, 4, 0, 0));
    }

    static float[] random(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }
}

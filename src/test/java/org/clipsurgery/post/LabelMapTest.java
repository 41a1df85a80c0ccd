package org.clipsurgery.post;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class LabelMapTest {

    // 1 image, 2×2 pixels, 3 labels; (B, H, W, T) row-major.
    private static final float[] MAPS = {
        0.1f, 0.9f, 0.3f,   // (0,0) → 1
        0.5f, 0.5f, 0.2f,   // (0,1) tie → first, 0
        0.2f, 0.3f, 0.4f,   // (1,0) → 2, max 0.4
        Float.NaN, 0.7f, 0.6f, // (1,1) NaN never wins → 1
    };

    @Test
    void argmaxPerPixel() {
        LabelMap m = LabelMap.of(MAPS, 1, 2, 2, 3, Float.NEGATIVE_INFINITY);
        assertArrayEquals(new int[] {1, 0, 2, 1}, m.values());
        assertEquals(2, m.label(0, 1, 0));
        assertArrayEquals(new long[] {1, 2, 1, 0}, m.counts(0));
    }

    @Test
    void thresholdMakesBackground() {
        LabelMap m = LabelMap.of(MAPS, 1, 2, 2, 3, 0.45f);
        assertArrayEquals(new int[] {1, 0, LabelMap.BACKGROUND, 1}, m.values());
        assertArrayEquals(new byte[] {1, 0, (byte) 255, 1}, m.toBytes(0));
        assertArrayEquals(new long[] {1, 2, 0, 1}, m.counts(0));
        // The threshold is inclusive: a pixel whose max equals it keeps its label.
        assertEquals(0, LabelMap.of(MAPS, 1, 2, 2, 3, 0.5f).label(0, 0, 1));
    }

    @Test
    void allNanPixelIsBackground() {
        float[] maps = {Float.NaN, Float.NaN, 0.2f, 0.1f};
        LabelMap m = LabelMap.of(maps, 1, 1, 2, 2, Float.NEGATIVE_INFINITY);
        assertArrayEquals(new int[] {LabelMap.BACKGROUND, 0}, m.values());
    }

    @Test
    void batchesAreSeparateAndFromSimilarityMaps() {
        // Two images of a 2×2 grid, two labels: image 0 favours label 0 everywhere except one
        // patch, image 1 is the opposite. At grid resolution the map equals the normalised grid.
        int t = 2;
        float[] sim = new float[2 * 5 * t];
        float[][] img0 = {{9, 0}, {8, 1}, {7, 2}, {0, 9}};
        float[][] img1 = {{0, 9}, {1, 8}, {2, 7}, {9, 0}};
        for (int p = 0; p < 4; p++) {
            for (int l = 0; l < t; l++) {
                sim[(1 + p) * t + l] = img0[p][l];
                sim[(5 + 1 + p) * t + l] = img1[p][l];
            }
        }
        SimilarityMaps maps = SimilarityMaps.compute(sim, 2, 5, t, 2, 2);
        LabelMap m = LabelMap.of(maps);
        assertArrayEquals(new int[] {0, 0, 0, 1}, m.image(0));
        assertArrayEquals(new int[] {1, 1, 1, 0}, m.image(1));
        assertEquals(2, m.batch());
    }

    @Test
    void badInputIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> LabelMap.of(MAPS, 1, 2, 2, 2, 0f));
        assertThrows(IllegalArgumentException.class, () -> LabelMap.of(MAPS, 1, 0, 2, 3, 0f));
        assertThrows(IllegalArgumentException.class, () -> LabelMap.of(new float[0], 1, 1, 1, 0, 0f));
        assertThrows(IllegalArgumentException.class, () -> LabelMap.of(null, 1, 1, 1, 1, 0f));
        assertThrows(IllegalArgumentException.class, () -> LabelMap.of(MAPS, 1, 2, 2, 3, Float.NaN));
        LabelMap m = LabelMap.of(MAPS, 1, 2, 2, 3, 0f);
        assertThrows(IllegalArgumentException.class, () -> m.label(1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> m.label(0, 2, 0));
        assertThrows(IllegalArgumentException.class, () -> m.image(-1));
    }
}

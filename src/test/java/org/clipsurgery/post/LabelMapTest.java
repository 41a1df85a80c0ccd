package org.clipsurgery.post;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** {@link LabelMap#compute} (cs_map_labels_cpu) and the LabelMap type. */
class LabelMapTest {

    // 1 image, a 2×2 grid, 3 labels. Each label's column holds 0 and 1, so min-max leaves it as
    // it is, and the maps at 2×2 are the grids: per pixel (l0, l1, l2) = (0, 1, .3), (1, 1, 0),
    // (.2, 0, .4), (.5, .7, 1). Token 0 (the class token) is not read.
    private static final float[] SIM = {
        9, 9, 9,
        0, 1, 0.3f,
        1, 1, 0,
        0.2f, 0, 0.4f,
        0.5f, 0.7f, 1,
    };

    private static LabelMap of(float threshold) {
        return LabelMap.compute(SIM, 1, 5, 3, 2, 2, threshold);
    }

    @Test
    void argmaxPerPixelFirstLabelWinsTies() {
        LabelMap m = of(Float.NEGATIVE_INFINITY);
        assertArrayEquals(new int[] {1, 0, 2, 2}, m.values());
        assertEquals(2, m.label(0, 1, 0));
        assertArrayEquals(new long[] {1, 1, 2, 0}, m.counts(0));
    }

    @Test
    void thresholdMakesBackground() {
        LabelMap m = of(0.45f);
        assertArrayEquals(new int[] {1, 0, LabelMap.BACKGROUND, 2}, m.values());
        assertArrayEquals(new byte[] {1, 0, (byte) 255, 2}, m.toBytes(0));
        assertArrayEquals(new long[] {1, 1, 1, 1}, m.counts(0));
        // The threshold is inclusive: a pixel whose max equals it keeps its label.
        assertEquals(2, of(0.4f).label(0, 1, 0));
    }

    /** Bytes up to 255 labels, unsigned shorts up to 65535, background the reserved top value of each; image by image. */
    @Test
    void bytesAndShortsReserveTheTopValueForBackground() {
        LabelMap small = LabelMap.ofIndices(new int[] {0, LabelMap.BACKGROUND, 254, 3, 1, LabelMap.BACKGROUND}, 2, 1, 3, 255);
        assertArrayEquals(new byte[] {3, 1, (byte) 255}, small.toBytes(1));
        assertArrayEquals(new short[] {0, (short) 65535, 254}, small.toShorts(0));
        LabelMap wide = LabelMap.ofIndices(new int[] {300, LabelMap.BACKGROUND, 65534}, 1, 1, 3, 65535);
        assertArrayEquals(new short[] {300, (short) 65535, (short) 65534}, wide.toShorts(0));
        assertThrows(IllegalStateException.class, () -> wide.toBytes(0));
        assertThrows(IllegalStateException.class, () -> LabelMap.ofIndices(new int[] {0}, 1, 1, 1, 65536).toShorts(0));
        assertThrows(IllegalArgumentException.class, () -> wide.toShorts(1));
    }

    @Test
    void batchesAreSeparate() {
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
        LabelMap m = LabelMap.compute(sim, 2, 5, t, 2, 2, Float.NEGATIVE_INFINITY);
        assertArrayEquals(new int[] {0, 0, 0, 1}, m.image(0));
        assertArrayEquals(new int[] {1, 1, 1, 0}, m.image(1));
        assertEquals(2, m.batch());
    }

    @Test
    void badInputIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> LabelMap.compute(SIM, 1, 5, 2, 2, 2, 0f));
        assertThrows(IllegalArgumentException.class, () -> LabelMap.compute(SIM, 1, 5, 3, 0, 2, 0f));
        assertThrows(IllegalArgumentException.class, () -> LabelMap.compute(new float[0], 1, 1, 0, 1, 1, 0f));
        assertThrows(IllegalArgumentException.class, () -> LabelMap.compute(null, 1, 5, 3, 1, 1, 0f));
        assertThrows(IllegalArgumentException.class, () -> LabelMap.compute(SIM, 1, 5, 3, 2, 2, Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> LabelMap.ofIndices(new int[] {0, 3, 0, 0}, 1, 2, 2, 3));
        LabelMap m = of(0f);
        assertThrows(IllegalArgumentException.class, () -> m.label(1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> m.label(0, 2, 0));
        assertThrows(IllegalArgumentException.class, () -> m.image(-1));
    }
}

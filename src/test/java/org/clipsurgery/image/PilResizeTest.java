package org.clipsurgery.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Properties and hand-computed values of the Pillow BICUBIC port (Pillow itself: PilGoldenTest). */
class PilResizeTest {
    private static RgbImage grey(int w, int h, int... values) {
        byte[] d = new byte[w * h * 3];
        for (int i = 0; i < w * h; i++) {
            d[i * 3] = d[i * 3 + 1] = d[i * 3 + 2] = (byte) values[i];
        }
        return new RgbImage(w, h, d);
    }

    private static int[] channel0(RgbImage img) {
        int[] v = new int[img.width() * img.height()];
        for (int i = 0; i < v.length; i++) v[i] = img.data()[i * 3] & 0xFF;
        return v;
    }

    @Test
    void constantImageStaysConstant() {
        Random rnd = new Random(7);
        int[][] sizes = {{1, 1}, {3, 2}, {17, 9}, {64, 64}, {100, 3}, {5, 300}};
        for (int[] in : sizes) {
            for (int[] out : sizes) {
                byte[] d = new byte[in[0] * in[1] * 3];
                int r = rnd.nextInt(256), g = rnd.nextInt(256), b = rnd.nextInt(256);
                for (int i = 0; i < in[0] * in[1]; i++) {
                    d[i * 3] = (byte) r;
                    d[i * 3 + 1] = (byte) g;
                    d[i * 3 + 2] = (byte) b;
                }
                RgbImage o = PilResize.resize(new RgbImage(in[0], in[1], d), out[0], out[1]);
                for (int y = 0; y < out[1]; y++) {
                    for (int x = 0; x < out[0]; x++) {
                        assertEquals(r << 16 | g << 8 | b, o.rgb(x, y), "at " + x + "," + y + " for "
                                + in[0] + "x" + in[1] + " -> " + out[0] + "x" + out[1]);
                    }
                }
            }
        }
    }

    /**
     * 2 → 4 upscale (scale 0.5, support 2): output 0 has center 0.25, taps 0 and 1 with kernel
     * K(0.25) = 0.8671875 and K(1.25) = −0.0703125, normalised to 37/34 and −3/34, so for pixels
     * (100, 200) it is (3700 − 600)/34 = 91.18 → 91. Output 1: center 0.75, K(−0.25) = 0.8671875,
     * K(0.75) = 0.2265625, normalised 111/140 and 29/140: (11100 + 5800)/140 = 120.7 → 121. The
     * other two follow by symmetry: 179 and 209.
     */
    @Test
    void handComputedUpscale() {
        int[] want = {91, 121, 179, 209};
        assertArrayEquals(want, channel0(PilResize.resize(grey(2, 1, 100, 200), 4, 1)));
        // The vertical pass is the same filter down a column.
        assertArrayEquals(want, channel0(PilResize.resize(grey(1, 2, 100, 200), 1, 4)));
        // Both passes: the horizontal result of each row, then the same vertically.
        RgbImage two = PilResize.resize(grey(2, 2, 100, 200, 100, 200), 4, 4);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) assertEquals(want[x], two.get(x, y, 0));
        }
    }

    /**
     * 4 → 2 downscale (scale 2 → kernel stretched ×2, support 4): output 0 has center 1, taps 0..3
     * at (i − 0.5)/2 = −0.25, 0.25, 0.75, 1.25, kernel 0.8671875, 0.8671875, 0.2265625, −0.0703125
     * (sum 1.890625). Pixels 10, 20, 30, 40 give 30.0/1.890625 = 15.87 → 16; output 1 mirrors it:
     * (40·0.8671875 + 30·0.8671875 + 20·0.2265625 − 10·0.0703125)/1.890625 = 34.13 → 34.
     */
    @Test
    void handComputedDownscale() {
        assertArrayEquals(new int[] {16, 34}, channel0(PilResize.resize(grey(4, 1, 10, 20, 30, 40), 2, 1)));
    }

    @Test
    void overshootIsClippedTo8Bits() {
        // A step 0 | 255 upscaled rings below 0 and above 255 before clipping.
        int[] out = channel0(PilResize.resize(grey(4, 1, 0, 0, 255, 255), 16, 1));
        for (int v : out) {
            assertEquals(v, Math.max(0, Math.min(255, v)));
        }
        assertEquals(0, out[0]);
        assertEquals(255, out[15]);
    }

    @Test
    void sameSizeIsACopy() {
        RgbImage in = grey(3, 2, 1, 2, 3, 4, 5, 6);
        RgbImage out = PilResize.resize(in, 3, 2);
        assertArrayEquals(in.data(), out.data());
        assertNotSame(in.data(), out.data());
    }

    @Test
    void weightsSumToOneInFixedPoint() {
        int[][] pairs = {{500, 64}, {375, 96}, {7, 224}, {1, 5}, {224, 224}, {1000, 3}};
        for (int[] p : pairs) {
            PilResize.Coefficients c = PilResize.coefficients(p[0], p[1]);
            for (int o = 0; o < p[1]; o++) {
                long sum = 0;
                for (int j = 0; j < c.count[o]; j++) sum += c.weights[o * c.ksize + j];
                // Each weight is rounded on its own, so the sum is within half a unit per tap.
                long err = Math.abs(sum - (1L << PilResize.PRECISION_BITS));
                assertEquals(0, err <= c.count[o] ? 0 : err, p[0] + "->" + p[1] + " at " + o);
                assertEquals(true, c.start[o] >= 0 && c.start[o] + c.count[o] <= p[0]);
            }
        }
    }

    @Test
    void rejectsBadSizes() {
        RgbImage in = grey(2, 1, 0, 0);
        assertThrows(IllegalArgumentException.class, () -> PilResize.resize(in, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> PilResize.resize(in, 3, -1));
        assertThrows(IllegalArgumentException.class, () -> PilResize.coefficients(0, 3));
        assertThrows(IllegalArgumentException.class, () -> new RgbImage(2, 2, new byte[11]));
    }
}

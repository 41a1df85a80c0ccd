package org.clipsurgery.post;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.util.List;
import org.junit.jupiter.api.Test;

class OverlayTest {

    /**
     * Entries derived from the base map (see Overlay's Javadoc): 255·value lands on x.5 at many
     * indices and OpenCV rounds half to even, except where float32 rounding of the interpolated
     * value falls just below the half (index 159's blue: 1.5/255 → 1).
     */
    @Test
    void jetTableKnownEntries() {
        assertEquals(rgb(0, 0, 128), Overlay.jet(0));      // blue 127.5 → 128
        assertEquals(rgb(0, 0, 132), Overlay.jet(1));      // blue 131.5 → 132
        assertEquals(rgb(0, 0, 252), Overlay.jet(31));     // blue 251.5 → 252
        assertEquals(rgb(0, 0, 255), Overlay.jet(32));     // green starts at 0.5 → 0
        assertEquals(rgb(0, 4, 255), Overlay.jet(33));     // green 4.5 → 4
        assertEquals(rgb(0, 252, 255), Overlay.jet(95));   // green 252.5 → 252
        assertEquals(rgb(2, 255, 254), Overlay.jet(96));   // red 1.5 → 2, blue 253.5 → 254
        assertEquals(rgb(6, 255, 250), Overlay.jet(97));
        assertEquals(rgb(126, 255, 130), Overlay.jet(127));
        assertEquals(rgb(130, 255, 126), Overlay.jet(128));
        assertEquals(rgb(254, 255, 1), Overlay.jet(159));
        assertEquals(rgb(255, 252, 0), Overlay.jet(160));
        assertEquals(rgb(255, 128, 0), Overlay.jet(191));
        assertEquals(rgb(255, 0, 0), Overlay.jet(223));
        assertEquals(rgb(252, 0, 0), Overlay.jet(224));
        assertEquals(rgb(132, 0, 0), Overlay.jet(254));
        assertEquals(rgb(128, 0, 0), Overlay.jet(255));
        int[] lut = Overlay.jetLut();
        assertEquals(256, lut.length);
        // The base map is symmetric (red(i) = blue(255 − i), green(i) = green(255 − i)); float32
        // rounding breaks the tie at a few x.5 entries (red(96) = 2 but blue(159) = 1), never by more
        // than one level.
        int asymmetric = 0;
        for (int i = 0; i < 256; i++) {
            int d1 = Math.abs(((lut[i] >> 16) & 0xff) - (lut[255 - i] & 0xff));
            int d2 = Math.abs(((lut[i] >> 8) & 0xff) - ((lut[255 - i] >> 8) & 0xff));
            assertTrue(d1 <= 1 && d2 <= 1, "mirror at " + i);
            if (d1 + d2 > 0) asymmetric++;
        }
        assertTrue(asymmetric > 0 && asymmetric < 64, "asymmetric entries: " + asymmetric);
        assertThrows(IllegalArgumentException.class, () -> Overlay.jet(256));
    }

    @Test
    void levelsTruncateLikeNumpy() {
        assertEquals(0, Overlay.level(0f));
        assertEquals(255, Overlay.level(1f));
        assertEquals(127, Overlay.level(0.5f));     // 127.5 truncated
        assertEquals(254, Overlay.level(0.999f));   // 254.745 truncated
        assertEquals(0, Overlay.level(Float.NaN));
        assertEquals(0, Overlay.level(-0.1f));
        assertEquals(255, Overlay.level(1.5f));
    }

    @Test
    void heatmapBlendsLikeTheDemo() {
        BufferedImage img = new BufferedImage(2, 1, BufferedImage.TYPE_INT_RGB);
        img.setRGB(0, 0, rgb(200, 100, 50));
        img.setRGB(1, 0, rgb(255, 255, 255));
        BufferedImage out = Overlay.heatmap(img, new float[] {0f, 1f});
        // pixel 0: jet(0) = (0, 0, 128): (200·0.4, 100·0.4, 50·0.4 + 128·0.6) = (80, 40, 96.8 → 96)
        assertEquals(rgb(80, 40, 96), out.getRGB(0, 0) & 0xffffff);
        // pixel 1: jet(255) = (128, 0, 0): (102 + 76.8, 102, 102) → (178, 102, 102)
        assertEquals(rgb(178, 102, 102), out.getRGB(1, 0) & 0xffffff);
        BufferedImage heat = Overlay.heatmap(new float[] {0f, 1f}, 1, 2);
        assertEquals(Overlay.jet(0), heat.getRGB(0, 0) & 0xffffff);
        assertEquals(Overlay.jet(255), heat.getRGB(1, 0) & 0xffffff);
        assertThrows(IllegalArgumentException.class, () -> Overlay.heatmap(img, new float[3]));
        assertThrows(IllegalArgumentException.class, () -> Overlay.heatmap(new float[3], 1, 2));
    }

    @Test
    void greyImagesKeepTheirLevels() {
        BufferedImage grey = new BufferedImage(1, 1, BufferedImage.TYPE_BYTE_GRAY);
        grey.getRaster().setSample(0, 0, 0, 100);
        BufferedImage out = Overlay.heatmap(grey, new float[] {0f});
        assertEquals(rgb(40, 40, 40 + 76), out.getRGB(0, 0) & 0xffffff); // 40 + 76.8 = 116.8 → 116
    }

    @Test
    void paletteIsPascalVocFromEntryOne() {
        int[] p = Overlay.palette(5);
        assertArrayEquals(new int[] {rgb(128, 0, 0), rgb(0, 128, 0), rgb(128, 128, 0), rgb(0, 0, 128), rgb(128, 0, 128)}, p);
        int[] many = Overlay.palette(59);
        assertEquals(59, java.util.Arrays.stream(many).distinct().count());
    }

    @Test
    void labelMapPictureHasLegend() {
        float[] maps = {0.9f, 0.1f, 0.2f, 0.8f, 0.3f, 0.1f, 0.1f, 0.05f};   // 2×2, 2 labels
        LabelMap lm = LabelMap.of(maps, 1, 2, 2, 2, 0.25f);   // [0, 1; 0, background]
        BufferedImage img = new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 2; y++) for (int x = 0; x < 2; x++) img.setRGB(x, y, rgb(100, 100, 100));
        BufferedImage out = Overlay.labelMap(img, lm, 0, List.of("person", "bench"));
        assertTrue(out.getWidth() > 2);
        assertTrue(out.getHeight() >= 2 * 20);
        int[] pal = Overlay.palette(2);
        assertEquals(rgb(114, 50, 50), out.getRGB(0, 0) & 0xffffff);   // (100 + 128) / 2, 100 / 2
        assertEquals(rgb(50, 114, 50), out.getRGB(1, 0) & 0xffffff);
        assertEquals(rgb(100, 100, 100), out.getRGB(1, 1) & 0xffffff);  // background keeps the image
        // The legend shows both labels' swatches.
        assertEquals(pal[0], out.getRGB(2 + 8 + 8, 8 + 9) & 0xffffff);
        assertEquals(pal[1], out.getRGB(2 + 8 + 8, 8 + 20 + 9) & 0xffffff);
        BufferedImage bare = Overlay.labelMap(null, lm, 0, List.of("person", "bench"));
        assertEquals(pal[0], bare.getRGB(0, 0) & 0xffffff);
        assertThrows(IllegalArgumentException.class, () -> Overlay.labelMap(img, lm, 0, List.of("person")));
        assertThrows(IllegalArgumentException.class,
                () -> Overlay.labelMap(new BufferedImage(3, 2, BufferedImage.TYPE_INT_RGB), lm, 0, List.of("a", "b")));
    }

    @Test
    void pointsAreDrawnGreenAndRed() {
        float[] grid = {0, 0, 8, 8, 0, 0, 8, 8, 4, 4, 2, 2, 4, 4, 2, 2};
        SamPoints p = SamPoints.compute(grid, 100, 200);   // positive (150, 25), negative (50, 25)
        BufferedImage img = new BufferedImage(200, 100, BufferedImage.TYPE_INT_RGB);
        BufferedImage out = Overlay.points(img, p);
        int pos = out.getRGB(150, 25);
        int neg = out.getRGB(50, 25);
        assertTrue(((pos >> 8) & 0xff) > 150 && ((pos >> 16) & 0xff) < 50, Integer.toHexString(pos));
        assertTrue(((neg >> 16) & 0xff) > 150 && ((neg >> 8) & 0xff) < 50, Integer.toHexString(neg));
        assertEquals(0, out.getRGB(100, 75) & 0xffffff);
    }

    private static int rgb(int r, int g, int b) {
        return (r << 16) | (g << 8) | b;
    }
}

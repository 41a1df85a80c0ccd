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
    void paletteIsBrightAndSpreadOut() {
        int[] many = Overlay.palette(59);
        assertEquals(59, java.util.Arrays.stream(many).distinct().count());
        double closest = Double.POSITIVE_INFINITY;
        for (int i = 0; i < many.length; i++) {
            double[] a = Overlay.oklab(many[i]);
            assertTrue(a[0] >= Overlay.PALETTE_MIN_L - 1e-9, "bright enough to read over a photo: " + i);
            assertTrue(Math.hypot(a[1], a[2]) >= Overlay.PALETTE_MIN_C - 1e-9, "coloured: " + i);
            for (int j = 0; j < i; j++) {
                double[] b = Overlay.oklab(many[j]);
                closest = Math.min(closest, Math.sqrt(Math.pow(a[0] - b[0], 2) + Math.pow(a[1] - b[1], 2)
                        + Math.pow(a[2] - b[2], 2)));
            }
        }
        // The PASCAL VOC palette used before: 0.018 apart at worst for 59 labels.
        assertTrue(closest > 0.06, "closest pair " + closest);
        // A prefix is the same colours: a label keeps its colour whatever the label count.
        assertArrayEquals(java.util.Arrays.copyOf(many, 5), Overlay.palette(5));
        assertEquals(300, Overlay.palette(300).length);
        assertArrayEquals(java.util.Arrays.copyOf(Overlay.palette(300), 255), Overlay.palette(255));
    }

    @Test
    void legendListsLabelsPresentBySharePlusTheBackground() {
        // A 4×5 label map of 4 labels: label 2 on 10 pixels, 0 on 6, background on 3, 3 on 1, 1 on none.
        int[] ids = {
            2, 2, 2, 2, 2,
            2, 2, 2, 2, 2,
            0, 0, 0, 0, 0,
            0, -1, -1, -1, 3,
        };
        LabelMap lm = labelMapOf(ids, 4, 5, 4);
        List<String> names = List.of("person", "bench", "sky", "tree");
        List<Overlay.LegendEntry> legend = Overlay.legend(lm, 0, names);
        assertEquals(List.of("sky 50.0%", "person 30.0%", "background 15.0%", "tree 5.0%"),
                legend.stream().map(Overlay.LegendEntry::text).toList());
        int[] pal = Overlay.palette(4);
        assertEquals(List.of(pal[2], pal[0], Overlay.BACKGROUND_RGB, pal[3]),
                legend.stream().map(Overlay.LegendEntry::rgb).toList());
        assertEquals(List.of(2, 0, LabelMap.BACKGROUND, 3), legend.stream().map(Overlay.LegendEntry::label).toList());
        // Without background pixels there is no background row; equal shares keep label order.
        LabelMap two = labelMapOf(new int[] {1, 0, 1, 0}, 2, 2, 3);
        assertEquals(List.of("a 50.0%", "b 50.0%"),
                Overlay.legend(two, 0, List.of("a", "b", "c")).stream().map(Overlay.LegendEntry::text).toList());
        assertEquals("<0.1%", Overlay.LegendEntry.percent(1e-4));
        assertEquals("0.1%", Overlay.LegendEntry.percent(6e-4));
        assertThrows(IllegalArgumentException.class, () -> Overlay.legend(two, 0, List.of("a")));
    }

    @Test
    void legendOfManyLabelsIsLaidOutInColumnsAsTallAsTheImage() {
        // 60 labels on a 30×100 image, each on 50 pixels: 60 rows of 20 px would be 1216 px tall.
        int w = 30, h = 100, t = 60;
        int[] ids = new int[w * h];
        for (int p = 0; p < ids.length; p++) ids[p] = p / 50;
        List<String> names = new java.util.ArrayList<>();
        for (int i = 0; i < t; i++) names.add("label" + i);
        BufferedImage out = Overlay.labelMap(null, labelMapOf(ids, h, w, t), 0, names);
        assertEquals(h, out.getHeight(), "no taller than the image");
        // (100 − 16) / 20 = 4 rows per column: 15 columns; each starts with label k·4's swatch.
        int x = w + 8;
        int[] pal = Overlay.palette(t);
        assertEquals(pal[0], out.getRGB(x + 8, 8 + 9) & 0xffffff);
        assertEquals(pal[3], out.getRGB(x + 8, 8 + 3 * 20 + 9) & 0xffffff);
        assertEquals(0xffffff, out.getRGB(x + 8, 8 + 4 * 20 + 9) & 0xffffff, "a column holds 4 rows");
        int swatches = 0;
        for (int xx = w; xx < out.getWidth(); xx++) {
            int c = out.getRGB(xx, 8 + 9) & 0xffffff;
            int left = out.getRGB(xx - 1, 8 + 9) & 0xffffff;
            if (c != left && java.util.Arrays.stream(pal).anyMatch(v -> v == c)) swatches++;
        }
        assertEquals(15, swatches, "15 columns of swatches on the first row");
        // A picture shorter than one row grows to fit it, with white below the image.
        BufferedImage flat = Overlay.labelMap(null, labelMapOf(new int[] {0, 1}, 1, 2, 2), 0, List.of("a", "b"));
        assertEquals(8 + 20 + 8, flat.getHeight());
        assertEquals(0xffffff, flat.getRGB(0, 5) & 0xffffff);
    }

    /** A label map with the given indices (−1 background). */
    static LabelMap labelMapOf(int[] ids, int h, int w, int labels) {
        return LabelMap.ofIndices(ids, 1, h, w, labels);
    }

    @Test
    void labelMapPictureHasLegend() {
        LabelMap lm = labelMapOf(new int[] {0, 1, 0, LabelMap.BACKGROUND}, 2, 2, 2);
        BufferedImage img = new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 2; y++) for (int x = 0; x < 2; x++) img.setRGB(x, y, rgb(100, 100, 100));
        BufferedImage out = Overlay.labelMap(img, lm, 0, List.of("person", "bench"));
        assertTrue(out.getWidth() > 2);
        assertEquals(8 + 20 + 8, out.getHeight(), "one row per column on a 2-pixel-high image");
        int[] pal = Overlay.palette(2);
        int c0 = pal[0];
        int c1 = pal[1];
        assertEquals(rgb((100 + (c0 >> 16)) / 2, (100 + ((c0 >> 8) & 0xff)) / 2, (100 + (c0 & 0xff)) / 2),
                out.getRGB(0, 0) & 0xffffff);
        assertEquals(rgb((100 + (c1 >> 16)) / 2, (100 + ((c1 >> 8) & 0xff)) / 2, (100 + (c1 & 0xff)) / 2),
                out.getRGB(1, 0) & 0xffffff);
        assertEquals(rgb(100, 100, 100), out.getRGB(1, 1) & 0xffffff);  // background keeps the image
        // The legend: person (2 px) first, then bench and background (1 px each), one per column.
        int swatchY = 8 + 9;
        int x = 2 + 8 + 8;
        assertEquals(pal[0], out.getRGB(x, swatchY) & 0xffffff);
        List<Integer> seen = new java.util.ArrayList<>();
        for (int xx = 2; xx < out.getWidth(); xx++) {
            int c = out.getRGB(xx, swatchY) & 0xffffff;
            if ((c == pal[0] || c == pal[1]) && !seen.contains(c)) seen.add(c);
        }
        assertEquals(List.of(pal[0], pal[1]), seen, "largest share first");
        BufferedImage bare = Overlay.labelMap(null, lm, 0, List.of("person", "bench"));
        assertEquals(pal[0], bare.getRGB(0, 0) & 0xffffff);
        assertEquals(Overlay.BACKGROUND_RGB, bare.getRGB(1, 1) & 0xffffff);
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

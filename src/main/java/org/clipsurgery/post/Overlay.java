package org.clipsurgery.post;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.util.List;

/**
 * Pictures of the outputs: heat-map overlays drawn as the official CLIP Surgery demo draws them,
 * label maps with a legend, and SAM points.
 *
 * <p><b>Heat map.</b> The demo does, per map with values in [0, 1]:
 * {@code vis = (map * 255).astype('uint8')} (float32 product, truncated),
 * {@code cv2.applyColorMap(vis, cv2.COLORMAP_JET)}, {@code vis = image * 0.4 + vis * 0.6} (float64),
 * {@code .astype('uint8')} (truncated), BGR → RGB. {@link #heatmap} reproduces that pixel for pixel
 * with OpenCV's JET table ({@link #jetLut}); values outside [0, 1] are clamped and NaN counts as 0
 * (numpy leaves those casts undefined).
 *
 * <p><b>OpenCV's JET table.</b> OpenCV builds COLORMAP_JET from a 256-entry float base map (GNU
 * Octave's jet), linearly interpolated in float32 onto 256 evenly spaced points, scaled by 255 and
 * rounded half to even. The base map is piecewise linear in the index i with slopes of 4/255:
 * red 0 for i &lt; 96, (1.5 + 4(i − 96))/255 up to 159, 1 up to 223, then (251.5 − 4(i − 224))/255;
 * green 0 for i &lt; 32, (0.5 + 4(i − 32))/255 up to 95, 1 up to 159, (252.5 − 4(i − 160))/255 up to
 * 223, then 0; blue (127.5 + 4i)/255 for i &lt; 32, 1 up to 95, (253.5 − 4(i − 96))/255 up to 159,
 * then 0. Many entries land on x.5 before rounding, so the table is computed with the same float32
 * steps as OpenCV rather than in exact arithmetic.
 *
 * <p>Text in legends uses the JDK's logical SansSerif font; on a system without any font the
 * legend keeps its colour swatches and leaves out the names.
 *
 * <p>The drawing methods return a new picture ({@link BufferedImage#TYPE_INT_RGB}) and leave
 * their arguments unchanged; images are read without their alpha (dropped, not composited), an 8-bit
 * grey image ({@link BufferedImage#TYPE_BYTE_GRAY}) by its grey level as PIL's
 * {@code convert('RGB')} reads it, any other through {@link BufferedImage#getRGB}. The class has
 * no mutable state: its methods may run concurrently.
 */
public final class Overlay {
    /** Weight of the photo in a heat-map overlay (the official demo's 0.4). */
    public static final double IMAGE_WEIGHT = 0.4;
    /** Weight of the heat map in a heat-map overlay (the official demo's 0.6). */
    public static final double HEAT_WEIGHT = 0.6;

    private static final int[] JET = buildJet();

    private Overlay() {}

    /**
     * OpenCV's COLORMAP_JET, from dark blue (0x000080) at 0 to dark red (0x800000) at 255.
     *
     * @return a new array of 256 packed 0xRRGGBB values, indexed by the 8-bit level
     */
    public static int[] jetLut() {
        return JET.clone();
    }

    /**
     * The JET colour of an 8-bit level.
     *
     * @param value the level, 0 … 255
     * @return the colour, packed 0xRRGGBB
     * @throws IllegalArgumentException if the value is outside 0 … 255
     */
    public static int jet(int value) {
        if (value < 0 || value > 255) throw new IllegalArgumentException("JET index must be 0..255, got " + value);
        return JET[value];
    }

    /**
     * The 8-bit level the demo gives a map value: {@code (uint8)(v * 255f)}, truncated.
     *
     * @param v a map value, normally in [0, 1]
     * @return the level, 0 … 255: 0 for NaN and for products ≤ 0, 255 for products ≥ 255
     */
    public static int level(float v) {
        float s = v * 255f;
        if (!(s > 0f)) return 0;
        if (s >= 255f) return 255;
        return (int) s;
    }

    /**
     * The demo's overlay: {@code trunc(image·0.4 + jet(level(map))·0.6)} per channel.
     *
     * @param image the original image, of any type (read as the class comment says)
     * @param map (H, W) row-major, H and W the image's size, values in [0, 1] (others are clamped,
     *     NaN counts as 0)
     * @return a new picture of the image's size
     * @throws IllegalArgumentException if the map is null or does not have the image's size
     * @throws NullPointerException if the image is null
     */
    public static BufferedImage heatmap(BufferedImage image, float[] map) {
        int w = image.getWidth();
        int h = image.getHeight();
        checkMap(map, h, w);
        int[] rgb = readRgb(image);
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] px = new int[w * h];
        for (int p = 0; p < px.length; p++) {
            int heat = JET[level(map[p])];
            int src = rgb[p];
            int r = blend((src >> 16) & 0xff, (heat >> 16) & 0xff);
            int g = blend((src >> 8) & 0xff, (heat >> 8) & 0xff);
            int b = blend(src & 0xff, heat & 0xff);
            px[p] = (r << 16) | (g << 8) | b;
        }
        out.setRGB(0, 0, w, h, px, 0, w);
        return out;
    }

    /**
     * The heat map alone: each pixel the JET colour of its value's {@link #level}.
     *
     * @param map (H, W) row-major, values in [0, 1] (others are clamped, NaN counts as 0)
     * @param height H ≥ 1
     * @param width W ≥ 1
     * @return a new W×H picture
     * @throws IllegalArgumentException if a size is not positive, or the map is null or not H·W long
     */
    public static BufferedImage heatmap(float[] map, int height, int width) {
        SimilarityMaps.checkImageSize(height, width);
        checkMap(map, height, width);
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        int[] px = new int[width * height];
        for (int p = 0; p < px.length; p++) px[p] = JET[level(map[p])];
        out.setRGB(0, 0, width, height, px, 0, width);
        return out;
    }

    /**
     * One row of a label map's legend: a label (or the background) present in the image, with its
     * colour and its share of the pixels.
     *
     * @param label the label index, or {@link LabelMap#BACKGROUND}
     * @param name the label's name, "background" for the background
     * @param rgb the colour in the picture, packed 0xRRGGBB (the background's is
     *     {@link #BACKGROUND_RGB}, what it looks like without a photo)
     * @param pixels the pixel count
     * @param share pixels / all pixels, in [0, 1]
     */
    public record LegendEntry(int label, String name, int rgb, long pixels, double share) {
        /**
         * The legend's text for this row.
         *
         * @return the name, a space and {@link #percent} of the share, e.g. "person 31.3%"
         */
        public String text() {
            return name + " " + percent(share);
        }

        /**
         * A share as a percentage with one decimal, in the root locale.
         *
         * @param share a fraction, normally in [0, 1]
         * @return e.g. "31.3%"; "&lt;0.1%" for a positive share below 0.05%, which would print as
         *     0.0%
         */
        public static String percent(double share) {
            double p = 100 * share;
            return p > 0 && p < 0.05 ? "<0.1%" : String.format(java.util.Locale.ROOT, "%.1f%%", p);
        }
    }

    /** The colour of background pixels in a label map without a photo, and in labels.png's palette. */
    public static final int BACKGROUND_RGB = 0x000000;

    /** Legend rows: height and the gaps around swatches, in pixels. */
    private static final int ROW = 20;
    private static final int MARGIN = 8;
    private static final int SWATCH_W = 16;
    private static final int SWATCH_H = 14;
    private static final int GAP = 6;

    /**
     * The legend of one image of a label map: the labels that cover at least one pixel, the
     * background too when there is any (a threshold left pixels unlabelled), sorted by share,
     * largest first (ties in label order, background last).
     *
     * @param labels the label map
     * @param index which image of the label map, 0 ≤ index &lt; B
     * @param names the label names, one per label index
     * @return a new list; the colours are {@link #palette}'s, the background's {@link #BACKGROUND_RGB}
     * @throws IllegalArgumentException if {@code names} is null or does not hold one name per label,
     *     or the index is out of range
     * @throws NullPointerException if {@code labels} is null
     */
    public static List<LegendEntry> legend(LabelMap labels, int index, List<String> names) {
        if (names == null || names.size() != labels.labels()) {
            throw new IllegalArgumentException("need " + labels.labels() + " label names, got "
                    + (names == null ? "none" : names.size()));
        }
        long[] counts = labels.counts(index);
        double pixels = (double) labels.width() * labels.height();
        int[] colours = palette(labels.labels());
        List<LegendEntry> out = new java.util.ArrayList<>();
        for (int t = 0; t <= labels.labels(); t++) {
            if (counts[t] == 0) continue;
            boolean background = t == labels.labels();
            out.add(new LegendEntry(background ? LabelMap.BACKGROUND : t, background ? "background" : names.get(t),
                    background ? BACKGROUND_RGB : colours[t], counts[t], counts[t] / pixels));
        }
        // Stable: equal counts keep label order, and the background was added last.
        out.sort((a, b) -> Long.compare(b.pixels(), a.pixels()));
        return out;
    }

    /**
     * A label map picture: each labelled pixel is half the image and half its label's colour
     * ({@link #palette}), background pixels keep the image (or are {@link #BACKGROUND_RGB} without
     * an image), and a legend on the right lists {@link #legend}'s rows, "name share%", in columns
     * as tall as the image (a picture shorter than one legend row grows to fit it; the added strip
     * is white). The background's swatch is white with a diagonal line.
     *
     * @param image the original image, or null for colours only
     * @param labels the label map
     * @param index which image of the label map
     * @param names the label names, one per label index
     * @return a new picture: the label map's width plus the legend's, and at least its height
     * @throws IllegalArgumentException if the image is not the label map's size, {@code names} is
     *     null or does not hold one name per label, or the index is out of range
     * @throws NullPointerException if {@code labels} is null
     */
    public static BufferedImage labelMap(BufferedImage image, LabelMap labels, int index, List<String> names) {
        int w = labels.width();
        int h = labels.height();
        if (image != null && (image.getWidth() != w || image.getHeight() != h)) {
            throw new IllegalArgumentException("image is " + image.getWidth() + "×" + image.getHeight()
                    + " but the label map is " + w + "×" + h);
        }
        List<LegendEntry> legend = legend(labels, index, names);
        int[] ids = labels.image(index);
        int[] rgb = image == null ? null : readRgb(image);
        int[] colours = palette(labels.labels());
        int[] px = new int[w * h];
        for (int p = 0; p < px.length; p++) {
            int id = ids[p];
            if (id == LabelMap.BACKGROUND) {
                px[p] = image == null ? BACKGROUND_RGB : rgb[p];
            } else if (image == null) {
                px[p] = colours[id];
            } else {
                int c = colours[id];
                int s = rgb[p];
                px[p] = (half(s >> 16, c >> 16) << 16) | (half(s >> 8, c >> 8) << 8) | half(s, c);
            }
        }

        // Columns of at most `perColumn` rows, each as wide as its longest text.
        int perColumn = Math.max(1, (h - 2 * MARGIN) / ROW);
        int columns = (legend.size() + perColumn - 1) / perColumn;
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
        boolean text = true;
        int[] columnW = new int[columns];
        try {
            BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = probe.createGraphics();
            FontMetrics fm = g.getFontMetrics(font);
            for (int i = 0; i < legend.size(); i++) {
                int c = i / perColumn;
                columnW[c] = Math.max(columnW[c], fm.stringWidth(legend.get(i).text()));
            }
            g.dispose();
        } catch (RuntimeException | Error e) {
            // No usable font on this system: swatches only.
            text = false;
            java.util.Arrays.fill(columnW, 0);
        }
        int[] columnX = new int[columns];
        int legendW = MARGIN;
        for (int c = 0; c < columns; c++) {
            columnX[c] = w + legendW;
            columnW[c] += SWATCH_W + GAP + MARGIN;
            legendW += columnW[c];
        }
        int outH = Math.max(h, 2 * MARGIN + Math.min(legend.size(), perColumn) * ROW);
        BufferedImage out = new BufferedImage(w + legendW, outH, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w + legendW, outH);
            out.setRGB(0, 0, w, h, px, 0, w);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            for (int i = 0; i < legend.size(); i++) {
                LegendEntry e = legend.get(i);
                int x = columnX[i / perColumn];
                int y = MARGIN + (i % perColumn) * ROW;
                if (e.label() == LabelMap.BACKGROUND) {
                    g.setColor(Color.WHITE);
                    g.fillRect(x, y + 2, SWATCH_W, SWATCH_H);
                    g.setColor(Color.GRAY);
                    g.drawLine(x, y + 2 + SWATCH_H, x + SWATCH_W, y + 2);
                } else {
                    g.setColor(new Color(e.rgb()));
                    g.fillRect(x, y + 2, SWATCH_W, SWATCH_H);
                }
                g.setColor(Color.DARK_GRAY);
                g.drawRect(x, y + 2, SWATCH_W, SWATCH_H);
                if (text) {
                    try {
                        g.setFont(font);
                        g.setColor(Color.BLACK);
                        g.drawString(e.text(), x + SWATCH_W + GAP, y + 14);
                    } catch (RuntimeException | Error ex) {
                        text = false;
                    }
                }
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    /**
     * The image with SAM points drawn, in order: antialiased filled circles of radius
     * max(3, min(W, H) / 60) pixels, green for positives (label 1), red for negatives (label 0),
     * with a white outline. Parts of circles outside the image are cut off.
     *
     * @param image the original image, of any type (read as the class comment says)
     * @param points the points, in the image's pixel coordinates
     * @return a new picture of the image's size
     * @throws NullPointerException if an argument is null
     */
    public static BufferedImage points(BufferedImage image, SamPoints points) {
        int w = image.getWidth();
        int h = image.getHeight();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, w, h, readRgb(image), 0, w);
        int[] labels = points.labels();
        int r = Math.max(3, Math.min(w, h) / 60);
        Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setStroke(new BasicStroke(Math.max(1f, r / 3f)));
            for (int i = 0; i < points.size(); i++) {
                Color c = i >= labels.length ? Color.YELLOW : labels[i] == 1 ? new Color(0, 200, 0) : new Color(230, 0, 0);
                int x = points.x(i);
                int y = points.y(i);
                g.setColor(c);
                g.fillOval(x - r, y - r, 2 * r, 2 * r);
                g.setColor(Color.WHITE);
                g.drawOval(x - r, y - r, 2 * r, 2 * r);
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    /**
     * Distinct colours for n labels, packed 0xRRGGBB, chosen to stay readable when blended half and
     * half over a photo.
     *
     * <p><b>How they are chosen.</b> Candidates are the sRGB colours with channels in steps of 17
     * (16 levels each, 4096 colours) whose OKLab lightness is in [{@value #PALETTE_MIN_L},
     * {@value #PALETTE_MAX_L}] and chroma at least {@value #PALETTE_MIN_C}: bright, clearly coloured,
     * never near black (which only darkens the photo) or white. The first colour is the most
     * chromatic candidate; each next one is the candidate farthest, in OKLab (a perceptually
     * uniform space), from every colour taken so far (greedy max-min, as in Glasbey et al., "Colour
     * displays for categorical images", 2007). So every prefix of the palette is as spread out as
     * this greedy rule makes it, and the first labels, which a small label set uses, differ most.
     * For 59 labels the closest two colours are about 0.064 apart in OKLab and the darkest has
     * lightness 0.65; the PASCAL VOC palette used before had 0.018 and 0.17 (about a quarter of
     * the separation, and colours such as dark blue that vanish over a photo). Beyond the
     * candidates (1658 of them) the colours repeat.
     *
     * @param n the number of labels, ≥ 0
     * @return a new array of n packed 0xRRGGBB colours; palette(n) is a prefix of palette(m) for
     *     n ≤ m
     * @throws IllegalArgumentException if n is negative
     */
    public static int[] palette(int n) {
        if (n < 0) throw new IllegalArgumentException("palette size must be non-negative, got " + n);
        int[] base = n <= PALETTE.length ? PALETTE : buildPalette(n);
        int[] out = new int[n];
        for (int t = 0; t < n; t++) out[t] = base[t % base.length];
        return out;
    }

    /** Lightness range and least chroma of {@link #palette}'s candidates (OKLab). */
    static final double PALETTE_MIN_L = 0.65;
    static final double PALETTE_MAX_L = 0.92;
    static final double PALETTE_MIN_C = 0.08;

    /** The first 256 colours: enough for any 8-bit label map. */
    private static final int[] PALETTE = buildPalette(256);

    /** Greedy max-min selection of {@code n} colours (fewer when there are fewer candidates). */
    private static int[] buildPalette(int n) {
        List<double[]> labs = new java.util.ArrayList<>();
        List<Integer> rgbs = new java.util.ArrayList<>();
        for (int r = 0; r < 256; r += 17) {
            for (int g = 0; g < 256; g += 17) {
                for (int b = 0; b < 256; b += 17) {
                    int rgb = (r << 16) | (g << 8) | b;
                    double[] lab = oklab(rgb);
                    if (lab[0] >= PALETTE_MIN_L && lab[0] <= PALETTE_MAX_L
                            && Math.hypot(lab[1], lab[2]) >= PALETTE_MIN_C) {
                        labs.add(lab);
                        rgbs.add(rgb);
                    }
                }
            }
        }
        int count = Math.min(n, labs.size());
        int[] out = new int[count];
        double[] nearest = new double[labs.size()];
        java.util.Arrays.fill(nearest, Double.POSITIVE_INFINITY);
        int pick = 0;
        for (int i = 1; i < labs.size(); i++) {
            double[] a = labs.get(i);
            double[] p = labs.get(pick);
            if (Math.hypot(a[1], a[2]) > Math.hypot(p[1], p[2])) pick = i;
        }
        for (int k = 0; k < count; k++) {
            out[k] = rgbs.get(pick);
            double[] chosen = labs.get(pick);
            int next = 0;
            for (int i = 0; i < labs.size(); i++) {
                nearest[i] = Math.min(nearest[i], distance(labs.get(i), chosen));
                if (nearest[i] > nearest[next]) next = i;
            }
            pick = next;
        }
        return out;
    }

    private static double distance(double[] a, double[] b) {
        double dl = a[0] - b[0], da = a[1] - b[1], db = a[2] - b[2];
        return Math.sqrt(dl * dl + da * da + db * db);
    }

    /** An sRGB colour (0xRRGGBB) in OKLab (Björn Ottosson's matrices): {L, a, b}. */
    static double[] oklab(int rgb) {
        double r = linear((rgb >> 16) & 0xff);
        double g = linear((rgb >> 8) & 0xff);
        double b = linear(rgb & 0xff);
        double l = Math.cbrt(0.4122214708 * r + 0.5363319107 * g + 0.0514459929 * b);
        double m = Math.cbrt(0.2119034982 * r + 0.6806995457 * g + 0.1073969566 * b);
        double s = Math.cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
        return new double[] {
            0.2104542553 * l + 0.7936177850 * m - 0.0040720468 * s,
            1.9779984951 * l - 2.4285922050 * m + 0.4505937099 * s,
            0.0259040371 * l + 0.7827717662 * m - 0.8086757660 * s};
    }

    private static double linear(int channel) {
        double c = channel / 255.0;
        return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    }

    /** The image's pixels as packed 0xRRGGBB, row-major; an 8-bit grey raster gives grey pixels. */
    static int[] readRgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        int[] out = new int[w * h];
        Raster raster = image.getRaster();
        if (image.getType() == BufferedImage.TYPE_BYTE_GRAY) {
            // getRGB would convert linear grey to sRGB; PIL's convert('RGB') copies the level.
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, row);
                for (int x = 0; x < w; x++) out[y * w + x] = row[x] * 0x010101;
            }
            return out;
        }
        image.getRGB(0, 0, w, h, out, 0, w);
        for (int p = 0; p < out.length; p++) out[p] &= 0xffffff;
        return out;
    }

    private static int blend(int image, int heat) {
        return (int) (image * IMAGE_WEIGHT + heat * HEAT_WEIGHT);
    }

    private static int half(int a, int b) {
        return ((a & 0xff) + (b & 0xff)) / 2;
    }

    private static void checkMap(float[] map, int h, int w) {
        if (map == null) throw new IllegalArgumentException("map is null");
        if (map.length != (long) h * w) {
            throw new IllegalArgumentException("map has " + map.length + " values, the image is " + w + "×" + h
                    + " = " + (long) h * w + " pixels");
        }
    }

    /** OpenCV's JET: interpolate the base map in float32, scale by 255, round half to even. */
    private static int[] buildJet() {
        float[][] base = new float[3][256];
        for (int i = 0; i < 256; i++) {
            base[0][i] = (float) (jetRed(i) / 255.0);
            base[1][i] = (float) (jetGreen(i) / 255.0);
            base[2][i] = (float) (jetRed(255 - i) / 255.0); // blue mirrors red
        }
        float step = 1f / 255f;
        float[] xs = new float[256];
        for (int i = 0; i < 256; i++) xs[i] = 0f + i * step;
        int[] lut = new int[256];
        for (int i = 0; i < 256; i++) {
            int packed = 0;
            for (int ch = 0; ch < 3; ch++) {
                float[] y = base[ch];
                float v;
                if (i == 0) {
                    v = y[0];
                } else {
                    // the sample xs[i] lies in (xs[i-1], xs[i]]: OpenCV's interp1 on that segment
                    v = y[i - 1] + (xs[i] - xs[i - 1]) * (y[i] - y[i - 1]) / (xs[i] - xs[i - 1]);
                }
                int level = (int) Math.rint(v * 255f);
                packed = (packed << 8) | Math.max(0, Math.min(255, level));
            }
            lut[i] = packed;
        }
        return lut;
    }

    /** 255 × Octave jet's red at index i of 256. */
    private static double jetRed(int i) {
        if (i < 96) return 0;
        if (i < 160) return 1.5 + 4 * (i - 96);
        if (i < 224) return 255;
        return 251.5 - 4 * (i - 224);
    }

    /** 255 × Octave jet's green at index i of 256. */
    private static double jetGreen(int i) {
        if (i < 32) return 0;
        if (i < 96) return 0.5 + 4 * (i - 32);
        if (i < 160) return 255;
        if (i < 224) return 252.5 - 4 * (i - 160);
        return 0;
    }
}

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
 */
public final class Overlay {
    /** Weight of the photo in a heat-map overlay (the official demo's 0.4). */
    public static final double IMAGE_WEIGHT = 0.4;
    /** Weight of the heat map in a heat-map overlay (the official demo's 0.6). */
    public static final double HEAT_WEIGHT = 0.6;

    private static final int[] JET = buildJet();

    private Overlay() {}

    /** OpenCV's COLORMAP_JET as 256 packed 0xRRGGBB values (a copy). */
    public static int[] jetLut() {
        return JET.clone();
    }

    /** The JET colour of an 8-bit value, packed 0xRRGGBB. */
    public static int jet(int value) {
        if (value < 0 || value > 255) throw new IllegalArgumentException("JET index must be 0..255, got " + value);
        return JET[value];
    }

    /** The 8-bit level the demo gives a map value: {@code (uint8)(v * 255f)}, clamped, NaN → 0. */
    public static int level(float v) {
        float s = v * 255f;
        if (!(s > 0f)) return 0;
        if (s >= 255f) return 255;
        return (int) s;
    }

    /**
     * The demo's overlay: {@code trunc(image·0.4 + jet(level(map))·0.6)} per channel.
     *
     * @param image the original image (any type; read as sRGB, grey rasters as their grey level)
     * @param map (H, W) row-major, H and W the image's size, values in [0, 1]
     * @throws IllegalArgumentException if the map does not have the image's size
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

    /** The heat map alone (JET colours of the levels), (H, W) row-major map. */
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
     * A label map picture: each labelled pixel is half the image and half its label's colour
     * ({@link #palette}), background pixels keep the image (or are black without an image), and a
     * legend on the right lists the labels that occur, with their colours and names.
     *
     * @param image the original image, or null for colours only
     * @param labels the label map
     * @param index which image of the label map
     * @param names the label names, one per label index
     */
    public static BufferedImage labelMap(BufferedImage image, LabelMap labels, int index, List<String> names) {
        int w = labels.width();
        int h = labels.height();
        if (image != null && (image.getWidth() != w || image.getHeight() != h)) {
            throw new IllegalArgumentException("image is " + image.getWidth() + "×" + image.getHeight()
                    + " but the label map is " + w + "×" + h);
        }
        if (names == null || names.size() != labels.labels()) {
            throw new IllegalArgumentException("need " + labels.labels() + " label names, got "
                    + (names == null ? "none" : names.size()));
        }
        int[] ids = labels.image(index);
        int[] rgb = image == null ? new int[w * h] : readRgb(image);
        int[] colours = palette(labels.labels());
        int[] px = new int[w * h];
        for (int p = 0; p < px.length; p++) {
            int id = ids[p];
            if (id == LabelMap.BACKGROUND) {
                px[p] = rgb[p];
            } else if (image == null) {
                px[p] = colours[id];
            } else {
                int c = colours[id];
                int s = rgb[p];
                px[p] = (half(s >> 16, c >> 16) << 16) | (half(s >> 8, c >> 8) << 8) | half(s, c);
            }
        }
        long[] counts = labels.counts(index);
        int present = 0;
        for (int t = 0; t < labels.labels(); t++) if (counts[t] > 0) present++;

        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
        int row = 20;
        int legendW = 0;
        boolean text = true;
        BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        try {
            Graphics2D g = probe.createGraphics();
            FontMetrics fm = g.getFontMetrics(font);
            for (int t = 0; t < labels.labels(); t++) {
                if (counts[t] > 0) legendW = Math.max(legendW, fm.stringWidth(names.get(t)));
            }
            g.dispose();
        } catch (RuntimeException | Error e) {
            // No usable font on this system: swatches only.
            text = false;
        }
        legendW += 8 + 16 + 6 + 8;
        int outH = Math.max(h, 8 + present * row + 8);
        BufferedImage out = new BufferedImage(w + legendW, outH, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, w, h, px, 0, w);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(w, 0, legendW, outH);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            int y = 8;
            for (int t = 0; t < labels.labels(); t++) {
                if (counts[t] == 0) continue;
                g.setColor(new Color(colours[t]));
                g.fillRect(w + 8, y + 2, 16, 14);
                g.setColor(Color.DARK_GRAY);
                g.drawRect(w + 8, y + 2, 16, 14);
                if (text) {
                    try {
                        g.setFont(font);
                        g.setColor(Color.BLACK);
                        g.drawString(names.get(t), w + 8 + 16 + 6, y + 14);
                    } catch (RuntimeException | Error e) {
                        text = false;
                    }
                }
                y += row;
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    /**
     * The image with SAM points drawn: filled circles, green for positives (label 1), red for
     * negatives (label 0), with a white outline; points without a label (the reference's
     * degenerate case) are drawn in yellow.
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
     * Distinct colours for n labels, packed 0xRRGGBB: the PASCAL VOC palette (the bits of the index
     * spread over the high bits of red, green and blue) starting at its entry 1, so no label is
     * black.
     */
    public static int[] palette(int n) {
        if (n < 0) throw new IllegalArgumentException("palette size must be non-negative, got " + n);
        int[] out = new int[n];
        for (int t = 0; t < n; t++) {
            int c = t + 1;
            int r = 0;
            int g = 0;
            int b = 0;
            for (int bit = 7; c > 0 && bit >= 0; bit--, c >>= 3) {
                r |= (c & 1) << bit;
                g |= ((c >> 1) & 1) << bit;
                b |= ((c >> 2) & 1) << bit;
            }
            out[t] = (r << 16) | (g << 8) | b;
        }
        return out;
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

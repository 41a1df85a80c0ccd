package org.clipsurgery.image;

/**
 * Pillow's {@code Image.resize(size, Image.BICUBIC)} for 8-bit RGB images, bit for bit.
 *
 * <p>This ports the algorithm of Pillow's {@code src/libImaging/Resample.c} (8 bits per channel
 * path, default box = whole image):
 * <ul>
 *   <li>Separable: a horizontal pass into an intermediate uint8 image, then a vertical pass. A pass
 *       is skipped when the size in its direction does not change (Pillow's {@code need_horizontal}
 *       / {@code need_vertical}); with neither, the image is copied.</li>
 *   <li>Per direction, scale = in/out and filterscale = max(scale, 1): when shrinking, the cubic
 *       kernel (a = -0.5, support 2) is stretched by the scale, which is what antialiases.</li>
 *   <li>Output pixel x takes the source taps i in [xmin, xmax) with center = (x + 0.5)·scale,
 *       xmin = max((int)(center − support + 0.5), 0), xmax = min((int)(center + support + 0.5), in)
 *       ({@code (int)} truncates toward zero, as C's cast), weight K((i − center + 0.5)·(1/filterscale)),
 *       weights divided by their sum (unless it is 0).</li>
 *   <li>Weights become fixed point with 22 fractional bits (Pillow's PRECISION_BITS = 32 − 8 − 2),
 *       rounded half away from zero: (int)(w·2^22 ± 0.5). Each output is
 *       clip8((2^21 + Σ pixel·weight) >> 22) in 32-bit integers, clip8 clamping to 0..255.</li>
 * </ul>
 * Every floating-point step is done in double, in Pillow's order (the multiply by 1/filterscale is
 * kept as a multiply), so the rounded integer weights are the same as Pillow's.
 */
public final class PilResize {
    /** Fractional bits of the fixed-point weights (Pillow: 32 bits − 8 for the pixel − 2 for overflow). */
    public static final int PRECISION_BITS = 32 - 8 - 2;
    private static final double SUPPORT = 2.0;
    private static final double A = -0.5;

    private PilResize() {}

    /**
     * The fixed-point taps of one resize direction, in Pillow's layout: output position o reads
     * {@code count[o]} source samples starting at {@code start[o]}, with weights
     * {@code weights[o * ksize + j]} (22 fractional bits). Public so that other implementations of
     * the same resize (a GPU kernel) can use exactly these weights.
     */
    public static final class Coefficients {
        public final int inSize;
        public final int outSize;
        /** Stride of {@link #weights} per output position (Pillow's ksize = ceil(support)·2 + 1). */
        public final int ksize;
        public final int[] start;
        public final int[] count;
        public final int[] weights;

        private Coefficients(int inSize, int outSize, int ksize, int[] start, int[] count, int[] weights) {
            this.inSize = inSize;
            this.outSize = outSize;
            this.ksize = ksize;
            this.start = start;
            this.count = count;
            this.weights = weights;
        }
    }

    /** Pillow's bicubic kernel, a = -0.5 (Keys), support 2. */
    static double bicubic(double x) {
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((A + 2.0) * x - (A + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * A;
        return 0.0;
    }

    /**
     * The taps for resizing {@code inSize} samples to {@code outSize} (Pillow's precompute_coeffs
     * followed by its 8-bit normalisation).
     */
    public static Coefficients coefficients(int inSize, int outSize) {
        if (inSize <= 0 || outSize <= 0) {
            throw new IllegalArgumentException("resize sizes must be positive, got " + inSize + " -> " + outSize);
        }
        // Pillow passes the box edges as floats; for the whole image they are 0 and inSize, exact.
        double scale = (double) (float) inSize / outSize;
        double filterscale = Math.max(scale, 1.0);
        double support = SUPPORT * filterscale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        if ((long) outSize * ksize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("resize " + inSize + " -> " + outSize + " needs too many weights");
        }
        int[] start = new int[outSize];
        int[] count = new int[outSize];
        int[] weights = new int[outSize * ksize];
        double[] k = new double[ksize];
        double ss = 1.0 / filterscale;
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            int xmin = (int) (center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            int n = xmax - xmin;
            double ww = 0.0;
            for (int x = 0; x < n; x++) {
                double w = bicubic((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            int base = xx * ksize;
            for (int x = 0; x < n; x++) {
                double w = ww != 0.0 ? k[x] / ww : k[x];
                // Round half away from zero, as Pillow's normalize_coeffs_8bpc.
                weights[base + x] = w < 0 ? (int) (-0.5 + w * (1 << PRECISION_BITS))
                        : (int) (0.5 + w * (1 << PRECISION_BITS));
            }
            start[xx] = xmin;
            count[xx] = Math.max(n, 0);
        }
        return new Coefficients(inSize, outSize, ksize, start, count, weights);
    }

    private static int clip8(int acc) {
        int v = acc >> PRECISION_BITS; // arithmetic shift, as Pillow's lookup index
        return v < 0 ? 0 : (v > 255 ? 255 : v);
    }

    /**
     * Resizes to {@code outWidth} × {@code outHeight} exactly as Pillow's
     * {@code im.resize((outWidth, outHeight), Image.BICUBIC)} on an RGB image.
     */
    public static RgbImage resize(RgbImage src, int outWidth, int outHeight) {
        if (outWidth <= 0 || outHeight <= 0) {
            throw new IllegalArgumentException("target size must be positive, got " + outWidth + "x" + outHeight);
        }
        int inW = src.width();
        int inH = src.height();
        boolean needHorizontal = outWidth != inW;
        boolean needVertical = outHeight != inH;
        if (!needHorizontal && !needVertical) {
            return new RgbImage(inW, inH, src.data().clone());
        }
        Coefficients cv = coefficients(inH, outHeight);
        byte[] cur = src.data();
        int curW = inW;
        int rowOffset = 0; // first source row held in cur
        if (needHorizontal) {
            // Like Pillow, only the rows the vertical pass will read are resampled horizontally.
            int first = cv.start[0];
            int last = cv.start[outHeight - 1] + cv.count[outHeight - 1];
            if (!needVertical) {
                first = 0;
                last = inH;
            }
            Coefficients ch = coefficients(inW, outWidth);
            cur = horizontal(cur, inW, first, last - first, ch);
            curW = outWidth;
            rowOffset = first;
        }
        if (needVertical) {
            cur = vertical(cur, curW, rowOffset, cv);
        }
        return new RgbImage(outWidth, outHeight, cur);
    }

    /** Resamples rows [firstRow, firstRow + rows) of {@code in} (width inW) to ch.outSize columns. */
    private static byte[] horizontal(byte[] in, int inW, int firstRow, int rows, Coefficients ch) {
        int outW = ch.outSize;
        byte[] out = new byte[rows * outW * 3];
        int half = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < rows; y++) {
            int rowBase = (firstRow + y) * inW * 3;
            int o = y * outW * 3;
            for (int xx = 0; xx < outW; xx++) {
                int kBase = xx * ch.ksize;
                int n = ch.count[xx];
                int p = rowBase + ch.start[xx] * 3;
                int s0 = half, s1 = half, s2 = half;
                for (int x = 0; x < n; x++, p += 3) {
                    int w = ch.weights[kBase + x];
                    s0 += (in[p] & 0xFF) * w;
                    s1 += (in[p + 1] & 0xFF) * w;
                    s2 += (in[p + 2] & 0xFF) * w;
                }
                out[o++] = (byte) clip8(s0);
                out[o++] = (byte) clip8(s1);
                out[o++] = (byte) clip8(s2);
            }
        }
        return out;
    }

    /**
     * Resamples columns of {@code in} (width w, whose row 0 is source row {@code rowOffset}) to
     * cv.outSize rows.
     */
    private static byte[] vertical(byte[] in, int w, int rowOffset, Coefficients cv) {
        int outH = cv.outSize;
        byte[] out = new byte[outH * w * 3];
        int half = 1 << (PRECISION_BITS - 1);
        int stride = w * 3;
        // Row by row (all columns at once) so memory is read sequentially; integer sums do not
        // depend on the order in which the taps are added.
        int[] acc = new int[stride];
        for (int yy = 0; yy < outH; yy++) {
            int kBase = yy * cv.ksize;
            int n = cv.count[yy];
            int first = cv.start[yy] - rowOffset;
            java.util.Arrays.fill(acc, half);
            for (int y = 0; y < n; y++) {
                int wgt = cv.weights[kBase + y];
                int p = (first + y) * stride;
                for (int i = 0; i < stride; i++) {
                    acc[i] += (in[p + i] & 0xFF) * wgt;
                }
            }
            int o = yy * stride;
            for (int i = 0; i < stride; i++) {
                out[o + i] = (byte) clip8(acc[i]);
            }
        }
        return out;
    }
}

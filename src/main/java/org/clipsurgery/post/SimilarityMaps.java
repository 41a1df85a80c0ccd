package org.clipsurgery.post;

import java.util.stream.IntStream;

/**
 * Dense per-label maps at image size from a token similarity, as the official
 * {@code clip.get_similarity_map(similarity[:, 1:, :], (H, W))} computes them.
 *
 * <p>Input: a similarity {@code (B, N, T)} in row-major order with {@code N = 1 + g²} (token 0 is
 * the class token, patch tokens follow row-major over the g×g grid), T labels. Per image and label:
 * <ol>
 *   <li>min-max normalisation over the g² patch tokens (the class token is dropped):
 *       {@code (s − min) / (max − min)} in float32 (a label whose patch similarities are all equal
 *       gives NaN, as in the reference);</li>
 *   <li>reshape to g×g (row-major), then bilinear resize to (H, W) with torch's
 *       {@code align_corners=False} rule and float32 arithmetic (see {@link Bilinear}); on the
 *       reference fixture the result equals the official one bit for bit.</li>
 * </ol>
 * Output {@link #values()}: {@code (B, H, W, T)} row-major, the layout of the reference fixture's
 * {@code similarity_map} and of the official function's result.
 *
 * <p>Cost: one pass over the output with per-axis taps precomputed once; rows run in parallel on
 * the common fork-join pool for large outputs (480×640×59 is 18 M values, 72 MB).
 *
 * <pre>{@code
 * SimilarityMaps maps = SimilarityMaps.compute(similarity, 1, 197, labels.size(), 480, 640);
 * float[] person = maps.map(0, labels.indexOf("person"));   // (480, 640), values in [0, 1]
 * }</pre>
 */
public final class SimilarityMaps {
    /** Outputs smaller than this many values are computed on the calling thread. */
    private static final long PARALLEL_THRESHOLD = 1L << 18;

    private final float[] values;
    private final int batch;
    private final int height;
    private final int width;
    private final int labels;
    private final int grid;

    private SimilarityMaps(float[] values, int batch, int height, int width, int labels, int grid) {
        this.values = values;
        this.batch = batch;
        this.height = height;
        this.width = width;
        this.labels = labels;
        this.grid = grid;
    }

    /**
     * Maps for every image and label.
     *
     * @param similarity (B, N, T) row-major, N = 1 + g²
     * @param batch B ≥ 1
     * @param tokens N
     * @param labels T ≥ 1
     * @param height H of the output (the original image height)
     * @param width W of the output (the original image width)
     * @throws IllegalArgumentException for sizes that do not match or are not positive, N not 1 + g²,
     *     or an output larger than a Java array
     */
    public static SimilarityMaps compute(float[] similarity, int batch, int tokens, int labels, int height, int width) {
        int g = checkSimilarity(similarity, batch, tokens, labels);
        checkImageSize(height, width);
        long total = (long) batch * height * width * labels;
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("maps of " + batch + "×" + height + "×" + width + "×" + labels
                    + " values do not fit one Java array; compute them per label with mapOf(...)");
        }
        float[] norm = normalise(similarity, batch, tokens, labels, g);
        Bilinear.Axis ay = Bilinear.axis(g, height);
        Bilinear.Axis ax = Bilinear.axis(g, width);
        float[] out = new float[(int) total];
        IntStream rows = IntStream.range(0, batch * height);
        if (total >= PARALLEL_THRESHOLD) rows = rows.parallel();
        rows.forEach(row -> {
            int b = row / height;
            int y = row % height;
            int gridBase = b * g * g * labels;
            int r0 = gridBase + ay.i0[y] * g * labels;
            int r1 = gridBase + ay.i1[y] * g * labels;
            float h0 = ay.l0[y];
            float h1 = ay.l1[y];
            int o = row * width * labels;
            for (int x = 0; x < width; x++, o += labels) {
                int c0 = ax.i0[x] * labels;
                int c1 = ax.i1[x] * labels;
                float w0 = ax.l0[x];
                float w1 = ax.l1[x];
                for (int t = 0; t < labels; t++) {
                    out[o + t] = Bilinear.interpolate(norm[r0 + c0 + t], norm[r0 + c1 + t],
                            norm[r1 + c0 + t], norm[r1 + c1 + t], h0, h1, w0, w1);
                }
            }
        });
        return new SimilarityMaps(out, batch, height, width, labels, g);
    }

    /**
     * The map of one image and label, (H, W) row-major, without computing the others. Equal, value
     * for value, to {@code compute(...).map(image, label)}.
     */
    public static float[] mapOf(float[] similarity, int batch, int tokens, int labels, int image, int label,
            int height, int width) {
        int g = checkSimilarity(similarity, batch, tokens, labels);
        checkIndex("image", image, batch);
        checkIndex("label", label, labels);
        checkImageSize(height, width);
        if ((long) height * width > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a " + height + "×" + width + " map does not fit one Java array");
        }
        float[] grid = normalisedGrid(similarity, batch, tokens, labels, image, label);
        Bilinear.Axis ay = Bilinear.axis(g, height);
        Bilinear.Axis ax = Bilinear.axis(g, width);
        float[] out = new float[height * width];
        IntStream rows = IntStream.range(0, height);
        if ((long) height * width >= PARALLEL_THRESHOLD) rows = rows.parallel();
        rows.forEach(y -> {
            int r0 = ay.i0[y] * g;
            int r1 = ay.i1[y] * g;
            float h0 = ay.l0[y];
            float h1 = ay.l1[y];
            for (int x = 0; x < width; x++) {
                float v00 = grid[r0 + ax.i0[x]];
                float v01 = grid[r0 + ax.i1[x]];
                float v10 = grid[r1 + ax.i0[x]];
                float v11 = grid[r1 + ax.i1[x]];
                out[y * width + x] = Bilinear.interpolate(v00, v01, v10, v11, h0, h1, ax.l0[x], ax.l1[x]);
            }
        });
        return out;
    }

    /**
     * The raw (not normalised) similarity of one image and label over the patch tokens, as a g×g
     * grid in row-major order: {@code similarity[image, 1:, label]}. This is what the official
     * {@code similarity_map_to_points} takes (see {@link SamPoints}).
     */
    public static float[] patchSimilarity(float[] similarity, int batch, int tokens, int labels, int image, int label) {
        int g = checkSimilarity(similarity, batch, tokens, labels);
        checkIndex("image", image, batch);
        checkIndex("label", label, labels);
        float[] out = new float[g * g];
        int base = image * tokens * labels + labels + label;
        for (int p = 0; p < out.length; p++) out[p] = similarity[base + p * labels];
        return out;
    }

    /** The min-max normalised g×g grid of one image and label (the input of the upsampling). */
    public static float[] normalisedGrid(float[] similarity, int batch, int tokens, int labels, int image, int label) {
        return minMaxInPlace(patchSimilarity(similarity, batch, tokens, labels, image, label));
    }

    /**
     * v rescaled in place to (v − min) / (max − min), as the official code does (no guard: a
     * constant grid gives NaN there too); returns v.
     */
    static float[] minMaxInPlace(float[] v) {
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        for (float x : v) {
            min = Math.min(min, x);
            max = Math.max(max, x);
        }
        float range = max - min;
        for (int i = 0; i < v.length; i++) v[i] = (v[i] - min) / range;
        return v;
    }

    /**
     * The side g of the patch grid for N tokens (N = 1 + g²).
     *
     * @throws IllegalArgumentException if N − 1 is not a positive perfect square
     */
    public static int gridSide(int tokens) {
        if (tokens < 2) {
            throw new IllegalArgumentException("need a class token and at least one patch token, got N = " + tokens);
        }
        int g = (int) Math.round(Math.sqrt(tokens - 1.0));
        if ((long) g * g != tokens - 1) {
            throw new IllegalArgumentException("N = " + tokens + " tokens is not 1 + g² (class token + square patch grid)");
        }
        return g;
    }

    /** All maps, (B, H, W, T) row-major. The backing array, not a copy: do not modify it. */
    public float[] values() {
        return values;
    }

    /** The map of one image and label, (H, W) row-major (a copy). */
    public float[] map(int image, int label) {
        checkIndex("image", image, batch);
        checkIndex("label", label, labels);
        float[] out = new float[height * width];
        int o = image * height * width * labels + label;
        for (int p = 0; p < out.length; p++, o += labels) out[p] = values[o];
        return out;
    }

    /** The value at pixel (x, y) of one image and label. */
    public float value(int image, int y, int x, int label) {
        checkIndex("image", image, batch);
        checkIndex("y", y, height);
        checkIndex("x", x, width);
        checkIndex("label", label, labels);
        return values[((image * height + y) * width + x) * labels + label];
    }

    public int batch() {
        return batch;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int labels() {
        return labels;
    }

    /** The side g of the patch grid the maps were upsampled from. */
    public int grid() {
        return grid;
    }

    /** (B, N, T) normalised over the patch tokens per image and label; rows are the g² patches. */
    private static float[] normalise(float[] s, int batch, int tokens, int labels, int g) {
        int patches = g * g;
        float[] out = new float[batch * patches * labels];
        for (int b = 0; b < batch; b++) {
            int in = (b * tokens + 1) * labels;
            int o = b * patches * labels;
            for (int t = 0; t < labels; t++) {
                float min = Float.POSITIVE_INFINITY;
                float max = Float.NEGATIVE_INFINITY;
                for (int p = 0; p < patches; p++) {
                    float v = s[in + p * labels + t];
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
                float range = max - min;
                for (int p = 0; p < patches; p++) {
                    out[o + p * labels + t] = (s[in + p * labels + t] - min) / range;
                }
            }
        }
        return out;
    }

    static int checkSimilarity(float[] similarity, int batch, int tokens, int labels) {
        if (similarity == null) throw new IllegalArgumentException("similarity is null");
        if (batch < 1) throw new IllegalArgumentException("batch must be at least 1, got " + batch);
        if (labels < 1) throw new IllegalArgumentException("need at least one label, got " + labels);
        int g = gridSide(tokens);
        long expected = (long) batch * tokens * labels;
        if (similarity.length != expected) {
            throw new IllegalArgumentException("similarity has " + similarity.length + " values, expected B·N·T = "
                    + batch + "·" + tokens + "·" + labels + " = " + expected);
        }
        return g;
    }

    static void checkImageSize(int height, int width) {
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + height + "×" + width + " (H×W)");
        }
    }

    static void checkIndex(String what, int i, int n) {
        if (i < 0 || i >= n) throw new IllegalArgumentException(what + " index " + i + " out of range [0, " + n + ")");
    }
}

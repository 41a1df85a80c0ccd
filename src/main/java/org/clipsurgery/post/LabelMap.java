package org.clipsurgery.post;

import java.util.stream.IntStream;

/**
 * A per-pixel label map (open-vocabulary segmentation): for every pixel of every image, the index of
 * the label whose map is highest there, or {@link #BACKGROUND} where the highest value is below an
 * optional threshold.
 *
 * <p>From {@link SimilarityMaps} the label map is the argmax of exactly the values in
 * {@link SimilarityMaps#values()} with the rule of the C API's {@code cs_map_labels}
 * (include/clip_surgery.h), which the CUDA engine runs on the device. Each label is min-max normalised to
 * [0, 1], so a threshold in [0, 1] means "at least this fraction of the label's own range". Ties
 * go to the lowest label index, as {@code torch.argmax} and {@code numpy.argmax} resolve them.
 *
 * <p>Indices are checked and refused with {@link IllegalArgumentException}, not
 * {@link IndexOutOfBoundsException}. An instance never changes its array and may be shared
 * between threads, provided nobody modifies the array it exposes ({@link #values()}) or was given
 * ({@link #ofIndices}).
 *
 * <pre>{@code
 * LabelMap seg = LabelMap.of(maps, 0.5f);        // background where no label reaches 0.5
 * int label = seg.label(0, y, x);                // −1 for background
 * byte[] png = seg.toBytes(0);                   // 255 for background, for an 8-bit picture
 * }</pre>
 */
public final class LabelMap {
    /** The index of background pixels in {@link #label}, {@link #values()} and {@link #image}: −1. */
    public static final int BACKGROUND = -1;
    /** The value of background pixels in {@link #toBytes}: 255, read unsigned. */
    public static final int BACKGROUND_BYTE = 255;

    private final int[] values;
    private final int batch;
    private final int height;
    private final int width;
    private final int labels;

    private LabelMap(int[] values, int batch, int height, int width, int labels) {
        this.values = values;
        this.batch = batch;
        this.height = height;
        this.width = width;
        this.labels = labels;
    }

    /**
     * A label map computed elsewhere by the same contract (the CUDA engine's {@code cs_map_labels_cuda}),
     * wrapped without copying.
     *
     * @param values label indices (B, H, W) row-major, each in 0 … labels − 1 or {@link #BACKGROUND}; kept, not copied
     * @param batch B ≥ 1
     * @param height H ≥ 1
     * @param width W ≥ 1
     * @param labels the number of labels T ≥ 1
     * @return the label map
     * @throws IllegalArgumentException if {@code values} is null, a size is not positive, the length
     *     is not B·H·W, or a value is neither {@link #BACKGROUND} nor in 0 … labels − 1
     */
    public static LabelMap ofIndices(int[] values, int batch, int height, int width, int labels) {
        if (batch < 1 || height < 1 || width < 1 || labels < 1 || values == null
                || values.length != (long) batch * height * width) {
            throw new IllegalArgumentException("a label map of " + (values == null ? "null" : values.length + " values")
                    + " for " + batch + "×" + height + "×" + width + " and " + labels + " labels");
        }
        for (int v : values) {
            if (v != BACKGROUND && (v < 0 || v >= labels)) throw new IllegalArgumentException("label index " + v + " of " + labels);
        }
        return new LabelMap(values, batch, height, width, labels);
    }

    /**
     * Argmax of {@code maps} with no background: every pixel gets a label.
     *
     * @param maps the maps; their values are what is read
     * @return a new label map, (B, H, W) of {@code maps}
     * @throws NullPointerException if {@code maps} is null
     */
    public static LabelMap of(SimilarityMaps maps) {
        return of(maps, Float.NEGATIVE_INFINITY);
    }

    /**
     * Argmax of {@code maps}; pixels whose highest value is below {@code threshold} are background.
     * The maps' values are in [0, 1], so a threshold ≤ 0 gives no background and one above 1
     * makes every pixel background.
     *
     * @param maps the maps; their values are what is read
     * @param threshold the least value a pixel's best label needs; {@link Float#NEGATIVE_INFINITY}
     *     for none
     * @return a new label map, (B, H, W) of {@code maps}
     * @throws IllegalArgumentException for a NaN threshold
     * @throws NullPointerException if {@code maps} is null
     */
    public static LabelMap of(SimilarityMaps maps, float threshold) {
        if (Float.isNaN(threshold)) throw new IllegalArgumentException("threshold is NaN");
        // The argmax of the maps the caller holds, not cs_map_labels_cpu of their similarity: the
        // twin would upsample all B·H·W·T values again only to compare them, which measures slower
        // than comparing the values already there (src/test/.../post/MapsBenchmark). The result
        // is the same: the maps are the twin's (finite, in [0, 1]) and argmax(float[]...) has the
        // C rule for them (first of equal values wins, background below the threshold).
        return of(maps.values(), maps.batch(), maps.height(), maps.width(), maps.labels(), threshold);
    }

    /**
     * Argmax over the last axis of maps the caller already holds (B, H, W, T), with the rule of
     * {@code cs_map_labels}: the first of equal values wins, background where the best value is
     * below {@code threshold}. The C API has no entry point for given maps (it derives the maps
     * from a similarity), so this is the one argmax loop left in Java; a NaN value never wins
     * (the C API's maps have none), and a pixel with only NaN values is background.
     *
     * <p>In detail: a pixel's label is the first index holding its largest non-NaN value
     * (infinities take part); a pixel whose values are all NaN, or whose best value is below
     * {@code threshold}, is background.
     *
     * @param maps (B, H, W, T) row-major; only read, not kept
     * @param batch B ≥ 1
     * @param height H ≥ 1
     * @param width W ≥ 1
     * @param labels T ≥ 1
     * @param threshold pixels whose highest value is below it become {@link #BACKGROUND};
     *     {@link Float#NEGATIVE_INFINITY} for none
     * @return a new label map
     * @throws IllegalArgumentException if {@code maps} is null, a size is not positive, the length is
     *     not B·H·W·T, or the threshold is NaN
     */
    public static LabelMap of(float[] maps, int batch, int height, int width, int labels, float threshold) {
        if (maps == null) throw new IllegalArgumentException("maps are null");
        if (batch < 1 || height < 1 || width < 1 || labels < 1) {
            throw new IllegalArgumentException("label map needs positive sizes, got B=" + batch + " H=" + height
                    + " W=" + width + " T=" + labels);
        }
        if (Float.isNaN(threshold)) throw new IllegalArgumentException("threshold is NaN");
        long pixels = (long) batch * height * width;
        if (maps.length != pixels * labels) {
            throw new IllegalArgumentException("maps have " + maps.length + " values, expected B·H·W·T = " + batch
                    + "·" + height + "·" + width + "·" + labels + " = " + pixels * labels);
        }
        int[] out = new int[(int) pixels];
        // Rows in parallel for large maps (the C twin shares rows among threads too); each row's
        // pixels are independent, so the result does not depend on the split.
        IntStream rows = IntStream.range(0, batch * height);
        if (pixels * labels >= 1 << 18) rows = rows.parallel();
        rows.forEach(row -> {
            for (int p = row * width, end = p + width; p < end; p++) {
                int base = p * labels;
                int best = BACKGROUND;
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t < labels; t++) {
                    float v = maps[base + t];
                    // strict > keeps the first of equal values; NaN compares false and never wins
                    if (v > max || (best == BACKGROUND && v == Float.NEGATIVE_INFINITY)) {
                        max = v;
                        best = t;
                    }
                }
                out[p] = best == BACKGROUND || max < threshold ? BACKGROUND : best;
            }
        });
        return new LabelMap(out, batch, height, width, labels);
    }

    /**
     * The label at pixel (x, y) of one image. Note the argument order: image, y, x.
     *
     * @param image the image index, 0 ≤ image &lt; B
     * @param y the row, 0 ≤ y &lt; H
     * @param x the column, 0 ≤ x &lt; W
     * @return the label index in 0 … T − 1, or {@link #BACKGROUND}
     * @throws IllegalArgumentException if an index is out of range
     */
    public int label(int image, int y, int x) {
        SimilarityMaps.checkIndex("image", image, batch);
        SimilarityMaps.checkIndex("y", y, height);
        SimilarityMaps.checkIndex("x", x, width);
        return values[(image * height + y) * width + x];
    }

    /**
     * All label indices, (B, H, W) row-major (pixel (x, y) of image b at {@code (b * H + y) * W + x}),
     * {@link #BACKGROUND} (−1) for background.
     *
     * @return the backing array, not a copy: do not modify it
     */
    public int[] values() {
        return values;
    }

    /**
     * The label indices of one image.
     *
     * @param image the image index, 0 ≤ image &lt; B
     * @return a new array of H·W indices, (H, W) row-major, {@link #BACKGROUND} for background
     * @throws IllegalArgumentException if the index is out of range
     */
    public int[] image(int image) {
        SimilarityMaps.checkIndex("image", image, batch);
        int[] out = new int[height * width];
        System.arraycopy(values, image * height * width, out, 0, out.length);
        return out;
    }

    /**
     * One image's labels as bytes (an 8-bit grey or palette picture): label t as the unsigned byte
     * t, background as {@value #BACKGROUND_BYTE}.
     *
     * @param image the image index, 0 ≤ image &lt; B
     * @return a new array of H·W bytes, (H, W) row-major
     * @throws IllegalStateException if there are more than 255 labels (255 is reserved)
     * @throws IllegalArgumentException if the index is out of range
     */
    public byte[] toBytes(int image) {
        if (labels > 255) throw new IllegalStateException(labels + " labels do not fit a byte map (at most 255)");
        SimilarityMaps.checkIndex("image", image, batch);
        byte[] out = new byte[height * width];
        int o = image * height * width;
        for (int p = 0; p < out.length; p++) {
            int v = values[o + p];
            out[p] = (byte) (v == BACKGROUND ? BACKGROUND_BYTE : v);
        }
        return out;
    }

    /**
     * Pixel count per label in one image.
     *
     * @param image the image index, 0 ≤ image &lt; B
     * @return a new array of T + 1 counts: index t for label t, index T for the background; they
     *     sum to H·W
     * @throws IllegalArgumentException if the index is out of range
     */
    public long[] counts(int image) {
        SimilarityMaps.checkIndex("image", image, batch);
        long[] out = new long[labels + 1];
        int o = image * height * width;
        for (int p = 0; p < height * width; p++) {
            int v = values[o + p];
            out[v == BACKGROUND ? labels : v]++;
        }
        return out;
    }

    /**
     * The number of images.
     *
     * @return B ≥ 1
     */
    public int batch() {
        return batch;
    }

    /**
     * The height of each image's map, in pixels.
     *
     * @return H ≥ 1
     */
    public int height() {
        return height;
    }

    /**
     * The width of each image's map, in pixels.
     *
     * @return W ≥ 1
     */
    public int width() {
        return width;
    }

    /**
     * The number of labels (valid indices are 0 … T − 1).
     *
     * @return T ≥ 1
     */
    public int labels() {
        return labels;
    }
}

package org.clipsurgery.post;

import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;

/**
 * A per-pixel label map (open-vocabulary segmentation): for every pixel of every image, the index of
 * the label whose map is highest there, or {@link #BACKGROUND} where the highest value is below an
 * optional threshold.
 *
 * <p>It is computed by the C API's {@code cs_map_labels} (include/clip_surgery.h), on the CPU
 * ({@link #compute}) or on the GPU by the CUDA engine: the argmax of the maps
 * {@link SimilarityMaps} holds. Each label is min-max normalised to [0, 1], so a threshold in
 * [0, 1] means "at least this fraction of the label's own range". Ties go to the lowest label
 * index, as {@code torch.argmax} and {@code numpy.argmax} resolve them.
 *
 * <p>Indices are checked and refused with {@link IllegalArgumentException}, not
 * {@link IndexOutOfBoundsException}. An instance never changes its array and may be shared
 * between threads, provided nobody modifies the array it exposes ({@link #values()}) or was given
 * ({@link #ofIndices}).
 *
 * <pre>{@code
 * LabelMap seg = explanation.labelMap(0.5f);     // background where no label reaches 0.5
 * int label = seg.label(0, y, x);                // −1 for background
 * byte[] png = seg.toBytes(0);                   // 255 for background, for an 8-bit picture
 * }</pre>
 */
public final class LabelMap {
    /** The index of background pixels in {@link #label}, {@link #values()} and {@link #image}: −1. */
    public static final int BACKGROUND = -1;
    /** The value of background pixels in {@link #toBytes}: 255, read unsigned. */
    public static final int BACKGROUND_BYTE = 255;
    /** The value of background pixels in {@link #toShorts}: 65535, read unsigned. */
    public static final int BACKGROUND_SHORT = 65535;

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
     * The label map of every image of a similarity, computed on the CPU by {@code cs_map_labels_cpu}
     * (include/clip_surgery.h): the argmax over labels of the maps {@link SimilarityMaps#compute}
     * gives for the same arguments, the first label winning ties, background where the best value
     * is below {@code threshold}. The CUDA engine runs the same contract on the device
     * ({@code cs_map_labels_cuda}).
     *
     * @param similarity (B, N, T) row-major, N = 1 + g²; only read
     * @param batch B ≥ 1
     * @param tokens N = 1 + g², g ≥ 1
     * @param labels T ≥ 1
     * @param height H ≥ 1 of the output
     * @param width W ≥ 1 of the output
     * @param threshold the least value (maps are in [0, 1]) a pixel's best label needs;
     *     {@link Float#NEGATIVE_INFINITY} for no background
     * @return a new label map, (B, H, W)
     * @throws IllegalArgumentException if {@code similarity} is null, a size is not positive, N is
     *     not 1 + g², the array's length is not B·N·T, B·H·W does not fit one Java array, or the
     *     threshold is NaN
     */
    public static LabelMap compute(float[] similarity, int batch, int tokens, int labels, int height, int width,
            float threshold) {
        SimilarityMaps.checkSimilarity(similarity, batch, tokens, labels);
        SimilarityMaps.checkImageSize(height, width);
        if (Float.isNaN(threshold)) throw new IllegalArgumentException("threshold is NaN");
        long pixels = (long) batch * height * width;
        if (pixels > Integer.MAX_VALUE - 8) throw new IllegalArgumentException(pixels + " pixels do not fit one Java array");
        int[] out = new int[(int) pixels];
        NativeCalls.load();
        // the array overload pins both arrays for the call (JNI critical region): no copy in or out
        NativeCalls.check(ClipSurgeryNative.cs_map_labels_cpu(similarity, batch, tokens, labels, height, width, threshold,
                BACKGROUND, ClipSurgeryNative.CS_I32, out, 0L), "cs_map_labels_cpu");
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
     * One image's labels as unsigned 16-bit values (a 16-bit grey picture, for more labels than
     * {@link #toBytes} holds): label t as t, background as {@value #BACKGROUND_SHORT}.
     *
     * @param image the image index, 0 ≤ image &lt; B
     * @return a new array of H·W shorts, (H, W) row-major, read unsigned
     * @throws IllegalStateException if there are more than 65535 labels (65535 is reserved)
     * @throws IllegalArgumentException if the index is out of range
     */
    public short[] toShorts(int image) {
        if (labels > 65535) throw new IllegalStateException(labels + " labels do not fit a 16-bit map (at most 65535)");
        SimilarityMaps.checkIndex("image", image, batch);
        short[] out = new short[height * width];
        int o = image * height * width;
        for (int p = 0; p < out.length; p++) {
            int v = values[o + p];
            out[p] = (short) (v == BACKGROUND ? BACKGROUND_SHORT : v);
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

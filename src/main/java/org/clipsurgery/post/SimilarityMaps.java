package org.clipsurgery.post;

import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;

/**
 * Dense per-label maps at image size from a token similarity, as the official
 * {@code clip.get_similarity_map(similarity[:, 1:, :], (H, W))} computes them, by the C API's
 * {@code cs_map_upsample_cpu} (include/clip_surgery.h): the same contract, degenerate cases
 * included, as the CUDA kernel. This class checks arguments and moves arrays; it has no numerics.
 *
 * <p>Input: a similarity {@code (B, N, T)} in row-major order with {@code N = 1 + g²} (token 0 is
 * the class token, patch tokens follow row-major over the g×g grid), T labels. Per image and label:
 * <ol>
 *   <li>min-max normalisation over the g² patch tokens (the class token is dropped). Where the
 *       official code gives NaN this gives 0: a label whose patch similarities are all equal is 0
 *       everywhere, and non-finite similarities (from NaN features) take no part in min/max and
 *       become 0 (the header's rule);</li>
 *   <li>reshape to g×g (row-major), then bilinear resize to (H, W) with torch's
 *       {@code align_corners=False} rule in float32. On the reference fixture the result is within
 *       the fixtures' tolerance of the official one (the official maps were made on a GPU, whose
 *       compiler fuses multiply-adds; the C API rounds every product, as its kernel does).</li>
 * </ol>
 * Output {@link #values()}: {@code (B, H, W, T)} row-major, the layout of the reference fixture's
 * {@code similarity_map} and of the official function's result; every value is finite and in
 * [0, 1] (the header's contract).
 *
 * <p><b>Arguments and errors.</b> Sizes and indices are checked here and refused with
 * {@link IllegalArgumentException} (an index out of range included, not
 * {@link IndexOutOfBoundsException}). Shapes beyond the C API's own limits (H or W over 65536,
 * B or T over 65535, N over 2<sup>24</sup>, B·T·H·W over 2<sup>40</sup>) pass these checks but are
 * refused by the native library with an unchecked exception of an internal type.
 *
 * <p><b>Sharing.</b> An instance never changes its arrays and may be shared between threads,
 * provided nobody modifies the arrays it exposes ({@link #values()}) or was given
 * ({@link #of}). The static methods keep no state and may run concurrently.
 *
 * <pre>{@code
 * SimilarityMaps maps = SimilarityMaps.compute(similarity, 1, 197, labels.size(), 480, 640);
 * float[] person = maps.map(0, labels.indexOf("person"));   // (480, 640), values in [0, 1]
 * }</pre>
 */
public final class SimilarityMaps {
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
     * Maps for every image and label, computed on the CPU by {@code cs_map_upsample_cpu}.
     *
     * @param similarity (B, N, T) row-major, N = 1 + g²; only read
     * @param batch B ≥ 1
     * @param tokens N = 1 + g², g ≥ 1
     * @param labels T ≥ 1
     * @param height H ≥ 1 of the output (the original image height)
     * @param width W ≥ 1 of the output (the original image width)
     * @return new maps, (B, H, W, T), each value in [0, 1]
     * @throws IllegalArgumentException if {@code similarity} is null, a size is not positive, N is not
     *     1 + g², the array's length is not B·N·T, or B·H·W·T values do not fit one Java array
     */
    public static SimilarityMaps compute(float[] similarity, int batch, int tokens, int labels, int height, int width) {
        int g = checkSimilarity(similarity, batch, tokens, labels);
        checkImageSize(height, width);
        long total = (long) batch * height * width * labels;
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("maps of " + batch + "×" + height + "×" + width + "×" + labels
                    + " values do not fit one Java array; compute them per label with mapOf(...)");
        }
        float[] out = upsample(similarity, batch, tokens, labels, height, width, ClipSurgeryNative.CS_LAYOUT_BHWT);
        return new SimilarityMaps(out, batch, height, width, labels, g);
    }

    /**
     * Maps computed elsewhere by the same contract (the CUDA engine's {@code cs_map_upsample_cuda}),
     * wrapped without copying; the values are not checked.
     *
     * @param values the maps, (B, H, W, T) row-major; kept, not copied
     * @param batch B ≥ 1
     * @param height H ≥ 1
     * @param width W ≥ 1
     * @param labels T ≥ 1
     * @param grid g ≥ 1, the side of the patch grid the maps were made from
     * @return maps that share {@code values} with the caller
     * @throws IllegalArgumentException if {@code values} is null, a size is not positive, or its
     *     length is not B·H·W·T
     */
    public static SimilarityMaps of(float[] values, int batch, int height, int width, int labels, int grid) {
        checkImageSize(height, width);
        if (batch < 1 || labels < 1 || grid < 1 || values == null || values.length != (long) batch * height * width * labels) {
            throw new IllegalArgumentException("maps of " + (values == null ? "null" : values.length + " values") + " for "
                    + batch + "×" + height + "×" + width + "×" + labels + ", grid " + grid);
        }
        return new SimilarityMaps(values, batch, height, width, labels, grid);
    }

    /**
     * The map of one image and label, (H, W) row-major, without computing the others. Equal, value
     * for value, to {@code compute(...).map(image, label)} (each label is normalised on its own).
     *
     * @param similarity (B, N, T) row-major, N = 1 + g²; only read
     * @param batch B ≥ 1
     * @param tokens N = 1 + g², g ≥ 1
     * @param labels T ≥ 1
     * @param image the image index, 0 ≤ image &lt; B
     * @param label the label index, 0 ≤ label &lt; T
     * @param height H ≥ 1 of the output
     * @param width W ≥ 1 of the output
     * @return a new array of H·W values in [0, 1]
     * @throws IllegalArgumentException if {@code similarity} is null, a size is not positive, N is not
     *     1 + g², the array's length is not B·N·T, an index is out of range, or H·W values do not fit
     *     one Java array
     */
    public static float[] mapOf(float[] similarity, int batch, int tokens, int labels, int image, int label,
            int height, int width) {
        checkSimilarity(similarity, batch, tokens, labels);
        checkIndex("image", image, batch);
        checkIndex("label", label, labels);
        checkImageSize(height, width);
        if ((long) height * width > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a " + height + "×" + width + " map does not fit one Java array");
        }
        return upsample(column(similarity, tokens, labels, image, label), 1, tokens, 1, height, width,
                ClipSurgeryNative.CS_LAYOUT_BTHW);
    }

    /**
     * The raw (not normalised) similarity of one image and label over the patch tokens, as a g×g
     * grid in row-major order: {@code similarity[image, 1:, label]}. This is what the official
     * {@code similarity_map_to_points} takes (see {@link SamPoints}).
     *
     * @param similarity (B, N, T) row-major, N = 1 + g²; only read
     * @param batch B ≥ 1
     * @param tokens N = 1 + g², g ≥ 1
     * @param labels T ≥ 1
     * @param image the image index, 0 ≤ image &lt; B
     * @param label the label index, 0 ≤ label &lt; T
     * @return a new array of the g² raw values, copied as they are (NaN and infinities included)
     * @throws IllegalArgumentException if {@code similarity} is null, a size is not positive, N is not
     *     1 + g², the array's length is not B·N·T, or an index is out of range
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

    /**
     * The min-max normalised g×g grid of one image and label (the input of the upsampling), by the
     * C API: the map "upsampled" to g×g, which is the normalised grid itself (every output pixel
     * sits on a cell centre, the second tap has weight 0).
     *
     * @param similarity (B, N, T) row-major, N = 1 + g²; only read
     * @param batch B ≥ 1
     * @param tokens N = 1 + g², g ≥ 1
     * @param labels T ≥ 1
     * @param image the image index, 0 ≤ image &lt; B
     * @param label the label index, 0 ≤ label &lt; T
     * @return a new array of g² values in [0, 1], row-major; all 0 when the label's patch values have
     *     no positive finite range, and 0 at every non-finite value
     * @throws IllegalArgumentException if {@code similarity} is null, a size is not positive, N is not
     *     1 + g², the array's length is not B·N·T, or an index is out of range
     */
    public static float[] normalisedGrid(float[] similarity, int batch, int tokens, int labels, int image, int label) {
        int g = checkSimilarity(similarity, batch, tokens, labels);
        checkIndex("image", image, batch);
        checkIndex("label", label, labels);
        return upsample(column(similarity, tokens, labels, image, label), 1, tokens, 1, g, g,
                ClipSurgeryNative.CS_LAYOUT_BTHW);
    }

    /** The similarity column (1, N, 1) of one image and label, class token included. */
    private static float[] column(float[] similarity, int tokens, int labels, int image, int label) {
        float[] out = new float[tokens];
        int base = image * tokens * labels + label;
        for (int i = 0; i < tokens; i++) out[i] = similarity[base + i * labels];
        return out;
    }

    /** cs_map_upsample_cpu into a new float32 array; arguments already checked. */
    private static float[] upsample(float[] similarity, int batch, int tokens, int labels, int height, int width,
            int layout) {
        NativeCalls.load();
        float[] out = new float[batch * height * width * labels];
        // The array overload pins both arrays for the call (JNI critical region): the twin writes
        // the Java array itself, no native buffer and no copy. Stream 0: the CPU twin has none.
        NativeCalls.check(ClipSurgeryNative.cs_map_upsample_cpu(similarity, batch, tokens, labels, height, width,
                layout, ClipSurgeryNative.CS_F32, out, 0L), "cs_map_upsample_cpu");
        return out;
    }

    /**
     * The side g of the patch grid for N tokens (N = 1 + g²).
     *
     * @param tokens N, the class token and the g² patch tokens
     * @return g ≥ 1
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

    /**
     * All maps, (B, H, W, T) row-major: the value of image b, pixel (x, y), label t is at
     * {@code ((b * H + y) * W + x) * T + t}.
     *
     * @return the backing array, not a copy: do not modify it
     */
    public float[] values() {
        return values;
    }

    /**
     * The map of one image and label.
     *
     * @param image the image index, 0 ≤ image &lt; B
     * @param label the label index, 0 ≤ label &lt; T
     * @return a new array of H·W values, (H, W) row-major
     * @throws IllegalArgumentException if an index is out of range
     */
    public float[] map(int image, int label) {
        checkIndex("image", image, batch);
        checkIndex("label", label, labels);
        float[] out = new float[height * width];
        int o = image * height * width * labels + label;
        for (int p = 0; p < out.length; p++, o += labels) out[p] = values[o];
        return out;
    }

    /**
     * The value at pixel (x, y) of one image and label. Note the argument order: image, y, x, label,
     * as in the (B, H, W, T) layout.
     *
     * @param image the image index, 0 ≤ image &lt; B
     * @param y the row, 0 ≤ y &lt; H
     * @param x the column, 0 ≤ x &lt; W
     * @param label the label index, 0 ≤ label &lt; T
     * @return the map value
     * @throws IllegalArgumentException if an index is out of range
     */
    public float value(int image, int y, int x, int label) {
        checkIndex("image", image, batch);
        checkIndex("y", y, height);
        checkIndex("x", x, width);
        checkIndex("label", label, labels);
        return values[((image * height + y) * width + x) * labels + label];
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
     * The height of every map, in pixels.
     *
     * @return H ≥ 1
     */
    public int height() {
        return height;
    }

    /**
     * The width of every map, in pixels.
     *
     * @return W ≥ 1
     */
    public int width() {
        return width;
    }

    /**
     * The number of labels.
     *
     * @return T ≥ 1
     */
    public int labels() {
        return labels;
    }

    /**
     * The side of the patch grid the maps were upsampled from.
     *
     * @return g ≥ 1, with N = 1 + g²
     */
    public int grid() {
        return grid;
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

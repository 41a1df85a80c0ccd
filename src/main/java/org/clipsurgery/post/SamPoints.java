package org.clipsurgery.post;

import com.google.gson.Gson;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;

/**
 * Point prompts for Segment Anything from a similarity, as the official
 * {@code clip.similarity_map_to_points(sm, shape, t=0.8, down_sample=2)} computes them, by the C
 * API's {@code cs_map_points_cpu} (include/clip_surgery.h; the CUDA kernel follows the same
 * contract), and the combined-target rule of the official demo.
 *
 * <p>Input: the <em>raw</em> similarity of one label over the g² patch tokens, row-major (what the
 * demo passes: {@code similarity[0][1:, n]}, see {@link SimilarityMaps#patchSimilarity}), and the
 * original image size. Steps (float32 like the reference):
 * <ol>
 *   <li>bilinear resize of the g×g grid to d×d, d = g / 2 (integer division), with torch's
 *       {@code align_corners=False} rule;</li>
 *   <li>min-max normalisation of the d² cells;</li>
 *   <li>n = min(#cells ≥ t, d² / 2); positives are the n highest cells in ascending order of value
 *       (the highest last), then negatives the n lowest in ascending order (the lowest first);
 *       labels 1 for positives, 0 for negatives;</li>
 *   <li>a cell (row r, column c) becomes the point x = min((c + 0.5)·(W / d), W − 1),
 *       y = min((r + 0.5)·(H / d), H − 1), computed in float32 and truncated to int.</li>
 * </ol>
 * The reference ranks with {@code torch.sort}, which is not stable; this sorts stably (equal
 * values keep cell order). The two agree whenever the values are distinct, as in the fixtures.
 *
 * <p><b>Deviation from the official code: no points when n = 0.</b> When no cell reaches t, the
 * map has no contrast (constant, or no finite value), or the grid has one cell (g = 2 or 3, so
 * d² / 2 = 0), the official code's {@code rank[-0:]} selects <em>every</em> cell as a "positive"
 * while its label list is empty (the reference fixtures record that for the ResNet at 64 and 96
 * px). This returns no point at all, the header's rule; {@link #isDegenerate()} says so, and
 * callers that feed SAM skip such results. Non-finite similarities (from NaN features) make the
 * cells they touch non-finite; those take no part in the min-max and normalise to 0. A NaN
 * threshold is reached by no cell, so it gives no points.
 *
 * <p>Results of {@link #compute} have 2n points: n positives (label 1), then n negatives (label
 * 0), n = min(#cells ≥ t, d² / 2). Every point lies in the image: 0 ≤ x &lt; W, 0 ≤ y &lt; H.
 * Arguments are checked and refused with {@link IllegalArgumentException}; shapes beyond the C
 * API's limits (H or W over 65536, a grid side g of 2898 or more) are refused by the native
 * library with an unchecked exception of an internal type.
 *
 * <p>An instance never changes (its accessors return copies) and may be shared between threads,
 * provided nobody modifies the arrays given to {@link #of}. The static methods keep no state and
 * may run concurrently.
 *
 * <pre>{@code
 * float[] raw = SimilarityMaps.patchSimilarity(similarity, 1, n, t, 0, label);
 * SamPoints p = SamPoints.compute(raw, imageHeight, imageWidth);   // t = 0.8
 * String json = p.toJson();   // {"points": [[x, y], ...], "labels": [1, ..., 0, ...]}
 * }</pre>
 */
public final class SamPoints {
    /** The official default threshold t: 0.8. */
    public static final float DEFAULT_THRESHOLD = 0.8f;
    /** The grid is resized to g / 2 cells per side first (the official default, fixed by the C API). */
    public static final int DOWN_SAMPLE = 2;

    private static final Gson JSON = new Gson();

    private final int[] xs;
    private final int[] ys;
    private final int[] labels;

    private SamPoints(int[] xs, int[] ys, int[] labels) {
        this.xs = xs;
        this.ys = ys;
        this.labels = labels;
    }

    /**
     * Points computed elsewhere by the same contract (the CUDA engine's {@code cs_map_points_cuda}).
     * The coordinates and the order are taken as given, not checked.
     *
     * @param xs x of each point, in pixels; kept, not copied
     * @param ys y of each point, in pixels; kept
     * @param labels 1 for a positive point, 0 for a negative one; kept
     * @return the points, in the given order
     * @throws IllegalArgumentException when the arrays differ in length or a label is not 0 or 1
     * @throws NullPointerException if an array is null
     */
    public static SamPoints of(int[] xs, int[] ys, int[] labels) {
        if (xs.length != ys.length || xs.length != labels.length) {
            throw new IllegalArgumentException(xs.length + " x, " + ys.length + " y and " + labels.length + " labels");
        }
        for (int l : labels) if (l != 0 && l != 1) throw new IllegalArgumentException("SAM label " + l + " is not 0 or 1");
        return new SamPoints(xs, ys, labels);
    }

    /**
     * {@link #compute(float[], int, int, float)} with t = 0.8.
     *
     * @param patchSimilarity g² raw similarities over the patch tokens, row-major, g ≥ 2; only read
     * @param imageHeight H ≥ 1 of the original image (points are in its pixel coordinates)
     * @param imageWidth W ≥ 1 of the original image
     * @return new points, none when n = 0 ({@link #isDegenerate()})
     * @throws IllegalArgumentException if the length is not the square of a side ≥ 2 or the image
     *     size is not positive
     */
    public static SamPoints compute(float[] patchSimilarity, int imageHeight, int imageWidth) {
        return compute(patchSimilarity, imageHeight, imageWidth, DEFAULT_THRESHOLD);
    }

    /**
     * Points for one label.
     *
     * @param patchSimilarity g² raw similarities over the patch tokens, row-major, g ≥ 2; only read
     * @param imageHeight H ≥ 1 of the original image (points are in its pixel coordinates)
     * @param imageWidth W ≥ 1 of the original image
     * @param threshold t, compared in float32 with the normalised cells (in [0, 1]); a cell ≥ t
     *     counts, so t ≤ 0 lets every cell count and a t above 1 or NaN gives no points
     * @return new points: n positives then n negatives, none when n = 0 ({@link #isDegenerate()})
     * @throws IllegalArgumentException if {@code patchSimilarity} is null or empty, its length is not
     *     the square of a side ≥ 2, or the image size is not positive
     */
    public static SamPoints compute(float[] patchSimilarity, int imageHeight, int imageWidth, float threshold) {
        if (patchSimilarity == null || patchSimilarity.length == 0) {
            throw new IllegalArgumentException("patch similarity is empty");
        }
        int side = (int) Math.round(Math.sqrt(patchSimilarity.length));
        if (side * side != patchSimilarity.length) {
            throw new IllegalArgumentException(patchSimilarity.length + " patch similarities do not form a square grid");
        }
        SimilarityMaps.checkImageSize(imageHeight, imageWidth);
        if (side < 2) {
            throw new IllegalArgumentException("a " + side + "×" + side + " grid down-sampled by " + DOWN_SAMPLE
                    + " has no cells");
        }
        // The C API takes a similarity (1, 1 + g², 1): token 0, the class token, is not read.
        float[] column = new float[1 + patchSimilarity.length];
        System.arraycopy(patchSimilarity, 0, column, 1, patchSimilarity.length);
        int d = side / DOWN_SAMPLE;
        int maxPoints = Math.max(1, d * d / 2);
        int[] points = new int[4 * maxPoints];
        int[] counts = new int[1];
        NativeCalls.load();
        NativeCalls.check(ClipSurgeryNative.cs_map_points_cpu(column, 1, column.length, 1, imageHeight, imageWidth,
                threshold, maxPoints, points, counts, null), "cs_map_points_cpu");
        int n = counts[0];
        int[] xs = new int[2 * n];
        int[] ys = new int[2 * n];
        for (int k = 0; k < 2 * n; k++) {
            xs[k] = points[2 * k];
            ys[k] = points[2 * k + 1];
        }
        int[] labels = new int[2 * n];
        Arrays.fill(labels, 0, n, 1);
        return new SamPoints(xs, ys, labels);
    }

    /**
     * Points for a combined target (e.g. {@code person+bench}) from the official demo's rule: each
     * part's raw patch similarity is min-max normalised over the patches, the parts are averaged
     * per patch, and {@link #compute} on that mean gives the negatives (the second half of its
     * points); {@link #compute} on each part's raw similarity gives the positives (the first half
     * of each).
     *
     * <p>Two things differ from the demo, which lists the negatives first and can name one pixel
     * both a positive and a negative:
     * <ul>
     *   <li>order: positives first (each part's in the order given, each part's in
     *       {@link #compute}'s order), then the negatives, as for a single target;</li>
     *   <li>overlap: a point is given once. A positive that an earlier part already gave is
     *       dropped, and so is a negative at a positive's pixel: the target is the union of its
     *       parts, so a part's best cell is kept as a positive even where the mean is low.</li>
     * </ul>
     * When the mean map gives no points (a one-cell grid, no contrast, no cell ≥ t), neither does
     * the combined target ({@link #isDegenerate()}); a part without points contributes no
     * positives (the demo's {@code p[:0]}).
     *
     * <p>The parts are normalised by the C API ({@link SimilarityMaps#normalisedGrid}); the mean is
     * formed here (a sum and one division per patch: the synthetic similarity column the C API
     * then takes like any label's), which keeps the combined rule, a demo convention, out of the
     * C contract.
     *
     * @param parts raw patch similarities of the parts, each g² values (row-major, g ≥ 2) over the
     *     same grid; only read
     * @param imageHeight H ≥ 1 of the original image
     * @param imageWidth W ≥ 1 of the original image
     * @param threshold t, as for {@link #compute(float[], int, int, float)}
     * @return new points: the distinct positives (label 1), then the distinct negatives (label 0);
     *     unlike {@link #compute}'s, the two counts may differ
     * @throws IllegalArgumentException if {@code parts} is null or empty, a part is null, the parts
     *     differ in length, the length is not the square of a side ≥ 2, or the image size is not
     *     positive
     */
    public static SamPoints combined(List<float[]> parts, int imageHeight, int imageWidth, float threshold) {
        if (parts == null || parts.isEmpty()) throw new IllegalArgumentException("a combined target needs parts");
        int patches = parts.get(0).length;
        for (float[] p : parts) {
            if (p == null || p.length != patches) {
                throw new IllegalArgumentException("the parts of a combined target must all have " + patches + " patches");
            }
        }
        int side = (int) Math.round(Math.sqrt(patches));
        if (side * side != patches) {
            throw new IllegalArgumentException(patches + " patch similarities do not form a square grid");
        }
        float[] mean = new float[patches];
        for (float[] p : parts) {
            float[] column = new float[1 + patches];
            System.arraycopy(p, 0, column, 1, patches);
            float[] n = SimilarityMaps.normalisedGrid(column, 1, column.length, 1, 0, 0);
            for (int i = 0; i < patches; i++) mean[i] += n[i];
        }
        for (int i = 0; i < patches; i++) mean[i] /= parts.size();

        SamPoints neg = compute(mean, imageHeight, imageWidth, threshold);
        if (neg.isDegenerate()) return neg;
        // Pixels as x·2³² + y keys; insertion order is the output order.
        java.util.LinkedHashSet<Long> positives = new java.util.LinkedHashSet<>();
        for (float[] part : parts) {
            SamPoints pos = compute(part, imageHeight, imageWidth, threshold);
            if (pos.isDegenerate()) continue;
            int h = pos.size() / 2;
            for (int i = 0; i < h; i++) positives.add(key(pos.xs[i], pos.ys[i]));
        }
        java.util.LinkedHashSet<Long> negatives = new java.util.LinkedHashSet<>();
        for (int i = neg.size() / 2; i < neg.size(); i++) {
            long k = key(neg.xs[i], neg.ys[i]);
            if (!positives.contains(k)) negatives.add(k);
        }
        int count = positives.size() + negatives.size();
        int[] xs = new int[count];
        int[] ys = new int[count];
        int[] labels = new int[count];
        int i = 0;
        for (long k : positives) {
            xs[i] = (int) (k >>> 32);
            ys[i] = (int) k;
            labels[i++] = 1;
        }
        for (long k : negatives) {
            xs[i] = (int) (k >>> 32);
            ys[i] = (int) k;
            labels[i++] = 0;
        }
        return new SamPoints(xs, ys, labels);
    }

    private static long key(int x, int y) {
        return ((long) x << 32) | (y & 0xffffffffL);
    }


    /**
     * The points file of the CLI's {@code --save-tensors} contract: a JSON array with one object per
     * image, mapping each label (in the map's iteration order) to {@code {"points": [[x, y], ...],
     * "labels": [...]}} ({@link #toJson()}). Label names are escaped as JSON strings (by Gson, which
     * also writes HTML characters such as {@code <} and {@code &} as Unicode escapes). The text is indented, one
     * label per line, and ends with a line break.
     *
     * @param perImage one map per image, from label name (not null) to its points (not null)
     * @return the JSON text
     * @throws IllegalArgumentException if {@code perImage} is null
     * @throws NullPointerException if an image's map or a label's points are null
     */
    public static String toJson(List<? extends Map<String, SamPoints>> perImage) {
        if (perImage == null) throw new IllegalArgumentException("no images");
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < perImage.size(); i++) {
            if (i > 0) sb.append(",");
            sb.append("\n  {");
            int k = 0;
            for (Map.Entry<String, SamPoints> e : perImage.get(i).entrySet()) {
                if (k++ > 0) sb.append(",");
                sb.append("\n    ").append(JSON.toJson(e.getKey())).append(": ").append(e.getValue().toJson());
            }
            sb.append(k > 0 ? "\n  }" : "}");
        }
        return sb.append(perImage.isEmpty() ? "]" : "\n]").append('\n').toString();
    }

    /**
     * The number of points, positives and negatives together.
     *
     * @return 2n for {@link #compute}'s results; 0 when degenerate
     */
    public int size() {
        return xs.length;
    }

    /**
     * Point i's x (column) in image pixels.
     *
     * @param i the point index, 0 ≤ i &lt; {@link #size()}
     * @return the x coordinate
     * @throws IndexOutOfBoundsException if i is out of range
     */
    public int x(int i) {
        return xs[i];
    }

    /**
     * Point i's y (row) in image pixels.
     *
     * @param i the point index, 0 ≤ i &lt; {@link #size()}
     * @return the y coordinate
     * @throws IndexOutOfBoundsException if i is out of range
     */
    public int y(int i) {
        return ys[i];
    }

    /**
     * The points as [x, y] pairs, in order (positives first for {@link #compute} and
     * {@link #combined}; as given for {@link #of}).
     *
     * @return a new array of {@link #size()} new two-element arrays
     */
    public int[][] points() {
        int[][] out = new int[xs.length][];
        for (int i = 0; i < xs.length; i++) out[i] = new int[] {xs[i], ys[i]};
        return out;
    }

    /**
     * The points' labels, in the points' order.
     *
     * @return a new array as long as the points: 1 for a positive, 0 for a negative
     */
    public int[] labels() {
        return labels.clone();
    }

    /**
     * Whether there is no point at all: for {@link #compute}, no cell reached the threshold, the
     * map had no contrast, or the grid down-samples to one cell (where the official code returns
     * every cell with no labels); for {@link #combined}, the mean map gave no points.
     *
     * @return true when {@link #size()} is 0
     */
    public boolean isDegenerate() {
        return xs.length == 0;
    }

    /**
     * These points as JSON, the contract of the CLI's points file.
     *
     * @return {@code {"points": [[x, y], ...], "labels": [...]}} on one line
     */
    public String toJson() {
        StringBuilder sb = new StringBuilder("{\"points\": [");
        for (int i = 0; i < xs.length; i++) {
            if (i > 0) sb.append(", ");
            sb.append('[').append(xs[i]).append(", ").append(ys[i]).append(']');
        }
        sb.append("], \"labels\": [");
        for (int i = 0; i < labels.length; i++) {
            if (i > 0) sb.append(", ");
            sb.append(labels[i]);
        }
        return sb.append("]}").toString();
    }

    /**
     * The same text as {@link #toJson()}.
     *
     * @return the points as JSON
     */
    @Override
    public String toString() {
        return toJson();
    }
}

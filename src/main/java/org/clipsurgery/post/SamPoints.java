package org.clipsurgery.post;

import com.google.gson.Gson;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Point prompts for Segment Anything from a similarity, exactly as the official
 * {@code clip.similarity_map_to_points(sm, shape, t=0.8, down_sample=2)} computes them, and the
 * combined-target rule of the official demo.
 *
 * <p>Input: the <em>raw</em> similarity of one label over the g² patch tokens, row-major (what the
 * demo passes: {@code similarity[0][1:, n]}, see {@link SimilarityMaps#patchSimilarity}), and the
 * original image size. Steps (float32 like the reference):
 * <ol>
 *   <li>bilinear resize of the g×g grid to d×d, d = g / downSample (integer division), with
 *       torch's {@code align_corners=False} rule and kernel ({@link Bilinear});</li>
 *   <li>min-max normalisation of the d² cells;</li>
 *   <li>n = min(#cells ≥ t, d² / 2); positives are the n highest cells in ascending order of value
 *       (the highest last), then negatives the n lowest in ascending order (the lowest first);
 *       labels 1 for positives, 0 for negatives;</li>
 *   <li>a cell (row r, column c) becomes the point x = min((c + 0.5)·(W / d), W − 1),
 *       y = min((r + 0.5)·(H / d), H − 1), computed in float32 and truncated to int.</li>
 * </ol>
 * The reference ranks with {@code torch.sort}, which is not stable; this class sorts stably (equal
 * values keep cell order). The two agree whenever the values are distinct, as in the fixtures.
 *
 * <p><b>Degenerate case, kept as in the reference.</b> When n = 0 (a single cell, i.e. d = 1, or a
 * constant grid whose normalisation is NaN) the official code's {@code rank[-0:]} selects
 * <em>every</em> cell as a "positive" while the labels array is empty. The reference fixtures
 * record exactly that (ResNet at 64 and 96 px: one point, no labels), so {@link #compute} returns it
 * unchanged and {@link #isDegenerate()} flags it; callers that feed SAM should skip such results.
 * The official code would crash when a point needs clamping (its {@code min} returns a Python int);
 * here the clamp is applied, as the function intends.
 *
 * <pre>{@code
 * float[] raw = SimilarityMaps.patchSimilarity(similarity, 1, n, t, 0, label);
 * SamPoints p = SamPoints.compute(raw, imageHeight, imageWidth);   // t = 0.8, downSample = 2
 * String json = p.toJson();   // {"points": [[x, y], ...], "labels": [1, ..., 0, ...]}
 * }</pre>
 */
public final class SamPoints {
    /** The official default threshold t. */
    public static final float DEFAULT_THRESHOLD = 0.8f;
    /** The official default down-sampling factor. */
    public static final int DEFAULT_DOWN_SAMPLE = 2;

    private static final Gson JSON = new Gson();

    private final int[] xs;
    private final int[] ys;
    private final int[] labels;

    private SamPoints(int[] xs, int[] ys, int[] labels) {
        this.xs = xs;
        this.ys = ys;
        this.labels = labels;
    }

    /** {@link #compute(float[], int, int, float, int)} with t = 0.8 and downSample = 2. */
    public static SamPoints compute(float[] patchSimilarity, int imageHeight, int imageWidth) {
        return compute(patchSimilarity, imageHeight, imageWidth, DEFAULT_THRESHOLD, DEFAULT_DOWN_SAMPLE);
    }

    /**
     * Points for one label.
     *
     * @param patchSimilarity g² raw similarities over the patch tokens, row-major
     * @param imageHeight H of the original image (points are in its pixel coordinates)
     * @param imageWidth W of the original image
     * @param threshold t, compared in float32 with the normalised cells
     * @param downSample the grid is resized to g / downSample cells per side first
     * @throws IllegalArgumentException if the length is not a square, the image size is not
     *     positive, downSample &lt; 1, or g / downSample is 0
     */
    public static SamPoints compute(float[] patchSimilarity, int imageHeight, int imageWidth, float threshold,
            int downSample) {
        if (patchSimilarity == null || patchSimilarity.length == 0) {
            throw new IllegalArgumentException("patch similarity is empty");
        }
        int side = (int) Math.round(Math.sqrt(patchSimilarity.length));
        if (side * side != patchSimilarity.length) {
            throw new IllegalArgumentException(patchSimilarity.length + " patch similarities do not form a square grid");
        }
        SimilarityMaps.checkImageSize(imageHeight, imageWidth);
        if (downSample < 1) throw new IllegalArgumentException("downSample must be at least 1, got " + downSample);
        int d = side / downSample;
        if (d < 1) {
            throw new IllegalArgumentException("a " + side + "×" + side + " grid down-sampled by " + downSample
                    + " has no cells");
        }
        float[] cells = SimilarityMaps.minMaxInPlace(resize(patchSimilarity, side, d));
        int above = 0;
        for (int i = 0; i < cells.length; i++) {
            if (cells[i] >= threshold) above++;
        }
        int num = Math.min(above, cells.length / 2);
        Integer[] rank = new Integer[cells.length];
        for (int i = 0; i < rank.length; i++) rank[i] = i;
        // Stable ascending sort; NaN last, like torch.sort.
        Arrays.sort(rank, (a, b) -> Float.compare(cells[a], cells[b]));

        // Python's rank[-num:] is the whole array when num == 0 (the reference's degenerate case).
        int posFrom = num == 0 ? 0 : cells.length - num;
        int count = (cells.length - posFrom) + num;
        int[] xs = new int[count];
        int[] ys = new int[count];
        float scaleH = (float) ((double) imageHeight / d);
        float scaleW = (float) ((double) imageWidth / d);
        int k = 0;
        for (int i = posFrom; i < cells.length; i++, k++) {
            xs[k] = coordinate(rank[i] % d, scaleW, imageWidth);
            ys[k] = coordinate(rank[i] / d, scaleH, imageHeight);
        }
        for (int i = 0; i < num; i++, k++) {
            xs[k] = coordinate(rank[i] % d, scaleW, imageWidth);
            ys[k] = coordinate(rank[i] / d, scaleH, imageHeight);
        }
        int[] labels = new int[2 * num];
        Arrays.fill(labels, 0, num, 1);
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
     * When the mean map is degenerate (a one-cell grid or a constant map), the result is that
     * degenerate result, {@link #isDegenerate()}: its cells as points and no labels, the points the
     * demo's code would give. A degenerate part contributes no positives (the demo's {@code p[:0]}).
     * A single target is never affected: {@link #compute} is the official function.
     *
     * @param parts raw patch similarities of the parts, each g² values over the same grid
     */
    public static SamPoints combined(List<float[]> parts, int imageHeight, int imageWidth, float threshold,
            int downSample) {
        if (parts == null || parts.isEmpty()) throw new IllegalArgumentException("a combined target needs parts");
        int patches = parts.get(0).length;
        for (float[] p : parts) {
            if (p == null || p.length != patches) {
                throw new IllegalArgumentException("the parts of a combined target must all have " + patches + " patches");
            }
        }
        float[] mean = new float[patches];
        for (float[] p : parts) {
            float[] n = SimilarityMaps.minMaxInPlace(p.clone());
            for (int i = 0; i < patches; i++) mean[i] += n[i];
        }
        for (int i = 0; i < patches; i++) mean[i] /= parts.size();

        SamPoints neg = compute(mean, imageHeight, imageWidth, threshold, downSample);
        if (neg.isDegenerate()) return neg;
        // Pixels as x·2³² + y keys; insertion order is the output order.
        java.util.LinkedHashSet<Long> positives = new java.util.LinkedHashSet<>();
        for (float[] part : parts) {
            SamPoints pos = compute(part, imageHeight, imageWidth, threshold, downSample);
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
     * Points for one image and label of a full similarity (B, N, T), with the official defaults:
     * {@code compute(SimilarityMaps.patchSimilarity(...), imageHeight, imageWidth)}.
     */
    public static SamPoints forLabel(float[] similarity, int batch, int tokens, int labels, int image, int label,
            int imageHeight, int imageWidth) {
        return compute(SimilarityMaps.patchSimilarity(similarity, batch, tokens, labels, image, label),
                imageHeight, imageWidth);
    }

    /**
     * The points file of the CLI's {@code --save-tensors} contract: a JSON array with one object per
     * image, mapping each label (in the map's order) to {@code {"points": [[x, y], ...], "labels":
     * [...]}}. Label names are escaped as JSON strings.
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

    /** Number of points. */
    public int size() {
        return xs.length;
    }

    /** Point i's x (column) in image pixels. */
    public int x(int i) {
        return xs[i];
    }

    /** Point i's y (row) in image pixels. */
    public int y(int i) {
        return ys[i];
    }

    /** Points as [x, y] pairs, positives first (a copy). */
    public int[][] points() {
        int[][] out = new int[xs.length][];
        for (int i = 0; i < xs.length; i++) out[i] = new int[] {xs[i], ys[i]};
        return out;
    }

    /** Labels, 1 = positive, 0 = negative (a copy); as long as the points unless degenerate. */
    public int[] labels() {
        return labels.clone();
    }

    /** True when the reference's degenerate case happened: the label count differs from the point count. */
    public boolean isDegenerate() {
        return labels.length != xs.length;
    }

    /** {@code {"points": [[x, y], ...], "labels": [...]}}, the contract of the CLI's points JSON. */
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

    @Override
    public String toString() {
        return toJson();
    }

    /** (index + 0.5)·scale in float32, clamped to size − 1, truncated like Python's int(). */
    private static int coordinate(int index, float scale, int size) {
        float v = ((float) index + 0.5f) * scale;
        float last = size - 1;
        if (v > last) v = last;
        return (int) v;
    }

    /** The reference's interpolate(sm.reshape(1, 1, g, g), (d, d), mode='bilinear'). */
    private static float[] resize(float[] grid, int g, int d) {
        Bilinear.Axis a = Bilinear.axis(g, d);
        float[] out = new float[d * d];
        for (int y = 0; y < d; y++) {
            int r0 = a.i0[y] * g;
            int r1 = a.i1[y] * g;
            for (int x = 0; x < d; x++) {
                float v00 = grid[r0 + a.i0[x]];
                float v01 = grid[r0 + a.i1[x]];
                float v10 = grid[r1 + a.i0[x]];
                float v11 = grid[r1 + a.i1[x]];
                out[y * d + x] = Bilinear.interpolate(v00, v01, v10, v11, a.l0[y], a.l1[y], a.l0[x], a.l1[x]);
            }
        }
        return out;
    }
}

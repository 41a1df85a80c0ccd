package org.clipsurgery;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.clipsurgery.engine.Output;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.post.SimilarityMaps;

/**
 * What CLIP Surgery found in one image for a {@link LabelSet}: the similarity of every image
 * token with every label (after feature surgery), and what follows from it — maps at the image's
 * size, multi-label scores, a per-pixel label map and point prompts for Segment Anything.
 *
 * <p>Shapes: N = 1 + g² tokens (token 0 the class token, then the g×g patch grid row-major, see
 * {@link #grid()}), T = {@code labelSet().labels().size()} labels, E = {@link #embedDim()},
 * R = {@link #resolution()}, H×W = {@link #height()}×{@link #width()}, the size of the image as
 * given (not R). Arrays are row-major; every {@code float[]} returned is a new array the caller
 * owns, except the shared {@link #maps()}.
 *
 * <p>Where the outputs come from:
 * <ul>
 *   <li>{@link #similarity()}, {@link #scores()} and {@link #map(String)} are always computed on
 *       the host from the similarity held here, on both devices, even after the model is closed.</li>
 *   <li>{@link Device#CPU}: the explanation also holds the image features and the preprocessed
 *       image; maps, label map and points are computed from the similarity when asked for.</li>
 *   <li>{@link Device#CUDA}: maps, label map, points, image features and the preprocessed image
 *       were computed on the GPU and are downloaded when read, as long as the GPU still holds
 *       this run (see {@link ClipSurgery}: until the same captured graph runs again, is evicted,
 *       or the model is closed). After that, maps, label map and points are computed on the CPU
 *       from the similarity by the same rules, and {@link #imageFeatures()} and
 *       {@link #preprocessedImage()} throw IllegalStateException.</li>
 * </ul>
 * Safe to share between threads (device reads take the model's lock).
 */
public final class Explanation {
    private final LabelSet labels;
    private final Output out;
    private final int resolution, embedDim;

    Explanation(LabelSet labels, Output out, int resolution, int embedDim) {
        this.labels = labels;
        this.out = out;
        this.resolution = resolution;
        this.embedDim = embedDim;
    }

    /**
     * The width of the explained image.
     *
     * @return W in pixels: the width of the maps and label map, the x range of the points
     */
    public int width() {
        return out.width();
    }

    /**
     * The height of the explained image.
     *
     * @return H in pixels: the height of the maps and label map, the y range of the points
     */
    public int height() {
        return out.height();
    }

    /**
     * The labels this image was explained for.
     *
     * @return the label set of the explain call; its {@link LabelSet#labels()} are the columns of
     *     {@link #similarity()}
     */
    public LabelSet labelSet() {
        return labels;
    }

    /**
     * Side of the patch-token grid: the resolution divided by the patch size (ViT) or by 32
     * (ResNet), e.g. 14 for ViT-B/16 at 224 px.
     *
     * @return g, with N = 1 + g² tokens
     */
    public int grid() {
        return SimilarityMaps.gridSide(out.tokens());
    }

    /**
     * The feature-surgery similarity of every token with every label (see {@link Redundancy} for
     * the formula); for {@link ClipSurgery#explainPlain} the plain cosine similarity instead.
     * Not normalised: maps and label maps min-max normalise it per label. Always on the host.
     *
     * @return a copy, (N, T) row-major over {@link LabelSet#labels()}: row 0 the class token (the
     *     {@link #scores()}), rows 1 … g² the patch tokens row-major over the g×g grid
     */
    public float[] similarity() {
        return out.similarity().clone();
    }

    /**
     * The surgery image encoder's output tokens, projected into the joint embedding space and not
     * normalised (the plain model's for {@link ClipSurgery#explainPlain}). On CPU, and for
     * explainPlain on either device, held here. On CUDA: downloaded from the GPU at every call,
     * possible only while the GPU holds this run (see the class comment).
     *
     * @return a copy, (N, E) row-major, row 0 the class token
     * @throws IllegalStateException on CUDA once the GPU no longer holds this run (the same graph
     *     ran again, was evicted, or the model was closed)
     */
    public float[] imageFeatures() {
        return out.imageFeatures().clone();
    }

    /**
     * The preprocessed input the model saw: the image resized to R×R (bicubic, aspect ratio not
     * kept, no crop), scaled to [0, 1] and normalised with CLIP's per-channel mean and standard
     * deviation. Held and fetched as {@link #imageFeatures()}.
     *
     * @return a copy, (3, R, R) row-major: the R, G and B planes
     * @throws IllegalStateException on CUDA once the GPU no longer holds this run
     */
    public float[] preprocessedImage() {
        return out.pixels().clone();
    }

    /**
     * The input side the image was resized to: the model's {@link ClipSurgery#resolution()}.
     *
     * @return R in pixels
     */
    public int resolution() {
        return resolution;
    }

    /**
     * The width of the model's joint embedding space.
     *
     * @return E, the length of one token's feature in {@link #imageFeatures()}
     */
    public int embedDim() {
        return embedDim;
    }

    /**
     * The map of a target at the image's size, as the official {@code get_similarity_map}: the
     * label's similarity over the g² patch tokens min-max normalised, then bilinear upsampling
     * ({@code align_corners=False}) to H×W. A label whose patch similarities are all equal maps
     * to 0 everywhere. A combined target averages its parts' normalised g×g grids, then
     * normalises and upsamples that mean the same way. Computed on the host from the similarity
     * at every call (also on CUDA); for a single label equal to its column of {@link #maps()}.
     *
     * @param target a label of {@link LabelSet#labels()}, or labels of it joined with {@code +}
     *     ({@code "person+bench"}, spaces around parts ignored); need not be one of the targets
     * @return a new (H, W) row-major array, values in [0, 1]
     * @throws IllegalArgumentException if a part is not a label of the set
     * @throws NullPointerException if {@code target} is null
     */
    public float[] map(String target) {
        int[] cols = columnsOf(target);
        int tokens = out.tokens();
        if (cols.length == 1) {
            return SimilarityMaps.mapOf(out.similarity(), 1, tokens, labels.labels().size(), 0, cols[0], height(), width());
        }
        int g2 = tokens - 1;
        float[] mean = new float[tokens];
        for (int c : cols) {
            float[] grid = SimilarityMaps.normalisedGrid(out.similarity(), 1, tokens, labels.labels().size(), 0, c);
            for (int i = 0; i < g2; i++) mean[1 + i] += grid[i] / cols.length;
        }
        return SimilarityMaps.mapOf(mean, 1, tokens, 1, 0, 0, height(), width());
    }

    /**
     * All single labels' maps, each made as {@link #map(String)} makes a label's: (1, H, W, T) as
     * the official {@code get_similarity_map} returns them ({@code maps().map(0, l)} is label l's
     * (H, W) map). Made on first use and kept: on CPU, and on CUDA once the GPU no longer holds
     * this run, computed from the similarity; on CUDA before that, one download of the maps the
     * GPU made. Takes 4·H·W·T bytes.
     *
     * @return the maps, shared by all callers: read them, do not modify
     *     {@link SimilarityMaps#values()}
     * @throws IllegalArgumentException on the host path if H·W·T values do not fit one Java array
     */
    public SimilarityMaps maps() {
        return out.maps();
    }

    /**
     * Multi-label scores: the class token's feature-surgery similarity per target (a combined
     * target: the mean of its parts), row 0 of {@link #similarity()}. Higher means more present;
     * comparable across labels of one set and image. Not probabilities and not bounded to a fixed
     * range (cosines for {@link ClipSurgery#explainPlain}). Always on the host.
     *
     * @return a new, modifiable map from each of {@link LabelSet#targets()} to its score, in the
     *     targets' order (a target given twice appears once)
     */
    public Map<String, Float> scores() {
        Map<String, Float> scores = new LinkedHashMap<>();
        float[] classToken = out.similarity(); // token 0's row: the first T values
        for (String target : labels.targets()) {
            float s = 0;
            int[] cols = columnsOf(target);
            for (int c : cols) s += classToken[c] / cols.length;
            scores.put(target, s);
        }
        return scores;
    }

    /**
     * Per-pixel label index into {@link LabelSet#labels()}: the argmax over labels of
     * {@link #maps()} (ties to the lowest index); pixels whose best map value is below
     * {@code threshold} get {@link LabelMap#BACKGROUND}. As the maps are normalised per label, a
     * threshold in [0, 1] means "at least this fraction of the label's own range". A new label map
     * at every call: on CUDA while the GPU holds this run, a download (at the threshold the graph
     * was captured with, 0.5, or one more kernel launch at another); otherwise computed from
     * the maps on the host.
     *
     * @param threshold the least best-map value of a labelled pixel;
     *     {@link Float#NEGATIVE_INFINITY} (or 0) for no background
     * @return the label map, batch 1, H×W
     * @throws IllegalArgumentException for a NaN threshold
     */
    public LabelMap labelMap(float threshold) {
        if (Float.isNaN(threshold)) throw new IllegalArgumentException("the label-map threshold is NaN");
        return out.labelMap(threshold);
    }

    /**
     * Point prompts for Segment Anything at the official threshold 0.8: {@code points(target,
     * 0.8f)}.
     *
     * @param target a label of the set, or labels of it joined with {@code +}, as for
     *     {@link #map(String)}
     * @return the points, in image pixels
     * @throws IllegalArgumentException as {@link #points(String, float)}
     */
    public SamPoints points(String target) {
        return points(target, 0.8f);
    }

    /**
     * Point prompts for Segment Anything, as the official {@code similarity_map_to_points}: the
     * label's raw g×g patch similarity resized to (g/2)×(g/2) cells, min-max normalised; the n
     * highest cells are positive points (label 1), the n lowest negative ones (label 0), with
     * n = min(cells ≥ threshold, cells / 2), at the cells' centres in image pixels. No points
     * at all ({@link SamPoints#isDegenerate()}) when no cell reaches the threshold or the cells
     * have no contrast. A combined target uses the official demo's rule (the mean of its parts'
     * normalised grids), computed on the host. A single label on CUDA, while the GPU holds this
     * run and the result has points, is downloaded (one more kernel launch for a threshold other
     * than 0.8); otherwise it is computed on the host by the same rules.
     *
     * @param target a label of the set, or labels of it joined with {@code +}, as for
     *     {@link #map(String)}
     * @param threshold compared with the normalised cells, in [0, 1]
     * @return the points: positives first, then as many negatives; x the column, y the row
     * @throws IllegalArgumentException if a part is not a label of the set, for a NaN threshold,
     *     or on the host path if the patch grid is smaller than 2×2
     * @throws NullPointerException if {@code target} is null
     */
    public SamPoints points(String target, float threshold) {
        if (Float.isNaN(threshold)) throw new IllegalArgumentException("the points threshold is NaN");
        int[] cols = columnsOf(target);
        int t = labels.labels().size();
        if (cols.length == 1) return out.points(cols[0], threshold);
        // combined targets: the demo's rule over the parts' similarities, on the host
        List<float[]> parts = new ArrayList<>();
        for (int c : cols) parts.add(SimilarityMaps.patchSimilarity(out.similarity(), 1, out.tokens(), t, 0, c));
        return SamPoints.combined(parts, height(), width(), threshold);
    }

    private int[] columnsOf(String target) {
        int[] cols = labels.columns(target);
        for (int c : cols) {
            if (c < 0) throw new IllegalArgumentException("'" + target + "' is not a label of " + labels + " or labels of it joined with '+'");
        }
        return cols;
    }
}

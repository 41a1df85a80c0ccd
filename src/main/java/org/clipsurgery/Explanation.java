package org.clipsurgery;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.post.SimilarityMaps;

/**
 * What CLIP Surgery found in one image for a {@link LabelSet}: the similarity of every image
 * token with every label (after feature surgery), and what follows from it — maps at the image's
 * size, multi-label scores, a per-pixel label map and point prompts for Segment Anything.
 * Maps are computed when asked for. Immutable.
 */
public final class Explanation {
    private final int width, height;
    private final LabelSet labels;
    private final float[] similarity; // (N, T): token 0 is the class token
    private final float[] imageFeatures; // (N, E), not normalised
    private final float[] pixels; // (3, R, R), the preprocessed input
    private final int resolution, embedDim, tokens;
    private volatile SimilarityMaps maps; // made by maps() on first use

    Explanation(int width, int height, LabelSet labels, float[] similarity, float[] imageFeatures, float[] pixels,
            int resolution, int embedDim) {
        this.width = width;
        this.height = height;
        this.labels = labels;
        this.similarity = similarity;
        this.imageFeatures = imageFeatures;
        this.pixels = pixels;
        this.resolution = resolution;
        this.embedDim = embedDim;
        this.tokens = similarity.length / labels.labels().size();
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    public LabelSet labelSet() {
        return labels;
    }

    /** Side of the token grid (N = 1 + grid²). */
    public int grid() {
        return SimilarityMaps.gridSide(tokens);
    }

    /** Feature-surgery similarity (N, T) over {@link LabelSet#labels()}, token 0 the class token; a copy. */
    public float[] similarity() {
        return similarity.clone();
    }

    /** The surgery image encoder's output tokens (N, E), not normalised; a copy. */
    public float[] imageFeatures() {
        return imageFeatures.clone();
    }

    /** The preprocessed input (3, R, R) the model saw; a copy. */
    public float[] preprocessedImage() {
        return pixels.clone();
    }

    public int resolution() {
        return resolution;
    }

    public int embedDim() {
        return embedDim;
    }

    /**
     * The map of a target at the image's size (H×W, row-major, values in [0, 1]): min-max over
     * the patch tokens, bilinear upsampling. A combined target averages its parts' normalised
     * grids first.
     */
    public float[] map(String target) {
        int[] cols = columnsOf(target);
        if (cols.length == 1) {
            return SimilarityMaps.mapOf(similarity, 1, tokens, labels.labels().size(), 0, cols[0], height, width);
        }
        int g2 = tokens - 1;
        float[] mean = new float[tokens];
        for (int c : cols) {
            float[] grid = SimilarityMaps.normalisedGrid(similarity, 1, tokens, labels.labels().size(), 0, c);
            for (int i = 0; i < g2; i++) mean[1 + i] += grid[i] / cols.length;
        }
        return SimilarityMaps.mapOf(mean, 1, tokens, 1, 0, 0, height, width);
    }

    /**
     * All single labels' maps, (H, W, T) as the official {@code get_similarity_map} returns them;
     * computed on first use and kept (the label map is derived from them too). The result is
     * shared: read it, do not modify {@link SimilarityMaps#values()}.
     */
    public SimilarityMaps maps() {
        SimilarityMaps m = maps;
        if (m == null) maps = m = SimilarityMaps.compute(similarity, 1, tokens, labels.labels().size(), height, width);
        return m;
    }

    /**
     * Multi-label scores: the class token's feature-surgery similarity per target (a combined
     * target: the mean of its parts). Higher means more present; comparable across labels of
     * one set and image.
     */
    public Map<String, Float> scores() {
        Map<String, Float> out = new LinkedHashMap<>();
        for (String target : labels.targets()) {
            float s = 0;
            int[] cols = columnsOf(target);
            for (int c : cols) s += similarity[c] / cols.length;
            out.put(target, s);
        }
        return out;
    }

    /**
     * Per-pixel label index into {@link LabelSet#labels()} (argmax of the maps); pixels whose
     * best map value is below {@code threshold} get {@link LabelMap#BACKGROUND}.
     */
    public LabelMap labelMap(float threshold) {
        return LabelMap.of(maps(), threshold);
    }

    /** Point prompts for Segment Anything (threshold 0.8, as the official demo). */
    public SamPoints points(String target) {
        return points(target, 0.8f);
    }

    public SamPoints points(String target, float threshold) {
        int[] cols = columnsOf(target);
        int t = labels.labels().size();
        if (cols.length == 1) {
            return SamPoints.compute(SimilarityMaps.patchSimilarity(similarity, 1, tokens, t, 0, cols[0]), height, width,
                    threshold, 2);
        }
        List<float[]> parts = new ArrayList<>();
        for (int c : cols) parts.add(SimilarityMaps.patchSimilarity(similarity, 1, tokens, t, 0, c));
        return SamPoints.combined(parts, height, width, threshold, 2);
    }

    private int[] columnsOf(String target) {
        int[] cols = labels.columns(target);
        for (int c : cols) {
            if (c < 0) throw new IllegalArgumentException("'" + target + "' is not a target of " + labels);
        }
        return cols;
    }
}

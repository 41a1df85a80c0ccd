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
 * The similarity (and so the scores) is held here; maps, label map, points, features and the
 * preprocessed image come from the model's engine when asked for (on CUDA from the GPU, see
 * {@link ClipSurgery}). Safe to share between threads.
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

    public int width() {
        return out.width();
    }

    public int height() {
        return out.height();
    }

    public LabelSet labelSet() {
        return labels;
    }

    /** Side of the token grid (N = 1 + grid²). */
    public int grid() {
        return SimilarityMaps.gridSide(out.tokens());
    }

    /** Feature-surgery similarity (N, T) over {@link LabelSet#labels()}, token 0 the class token; a copy. */
    public float[] similarity() {
        return out.similarity().clone();
    }

    /**
     * The surgery image encoder's output tokens (N, E), not normalised; a copy. On CUDA: from the
     * GPU, only until the model explains another image of the same shape (then it throws
     * IllegalStateException).
     */
    public float[] imageFeatures() {
        return out.imageFeatures().clone();
    }

    /** The preprocessed input (3, R, R) the model saw; a copy. On CUDA: as {@link #imageFeatures()}. */
    public float[] preprocessedImage() {
        return out.pixels().clone();
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
     * All single labels' maps, (H, W, T) as the official {@code get_similarity_map} returns them;
     * made on first use and kept (on CUDA: one download of the maps the GPU made). The result is
     * shared: read it, do not modify {@link SimilarityMaps#values()}.
     */
    public SimilarityMaps maps() {
        return out.maps();
    }

    /**
     * Multi-label scores: the class token's feature-surgery similarity per target (a combined
     * target: the mean of its parts). Higher means more present; comparable across labels of
     * one set and image.
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
     * Per-pixel label index into {@link LabelSet#labels()} (argmax of the maps); pixels whose
     * best map value is below {@code threshold} get {@link LabelMap#BACKGROUND}.
     */
    public LabelMap labelMap(float threshold) {
        return out.labelMap(threshold);
    }

    /** Point prompts for Segment Anything (threshold 0.8, as the official demo). */
    public SamPoints points(String target) {
        return points(target, 0.8f);
    }

    public SamPoints points(String target, float threshold) {
        int[] cols = columnsOf(target);
        int t = labels.labels().size();
        if (cols.length == 1) return out.points(cols[0], threshold);
        // combined targets: the demo's rule over the parts' similarities, on the host
        List<float[]> parts = new ArrayList<>();
        for (int c : cols) parts.add(SimilarityMaps.patchSimilarity(out.similarity(), 1, out.tokens(), t, 0, c));
        return SamPoints.combined(parts, height(), width(), threshold, SamPoints.DEFAULT_DOWN_SAMPLE);
    }

    private int[] columnsOf(String target) {
        int[] cols = labels.columns(target);
        for (int c : cols) {
            if (c < 0) throw new IllegalArgumentException("'" + target + "' is not a target of " + labels);
        }
        return cols;
    }
}

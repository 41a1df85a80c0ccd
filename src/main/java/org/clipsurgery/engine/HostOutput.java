package org.clipsurgery.engine;

import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.post.SimilarityMaps;

/**
 * An {@link Output} held on the host: maps, label map and points are computed from the
 * similarity by the C API's CPU entry points (the contract the CUDA kernels follow), maps once. The CPU
 * engine's outputs, and what a CUDA output falls back to once its device buffers are gone.
 */
public class HostOutput implements Output {
    private final int height, width, tokens, labels;
    private final float[] similarity, features, pixels;
    private volatile SimilarityMaps maps;

    /**
     * @param similarity (N, T)
     * @param features (N, E), or null where the engine has them elsewhere ({@link #imageFeatures} overridden)
     * @param pixels (3, R, R), or null likewise
     */
    public HostOutput(int height, int width, float[] similarity, int labels, float[] features, float[] pixels) {
        this.height = height;
        this.width = width;
        this.similarity = similarity;
        this.labels = labels;
        this.tokens = similarity.length / labels;
        this.features = features;
        this.pixels = pixels;
    }

    @Override
    public int height() {
        return height;
    }

    @Override
    public int width() {
        return width;
    }

    @Override
    public int tokens() {
        return tokens;
    }

    @Override
    public int labels() {
        return labels;
    }

    @Override
    public float[] similarity() {
        return similarity;
    }

    @Override
    public float[] imageFeatures() {
        if (features == null) throw new IllegalStateException("this output holds no image features");
        return features;
    }

    @Override
    public float[] pixels() {
        if (pixels == null) throw new IllegalStateException("this output holds no preprocessed image");
        return pixels;
    }

    @Override
    public SimilarityMaps maps() {
        SimilarityMaps m = maps;
        if (m == null) maps = m = SimilarityMaps.compute(similarity, 1, tokens, labels, height, width);
        return m;
    }

    @Override
    public LabelMap labelMap(float threshold) {
        return LabelMap.compute(similarity, 1, tokens, labels, height, width, threshold);
    }

    @Override
    public SamPoints points(int label, float threshold) {
        return SamPoints.compute(SimilarityMaps.patchSimilarity(similarity, 1, tokens, labels, 0, label), height, width, threshold);
    }
}

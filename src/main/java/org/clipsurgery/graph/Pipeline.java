package org.clipsurgery.graph;

import org.clipsurgery.weights.ModelConfig;

/**
 * Host-facing steps of CLIP Surgery over one backend: each call opens a scope on the backend,
 * runs the graph, copies the result to the host and releases every intermediate.
 */
public final class Pipeline<T> implements AutoCloseable {
    private final Ops<T> ops;
    private final ClipGraph<T> graph;
    private final AutoCloseable owner;

    /** {@code owner} is closed with the pipeline (the backend's resources); may be null. */
    public Pipeline(Ops<T> ops, ClipGraph<T> graph, AutoCloseable owner) {
        this.ops = ops;
        this.graph = graph;
        this.owner = owner;
    }

    public ModelConfig config() {
        return graph.config();
    }

    /** Image tokens (B, N, E) of pixels (B, 3, R, R); depth 0 = the plain model. */
    public float[] imageFeatures(float[] pixels, int batch, int resolution, int surgeryDepth) {
        try (Ops.Scope<T> s = ops.scope()) {
            T x = ops.input(pixels, batch, 3, resolution, resolution);
            return ops.toHost(graph.encodeImage(x, surgeryDepth));
        }
    }

    /** Projected end-token features (rows, E) of token rows, unnormalised. */
    public float[] textFeatures(int[][] tokens) {
        try (Ops.Scope<T> s = ops.scope()) {
            return ops.toHost(graph.encodeText(tokens));
        }
    }

    /**
     * Feature surgery of image tokens (B, N, E) against normalised text (T, E): label-set mode
     * when {@code redundant} is null, else with that (E) redundant feature. Returns (B, N, T).
     */
    public float[] similarity(float[] image, int batch, int tokens, float[] text, int labels, float[] redundant) {
        int e = config().embedDim();
        try (Ops.Scope<T> s = ops.scope()) {
            T x = ops.input(image, batch, tokens, e);
            T t = ops.input(text, labels, e);
            T r = redundant == null ? null : ops.input(redundant, e);
            return ops.toHost(ops.featureSurgery(x, t, r));
        }
    }

    @Override
    public void close() throws Exception {
        if (owner != null) owner.close();
    }
}

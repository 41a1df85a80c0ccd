package org.clipsurgery.graph;

import java.util.ArrayList;
import java.util.List;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.ClipTokenizer;
import org.clipsurgery.text.PromptTemplates;
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
            float[] out = ops.toHost(graph.encodeImage(x, surgeryDepth));
            graph.stages().lap(Stages.PROJECTION); // the copy to the host
            return out;
        }
    }

    /** Projected end-token features (rows, E) of token rows, unnormalised. */
    public float[] textFeatures(int[][] tokens) {
        try (Ops.Scope<T> s = ops.scope()) {
            float[] out = ops.toHost(graph.encodeText(tokens));
            graph.stages().lap(Stages.TEXT); // only inside a profiled run (Redundancy.EMPTY's prompt)
            return out;
        }
    }

    /**
     * Prompt ensemble as the official code computes it: every label in every template, each
     * embedding L2-normalised, averaged per label, normalised again. The prompts go through the
     * text encoder {@code chunk} at a time. Returns (labels, E).
     */
    public float[] promptEnsemble(ClipTokenizer tokenizer, List<String> labels, List<String> templates, int chunk,
            Progress progress) {
        if (labels.isEmpty() || templates.isEmpty()) throw new IllegalArgumentException("no labels or no templates");
        int e = config().embedDim(), nt = templates.size();
        List<String> prompts = new ArrayList<>(labels.size() * nt);
        for (String label : labels) for (String t : templates) prompts.add(PromptTemplates.apply(t, label));
        double[] sums = new double[labels.size() * e];
        // One chunk is quick: a bar only when there are several.
        try (Progress.Task task = (prompts.size() > chunk ? progress : Progress.none())
                .start("labels", prompts.size(), Progress.Unit.ITEMS)) {
            for (int start = 0; start < prompts.size(); start += chunk) {
                List<String> part = prompts.subList(start, Math.min(prompts.size(), start + chunk));
                float[] f = textFeatures(tokenizer.tokenize(part, false));
                for (int r = 0; r < part.size(); r++) {
                    int label = (start + r) / nt;
                    double norm = 0;
                    for (int k = 0; k < e; k++) norm += (double) f[r * e + k] * f[r * e + k];
                    float inv = (float) (1 / Math.sqrt(norm));
                    for (int k = 0; k < e; k++) sums[label * e + k] += f[r * e + k] * inv;
                }
                task.advance(part.size());
            }
        }
        float[] out = new float[labels.size() * e];
        for (int l = 0; l < labels.size(); l++) {
            double norm = 0;
            for (int k = 0; k < e; k++) norm += sums[l * e + k] / nt * (sums[l * e + k] / nt);
            for (int k = 0; k < e; k++) out[l * e + k] = (float) (sums[l * e + k] / nt / Math.sqrt(norm));
        }
        return out;
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
            T sim = ops.featureSurgery(x, t, r);
            Stages stages = graph.stages();
            if (stages.enabled()) stages.lap(Stages.FEATURE_SURGERY, 2L * batch * tokens * labels * e);
            return ops.toHost(sim); // the copy to the host is part of the "similarity" stage
        }
    }

    @Override
    public void close() throws Exception {
        if (owner != null) owner.close();
    }
}

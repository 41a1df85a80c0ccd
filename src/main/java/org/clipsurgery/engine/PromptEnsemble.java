package org.clipsurgery.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.ClipTokenizer;
import org.clipsurgery.text.PromptTemplates;

/** The prompt ensemble of both engines, over their text encoder. */
public final class PromptEnsemble {
    private PromptEnsemble() {}

    /**
     * As the official code computes it: every label in every template, each embedding
     * L2-normalised, averaged per label, normalised again. The prompts go through
     * {@code encode} (token rows → (rows, E) projected end-token features) {@code chunk} at a
     * time. Returns (labels, E).
     */
    public static float[] compute(Function<int[][], float[]> encode, int embedDim, ClipTokenizer tokenizer, List<String> labels,
            List<String> templates, int chunk, Progress progress) {
        if (labels.isEmpty() || templates.isEmpty()) throw new IllegalArgumentException("no labels or no templates");
        int e = embedDim, nt = templates.size();
        List<String> prompts = new ArrayList<>(labels.size() * nt);
        for (String label : labels) for (String t : templates) prompts.add(PromptTemplates.apply(t, label));
        double[] sums = new double[labels.size() * e];
        // One chunk is quick: a bar only when there are several.
        try (Progress.Task task = (prompts.size() > chunk ? progress : Progress.none())
                .start("labels", prompts.size(), Progress.Unit.ITEMS)) {
            for (int start = 0; start < prompts.size(); start += chunk) {
                List<String> part = prompts.subList(start, Math.min(prompts.size(), start + chunk));
                float[] f = encode.apply(tokenizer.tokenize(part, false));
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
}

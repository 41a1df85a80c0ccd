package org.clipsurgery;

import java.util.List;

/**
 * Labels with their prompt-ensembled text embeddings, made by {@link ClipSurgery#labels} and
 * reused across images (the text encoder is the expensive part). A target may combine labels
 * with {@code +} ({@code "person+bench"}): its components join the label set, and its map and
 * points come from theirs. Immutable and thread-safe; valid only with the model that made it.
 */
public final class LabelSet {
    private final Object owner;
    private final List<String> targets;
    private final List<String> labels;
    private final float[] textFeatures;
    private final int embedDim;

    LabelSet(Object owner, List<String> targets, List<String> labels, float[] textFeatures, int embedDim) {
        this.owner = owner;
        this.targets = List.copyOf(targets);
        this.labels = List.copyOf(labels);
        this.textFeatures = textFeatures;
        this.embedDim = embedDim;
    }

    /** The targets as given, combined ones included ("person+bench"). */
    public List<String> targets() {
        return targets;
    }

    /** The distinct single labels embedded, in first-seen order (the columns of similarities). */
    public List<String> labels() {
        return labels;
    }

    /** Normalised prompt-ensemble embeddings (labels × embedDim), a copy. */
    public float[] textFeatures() {
        return textFeatures.clone();
    }

    public int embedDim() {
        return embedDim;
    }

    float[] features() {
        return textFeatures;
    }

    boolean ownedBy(Object model) {
        return owner == model;
    }

    /** The columns (indices into {@link #labels()}) that make up a target. */
    int[] columns(String target) {
        String[] parts = target.split("\\+");
        int[] cols = new int[parts.length];
        for (int i = 0; i < parts.length; i++) cols[i] = labels.indexOf(parts[i].trim());
        return cols;
    }

    @Override
    public String toString() {
        return "LabelSet" + targets;
    }
}

package org.clipsurgery;

import java.util.List;

/**
 * Labels with their prompt-ensembled text embeddings, made by {@link ClipSurgery#labels} and
 * reused across images (the text encoder is the expensive part). A target may combine labels
 * with {@code +} ({@code "person+bench"}): its components join the label set, and its map,
 * score and points come from theirs. Immutable and thread-safe; valid only with the model that
 * made it (another model's explain calls refuse it with an IllegalArgumentException, and it is
 * of no use once that model is closed).
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

    /**
     * The targets as given, in order, combined ones included ("person+bench"), each part trimmed
     * of surrounding white space; duplicates are kept.
     *
     * @return an unmodifiable list of at least one target; the keys of
     *     {@link Explanation#scores()}
     */
    public List<String> targets() {
        return targets;
    }

    /**
     * The distinct single labels embedded, in first-seen order over the targets and their parts:
     * label {@code l} is column {@code l} of {@link Explanation#similarity()}, label map index
     * {@code l} and row {@code l} of {@link #textFeatures()}.
     *
     * @return an unmodifiable list of T ≥ 1 labels
     */
    public List<String> labels() {
        return labels;
    }

    /**
     * The prompt-ensemble embeddings: for each label, every template's prompt embedded and
     * L2-normalised, averaged, and L2-normalised again. Save them to skip the text encoder next
     * time ({@link ClipSurgery#labels(List, float[])}).
     *
     * @return a copy, (T, E) row-major: T = {@code labels().size()} rows of E = {@link #embedDim()}
     *     floats, each row of unit L2 norm
     */
    public float[] textFeatures() {
        return textFeatures.clone();
    }

    /**
     * The width of the joint embedding space of the model that made this set.
     *
     * @return E, the length of one label's text feature (512 for ViT-B/16, for example)
     */
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

    /**
     * A short description for messages.
     *
     * @return {@code "LabelSet"} followed by the targets, e.g. {@code LabelSet[person, sky]}
     */
    @Override
    public String toString() {
        return "LabelSet" + targets;
    }
}

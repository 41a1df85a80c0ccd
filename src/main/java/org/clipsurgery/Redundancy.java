package org.clipsurgery;

/**
 * What feature surgery subtracts as redundant features (CLIP Surgery §3.3). Image tokens x are
 * L2-normalised, text features t are the label set's; the similarity of token i and label l is
 * <ul>
 *   <li>label-set mode: {@code w_l·(x_i·t_l) − (1/T)·Σ_l' w_l'·(x_i·t_l')}, with
 *       {@code p = softmax(2·x_0·tᵀ)} over the T labels and {@code w = p / mean(p)};</li>
 *   <li>redundant-feature mode: {@code x_i·(t_l − r)} for one redundant feature r;</li>
 *   <li>none: {@code x_i·t_l}, the cosine.</li>
 * </ul>
 * Chosen per call ({@link ClipSurgery#explain(java.util.List, LabelSet, Redundancy)}) or per
 * session ({@link ClipSurgery#session(LabelSet, int, int, PixelOrder, Redundancy)}).
 */
public enum Redundancy {
    /**
     * With {@link Method#SURGERY}: {@link #LABELS} for two or more labels, {@link #EMPTY} for a
     * single label (the default of every call that does not take a redundancy; the count is of
     * distinct labels, {@link LabelSet#labels()}, combined targets' parts included). With any
     * other method: {@link #NONE}, as those methods compute their similarity.
     */
    AUTO,
    /**
     * Label-set mode: the weighted mean over the labels of the set ("labels"). With a single
     * label every similarity is 0 (the label is its own mean), so its maps are 0 everywhere.
     */
    LABELS,
    /**
     * Redundant-feature mode with r the prompt-ensembled embedding of the empty string
     * ({@link ClipSurgery#emptyPromptFeatures()}, "empty"), for single labels or free text.
     */
    EMPTY,
    /** No feature surgery: each token's cosine with each label ("none"). */
    NONE
}

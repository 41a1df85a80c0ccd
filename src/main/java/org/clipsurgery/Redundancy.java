package org.clipsurgery;

/**
 * What feature surgery subtracts as redundant features (CLIP Surgery §3.3).
 */
public enum Redundancy {
    /** Label-set mode for two or more labels, empty-prompt mode for a single label (the default). */
    AUTO,
    /** The weighted mean over the labels of the set ("labels"). */
    LABELS,
    /** The prompt-ensembled embedding of the empty string ("empty"), for single or free text. */
    EMPTY
}

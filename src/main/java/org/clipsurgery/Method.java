package org.clipsurgery;

/**
 * Which training-free dense method computes the image tokens ({@link ClipSurgery.Options#optMethod}).
 * Each is its official code's computation (the repositories and commits in the README); they
 * differ in how the last ViT block(s) attend, and share everything else: weights, preprocessing,
 * labels, and every output (maps, scores, label map, SAM points).
 *
 * <p>Feature surgery ({@link Redundancy}) is CLIP Surgery's; for the other methods
 * {@link Redundancy#AUTO} means none (their similarity is the plain cosine, as their papers
 * compute it), and {@link Redundancy#LABELS} or {@link Redundancy#EMPTY} adds it to their tokens.
 * The methods other than {@link #SURGERY} and {@link #PLAIN} are defined on ViT blocks, and run
 * on the CPU engine so far.
 */
public enum Method {
    /** CLIP Surgery (Li et al., Pattern Recognition 2025): v-v dual paths in the last blocks, feature surgery. The default. */
    SURGERY,
    /** SCLIP (Wang et al., ECCV 2024): q·qᵀ + k·kᵀ attention in the last block. */
    SCLIP,
    /** ClearCLIP (Lan et al., ECCV 2024): q·qᵀ attention, no residual, no FFN in the last block. */
    CLEARCLIP,
    /** NACLIP (Hajimiri et al., WACV 2025): k·kᵀ attention plus a spatial Gaussian, no residual, no FFN. */
    NACLIP,
    /** MaskCLIP (Zhou et al., ECCV 2022): the last block's value projection instead of its attention. */
    MASKCLIP,
    /** GEM (Bousselham et al., CVPR 2024): normalised self-self attention over the last 6 blocks on a separate path. */
    GEM,
    /** The unmodified CLIP: its tokens' cosine with each label. */
    PLAIN
}

package org.clipsurgery.graph;

import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.ModelConfig;

/**
 * How a training-free dense method rebuilds a ViT's last blocks: CLIP Surgery's siblings, as
 * their official code computes them (../shared/docs/METHODS.md), as parameters of the one graph
 * ({@link ClipGraph#encodeImage(Object, LastBlocks)}) rather than copies of it. The blocks before
 * the {@link #blocks} last ones are the model's own. At another resolution than the model's, the
 * position embeddings are resized by the method's own rule ({@link #positionResize}).
 *
 * <ul>
 *   <li>{@link #separatePath} false: the last block alone is replaced, {@code z = [x +] O(A·v)},
 *       then {@code [z + MLP(ln_2(z))]} ({@link #residual}, {@link #ffn});</li>
 *   <li>{@link #separatePath} true (GEM): the model's blocks run unchanged, and beside them a
 *       path starting at the first modified block's input adds {@code O(A·v)} of each of the last
 *       {@link #blocks} blocks, computed from the original path's {@code ln_1}; no FFN on it.</li>
 * </ul>
 */
public enum LastBlocks {
    /** SCLIP (Wang et al., ECCV 2024): correlative self-attention, q·qᵀ and k·kᵀ softmaxes summed. */
    SCLIP(Attention.QQ_PLUS_KK, true, true, 1, false, PositionEmbeddings.Resize.BICUBIC_SCALE_FACTOR),
    /** ClearCLIP (Lan et al., ECCV 2024): q·qᵀ attention, no residual, no FFN. */
    CLEARCLIP(Attention.QQ, false, false, 1, false, PositionEmbeddings.Resize.BICUBIC_SCALE_FACTOR),
    /** NACLIP (Hajimiri et al., WACV 2025): k·kᵀ plus a Gaussian of patch distance, no residual, no FFN. */
    NACLIP(Attention.KK_GAUSSIAN, false, false, 1, false, PositionEmbeddings.Resize.BICUBIC_SCALE_FACTOR),
    /** MaskCLIP (Zhou et al., ECCV 2022): no attention, the value projection alone. */
    MASKCLIP(Attention.VALUE, true, true, 1, false, PositionEmbeddings.Resize.BICUBIC),
    /** GEM (Bousselham et al., CVPR 2024): normalised self-self attention over the last 6 blocks, on a separate path. */
    GEM(Attention.GEM, false, false, 6, true, PositionEmbeddings.Resize.BICUBIC_ANTIALIAS);

    /** The similarity the replaced attention uses (see {@link Ops#selfAttention}). */
    public enum Attention {
        /** softmax(s·q·qᵀ)·v */
        QQ,
        /** softmax(s·k·kᵀ)·v */
        KK,
        /** softmax(s·v·vᵀ)·v (CLIP Surgery's path) */
        VV,
        /** (softmax(s·q·qᵀ) + softmax(s·k·kᵀ))·v, rows summing to 2 */
        QQ_PLUS_KK,
        /** softmax(s·k·kᵀ + Ω)·v, Ω_ij = exp(−‖p_i − p_j‖² / 50) over patch-grid coordinates, 0 on the class token's row and column */
        KK_GAUSSIAN,
        /** v itself (no attention) */
        VALUE,
        /** GEM: (A_v + A_k + A_q)·v / 3, A_w = softmax(τ·ŵ·ŵᵀ) of ŵ = one normalised self-self iteration of L2-normalised w */
        GEM
    }

    /** NACLIP's Gaussian width in patches (its official σ). */
    public static final double NACLIP_SIGMA = 5.0;

    /**
     * NACLIP's additive attention bias Ω (N, N), N = 1 + grid²: for patches i, j at grid
     * coordinates p_i, p_j (row-major), exp(−‖p_i − p_j‖² / (2σ²)); 0 on the class token's row
     * and column.
     */
    public static HostTensor gaussianBias(int grid) {
        int n = 1 + grid * grid;
        float[] omega = new float[n * n];
        for (int i = 1; i < n; i++) {
            int yi = (i - 1) / grid, xi = (i - 1) % grid;
            for (int j = 1; j < n; j++) {
                int dy = (j - 1) / grid - yi, dx = (j - 1) % grid - xi;
                omega[i * n + j] = (float) Math.exp(-(dx * dx + dy * dy) / (2 * NACLIP_SIGMA * NACLIP_SIGMA));
            }
        }
        return HostTensor.ofFloats(omega, n, n);
    }

    private final Attention attention;
    private final boolean residual;
    private final boolean ffn;
    private final int blocks;
    private final boolean separatePath;
    private final PositionEmbeddings.Resize positionResize;

    LastBlocks(Attention attention, boolean residual, boolean ffn, int blocks, boolean separatePath,
            PositionEmbeddings.Resize positionResize) {
        this.positionResize = positionResize;
        this.attention = attention;
        this.residual = residual;
        this.ffn = ffn;
        this.blocks = blocks;
        this.separatePath = separatePath;
    }

    public Attention attention() {
        return attention;
    }

    /** Whether the replaced block adds its input back. */
    public boolean residual() {
        return residual;
    }

    /** Whether the replaced block keeps its MLP. */
    public boolean ffn() {
        return ffn;
    }

    /** How many final blocks are modified. */
    public int blocks() {
        return blocks;
    }

    /**
     * Checks that this method can rebuild {@code config}'s image encoder: a ViT with at least
     * {@link #blocks} blocks. The one check, made when a model is opened and again by the graph.
     *
     * @throws IllegalArgumentException for a ResNet (the methods are defined on ViT blocks) or a
     *     ViT with fewer blocks than the method modifies
     */
    public void requireFits(ModelConfig config) {
        if (!config.isVit()) throw new IllegalArgumentException(this + " is defined for ViT models, not ResNets");
        if (blocks > config.visionLayers()[0]) {
            throw new IllegalArgumentException(this + " modifies " + blocks + " blocks; this model has " + config.visionLayers()[0]);
        }
    }

    /** How the method's official code resizes position embeddings for another resolution (METHODS.md). */
    public PositionEmbeddings.Resize positionResize() {
        return positionResize;
    }

    /** Whether the modified blocks feed a path of their own beside the unchanged model (GEM). */
    public boolean separatePath() {
        return separatePath;
    }
}

package org.clipsurgery.graph;

import org.clipsurgery.engine.Stages;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.ModelConfig;

/**
 * The CLIP model with CLIP Surgery's architecture surgery, written once over {@link Ops}.
 * Image encoders return all tokens (B, N, E), N = 1 + g²; the text encoder returns the projected
 * end-token features (B, E), unnormalised. See ../shared/docs/DESIGN.md, "The algorithm".
 */
public final class ClipGraph<T> {
    private final Ops<T> ops;
    private final ModelConfig config;
    private final WeightLookup weights;
    private final Stages stages;

    /** Access to the host copies of weights that derived constants are made from. */
    public interface WeightLookup {
        HostTensor host(String name);
    }

    public ClipGraph(Ops<T> ops, ModelConfig config, WeightLookup weights) {
        this(ops, config, weights, Stages.NONE);
    }

    /**
     * A graph that reports its stages (patch embedding, blocks, projection) to {@code stages},
     * with FLOPs counted from the tensor shapes; {@link Stages#NONE} records nothing.
     */
    public ClipGraph(Ops<T> ops, ModelConfig config, WeightLookup weights, Stages stages) {
        this.ops = ops;
        this.config = config;
        this.weights = weights;
        this.stages = java.util.Objects.requireNonNull(stages, "stages");
    }

    /** Where this graph reports its stages ({@link Stages#NONE} unless profiling). */
    public Stages stages() {
        return stages;
    }

    public ModelConfig config() {
        return config;
    }

    /**
     * Image tokens of pixels (B, 3, R, R). {@code surgeryDepth} = number of final ViT blocks
     * with the dual (v-v) path, 0 for the plain model; for a ResNet any depth &gt; 0 selects the
     * v-v attention pool.
     */
    public T encodeImage(T pixels, int surgeryDepth) {
        return config.isVit() ? encodeVit(pixels, surgeryDepth) : encodeResNet(pixels, surgeryDepth > 0);
    }

    /**
     * Image tokens of pixels (B, 3, R, R) from a ViT whose last blocks a training-free method
     * rebuilds ({@link LastBlocks}): all tokens, projected, not normalised.
     *
     * @throws IllegalArgumentException for a ResNet (the methods are defined on ViT blocks) or a
     *     model with fewer blocks than the method modifies
     */
    public T encodeImage(T pixels, LastBlocks method) {
        method.requireFits(config);
        int layers = config.visionLayers()[0];
        int heads = config.visionHeads();
        int grid = (int) (ops.shape(pixels)[2] / config.visionPatchSize());
        T x = vitTokens(pixels, grid, method.positionResize());
        int first = layers - method.blocks();
        for (int i = 0; i < first; i++) x = residualBlock("visual.transformer.resblocks." + i, x, heads, false);
        T side = x; // GEM's path starts at the first modified block's input
        for (int i = first; i < layers; i++) {
            String p = "visual.transformer.resblocks." + i;
            try (Ops.Scope<T> s = ops.scope()) {
                T u = layerNorm(x, p + ".ln_1");
                T qkv = ops.linear(u, w(p + ".attn.in_proj_weight"), w(p + ".attn.in_proj_bias"));
                T out = outProj(p, ops.selfAttention(qkv, heads, method.attention(), grid, method.separatePath() ? u : null));
                if (method.separatePath()) {
                    side = s.keep(ops.add(side, out));
                    T y = ops.add(x, outProj(p, ops.attention(qkv, heads, false)));
                    x = s.keep(ops.add(y, mlp(p, y)));
                } else {
                    T y = method.residual() ? ops.add(x, out) : out;
                    x = s.keep(method.ffn() ? ops.add(y, mlp(p, y)) : y);
                }
            }
        }
        if (method.separatePath()) x = side;
        return ops.matmul(layerNorm(x, "visual.ln_post"), w("visual.proj"));
    }

    // ---- ViT -------------------------------------------------------------------------------

    /** Patch embedding, class token, position embedding (resized to the grid) and ln_pre: (B, 1 + grid², C). */
    private T vitTokens(T pixels, int grid, PositionEmbeddings.Resize resize) {
        T x = ops.conv2d(pixels, w("visual.conv1.weight"), config.visionPatchSize(), 0);
        x = ops.gridToTokens(x);
        x = ops.prependToken(x, w("visual.class_embedding"));
        x = ops.add(x, positionEmbedding("visual.positional_embedding", grid, resize));
        return layerNorm(x, "visual.ln_pre");
    }

    private T encodeVit(T pixels, int surgeryDepth) {
        int layers = config.visionLayers()[0];
        int heads = config.visionHeads();
        int grid = (int) (ops.shape(pixels)[2] / config.visionPatchSize());
        T x = vitTokens(pixels, grid, PositionEmbeddings.Resize.BILINEAR);
        // FLOPs only when profiling: the shape queries are not free (JNI), the normal path skips them.
        if (stages.enabled()) {
            stages.lap(Stages.PATCH_EMBEDDING, 2 * tokens(x, 1) * numel(w("visual.conv1.weight")));
        }

        int firstSurgery = layers - surgeryDepth;
        for (int i = 0; i < firstSurgery; i++) {
            String p = "visual.transformer.resblocks." + i;
            x = residualBlock(p, x, heads, false);
            if (stages.enabled()) stages.lap(Stages.ENCODER, blockFlops(p, x, 1, false));
        }
        if (surgeryDepth > 0) {
            T xOri = x, xNew = x;
            for (int i = firstSurgery; i < layers; i++) {
                String p = "visual.transformer.resblocks." + i;
                boolean last = i == layers - 1;
                try (Ops.Scope<T> s = ops.scope()) {
                    T qkv = ops.linear(layerNorm(xOri, p + ".ln_1"),
                            w(p + ".attn.in_proj_weight"), w(p + ".attn.in_proj_bias"));
                    T[] paths = ops.dualAttention(qkv, heads);
                    xNew = s.keep(ops.add(xNew, outProj(p, paths[1])));
                    // After the last block only the original path's class token is read (the
                    // surgery path gives the patch tokens): its output projection and MLP run on
                    // that row alone, the same values as on every row.
                    T ori = last ? ops.add(ops.classToken(xOri), outProj(p, ops.classToken(paths[0])))
                            : ops.add(xOri, outProj(p, paths[0]));
                    xOri = s.keep(ops.add(ori, mlp(p, ori)));
                }
                if (stages.enabled()) stages.lap(Stages.DUAL_PATH, blockFlops(p, xNew, 2, last));
            }
            // The surgery path has no class token of its own: it takes the original path's.
            x = ops.withToken0From(xNew, xOri);
        }
        x = layerNorm(x, "visual.ln_post");
        T out = ops.matmul(x, w("visual.proj"));
        if (stages.enabled()) {
            long[] proj = ops.shape(w("visual.proj"));
            stages.lap(Stages.PROJECTION, 2 * tokens(x, 0) * proj[0] * proj[1]);
        }
        return out;
    }

    /**
     * FLOPs of one ViT block on x (B, N, C), 2·M·N·K per product: qkv projection, per attention
     * path q·kᵀ (or v·vᵀ) and attention·v (4·B·N²·C together) and the output projection, then
     * the MLP (two products with the hidden width). {@code paths} = 2 for the dual-path block
     * (its MLP runs on the original path only, as in the official code); {@code classTokenOnly}:
     * the original path's output projection and MLP on the class token alone (the last block).
     */
    private long blockFlops(String p, T x, int paths, boolean classTokenOnly) {
        long[] s = ops.shape(x);
        long m = s[0] * s[1], n = s[1], c = s[2], rows = classTokenOnly ? s[0] : m;
        long hidden = ops.shape(w(p + ".mlp.c_fc.weight"))[0];
        return 2 * m * c * 3 * c + paths * 4 * m * n * c + (paths - 1) * 2 * m * c * c + 2 * rows * c * c
                + 2 * 2 * rows * c * hidden;
    }

    /** Rows of x (B, N, C) less {@code skip} per batch element (the class token): B·(N − skip). */
    private long tokens(T x, int skip) {
        long[] s = ops.shape(x);
        return s[0] * (s[1] - skip);
    }

    private long numel(T t) {
        long n = 1;
        for (long d : ops.shape(t)) n *= d;
        return n;
    }

    /** A standard pre-norm transformer block (attention + MLP). */
    private T residualBlock(String p, T x, int heads, boolean causal) {
        try (Ops.Scope<T> s = ops.scope()) {
            T qkv = ops.linear(layerNorm(x, p + ".ln_1"),
                    w(p + ".attn.in_proj_weight"), w(p + ".attn.in_proj_bias"));
            T y = ops.add(x, outProj(p, ops.attention(qkv, heads, causal)));
            return s.keep(ops.add(y, mlp(p, y)));
        }
    }

    private T outProj(String p, T a) {
        return ops.linear(a, w(p + ".attn.out_proj.weight"), w(p + ".attn.out_proj.bias"));
    }

    private T mlp(String p, T x) {
        T h = ops.linear(layerNorm(x, p + ".ln_2"), w(p + ".mlp.c_fc.weight"), w(p + ".mlp.c_fc.bias"));
        h = switch (config.activation()) {
            case QUICK_GELU -> ops.quickGelu(h);
            case GELU -> ops.gelu(h);
        };
        return ops.linear(h, w(p + ".mlp.c_proj.weight"), w(p + ".mlp.c_proj.bias"));
    }

    /** The layer norm {@code p} ({@code p.weight}, {@code p.bias}) with the model's epsilon. */
    private T layerNorm(T x, String p) {
        return ops.layerNorm(x, w(p + ".weight"), w(p + ".bias"), config.layerNormEps());
    }

    // ---- ModifiedResNet --------------------------------------------------------------------

    private T encodeResNet(T pixels, boolean surgery) {
        T x = convBnRelu(pixels, "visual.conv1", "visual.bn1", 2, 1);
        x = convBnRelu(x, "visual.conv2", "visual.bn2", 1, 1);
        x = convBnRelu(x, "visual.conv3", "visual.bn3", 1, 1);
        x = ops.avgPool(x, 2);
        int[] blocks = config.visionLayers();
        for (int stage = 0; stage < 4; stage++) {
            for (int b = 0; b < blocks[stage]; b++) {
                x = bottleneck("visual.layer" + (stage + 1) + "." + b, x, stage > 0 && b == 0 ? 2 : 1);
            }
        }
        stages.lap(Stages.ENCODER); // a ResNet's stem and stages (no FLOP count)
        int grid = (int) ops.shape(x)[2];
        T tokens = ops.gridToTokens(x);
        tokens = ops.prependToken(tokens, ops.meanToken(tokens));
        tokens = ops.add(tokens, positionEmbedding("visual.attnpool.positional_embedding", grid));
        int heads = config.visionHeads();
        T attended;
        if (surgery) {
            // CLIP Surgery's pool: q = k = v = v_proj(x), both paths identical, all tokens kept.
            T v = ops.linear(tokens, w("visual.attnpool.v_proj.weight"), w("visual.attnpool.v_proj.bias"));
            attended = ops.vvAttention(v, heads);
        } else {
            T qkv = ops.linear(tokens, packed("visual.attnpool", "weight"), packed("visual.attnpool", "bias"));
            attended = ops.attention(qkv, heads, false);
        }
        T out = ops.linear(attended, w("visual.attnpool.c_proj.weight"), w("visual.attnpool.c_proj.bias"));
        stages.lap(surgery ? Stages.DUAL_PATH : Stages.ENCODER); // the (v-v) attention pool
        return out;
    }

    private T convBnRelu(T x, String conv, String bn, int stride, int padding) {
        return ops.relu(batchNorm(ops.conv2d(x, w(conv + ".weight"), stride, padding), bn));
    }

    private T batchNorm(T x, String bn) {
        return ops.batchNorm(x, w(bn + ".weight"), w(bn + ".bias"), w(bn + ".running_mean"), w(bn + ".running_var"));
    }

    private T bottleneck(String p, T x, int stride) {
        try (Ops.Scope<T> s = ops.scope()) {
            return s.keep(bottleneckOps(p, x, stride));
        }
    }

    private T bottleneckOps(String p, T x, int stride) {
        T out = convBnRelu(x, p + ".conv1", p + ".bn1", 1, 0);
        out = convBnRelu(out, p + ".conv2", p + ".bn2", 1, 1);
        if (stride > 1) out = ops.avgPool(out, stride);
        out = batchNorm(ops.conv2d(out, w(p + ".conv3.weight"), 1, 0), p + ".bn3");
        T identity = x;
        if (weights.host(p + ".downsample.0.weight") != null) {
            T d = stride > 1 ? ops.avgPool(x, stride) : x;
            identity = batchNorm(ops.conv2d(d, w(p + ".downsample.0.weight"), 1, 0), p + ".downsample.1");
        }
        return ops.relu(ops.add(out, identity));
    }

    /** q/k/v projections of the attention pool packed into one (3C, C) weight or (3C) bias. */
    private T packed(String p, String kind) {
        return ops.constant(p + ".qkv_proj." + kind, () -> {
            HostTensor q = weights.host(p + ".q_proj." + kind);
            float[] a = q.toFloatArray(), b = weights.host(p + ".k_proj." + kind).toFloatArray(),
                    c = weights.host(p + ".v_proj." + kind).toFloatArray();
            float[] all = new float[a.length * 3];
            System.arraycopy(a, 0, all, 0, a.length);
            System.arraycopy(b, 0, all, a.length, a.length);
            System.arraycopy(c, 0, all, 2 * a.length, a.length);
            long[] shape = q.shape();
            shape[0] *= 3;
            return HostTensor.ofFloats(all, shape);
        });
    }

    // ---- text --------------------------------------------------------------------------------

    /**
     * Text features (B, E) of token rows (each of context length, start … end, zero padded).
     * The encoder is causal and pools at the end token (the largest id), so positions after the
     * last end token of the batch cannot change the result: only that prefix is computed.
     */
    public T encodeText(int[][] tokens) {
        int batch = tokens.length;
        int[] eot = new int[batch];
        int length = 1;
        for (int b = 0; b < batch; b++) {
            int best = 0;
            for (int i = 1; i < tokens[b].length; i++) if (tokens[b][i] > tokens[b][best]) best = i;
            eot[b] = best;
            length = Math.max(length, best + 1);
        }
        long[] ids = new long[batch * length];
        for (int b = 0; b < batch; b++) for (int i = 0; i < length; i++) ids[b * length + i] = tokens[b][i];
        final int n = length;
        T x = ops.embedding(w("token_embedding.weight"), ops.tokenIds(ids, batch, n));
        x = ops.add(x, ops.constant("positional_embedding[:" + n + "]", () -> {
            HostTensor pos = weights.host("positional_embedding");
            int c = (int) pos.size(1);
            return HostTensor.ofFloats(java.util.Arrays.copyOf(pos.toFloatArray(), n * c), n, c);
        }));
        for (int i = 0; i < config.transformerLayers(); i++) {
            x = residualBlock("transformer.resblocks." + i, x, config.transformerHeads(), true);
        }
        x = layerNorm(x, "ln_final");
        return ops.matmul(ops.gatherTokens(x, eot), w("text_projection"));
    }

    // ---- helpers -----------------------------------------------------------------------------

    private T w(String name) {
        return ops.weight(name);
    }

    private T positionEmbedding(String name, int grid) {
        return positionEmbedding(name, grid, PositionEmbeddings.Resize.BILINEAR);
    }

    private T positionEmbedding(String name, int grid, PositionEmbeddings.Resize resize) {
        String key = name + "@" + grid + (resize == PositionEmbeddings.Resize.BILINEAR ? "" : "/" + resize);
        return ops.constant(key, () -> PositionEmbeddings.resize(weights.host(name), grid, resize));
    }
}

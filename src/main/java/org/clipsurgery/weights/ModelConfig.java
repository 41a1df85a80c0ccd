package org.clipsurgery.weights;

import org.clipsurgery.Activation;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The shape of a CLIP model, as OpenAI's {@code build_model} infers it from the weights, and the
 * numerics its blocks use.
 *
 * @param visionLayers ViT: one entry, the number of transformer blocks; ResNet: four entries,
 *     the blocks per stage
 * @param visionPatchSize the ViT patch size, or 0 for a ResNet
 * @param visionHeads attention heads of the image encoder (OpenAI's: width/64 for a ViT,
 *     width·32/64 for a ResNet's attention pool; a Hugging Face config may say otherwise)
 * @param activation the MLP activation of every transformer block, text and image
 * @param layerNormEps the epsilon of every layer norm (OpenAI's: 1e-5)
 */
public record ModelConfig(
        int embedDim,
        int imageResolution,
        int[] visionLayers,
        int visionWidth,
        int visionPatchSize,
        int contextLength,
        int vocabSize,
        int transformerWidth,
        int transformerHeads,
        int transformerLayers,
        int visionHeads,
        Activation activation,
        double layerNormEps) {

    /** OpenAI's numerics: QuickGELU and layer-norm epsilon 1e-5. */
    public static final double DEFAULT_LAYER_NORM_EPS = 1e-5;

    public ModelConfig {
        visionLayers = visionLayers.clone();
        java.util.Objects.requireNonNull(activation, "activation");
        if (!(layerNormEps >= 0 && layerNormEps < 1)) {
            throw new IllegalArgumentException("layer-norm epsilon " + layerNormEps + " is not in [0, 1)");
        }
    }

    /** A config with OpenAI's head counts and numerics (QuickGELU, layer-norm epsilon 1e-5). */
    public ModelConfig(int embedDim, int imageResolution, int[] visionLayers, int visionWidth, int visionPatchSize,
            int contextLength, int vocabSize, int transformerWidth, int transformerHeads, int transformerLayers) {
        this(embedDim, imageResolution, visionLayers, visionWidth, visionPatchSize, contextLength, vocabSize,
                transformerWidth, transformerHeads, transformerLayers,
                openAiVisionHeads(visionWidth, visionPatchSize), Activation.QUICK_GELU,
                DEFAULT_LAYER_NORM_EPS);
    }

    /** This config with another MLP activation. */
    public ModelConfig withActivation(Activation a) {
        return new ModelConfig(embedDim, imageResolution, visionLayers, visionWidth, visionPatchSize, contextLength,
                vocabSize, transformerWidth, transformerHeads, transformerLayers, visionHeads, a, layerNormEps);
    }

    /** This config with another layer-norm epsilon (every layer norm of both encoders). */
    public ModelConfig withLayerNormEps(double eps) {
        return new ModelConfig(embedDim, imageResolution, visionLayers, visionWidth, visionPatchSize, contextLength,
                vocabSize, transformerWidth, transformerHeads, transformerLayers, visionHeads, activation, eps);
    }

    public boolean isVit() {
        return visionPatchSize > 0;
    }

    /** Pixels per output-grid cell: the patch size (ViT) or 32 (ResNet). */
    public int gridStride() {
        return isVit() ? visionPatchSize : 32;
    }

    /** Grid side at the model's own resolution. */
    public int defaultGrid() {
        return imageResolution / gridStride();
    }

    /**
     * Infers the config from parameter shapes exactly as OpenAI's {@code build_model} (clip/model.py)
     * does: a ViT if {@code visual.proj} is present, else a ModifiedResNet. Only the keys that
     * {@code build_model} reads are consulted; {@link #expectedShapes()} then says what the whole
     * state dict must look like.
     *
     * @throws IllegalArgumentException naming the key when one it needs is missing or has the
     *     wrong rank, or when a dimension is impossible
     */
    public static ModelConfig infer(Map<String, long[]> shapes) {
        int embedDim = dim(shapes, "text_projection", 2, 1);
        int contextLength = dim(shapes, "positional_embedding", 2, 0);
        int vocabSize = dim(shapes, "token_embedding.weight", 2, 0);
        int transformerWidth = dim(shapes, "ln_final.weight", 1, 0);
        int transformerHeads = transformerWidth / 64;
        int transformerLayers = distinctThirdParts(shapes, "transformer.resblocks");
        if (shapes.containsKey("visual.proj")) {
            int width = dim(shapes, "visual.conv1.weight", 4, 0);
            int layers = 0;
            for (String k : shapes.keySet()) {
                if (k.startsWith("visual.") && k.endsWith(".attn.in_proj_weight")) layers++;
            }
            int patch = dim(shapes, "visual.conv1.weight", 4, 3);
            int tokens = dim(shapes, "visual.positional_embedding", 2, 0);
            int grid = (int) Math.round(Math.sqrt(tokens - 1.0));
            if (tokens < 1 || patch < 1 || layers < 1) {
                throw new IllegalArgumentException("impossible ViT: patch " + patch + ", " + tokens
                        + " position embeddings, " + layers + " layers");
            }
            return new ModelConfig(embedDim, Math.multiplyExact(patch, grid), new int[] {layers}, width, patch,
                    contextLength, vocabSize, transformerWidth, transformerHeads, transformerLayers);
        }
        int[] counts = new int[4];
        for (int b = 1; b <= 4; b++) {
            counts[b - 1] = distinctThirdParts(shapes, "visual.layer" + b);
            if (counts[b - 1] < 1) throw new IllegalArgumentException("ResNet stage visual.layer" + b + " has no blocks");
        }
        int width = dim(shapes, "visual.layer1.0.conv1.weight", 4, 0);
        int tokens = dim(shapes, "visual.attnpool.positional_embedding", 2, 0);
        int outputWidth = (int) Math.round(Math.sqrt(tokens - 1.0));
        // build_model asserts this; a ResNet's grid is not otherwise recoverable.
        if (tokens < 1 || (long) outputWidth * outputWidth + 1 != tokens) {
            throw new IllegalArgumentException("visual.attnpool.positional_embedding has " + tokens
                    + " rows, not grid^2 + 1");
        }
        return new ModelConfig(embedDim, Math.multiplyExact(outputWidth, 32), counts, width, 0, contextLength,
                vocabSize, transformerWidth, transformerHeads, transformerLayers);
    }

    /** Dimension {@code d} of {@code key}, which must exist with rank {@code rank} and fit an int. */
    private static int dim(Map<String, long[]> shapes, String key, int rank, int d) {
        long[] s = shapes.get(key);
        if (s == null) throw new IllegalArgumentException("missing " + key);
        if (s.length != rank) {
            throw new IllegalArgumentException(key + " has shape " + Arrays.toString(s) + ", expected rank " + rank);
        }
        if (s[d] < 0 || s[d] > Integer.MAX_VALUE) throw new IllegalArgumentException(key + " has shape " + Arrays.toString(s));
        return (int) s[d];
    }

    /** {@code len(set(k.split(".")[2] for k in keys if k.startswith(prefix)))}, as build_model counts. */
    private static int distinctThirdParts(Map<String, long[]> shapes, String prefix) {
        Set<String> parts = new HashSet<>();
        for (String k : shapes.keySet()) {
            if (!k.startsWith(prefix)) continue;
            String[] p = k.split("\\.", -1);
            // Python's k.split(".")[2] raises for fewer parts; so does this.
            if (p.length < 3) throw new IllegalArgumentException("unexpected key " + k);
            parts.add(p[2]);
        }
        return parts.size();
    }

    /** State-dict entries that are configuration in OpenAI's checkpoints, not weights. */
    public static final Set<String> CONFIG_ENTRIES = Set.of("input_resolution", "context_length", "vocab_size");

    /**
     * Every parameter and buffer of OpenAI's {@code CLIP} module built with this config, by its
     * state-dict name, with its shape, in {@code state_dict()} order. BatchNorm's
     * {@code num_batches_tracked} buffers are included (shape []); see {@link #isOptional(String)}.
     */
    public Map<String, long[]> expectedShapes() {
        Map<String, long[]> m = new LinkedHashMap<>();
        long tw = transformerWidth, e = embedDim;
        m.put("positional_embedding", new long[] {contextLength, tw});
        m.put("text_projection", new long[] {tw, e});
        m.put("logit_scale", new long[] {});
        if (isVit()) {
            long w = visionWidth, g = defaultGrid();
            m.put("visual.class_embedding", new long[] {w});
            m.put("visual.positional_embedding", new long[] {g * g + 1, w});
            m.put("visual.proj", new long[] {w, e});
            m.put("visual.conv1.weight", new long[] {w, 3, visionPatchSize, visionPatchSize});
            m.put("visual.ln_pre.weight", new long[] {w});
            m.put("visual.ln_pre.bias", new long[] {w});
            transformer(m, "visual.transformer", w, visionLayers[0]);
            m.put("visual.ln_post.weight", new long[] {w});
            m.put("visual.ln_post.bias", new long[] {w});
        } else {
            long w = visionWidth;
            conv(m, "visual.conv1", w / 2, 3, 3);
            batchNorm(m, "visual.bn1", w / 2);
            conv(m, "visual.conv2", w / 2, w / 2, 3);
            batchNorm(m, "visual.bn2", w / 2);
            conv(m, "visual.conv3", w, w / 2, 3);
            batchNorm(m, "visual.bn3", w);
            long inplanes = w;
            for (int stage = 0; stage < 4; stage++) {
                long planes = w << stage;
                int stride = stage == 0 ? 1 : 2;
                for (int b = 0; b < visionLayers[stage]; b++) {
                    String p = "visual.layer" + (stage + 1) + "." + b;
                    conv(m, p + ".conv1", planes, inplanes, 1);
                    batchNorm(m, p + ".bn1", planes);
                    conv(m, p + ".conv2", planes, planes, 3);
                    batchNorm(m, p + ".bn2", planes);
                    conv(m, p + ".conv3", planes * 4, planes, 1);
                    batchNorm(m, p + ".bn3", planes * 4);
                    // Bottleneck: a downsample branch when stride > 1 or the channel count changes.
                    if ((b == 0 && stride > 1) || inplanes != planes * 4) {
                        conv(m, p + ".downsample.0", planes * 4, inplanes, 1);
                        batchNorm(m, p + ".downsample.1", planes * 4);
                    }
                    inplanes = planes * 4;
                }
            }
            long c = w * 32, g = defaultGrid();
            m.put("visual.attnpool.positional_embedding", new long[] {g * g + 1, c});
            for (String n : new String[] {"k_proj", "q_proj", "v_proj"}) {
                m.put("visual.attnpool." + n + ".weight", new long[] {c, c});
                m.put("visual.attnpool." + n + ".bias", new long[] {c});
            }
            m.put("visual.attnpool.c_proj.weight", new long[] {e, c});
            m.put("visual.attnpool.c_proj.bias", new long[] {e});
        }
        transformer(m, "transformer", tw, transformerLayers);
        m.put("token_embedding.weight", new long[] {vocabSize, tw});
        m.put("ln_final.weight", new long[] {tw});
        m.put("ln_final.bias", new long[] {tw});
        return m;
    }

    /**
     * Whether a state-dict entry may be absent: BatchNorm's {@code num_batches_tracked} counters,
     * which some PyTorch versions do not save and inference never reads.
     */
    public static boolean isOptional(String name) {
        return name.endsWith(".num_batches_tracked");
    }

    private static void conv(Map<String, long[]> m, String p, long out, long in, long k) {
        m.put(p + ".weight", new long[] {out, in, k, k});
    }

    private static void batchNorm(Map<String, long[]> m, String p, long c) {
        m.put(p + ".weight", new long[] {c});
        m.put(p + ".bias", new long[] {c});
        m.put(p + ".running_mean", new long[] {c});
        m.put(p + ".running_var", new long[] {c});
        m.put(p + ".num_batches_tracked", new long[] {});
    }

    private static void transformer(Map<String, long[]> m, String p, long w, int layers) {
        for (int i = 0; i < layers; i++) {
            String b = p + ".resblocks." + i;
            m.put(b + ".attn.in_proj_weight", new long[] {3 * w, w});
            m.put(b + ".attn.in_proj_bias", new long[] {3 * w});
            m.put(b + ".attn.out_proj.weight", new long[] {w, w});
            m.put(b + ".attn.out_proj.bias", new long[] {w});
            m.put(b + ".ln_1.weight", new long[] {w});
            m.put(b + ".ln_1.bias", new long[] {w});
            m.put(b + ".mlp.c_fc.weight", new long[] {4 * w, w});
            m.put(b + ".mlp.c_fc.bias", new long[] {4 * w});
            m.put(b + ".mlp.c_proj.weight", new long[] {w, 4 * w});
            m.put(b + ".mlp.c_proj.bias", new long[] {w});
            m.put(b + ".ln_2.weight", new long[] {w});
            m.put(b + ".ln_2.bias", new long[] {w});
        }
    }

    @Override
    public int[] visionLayers() {
        return visionLayers.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelConfig c && embedDim == c.embedDim && imageResolution == c.imageResolution
                && Arrays.equals(visionLayers, c.visionLayers) && visionWidth == c.visionWidth
                && visionPatchSize == c.visionPatchSize && contextLength == c.contextLength
                && vocabSize == c.vocabSize && transformerWidth == c.transformerWidth
                && transformerHeads == c.transformerHeads && transformerLayers == c.transformerLayers
                && visionHeads == c.visionHeads && activation == c.activation
                && Double.compare(layerNormEps, c.layerNormEps) == 0;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(visionLayers) * 31 + java.util.Objects.hash(embedDim, imageResolution, visionWidth,
                visionPatchSize, contextLength, vocabSize, transformerWidth, transformerHeads, transformerLayers,
                visionHeads, activation, layerNormEps);
    }

    @Override
    public String toString() {
        return (isVit() ? "ViT" : "ResNet") + "(embed=" + embedDim + ", resolution=" + imageResolution
                + ", layers=" + Arrays.toString(visionLayers) + ", width=" + visionWidth
                + (isVit() ? ", patch=" + visionPatchSize : "") + ", text width=" + transformerWidth
                + ", text heads=" + transformerHeads + ", text layers=" + transformerLayers
                + ", context=" + contextLength + ", vocab=" + vocabSize
                + (visionHeads == openAiVisionHeads(visionWidth, visionPatchSize) ? "" : ", heads=" + visionHeads)
                + (activation == Activation.QUICK_GELU ? "" : ", activation=" + activation)
                + (layerNormEps == DEFAULT_LAYER_NORM_EPS ? "" : ", layer-norm eps=" + layerNormEps) + ")";
    }

    /** OpenAI's image-encoder heads: width/64 (ViT) or width·32/64 (ResNet attention pool). */
    private static int openAiVisionHeads(int width, int patch) {
        return patch > 0 ? width / 64 : width * 32 / 64;
    }
}

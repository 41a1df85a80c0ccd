package org.clipsurgery.weights;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Randomly initialised CLIP weights of any shape, keyed by OpenAI's names, for benchmarks and
 * tests of shapes no fixture covers (e.g. ViT-B/16 without downloading it). Scales follow CLIP's
 * own initialisation so activations stay in a realistic range; values are rounded to fp16 like
 * OpenAI's checkpoints.
 */
public final class RandomWeights {
    private final Map<String, HostTensor> out = new LinkedHashMap<>();
    private final SplittableRandom random;

    private RandomWeights(long seed) {
        random = new SplittableRandom(seed);
    }

    /** Weights of a model of shape {@code c}, deterministic for a seed. */
    public static Map<String, HostTensor> generate(ModelConfig c, long seed) {
        RandomWeights r = new RandomWeights(seed);
        if (c.isVit()) r.vit(c);
        else r.resnet(c);
        r.text(c);
        return r.out;
    }

    private void vit(ModelConfig c) {
        int w = c.visionWidth(), p = c.visionPatchSize(), g = c.defaultGrid();
        double scale = Math.pow(w, -0.5);
        normal("visual.class_embedding", scale, w);
        normal("visual.positional_embedding", scale, 1 + g * g, w);
        normal("visual.proj", scale, w, c.embedDim());
        normal("visual.conv1.weight", Math.pow(3 * p * p, -0.5), w, 3, p, p);
        layerNorm("visual.ln_pre", w);
        transformer("visual.transformer", w, c.visionLayers()[0]);
        layerNorm("visual.ln_post", w);
    }

    private void resnet(ModelConfig c) {
        int w = c.visionWidth();
        conv("visual.conv1", 3, w / 2, 3);
        bn("visual.bn1", w / 2);
        conv("visual.conv2", w / 2, w / 2, 3);
        bn("visual.bn2", w / 2);
        conv("visual.conv3", w / 2, w, 3);
        bn("visual.bn3", w);
        int inplanes = w;
        int[] layers = c.visionLayers();
        for (int s = 0; s < 4; s++) {
            int planes = w << s;
            for (int b = 0; b < layers[s]; b++) {
                String p = "visual.layer" + (s + 1) + "." + b;
                conv(p + ".conv1", inplanes, planes, 1);
                bn(p + ".bn1", planes);
                conv(p + ".conv2", planes, planes, 3);
                bn(p + ".bn2", planes);
                conv(p + ".conv3", planes, planes * 4, 1);
                bn(p + ".bn3", planes * 4);
                if (b == 0 && (s > 0 || inplanes != planes * 4)) {
                    conv(p + ".downsample.0", inplanes, planes * 4, 1);
                    bn(p + ".downsample.1", planes * 4);
                }
                inplanes = planes * 4;
            }
        }
        int embed = w * 32, g = c.defaultGrid();
        double std = Math.pow(embed, -0.5);
        normal("visual.attnpool.positional_embedding", std, 1 + g * g, embed);
        for (String proj : new String[] {"k_proj", "q_proj", "v_proj"}) {
            normal("visual.attnpool." + proj + ".weight", std, embed, embed);
            normal("visual.attnpool." + proj + ".bias", 0.01, embed);
        }
        normal("visual.attnpool.c_proj.weight", std, c.embedDim(), embed);
        normal("visual.attnpool.c_proj.bias", 0.01, c.embedDim());
    }

    private void text(ModelConfig c) {
        int w = c.transformerWidth();
        normal("positional_embedding", 0.01, c.contextLength(), w);
        normal("text_projection", Math.pow(w, -0.5), w, c.embedDim());
        out.put("logit_scale", HostTensor.ofFloats(new float[] {(float) Math.log(1 / 0.07)}));
        normal("token_embedding.weight", 0.02, c.vocabSize(), w);
        transformer("transformer", w, c.transformerLayers());
        layerNorm("ln_final", w);
    }

    private void transformer(String prefix, int w, int layers) {
        double attn = Math.pow(w, -0.5), proj = attn * Math.pow(2 * layers, -0.5), fc = Math.pow(2 * w, -0.5);
        for (int i = 0; i < layers; i++) {
            String p = prefix + ".resblocks." + i;
            normal(p + ".attn.in_proj_weight", attn, 3 * w, w);
            normal(p + ".attn.in_proj_bias", 0.01, 3 * w);
            normal(p + ".attn.out_proj.weight", proj, w, w);
            normal(p + ".attn.out_proj.bias", 0.01, w);
            layerNorm(p + ".ln_1", w);
            normal(p + ".mlp.c_fc.weight", fc, 4 * w, w);
            normal(p + ".mlp.c_fc.bias", 0.01, 4 * w);
            normal(p + ".mlp.c_proj.weight", proj, w, 4 * w);
            normal(p + ".mlp.c_proj.bias", 0.01, w);
            layerNorm(p + ".ln_2", w);
        }
    }

    private void layerNorm(String p, int w) {
        float[] one = new float[w];
        java.util.Arrays.fill(one, 1f);
        out.put(p + ".weight", HostTensor.ofFloats(one, w));
        normal(p + ".bias", 0.01, w);
    }

    private void conv(String p, int in, int outCh, int k) {
        normal(p + ".weight", Math.pow(in * k * k, -0.5), outCh, in, k, k);
    }

    private void bn(String p, int ch) {
        float[] one = new float[ch];
        java.util.Arrays.fill(one, 1f);
        out.put(p + ".weight", HostTensor.ofFloats(one.clone(), ch));
        normal(p + ".bias", 0.01, ch);
        normal(p + ".running_mean", 0.01, ch);
        out.put(p + ".running_var", HostTensor.ofFloats(one.clone(), ch));
        out.put(p + ".num_batches_tracked", new HostTensor(DType.I64, new long[0],
                java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN)));
    }

    private void normal(String name, double std, long... shape) {
        float[] v = new float[Math.toIntExact(HostTensor.numel(shape))];
        for (int i = 0; i < v.length; i++) {
            // Box-Muller; rounded through fp16 like OpenAI's released weights.
            double u1 = random.nextDouble(), u2 = random.nextDouble();
            double z = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
            v[i] = Half.toFloat(Half.fromFloat((float) (z * std)));
        }
        out.put(name, HostTensor.ofFloats(v, shape));
    }
}

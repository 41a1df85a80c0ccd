package org.clipsurgery.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.clipsurgery.Precision;
import org.clipsurgery.engine.cpu.TorchOps;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.params.ParameterizedTest;

/**
 * Each training-free method's image side on the CPU backend against its official code's output
 * (../shared/fixtures/reference-methods.safetensors: vit.pt, the fixture image preprocessed at
 * 64 px, the model's own resolution, and at 96 px, where each method resizes the position
 * embeddings by its own rule): all tokens P(z), and the patch similarity against the reference's
 * text features, within the fixtures' tolerance (1e-4 absolute + 1e-3 relative).
 */
class LastBlocksFixtureTest {
    static final double ABS = 1e-4, REL = 1e-3;

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> cases() {
        return java.util.stream.Stream.of(64, 96).flatMap(r -> java.util.Arrays.stream(LastBlocks.values())
                .map(m -> org.junit.jupiter.params.provider.Arguments.of(m, r)));
    }

    @ParameterizedTest(name = "{0} at {1} px")
    @org.junit.jupiter.params.provider.MethodSource("cases")
    void tokensAndSimilarityMatchTheOfficialCode(LastBlocks method, int resolution) throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file("reference-methods.safetensors"));
        String res = "vit." + resolution;
        String key = res + "." + method.name().toLowerCase(java.util.Locale.ROOT);
        try (WeightStore weights = WeightStore.load(Fixtures.file("vit.pt"));
                TorchOps ops = new TorchOps(name -> weights.get(name).toF32(), Precision.FP32)) {
            ClipGraph<Tensor> graph = new ClipGraph<>(ops, weights.config(), n -> weights.has(n) ? weights.get(n) : null);
            HostTensor image = ref.get(res + ".image");
            float[] tokens = ops.toHost(graph.encodeImage(ops.input(image.toFloatArray(), image.shape()), method));
            float[] want = ref.get(key + ".tokens").toFloatArray();
            assertEquals(want.length, tokens.length, "token count");
            double worst = assertClose(want, tokens, key + ".tokens");

            // similarity: L2-normalised patch tokens · the (normalised) text features
            float[] text = ref.get(res + ".text_features").toFloatArray();
            int e = (int) ref.get(key + ".tokens").shape()[2], t = text.length / e, n = tokens.length / e;
            float[] sim = new float[(n - 1) * t];
            for (int i = 1; i < n; i++) {
                double norm = 0;
                for (int c = 0; c < e; c++) norm += (double) tokens[i * e + c] * tokens[i * e + c];
                norm = Math.sqrt(norm);
                for (int l = 0; l < t; l++) {
                    double dot = 0;
                    for (int c = 0; c < e; c++) dot += tokens[i * e + c] * text[l * e + c];
                    sim[(i - 1) * t + l] = (float) (dot / norm);
                }
            }
            double worstSim = assertClose(ref.get(key + ".similarity").toFloatArray(), sim, key + ".similarity");
            System.out.printf("%s at %d px: tokens max |err| %.2g, similarity %.2g%n", method, resolution, worst, worstSim);
        }
    }

    static double assertClose(float[] want, float[] got, String what) {
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs(want[i] - got[i]);
            worst = Math.max(worst, err);
            assertTrue(err <= ABS + REL * Math.abs(want[i]), what + "[" + i + "]: " + got[i] + " vs " + want[i]);
        }
        return worst;
    }
}

package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every training-free method through the facade against its official code
 * (../shared/fixtures/reference-methods.safetensors, `vit.pt` on the fixture image, labels cat,
 * dog, tv monitor; 64 px, the model's own, and 96 px, each method's own position-embedding
 * resize): the preprocessed image, the text features, all tokens ({@link Explanation#imageFeatures()}
 * against {@code tokens}), the L2-normalised patch tokens ({@code image_features}) and the patch
 * rows of the similarity (no feature surgery: the methods' default; MaskCLIP's {@code head_logits}
 * are the same values label-major) at the fixtures' tolerance, on the CPU engine and on the captured CUDA engine over the
 * emulated device (the kernels' CPU twins in the default test run, the real CUDA kernels under
 * the SIMT emulation in the emulated-kernels run; fp32 at both resolutions, fp16 at 64 px within
 * {@link ClipSurgeryFixtureTest#HALF}). Then what the methods refuse: a ResNet.
 */
public class MethodsFixtureTest {
    public static final List<String> LABELS = List.of("cat", "dog", "tv monitor");
    /** The emulated-kernels JVM exists for the real kernels: the CPU engine ran in the default run. */
    static final boolean KERNELS_RUN = "emulated".equals(System.getProperty("clipsurgery.kernels"));

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (ClipSurgeryFixtureTest.Engine engine : ClipSurgeryFixtureTest.Engine.values()) {
            if (engine == ClipSurgeryFixtureTest.Engine.CPU && KERNELS_RUN) continue;
            for (Precision precision : new Precision[] {Precision.FP32, Precision.FP16}) {
                if (engine == ClipSurgeryFixtureTest.Engine.CPU && precision != Precision.FP32) continue;
                for (int r : new int[] {64, 96}) {
                    if (precision == Precision.FP16 && r != 64) continue;
                    for (Method m : Method.values()) {
                        if (m == Method.SURGERY || (m == Method.PLAIN && r != 64)) continue; // the reference's keys
                        out.add(Arguments.of(engine, m, r, precision));
                    }
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}: {1} at {2} px, {3}")
    @MethodSource("cases")
    void everyMethodMatchesItsOfficialCode(ClipSurgeryFixtureTest.Engine engine, Method method, int resolution,
            Precision precision) throws Exception {
        ClipSurgeryFixtureTest.Tolerance tol = precision == Precision.FP32 ? ClipSurgeryFixtureTest.FIXTURE : ClipSurgeryFixtureTest.HALF;
        try (ClipSurgery cs = ClipSurgeryFixtureTest.open(engine, WeightStore.load(Fixtures.file("vit.pt")),
                new ClipSurgery.Options().optMethod(method).optResolution(resolution).optPrecision(precision))) {
            checkMethod(cs, resolution, tol);
        }
    }

    /**
     * Every key of the method {@code cs} was opened with (at {@code resolution}, on vit.pt) within
     * {@code tol}; also run on a GPU by CudaFixtureGpuTest.
     */
    public static void checkMethod(ClipSurgery cs, int resolution, ClipSurgeryFixtureTest.Tolerance tol) throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file("reference-methods.safetensors"));
        Method method = cs.method();
        String res = "vit." + resolution, key = res + "." + (method == Method.PLAIN ? "clip" : method.name().toLowerCase(Locale.ROOT));
        LabelSet labels = cs.labels(LABELS);
        ClipSurgeryFixtureTest.close(res + ".text_features", ref, labels.textFeatures(), tol);
        Explanation e = cs.explain(Fixtures.file("image.png"), labels);
        ClipSurgeryFixtureTest.close(res + ".image", ref, e.preprocessedImage(), tol);
        ClipSurgeryFixtureTest.close(key + ".tokens", ref, e.imageFeatures(), tol);
        ClipSurgeryFixtureTest.close(key + ".image_features", ref, normalisedPatchTokens(e), tol);
        float[] sim = e.similarity();
        ClipSurgeryFixtureTest.close(key + ".similarity", ref, Arrays.copyOfRange(sim, LABELS.size(), sim.length), tol);
        if (method == Method.MASKCLIP) ClipSurgeryFixtureTest.close(key + ".head_logits", ref, labelMajor(sim), tol);
        // the outputs built on the similarity come from it as for CLIP Surgery
        assertEquals(375 * 500, e.map("cat").length);
        assertEquals(375, e.labelMap(0.5f).height());
        org.clipsurgery.post.SamPoints points = e.points("dog");
        assertEquals(points.size(), points.labels().length);
    }

    /**
     * MaskCLIP as its official mmseg configuration computes it (key {@code maskclip_mmcfg}): the
     * exact GELU and layer-norm epsilon 1e-6 in the image encoder. The options set both encoders,
     * and MaskCLIP's label features come from CLIP's numerics: the reference's text features are
     * passed in as the label set.
     */
    @ParameterizedTest(name = "{0} at {1} px")
    @MethodSource("mmsegCases")
    void maskClipWithItsMmsegNumericsMatchesThatCode(ClipSurgeryFixtureTest.Engine engine, int resolution) throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file("reference-methods.safetensors"));
        String res = "vit." + resolution, key = res + ".maskclip_mmcfg";
        try (ClipSurgery cs = ClipSurgeryFixtureTest.open(engine, WeightStore.load(Fixtures.file("vit.pt")),
                new ClipSurgery.Options().optMethod(Method.MASKCLIP).optActivation(Activation.GELU).optLayerNormEps(1e-6)
                        .optResolution(resolution).optPrecision(Precision.FP32))) {
            LabelSet labels = cs.labels(LABELS, ref.get(res + ".text_features").toFloatArray());
            Explanation e = cs.explain(Fixtures.file("image.png"), labels);
            ClipSurgeryFixtureTest.close(key + ".tokens", ref, e.imageFeatures());
            ClipSurgeryFixtureTest.close(key + ".image_features", ref, normalisedPatchTokens(e));
            float[] sim = e.similarity();
            ClipSurgeryFixtureTest.close(key + ".similarity", ref, Arrays.copyOfRange(sim, LABELS.size(), sim.length));
            ClipSurgeryFixtureTest.close(key + ".head_logits", ref, labelMajor(sim));
            // and the numerics matter here: CLIP's own miss the key by far more than the tolerance
            float[] want = ref.get(key + ".tokens").toFloatArray();
            try (ClipSurgery clip = ClipSurgeryFixtureTest.open(engine, WeightStore.load(Fixtures.file("vit.pt")),
                    new ClipSurgery.Options().optMethod(Method.MASKCLIP).optResolution(resolution).optPrecision(Precision.FP32))) {
                float[] got = clip.explain(Fixtures.file("image.png"), clip.labels(LABELS, labels.textFeatures())).imageFeatures();
                double worst = 0;
                for (int i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
                assertTrue(worst > 1e-2, "QuickGELU and 1e-5 give tokens within " + worst + " of the mmseg numerics' tokens");
            }
        }
    }

    static Stream<Arguments> mmsegCases() {
        List<Arguments> out = new ArrayList<>();
        for (ClipSurgeryFixtureTest.Engine engine : ClipSurgeryFixtureTest.Engine.values()) {
            if (engine == ClipSurgeryFixtureTest.Engine.CPU && KERNELS_RUN) continue;
            for (int r : new int[] {64, 96}) out.add(Arguments.of(engine, r));
        }
        return out.stream();
    }

    /** MaskCLIP's head output (T, g, g): the patch rows of a similarity (N, T), label-major. */
    static float[] labelMajor(float[] similarity) {
        int t = LABELS.size(), patches = similarity.length / t - 1;
        float[] out = new float[t * patches];
        for (int i = 0; i < patches; i++) {
            for (int l = 0; l < t; l++) out[l * patches + i] = similarity[(i + 1) * t + l];
        }
        return out;
    }

    /** The patch rows of an explanation's tokens, each L2-normalised (the references' image_features). */
    static float[] normalisedPatchTokens(Explanation e) {
        float[] tokens = e.imageFeatures();
        int d = e.embedDim(), n = tokens.length / d;
        float[] out = new float[(n - 1) * d];
        for (int i = 1; i < n; i++) {
            double norm = 0;
            for (int c = 0; c < d; c++) norm += (double) tokens[i * d + c] * tokens[i * d + c];
            for (int c = 0; c < d; c++) out[(i - 1) * d + c] = (float) (tokens[i * d + c] / Math.sqrt(norm));
        }
        return out;
    }

    /** Feature surgery on another method's tokens: x·(t − r) with the empty prompt as r, against the same arithmetic on the reference tokens. */
    @Test
    void featureSurgeryAppliesToAnyMethodsTokens() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(KERNELS_RUN, "the CPU engine ran in the default test run");
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.file("vit.pt"), new ClipSurgery.Options().optMethod(Method.SCLIP))) {
            LabelSet labels = cs.labels(LABELS);
            Explanation e = cs.explain(List.of(org.clipsurgery.image.Images.read(Fixtures.file("image.png"))), labels,
                    Redundancy.EMPTY).get(0);
            float[] tokens = e.imageFeatures(), text = labels.textFeatures(), r = cs.emptyPromptFeatures();
            int d = e.embedDim(), t = LABELS.size(), n = tokens.length / d;
            for (int i = 0; i < n; i++) {
                double norm = 0;
                for (int c = 0; c < d; c++) norm += (double) tokens[i * d + c] * tokens[i * d + c];
                for (int l = 0; l < t; l++) {
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += tokens[i * d + c] * (text[l * d + c] - r[c]);
                    double want = dot / Math.sqrt(norm), got = e.similarity()[i * t + l];
                    assertTrue(Math.abs(want - got) <= 1e-5 + 1e-4 * Math.abs(want), "token " + i + " label " + l + ": " + got + " vs " + want);
                }
            }
            Explanation none = cs.explain(List.of(org.clipsurgery.image.Images.read(Fixtures.file("image.png"))), labels,
                    Redundancy.AUTO).get(0);
            assertTrue(!Arrays.equals(none.similarity(), e.similarity()), "AUTO is no surgery for SCLIP, unlike EMPTY");
        }
    }

    @Test
    void aResNetIsRefusedWithWhy() throws Exception {
        IllegalArgumentException rn = assertThrows(IllegalArgumentException.class,
                () -> ClipSurgery.open(Fixtures.file("rn.pt"), new ClipSurgery.Options().optMethod(Method.NACLIP)));
        assertTrue(rn.getMessage().contains("defined for ViT models"), rn.getMessage());
        try (ClipSurgery plain = ClipSurgery.open(Fixtures.file("rn.pt"), new ClipSurgery.Options().optMethod(Method.PLAIN))) {
            assertEquals(Method.PLAIN, plain.method());
        }
    }
}

package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.testing.GeluReference;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.HuggingFaceCopy;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The checkpoints people have besides OpenAI's, through the facade on the CPU backend, against
 * the official implementation: a Hugging Face CLIPModel copy of the fixtures' ViT (made by
 * {@link HuggingFaceCopy}, not by the reader's own inverse) with {@code hidden_act: quick_gelu}
 * must give every fixture key; the same weights with {@code hidden_act: gelu}, and the OpenAI-layout
 * file opened with {@code optActivation(GELU)} (an OpenCLIP GELU model), must give the official
 * code's outputs with its MLP activation swapped to torch.nn.GELU().
 *
 * <p>That reference, {@code activation/reference-vit-gelu.safetensors} beside this class's
 * resources, was made by {@code activation/make_reference.py} (its docstring has the command):
 * the official CLIP Surgery code (xmed-lab/CLIP_Surgery d4696d4) under Debian 12's PyTorch 1.13.1
 * on the CPU, vit.pt loaded into the official model with each block's {@code mlp.gelu} replaced by
 * {@code torch.nn.GELU()}, image.png at 64 and 96 px, reference.json's labels, the 85 templates.
 * The same script with QuickGELU reproduces the fixtures (made elsewhere with PyTorch 2.11) within
 * 2.2e-6 on every key, the preprocessed image exactly, and its GELU outputs differ from the
 * QuickGELU fixtures by 1.3e-3 to 1.8e-2 per key, outside the tolerance: the comparison tells the
 * activations apart. Tolerance: the fixtures' (1e-4 + 1e-3·|ref|); SAM points and the similarity
 * map are not in that file (computed from the similarity by code the activation does not touch).
 */
class ActivationFixtureTest {
    @TempDir
    static Path tmp;

    /** The official code's outputs with GELU (see the class comment). */
    static Map<String, HostTensor> geluReference() throws IOException {
        return GeluReference.read(tmp);
    }

    /** A Hugging Face copy of vit.pt in {@code tmp/name} with the given hidden_act. */
    static Path huggingFaceCopy(String name, String hiddenAct, HuggingFaceCopy.Weights weights, boolean positionIds)
            throws IOException {
        return huggingFaceCopy(tmp.resolve(name), hiddenAct, weights, positionIds);
    }

    /** A Hugging Face copy of vit.pt in {@code dir} (made once) with the given hidden_act. */
    static Path huggingFaceCopy(Path dir, String hiddenAct, HuggingFaceCopy.Weights weights, boolean positionIds)
            throws IOException {
        if (!Files.exists(dir.resolve("config.json"))) {
            try (WeightStore w = WeightStore.load(Fixtures.file("vit.pt"))) {
                HuggingFaceCopy.write(w.tensors(), w.config(), dir, hiddenAct, 1e-5, weights, positionIds);
            }
        }
        return dir;
    }

    static ClipSurgery.Options at(int resolution, List<String> notices) {
        return new ClipSurgery.Options().optResolution(resolution).optNotices(notices::add);
    }

    @ParameterizedTest(name = "Hugging Face quick_gelu copy at {0} px equals the fixtures")
    @ValueSource(ints = {64, 96})
    void huggingFaceQuickGelu(int resolution) throws Exception {
        List<String> notices = new ArrayList<>();
        Path dir = huggingFaceCopy("hf-quick", "quick_gelu", HuggingFaceCopy.Weights.SAFETENSORS, false);
        try (ClipSurgery cs = ClipSurgery.open(dir.toString(), at(resolution, notices))) {
            assertEquals(Activation.QUICK_GELU, cs.config().activation());
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", resolution);
        }
        assertEquals(List.of(), notices, "config.json declares the activation: no notice");
    }

    @Test
    void huggingFaceTorchSaveWithPositionIdsEqualsTheFixtures() throws Exception {
        List<String> notices = new ArrayList<>();
        Path dir = huggingFaceCopy("hf-bin", "quick_gelu", HuggingFaceCopy.Weights.TORCH_SAVE, true);
        // opened by its weights file, as a user might
        try (ClipSurgery cs = ClipSurgery.open(dir.resolve("pytorch_model.bin"), at(64, notices))) {
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", 64);
        }
        assertEquals(List.of(), notices);
    }

    @Test
    void huggingFaceWeightsAreOpenAisExactly() throws Exception {
        Path dir = huggingFaceCopy("hf-quick", "quick_gelu", HuggingFaceCopy.Weights.SAFETENSORS, false);
        try (WeightStore openAi = WeightStore.load(Fixtures.file("vit.pt"));
                WeightStore hf = WeightStore.load(dir.resolve("config.json"))) {
            assertEquals(WeightStore.Format.HUGGING_FACE, hf.format());
            assertEquals(openAi.config(), hf.config());
            assertEquals(openAi.names(), hf.names());
            for (String k : openAi.names()) {
                assertEquals(openAi.get(k).dtype(), hf.get(k).dtype(), k);
                assertArrayEquals(openAi.get(k).shape(), hf.get(k).shape(), k);
                assertEquals(openAi.get(k).data(), hf.get(k).data(), k);
            }
        }
    }

    @ParameterizedTest(name = "Hugging Face gelu copy at {0} px equals the official code with GELU")
    @ValueSource(ints = {64, 96})
    void huggingFaceGelu(int resolution) throws Exception {
        List<String> notices = new ArrayList<>();
        Path dir = huggingFaceCopy("hf-gelu", "gelu", HuggingFaceCopy.Weights.SAFETENSORS, false);
        try (ClipSurgery cs = ClipSurgery.open(dir.toString(), at(resolution, notices))) {
            assertEquals(Activation.GELU, cs.config().activation());
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", resolution, geluReference(), false, ClipSurgeryFixtureTest.FIXTURE);
        }
        assertEquals(List.of(), notices);
    }

    @ParameterizedTest(name = "OpenAI-layout state dict with optActivation(GELU) at {0} px (an OpenCLIP GELU model)")
    @ValueSource(ints = {64, 96})
    void openClipStyleWithGelu(int resolution) throws Exception {
        List<String> notices = new ArrayList<>();
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.file("vit.pt"), at(resolution, notices).optActivation(Activation.GELU))) {
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", resolution, geluReference(), false, ClipSurgeryFixtureTest.FIXTURE);
        }
        assertEquals(List.of(), notices, "the activation was given: no notice");
    }

    @Test
    void openClipStyleGeluEqualsTheHuggingFaceGeluCase() throws Exception {
        Path dir = huggingFaceCopy("hf-gelu", "gelu", HuggingFaceCopy.Weights.SAFETENSORS, false);
        List<String> notices = new ArrayList<>();
        try (ClipSurgery a = ClipSurgery.open(Fixtures.file("vit.pt"), at(64, notices).optActivation(Activation.GELU));
                ClipSurgery b = ClipSurgery.open(dir, at(64, notices))) {
            LabelSet la = a.labels("person", "sky"), lb = b.labels("person", "sky");
            assertArrayEquals(la.textFeatures(), lb.textFeatures(), 0f);
            var image = org.clipsurgery.image.Images.read(Fixtures.file("image.png"));
            assertArrayEquals(a.explain(List.of(image), la, Redundancy.LABELS).get(0).similarity(),
                    b.explain(List.of(image), lb, Redundancy.LABELS).get(0).similarity(), 0f, "the same model, bit for bit");
        }
    }

    @Test
    void anOpenAiLayoutStateDictWithoutTheOptionGetsQuickGeluAndANotice() throws Exception {
        List<String> notices = new ArrayList<>();
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.file("vit.pt"), at(64, notices))) {
            assertEquals(Activation.QUICK_GELU, cs.config().activation());
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", 64);
        }
        assertEquals(1, notices.size(), notices.toString());
        String n = notices.get(0);
        assertTrue(n.contains("vit.pt") && n.contains("QuickGELU") && n.contains("--activation") && n.contains("optActivation")
                && !n.contains("\n"), n);
        // OpenAI's own TorchScript archive says QuickGELU by being OpenAI's: no notice
        notices.clear();
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.file("vit-jit.pt"), at(64, notices))) {
            assertEquals(Activation.QUICK_GELU, cs.config().activation());
        }
        assertEquals(List.of(), notices);
    }

    @Test
    void anOptionOverridingADeclaredActivationSaysSo() throws Exception {
        List<String> notices = new ArrayList<>();
        Path dir = huggingFaceCopy("hf-gelu", "gelu", HuggingFaceCopy.Weights.SAFETENSORS, false);
        try (ClipSurgery cs = ClipSurgery.open(dir, at(64, notices).optActivation(Activation.QUICK_GELU))) {
            assertEquals(Activation.QUICK_GELU, cs.config().activation());
            // config.json's gelu overridden: the model is the QuickGELU fixture again
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", 64);
        }
        assertEquals(1, notices.size(), notices.toString());
        assertTrue(notices.get(0).contains("declares the gelu activation; using quick_gelu"), notices.get(0));
    }
}

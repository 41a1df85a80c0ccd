package org.clipsurgery.cli;

import static org.clipsurgery.cli.CliTest.fails;
import static org.clipsurgery.cli.CliTest.ok;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.clipsurgery.ClipSurgeryFixtureTest;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.testing.GeluReference;
import org.clipsurgery.Activation;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line on the layouts besides OpenAI's: {@code --activation}, its notice, Hugging
 * Face folders as {@code --model}, and {@code convert --layout openai|huggingface} both ways, on
 * the fixtures' ViT (QuickGELU fixtures, and the official code's GELU outputs: GeluReference).
 */
class ModelLayoutsCliTest {
    @TempDir
    Path tmp;

    private static final String LABELS = "person,bench,ground,building,tree,sky,potted plant";

    /** classify with --save-tensors at 64 px; returns the run and the tensors. */
    private Map<String, HostTensor> classify(String note, Object... modelArgs) throws IOException {
        Path file = tmp.resolve("t" + System.nanoTime() + ".safetensors");
        Object[] args = new Object[modelArgs.length + 9];
        Object[] head = {"classify", "-i", Fixtures.file("image.png"), "-l", LABELS, "-r", 64, "--save-tensors", file};
        System.arraycopy(head, 0, args, 0, head.length);
        System.arraycopy(modelArgs, 0, args, head.length, modelArgs.length);
        CliTest.Run r = ok(args);
        if (note == null) {
            assertFalse(r.err().contains("note:"), r.err());
        } else {
            assertTrue(r.err().lines().anyMatch(l -> l.startsWith("clip-surgery: note: ") && l.contains(note)), r.err());
        }
        return Safetensors.read(file);
    }

    private static void matches(Map<String, HostTensor> ref, Map<String, HostTensor> got) {
        ClipSurgeryFixtureTest.close("vit.64.surgery_image_features", ref, got.get("image_features").toFloatArray());
        ClipSurgeryFixtureTest.close("vit.64.text_features", ref, got.get("text_features").toFloatArray());
        ClipSurgeryFixtureTest.close("vit.64.similarity", ref, got.get("similarity").toFloatArray());
    }

    @Test
    void activationOptionOnAnOpenAiLayoutStateDict() throws IOException {
        Path vit = Fixtures.file("vit.pt");
        Map<String, HostTensor> quick = Safetensors.read(Fixtures.file("reference-vit.safetensors"));
        // without the option: QuickGELU, and a one-line note naming the option
        matches(quick, classify("--activation gelu", "-m", vit));
        matches(quick, classify(null, "-m", vit, "--activation", "quick_gelu"));
        matches(GeluReference.read(tmp), classify(null, "-m", vit, "--activation", "GELU"));
        String line = fails(2, "classify", "-m", vit, "-i", Fixtures.file("image.png"), "-l", "person", "--activation", "relu");
        assertTrue(line.contains("--activation must be gelu or quick_gelu"), line);
    }

    @Test
    void convertToHuggingFaceAndBack() throws IOException {
        Path vit = Fixtures.file("vit.pt"), hf = tmp.resolve("hf-gelu");
        CliTest.Run r = ok("convert", "-m", vit, "-o", hf, "--layout", "huggingface", "--activation", "gelu");
        assertTrue(r.out().contains("gelu, Hugging Face layout"), r.out());
        JsonObject config = JsonParser.parseString(Files.readString(hf.resolve("config.json"))).getAsJsonObject();
        assertEquals("clip", config.get("model_type").getAsString());
        assertEquals("gelu", config.getAsJsonObject("text_config").get("hidden_act").getAsString());
        assertEquals("gelu", config.getAsJsonObject("vision_config").get("hidden_act").getAsString());
        assertEquals(2, config.getAsJsonObject("vision_config").get("num_attention_heads").getAsInt());
        assertTrue(Files.isRegularFile(hf.resolve("model.safetensors")));
        // the folder as --model: config.json says gelu, so no option and no note
        matches(GeluReference.read(tmp), classify(null, "-m", hf));

        // back to OpenAI's layout: the same tensors as vit.pt, and a note that the layout drops the activation
        Path back = tmp.resolve("back.safetensors");
        CliTest.Run b = ok("convert", "-m", hf.resolve("config.json"), "-o", back);
        assertTrue(b.err().contains("note: OpenAI's layout does not record the gelu activation") && b.err().contains("--activation gelu"),
                b.err());
        try (WeightStore a = WeightStore.load(vit); WeightStore c = WeightStore.load(back)) {
            assertEquals(a.names(), c.names());
            assertEquals(a.config(), c.config());
            for (String n : a.names()) {
                assertEquals(a.get(n).dtype(), c.get(n).dtype(), n);
                assertArrayEquals(a.get(n).shape(), c.get(n).shape(), n);
                assertEquals(a.get(n).data(), c.get(n).data(), n);
            }
        }
        // without --activation an OpenAI-layout file converts as QuickGELU, with the note
        Path quick = tmp.resolve("hf-quick");
        CliTest.Run q = ok("convert", "-m", vit, "-o", quick, "--layout", "huggingface");
        assertTrue(q.err().contains("note: vit.pt: an OpenAI-layout state dict does not say its activation"), q.err());
        try (WeightStore w = WeightStore.load(quick)) {
            assertEquals(Activation.QUICK_GELU, w.config().activation());
        }
    }

    @Test
    void convertRefusesWhatALayoutCannotHold() throws IOException {
        Path out = tmp.resolve("x");
        String line = fails(2, "convert", "-m", Fixtures.file("rn.pt"), "-o", out, "--layout", "huggingface");
        assertTrue(line.contains("ViT image encoder only"), line);
        assertFalse(Files.exists(out.resolve("model.safetensors")));
        Path file = tmp.resolve("file");
        Files.writeString(file, "x");
        assertTrue(fails(2, "convert", "-m", Fixtures.file("vit.pt"), "-o", file, "--layout", "huggingface")
                .contains("is a file"));
        assertTrue(fails(2, "convert", "-m", Fixtures.file("vit.pt"), "-o", tmp, "--layout", "openai").contains("is a folder"));
        assertTrue(fails(2, "convert", "-m", Fixtures.file("vit.pt"), "-o", tmp.resolve("y"), "--layout", "onnx")
                .contains("--layout"));
    }

    @Test
    void aFolderThatIsNotACheckpointFailsInOneLine() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        String line = fails(1, "classify", "-m", empty, "-i", Fixtures.file("image.png"), "-l", "person");
        assertTrue(line.contains("config.json"), line);
    }
}

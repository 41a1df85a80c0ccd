package org.clipsurgery.weights;

import org.clipsurgery.Activation;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config.json as transformers reads it, and the layout's round trip, on a tiny synthetic ViT. */
class HuggingFaceLayoutTest {
    @TempDir
    Path tmp;

    private Path copy(String name, ModelConfig c) throws IOException {
        Path dir = tmp.resolve(name);
        HuggingFaceCopy.write(WeightStoreTest.synthetic(c, new Random(7)), c, dir, c.activation().configName(), c.layerNormEps(),
                HuggingFaceCopy.Weights.SAFETENSORS, false);
        return dir;
    }

    private static JsonObject config(Path dir) throws IOException {
        return JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject();
    }

    @Test
    void headsEpsilonAndActivationComeFromConfigJson() throws IOException {
        Path dir = copy("a", HuggingFaceFuzzTest.TINY);
        try (WeightStore w = WeightStore.load(dir)) {
            assertEquals(HuggingFaceFuzzTest.TINY, w.config());
            assertTrue(w.activationDeclared());
        }
    }

    @Test
    void absentKeysTakeTransformersDefaults() throws IOException {
        Path dir = copy("b", HuggingFaceFuzzTest.TINY);
        JsonObject c = config(dir);
        for (String tower : new String[] {"text_config", "vision_config"}) {
            c.getAsJsonObject(tower).remove("hidden_act");
            c.getAsJsonObject(tower).remove("layer_norm_eps");
        }
        Files.writeString(dir.resolve("config.json"), c.toString());
        try (WeightStore w = WeightStore.load(dir.resolve("config.json"))) {
            assertEquals(Activation.QUICK_GELU, w.config().activation());
            assertEquals(1e-5, w.config().layerNormEps());
        }
    }

    @Test
    void aLegacyConfigDictReplacesTheConfig() throws IOException {
        // openai/clip-vit-large-patch14's config.json has text_config_dict beside a text_config of
        // defaults; transformers builds the text config from the dict (and its own defaults) alone.
        Path dir = copy("c", HuggingFaceFuzzTest.TINY);
        JsonObject c = config(dir);
        JsonObject text = c.getAsJsonObject("text_config");
        c.add("text_config_dict", text.deepCopy());
        c.add("text_config", JsonParser.parseString("{\"hidden_size\": 512, \"hidden_act\": \"quick_gelu\"}"));
        Files.writeString(dir.resolve("config.json"), c.toString());
        try (WeightStore w = WeightStore.load(dir)) {
            assertEquals(HuggingFaceFuzzTest.TINY, w.config());
        }
    }

    @Test
    void writingAndReadingBackKeepsEverything() throws IOException {
        Path dir = copy("d", HuggingFaceFuzzTest.TINY), out = tmp.resolve("out");
        try (WeightStore a = WeightStore.load(dir)) {
            a.saveHuggingFace(out);
            try (WeightStore b = WeightStore.load(out)) {
                assertEquals(a.config(), b.config());
                assertEquals(a.names(), b.names());
                for (String k : a.names()) assertEquals(a.get(k).data(), b.get(k).data(), k);
            }
            // and the written folder has the names a second producer writes
            assertEquals(Safetensors.read(dir.resolve("model.safetensors")).keySet(),
                    Safetensors.read(out.resolve("model.safetensors")).keySet());
        }
    }

    @Test
    void refusalsAreOneLine() throws IOException {
        Path dir = copy("e", HuggingFaceFuzzTest.TINY);
        JsonObject c = config(dir);
        c.getAsJsonObject("vision_config").addProperty("hidden_act", "gelu_pytorch_tanh");
        Files.writeString(dir.resolve("config.json"), c.toString());
        WeightFormatException e = assertThrows(WeightFormatException.class, () -> WeightStore.load(dir));
        assertTrue(e.getMessage().contains("vision_config.hidden_act \"gelu_pytorch_tanh\" is not supported (quick_gelu or gelu)"),
                e.getMessage());
        // OpenAI-layout weights beside a config.json
        Path openAi = tmp.resolve("f");
        Files.createDirectories(openAi);
        try (WeightStore w = WeightStore.of(WeightStoreTest.synthetic(HuggingFaceFuzzTest.TINY, new Random(1)))) {
            w.saveSafetensors(openAi.resolve("model.safetensors"));
        }
        Files.writeString(openAi.resolve("config.json"), HuggingFaceCopy.config(HuggingFaceFuzzTest.TINY, "gelu", 1e-6));
        e = assertThrows(WeightFormatException.class, () -> WeightStore.load(openAi.resolve("model.safetensors")));
        assertTrue(e.getMessage().contains("these are OpenAI's names"), e.getMessage());
    }
}

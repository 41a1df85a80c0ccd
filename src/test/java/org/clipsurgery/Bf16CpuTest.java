package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.clipsurgery.engine.Stages;
import org.clipsurgery.engine.cpu.CpuEngine;
import org.clipsurgery.engine.cpu.CpuFeatures;
import org.clipsurgery.image.Images;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The CPU engine's bf16 mode against the fp32 fixtures, held to issue #13's bar: within twice the
 * error of PyTorch's own CPU autocast-bf16 on the same inputs. That error was measured by running
 * the official code under {@code torch.autocast("cpu", dtype=torch.bfloat16)} with Debian's
 * python3-torch 1.13 ({@code tests/reference/bf16_autocast_error.py}, output committed as
 * {@code bf16-autocast-error.json} beside this class).
 *
 * <p>This machine's CPU may have no bf16 dot products, and the facade then refuses bf16: the
 * numerics are checked on the CPU engine opened directly (LibTorch computes bf16 in software
 * there, slowly but with the same rounding of the operands), the refusal on its own.
 */
class Bf16CpuTest {
    @ParameterizedTest(name = "{0}.pt at {1} px")
    @CsvSource({"vit, 64", "vit, 96", "rn, 64", "rn, 96"})
    void withinTwiceTheErrorOfPyTorchsAutocast(String model, int resolution) throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.dir().resolve("reference-" + model + ".safetensors"));
        JsonObject autocast = autocastErrors().getAsJsonObject("errors").getAsJsonObject(model + "." + resolution);
        List<String> texts = fixtureLabels();
        String k = model + "." + resolution + ".";
        ClipSurgery.Options options = new ClipSurgery.Options().optResolution(resolution).optPrecision(Precision.BF16);
        try (ClipSurgery cs = ClipSurgery.open(WeightStore.load(Fixtures.file(model + ".pt")), options,
                (w, request) -> new CpuEngine(w, Stages.NONE, request.precision()))) {
            // The autocast run's inputs: the reference image and the reference label features.
            LabelSet labels = cs.labels(texts, ref.get(k + "text_features").toFloatArray());
            Explanation e = cs.explain(List.of(Images.read(Fixtures.file("image.png"))), labels, Redundancy.LABELS).get(0);
            double image = maxError(e.imageFeatures(), ref.get(k + "surgery_image_features"));
            double similarity = maxError(e.similarity(), ref.get(k + "similarity"));
            double text = maxError(cs.labels(texts).textFeatures(), ref.get(k + "text_features"));
            System.out.printf("bf16 CPU, %s at %d px, max error (PyTorch autocast bf16): image features %.3g (%.3g), "
                    + "similarity %.3g (%.3g), text features %.3g (%.3g)%n", model, resolution,
                    image, autocast.get("surgery_image_features").getAsDouble(), similarity,
                    autocast.get("similarity").getAsDouble(), text, autocast.get("text_features").getAsDouble());
            within("image features", image, autocast.get("surgery_image_features").getAsDouble());
            within("similarity", similarity, autocast.get("similarity").getAsDouble());
            within("text features", text, autocast.get("text_features").getAsDouble());
        }
    }

    /**
     * The training-free methods in bf16 against their official code's fp32 tokens (64 px). There
     * is no autocast run of their code here; they differ from CLIP Surgery only in the last
     * blocks' attention of the same encoder, so CLIP Surgery's autocast token error at 64 px is
     * the bar, as above.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Method.class, names = {"SCLIP", "CLEARCLIP", "NACLIP", "MASKCLIP", "GEM", "PLAIN"})
    void everyMethodRunsInBf16(Method method) throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file("reference-methods.safetensors"));
        double autocast = autocastErrors().getAsJsonObject("errors").getAsJsonObject("vit.64")
                .get("surgery_image_features").getAsDouble();
        String key = "vit.64." + (method == Method.PLAIN ? "clip" : method.name().toLowerCase(java.util.Locale.ROOT));
        ClipSurgery.Options options = new ClipSurgery.Options().optMethod(method).optPrecision(Precision.BF16);
        try (ClipSurgery cs = ClipSurgery.open(WeightStore.load(Fixtures.file("vit.pt")), options,
                (w, request) -> new CpuEngine(w, Stages.NONE, request.precision()))) {
            LabelSet labels = cs.labels(MethodsFixtureTest.LABELS, ref.get("vit.64.text_features").toFloatArray());
            Explanation e = cs.explain(Fixtures.file("image.png"), labels);
            double tokens = maxError(e.imageFeatures(), ref.get(key + ".tokens"));
            System.out.printf("bf16 CPU, %s at 64 px: tokens max error %.3g (CLIP Surgery's autocast: %.3g)%n", method,
                    tokens, autocast);
            within(method + " tokens", tokens, autocast);
        }
    }

    /** At most twice autocast's error, and far above fp32's (~1e-6): bf16 was in effect. */
    private static void within(String what, double error, double autocast) {
        assertTrue(error <= 2 * autocast, what + ": bf16 error " + error + " over twice autocast's " + autocast);
        assertTrue(error > 0.05 * autocast, what + ": error " + error + " is that of fp32, not bf16 (autocast: " + autocast + ")");
    }

    @Test
    void theFacadeOffersBf16OnlyWhereTheCpuHasBf16DotProducts() throws Exception {
        ClipSurgery.Options options = new ClipSurgery.Options().optPrecision(Precision.BF16);
        var refusal = CpuFeatures.bf16Refusal();
        if (refusal.isPresent()) {
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> ClipSurgery.open(Fixtures.file("vit.pt"), options).close());
            assertEquals(refusal.get(), e.getMessage());
            assertTrue(e.getMessage().contains("bf16 dot products"), e.getMessage());
        } else {
            try (ClipSurgery cs = ClipSurgery.open(Fixtures.file("vit.pt"), options)) { // a CPU with bf16: it runs
                assertEquals(64, cs.labels("cat").textFeatures().length);
            }
        }
        UnsupportedOperationException fp16 = assertThrows(UnsupportedOperationException.class,
                () -> ClipSurgery.open(Fixtures.file("vit.pt"), new ClipSurgery.Options().optPrecision(Precision.FP16)).close());
        assertTrue(fp16.getMessage().contains("fp16 is for the CUDA engine"), fp16.getMessage());
    }

    private static double maxError(float[] got, HostTensor want) {
        float[] w = want.toFloatArray();
        assertEquals(w.length, got.length, "size");
        double max = 0;
        for (int i = 0; i < w.length; i++) max = Math.max(max, Math.abs(got[i] - w[i]));
        return max;
    }

    private static List<String> fixtureLabels() throws Exception {
        JsonObject json = JsonParser.parseString(Files.readString(Fixtures.dir().resolve("reference.json"))).getAsJsonObject();
        List<String> texts = new ArrayList<>();
        json.getAsJsonArray("texts").forEach(t -> texts.add(t.getAsString()));
        return texts;
    }

    private static JsonObject autocastErrors() throws Exception {
        try (InputStream in = Bf16CpuTest.class.getResourceAsStream("bf16-autocast-error.json")) {
            return JsonParser.parseString(new String(in.readAllBytes(), StandardCharsets.UTF_8)).getAsJsonObject();
        }
    }
}

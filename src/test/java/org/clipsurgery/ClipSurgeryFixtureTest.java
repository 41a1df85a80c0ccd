package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The whole facade against the official implementation's outputs, key by key, for every fixture
 * model file and resolution (tolerances: ../shared/fixtures/README.md), on the CPU backend. The
 * same checks run the facade's Device.CUDA path on the emulated device
 * (engine.cuda.CudaFacadeFixtureEmulatedTest) and on a GPU (CudaFixtureGpuTest).
 */
public class ClipSurgeryFixtureTest {

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String file : new String[] {"vit.pt", "vit-jit.pt", "rn.pt"}) {
            for (int r : new int[] {64, 96}) out.add(Arguments.of(file, r));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} at {1} px")
    @MethodSource("cases")
    void everyKeyMatchesTheOfficialImplementation(String file, int resolution) throws Exception {
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.dir().resolve(file), new ClipSurgery.Options().optResolution(resolution))) {
            checkEveryKey(cs, file.startsWith("rn") ? "rn" : "vit", resolution);
        }
    }

    /** The fixtures' tolerance: 1e-4 absolute + 1e-3 relative, SAM points exact. */
    public static final Tolerance FIXTURE = new Tolerance(1e-4, 1e-3, true);

    /**
     * How close a key must be: |actual − expected| <= absolute + relative·|expected| element-wise;
     * {@code exactPoints}: SAM points compared exactly (else not compared: a lower precision moves
     * cells across the 0.8 threshold and ties).
     */
    public record Tolerance(double absolute, double relative, boolean exactPoints) {}

    /**
     * Every fixture key of {@code model} ("vit" or "rn") at {@code resolution} through the facade
     * {@code cs} (opened at that resolution on the fixture's weights); also run on a GPU by
     * CudaFixtureGpuTest.
     */
    public static void checkEveryKey(ClipSurgery cs, String model, int resolution) throws Exception {
        checkEveryKey(cs, model, resolution, FIXTURE);
    }

    /** {@link #checkEveryKey(ClipSurgery, String, int)} within {@code tol}. */
    public static void checkEveryKey(ClipSurgery cs, String model, int resolution, Tolerance tol) throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.dir().resolve("reference-" + model + ".safetensors"));
        checkEveryKey(cs, model, resolution, ref, true, tol);
    }

    /**
     * Every key of {@code ref} (fixture names, "model.resolution.key") that it holds for
     * {@code model} at {@code resolution}, on the fixtures' image and labels, and with
     * {@code fixturePoints} the SAM points of reference.json (which belong to the fixtures' own
     * model). Another reference of the same pipeline (a GELU variant of the model, say) is
     * compared through this too.
     */
    public static void checkEveryKey(ClipSurgery cs, String model, int resolution, Map<String, HostTensor> ref,
            boolean fixturePoints, Tolerance tol) throws Exception {
        Path dir = Fixtures.dir();
        JsonObject json = JsonParser.parseString(Files.readString(dir.resolve("reference.json"))).getAsJsonObject();
        List<String> texts = new ArrayList<>();
        json.getAsJsonArray("texts").forEach(t -> texts.add(t.getAsString()));
        String k = model + "." + resolution + ".";
        RgbImage image = Images.read(dir.resolve("image.png"));
        {
            LabelSet labels = cs.labels(texts);
            Explanation e = cs.explain(List.of(image), labels, Redundancy.LABELS).get(0);
            assertArrayEquals(ref.get(k + "image").toFloatArray(), e.preprocessedImage(), "image");
            close(k + "surgery_image_features", ref, e.imageFeatures(), tol);
            close(k + "text_features", ref, labels.textFeatures(), tol);
            close(k + "redundant_features", ref, cs.emptyPromptFeatures(), tol);
            close(k + "similarity", ref, e.similarity(), tol);
            Explanation redundant = cs.explain(List.of(image), labels, Redundancy.EMPTY).get(0);
            close(k + "similarity_redundant", ref, redundant.similarity(), tol);
            if (ref.containsKey(k + "plain_image_features")) {
                close(k + "plain_image_features", ref, cs.explainPlain(image, labels).imageFeatures(), tol);
            }
            if (model.equals("vit")) { // ResNet maps and points are ill-conditioned (fixture README)
                if (ref.containsKey(k + "similarity_map")) close(k + "similarity_map", ref, e.maps().values(), tol);
                if (!tol.exactPoints() || !fixturePoints) return;
                JsonObject points = json.getAsJsonObject(model).getAsJsonObject(String.valueOf(resolution));
                for (String label : texts) {
                    SamPoints p = e.points(label);
                    JsonObject expected = points.getAsJsonObject(label);
                    JsonArray xy = expected.getAsJsonArray("points");
                    assertEquals(xy.size(), p.size(), label + ": number of points");
                    for (int i = 0; i < xy.size(); i++) {
                        assertEquals(xy.get(i).getAsJsonArray().get(0).getAsInt(), p.x(i), label + " point " + i + " x");
                        assertEquals(xy.get(i).getAsJsonArray().get(1).getAsInt(), p.y(i), label + " point " + i + " y");
                    }
                    JsonArray lab = expected.getAsJsonArray("labels");
                    for (int i = 0; i < lab.size(); i++) assertEquals(lab.get(i).getAsInt(), p.labels()[i], label + " label " + i);
                }
            }
        }
    }

    /** The fixtures' tolerance, element-wise; also reports the largest error seen. */
    public static void close(String key, Map<String, HostTensor> ref, float[] actual) {
        close(key, ref, actual, FIXTURE);
    }

    public static void close(String key, Map<String, HostTensor> ref, float[] actual, Tolerance tol) {
        float[] expected = ref.get(key).toFloatArray();
        assertEquals(expected.length, actual.length, key + ": size");
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            worst = Math.max(worst, err);
            assertTrue(err <= tol.absolute() + tol.relative() * Math.abs(expected[i]),
                    key + "[" + i + "]: expected " + expected[i] + ", got " + actual[i]);
        }
        System.out.printf("%-40s max abs error %.3g%n", key, worst);
    }
}

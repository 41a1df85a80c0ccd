package org.clipsurgery.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Device;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Precision;
import org.clipsurgery.Redundancy;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link AbstractCudaFixtureTest} on CUDA device 0, plus the facade with {@code Device.CUDA}. */
@Tag("gpu")
class CudaFixtureGpuTest extends AbstractCudaFixtureTest {
    @BeforeAll
    static void device() {
        GpuTests.requireDevice();
    }

    @Override
    Gpu newGpu() {
        return CudaGpu.open(0);
    }

    @ParameterizedTest(name = "ViT at {0} px, fp32, facade on CUDA")
    @ValueSource(ints = {64, 96})
    void facadeMatchesTheOfficialImplementation(int resolution) throws Exception {
        Path dir = Fixtures.dir();
        Map<String, HostTensor> ref = Safetensors.read(dir.resolve("reference-vit.safetensors"));
        JsonObject json = JsonParser.parseString(Files.readString(dir.resolve("reference.json"))).getAsJsonObject();
        List<String> texts = texts(json);
        String k = "vit." + resolution + ".";
        RgbImage image = Images.read(dir.resolve("image.png"));
        try (ClipSurgery cs = ClipSurgery.open(dir.resolve("vit.pt"), new ClipSurgery.Options().optResolution(resolution)
                .optDevice(Device.CUDA).optPrecision(Precision.FP32))) {
            LabelSet labels = cs.labels(texts);
            Explanation e = cs.explain(List.of(image), labels, Redundancy.LABELS).get(0);
            assertArrayEquals(ref.get(k + "image").toFloatArray(), e.preprocessedImage(), "image");
            close(k + "surgery_image_features", ref, e.imageFeatures());
            close(k + "text_features", ref, labels.textFeatures());
            close(k + "redundant_features", ref, cs.emptyPromptFeatures());
            close(k + "similarity", ref, e.similarity());
            close(k + "similarity_redundant", ref, cs.explain(List.of(image), labels, Redundancy.EMPTY).get(0).similarity());
            if (ref.containsKey(k + "plain_image_features")) {
                close(k + "plain_image_features", ref, cs.explainPlain(image, labels).imageFeatures());
            }
            if (ref.containsKey(k + "similarity_map")) close(k + "similarity_map", ref, e.maps().values());
            JsonObject points = json.getAsJsonObject("vit").getAsJsonObject(String.valueOf(resolution));
            for (String label : texts) {
                SamPoints p = e.points(label);
                JsonArray xy = points.getAsJsonObject(label).getAsJsonArray("points");
                assertEquals(xy.size(), p.size(), label + ": number of points");
                for (int i = 0; i < xy.size(); i++) {
                    assertEquals(xy.get(i).getAsJsonArray().get(0).getAsInt(), p.x(i), label + " point " + i + " x");
                    assertEquals(xy.get(i).getAsJsonArray().get(1).getAsInt(), p.y(i), label + " point " + i + " y");
                }
            }
        }
    }
}

package consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Device;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.CudaException;
import org.clipsurgery.nativeapi.NativeCalls;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.junit.jupiter.api.Test;

/** What a user of the library gets from the two dependencies in this project's POM. */
class ConsumerTest {

    /** The fixtures must be there: a consumer check that skips would prove nothing. */
    private static Path fixtures() {
        String env = System.getenv("CLIP_SURGERY_FIXTURES");
        Path dir = Path.of(env != null && !env.isEmpty() ? env : "../../../shared/fixtures");
        assertTrue(Files.isRegularFile(dir.resolve("reference.json")), "no fixtures at " + dir.toAbsolutePath());
        return dir;
    }

    @Test
    void cliAndCudaDependenciesAreNotOnTheClassPath() {
        assertThrows(ClassNotFoundException.class, () -> Class.forName("picocli.CommandLine"),
                "picocli reached a library user");
        assertThrows(ClassNotFoundException.class, () -> Class.forName("org.bytedeco.cuda.global.cudart"),
                "org.bytedeco:cuda reached a library user");
    }

    /**
     * Without org.bytedeco:cuda, asking for the CUDA engine is a CudaException with a reason (no
     * device, no CUDA build, or the missing jars), not a NoClassDefFoundError from deep inside.
     */
    @Test
    void cudaWithoutItsJarsFailsWithAReason() {
        Path dir = fixtures();
        CudaException e = assertThrows(CudaException.class,
                () -> ClipSurgery.open(dir.resolve("vit.pt"), new ClipSurgery.Options().optDevice(Device.CUDA)).close());
        System.out.println("Device.CUDA here: " + e.getMessage());
    }

    @Test
    void nativeLibraryComesFromThePlatformJar() {
        String platform = System.getProperty("javacpp.platform");
        URL lib = ClipSurgery.class.getResource("/org/clipsurgery/nativeapi/" + platform + "/libclip_surgery.so");
        assertNotNull(lib, "libclip_surgery.so not on the class path");
        assertTrue(lib.toString().contains("-" + platform + ".jar!"), "not from the " + platform + " jar: " + lib);
        assertTrue(NativeCalls.version().matches("\\d+\\.\\d+\\.\\d+"), NativeCalls.version());
    }

    /**
     * vit.pt on the CPU: the multi-label scores of image.png for the seven labels of
     * reference.json against the official implementation's class-token similarities
     * (vit.64.similarity[0, 0, t]), within the fixtures' tolerance (1e-4 + 1e-3·|ref|).
     */
    @Test
    void scoresOfOneImageOnTheCpu() throws Exception {
        Path dir = fixtures();
        List<String> labels = new ArrayList<>();
        JsonParser.parseString(Files.readString(dir.resolve("reference.json"))).getAsJsonObject()
                .getAsJsonArray("texts").forEach(t -> labels.add(t.getAsString()));
        HostTensor ref = Safetensors.read(dir.resolve("reference-vit.safetensors")).get("vit.64.similarity");
        assertEquals(labels.size(), ref.shape()[2]);
        float[] expected = ref.toFloatArray(); // [1, N, T]: the first T values are the class token's
        try (ClipSurgery cs = ClipSurgery.open(dir.resolve("vit.pt"), new ClipSurgery.Options().optDevice(Device.CPU))) {
            LabelSet set = cs.labels(labels);
            Explanation e = cs.explain(dir.resolve("image.png"), set);
            Map<String, Float> scores = e.scores();
            assertEquals(labels, new ArrayList<>(scores.keySet()));
            for (int t = 0; t < labels.size(); t++) {
                float got = scores.get(labels.get(t));
                assertEquals(expected[t], got, 1e-4 + 1e-3 * Math.abs(expected[t]), labels.get(t));
                System.out.printf("%-14s %.6f (reference %.6f)%n", labels.get(t), got, expected[t]);
            }
        }
    }
}

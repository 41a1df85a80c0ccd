package org.clipsurgery.nativeapi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CPU twins of preprocessing, maps and point selection against the outputs of the official
 * Python implementation (../shared/fixtures): preprocessing exact, maps within the fixtures'
 * tolerance (1e-4 absolute + 1e-3 relative), SAM points exact.
 */
class FixtureKernelsNativeTest {
    private static final int IMAGE_H = 375, IMAGE_W = 500;

    @BeforeAll
    static void load() {
        NativeCalls.load();
    }

    /** The fixture image as interleaved RGB (or BGR) bytes, rows padded to {@code pitch}. */
    private static byte[] frame(boolean bgr, int pitch) throws Exception {
        BufferedImage img = ImageIO.read(Fixtures.file("image.png").toFile());
        assertEquals(IMAGE_W, img.getWidth());
        assertEquals(IMAGE_H, img.getHeight());
        byte[] out = new byte[IMAGE_H * pitch];
        for (int y = 0; y < IMAGE_H; y++) {
            for (int x = 0; x < IMAGE_W; x++) {
                int rgb = img.getRGB(x, y);
                int r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
                out[y * pitch + 3 * x] = (byte) (bgr ? b : r);
                out[y * pitch + 3 * x + 1] = (byte) g;
                out[y * pitch + 3 * x + 2] = (byte) (bgr ? r : b);
            }
        }
        return out;
    }

    @Test
    void preprocessEqualsOfficialPreprocessing() throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file("reference-vit.safetensors"));
        for (int res : new int[] {64, 96}) {
            float[] want = ref.get("vit." + res + ".image").toFloatArray();
            for (boolean bgr : new boolean[] {false, true}) {
                int pitch = 3 * IMAGE_W + (bgr ? 7 : 0); // a padded pitch on one of the two runs
                float[] got = new float[3 * res * res];
                try (FloatPointer out = new FloatPointer(got.length)) {
                    NativeCalls.check(ClipSurgeryNative.cs_preprocess_cpu(frame(bgr, pitch), IMAGE_H, IMAGE_W, pitch,
                            bgr ? ClipSurgeryNative.CS_BGR : ClipSurgeryNative.CS_RGB, res, res,
                            ClipSurgeryNative.CS_F32, out, null), "preprocess");
                    out.get(got);
                }
                for (int i = 0; i < want.length; i++) {
                    // Exact up to float rounding of the normalisation (one uint8 level is ~0.015).
                    assertEquals(want[i], got[i], 1e-5, "res " + res + (bgr ? " bgr" : " rgb") + " element " + i);
                }
            }
        }
    }

    @Test
    void mapUpsampleEqualsOfficialSimilarityMap() throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file("reference-vit.safetensors"));
        HostTensor sim = ref.get("vit.64.similarity");
        float[] want = ref.get("vit.64.similarity_map").toFloatArray(); // (1, H, W, T)
        int n = (int) sim.size(1), t = (int) sim.size(2);
        long count = (long) IMAGE_H * IMAGE_W * t;
        try (FloatPointer s = new FloatPointer(sim.toFloatArray());
                FloatPointer bhwt = new FloatPointer(count);
                FloatPointer bthw = new FloatPointer(count)) {
            NativeCalls.check(ClipSurgeryNative.cs_map_upsample_cpu(s, 1, n, t, IMAGE_H, IMAGE_W,
                    ClipSurgeryNative.CS_LAYOUT_BHWT, ClipSurgeryNative.CS_F32, bhwt, null), "map_upsample");
            NativeCalls.check(ClipSurgeryNative.cs_map_upsample_cpu(s, 1, n, t, IMAGE_H, IMAGE_W,
                    ClipSurgeryNative.CS_LAYOUT_BTHW, ClipSurgeryNative.CS_F32, bthw, null), "map_upsample");
            for (int i = 0; i < count; i++) {
                float a = bhwt.get(i);
                assertTrue(Math.abs(a - want[i]) <= 1e-4 + 1e-3 * Math.abs(want[i]),
                        "element " + i + ": expected " + want[i] + ", got " + a);
                int label = i % t, pixel = i / t;
                assertEquals(a, bthw.get((long) label * IMAGE_H * IMAGE_W + pixel), 0f, "layouts disagree");
            }
            // The label map is the argmax of the same maps; threshold 0.5 marks background 255.
            try (BytePointer labels = new BytePointer((long) IMAGE_H * IMAGE_W)) {
                NativeCalls.check(ClipSurgeryNative.cs_map_labels_cpu(s, 1, n, t, IMAGE_H, IMAGE_W, 0.5f, 255,
                        ClipSurgeryNative.CS_U8, labels, null), "map_labels");
                for (int p = 0; p < IMAGE_H * IMAGE_W; p++) {
                    int best = 0;
                    for (int l = 1; l < t; l++) {
                        if (bhwt.get((long) p * t + l) > bhwt.get((long) p * t + best)) best = l;
                    }
                    int expected = bhwt.get((long) p * t + best) >= 0.5f ? best : 255;
                    assertEquals(expected, labels.get(p) & 0xff, "pixel " + p);
                }
            }
        }
    }

    @Test
    void mapPointsEqualOfficialPoints() throws Exception {
        JsonObject json = JsonParser.parseString(Files.readString(Fixtures.file("reference.json"))).getAsJsonObject();
        List<String> texts = json.getAsJsonArray("texts").asList().stream().map(e -> e.getAsString()).toList();
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file("reference-vit.safetensors"));
        for (String res : new String[] {"64", "96"}) {
            HostTensor sim = ref.get("vit." + res + ".similarity");
            int n = (int) sim.size(1), t = (int) sim.size(2);
            int g = (int) Math.round(Math.sqrt(n - 1)), maxPoints = (g / 2) * (g / 2) / 2;
            int[] points = new int[t * maxPoints * 4], counts = new int[t];
            NativeCalls.check(ClipSurgeryNative.cs_map_points_cpu(sim.toFloatArray(), 1, n, t, IMAGE_H, IMAGE_W,
                    0.8f, maxPoints, points, counts, null), "map_points");
            for (int l = 0; l < t; l++) {
                JsonObject entry = json.getAsJsonObject("vit").getAsJsonObject(res).getAsJsonObject(texts.get(l));
                JsonArray wantPoints = entry.getAsJsonArray("points");
                JsonArray wantLabels = entry.getAsJsonArray("labels");
                assertEquals(wantPoints.size(), 2 * counts[l], "res " + res + " " + texts.get(l) + ": point count");
                for (int k = 0; k < wantPoints.size(); k++) {
                    JsonArray p = wantPoints.get(k).getAsJsonArray();
                    int base = (l * maxPoints * 2 + k) * 2;
                    String where = "res " + res + " " + texts.get(l) + " point " + k;
                    assertEquals(p.get(0).getAsInt(), points[base], where + " x");
                    assertEquals(p.get(1).getAsInt(), points[base + 1], where + " y");
                    assertEquals(k < counts[l] ? 1 : 0, wantLabels.get(k).getAsInt(), where + " label");
                }
            }
        }
    }
}

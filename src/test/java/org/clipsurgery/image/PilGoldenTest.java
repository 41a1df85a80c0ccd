package org.clipsurgery.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Compares against golden files written by Pillow itself (see {@code pil/make_golden.py} in the test
 * resources): resize outputs (of the C API's preprocessing, and of the Java reference
 * {@link PilResize}), and {@code Image.open(f).convert("RGB")} of files in many modes.
 */
class PilGoldenTest {
    private static Path resource(String name) {
        try {
            var url = PilGoldenTest.class.getResource("pil/" + name);
            assertNotNull(url, "missing test resource pil/" + name);
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void resizeEqualsPillowBitForBit() throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(resource("resize.bin"))).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[8];
        b.get(magic);
        assertEquals("PILRSZ01", new String(magic, StandardCharsets.US_ASCII));
        int n = b.getInt();
        assertTrue(n >= 10);
        for (int c = 0; c < n; c++) {
            int inW = b.getInt(), inH = b.getInt(), outW = b.getInt(), outH = b.getInt();
            byte[] in = new byte[inW * inH * 3];
            byte[] want = new byte[outW * outH * 3];
            b.get(in).get(want);
            RgbImage got = PilResize.resize(new RgbImage(inW, inH, in), outW, outH);
            String what = inW + "x" + inH + " -> " + outW + "x" + outH;
            assertTwinEqualsPillow(in, inW, inH, want, outW, outH, what);
            assertEquals(outW, got.width(), what);
            assertEquals(outH, got.height(), what);
            for (int i = 0; i < want.length; i++) {
                if (want[i] != got.data()[i]) {
                    int px = i / 3;
                    fail(what + ": pixel (" + px % outW + "," + px / outW + ") channel " + i % 3 + ": Pillow "
                            + (want[i] & 0xFF) + ", ours " + (got.data()[i] & 0xFF));
                }
            }
        }
        assertEquals(0, b.remaining());
    }

    /**
     * The C API's cs_preprocess_cpu (what the CPU engine's Preprocessor runs) on the same case: its planes
     * must be exactly Pillow's uint8 pixels normalised, i.e. ((float) u8 / 255 − mean) / std in
     * float32 (an exact uint8 resize is the only way to get every one of those values).
     */
    private static void assertTwinEqualsPillow(byte[] in, int inW, int inH, byte[] want, int outW, int outH,
            String what) {
        NativeCalls.load();
        float[] mean = {0.48145466f, 0.4578275f, 0.40821073f}, std = {0.26862954f, 0.26130258f, 0.27577711f};
        float[] got = new float[3 * outW * outH];
        try (FloatPointer out = new FloatPointer(got.length)) {
            NativeCalls.check(ClipSurgeryNative.cs_preprocess_cpu(in, inH, inW, 3L * inW, ClipSurgeryNative.CS_RGB, outH,
                    outW, ClipSurgeryNative.CS_F32, out, null), "cs_preprocess_cpu");
            out.get(got);
        }
        for (int p = 0; p < outW * outH; p++) {
            for (int c = 0; c < 3; c++) {
                float expected = ((want[p * 3 + c] & 0xFF) / 255f - mean[c]) / std[c];
                if (Float.compare(expected, got[c * outW * outH + p]) != 0) {
                    fail(what + " (cs_preprocess_cpu): pixel (" + p % outW + "," + p / outW + ") channel " + c
                            + ": Pillow " + (want[p * 3 + c] & 0xFF) + " normalised " + expected + ", ours "
                            + got[c * outW * outH + p]);
                }
            }
        }
    }

    /**
     * Every loader case. Lossless formats must be identical. JPEG pixels come from a different
     * libjpeg build (Java's IJG 6b vs Pillow's libjpeg-turbo): same integer IDCT and colour tables,
     * but chroma upsampling may differ in rounding, so JPEG allows a difference of 2 levels (0 was seen with Pillow 9.4 and JDK 17);
     * the test prints the actual maximum.
     */
    @TestFactory
    List<DynamicTest> loadersEqualPillowConvertRgb() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (String line : Files.readAllLines(resource("loaders.txt"))) {
            if (line.isBlank()) continue;
            String[] f = line.trim().split(" ");
            String name = f[0];
            String pilMode = f[1];
            int w = Integer.parseInt(f[2]), h = Integer.parseInt(f[3]);
            tests.add(DynamicTest.dynamicTest(name + " (PIL mode " + pilMode + ")", () -> {
                RgbImage got = Images.read(resource(name));
                byte[] want = Files.readAllBytes(resource(name + ".rgb"));
                assertEquals(w, got.width());
                assertEquals(h, got.height());
                int maxDiff = 0;
                for (int i = 0; i < want.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs((want[i] & 0xFF) - (got.data()[i] & 0xFF)));
                }
                System.out.printf("loader %-20s PIL mode %-5s max |ours - PIL| = %d%n", name, pilMode, maxDiff);
                int allowed = name.endsWith(".jpg") ? 2 : 0;
                assertTrue(maxDiff <= allowed, name + ": max difference " + maxDiff + " > " + allowed);
            }));
        }
        assertTrue(tests.size() >= 15);
        return tests;
    }
}

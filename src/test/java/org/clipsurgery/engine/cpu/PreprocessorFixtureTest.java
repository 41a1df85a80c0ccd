package org.clipsurgery.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import javax.imageio.ImageIO;
import java.util.Map;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.clipsurgery.weights.Safetensors;

/**
 * The preprocessed fixture image must equal the official pipeline's (PIL BICUBIC, ToTensor,
 * Normalize). A faithful port of Pillow's fixed-point resize gives identical uint8 pixels, and the
 * float32 arithmetic is done in torchvision's order, so the bound is exact equality; the assertion
 * keeps the 1e-5 the issue asks for and the message reports the actual maximum error.
 */
class PreprocessorFixtureTest {
    @ParameterizedTest
    @CsvSource({"reference-vit.safetensors, vit, 64", "reference-vit.safetensors, vit, 96",
            "reference-rn.safetensors, rn, 64", "reference-rn.safetensors, rn, 96"})
    void matchesOfficialPreprocessing(String file, String model, int res) throws IOException {
        RgbImage img = Images.read(Fixtures.file("image.png"));
        assertEquals(500, img.width());
        assertEquals(375, img.height());
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file(file));
        HostTensor t = ref.get(model + "." + res + ".image");
        assertArrayEquals(new long[] {1, 3, res, res}, t.shape());
        float[] want = t.toFloatArray();
        float[] got = Preprocessor.preprocess(img, res);
        assertEquals(want.length, got.length);
        double maxErr = 0;
        int mismatches = 0;
        for (int i = 0; i < want.length; i++) {
            double e = Math.abs((double) want[i] - got[i]);
            maxErr = Math.max(maxErr, e);
            if (want[i] != got[i]) mismatches++;
        }
        System.out.printf("%s.%d.image: max abs error %.3g, %d of %d values not bit-identical%n",
                model, res, maxErr, mismatches, want.length);
        assertTrue(maxErr <= 1e-5, "max abs error " + maxErr);
    }

    /** The BufferedImage and raw-frame entry points give the same pixels as reading the file. */
    @Test
    void otherEntryPointsGiveTheSamePixels() throws IOException {
        RgbImage file = Images.read(Fixtures.file("image.png"));
        RgbImage viaBuffered = Images.fromBufferedImage(ImageIO.read(Fixtures.file("image.png").toFile()));
        assertArrayEquals(file.data(), viaBuffered.data());
        int w = file.width(), h = file.height(), stride = w * 3 + 7;
        byte[] bgr = new byte[3 + stride * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int c = 0; c < 3; c++) bgr[3 + y * stride + x * 3 + 2 - c] = (byte) file.get(x, y, c);
            }
        }
        assertArrayEquals(file.data(), Images.fromBgrFrame(bgr, 3, w, h, stride).data());
    }
}

package org.clipsurgery.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.clipsurgery.engine.Frame;
import org.junit.jupiter.api.Test;
import org.clipsurgery.image.RgbImage;

class PreprocessorTest {
    @Test
    void layoutIsNchwAndArithmeticIsTorchvisions() {
        int r = 5;
        byte[] d = new byte[r * r * 3];
        for (int i = 0; i < r * r; i++) {
            d[i * 3] = (byte) 255;
            d[i * 3 + 1] = 0;
            d[i * 3 + 2] = (byte) 128;
        }
        float[] x = Preprocessor.preprocess(new RgbImage(r, r, d), r);
        assertEquals(3 * r * r, x.length);
        for (int i = 0; i < r * r; i++) {
            assertEquals((1f - 0.48145466f) / 0.26862954f, x[i]);
            assertEquals((0f - 0.4578275f) / 0.26130258f, x[r * r + i]);
            assertEquals((128 / 255f - 0.40821073f) / 0.27577711f, x[2 * r * r + i]);
        }
        // Close to the double-precision values (float32 rounding only).
        assertEquals((1 - 0.48145466) / 0.26862954, x[0], 1e-6);
        assertEquals((128 / 255.0 - 0.40821073) / 0.27577711, x[2 * r * r], 1e-6);
    }

    @Test
    void aBgrFrameIsReadAsItsOrderSays() {
        byte[] rgb = new byte[7 * 3 * 3];
        for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) (i * 37);
        byte[] bgr = new byte[rgb.length];
        for (int i = 0; i < rgb.length; i += 3) {
            bgr[i] = rgb[i + 2];
            bgr[i + 1] = rgb[i + 1];
            bgr[i + 2] = rgb[i];
        }
        float[] fromBgr = new float[3 * 16];
        Preprocessor.preprocessInto(new Frame(bgr, 3, 7, true), 4, fromBgr, 0);
        assertArrayEquals(Preprocessor.preprocess(new RgbImage(7, 3, rgb), 4), fromBgr);
    }

    @Test
    void rejectsBadArguments() {
        RgbImage a = new RgbImage(2, 2, new byte[12]);
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.preprocess(a, 0));
        Frame f = new Frame(new byte[12], 2, 2, false);
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.preprocessInto(f, 4, new float[47], 0));
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.preprocessInto(f, 4, new float[48], 1));
    }
}

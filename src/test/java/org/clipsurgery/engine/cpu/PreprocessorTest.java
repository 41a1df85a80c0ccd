package org.clipsurgery.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
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
    void batchStacksImagesOfDifferentSizes() {
        RgbImage a = new RgbImage(7, 3, new byte[7 * 3 * 3]);
        byte[] wd = new byte[2 * 9 * 3];
        java.util.Arrays.fill(wd, (byte) 200);
        RgbImage b = new RgbImage(2, 9, wd);
        float[] batch = Preprocessor.preprocessBatch(List.of(a, b), 4);
        float[] fa = Preprocessor.preprocess(a, 4);
        float[] fb = Preprocessor.preprocess(b, 4);
        assertEquals(2 * 3 * 16, batch.length);
        for (int i = 0; i < fa.length; i++) {
            assertEquals(fa[i], batch[i]);
            assertEquals(fb[i], batch[fa.length + i]);
        }
    }

    @Test
    void rejectsBadArguments() {
        RgbImage a = new RgbImage(2, 2, new byte[12]);
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.preprocess(a, 0));
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.preprocessBatch(List.of(), 4));
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.preprocessInto(a, 4, new float[47], 0));
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.preprocessInto(a, 4, new float[48], 1));
    }
}

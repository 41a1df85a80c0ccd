package org.clipsurgery.image;

import java.util.List;

/**
 * CLIP's image preprocessing as CLIP Surgery uses it: resize to r×r with PIL's BICUBIC (aspect ratio
 * not kept, no crop), then torchvision's {@code ToTensor()} and {@code Normalize(mean, std)}.
 *
 * <p>The arithmetic follows torchvision's float32 order so the result matches it bit for bit:
 * {@code x = (float) u8 / 255f} (ToTensor divides a float32 tensor by 255), then
 * {@code (x - mean_c) / std_c} with mean and std as float32 (Normalize's {@code sub_} then
 * {@code div_}). Java float arithmetic is IEEE single precision with round-to-nearest, as PyTorch's
 * CPU kernels for these element-wise ops.
 *
 * <pre>{@code
 * RgbImage img = Images.read(Path.of("cat.jpg"));
 * float[] x = Preprocessor.preprocess(img, 224);   // [1, 3, 224, 224], NCHW
 * }</pre>
 */
public final class Preprocessor {
    /** CLIP's per-channel mean (R, G, B), as OpenAI's clip.py writes it. */
    public static final float[] MEAN = {0.48145466f, 0.4578275f, 0.40821073f};
    /** CLIP's per-channel standard deviation (R, G, B). */
    public static final float[] STD = {0.26862954f, 0.26130258f, 0.27577711f};

    private Preprocessor() {}

    /** One image as a float NCHW tensor [1, 3, r, r] (row-major). */
    public static float[] preprocess(RgbImage image, int resolution) {
        float[] out = new float[3 * resolution * resolution];
        preprocessInto(image, resolution, out, 0);
        return out;
    }

    /** A batch as one float NCHW tensor [B, 3, r, r]. */
    public static float[] preprocessBatch(List<RgbImage> images, int resolution) {
        if (images.isEmpty()) throw new IllegalArgumentException("empty batch");
        int per = checkResolution(resolution);
        if ((long) per * images.size() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("batch of " + images.size() + " at " + resolution + " px is too large");
        }
        float[] out = new float[per * images.size()];
        for (int b = 0; b < images.size(); b++) {
            preprocessInto(images.get(b), resolution, out, b * per);
        }
        return out;
    }

    /**
     * Writes the [3, r, r] tensor of {@code image} into {@code out} from {@code offset}.
     *
     * @throws IllegalArgumentException for a non-positive resolution or a too-small output
     */
    public static void preprocessInto(RgbImage image, int resolution, float[] out, int offset) {
        int per = checkResolution(resolution);
        if (offset < 0 || (long) offset + per > out.length) {
            throw new IllegalArgumentException("output of " + out.length + " floats has no room for "
                    + per + " at offset " + offset);
        }
        RgbImage r = PilResize.resize(image, resolution, resolution);
        normalizeInto(r, out, offset);
    }

    /** ToTensor + Normalize of an image already at its final size, written as [3, h, w]. */
    public static void normalizeInto(RgbImage image, float[] out, int offset) {
        int plane = image.width() * image.height();
        byte[] d = image.data();
        for (int c = 0; c < 3; c++) {
            float mean = MEAN[c];
            float std = STD[c];
            int o = offset + c * plane;
            for (int i = 0; i < plane; i++) {
                float x = (d[i * 3 + c] & 0xFF) / 255f;
                out[o + i] = (x - mean) / std;
            }
        }
    }

    private static int checkResolution(int resolution) {
        if (resolution <= 0 || resolution > 16384) {
            throw new IllegalArgumentException("resolution must be in 1..16384, got " + resolution);
        }
        return 3 * resolution * resolution;
    }
}

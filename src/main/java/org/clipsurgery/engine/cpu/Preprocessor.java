package org.clipsurgery.engine.cpu;

import org.bytedeco.javacpp.FloatPointer;
import org.clipsurgery.engine.Frame;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;

/**
 * CLIP's image preprocessing as CLIP Surgery uses it: resize to r×r with PIL's BICUBIC (aspect ratio
 * not kept, no crop), then torchvision's {@code ToTensor()} and {@code Normalize(mean, std)}.
 *
 * <p>{@link #preprocessInto} is the C API's {@code cs_preprocess_cpu} (include/clip_surgery.h):
 * Pillow's uint8 resize exactly, then the normalisation below, the same contract as the CUDA
 * engine's {@code cs_preprocess_cuda}. Sides up to 32768 pixels (the C API's bound).
 *
 * <p>The normalisation follows torchvision's float32 order so the result matches it bit for bit:
 * {@code x = (float) u8 / 255f} (ToTensor divides a float32 tensor by 255), then
 * {@code (x - mean_c) / std_c} with CLIP's mean (0.48145466, 0.4578275, 0.40821073) and std
 * (0.26862954, 0.26130258, 0.27577711) as float32 (Normalize's {@code sub_} then {@code div_}).
 * A failure of the C API (an image side over its bound) is a
 * {@link org.clipsurgery.nativeapi.NativeException}.
 *
 * <pre>{@code
 * RgbImage img = Images.read(Path.of("cat.jpg"));
 * float[] x = Preprocessor.preprocess(img, 224);   // [1, 3, 224, 224], NCHW
 * }</pre>
 */
public final class Preprocessor {
    private Preprocessor() {}

    /** One image as a float NCHW tensor [1, 3, r, r] (row-major). */
    public static float[] preprocess(RgbImage image, int resolution) {
        float[] out = new float[checkResolution(resolution)];
        preprocessInto(new Frame(image.data(), image.height(), image.width(), false), resolution, out, 0);
        return out;
    }

    /** One frame (RGB or BGR, as it says) into {@code out} [3, r, r] at {@code offset}. */
    public static void preprocessInto(Frame frame, int resolution, float[] out, int offset) {
        int per = checkResolution(resolution);
        if (offset < 0 || (long) offset + per > out.length) {
            throw new IllegalArgumentException("output of " + out.length + " floats has no room for "
                    + per + " at offset " + offset);
        }
        NativeCalls.load();
        try (FloatPointer o = new FloatPointer(per)) {
            NativeCalls.check(ClipSurgeryNative.cs_preprocess_cpu(frame.data(), frame.height(), frame.width(),
                    3L * frame.width(), frame.bgr() ? ClipSurgeryNative.CS_BGR : ClipSurgeryNative.CS_RGB, resolution, resolution,
                    ClipSurgeryNative.CS_F32, o, null), "cs_preprocess_cpu");
            o.get(out, offset, per);
        }
    }

    private static int checkResolution(int resolution) {
        if (resolution <= 0 || resolution > 16384) {
            throw new IllegalArgumentException("resolution must be in 1..16384, got " + resolution);
        }
        return 3 * resolution * resolution;
    }
}

package org.clipsurgery;

/**
 * Arithmetic precision of the image and text encoders, chosen once per model with
 * {@link ClipSurgery.Options#optPrecision}. The CPU engine computes in {@link #FP32} only; the
 * CUDA engine has all three and defaults to {@link #FP16}. On CUDA, softmax, layer norms and
 * matrix-product accumulation are fp32 in every precision, and whatever comes back to Java
 * (similarity, maps, features, text features) is fp32.
 */
public enum Precision {
    /** 32-bit floats: the only precision of {@link Device#CPU}, and the closest to the reference. */
    FP32,
    /** IEEE half precision: the default on {@link Device#CUDA}; refused on the CPU. */
    FP16,
    /** bfloat16 (8-bit exponent, 7-bit mantissa): {@link Device#CUDA} only; refused on the CPU. */
    BF16
}

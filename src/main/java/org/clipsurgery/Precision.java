package org.clipsurgery;

/**
 * Arithmetic precision of the image and text encoders, chosen once per model with
 * {@link ClipSurgery.Options#optPrecision}. The CPU engine computes in {@link #FP32} (default) and
 * {@link #BF16}; the CUDA engine has all three and defaults to {@link #FP16}. Softmax, layer norms
 * and matrix-product accumulation are fp32 in every precision, and whatever comes back to Java
 * (similarity, maps, features, text features) is fp32.
 */
public enum Precision {
    /** 32-bit floats: the default of {@link Device#CPU}, and the closest to the reference. */
    FP32,
    /** IEEE half precision: the default on {@link Device#CUDA}; refused on the CPU. */
    FP16,
    /**
     * bfloat16 (8-bit exponent, 7-bit mantissa). On {@link Device#CPU} the matrix products (linear
     * layers, projections, convolutions, attention) take bf16 operands, as PyTorch's CPU autocast
     * does; offered only where the CPU has native bf16 dot products (AVX512-BF16 or AMX on x86-64,
     * BF16 on Arm), since LibTorch's software bf16 elsewhere is slower than fp32.
     */
    BF16
}

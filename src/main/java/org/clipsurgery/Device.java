package org.clipsurgery;

/**
 * Where a model runs, chosen once per model with {@link ClipSurgery.Options#optDevice}. Both
 * devices compute the same outputs by the same rules; they differ in precision, in speed, and in
 * where the outputs of an explanation live (see {@link ClipSurgery} and {@link Explanation}).
 */
public enum Device {
    /**
     * LibTorch on the CPU, in fp32, or in bf16 on CPUs with native bf16 dot products (see
     * {@link Precision#BF16}). Every explanation holds its similarity, image features
     * and preprocessed pixels on the Java heap. Threads: {@link ClipSurgery#setCpuThreads}.
     */
    CPU,
    /**
     * The project's CUDA engine on the first visible GPU (device 0), fp16 by default: needs an
     * NVIDIA driver for CUDA 13, a native library built with nvcc and the optional CUDA
     * runtime jars of JavaCPP's presets; opening a model fails with a {@link CudaException}
     * naming what is missing otherwise. Only the similarity comes back to the host with each
     * explanation; the other outputs are downloaded when first read.
     */
    CUDA
}

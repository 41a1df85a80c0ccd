package org.clipsurgery.engine.cuda;

import org.bytedeco.javacpp.Pointer;
import org.clipsurgery.weights.DType;

/**
 * Everything the CUDA backend asks of a device, in one place: memory, copies, GEMMs, the
 * project's kernels and graph capture, all ordered on one stream.
 *
 * <p>{@link CudaGpu} is the device: the CUDA runtime, cuBLAS and the {@code cs_*_cuda} kernels.
 * The tests also run {@link CudaOps} and {@link CudaEngine} over a host emulation of this
 * interface (the same calls on host memory, with the {@code cs_*_cpu} twins and a plain GEMM),
 * so that everything above it — shapes, strides, GEMM arguments, buffer reuse, what a captured
 * graph contains — is checked against the fixtures on machines without a GPU. That emulation
 * says nothing about the kernels themselves: those are checked against their twins on a GPU
 * (tests/test_native.cpp).
 *
 * <p>Addresses are plain {@code long}s: device memory for {@code malloc}'s, host memory for
 * {@code mallocHost}'s and for the host side of {@link Copy#TO_DEVICE} and {@link Copy#TO_HOST}.
 * Stream-ordered calls return before the work is done; {@link #synchronize()} waits.
 * Not thread-safe: one thread at a time.
 */
interface Gpu extends AutoCloseable {
    /** Direction of a copy. */
    enum Copy {
        TO_DEVICE, TO_HOST, ON_DEVICE
    }

    /**
     * One of the project's kernels, as its {@code _cpu}/{@code _cuda} pair: {@code run(false, stream)}
     * calls the CUDA entry point on the stream, {@code run(true, null)} the CPU twin (which then
     * must be given host addresses). Returns the cs_status.
     */
    @FunctionalInterface
    interface Kernel {
        int run(boolean host, Pointer stream);
    }

    /** A captured sequence of stream work, replayable. */
    interface Graph extends AutoCloseable {
        /** Enqueues one replay. */
        void launch();

        @Override
        void close();
    }

    /** Device memory; never during capture. {@code what} names it in error messages. */
    long malloc(long bytes, String what);

    void free(long address);

    /** Page-locked host memory (fast and asynchronous copies); freed with {@link #freeHost}. */
    long mallocHost(long bytes, String what);

    void freeHost(long address);

    /** Makes this device current on the calling thread. */
    void makeCurrent();

    void copy(long dst, long src, long bytes, Copy kind);

    /** {@code height} rows of {@code width} bytes, rows {@code dpitch} / {@code spitch} apart. */
    void copy2d(long dst, long dpitch, long src, long spitch, long width, long height, Copy kind);

    void memset(long dst, int value, long bytes);

    /**
     * Device memory that nothing reads again before writing it: a workspace region given back.
     * The device does nothing; the host emulation fills it with NaN bytes in stream order, so
     * that a read of released memory shows in the results.
     */
    void discard(long address, long bytes);

    /**
     * cublasGemmEx semantics (column-major, fp32 accumulation, alpha 1, beta 0): C (m×n, leading
     * dimension ldc) = op(A) · op(B), op(A) m×k, op(B) k×n; A, B and C all of {@code type}.
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k, long a, int lda, long b, int ldb, long c, int ldc,
            DType type);

    /** Enqueues one of the project's kernels; {@code name} (e.g. "cs_layer_norm") is for messages. */
    void kernel(String name, Kernel kernel);

    /** Waits for all enqueued work; throws if any of it failed. Not during capture. */
    void synchronize();

    /** From now on stream work is recorded, not run, until {@link #endCapture}. */
    void beginCapture();

    /** Ends the capture; {@code failed}: the caller is throwing, discard what was recorded. */
    Graph endCapture(boolean failed);

    boolean capturing();

    /** Device milliseconds that the work {@code enqueue} puts on the stream takes (waits for it). */
    double elapsedMs(Runnable enqueue);

    /** A name for tables and messages, e.g. "NVIDIA H100 80GB HBM3". */
    String name();

    /** Device memory in use on the device (all processes), in bytes. */
    long memoryUsed();

    @Override
    void close();
}

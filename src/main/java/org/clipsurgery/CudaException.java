package org.clipsurgery;

/**
 * A failure of the CUDA engine, with the {@link Kind} a caller can act on: no device, a driver too
 * old for CUDA 13, CUDA libraries that cannot be loaded, out of device memory, or another error
 * the CUDA runtime, cuBLAS or a kernel reported (the message names the call).
 */
public class CudaException extends RuntimeException {
    /** What went wrong, coarsely. */
    public enum Kind {
        /** No CUDA device is visible (none installed, or CUDA_VISIBLE_DEVICES hides them). */
        NO_DEVICE,
        /** The driver is older than the CUDA 13 runtime this engine is built for. */
        OLD_DRIVER,
        /** libcudart / libcublas (CUDA 13) or their JavaCPP glue could not be loaded. */
        MISSING_LIBRARIES,
        /** The native library was compiled without its CUDA kernels (no nvcc at build time). */
        NOT_BUILT,
        /** A device allocation failed. */
        OUT_OF_MEMORY,
        /** Any other error reported by CUDA, cuBLAS or a kernel. */
        CUDA_ERROR
    }

    /** What went wrong (part of the serialised form, as for every exception). */
    private final Kind kind;

    /**
     * A failure without an underlying exception.
     *
     * @param kind what went wrong
     * @param message what, in words, naming the failing call
     */
    public CudaException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    /**
     * A failure caused by another exception.
     *
     * @param kind what went wrong
     * @param message what, in words, naming the failing call
     * @param cause the underlying failure (e.g. a library that did not load)
     */
    public CudaException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    /**
     * What went wrong.
     *
     * @return the kind of failure, coarsely
     */
    public Kind kind() {
        return kind;
    }
}

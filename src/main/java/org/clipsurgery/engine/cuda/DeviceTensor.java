package org.clipsurgery.engine.cuda;

import java.util.Arrays;
import org.clipsurgery.weights.DType;

/**
 * A dense row-major tensor in device memory: an address, a shape and an element type (F32, F16,
 * BF16 or I32). It does not own its memory: weights and constants belong to their
 * {@link CudaOps}, intermediates to the {@link DeviceArena} scope they were made in.
 *
 * <p>Two pieces of deferred state let {@link CudaOps} fuse work without changing the
 * {@link org.clipsurgery.graph.Ops} contract:
 * <ul>
 *   <li>a pending bias: the result of a linear layer whose fp32 bias has not been added yet
 *       (the consumer adds it in its own kernel — residual add, bias+QuickGELU — or, when it
 *       cannot, the tensor is completed in place first);</li>
 *   <li>channels-last memory: an image-shaped (B, C, H, W) tensor — a convolution's output, and
 *       what the ResNet encoder computes from it — stored as (B, H, W, C), the layout a GEMM
 *       produces, so that {@code gridToTokens} is free. {@link #rows()} and {@link #cols()}
 *       then see it as (B·H·W, C).</li>
 * </ul>
 */
public final class DeviceTensor {
    private final long address;
    private final long[] shape;
    private final DType dtype;
    DeviceTensor pendingBias;
    final boolean channelsLast;

    DeviceTensor(long address, long[] shape, DType dtype, boolean channelsLast) {
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16 && dtype != DType.I32) {
            throw new IllegalArgumentException("device tensors are F32, F16, BF16 or I32, not " + dtype);
        }
        this.address = address;
        this.shape = shape.clone();
        this.dtype = dtype;
        if (channelsLast && shape.length != 4) throw new IllegalArgumentException("channels-last tensors are (B, C, H, W)");
        this.channelsLast = channelsLast;
    }

    DeviceTensor(long address, long[] shape, DType dtype) {
        this(address, shape, dtype, false);
    }

    /** The device address of element 0 (valid while its owner lives; see the class comment). */
    public long address() {
        return address;
    }

    public long[] shape() {
        return shape.clone();
    }

    long dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    int rank() {
        return shape.length;
    }

    public DType dtype() {
        return dtype;
    }

    public long numel() {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }

    public long bytes() {
        return numel() * dtype.size();
    }

    /** Rows when seen as a matrix in memory: all dimensions but the innermost. */
    long rows() {
        return numel() / cols();
    }

    /** The innermost dimension in memory: the last one, or C for a channels-last (B, C, H, W). */
    long cols() {
        return channelsLast ? shape[1] : shape[shape.length - 1];
    }

    /** A dense view of the same memory (in its memory order) with another shape, same element count. */
    DeviceTensor view(long... newShape) {
        long n = 1;
        for (long s : newShape) n *= s;
        if (n != numel()) {
            throw new IllegalArgumentException("cannot view " + Arrays.toString(shape) + " as " + Arrays.toString(newShape));
        }
        // A view of a tensor whose bias is still pending would let the bias be added twice.
        if (pendingBias != null) throw new IllegalStateException("internal: view of a tensor with a pending bias");
        return new DeviceTensor(address, newShape, dtype);
    }

    @Override
    public String toString() {
        return "DeviceTensor" + Arrays.toString(shape) + " " + dtype + (channelsLast ? " channels-last" : "") + " @0x"
                + Long.toHexString(address) + (pendingBias != null ? " (+bias pending)" : "");
    }
}

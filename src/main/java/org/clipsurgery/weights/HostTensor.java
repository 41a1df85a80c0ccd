package org.clipsurgery.weights;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A dense, row-major tensor in host memory: dtype, shape and little-endian bytes. The buffer may
 * be a read-only view of a memory-mapped file; this class never writes to it.
 */
public final class HostTensor {
    private final DType dtype;
    private final long[] shape;
    private final ByteBuffer data;

    /** {@code data} must hold exactly numel·dtype.size bytes from its position to its limit. */
    public HostTensor(DType dtype, long[] shape, ByteBuffer data) {
        this.dtype = dtype;
        this.shape = shape.clone();
        long n = numel(shape);
        if (data.remaining() != n * dtype.size()) {
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " "
                    + dtype + " needs " + n * dtype.size() + " bytes, got " + data.remaining());
        }
        this.data = data.slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    public static HostTensor ofFloats(float[] values, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return new HostTensor(DType.F32, shape, b);
    }

    public DType dtype() {
        return dtype;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int dim() {
        return shape.length;
    }

    public long size(int d) {
        return shape[d < 0 ? shape.length + d : d];
    }

    public long numel() {
        return numel(shape);
    }

    /** A read-only little-endian view of the bytes (position 0). */
    public ByteBuffer data() {
        return data.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Element {@code i} (flat index) converted to float. */
    public float getFloat(long i) {
        int at = Math.toIntExact(i * dtype.size());
        return switch (dtype) {
            case F32 -> data.getFloat(at);
            case F16 -> Half.toFloat(data.getShort(at));
            case BF16 -> Half.bf16ToFloat(data.getShort(at));
            case F64 -> (float) data.getDouble(at);
            case I64 -> data.getLong(at);
            case I32 -> data.getInt(at);
            case U8 -> data.get(at) & 0xff;
        };
    }

    /** All elements as floats (a copy). */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(numel())];
        if (dtype == DType.F32) {
            data().asFloatBuffer().get(out);
        } else {
            for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        }
        return out;
    }

    /** This tensor converted to fp32 (itself if already fp32). */
    public HostTensor toF32() {
        return dtype == DType.F32 ? this : ofFloats(toFloatArray(), shape);
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) n = Math.multiplyExact(n, s);
        return n;
    }

    @Override
    public String toString() {
        return dtype + Arrays.toString(shape);
    }
}

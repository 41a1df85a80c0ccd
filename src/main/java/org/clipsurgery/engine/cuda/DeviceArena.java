package org.clipsurgery.engine.cuda;

import java.util.ArrayList;
import java.util.List;
import org.clipsurgery.CudaException;

/**
 * A bump allocator over device memory for a forward's intermediates. Memory comes in chunks that
 * are never given back before {@link #close()}; {@link #mark()} and {@link #reset(long)} release
 * everything allocated after a mark at once (what {@code Ops.scope()} closes).
 *
 * <p>Allocation is deterministic: the same sequence of requests after the same mark gets the same
 * addresses. That is what makes CUDA-graph capture work: a forward run once eagerly (which grows
 * the arena as needed) and then again under capture uses the same memory, and the captured graph
 * may be replayed as long as the arena lives. A request during capture that does not fit throws,
 * since cudaMalloc is not allowed there (it cannot happen after an eager run of the same shapes).
 *
 * <p>Not thread-safe: one arena per engine, used from one thread at a time.
 */
final class DeviceArena implements AutoCloseable {
    static final long ALIGN = 256;
    private final Gpu gpu;
    private final long chunkBytes;
    private final List<long[]> chunks = new ArrayList<>(); // {address, size}
    private int chunk;       // current chunk index
    private long offset;     // bytes used in the current chunk
    private long peak;
    private int touched = -1; // highest chunk index allocated from since resetTouched()
    private int pinned = -1;  // chunks 0..pinned are used by captured CUDA graphs: never trimmed

    DeviceArena(Gpu gpu, long chunkBytes) {
        this.gpu = gpu;
        this.chunkBytes = chunkBytes;
    }

    long allocate(long bytes) {
        long need = Math.max(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
        while (chunk < chunks.size()) {
            long[] c = chunks.get(chunk);
            if (offset + need <= c[1]) {
                long a = c[0] + offset;
                offset += need;
                touched = Math.max(touched, chunk);
                peak = Math.max(peak, used());
                return a;
            }
            chunk++;
            offset = 0;
        }
        if (gpu.capturing()) {
            throw new CudaException(CudaException.Kind.CUDA_ERROR, "internal: the arena must grow during CUDA-graph "
                    + "capture (" + need + " bytes); the eager warm-up run should have sized it");
        }
        long size = Math.max(chunkBytes, need);
        long address = gpu.malloc(size, "the workspace");
        chunks.add(new long[] {address, size});
        chunk = chunks.size() - 1;
        offset = need;
        touched = Math.max(touched, chunk);
        peak = Math.max(peak, used());
        return address;
    }

    /** The current position, for {@link #reset}. */
    long mark() {
        return ((long) chunk << 40) | offset;
    }

    void reset(long mark) {
        int c = (int) (mark >>> 40);
        long off = mark & ((1L << 40) - 1);
        // tell the device what is released: [mark, current position), chunk by chunk
        for (int i = c; i <= chunk && i < chunks.size(); i++) {
            long from = i == c ? off : 0, to = i == chunk ? offset : chunks.get(i)[1];
            if (to > from) gpu.discard(chunks.get(i)[0] + from, to - from);
        }
        chunk = c;
        offset = off;
    }

    void resetTouched() {
        touched = -1;
    }

    /** Keeps every chunk touched since {@link #resetTouched()} (a captured graph uses them). */
    void pinTouched() {
        pinned = Math.max(pinned, touched);
    }

    /**
     * Gives back chunks past the current position that no captured graph uses, when more than
     * {@code keepBytes} are reserved (a large text batch can grow the arena by gigabytes once).
     */
    void trim(long keepBytes) {
        if (gpu.capturing() || reserved() <= keepBytes) return;
        int keep = Math.max(pinned, chunk);
        for (int i = chunks.size() - 1; i > keep; i--) {
            gpu.free(chunks.get(i)[0]);
            chunks.remove(i);
        }
    }

    /** Bytes in use up to the current position. */
    long used() {
        long u = 0;
        for (int i = 0; i < chunk && i < chunks.size(); i++) u += chunks.get(i)[1];
        return u + offset;
    }

    /** Bytes reserved from the device. */
    long reserved() {
        long r = 0;
        for (long[] c : chunks) r += c[1];
        return r;
    }

    long peak() {
        return peak;
    }

    @Override
    public void close() {
        for (long[] c : chunks) gpu.free(c[0]);
        chunks.clear();
        chunk = 0;
        offset = 0;
    }
}

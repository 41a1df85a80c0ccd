package org.clipsurgery.engine.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;
import org.clipsurgery.CudaException;
import org.clipsurgery.nativeapi.NativeCalls;
import org.clipsurgery.weights.DType;
import org.clipsurgery.weights.Half;

/**
 * A host emulation of {@link Gpu} for tests: "device" memory is host memory, the GEMM is a plain
 * loop with cuBLAS's column-major arguments, and kernels are the {@code cs_*_cpu} twins or, in the
 * test run with the SIMT emulation's library ({@link EmulatedKernels}), the real {@code cs_*_cuda}
 * kernels executed on the CPU.
 *
 * <p>The stream is asynchronous as a real one: work is queued and runs, in order, only when the
 * caller synchronises (or frees memory, which synchronises in CUDA too), so reading a result
 * without waiting for it reads stale memory here as it would on a GPU. Copies follow CUDA's rules
 * for pageable host memory: the source of a copy to the device is read at the call, a copy to
 * pageable host memory completes before the call returns; copies to and from page-locked memory
 * ({@link #mallocHost}) are queued like any other work. While capturing, work is recorded and
 * runs on each replay.
 *
 * <p>It checks what a GPU would refuse or what would be wrong there: copies and GEMM operands
 * must lie inside memory of the right kind (device memory on the device side, not host memory),
 * nothing may allocate or synchronise during capture, and fresh allocations and released
 * workspace ({@link #discard}) are filled with NaN bytes so that reading memory nobody wrote, or
 * memory given back, shows up in the results.
 */
final class HostGpu implements Gpu {
    /** 0xFF bytes: NaN in fp32, fp16 and bf16. */
    private static final int POISON = 0xFF;

    private final TreeMap<Long, Long> device = new TreeMap<>(); // address → bytes
    private final TreeMap<Long, Long> pinned = new TreeMap<>();
    private final Map<Long, Pointer> owners = new java.util.HashMap<>();
    private List<Runnable> recording;
    private final List<Runnable> stream = new ArrayList<>(); // queued work, run by synchronize()
    private long graphsLaunched;
    /** Bytes of each host↔device copy since {@link #resetTransfers}, by direction, in call order. */
    private final Map<Copy, List<Long>> transfers = new java.util.EnumMap<>(Copy.class);
    private int leakedAtClose = -1;

    private final boolean emulatedKernels;

    HostGpu() {
        NativeCalls.load();
        emulatedKernels = EmulatedKernels.active();
    }

    /** Whether {@link #kernel} runs the real CUDA kernels (on the SIMT emulation) rather than the CPU twins. */
    boolean runsCudaKernels() {
        return emulatedKernels;
    }

    private long allocate(TreeMap<Long, Long> into, long bytes) {
        Pointer p = Pointer.malloc(Math.max(1, bytes));
        if (p == null || p.isNull()) throw new CudaException(CudaException.Kind.OUT_OF_MEMORY, "host emulation: malloc(" + bytes + ")");
        Pointer.memset(p, POISON, Math.max(1, bytes));
        into.put(p.address(), Math.max(1, bytes));
        owners.put(p.address(), p);
        return p.address();
    }

    private void release(TreeMap<Long, Long> from, long address, String what) {
        if (address == 0) return;
        if (from.remove(address) == null) throw new IllegalStateException("host emulation: " + what + " of an unknown address");
        Pointer.free(owners.remove(address));
    }

    @Override
    public long malloc(long bytes, String what) {
        if (recording != null) throw new IllegalStateException("internal: malloc during capture (" + what + ")");
        if (bytes > (1L << 40)) {
            throw new CudaException(CudaException.Kind.OUT_OF_MEMORY, "cudaMalloc(" + bytes + " bytes) for " + what + ": out of memory");
        }
        return allocate(device, bytes);
    }

    @Override
    public void free(long address) {
        synchronize(); // cudaFree waits for the device
        release(device, address, "free");
    }

    @Override
    public long mallocHost(long bytes, String what) {
        return allocate(pinned, bytes);
    }

    @Override
    public void freeHost(long address) {
        synchronize(); // so does cudaFreeHost
        release(pinned, address, "freeHost");
    }

    @Override
    public void makeCurrent() {}

    /** Throws unless [address, address + bytes) lies inside one allocation of {@code in}. */
    private static void within(TreeMap<Long, Long> in, long address, long bytes, String what) {
        Map.Entry<Long, Long> e = in.floorEntry(address);
        if (e == null || address + bytes > e.getKey() + e.getValue()) {
            throw new IllegalStateException("host emulation: " + what + " [0x" + Long.toHexString(address) + ", +" + bytes
                    + ") is outside every allocation of its kind");
        }
    }

    /** Queues stream work, or records it while capturing. */
    private void enqueue(Runnable work) {
        if (recording != null) recording.add(work);
        else stream.add(work);
    }

    private boolean isPinned(long address) {
        return contains(pinned, address);
    }

    /** Whether one allocation of {@code in} holds the byte at {@code address}. */
    private static boolean contains(TreeMap<Long, Long> in, long address) {
        Map.Entry<Long, Long> e = in.floorEntry(address);
        return e != null && address < e.getKey() + e.getValue();
    }

    @Override
    public void copy(long dst, long src, long bytes, Copy kind) {
        copy2d(dst, bytes, src, bytes, bytes, 1, kind);
    }

    @Override
    public void copy2d(long dst, long dpitch, long src, long spitch, long width, long height, Copy kind) {
        if (width == 0 || height == 0) return;
        transfers.computeIfAbsent(kind, k -> new ArrayList<>()).add(width * height);
        if (width > dpitch || width > spitch) throw new IllegalArgumentException("copy2d: width " + width + " exceeds a pitch");
        long dstExtent = dpitch * (height - 1) + width, srcExtent = spitch * (height - 1) + width;
        if (kind != Copy.TO_HOST) within(device, dst, dstExtent, kind + " copy destination");
        if (kind != Copy.TO_DEVICE) within(device, src, srcExtent, kind + " copy source");
        if (kind == Copy.TO_HOST && isDevice(dst)) throw new IllegalStateException("host emulation: TO_HOST copy into device memory");
        if (kind == Copy.TO_DEVICE && isDevice(src)) throw new IllegalStateException("host emulation: TO_DEVICE copy from device memory");
        // the host side in page-locked memory must stay inside its allocation (pageable memory is the caller's)
        if (kind == Copy.TO_HOST && isPinned(dst)) within(pinned, dst, dstExtent, "TO_HOST copy destination (page-locked)");
        if (kind == Copy.TO_DEVICE && isPinned(src)) within(pinned, src, srcExtent, "TO_DEVICE copy source (page-locked)");
        long from = src, pitch = spitch;
        if (kind == Copy.TO_DEVICE && !isPinned(src)) {
            // pageable source: CUDA stages it before returning, so the caller may reuse it at once
            if (recording != null) throw new IllegalStateException("host emulation: copy from pageable memory during capture");
            Pointer staged = Pointer.malloc(width * height);
            for (long r = 0; r < height; r++) {
                Pointer.memcpy(DevicePointer.of(staged.address() + r * width), DevicePointer.of(src + r * spitch), width);
            }
            owners.put(staged.address(), staged);
            from = staged.address();
            pitch = width;
        }
        long source = from, sourcePitch = pitch;
        Runnable work = () -> {
            for (long r = 0; r < height; r++) {
                Pointer.memcpy(DevicePointer.of(dst + r * dpitch), DevicePointer.of(source + r * sourcePitch), width);
            }
            if (source != src) Pointer.free(owners.remove(source));
        };
        if (kind == Copy.TO_HOST && !isPinned(dst)) {
            // pageable destination: the copy has completed when the call returns
            if (recording != null) throw new IllegalStateException("host emulation: copy to pageable memory during capture");
            synchronize();
            work.run();
        } else {
            enqueue(work);
        }
    }

    private boolean isDevice(long address) {
        return contains(device, address);
    }

    @Override
    public void memset(long dst, int value, long bytes) {
        if (bytes == 0) return;
        within(device, dst, bytes, "memset");
        enqueue(() -> Pointer.memset(DevicePointer.of(dst), value, bytes));
    }

    @Override
    public void discard(long address, long bytes) {
        if (bytes == 0) return;
        within(device, address, bytes, "discard");
        enqueue(() -> Pointer.memset(DevicePointer.of(address), POISON, bytes));
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, long a, int lda, long b, int ldb, long c, int ldc,
            DType type) {
        if (m < 1 || n < 1 || k < 1) throw new IllegalArgumentException("gemm " + m + "×" + n + "×" + k);
        if (lda < (transA ? k : m) || ldb < (transB ? n : k) || ldc < m) {
            throw new IllegalArgumentException("gemm: leading dimensions " + lda + ", " + ldb + ", " + ldc + " too small for "
                    + (transA ? "T" : "N") + (transB ? "T" : "N") + " " + m + "×" + n + "×" + k);
        }
        long aCount = (long) lda * ((transA ? m : k) - 1) + (transA ? k : m);
        long bCount = (long) ldb * ((transB ? k : n) - 1) + (transB ? n : k);
        long cCount = (long) ldc * (n - 1) + m;
        within(device, a, aCount * type.size(), "gemm A");
        within(device, b, bCount * type.size(), "gemm B");
        within(device, c, cCount * type.size(), "gemm C");
        enqueue(() -> {
            float[] av = read(a, aCount, type), bv = read(b, bCount, type);
            // op(A) as rows (m × k) and op(B) as columns (n × k): each C element is one contiguous dot product
            float[] ar = new float[m * k], bc = new float[n * k];
            for (int i = 0; i < m; i++) for (int l = 0; l < k; l++) ar[i * k + l] = transA ? av[l + i * lda] : av[i + l * lda];
            for (int j = 0; j < n; j++) for (int l = 0; l < k; l++) bc[j * k + l] = transB ? bv[j + l * ldb] : bv[l + j * ldb];
            float[] cv = read(c, cCount, type); // keeps whatever lies between the columns
            IntStream.range(0, n).parallel().forEach(j -> {
                for (int i = 0; i < m; i++) {
                    double s = 0;
                    for (int l = 0; l < k; l++) s += (double) ar[i * k + l] * bc[j * k + l];
                    cv[i + j * ldc] = (float) s;
                }
            });
            write(c, cv, type);
        });
    }

    private static float[] read(long address, long count, DType type) {
        float[] out = new float[Math.toIntExact(count)];
        if (type == DType.F32) {
            new FloatPointer(DevicePointer.of(address)).get(out);
        } else {
            short[] s = new short[out.length];
            new ShortPointer(DevicePointer.of(address)).get(s);
            for (int i = 0; i < s.length; i++) out[i] = type == DType.F16 ? Half.toFloat(s[i]) : Half.bf16ToFloat(s[i]);
        }
        return out;
    }

    private static void write(long address, float[] values, DType type) {
        if (type == DType.F32) {
            new FloatPointer(DevicePointer.of(address)).put(values);
        } else {
            short[] s = new short[values.length];
            for (int i = 0; i < s.length; i++) s[i] = type == DType.F16 ? Half.fromFloat(values[i]) : Half.floatToBf16(values[i]);
            new ShortPointer(DevicePointer.of(address)).put(s);
        }
    }

    @Override
    public void kernel(String name, Kernel kernel) {
        // The emulated kernels take host memory as device memory and run when called (no stream).
        enqueue(() -> CudaRuntime.checkKernel(kernel.run(!emulatedKernels, null), name + (emulatedKernels ? "_cuda" : "_cpu")));
    }

    @Override
    public void synchronize() {
        if (recording != null) throw new IllegalStateException("internal: stream synchronisation during capture");
        // Work that fails leaves the rest of the stream undone, as a sticky error would.
        List<Runnable> work = new ArrayList<>(stream);
        stream.clear();
        for (Runnable w : work) w.run();
    }

    @Override
    public void beginCapture() {
        if (recording != null) throw new IllegalStateException("already capturing");
        recording = new ArrayList<>();
    }

    @Override
    public Graph endCapture(boolean failed) {
        List<Runnable> work = List.copyOf(recording);
        recording = null;
        if (failed) return null;
        return new Graph() {
            private boolean released;

            @Override
            public void launch() {
                if (released) throw new IllegalStateException("launch of a released graph");
                graphsLaunched++;
                enqueue(() -> work.forEach(Runnable::run));
            }

            @Override
            public void close() {
                released = true;
            }
        };
    }

    @Override
    public boolean capturing() {
        return recording != null;
    }

    /** The bytes of each {@code kind} copy (copy and copy2d calls) since the last reset, in order. */
    List<Long> transfers(Copy kind) {
        return List.copyOf(transfers.getOrDefault(kind, List.of()));
    }

    void resetTransfers() {
        transfers.clear();
    }

    /** How many graph replays ran (tests check that a runner replays rather than recomputes eagerly). */
    long graphsLaunched() {
        return graphsLaunched;
    }

    @Override
    public double elapsedMs(Runnable enqueue) {
        synchronize();
        long t = System.nanoTime();
        enqueue.run();
        synchronize();
        return (System.nanoTime() - t) / 1e6;
    }

    @Override
    public String name() {
        return "host emulation";
    }

    @Override
    public long memoryUsed() {
        return device.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Device and pinned allocations not freed yet. */
    int liveAllocations() {
        return device.size() + pinned.size();
    }

    /** Allocations their owners had not freed when this emulated device was closed (leaks). */
    int leakedAtClose() {
        return leakedAtClose;
    }

    @Override
    public void close() {
        // Like a CUDA context going away: whatever is left is released, and counted as leaked.
        stream.clear();
        if (leakedAtClose < 0) leakedAtClose = liveAllocations();
        for (long a : new ArrayList<>(device.keySet())) free(a);
        for (long a : new ArrayList<>(pinned.keySet())) freeHost(a);
    }
}

package org.clipsurgery.engine.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;
import org.clipsurgery.Precision;
import org.clipsurgery.engine.cuda.Gpu.Copy;
import org.clipsurgery.graph.LastBlocks;
import org.clipsurgery.graph.Ops;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.weights.DType;
import org.clipsurgery.weights.Half;
import org.clipsurgery.weights.HostTensor;

/**
 * {@link Ops} on one {@link Gpu} (a CUDA device and its stream): GEMMs with cuBLAS
 * ({@code cublasGemmEx}, fp32 accumulation) and the project's kernels (include/clip_surgery.h,
 * through {@link Kernels}) for everything else.
 *
 * <p>Precision: matrices (rank ≥ 2 weights and constants) are uploaded once in the compute type
 * (fp16 by default, bf16 or fp32); vectors (biases, norms, class embedding) stay fp32, as the
 * kernels take them. Activations are in the compute type; softmax, norms and accumulation fp32.
 *
 * <p>Memory: weights and constants get their own allocations, made once. Intermediates come from
 * a {@link DeviceArena}: {@link #scope()} marks it and closing the scope releases everything made
 * inside, so after a first (warm-up) call of a given shape nothing is allocated any more.
 *
 * <p>Work is enqueued on this object's stream and not waited for, except by {@link #toHost} and
 * {@link #synchronize()}. A linear layer's bias is added by its consumer where a kernel can fuse
 * it (residual add, bias + QuickGELU or GELU), otherwise in place before use (see {@link DeviceTensor}).
 *
 * <p>Convolutions are im2col + one GEMM (a 1×1 convolution of channels-last input is the GEMM
 * alone); their outputs, and the ResNet encoder's batch norms, ReLUs and poolings after them, are
 * channels-last (see {@link DeviceTensor}).
 *
 * <p>Not thread-safe: one CudaOps per stream, used by one thread at a time (or under a lock).
 */
public final class CudaOps implements Ops<DeviceTensor>, AutoCloseable {
    private static final long ARENA_CHUNK = 256L << 20;

    private final Gpu gpu;
    private final Kernels k;
    private final Function<String, HostTensor> source;
    private final DType compute;
    final DeviceArena arena;
    private final Map<String, DeviceTensor> cache = new HashMap<>();
    private final List<Long> owned = new ArrayList<>();
    private long residentBytes;
    private boolean closed;

    /**
     * The backend on {@code gpu}, which it owns from now on (closing this closes it).
     * {@code source} gives a weight's host tensor by OpenAI's name (it throws for unknown names).
     */
    CudaOps(Gpu gpu, Function<String, HostTensor> source, Precision precision) {
        this.gpu = gpu;
        this.k = new Kernels(gpu);
        this.source = source;
        this.compute = switch (precision) {
            case FP32 -> DType.F32;
            case FP16 -> DType.F16;
            case BF16 -> DType.BF16;
        };
        arena = new DeviceArena(gpu, ARENA_CHUNK);
    }

    /** The compute type of activations and matrices (F32, F16 or BF16). */
    public DType computeType() {
        return compute;
    }

    /** The device this backend runs on. */
    Gpu gpu() {
        return gpu;
    }

    Kernels kernels() {
        return k;
    }

    /** Waits until all enqueued work is done; throws if any of it failed. */
    public void synchronize() {
        gpu.synchronize();
    }

    /** Bytes held by uploaded weights and constants. */
    public long residentBytes() {
        return residentBytes;
    }

    /** Bytes reserved for intermediates (workspace arena), and the most used at once. */
    public long workspaceReserved() {
        return arena.reserved();
    }

    public long workspacePeak() {
        return arena.peak();
    }

    /** Frees workspace grown past 1 GiB by a large batch (kept: what captured graphs use). */
    public void trimWorkspace() {
        arena.trim(1L << 30);
    }

    /** Makes this device current on the calling thread (the runtime's device is per thread). */
    void bind() {
        gpu.makeCurrent();
    }

    // ---- memory ----------------------------------------------------------------------------------

    private long malloc(long bytes, String what) {
        long p = gpu.malloc(bytes, what);
        owned.add(p);
        return p;
    }

    /** A fresh intermediate in the current scope. */
    DeviceTensor alloc(DType t, long... shape) {
        long n = 1;
        for (long s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= s;
        }
        return new DeviceTensor(arena.allocate(n * t.size()), shape, t);
    }

    /** A fresh intermediate shaped and laid out like x, of type t. */
    private DeviceTensor allocLike(DeviceTensor x, DType t) {
        return new DeviceTensor(arena.allocate(x.numel() * t.size()), x.shape(), t, x.channelsLast);
    }

    /** Host data → device at dst in type t (synchronous with respect to {@code data}). */
    private void copyIn(float[] data, DType t, long dst) {
        Pointer host = switch (t) {
            case F32 -> new FloatPointer(data);
            case F16, BF16 -> {
                short[] s = new short[data.length];
                for (int i = 0; i < s.length; i++) s[i] = t == DType.F16 ? Half.fromFloat(data[i]) : Half.floatToBf16(data[i]);
                yield new ShortPointer(s);
            }
            default -> throw new IllegalArgumentException("cannot upload floats as " + t);
        };
        try {
            // From pageable memory the call returns once the data is staged: host may be freed.
            gpu.copy(dst, host.address(), (long) data.length * t.size(), Copy.TO_DEVICE);
        } finally {
            host.close();
        }
    }

    private void copyDevice(long dst, long src, long bytes) {
        gpu.copy(dst, src, bytes, Copy.ON_DEVICE);
    }

    private void copy2d(long dst, long dpitch, long src, long spitch, long width, long height) {
        gpu.copy2d(dst, dpitch, src, spitch, width, height, Copy.ON_DEVICE);
    }

    /** Host floats as a device tensor of type {@code t} in the current scope (tests, inputs). */
    public DeviceTensor upload(float[] data, DType t, long... shape) {
        checkOpen();
        DeviceTensor x = alloc(t, shape);
        if (x.numel() != data.length) {
            throw new IllegalArgumentException(data.length + " values for shape " + Arrays.toString(shape));
        }
        if (gpu.capturing()) throw new IllegalStateException("no host uploads during CUDA-graph capture");
        copyIn(data, t, x.address());
        return x;
    }

    private DeviceTensor cached(String key, Supplier<HostTensor> make, DType forced) {
        checkOpen();
        DeviceTensor t = cache.get(key);
        if (t != null) return t;
        if (gpu.capturing()) {
            throw new IllegalStateException("internal: " + key + " first needed during CUDA-graph capture");
        }
        HostTensor h = make.get();
        if (h == null) throw new IllegalArgumentException("no tensor for " + key);
        DType type = forced != null ? forced : h.dim() >= 2 ? compute : DType.F32;
        float[] values = h.toFloatArray();
        long bytes = (long) values.length * type.size();
        t = new DeviceTensor(malloc(bytes, key), h.shape(), type);
        copyIn(values, type, t.address());
        residentBytes += bytes;
        cache.put(key, t);
        return t;
    }

    // ---- Ops: data in and out --------------------------------------------------------------------

    @Override
    public DeviceTensor weight(String name) {
        return cached(name, () -> source.apply(name), null);
    }

    @Override
    public DeviceTensor constant(String key, Supplier<HostTensor> make) {
        return cached("#" + key, make, null);
    }

    /** A constant in a given type (fp32 label features for feature surgery, say), made once per key. */
    DeviceTensor constant(String key, Supplier<HostTensor> make, DType type) {
        return cached("#" + key, make, type);
    }

    @Override
    public DeviceTensor input(float[] data, long... shape) {
        return upload(data, DType.F32, shape);
    }

    @Override
    public DeviceTensor tokenIds(long[] ids, int batch, int length) {
        checkOpen();
        if ((long) batch * length != ids.length) throw new IllegalArgumentException(ids.length + " ids for " + batch + "×" + length);
        int[] v = new int[ids.length];
        for (int i = 0; i < v.length; i++) {
            if (ids[i] < 0 || ids[i] > Integer.MAX_VALUE) throw new IllegalArgumentException("token id " + ids[i] + " out of range");
            v[i] = (int) ids[i];
        }
        DeviceTensor x = alloc(DType.I32, batch, length);
        uploadInts(v, x.address());
        return x;
    }

    private void uploadInts(int[] v, long dst) {
        if (gpu.capturing()) throw new IllegalStateException("no host uploads during CUDA-graph capture");
        try (IntPointer host = new IntPointer(v)) {
            gpu.copy(dst, host.address(), 4L * v.length, Copy.TO_DEVICE);
        }
    }

    @Override
    public float[] toHost(DeviceTensor x) {
        checkOpen();
        materialize(x);
        long n = x.numel();
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("tensor too large for a Java array: " + x);
        float[] out = new float[(int) n];
        readInto(x, out);
        if (!x.channelsLast) return out;
        // (B, H, W, C) in memory → the (B, C, H, W) the shape promises
        long b = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
        float[] planes = new float[out.length];
        for (long i = 0; i < b; i++) for (long p = 0; p < hw; p++) for (long ch = 0; ch < c; ch++) {
            planes[(int) ((i * c + ch) * hw + p)] = out[(int) ((i * hw + p) * c + ch)];
        }
        return planes;
    }

    private void readInto(DeviceTensor x, float[] out) {
        long n = out.length;
        switch (x.dtype()) {
            case F32 -> {
                try (FloatPointer h = new FloatPointer(n)) {
                    download(h, x);
                    h.get(out);
                }
            }
            case I32 -> {
                try (IntPointer h = new IntPointer(n)) {
                    download(h, x);
                    for (int i = 0; i < n; i++) out[i] = h.get(i);
                }
            }
            default -> {
                try (ShortPointer h = new ShortPointer(n)) {
                    download(h, x);
                    boolean half = x.dtype() == DType.F16;
                    for (int i = 0; i < n; i++) out[i] = half ? Half.toFloat(h.get(i)) : Half.bf16ToFloat(h.get(i));
                }
            }
        }
    }

    private void download(Pointer host, DeviceTensor x) {
        gpu.copy(host.address(), x.address(), x.bytes(), Copy.TO_HOST);
        gpu.synchronize();
    }

    @Override
    public long[] shape(DeviceTensor x) {
        return x.shape();
    }

    @Override
    public Scope<DeviceTensor> scope() {
        checkOpen();
        if (!gpu.capturing()) bind(); // cudaSetDevice is not a stream operation: keep it out of captures
        long mark = arena.mark();
        return new Scope<>() {
            private boolean kept;

            @Override
            public DeviceTensor keep(DeviceTensor t) {
                kept = true;
                return t;
            }

            // A bump arena cannot free what lies below a kept tensor: with one kept, the whole
            // region stays for the enclosing scope to release (the arena's memory then grows
            // with the forward, as it did before scopes were nested).
            @Override
            public void close() {
                if (!kept) arena.reset(mark);
            }
        };
    }

    // ---- helpers ---------------------------------------------------------------------------------

    static int csType(DType t) {
        return switch (t) {
            case F32 -> ClipSurgeryNative.CS_F32;
            case F16 -> ClipSurgeryNative.CS_F16;
            case BF16 -> ClipSurgeryNative.CS_BF16;
            case I32 -> ClipSurgeryNative.CS_I32;
            default -> throw new IllegalArgumentException("no kernel type for " + t);
        };
    }

    private static long address(DeviceTensor t) {
        return t == null ? 0 : t.address();
    }

    private static void requireFloat(DeviceTensor x, String what) {
        if (x.dtype() == DType.I32) throw new IllegalArgumentException(what + " needs a float tensor, got " + x);
    }

    /** Adds a pending linear bias in place (see {@link DeviceTensor}). */
    DeviceTensor materialize(DeviceTensor x) {
        DeviceTensor bias = x.pendingBias;
        if (bias != null) {
            k.add(x.address(), bias.address(), 0, 1, 0, csType(x.dtype()), x.rows(), x.cols(), x.address());
            x.pendingBias = null;
        }
        return x;
    }

    /** x in type t: x itself, or a converted copy in the current scope. */
    DeviceTensor as(DeviceTensor x, DType t) {
        materialize(x);
        if (x.dtype() == t) return x;
        requireFloat(x, "conversion");
        DeviceTensor out = allocLike(x, t);
        k.convert(x.address(), csType(x.dtype()), x.numel(), out.address(), csType(t));
        return out;
    }

    /** A 1-D fp32 parameter vector of length n. */
    private DeviceTensor vector(DeviceTensor v, long n, String what) {
        if (v.rank() != 1 || v.dim(0) != n) {
            throw new IllegalArgumentException(what + " must have shape [" + n + "], got " + Arrays.toString(v.shape()));
        }
        return as(v, DType.F32);
    }

    private static int i32(long v, String what) {
        if (v > Integer.MAX_VALUE) throw new IllegalArgumentException(what + " " + v + " exceeds cuBLAS's int range");
        return (int) v;
    }

    /**
     * Row-major C (m×n) = A (m×k) · op(B), through cuBLAS's column-major view: C row-major is Cᵀ
     * column-major, so we ask for Cᵀ = op(B)ᵀ · Aᵀ. {@code bTransposed}: B is stored (n×k), as a
     * linear weight (out, in); else (k×n).
     */
    private void gemm(DeviceTensor a, DeviceTensor b, boolean bTransposed, DeviceTensor c, long m, long n, long k) {
        int mi = i32(m, "rows"), ni = i32(n, "columns"), ki = i32(k, "inner dimension");
        gpu.gemm(bTransposed, false, ni, mi, ki, b.address(), bTransposed ? ki : ni, a.address(), ki, c.address(), ni, c.dtype());
    }

    private static long[] withLast(long[] shape, long last) {
        long[] s = shape.clone();
        s[s.length - 1] = last;
        return s;
    }

    /**
     * The device's dense GEMM rate in the compute type (TFLOP/s): median of {@code iterations}
     * size³ products through the same cublasGemmEx call the engine uses, timed with CUDA events.
     */
    public double gemmTflops(int size, int iterations) {
        checkOpen();
        bind();
        try (Scope s = scope()) {
            DeviceTensor a = alloc(compute, size, size), b = alloc(compute, size, size), c = alloc(compute, size, size);
            gpu.memset(a.address(), 0x3c, a.bytes()); // 1.0 in fp16, a small normal number otherwise
            gpu.memset(b.address(), 0x3c, b.bytes());
            double[] ms = new double[iterations];
            for (int i = -3; i < iterations; i++) {
                double t = gpu.elapsedMs(() -> gemm(a, b, true, c, size, size, size));
                if (i >= 0) ms[i] = t;
            }
            Arrays.sort(ms);
            return 2.0 * size * size * (double) size / (ms[iterations / 2] * 1e-3) / 1e12;
        }
    }

    // ---- Ops: arithmetic -------------------------------------------------------------------------

    @Override
    public DeviceTensor linear(DeviceTensor x, DeviceTensor weight, DeviceTensor bias) {
        if (weight.rank() != 2 || weight.dim(1) != x.cols()) {
            throw new IllegalArgumentException("linear: weight " + Arrays.toString(weight.shape()) + " does not fit input "
                    + Arrays.toString(x.shape()));
        }
        requireFloat(weight, "linear");
        DeviceTensor in = as(x, weight.dtype());
        long n = weight.dim(0);
        DeviceTensor out = alloc(weight.dtype(), withLast(x.shape(), n));
        gemm(in, weight, true, out, x.rows(), n, x.cols());
        if (bias != null) out.pendingBias = vector(bias, n, "linear bias");
        return out;
    }

    @Override
    public DeviceTensor matmul(DeviceTensor x, DeviceTensor w) {
        if (w.rank() != 2 || w.dim(0) != x.cols()) {
            throw new IllegalArgumentException("matmul: " + Arrays.toString(x.shape()) + " · " + Arrays.toString(w.shape()));
        }
        requireFloat(w, "matmul");
        DeviceTensor in = as(x, w.dtype());
        DeviceTensor out = alloc(w.dtype(), withLast(x.shape(), w.dim(1)));
        gemm(in, w, false, out, x.rows(), w.dim(1), x.cols());
        return out;
    }

    @Override
    public DeviceTensor layerNorm(DeviceTensor x, DeviceTensor weight, DeviceTensor bias, double eps) {
        materialize(x);
        requireFloat(x, "layerNorm");
        DeviceTensor w = vector(weight, x.cols(), "layer norm weight"), b = vector(bias, x.cols(), "layer norm bias");
        DeviceTensor out = alloc(x.dtype(), x.shape());
        k.layerNorm(x.address(), csType(x.dtype()), x.rows(), x.cols(), w.address(), b.address(), (float) eps, out.address());
        return out;
    }

    @Override
    public DeviceTensor quickGelu(DeviceTensor x) {
        requireFloat(x, "quickGelu");
        DeviceTensor out = alloc(x.dtype(), x.shape());
        // A pending linear bias is fused here (bias + QuickGELU in one pass); x itself keeps it.
        k.biasQuickGelu(x.address(), csType(x.dtype()), x.rows(), x.cols(), address(x.pendingBias), out.address());
        return out;
    }

    @Override
    public DeviceTensor gelu(DeviceTensor x) {
        requireFloat(x, "gelu");
        DeviceTensor out = alloc(x.dtype(), x.shape());
        // as quickGelu: the pending linear bias is fused, x keeps it
        k.biasGelu(x.address(), csType(x.dtype()), x.rows(), x.cols(), address(x.pendingBias), out.address());
        return out;
    }

    @Override
    public DeviceTensor add(DeviceTensor a, DeviceTensor b) {
        requireFloat(a, "add");
        long[] sa = a.shape(), sb = b.shape();
        if (a.channelsLast || b.channelsLast) {
            // two channels-last feature maps (the ResNet's residual): element by element
            if (!a.channelsLast || !b.channelsLast || !Arrays.equals(sa, sb)) {
                throw new IllegalArgumentException("add: channels-last " + a + " and " + b + " must match");
            }
            DeviceTensor bb = as(b, a.dtype()), out = allocLike(a, a.dtype());
            k.add(a.address(), address(a.pendingBias), bb.address(), bb.rows(), 0, csType(a.dtype()), a.rows(), a.cols(),
                    out.address());
            return out;
        }
        boolean suffix = sb.length >= 1 && sb.length <= sa.length;
        for (int i = 1; suffix && i <= sb.length; i++) suffix = sb[sb.length - i] == sa[sa.length - i];
        if (!suffix) throw new IllegalArgumentException("add: " + Arrays.toString(sb) + " does not broadcast to " + Arrays.toString(sa));
        DeviceTensor bb = b.dtype() == a.dtype() ? b : as(b, a.dtype());
        DeviceTensor out = alloc(a.dtype(), sa);
        // a's pending bias is added in the same pass (b's was added by `as`); b broadcasts over
        // a's leading dimensions, its rows repeating.
        k.add(a.address(), address(a.pendingBias), bb.address(), bb.rows(), address(bb.pendingBias), csType(a.dtype()), a.rows(),
                a.cols(), out.address());
        return out;
    }

    @Override
    public DeviceTensor conv2d(DeviceTensor x, DeviceTensor w, int stride, int padding) {
        if (x.rank() != 4 || w.rank() != 4 || w.dim(1) != x.dim(1) || w.dim(2) != w.dim(3) || stride < 1 || padding < 0) {
            throw new IllegalArgumentException("conv2d: input " + Arrays.toString(x.shape()) + ", weight " + Arrays.toString(w.shape())
                    + ", stride " + stride + ", padding " + padding + " (square kernels only)");
        }
        requireFloat(w, "conv2d");
        materialize(x);
        long b = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3), kk = w.dim(2), cout = w.dim(0);
        long oh = (h + 2L * padding - kk) / stride + 1, ow = (wd + 2L * padding - kk) / stride + 1;
        if (h + 2L * padding < kk || wd + 2L * padding < kk) {
            throw new IllegalArgumentException("conv2d: a " + kk + "×" + kk + " kernel does not fit " + h + "×" + wd + " with padding " + padding);
        }
        long rows = b * oh * ow, cols = cin * kk * kk;
        DeviceTensor out = alloc(w.dtype(), rows, cout);
        if (x.channelsLast && kk == 1 && stride == 1 && padding == 0) {
            // channels-last input is already the (B·H·W, C) matrix a 1×1 convolution multiplies
            DeviceTensor in = as(x, w.dtype());
            gemm(new DeviceTensor(in.address(), new long[] {rows, cin}, in.dtype()), w.view(cout, cols), true, out, rows, cout, cols);
        } else {
            DeviceTensor patches = alloc(w.dtype(), rows, cols);
            k.im2col(x.address(), csType(x.dtype()), x.channelsLast ? ClipSurgeryNative.CS_NHWC : ClipSurgeryNative.CS_NCHW, b, cin, h,
                    wd, kk, stride, padding, csType(w.dtype()), patches.address());
            gemm(patches, w.view(cout, cols), true, out, rows, cout, cols);
        }
        return new DeviceTensor(out.address(), new long[] {b, cout, oh, ow}, w.dtype(), true);
    }

    /** x must be a channels-last (B, C, H, W): the output of a convolution or of an op on one. */
    private static void requireChannelsLast(DeviceTensor x, String what) {
        if (!x.channelsLast) {
            throw new IllegalArgumentException(what + " takes a convolution's (channels-last) output, not " + x);
        }
    }

    @Override
    public DeviceTensor batchNorm(DeviceTensor x, DeviceTensor weight, DeviceTensor bias, DeviceTensor mean, DeviceTensor var) {
        requireChannelsLast(x, "batchNorm");
        materialize(x);
        long c = x.cols();
        DeviceTensor w = vector(weight, c, "batch norm weight"), b = vector(bias, c, "batch norm bias"),
                m = vector(mean, c, "batch norm mean"), v = vector(var, c, "batch norm variance");
        DeviceTensor out = allocLike(x, x.dtype());
        k.batchNorm(x.address(), csType(x.dtype()), x.rows(), c, w.address(), b.address(), m.address(), v.address(), 1e-5f,
                out.address());
        return out;
    }

    @Override
    public DeviceTensor relu(DeviceTensor x) {
        materialize(x);
        requireFloat(x, "relu");
        DeviceTensor out = allocLike(x, x.dtype());
        k.relu(x.address(), csType(x.dtype()), x.numel(), out.address());
        return out;
    }

    @Override
    public DeviceTensor avgPool(DeviceTensor x, int kernel) {
        requireChannelsLast(x, "avgPool");
        materialize(x);
        long b = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
        if (kernel < 1 || kernel > h || kernel > w) throw new IllegalArgumentException("avgPool: kernel " + kernel + " for " + x);
        DeviceTensor out = new DeviceTensor(arena.allocate(b * c * (h / kernel) * (w / kernel) * x.dtype().size()),
                new long[] {b, c, h / kernel, w / kernel}, x.dtype(), true);
        k.avgPool(x.address(), csType(x.dtype()), b, h, w, c, kernel, kernel, out.address());
        return out;
    }

    @Override
    public DeviceTensor meanToken(DeviceTensor x) {
        materialize(x);
        requireFloat(x, "meanToken");
        if (x.rank() != 3) throw new IllegalArgumentException("meanToken needs (B, N, C), got " + x);
        long b = x.dim(0), n = x.dim(1), c = x.dim(2);
        DeviceTensor out = alloc(x.dtype(), b, 1, c);
        // (B, N, C) is a channels-last (B, C, N, 1) image: the mean over all positions
        k.avgPool(x.address(), csType(x.dtype()), b, n, 1, c, n, 1, out.address());
        return out;
    }

    @Override
    public DeviceTensor gridToTokens(DeviceTensor x) {
        if (x.rank() != 4) throw new IllegalArgumentException("gridToTokens needs (B, C, H, W), got " + Arrays.toString(x.shape()));
        if (!x.channelsLast) throw new IllegalArgumentException("gridToTokens takes a convolution's output, not " + x);
        return new DeviceTensor(x.address(), new long[] {x.dim(0), x.dim(2) * x.dim(3), x.dim(1)}, x.dtype());
    }

    @Override
    public DeviceTensor prependToken(DeviceTensor x, DeviceTensor token) {
        materialize(x);
        requireFloat(x, "prependToken");
        long b = x.dim(0), n = x.dim(1), c = x.dim(2), es = x.dtype().size();
        DeviceTensor out = alloc(x.dtype(), b, n + 1, c);
        long grid = Math.round(Math.sqrt(n));
        if (token.rank() == 1 && grid * grid == n) {
            // The project's token embedding kernel with a zero position embedding: one launch.
            DeviceTensor cls = vector(token, c, "class token");
            DeviceTensor zeros = cached("#zeros " + (n + 1) + "x" + c, () -> HostTensor.ofFloats(new float[(int) ((n + 1) * c)], n + 1, c),
                    DType.F32);
            k.embedTokens(x.address(), csType(x.dtype()), b, grid, c, cls.address(), zeros.address(), grid, out.address());
            return out;
        }
        copy2d(out.address() + c * es, (n + 1) * c * es, x.address(), n * c * es, n * c * es, b);
        if (token.rank() == 3 && token.dim(0) == b && token.dim(1) == 1 && token.dim(2) == c) {
            DeviceTensor t = as(token, x.dtype());
            copy2d(out.address(), (n + 1) * c * es, t.address(), c * es, c * es, b);
        } else if (token.rank() == 1 && token.dim(0) == c) {
            DeviceTensor t = as(token, x.dtype());
            for (long i = 0; i < b; i++) copyDevice(out.address() + i * (n + 1) * c * es, t.address(), c * es);
        } else {
            throw new IllegalArgumentException("prependToken: token " + Arrays.toString(token.shape()) + " for " + Arrays.toString(x.shape()));
        }
        return out;
    }

    @Override
    public DeviceTensor classToken(DeviceTensor x) {
        materialize(x);
        if (x.rank() != 3) throw new IllegalArgumentException("classToken of " + Arrays.toString(x.shape()));
        long b = x.dim(0), n = x.dim(1), row = x.dim(2) * x.dtype().size();
        DeviceTensor out = alloc(x.dtype(), b, 1, x.dim(2));
        copy2d(out.address(), row, x.address(), n * row, row, b); // on the stream: fine under capture
        return out;
    }

    @Override
    public DeviceTensor withToken0From(DeviceTensor x, DeviceTensor token) {
        materialize(x);
        DeviceTensor t = as(token, x.dtype());
        if (x.rank() != 3 || !Arrays.equals(t.shape(), new long[] {x.dim(0), 1, x.dim(2)})) {
            throw new IllegalArgumentException("withToken0From: " + Arrays.toString(x.shape()) + " and " + Arrays.toString(token.shape()));
        }
        long b = x.dim(0), n = x.dim(1), row = x.dim(2) * x.dtype().size();
        DeviceTensor out = alloc(x.dtype(), x.shape());
        copyDevice(out.address(), x.address(), x.bytes());
        copy2d(out.address(), n * row, t.address(), row, row, b);
        return out;
    }

    @Override
    public DeviceTensor gatherTokens(DeviceTensor x, int[] index) {
        materialize(x);
        long b = x.dim(0), n = x.dim(1), c = x.dim(2);
        if (index.length != b) throw new IllegalArgumentException(index.length + " indices for batch " + b);
        int[] rows = new int[index.length];
        for (int i = 0; i < rows.length; i++) {
            if (index[i] < 0 || index[i] >= n) throw new IllegalArgumentException("token index " + index[i] + " of " + n);
            rows[i] = Math.toIntExact(i * n + index[i]);
        }
        DeviceTensor idx = alloc(DType.I32, b);
        uploadInts(rows, idx.address());
        DeviceTensor out = alloc(x.dtype(), b, c);
        gather(x, b * n, idx, out, b);
        return out;
    }

    private void gather(DeviceTensor table, long tableRows, DeviceTensor idx, DeviceTensor out, long rows) {
        k.gatherRows(table.address(), tableRows, table.cols() * table.dtype().size(), idx.address(), rows, out.address());
    }

    @Override
    public DeviceTensor embedding(DeviceTensor table, DeviceTensor ids) {
        if (ids.dtype() != DType.I32 || table.rank() != 2) {
            throw new IllegalArgumentException("embedding: table " + table + ", ids " + ids);
        }
        materialize(table);
        long[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        shape[ids.rank()] = table.dim(1);
        DeviceTensor out = alloc(table.dtype(), shape);
        gather(table, table.dim(0), ids, out, ids.numel());
        return out;
    }

    /** Head dims the dual-path (flash) kernel serves; others take the general one. */
    private static boolean kernelHeadDim(long d) {
        return d == 32 || d == 64 || d == 80 || d == 128;
    }

    /** cs_attention: softmax(s·q·kᵀ)·v with rows {@code stride} elements apart. */
    private void attention(long q, long kk, long v, long stride, DeviceTensor out, long batch, long tokens, long channels,
            long heads, boolean causal) {
        float scale = (float) (1 / Math.sqrt((double) channels / heads));
        k.attention(q, kk, v, stride, csType(out.dtype()), batch, tokens, channels, heads, scale, causal, out.address());
    }

    private long[] qkvShape(DeviceTensor qkv, int heads) {
        if (qkv.rank() != 3 || qkv.dim(2) % 3 != 0 || heads < 1 || qkv.dim(2) / 3 % heads != 0) {
            throw new IllegalArgumentException("attention: qkv " + Arrays.toString(qkv.shape()) + " with " + heads + " heads");
        }
        return new long[] {qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3};
    }

    @Override
    public DeviceTensor attention(DeviceTensor qkv, int heads, boolean causal) {
        materialize(qkv);
        requireFloat(qkv, "attention");
        long[] s = qkvShape(qkv, heads);
        long b = s[0], n = s[1], c = s[2], es = qkv.dtype().size();
        DeviceTensor out = alloc(qkv.dtype(), b, n, c);
        if (!causal && kernelHeadDim(c / heads)) {
            k.attentionDual(qkv.address(), csType(qkv.dtype()), b, n, c, heads, (float) (1 / Math.sqrt((double) c / heads)),
                    out.address(), 0);
        } else {
            attention(qkv.address(), qkv.address() + c * es, qkv.address() + 2 * c * es, 3 * c, out, b, n, c, heads, causal);
        }
        return out;
    }

    @Override
    public DeviceTensor[] dualAttention(DeviceTensor qkv, int heads) {
        materialize(qkv);
        requireFloat(qkv, "dualAttention");
        long[] s = qkvShape(qkv, heads);
        long b = s[0], n = s[1], c = s[2], es = qkv.dtype().size();
        DeviceTensor ori = alloc(qkv.dtype(), b, n, c), vv = alloc(qkv.dtype(), b, n, c);
        if (kernelHeadDim(c / heads)) {
            k.attentionDual(qkv.address(), csType(qkv.dtype()), b, n, c, heads, (float) (1 / Math.sqrt((double) c / heads)),
                    ori.address(), vv.address());
        } else {
            long v = qkv.address() + 2 * c * es;
            attention(qkv.address(), qkv.address() + c * es, v, 3 * c, ori, b, n, c, heads, false);
            attention(v, v, v, 3 * c, vv, b, n, c, heads, false);
        }
        return new DeviceTensor[] {ori, vv};
    }

    /** cs_self_attention: the method's mode of the header (GEM's workspace from the arena, fp32). */
    @Override
    public DeviceTensor selfAttention(DeviceTensor qkv, int heads, LastBlocks.Attention mode, int grid, DeviceTensor normed) {
        materialize(qkv);
        requireFloat(qkv, "selfAttention");
        long[] s = qkvShape(qkv, heads);
        long b = s[0], n = s[1], c = s[2];
        int m = attentionMode(mode);
        long normedAddress = 0, workspace = 0;
        if (mode == LastBlocks.Attention.GEM) {
            if (normed == null || !Arrays.equals(normed.shape(), new long[] {b, n, c})) {
                throw new IllegalArgumentException("selfAttention: GEM needs the block's ln_1 output (B, N, C), not " + normed);
            }
            normedAddress = as(materialize(normed), qkv.dtype()).address();
            long bytes = ClipSurgeryNative.cs_self_attention_workspace(m, b, n, c);
            workspace = alloc(DType.F32, bytes / 4).address();
        }
        DeviceTensor out = alloc(qkv.dtype(), b, n, c);
        k.selfAttention(qkv.address(), csType(qkv.dtype()), b, n, c, heads, (float) (1 / Math.sqrt((double) c / heads)), m, grid,
                (float) LastBlocks.NACLIP_SIGMA, normedAddress, workspace, out.address());
        return out;
    }

    /** The header's cs_attention_mode of a graph attention mode. */
    static int attentionMode(LastBlocks.Attention mode) {
        return switch (mode) {
            case QQ -> ClipSurgeryNative.CS_ATTN_QQ;
            case KK -> ClipSurgeryNative.CS_ATTN_KK;
            case VV -> ClipSurgeryNative.CS_ATTN_VV;
            case QQ_PLUS_KK -> ClipSurgeryNative.CS_ATTN_QQ_PLUS_KK;
            case KK_GAUSSIAN -> ClipSurgeryNative.CS_ATTN_KK_GAUSSIAN;
            case VALUE -> ClipSurgeryNative.CS_ATTN_VALUE;
            case GEM -> ClipSurgeryNative.CS_ATTN_GEM;
        };
    }

    @Override
    public DeviceTensor vvAttention(DeviceTensor v, int heads) {
        materialize(v);
        requireFloat(v, "vvAttention");
        if (v.rank() != 3 || v.dim(2) % heads != 0) throw new IllegalArgumentException("vvAttention: " + v + ", " + heads + " heads");
        DeviceTensor out = alloc(v.dtype(), v.shape());
        attention(v.address(), v.address(), v.address(), v.dim(2), out, v.dim(0), v.dim(1), v.dim(2), heads, false);
        return out;
    }

    @Override
    public DeviceTensor featureSurgery(DeviceTensor image, DeviceTensor text, DeviceTensor redundant) {
        materialize(image);
        requireFloat(image, "featureSurgery");
        if (image.rank() != 3 || text.rank() != 2 || text.dim(1) != image.dim(2)) {
            throw new IllegalArgumentException("featureSurgery: image " + Arrays.toString(image.shape()) + ", text "
                    + Arrays.toString(text.shape()));
        }
        DeviceTensor t = as(text, DType.F32);
        DeviceTensor r = redundant == null ? null : vector(redundant, image.dim(2), "redundant feature");
        DeviceTensor out = alloc(DType.F32, image.dim(0), image.dim(1), text.dim(0));
        featureSurgeryInto(image, t, r, out.address());
        return out;
    }

    /** Feature surgery into a caller's fp32 (B, N, T) buffer; text and redundant fp32. */
    void featureSurgeryInto(DeviceTensor image, DeviceTensor text, DeviceTensor redundant, long out) {
        k.featureSurgery(image.address(), csType(image.dtype()), image.dim(0), image.dim(1), image.dim(2), text.address(),
                text.dim(0), address(redundant), out);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the CUDA backend is closed");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            gpu.makeCurrent();
            gpu.synchronize();
        } catch (RuntimeException e) {
            // a failed stream: free what we can all the same
        }
        arena.close();
        for (long p : owned) gpu.free(p);
        owned.clear();
        cache.clear();
        gpu.close();
    }
}

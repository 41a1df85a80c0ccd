package org.clipsurgery.backend.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;
import org.clipsurgery.Precision;
import org.clipsurgery.graph.Ops;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.weights.DType;
import org.clipsurgery.weights.Half;
import org.clipsurgery.weights.HostTensor;

/**
 * {@link Ops} on one CUDA device and one stream: GEMMs with cuBLAS ({@code cublasGemmEx}, fp32
 * accumulation), the project's kernels (include/clip_surgery.h) for layer norm, bias+QuickGELU,
 * attention, token embedding, class-token copy and feature surgery, and a few
 * {@link RuntimeKernels} for the rest.
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
 * it (residual add, bias+QuickGELU), otherwise in place before use (see {@link DeviceTensor}).
 *
 * <p>The ResNet image encoder is not implemented on CUDA yet: its ops (general convolution, batch
 * norm, ReLU, pooling, mean token) throw {@link UnsupportedOperationException}.
 *
 * <p>Not thread-safe: one CudaOps per stream, used by one thread at a time (or under a lock).
 */
public final class CudaOps implements Ops<DeviceTensor>, AutoCloseable {
    static final String RESNET = "ResNet on CUDA not yet: general convolution, batch norm, ReLU and pooling "
            + "have no CUDA implementation in this build (ViT models only); use Device.CPU for ResNet models";
    private static final long CUBLAS_WORKSPACE = 32L << 20;
    private static final long ARENA_CHUNK = 256L << 20;

    private final Function<String, HostTensor> source;
    private final int device;
    private final DType compute;
    private final CUstream_st stream = new CUstream_st();
    private final cublasContext cublasHandle = new cublasContext();
    private final long cublasWorkspace;
    final DeviceArena arena;
    final RuntimeKernels rt;
    private final Map<String, DeviceTensor> cache = new HashMap<>();
    private final List<Long> owned = new ArrayList<>();
    private final FloatPointer one = new FloatPointer(1f), zero = new FloatPointer(0f);
    private long residentBytes;
    private boolean closed;

    /**
     * Opens the backend on {@code device}. {@code source} gives a weight's host tensor by
     * OpenAI's name (it throws for unknown names).
     *
     * @throws CudaException when CUDA cannot be used (see {@link CudaException.Kind})
     */
    public CudaOps(Function<String, HostTensor> source, Precision precision, int device) {
        CudaRuntime.require();
        this.source = source;
        this.device = device;
        this.compute = switch (precision) {
            case FP32 -> DType.F32;
            case FP16 -> DType.F16;
            case BF16 -> DType.BF16;
        };
        int[] count = new int[1];
        CudaRuntime.check(cudart.cudaGetDeviceCount(count), "cudaGetDeviceCount");
        if (device < 0 || device >= count[0]) {
            throw new IllegalArgumentException("CUDA device " + device + " does not exist (" + count[0] + " visible)");
        }
        CudaRuntime.check(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        CudaRuntime.checkDriver(cudart.cuInit(0), "cuInit");
        int[] major = new int[1], minor = new int[1];
        CudaRuntime.check(cudart.cudaDeviceGetAttribute(major, cudart.cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
        CudaRuntime.check(cudart.cudaDeviceGetAttribute(minor, cudart.cudaDevAttrComputeCapabilityMinor, device), "cudaDeviceGetAttribute");
        CudaRuntime.check(cudart.cudaStreamCreateWithFlags(stream, cudart.cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
        CudaRuntime.checkCublas(cublas.cublasCreate_v2(cublasHandle), "cublasCreate");
        CudaRuntime.checkCublas(cublas.cublasSetStream_v2(cublasHandle, stream), "cublasSetStream");
        // A workspace of our own: cuBLAS then allocates nothing while a CUDA graph is captured.
        cublasWorkspace = malloc(CUBLAS_WORKSPACE, "cuBLAS workspace");
        CudaRuntime.checkCublas(cublas.cublasSetWorkspace_v2(cublasHandle, DevicePointer.of(cublasWorkspace), CUBLAS_WORKSPACE),
                "cublasSetWorkspace");
        // fp32 means fp32 (no TF32): parity with the fp32 reference is the point of that option.
        CudaRuntime.checkCublas(cublas.cublasSetMathMode(cublasHandle, cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        arena = new DeviceArena(ARENA_CHUNK);
        rt = new RuntimeKernels(major[0], minor[0]);
    }

    /** The compute type of activations and matrices (F32, F16 or BF16). */
    public DType computeType() {
        return compute;
    }

    public int device() {
        return device;
    }

    /** The stream every operation is enqueued on. */
    public CUstream_st stream() {
        return stream;
    }

    /** Waits until all enqueued work is done; throws if any of it failed. */
    public void synchronize() {
        CudaRuntime.check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
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
        CudaRuntime.check(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
    }

    // ---- memory ----------------------------------------------------------------------------------

    private long malloc(long bytes, String what) {
        Pointer p = new Pointer();
        CudaRuntime.check(cudart.cudaMalloc(p, Math.max(bytes, 1)), "cudaMalloc(" + bytes + " bytes) for " + what);
        owned.add(p.address());
        return p.address();
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
            CudaRuntime.check(cudart.cudaMemcpyAsync(DevicePointer.of(dst), host, (long) data.length * t.size(),
                    cudart.cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync host → device");
        } finally {
            host.close();
        }
    }

    private void copyDevice(long dst, long src, long bytes) {
        CudaRuntime.check(cudart.cudaMemcpyAsync(DevicePointer.of(dst), DevicePointer.of(src), bytes,
                cudart.cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync device → device");
    }

    private void copy2d(long dst, long dpitch, long src, long spitch, long width, long height) {
        if (width == 0 || height == 0) return;
        CudaRuntime.check(cudart.cudaMemcpy2DAsync(DevicePointer.of(dst), dpitch, DevicePointer.of(src), spitch, width,
                height, cudart.cudaMemcpyDeviceToDevice, stream), "cudaMemcpy2DAsync");
    }

    /** Host floats as a device tensor of type {@code t} in the current scope (tests, inputs). */
    public DeviceTensor upload(float[] data, DType t, long... shape) {
        checkOpen();
        DeviceTensor x = alloc(t, shape);
        if (x.numel() != data.length) {
            throw new IllegalArgumentException(data.length + " values for shape " + Arrays.toString(shape));
        }
        if (arena.capturing) throw new IllegalStateException("no host uploads during CUDA-graph capture");
        copyIn(data, t, x.address());
        return x;
    }

    private DeviceTensor cached(String key, Supplier<HostTensor> make, DType forced) {
        checkOpen();
        DeviceTensor t = cache.get(key);
        if (t != null) return t;
        if (arena.capturing) {
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
        if (arena.capturing) throw new IllegalStateException("no host uploads during CUDA-graph capture");
        try (IntPointer host = new IntPointer(v)) {
            CudaRuntime.check(cudart.cudaMemcpyAsync(DevicePointer.of(dst), host, 4L * v.length,
                    cudart.cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync host → device");
        }
    }

    @Override
    public float[] toHost(DeviceTensor x) {
        checkOpen();
        materialize(x);
        long n = x.numel();
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("tensor too large for a Java array: " + x);
        float[] out = new float[(int) n];
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
        return out;
    }

    private void download(Pointer host, DeviceTensor x) {
        CudaRuntime.check(cudart.cudaMemcpyAsync(host, x.pointer(), x.bytes(), cudart.cudaMemcpyDeviceToHost, stream),
                "cudaMemcpyAsync device → host");
        synchronize();
    }

    @Override
    public long[] shape(DeviceTensor x) {
        return x.shape();
    }

    @Override
    public Scope<DeviceTensor> scope() {
        checkOpen();
        if (!arena.capturing) bind(); // cudaSetDevice is not a stream operation: keep it out of captures
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

    private static int cudaType(DType t) {
        return switch (t) {
            case F32 -> cudart.CUDA_R_32F;
            case F16 -> cudart.CUDA_R_16F;
            case BF16 -> cudart.CUDA_R_16BF;
            default -> throw new IllegalArgumentException("no GEMM type for " + t);
        };
    }

    private static void requireFloat(DeviceTensor x, String what) {
        if (x.dtype() == DType.I32) throw new IllegalArgumentException(what + " needs a float tensor, got " + x);
    }

    /** Adds a pending linear bias in place (see {@link DeviceTensor}). */
    DeviceTensor materialize(DeviceTensor x) {
        DeviceTensor bias = x.pendingBias;
        if (bias != null) {
            rt.launch1d(rt.addBias, x.numel(), stream, new RuntimeKernels.Args(5).ptr(x.address()).ptr(bias.address())
                    .i64(x.cols()).i32(csType(x.dtype())).i64(x.numel()), "rt_add_bias");
            x.pendingBias = null;
        }
        return x;
    }

    /** x in type t: x itself, or a converted copy in the current scope. */
    DeviceTensor as(DeviceTensor x, DType t) {
        materialize(x);
        if (x.dtype() == t) return x;
        requireFloat(x, "conversion");
        DeviceTensor out = alloc(t, x.shape());
        rt.launch1d(rt.convert, x.numel(), stream, new RuntimeKernels.Args(5).ptr(x.address()).i32(csType(x.dtype()))
                .ptr(out.address()).i32(csType(t)).i64(x.numel()), "rt_convert");
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
        int type = cudaType(c.dtype());
        CudaRuntime.checkCublas(cublas.cublasGemmEx(cublasHandle,
                bTransposed ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N,
                ni, mi, ki, one,
                b.pointer(), type, bTransposed ? ki : ni,
                a.pointer(), type, ki,
                zero, c.pointer(), type, ni,
                cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT), "cublasGemmEx " + m + "×" + n + "×" + k);
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
            for (DeviceTensor t : new DeviceTensor[] {a, b}) {
                CudaRuntime.check(cudart.cudaMemsetAsync(t.pointer(), 0x3c, t.bytes(), stream), "cudaMemsetAsync");
            }
            org.bytedeco.cuda.cudart.CUevent_st start = new org.bytedeco.cuda.cudart.CUevent_st(),
                    end = new org.bytedeco.cuda.cudart.CUevent_st();
            CudaRuntime.check(cudart.cudaEventCreate(start), "cudaEventCreate");
            CudaRuntime.check(cudart.cudaEventCreate(end), "cudaEventCreate");
            try {
                double[] ms = new double[iterations];
                float[] t = new float[1];
                for (int i = -3; i < iterations; i++) {
                    CudaRuntime.check(cudart.cudaEventRecord(start, stream), "cudaEventRecord");
                    gemm(a, b, true, c, size, size, size);
                    CudaRuntime.check(cudart.cudaEventRecord(end, stream), "cudaEventRecord");
                    CudaRuntime.check(cudart.cudaEventSynchronize(end), "cudaEventSynchronize");
                    CudaRuntime.check(cudart.cudaEventElapsedTime(t, start, end), "cudaEventElapsedTime");
                    if (i >= 0) ms[i] = t[0];
                }
                Arrays.sort(ms);
                return 2.0 * size * size * (double) size / (ms[iterations / 2] * 1e-3) / 1e12;
            } finally {
                cudart.cudaEventDestroy(start);
                cudart.cudaEventDestroy(end);
            }
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
    public DeviceTensor layerNorm(DeviceTensor x, DeviceTensor weight, DeviceTensor bias) {
        materialize(x);
        requireFloat(x, "layerNorm");
        DeviceTensor w = vector(weight, x.cols(), "layer norm weight"), b = vector(bias, x.cols(), "layer norm bias");
        DeviceTensor out = alloc(x.dtype(), x.shape());
        CudaRuntime.checkKernel(ClipSurgeryNative.cs_layer_norm_cuda(x.pointer(), csType(x.dtype()), x.rows(), x.cols(),
                new FloatPointer(w.pointer()), new FloatPointer(b.pointer()), 1e-5f, out.pointer(), stream), "cs_layer_norm_cuda");
        return out;
    }

    @Override
    public DeviceTensor quickGelu(DeviceTensor x) {
        requireFloat(x, "quickGelu");
        DeviceTensor out = alloc(x.dtype(), x.shape());
        // A pending linear bias is fused here (bias + QuickGELU in one pass); x itself keeps it.
        FloatPointer bias = x.pendingBias == null ? null : new FloatPointer(x.pendingBias.pointer());
        CudaRuntime.checkKernel(ClipSurgeryNative.cs_bias_quick_gelu_cuda(x.pointer(), csType(x.dtype()), x.rows(), x.cols(),
                bias, out.pointer(), stream), "cs_bias_quick_gelu_cuda");
        return out;
    }

    @Override
    public DeviceTensor add(DeviceTensor a, DeviceTensor b) {
        requireFloat(a, "add");
        long[] sa = a.shape(), sb = b.shape();
        boolean suffix = sb.length <= sa.length;
        for (int i = 1; suffix && i <= sb.length; i++) suffix = sb[sb.length - i] == sa[sa.length - i];
        if (!suffix) throw new IllegalArgumentException("add: " + Arrays.toString(sb) + " does not broadcast to " + Arrays.toString(sa));
        DeviceTensor bb = b.dtype() == a.dtype() ? b : as(b, a.dtype());
        DeviceTensor out = alloc(a.dtype(), sa);
        long n = a.numel();
        // Pending biases of either side are added in the same pass.
        rt.launch1d(rt.add, n, stream, new RuntimeKernels.Args(9).ptr(a.address()).ptr(bb.address()).i64(Math.max(1, bb.numel()))
                .ptr(a.pendingBias == null ? 0 : a.pendingBias.address())
                .ptr(bb.pendingBias == null ? 0 : bb.pendingBias.address())
                .i64(a.cols()).ptr(out.address()).i32(csType(a.dtype())).i64(n), "rt_add");
        return out;
    }

    @Override
    public DeviceTensor conv2d(DeviceTensor x, DeviceTensor w, int stride, int padding) {
        if (x.rank() != 4 || w.rank() != 4 || w.dim(1) != x.dim(1)) {
            throw new IllegalArgumentException("conv2d: input " + Arrays.toString(x.shape()) + ", weight " + Arrays.toString(w.shape()));
        }
        long p = w.dim(2), side = x.dim(2);
        boolean patch = padding == 0 && stride == p && w.dim(3) == p && x.dim(3) == side && side % p == 0;
        if (!patch) throw new UnsupportedOperationException(RESNET);
        // Stride = kernel: the convolution is a GEMM of non-overlapping patches with the weight.
        DeviceTensor pix = as(x, DType.F32);
        long batch = x.dim(0), ch = x.dim(1), g = side / p, cols = ch * p * p, cout = w.dim(0);
        DeviceTensor patches = alloc(w.dtype(), batch * g * g, cols);
        rt.launch1d(rt.patchify, patches.numel(), stream, new RuntimeKernels.Args(7).ptr(pix.address()).ptr(patches.address())
                .i32(csType(w.dtype())).i64(batch).i64(ch).i64(side).i64(p), "rt_patchify");
        DeviceTensor tokens = alloc(w.dtype(), batch * g * g, cout);
        gemm(patches, w.view(cout, cols), true, tokens, batch * g * g, cout, cols);
        return new DeviceTensor(tokens.address(), new long[] {batch, cout, g, g}, w.dtype(), true);
    }

    @Override
    public DeviceTensor batchNorm(DeviceTensor x, DeviceTensor weight, DeviceTensor bias, DeviceTensor mean, DeviceTensor var) {
        throw new UnsupportedOperationException(RESNET);
    }

    @Override
    public DeviceTensor relu(DeviceTensor x) {
        throw new UnsupportedOperationException(RESNET);
    }

    @Override
    public DeviceTensor avgPool(DeviceTensor x, int k) {
        throw new UnsupportedOperationException(RESNET);
    }

    @Override
    public DeviceTensor meanToken(DeviceTensor x) {
        throw new UnsupportedOperationException(RESNET);
    }

    @Override
    public DeviceTensor gridToTokens(DeviceTensor x) {
        if (x.rank() != 4) throw new IllegalArgumentException("gridToTokens needs (B, C, H, W), got " + Arrays.toString(x.shape()));
        if (!x.tokenMajorGrid) throw new UnsupportedOperationException(RESNET);
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
            CudaRuntime.checkKernel(ClipSurgeryNative.cs_embed_tokens_cuda(x.pointer(), csType(x.dtype()), b, grid, c,
                    new FloatPointer(cls.pointer()), new FloatPointer(zeros.pointer()), grid, out.pointer(), stream),
                    "cs_embed_tokens_cuda");
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
    public DeviceTensor withToken0From(DeviceTensor x, DeviceTensor src) {
        materialize(x);
        DeviceTensor s = as(src, x.dtype());
        if (!Arrays.equals(x.shape(), s.shape()) || x.rank() != 3) {
            throw new IllegalArgumentException("withToken0From: " + Arrays.toString(x.shape()) + " and " + Arrays.toString(src.shape()));
        }
        DeviceTensor out = alloc(x.dtype(), x.shape());
        copyDevice(out.address(), x.address(), x.bytes());
        CudaRuntime.checkKernel(ClipSurgeryNative.cs_class_token_copy_cuda(s.pointer(), out.pointer(), csType(x.dtype()),
                x.dim(0), x.dim(1), x.dim(2), stream), "cs_class_token_copy_cuda");
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
        long width = table.cols() * table.dtype().size() / 2;
        rt.launch1d(rt.gatherRows, rows * width, stream, new RuntimeKernels.Args(6).ptr(table.address()).i64(tableRows)
                .ptr(idx.address()).ptr(out.address()).i64(rows).i64(width), "rt_gather_rows");
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

    private static boolean kernelHeadDim(long d) {
        return d == 32 || d == 64 || d == 80 || d == 128;
    }

    /** rt_attention(_small): softmax(s·q·kᵀ)·v with rows `stride` elements apart. */
    private void rtAttention(long q, long k, long v, long stride, DeviceTensor out, long batch, long tokens, long channels,
            long heads, boolean causal) {
        int warps = 4;
        long d = channels / heads;
        float scale = (float) (1 / Math.sqrt((double) d));
        long smallShared = 4L * (2 * tokens * d + warps * tokens);
        if (d <= 128 && smallShared <= 48 * 1024) {
            // short sequences (the text encoder): K and V of a head in shared memory
            rt.launch(rt.attentionSmall, Math.toIntExact(batch * heads), 32 * warps, (int) smallShared, stream,
                    new RuntimeKernels.Args(11).ptr(q).ptr(k).ptr(v).i64(stride).ptr(out.address()).i32(csType(out.dtype()))
                            .i64(tokens).i64(channels).i64(heads).f32(scale).i32(causal ? 1 : 0), "rt_attention_small");
            return;
        }
        long shared = 4L * warps * tokens;
        if (shared > 48 * 1024) {
            throw new UnsupportedOperationException("attention over " + tokens + " tokens with head dim " + d
                    + " is not supported on CUDA (at most 3072 tokens for head dims other than 32, 64, 80, 128)");
        }
        long items = batch * heads * tokens;
        rt.launch(rt.attention, Math.toIntExact((items + warps - 1) / warps), 32 * warps, (int) shared, stream,
                new RuntimeKernels.Args(12).ptr(q).ptr(k).ptr(v).i64(stride).ptr(out.address()).i32(csType(out.dtype()))
                        .i64(batch).i64(tokens).i64(channels).i64(heads).f32(scale).i32(causal ? 1 : 0), "rt_attention");
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
            CudaRuntime.checkKernel(ClipSurgeryNative.cs_attention_dual_cuda(qkv.pointer(), csType(qkv.dtype()), b, n, c, heads,
                    (float) (1 / Math.sqrt((double) c / heads)), out.pointer(), null, stream), "cs_attention_dual_cuda");
        } else {
            rtAttention(qkv.address(), qkv.address() + c * es, qkv.address() + 2 * c * es, 3 * c, out, b, n, c, heads, causal);
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
            CudaRuntime.checkKernel(ClipSurgeryNative.cs_attention_dual_cuda(qkv.pointer(), csType(qkv.dtype()), b, n, c, heads,
                    (float) (1 / Math.sqrt((double) c / heads)), ori.pointer(), vv.pointer(), stream), "cs_attention_dual_cuda");
        } else {
            long v = qkv.address() + 2 * c * es;
            rtAttention(qkv.address(), qkv.address() + c * es, v, 3 * c, ori, b, n, c, heads, false);
            rtAttention(v, v, v, 3 * c, vv, b, n, c, heads, false);
        }
        return new DeviceTensor[] {ori, vv};
    }

    @Override
    public DeviceTensor vvAttention(DeviceTensor v, int heads) {
        materialize(v);
        requireFloat(v, "vvAttention");
        if (v.rank() != 3 || v.dim(2) % heads != 0) throw new IllegalArgumentException("vvAttention: " + v + ", " + heads + " heads");
        DeviceTensor out = alloc(v.dtype(), v.shape());
        rtAttention(v.address(), v.address(), v.address(), v.dim(2), out, v.dim(0), v.dim(1), v.dim(2), heads, false);
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
        CudaRuntime.checkKernel(ClipSurgeryNative.cs_feature_surgery_cuda(image.pointer(), csType(image.dtype()), image.dim(0),
                image.dim(1), image.dim(2), new FloatPointer(text.pointer()), text.dim(0),
                redundant == null ? null : new FloatPointer(redundant.pointer()), new FloatPointer(DevicePointer.of(out)), stream),
                "cs_feature_surgery_cuda");
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the CUDA backend is closed");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        cudart.cudaSetDevice(device);
        cudart.cudaStreamSynchronize(stream);
        arena.close();
        for (long p : owned) cudart.cudaFree(DevicePointer.of(p));
        owned.clear();
        cache.clear();
        rt.close();
        cublas.cublasDestroy_v2(cublasHandle);
        cudart.cudaStreamDestroy(stream);
        one.close();
        zero.close();
    }
}

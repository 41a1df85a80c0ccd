package org.clipsurgery.engine.cuda;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.clipsurgery.CudaException;
import org.clipsurgery.weights.DType;

/**
 * {@link Gpu} on a CUDA device: one non-blocking stream, one cuBLAS handle bound to it (with a
 * workspace of its own, so that cuBLAS allocates nothing during graph capture), the project's
 * {@code cs_*_cuda} kernels, and stream capture into CUDA graphs.
 */
final class CudaGpu implements Gpu {
    private static final long CUBLAS_WORKSPACE = 32L << 20;

    private final int device;
    private final CUstream_st stream = new CUstream_st();
    private final cublasContext cublasHandle = new cublasContext();
    private final long cublasWorkspace;
    private final FloatPointer one = new FloatPointer(1f), zero = new FloatPointer(0f);
    private CUevent_st[] timing; // start and end events of elapsedMs, made on first use
    private boolean capturing, closed;

    /**
     * Opens CUDA device {@code device} (0 = the first visible).
     *
     * @throws CudaException when CUDA cannot be used (see {@link CudaException.Kind})
     */
    static CudaGpu open(int device) {
        CudaRuntime.require();
        int[] count = new int[1];
        CudaRuntime.check(cudart.cudaGetDeviceCount(count), "cudaGetDeviceCount");
        if (device < 0 || device >= count[0]) {
            throw new IllegalArgumentException("CUDA device " + device + " does not exist (" + count[0] + " visible)");
        }
        return new CudaGpu(device);
    }

    private CudaGpu(int device) {
        this.device = device;
        CudaRuntime.check(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        CudaRuntime.check(cudart.cudaStreamCreateWithFlags(stream, cudart.cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
        CudaRuntime.checkCublas(cublas.cublasCreate_v2(cublasHandle), "cublasCreate");
        CudaRuntime.checkCublas(cublas.cublasSetStream_v2(cublasHandle, stream), "cublasSetStream");
        cublasWorkspace = malloc(CUBLAS_WORKSPACE, "the cuBLAS workspace");
        CudaRuntime.checkCublas(cublas.cublasSetWorkspace_v2(cublasHandle, DevicePointer.of(cublasWorkspace), CUBLAS_WORKSPACE),
                "cublasSetWorkspace");
        // fp32 means fp32 (no TF32): parity with the fp32 reference is the point of that option.
        CudaRuntime.checkCublas(cublas.cublasSetMathMode(cublasHandle, cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    }

    /** The stream all work goes to (for callers that add their own work to it). */
    CUstream_st stream() {
        return stream;
    }

    int device() {
        return device;
    }

    @Override
    public long malloc(long bytes, String what) {
        if (capturing) throw new IllegalStateException("internal: cudaMalloc during CUDA-graph capture (" + what + ")");
        Pointer p = new Pointer();
        CudaRuntime.check(cudart.cudaMalloc(p, Math.max(1, bytes)), "cudaMalloc(" + bytes + " bytes) for " + what);
        return p.address();
    }

    @Override
    public void free(long address) {
        if (address != 0) cudart.cudaFree(DevicePointer.of(address));
    }

    @Override
    public long mallocHost(long bytes, String what) {
        Pointer p = new Pointer();
        CudaRuntime.check(cudart.cudaMallocHost(p, Math.max(1, bytes)), "cudaMallocHost(" + bytes + " bytes) for " + what);
        return p.address();
    }

    @Override
    public void freeHost(long address) {
        if (address != 0) cudart.cudaFreeHost(DevicePointer.of(address));
    }

    @Override
    public void makeCurrent() {
        CudaRuntime.check(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
    }

    private static int kind(Copy kind) {
        return switch (kind) {
            case TO_DEVICE -> cudart.cudaMemcpyHostToDevice;
            case TO_HOST -> cudart.cudaMemcpyDeviceToHost;
            case ON_DEVICE -> cudart.cudaMemcpyDeviceToDevice;
        };
    }

    @Override
    public void copy(long dst, long src, long bytes, Copy kind) {
        if (bytes == 0) return;
        CudaRuntime.check(cudart.cudaMemcpyAsync(DevicePointer.of(dst), DevicePointer.of(src), bytes, kind(kind), stream),
                "cudaMemcpyAsync " + kind);
    }

    @Override
    public void copy2d(long dst, long dpitch, long src, long spitch, long width, long height, Copy kind) {
        if (width == 0 || height == 0) return;
        CudaRuntime.check(cudart.cudaMemcpy2DAsync(DevicePointer.of(dst), dpitch, DevicePointer.of(src), spitch, width, height,
                kind(kind), stream), "cudaMemcpy2DAsync " + kind);
    }

    @Override
    public void memset(long dst, int value, long bytes) {
        if (bytes == 0) return;
        CudaRuntime.check(cudart.cudaMemsetAsync(DevicePointer.of(dst), value, bytes, stream), "cudaMemsetAsync");
    }

    @Override
    public void discard(long address, long bytes) {
        // nothing to do: the memory is simply reused
    }

    private static int cudaType(DType t) {
        return switch (t) {
            case F32 -> cudart.CUDA_R_32F;
            case F16 -> cudart.CUDA_R_16F;
            case BF16 -> cudart.CUDA_R_16BF;
            default -> throw new IllegalArgumentException("no GEMM type for " + t);
        };
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, long a, int lda, long b, int ldb, long c, int ldc,
            DType type) {
        int t = cudaType(type);
        CudaRuntime.checkCublas(cublas.cublasGemmEx(cublasHandle, transA ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N,
                transB ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N, m, n, k, one, DevicePointer.of(a), t, lda,
                DevicePointer.of(b), t, ldb, zero, DevicePointer.of(c), t, ldc, cublas.CUBLAS_COMPUTE_32F,
                cublas.CUBLAS_GEMM_DEFAULT), "cublasGemmEx " + m + "×" + n + "×" + k);
    }

    @Override
    public void kernel(String name, Kernel kernel) {
        CudaRuntime.checkKernel(kernel.run(false, stream), name + "_cuda");
    }

    @Override
    public void synchronize() {
        if (capturing) throw new IllegalStateException("internal: stream synchronisation during CUDA-graph capture");
        CudaRuntime.check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }

    @Override
    public void beginCapture() {
        CudaRuntime.check(cudart.cudaStreamBeginCapture(stream, cudart.cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
        capturing = true;
    }

    @Override
    public Graph endCapture(boolean failed) {
        capturing = false;
        CUgraph_st graph = new CUgraph_st();
        int rc = cudart.cudaStreamEndCapture(stream, graph);
        if (failed) {
            if (rc == 0 && !graph.isNull()) cudart.cudaGraphDestroy(graph);
            return null;
        }
        CudaRuntime.check(rc, "cudaStreamEndCapture");
        CUgraphExec_st exec = new CUgraphExec_st();
        int inst = cudart.cudaGraphInstantiate(exec, graph, 0L);
        if (inst != 0) {
            cudart.cudaGraphDestroy(graph);
            CudaRuntime.check(inst, "cudaGraphInstantiate");
        }
        return new Graph() {
            private boolean released;

            @Override
            public void launch() {
                if (released) throw new IllegalStateException("internal: launch of a released CUDA graph");
                CudaRuntime.check(cudart.cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
            }

            @Override
            public void close() {
                if (released) return;
                released = true;
                cudart.cudaGraphExecDestroy(exec);
                cudart.cudaGraphDestroy(graph);
            }
        };
    }

    @Override
    public boolean capturing() {
        return capturing;
    }

    @Override
    public double elapsedMs(Runnable enqueue) {
        if (timing == null) {
            timing = new CUevent_st[] {new CUevent_st(), new CUevent_st()};
            for (CUevent_st e : timing) CudaRuntime.check(cudart.cudaEventCreate(e), "cudaEventCreate");
        }
        CudaRuntime.check(cudart.cudaEventRecord(timing[0], stream), "cudaEventRecord");
        enqueue.run();
        CudaRuntime.check(cudart.cudaEventRecord(timing[1], stream), "cudaEventRecord");
        CudaRuntime.check(cudart.cudaEventSynchronize(timing[1]), "cudaEventSynchronize");
        float[] ms = new float[1];
        CudaRuntime.check(cudart.cudaEventElapsedTime(ms, timing[0], timing[1]), "cudaEventElapsedTime");
        return ms[0];
    }

    @Override
    public String name() {
        return CudaRuntime.deviceName(device);
    }

    @Override
    public long memoryUsed() {
        return CudaRuntime.memoryUsed();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        cudart.cudaSetDevice(device);
        cudart.cudaStreamSynchronize(stream);
        free(cublasWorkspace);
        if (timing != null) for (CUevent_st e : timing) cudart.cudaEventDestroy(e);
        cublas.cublasDestroy_v2(cublasHandle);
        cudart.cudaStreamDestroy(stream);
        one.close();
        zero.close();
    }
}

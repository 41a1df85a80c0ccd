package org.clipsurgery.engine.cuda;

import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.clipsurgery.CudaException;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;
import org.clipsurgery.nativeapi.NativeException;

/**
 * Checks that CUDA can be used and turns CUDA / cuBLAS status codes into
 * {@link CudaException}s. Order of the checks matters: the project's own library (which links the
 * CUDA runtime statically and loads without a GPU) is asked first whether a device and a new
 * enough driver exist; only then are org.bytedeco:cuda's JNI libraries loaded, which need the
 * machine's CUDA 13 libraries (and fail with an {@link UnsatisfiedLinkError} without them).
 */
public final class CudaRuntime {
    /** The CUDA version this engine is built and tested for (cudaDriverGetVersion encoding). */
    public static final int REQUIRED_DRIVER_VERSION = 13000;

    private static volatile boolean ready;

    private CudaRuntime() {}

    /**
     * Whether a CUDA device is usable from this process: the native library was built with CUDA,
     * a device and a CUDA 13 driver exist. Does not load org.bytedeco:cuda; never throws.
     */
    public static boolean deviceAvailable() {
        try {
            NativeCalls.load();
            if (!NativeCalls.cudaBuilt()) return false;
            int[] count = new int[1];
            return ClipSurgeryNative.cs_cuda_device_count(count) == ClipSurgeryNative.CS_OK && count[0] > 0;
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    /**
     * Makes sure the engine can run: throws a {@link CudaException} of the matching kind when it
     * cannot. Idempotent and cheap after the first successful call.
     */
    public static void require() {
        if (ready) return;
        synchronized (CudaRuntime.class) {
            if (ready) return;
            try {
                NativeCalls.load();
            } catch (NativeException e) {
                throw new CudaException(CudaException.Kind.MISSING_LIBRARIES, e.getMessage(), e);
            }
            if (!NativeCalls.cudaBuilt()) {
                throw new CudaException(CudaException.Kind.NOT_BUILT, "the native library clip_surgery was built "
                        + "without CUDA (nvcc was not found at build time): rebuild with the CUDA 13 toolkit, or use Device.CPU");
            }
            int[] count = new int[1];
            int rc = ClipSurgeryNative.cs_cuda_device_count(count);
            if (rc != ClipSurgeryNative.CS_OK) {
                String detail = ClipSurgeryNative.cs_last_error().getString();
                boolean driver = detail.contains("driver") || detail.contains("35");
                throw new CudaException(driver ? CudaException.Kind.OLD_DRIVER : CudaException.Kind.NO_DEVICE,
                        (driver ? "the NVIDIA driver is missing or older than CUDA 13 needs: "
                                : "no usable CUDA device: ") + detail);
            }
            if (count[0] == 0) throw new CudaException(CudaException.Kind.NO_DEVICE, "no CUDA device is visible");
            // org.bytedeco:cuda is an optional dependency of the library (a CPU-only user does
            // not get it): say so, rather than blame the machine's CUDA libraries.
            try {
                Class.forName("org.bytedeco.cuda.global.cudart", false, CudaRuntime.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new CudaException(CudaException.Kind.MISSING_LIBRARIES, "org.bytedeco:cuda is not on the "
                        + "class path: Device.CUDA needs org.bytedeco:cuda:13.1-9.19-1.5.13 and its "
                        + "linux-x86_64 jar (optional dependencies of clip-surgery)", e);
            }
            try {
                Loader.load(cudart.class);
                Loader.load(cublas.class);
            } catch (LinkageError e) {
                throw new CudaException(CudaException.Kind.MISSING_LIBRARIES, "cannot load the CUDA 13 libraries "
                        + "through org.bytedeco:cuda (libcudart.so.13, libcublas.so.13, libcublasLt.so.13 "
                        + "and the driver's libcuda.so.1 must be on the library path): " + e, e);
            }
            int[] driver = new int[1];
            check(cudart.cudaDriverGetVersion(driver), "cudaDriverGetVersion");
            if (driver[0] < REQUIRED_DRIVER_VERSION) {
                throw new CudaException(CudaException.Kind.OLD_DRIVER, "the NVIDIA driver supports CUDA "
                        + driver[0] / 1000 + "." + driver[0] % 1000 / 10 + "; this engine needs CUDA 13.0 or newer");
            }
            ready = true;
        }
    }

    /** Throws a {@link CudaException} for a CUDA runtime or driver status other than success. */
    public static void check(int err, String what) {
        if (err == 0) return;
        String name;
        try {
            name = cudart.cudaGetErrorString(err).getString();
        } catch (RuntimeException e) {
            name = "error " + err;
        }
        if (err == cudart.cudaErrorMemoryAllocation) {
            throw new CudaException(CudaException.Kind.OUT_OF_MEMORY, what + ": out of GPU memory (" + memoryReport() + ")");
        }
        if (err == cudart.cudaErrorInsufficientDriver) {
            throw new CudaException(CudaException.Kind.OLD_DRIVER, what + ": " + name);
        }
        throw new CudaException(CudaException.Kind.CUDA_ERROR, what + " failed: " + name + " (" + err + ")");
    }

    /** Same for CUDA driver API results (CUresult). */
    static void checkDriver(int err, String what) {
        if (err == 0) return;
        String name = "CUresult " + err;
        try (PointerPointer<BytePointer> pp = new PointerPointer<>(1)) {
            if (cudart.cuGetErrorString(err, pp) == 0 && pp.get(0) != null) name = pp.getString(0);
        } catch (RuntimeException e) {
            // keep the number
        }
        if (err == 2) throw new CudaException(CudaException.Kind.OUT_OF_MEMORY, what + ": out of GPU memory (" + memoryReport() + ")");
        throw new CudaException(CudaException.Kind.CUDA_ERROR, what + " failed: " + name);
    }

    /** Same for cuBLAS statuses. */
    static void checkCublas(int status, String what) {
        if (status == cublas.CUBLAS_STATUS_SUCCESS) return;
        String name = cublas.cublasGetStatusString(status).getString();
        if (status == cublas.CUBLAS_STATUS_ALLOC_FAILED) {
            throw new CudaException(CudaException.Kind.OUT_OF_MEMORY, what + ": " + name + " (" + memoryReport() + ")");
        }
        throw new CudaException(CudaException.Kind.CUDA_ERROR, what + " failed: " + name);
    }

    /**
     * Throws for a status of the project's native library (kernels): CS_ERR_UNSUPPORTED as an
     * {@link UnsupportedOperationException} (a request this build cannot serve, e.g. attention
     * over more tokens than the kernel holds), everything else as a {@link CudaException}.
     */
    static void checkKernel(int status, String what) {
        if (status == ClipSurgeryNative.CS_OK) return;
        String detail = ClipSurgeryNative.cs_last_error().getString();
        if (status == ClipSurgeryNative.CS_ERR_UNSUPPORTED) {
            throw new UnsupportedOperationException(what + ": " + (detail.isEmpty() ? "not supported by this build" : detail));
        }
        CudaException.Kind kind = status == ClipSurgeryNative.CS_ERR_OUT_OF_MEMORY ? CudaException.Kind.OUT_OF_MEMORY
                : CudaException.Kind.CUDA_ERROR;
        throw new CudaException(kind, what + " failed (" + ClipSurgeryNative.cs_status_string(status).getString() + ")"
                + (detail.isEmpty() ? "" : ": " + detail));
    }

    /** "x of y MiB free", or "" if the runtime cannot tell. */
    public static String memoryReport() {
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            if (cudart.cudaMemGetInfo(free, total) != 0) return "free memory unknown";
            return (free.get() >> 20) + " of " + (total.get() >> 20) + " MiB free";
        } catch (RuntimeException | LinkageError e) {
            return "free memory unknown";
        }
    }

    /** Device memory in use on the current device (total − free), in bytes. */
    public static long memoryUsed() {
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            check(cudart.cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return total.get() - free.get();
        }
    }

    /** The device's name (driver API), e.g. "NVIDIA H100 80GB HBM3". */
    public static String deviceName(int device) {
        require();
        checkDriver(cudart.cuInit(0), "cuInit");
        byte[] name = new byte[256];
        checkDriver(cudart.cuDeviceGetName(name, name.length, device), "cuDeviceGetName");
        int n = 0;
        while (n < name.length && name[n] != 0) n++;
        return new String(name, 0, n, java.nio.charset.StandardCharsets.UTF_8);
    }
}

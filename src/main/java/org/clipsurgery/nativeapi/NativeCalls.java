package org.clipsurgery.nativeapi;

import org.bytedeco.javacpp.Loader;

/**
 * The one place where status codes of the native library become Java exceptions. Every call into
 * {@link ClipSurgeryNative} goes through {@link #check}, after the caller has validated its
 * arguments in Java (the C API checks them again, so a mistake here still cannot crash the JVM).
 */
public final class NativeCalls {
    private static volatile boolean loaded;

    private NativeCalls() {}

    /** Loads the JNI glue and libclip_surgery (from target/classes or the jar); idempotent. */
    public static void load() {
        if (!loaded) {
            synchronized (NativeCalls.class) {
                if (!loaded) {
                    try {
                        Loader.load(ClipSurgeryNative.class);
                    } catch (UnsatisfiedLinkError e) {
                        throw new NativeException(ClipSurgeryNative.CS_ERR_INTERNAL,
                                "cannot load the native library clip_surgery: " + e.getMessage());
                    }
                    loaded = true;
                }
            }
        }
    }

    /**
     * Sets {@code OMP_WAIT_POLICY=PASSIVE} in this process's environment where it is not set, for
     * the OpenMP runtime LibTorch brings (libgomp), which reads it once, when it is loaded: call
     * before LibTorch loads. By default libgomp's idle threads spin for milliseconds after every
     * parallel region, and between LibTorch's element-wise ops they took the cores from OpenBLAS's
     * own GEMM threads: image → 59 maps at 224 px took 1,630 ms instead of 390 on 2 cores.
     * Without effect if the variable is set (the user's choice stands) or if something else in the
     * process loaded libgomp first. Returns whether it set the variable.
     */
    public static boolean passiveOpenMpWaiting() {
        if (System.getenv("OMP_WAIT_POLICY") != null) return false;
        load();
        // setenv is not safe against a concurrent getenv in another thread; this runs once, from
        // TorchOps's class initialisation, where the JVM's own threads do not read the environment.
        return ClipSurgeryNative.setenv("OMP_WAIT_POLICY", "PASSIVE", 0) == 0;
    }

    /** Throws a {@link NativeException} for any status other than CS_OK. */
    public static void check(int status, String what) {
        if (status != ClipSurgeryNative.CS_OK) {
            String detail = ClipSurgeryNative.cs_last_error().getString();
            String kind = ClipSurgeryNative.cs_status_string(status).getString();
            throw new NativeException(status, what + " failed (" + kind + ")"
                    + (detail.isEmpty() ? "" : ": " + detail));
        }
    }

    /** The native library's version, "major.minor.patch". */
    public static String version() {
        load();
        return ClipSurgeryNative.cs_version().getString();
    }

    /** Whether the native library was compiled with its CUDA kernels. */
    public static boolean cudaBuilt() {
        load();
        return ClipSurgeryNative.cs_cuda_built() != 0;
    }
}

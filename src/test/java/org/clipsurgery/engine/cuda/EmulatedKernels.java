package org.clipsurgery.engine.cuda;

import java.io.File;
import java.util.Map;
import org.bytedeco.javacpp.Loader;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;
import org.junit.jupiter.api.Assumptions;

/**
 * Which kernels {@link HostGpu} runs. By default the {@code cs_*_cpu} twins. In the test run that
 * Maven starts with {@code -Dclipsurgery.kernels=emulated} (the {@code emulated-kernels}
 * execution in pom.xml), this JVM has loaded the SIMT emulation's build of libclip_surgery
 * (tests/emu: the real {@code cuda/*.cu} kernels compiled for the CPU, every CUDA thread a fiber)
 * in place of the product's, and {@link HostGpu} calls the {@code cs_*_cuda} entry points: the Java
 * engine and the real kernel code then meet the fixtures together, on host memory.
 */
final class EmulatedKernels {
    static final String PROPERTY = "clipsurgery.kernels";

    private EmulatedKernels() {}

    /**
     * Whether this JVM runs the real kernels on the emulation. Throws when asked to and the loaded
     * library is not the emulation's: calling a GPU build's kernels with host memory would crash.
     * Skips the calling test where the emulation was not built (CMake builds it only where it finds
     * CUDA's headers), unless the environment has CLIP_SURGERY_CI=1 (CI must run it).
     */
    static boolean active() {
        String mode = System.getProperty(PROPERTY, "twins");
        if (mode.equals("twins")) return false;
        if (!mode.equals("emulated")) throw new IllegalStateException("-D" + PROPERTY + "=" + mode + ": expected twins or emulated");
        String dirs = System.getProperty("java.library.path", "");
        boolean built = false;
        for (String dir : dirs.split(File.pathSeparator)) built |= new File(dir, "libclip_surgery.so").isFile();
        if (!built) {
            String why = "the SIMT emulation's libclip_surgery is not in " + dirs + " (CMake builds it where it finds CUDA's headers)";
            if ("1".equals(System.getenv("CLIP_SURGERY_CI"))) throw new IllegalStateException(why + "; CLIP_SURGERY_CI=1 requires it");
            Assumptions.abort(why);
        }
        NativeCalls.load();
        String path = libraryPath();
        int[] count = new int[1];
        if (path == null || !path.contains("/emu/lib/") || ClipSurgeryNative.cs_cuda_device_count(count) != ClipSurgeryNative.CS_OK
                || count[0] != 1) {
            throw new IllegalStateException("-D" + PROPERTY + "=emulated, but libclip_surgery was loaded from " + path
                    + ", not from the SIMT emulation's build: run with -Dorg.bytedeco.javacpp.pathsFirst=true "
                    + "-Djava.library.path=<cmake build>/emu/lib (pom.xml's emulated-kernels execution does)");
        }
        return true;
    }

    /** Where the JVM loaded libclip_surgery from, or null. */
    static String libraryPath() {
        for (Map.Entry<String, String> e : Loader.getLoadedLibraries().entrySet()) {
            if (e.getValue() != null && e.getValue().endsWith("/libclip_surgery.so")) return e.getValue();
        }
        return null;
    }
}

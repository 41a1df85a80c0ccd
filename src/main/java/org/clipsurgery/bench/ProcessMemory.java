package org.clipsurgery.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process's resident memory from Linux's /proc/self: LibTorch's and the other native
 * allocations are invisible to the JVM, so the resident set is the honest gauge of what a case
 * costs. Shared by the benchmarks and the tests that report memory.
 */
public final class ProcessMemory {
    private ProcessMemory() {}

    /**
     * Resets the kernel's peak-resident counter (VmHWM) to the current resident set (Linux 4.0+);
     * false where that is not possible (not Linux, or not permitted): {@link #peak()} then is the
     * peak since the process started.
     */
    public static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** The current resident set in bytes, or -1 where /proc/self/status cannot say. */
    public static long resident() {
        return status("VmRSS:");
    }

    /** The peak resident set in bytes since the start or the last {@link #resetPeak()}, or -1. */
    public static long peak() {
        return status("VmHWM:");
    }

    private static long status(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}

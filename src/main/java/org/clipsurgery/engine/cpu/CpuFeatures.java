package org.clipsurgery.engine.cpu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What this CPU offers the bf16 mode: native bf16 dot products, as the Linux kernel reports them
 * in {@code /proc/cpuinfo} ({@code avx512_bf16} or {@code amx_bf16} on x86-64, {@code bf16} on
 * Arm). Without them LibTorch still computes bf16 products, by converting to fp32 in software:
 * correct, but slower than fp32, so the engine refuses bf16 there rather than offer a slow mode.
 */
public final class CpuFeatures {
    private static final Path CPUINFO = Path.of("/proc/cpuinfo");
    private static final Set<String> BF16_DOT = Set.of("avx512_bf16", "amx_bf16", "bf16");
    private static final String MODEL_NAME = "model name";

    private CpuFeatures() {}

    /**
     * Whether a {@code /proc/cpuinfo} text reports bf16 dot products: a flag of {@link #BF16_DOT}
     * on the first processor's {@code flags} (x86-64) or {@code Features} (Arm) line.
     */
    static boolean bf16Dot(String cpuinfo) {
        return featureLine(cpuinfo).stream().anyMatch(BF16_DOT::contains);
    }

    /**
     * Why this machine does not get the CPU engine's bf16 mode, or empty where it does: the one
     * message of the facade's and the command line's refusal.
     */
    public static Optional<String> bf16Refusal() {
        String info = cpuinfo();
        if (bf16Dot(info)) return Optional.empty();
        return Optional.of("bf16 on the CPU needs native bf16 dot products (AVX512-BF16 or AMX on x86-64, BF16 on Arm); "
                + field(info, MODEL_NAME).orElse("this CPU") + " reports none, and LibTorch's software bf16 is slower "
                + "than fp32: use fp32");
    }

    /** The CPU's name as /proc/cpuinfo gives it ("model name"; x86-64 has one, Arm none). */
    public static Optional<String> modelName() {
        return field(cpuinfo(), MODEL_NAME);
    }

    private static Set<String> featureLine(String cpuinfo) {
        String line = field(cpuinfo, "flags").or(() -> field(cpuinfo, "Features")).orElse("");
        return Arrays.stream(line.split("\\s+")).map(f -> f.toLowerCase(Locale.ROOT)).collect(Collectors.toSet());
    }

    /** The value of the first line "name<tabs>: value". */
    private static Optional<String> field(String cpuinfo, String name) {
        for (String line : cpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).trim().equals(name)) {
                return Optional.of(line.substring(colon + 1).trim());
            }
        }
        return Optional.empty();
    }

    private static String cpuinfo() {
        try {
            return Files.readString(CPUINFO);
        } catch (IOException | RuntimeException e) {
            return ""; // not Linux, or no procfs: nothing is known, so nothing is claimed
        }
    }
}

package org.clipsurgery.nativeapi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The oldest glibc and libstdc++ that the native libraries we ship (libclip_surgery.so and the
 * JNI glue, as built into target/classes) can load on: the highest symbol version each one needs,
 * read with {@code objdump -T} (binutils, part of the g++ toolchain the build requires), must not
 * exceed the floor README's "Requirements" line states. A rise (a new libc call, a newer build
 * machine, a JavaCPP update) fails here instead of reaching users as a load error.
 *
 * <p>Measured on linux-x86_64 (Debian 12: glibc 2.36, GCC 12, CUDA 13.0):
 * <ul>
 *   <li>GLIBC_2.34: dlopen/dlsym/dlerror/dlclose in the JNI glue that JavaCPP generates, and in a
 *       CUDA build the static CUDA runtime's pthread_*, sem_*, shm_*, dl* calls (glibc 2.34 moved
 *       them into libc.so.6 under that version). A CPU-only libclip_surgery.so alone needs 2.29
 *       (exp; expf 2.27).
 *   <li>GLIBCXX_3.4.22 and CXXABI_1.3.9 (libstdc++ of GCC 6 or later; 3.4.22 is std::thread's
 *       start, used by the map twins): libclip_surgery.so;
 *       the JNI glue needs GLIBCXX_3.4 and CXXABI_1.3.8.
 * </ul>
 * Linking libstdc++/libgcc statically was tried and rejected: GCC 12's static libstdc++ and
 * unwinder call arc4random, _dl_find_object and __libc_single_threaded, which raised the glibc
 * floor of a CPU-only library from 2.29 to 2.36. Going lower than 2.34 needs an older build
 * system (a sysroot or container with an older glibc): the static CUDA runtime is prebuilt, its
 * references bind to the default versions of the glibc it is linked against. The LibTorch this
 * library depends on (org.bytedeco:pytorch 2.10.0-1.5.13) needs glibc 2.35 itself.
 */
class GlibcFloorTest {

    /** Floors for platforms where they were measured; README's Requirements line states them. */
    private static final Map<String, Map<String, String>> FLOORS = Map.of(
            "linux-x86_64", Map.of("GLIBC", "2.34", "GLIBCXX", "3.4.22", "CXXABI", "1.3.9"));

    private static final Pattern VERSION = Pattern.compile("\\b(GLIBC|GLIBCXX|CXXABI)_([0-9]+(?:\\.[0-9]+)*)\\b");

    @Test
    void shippedLibrariesStayWithinTheStatedFloor() throws Exception {
        String platform = Loader.getPlatform();
        Map<String, String> floor = FLOORS.get(platform);
        Assumptions.assumeTrue(floor != null,
                "no glibc floor measured for " + platform + " yet: measure it and add it to FLOORS and README");

        List<Path> libraries = shippedLibraries(platform);
        List<String> names = libraries.stream().map(p -> p.getFileName().toString()).sorted().toList();
        assertTrue(names.contains("libclip_surgery.so") && names.contains("libjniClipSurgeryNative.so"),
                "expected libclip_surgery.so and the JNI library in the platform folder, found " + names);

        List<String> problems = new ArrayList<>();
        for (Path lib : libraries) {
            Map<String, String> highest = highestVersions(objdumpDynamicSymbols(lib));
            // Every one of them calls into libc: finding no GLIBC version means the output was not
            // understood, and the check would pass without checking anything.
            assertTrue(highest.containsKey("GLIBC"), lib + ": objdump -T listed no GLIBC_ version");
            for (Map.Entry<String, String> e : highest.entrySet()) {
                String allowed = floor.get(e.getKey());
                if (compare(e.getValue(), allowed) > 0) {
                    problems.add(lib.getFileName() + " needs " + e.getKey() + "_" + e.getValue()
                            + ", above the stated floor " + e.getKey() + "_" + allowed);
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems)
                + "\n(find the symbols with: objdump -T LIB | grep VERSION; lower them, or raise the floor "
                + "in README's Requirements and in this test)");
    }

    /** README states the same floor as this test checks, so neither can change alone. */
    @Test
    void readmeStatesTheFloor() throws IOException {
        String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
        Map<String, String> x86 = FLOORS.get("linux-x86_64");
        // the paragraph that starts with "Requirements", line breaks read as spaces
        String paragraph = Arrays.stream(readme.split("\n\\s*\n")).filter(b -> b.startsWith("Requirements"))
                .findFirst().orElseGet(() -> fail("README.md has no paragraph starting with \"Requirements\""))
                .replaceAll("\\s+", " ");
        assertTrue(paragraph.contains("glibc " + x86.get("GLIBC") + " or later"), "README: " + paragraph);
        assertTrue(paragraph.contains("GLIBCXX_" + x86.get("GLIBCXX")), "README: " + paragraph);
        assertTrue(paragraph.contains("CXXABI_" + x86.get("CXXABI")), "README: " + paragraph);
    }

    /** The comparison itself: numeric per component, so that 2.4 < 2.34 and 3.4.9 < 3.4.21. */
    @Test
    void versionsCompareNumerically() {
        assertTrue(compare("2.4", "2.34") < 0);
        assertTrue(compare("2.35", "2.34") > 0);
        assertTrue(compare("3.4.9", "3.4.21") < 0);
        assertTrue(compare("3.4", "3.4.21") < 0);
        assertEquals(0, compare("2.34", "2.34"));
        Map<String, String> h = highestVersions("0 DF *UND* 0 (GLIBC_2.4) a\n0 DF *UND* 0 (GLIBC_2.34) b\n"
                + "0 DF *UND* 0 GLIBC_2.2.5 c\n0 DF *UND* 0 (GLIBCXX_3.4.9) d\n0 DF *UND* 0 (GLIBCXX_3.4.21) e\n");
        assertEquals(Map.of("GLIBC", "2.34", "GLIBCXX", "3.4.21"), h);
        assertFalse(highestVersions("no versions here").containsKey("GLIBC"));
    }

    private static List<Path> shippedLibraries(String platform) throws IOException, URISyntaxException {
        URL dir = ClipSurgeryNative.class.getResource(platform + "/");
        if (dir == null || !"file".equals(dir.getProtocol())) {
            fail("the native libraries are not in a class-path folder (" + dir + "): run the test from the build");
        }
        try (Stream<Path> files = Files.list(Path.of(dir.toURI()))) {
            return files.filter(p -> p.getFileName().toString().endsWith(".so")).sorted().toList();
        }
    }

    private static String objdumpDynamicSymbols(Path lib) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("objdump", "-T", lib.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = p.waitFor();
        assertEquals(0, rc, "objdump -T " + lib + " failed:\n" + out);
        return out;
    }

    static Map<String, String> highestVersions(String objdumpOutput) {
        Map<String, String> highest = new TreeMap<>();
        Matcher m = VERSION.matcher(objdumpOutput);
        while (m.find()) {
            highest.merge(m.group(1), m.group(2), (a, b) -> compare(a, b) >= 0 ? a : b);
        }
        return highest;
    }

    static int compare(String a, String b) {
        int[] x = Arrays.stream(a.split("\\.")).mapToInt(Integer::parseInt).toArray();
        int[] y = Arrays.stream(b.split("\\.")).mapToInt(Integer::parseInt).toArray();
        for (int i = 0; i < Math.max(x.length, y.length); i++) {
            int c = Integer.compare(i < x.length ? x[i] : 0, i < y.length ? y[i] : 0);
            if (c != 0) return c;
        }
        return 0;
    }
}

package org.clipsurgery.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.clipsurgery.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What `mvn package` hands to users, checked after packaging (maven-failsafe, integration-test
 * phase): the split into a Java-only main jar and a per-platform native jar, and the CLI
 * distribution unpacked into a fresh folder and run from there as a user would. The paths come
 * from the POM (failsafe's systemPropertyVariables).
 */
class DistributionIT {
    private static final String PLATFORM = property("clipsurgery.platform");
    private static final String NATIVE_DIR = "org/clipsurgery/nativeapi/" + PLATFORM + "/";

    private static String property(String name) {
        String v = System.getProperty(name);
        if (v == null || v.isEmpty()) throw new IllegalStateException(name + " is not set (run through Maven's failsafe)");
        return v;
    }

    private static List<String> entries(Path jar) throws IOException {
        try (JarFile j = new JarFile(jar.toFile())) {
            return j.stream().map(e -> e.getName()).collect(Collectors.toList());
        }
    }

    @Test
    void mainJarHasNoNativeLibrariesAndThePlatformJarHasBoth() throws IOException {
        List<String> main = entries(Path.of(property("clipsurgery.main.jar")));
        assertTrue(main.contains("org/clipsurgery/nativeapi/NativeCalls.class"), "main jar without the classes?");
        List<String> so = main.stream().filter(n -> n.endsWith(".so") || n.contains(".so.")).toList();
        assertEquals(List.of(), so, "native libraries in the main jar");

        List<String> nat = entries(Path.of(property("clipsurgery.native.jar")));
        assertTrue(nat.contains(NATIVE_DIR + "libclip_surgery.so"), "no libclip_surgery.so in the platform jar: " + nat);
        assertTrue(nat.contains(NATIVE_DIR + "libjniClipSurgeryNative.so"), "no JNI glue in the platform jar: " + nat);
        List<String> classes = nat.stream().filter(n -> n.endsWith(".class")).toList();
        assertEquals(List.of(), classes, "classes in the platform jar");
    }

    /** Maven Central wants sources and javadoc beside every jar; the build makes both. */
    @Test
    void sourcesAndJavadocJarsAreBuilt() throws IOException {
        String main = property("clipsurgery.main.jar");
        String stem = main.substring(0, main.length() - ".jar".length());
        List<String> sources = entries(Path.of(stem + "-sources.jar"));
        assertTrue(sources.contains("org/clipsurgery/ClipSurgery.java"), "sources jar without the facade: " + sources.size());
        List<String> javadoc = entries(Path.of(stem + "-javadoc.jar"));
        // a modular javadoc: pages under the module's folder
        assertTrue(javadoc.contains("index.html") && javadoc.contains("org.clipsurgery/org/clipsurgery/ClipSurgery.html"),
                "javadoc jar without its index or the facade's page: " + javadoc.size() + " entries");
        assertTrue(javadoc.stream().noneMatch(e -> e.contains("/engine/") || e.contains("/nativeapi/")),
                "internal packages in the javadoc jar");
    }

    /** The distribution unpacked into {@code tmp} with tar, as a user would; its top folder. */
    private static Path unpack(Path tmp) throws Exception {
        Path archive = Path.of(property("clipsurgery.dist.archive"));
        assertTrue(Files.isRegularFile(archive), archive + " was not built");
        // tar also keeps bin/clip-surgery executable
        Result untar = run(tmp, List.of("tar", "-xzf", archive.toString()), Map.of());
        assertEquals(0, untar.rc, untar.output);
        try (Stream<Path> top = Files.list(tmp)) {
            List<Path> dirs = top.toList();
            assertEquals(1, dirs.size(), "one top-level folder expected: " + dirs);
            return dirs.get(0);
        }
    }

    @Test
    void unpackedDistributionRunsTheCliOnTheCpu(@TempDir Path tmp) throws Exception {
        Path fixtures = Fixtures.dir().toAbsolutePath();
        Path home = unpack(tmp);
        List<String> lib;
        try (Stream<Path> s = Files.list(home.resolve("lib"))) {
            lib = s.map(p -> p.getFileName().toString()).sorted().toList();
        }
        for (Pattern want : List.of(
                Pattern.compile(Pattern.quote(Path.of(property("clipsurgery.main.jar")).getFileName().toString())),
                Pattern.compile(Pattern.quote(Path.of(property("clipsurgery.native.jar")).getFileName().toString())),
                Pattern.compile("pytorch-.*-" + Pattern.quote(PLATFORM) + "\\.jar"),
                Pattern.compile("openblas-.*-" + Pattern.quote(PLATFORM) + "\\.jar"),
                Pattern.compile("javacpp-.*-" + Pattern.quote(PLATFORM) + "\\.jar"),
                Pattern.compile("picocli-.*\\.jar"), Pattern.compile("gson-.*\\.jar"))) {
            assertTrue(lib.stream().anyMatch(n -> want.matcher(n).matches()), "lib/ lacks " + want + ": " + lib);
        }
        assertTrue(lib.stream().noneMatch(n -> n.startsWith("junit")), "test jars in lib/: " + lib);

        // The same JDK as this test, through JAVA_HOME, and an empty JavaCPP cache, as on a new
        // user's machine. A first run used to die here (SIGSEGV in pthread_mutex_lock) where
        // another LibTorch is installed (Debian's python3-torch, as on this project's machines):
        // JavaCPP extracted libtorch.so before libtorch_cpu.so, so the system's was linked in.
        // TorchOps now extracts LibTorch's folder first; this run is that fix's regression test.
        Path cache = tmp.resolve("javacpp-cache");
        Map<String, String> env = Map.of("JAVA_HOME", System.getProperty("java.home"),
                "JAVA_TOOL_OPTIONS", "-Dorg.bytedeco.javacpp.cachedir=" + cache);
        Path launcher = home.resolve("bin/clip-surgery");
        assertTrue(Files.isExecutable(launcher), launcher + " is not executable");

        // --version loads libclip_surgery and its JNI glue: they are only in the platform jar.
        Result version = run(home, List.of(launcher.toString(), "--version"), env);
        assertEquals(0, version.rc, version.output);
        assertTrue(Pattern.compile("(?m)^native library \\d+\\.\\d+\\.\\d+, CUDA kernels (built in|not built)$")
                .matcher(version.output).find(), "native library not loaded from the distribution:\n" + version.output);

        Result explain = run(home, List.of(launcher.toString(), "explain", "-m", fixtures.resolve("vit.pt").toString(),
                "-i", fixtures.resolve("image.png").toString(), "-l", "person,sky", "-r", "64", "-o", "OUT"), env);
        assertEquals(0, explain.rc, explain.output);
        for (String label : List.of("person", "sky")) {
            for (String f : List.of("image." + label + ".png", "image." + label + ".map.png")) {
                Path out = home.resolve("OUT").resolve(f);
                assertTrue(Files.isRegularFile(out) && Files.size(out) > 0, out + " missing or empty:\n" + explain.output);
            }
        }
    }

    /**
     * A Java program that uses the library without the launcher (which sets OMP_WAIT_POLICY)
     * gets passive OpenMP waiting all the same: the library sets it before LibTorch's libgomp
     * loads, unless the environment says otherwise. libgomp itself reports what it read
     * (OMP_DISPLAY_ENV=VERBOSE): its spin count, 0 when passive, 300,000 when the variable is
     * unset (it prints OMP_WAIT_POLICY = 'PASSIVE' for both, so that line proves nothing). Left spinning, LibTorch's idle OpenMP threads took the cores from
     * OpenBLAS's GEMM threads: 4 times slower at 224 px on 2 cores.
     */
    @Test
    void javaUsersGetPassiveOpenMpWaitingUnlessTheyChooseOtherwise(@TempDir Path tmp) throws Exception {
        Path home = unpack(tmp);
        List<String> java = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dorg.bytedeco.javacpp.cachedir=" + tmp.resolve("javacpp-cache"), "-cp", home.resolve("lib") + "/*",
                "org.clipsurgery.cli.Main", "bench", "--model", Fixtures.file("vit.pt").toAbsolutePath().toString(),
                "--resolutions", "32", "--batches", "1", "--iterations", "1", "--no-ensemble");
        Result unset = run(home, java, Map.of("OMP_DISPLAY_ENV", "VERBOSE"), "OMP_WAIT_POLICY");
        assertEquals(0, unset.rc, unset.output);
        assertTrue(unset.output.contains("GOMP_SPINCOUNT = '0'"), "libgomp spins (not passive):\n" + unset.output);
        Result chosen = run(home, java, Map.of("OMP_DISPLAY_ENV", "VERBOSE", "OMP_WAIT_POLICY", "ACTIVE"));
        assertEquals(0, chosen.rc, chosen.output);
        assertTrue(chosen.output.contains("OMP_WAIT_POLICY = 'ACTIVE'") && !chosen.output.contains("GOMP_SPINCOUNT = '0'"),
                "the user's policy was overridden:\n" + chosen.output);
    }

    /** The launcher refuses a Java older than 17 with a message that says what to do. */
    @Test
    void launcherRefusesJavaOlderThan17(@TempDir Path tmp) throws Exception {
        Path home = tmp.resolve("dist");
        Files.createDirectories(home.resolve("bin"));
        Files.createDirectories(home.resolve("lib"));
        Files.copy(Path.of("src/assembly/bin/clip-surgery"), home.resolve("bin/clip-surgery"));
        Files.createFile(home.resolve("lib/clip-surgery-0.jar"));
        // A stand-in java that answers -version as Java 8 and 11 do, and fails if run otherwise.
        for (String version : List.of("1.8.0_392", "11.0.22")) {
            Path jdk = tmp.resolve("jdk-" + version);
            Files.createDirectories(jdk.resolve("bin"));
            Path java = jdk.resolve("bin/java");
            Files.writeString(java, "#!/bin/sh\n[ \"$1\" = -version ] || exit 99\n"
                    + "echo 'openjdk version \"" + version + "\" 2024-01-16' >&2\n");
            assertTrue(java.toFile().setExecutable(true));
            Result r = run(home, List.of("sh", home.resolve("bin/clip-surgery").toString(), "--version"),
                    Map.of("JAVA_HOME", jdk.toString()));
            assertEquals(2, r.rc, r.output);
            assertTrue(r.output.contains("needs Java 17 or later"), r.output);
        }
    }

    private record Result(int rc, String output) {}

    /**
     * Runs a command in {@code dir} with {@code env} added and the variables {@code unset} removed,
     * stdout and stderr together.
     */
    private static Result run(Path dir, List<String> command, Map<String, String> env, String... unset) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command)).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().remove("CLIP_SURGERY_CLASSPATH"); // the checkout launcher's override
        for (String name : unset) pb.environment().remove(name);
        pb.environment().putAll(env);
        Path log = Files.createTempFile("dist-it", ".log");
        pb.redirectOutput(log.toFile());
        Process p = pb.start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail(command + " did not finish in 5 minutes:\n" + Files.readString(log, StandardCharsets.UTF_8));
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        Files.delete(log);
        System.out.println("$ " + String.join(" ", command) + "\n" + out);
        return new Result(p.exitValue(), out);
    }
}

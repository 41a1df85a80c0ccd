package org.clipsurgery.post;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.clipsurgery.nativeapi.NativeCalls;

/**
 * Host post-processing timings, old pure-Java classes against the C twins, in one JVM: maps
 * (59 labels × 480 × 640 from 197 tokens), the label map and the SAM points of every label. A
 * main class, not a test: it asserts nothing and no build step runs it.
 *
 * <p>The old classes are loaded from a directory of compiled classes (main before the twins, e.g.
 * {@code /work/before/target/classes}) in their own class loader, so their names do not clash with
 * this build's. Rounds interleave the variants (old, new, old, ...) so that load on a shared
 * machine hits both alike; each variant's median over the rounds after warm-up is printed with
 * the load average.
 *
 * <pre>
 * mvn -B -q -o test-compile -Dcuda.disable=true
 * mvn -B -q -o dependency:build-classpath -Dmdep.outputFile=target/bench.cp
 * java -Xmx6g -cp target/classes:target/test-classes:$(cat target/bench.cp) \
 *     org.clipsurgery.post.MapsBenchmark /path/to/old/target/classes [rounds] [warm-up rounds]
 * </pre>
 */
public final class MapsBenchmark {
    private static final int TOKENS = 197, LABELS = 59, HEIGHT = 480, WIDTH = 640;
    private static final float THRESHOLD = 0.5f;
    private static volatile Object sink;

    private MapsBenchmark() {}

    public static void main(String[] args) throws Throwable {
        Path before = Path.of(args.length > 0 ? args[0] : "/work/before/target/classes");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 11;
        int warmUp = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        if (!Files.isDirectory(before.resolve("org/clipsurgery/post"))) {
            throw new IllegalArgumentException("no old classes under " + before);
        }
        // The old SamPoints has a Gson field: its class loader needs Gson, nothing else of this build.
        URL gson = com.google.gson.Gson.class.getProtectionDomain().getCodeSource().getLocation();
        URLClassLoader oldLoader = new URLClassLoader(new URL[] {before.toUri().toURL(), gson},
                ClassLoader.getPlatformClassLoader());
        Class<?> oldMaps = oldLoader.loadClass("org.clipsurgery.post.SimilarityMaps");
        Class<?> oldLabels = oldLoader.loadClass("org.clipsurgery.post.LabelMap");
        Class<?> oldPoints = oldLoader.loadClass("org.clipsurgery.post.SamPoints");
        if (oldMaps == SimilarityMaps.class) throw new IllegalStateException("old classes not isolated");
        MethodHandles.Lookup lookup = MethodHandles.publicLookup();
        MethodHandle oldCompute = lookup.findStatic(oldMaps, "compute",
                MethodType.methodType(oldMaps, float[].class, int.class, int.class, int.class, int.class, int.class));
        MethodHandle oldValues = lookup.findVirtual(oldMaps, "values", MethodType.methodType(float[].class));
        MethodHandle oldLabelMap = lookup.findStatic(oldLabels, "of", MethodType.methodType(oldLabels, oldMaps, float.class));
        MethodHandle oldLabelValues = lookup.findVirtual(oldLabels, "values", MethodType.methodType(int[].class));
        MethodHandle oldForLabel = lookup.findStatic(oldPoints, "forLabel", MethodType.methodType(oldPoints,
                float[].class, int.class, int.class, int.class, int.class, int.class, int.class, int.class));

        float[] similarity = similarity(new Random(11));
        NativeCalls.load();

        // One result of each, kept for the comparisons printed at the end.
        Object[] oldMapsNow = new Object[1];
        SimilarityMaps[] newMapsNow = new SimilarityMaps[1];
        Map<String, Op> ops = new LinkedHashMap<>();
        ops.put("maps: old Java", () -> oldMapsNow[0] = oldCompute.invoke(similarity, 1, TOKENS, LABELS, HEIGHT, WIDTH));
        ops.put("maps: SimilarityMaps.compute (twin, critical)",
                () -> newMapsNow[0] = SimilarityMaps.compute(similarity, 1, TOKENS, LABELS, HEIGHT, WIDTH));
        ops.put("label map: old Java LabelMap.of(maps, t)", () -> sink = oldLabelMap.invoke(oldMapsNow[0], THRESHOLD));
        ops.put("label map: LabelMap.compute (twin, critical)",
                () -> sink = LabelMap.compute(similarity, 1, TOKENS, LABELS, HEIGHT, WIDTH, THRESHOLD));
        ops.put("points ×59: old Java", () -> {
            Object[] r = new Object[LABELS];
            for (int t = 0; t < LABELS; t++) r[t] = oldForLabel.invoke(similarity, 1, TOKENS, LABELS, 0, t, HEIGHT, WIDTH);
            sink = r;
        });
        ops.put("points ×59: twin (new)", () -> {
            Object[] r = new Object[LABELS];
            for (int t = 0; t < LABELS; t++) {
                r[t] = SamPoints.compute(SimilarityMaps.patchSimilarity(similarity, 1, TOKENS, LABELS, 0, t), HEIGHT, WIDTH);
            }
            sink = r;
        });

        Map<String, List<Double>> times = new LinkedHashMap<>();
        for (String name : ops.keySet()) times.put(name, new ArrayList<>());
        List<String> loads = new ArrayList<>();
        loads.add(loadAverage());
        for (int round = 0; round < warmUp + rounds; round++) {
            for (Map.Entry<String, Op> op : ops.entrySet()) {
                long t0 = System.nanoTime();
                op.getValue().run();
                double ms = (System.nanoTime() - t0) / 1e6;
                if (round >= warmUp) times.get(op.getKey()).add(ms);
            }
            sink = null;
            if (round >= warmUp && (round - warmUp) % 4 == 3) loads.add(loadAverage());
        }
        loads.add(loadAverage());

        System.out.printf("similarity (1, %d, %d) → maps (1, %d, %d, %d); %d rounds after %d warm-up; %d CPUs; %s%n",
                TOKENS, LABELS, HEIGHT, WIDTH, LABELS, rounds, warmUp, Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
        System.out.printf("%-52s %9s %9s %9s%n", "variant", "median ms", "min ms", "max ms");
        for (Map.Entry<String, List<Double>> e : times.entrySet()) {
            double[] v = e.getValue().stream().mapToDouble(Double::doubleValue).sorted().toArray();
            System.out.printf("%-52s %9.1f %9.1f %9.1f%n", e.getKey(), v[v.length / 2], v[0], v[v.length - 1]);
        }
        System.out.println("load average (1, 5, 15 min) during the run: " + String.join(" | ", loads));

        // Agreement (information only): the new maps and label map against the old ones.
        int[] labelsNew = LabelMap.compute(similarity, 1, TOKENS, LABELS, HEIGHT, WIDTH, THRESHOLD).values();
        int[] labelsOld = (int[]) oldLabelValues.invoke(oldLabelMap.invoke(oldMapsNow[0], THRESHOLD));
        float[] mapsOld = (float[]) oldValues.invoke(oldMapsNow[0]);
        float[] mapsNew = newMapsNow[0].values();
        double maxDiff = 0;
        for (int i = 0; i < mapsNew.length; i++) maxDiff = Math.max(maxDiff, Math.abs(mapsNew[i] - mapsOld[i]));
        System.out.printf("maps: max |new − old| = %.3g%n", maxDiff);
        System.out.printf("label map: pixels differing new vs old Java: %d (of %d)%n", differing(labelsNew, labelsOld),
                labelsNew.length);
    }

    /** A similarity (1, N, T) like CLIP Surgery's: small values around 0, per-label offsets. */
    private static float[] similarity(Random random) {
        float[] s = new float[TOKENS * LABELS];
        for (int t = 0; t < LABELS; t++) {
            float offset = (float) random.nextGaussian() * 0.02f;
            for (int i = 0; i < TOKENS; i++) s[i * LABELS + t] = offset + (float) random.nextGaussian() * 0.03f;
        }
        return s;
    }

    private static int differing(int[] a, int[] b) {
        int n = 0;
        for (int i = 0; i < a.length; i++) if (a[i] != b[i]) n++;
        return n;
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (java.io.IOException | RuntimeException e) {
            return "n/a";
        }
    }

    @FunctionalInterface
    private interface Op {
        void run() throws Throwable;
    }
}

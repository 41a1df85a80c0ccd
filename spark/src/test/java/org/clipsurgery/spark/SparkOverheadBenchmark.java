package org.clipsurgery.spark;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Redundancy;
import org.clipsurgery.bench.CpuBenchmark;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.Safetensors;

/**
 * What Spark costs: N copies of the fixture image (500×375 PNG files) explained on {@code local[2]}
 * by {@link ClipSurgeryTransformer} (binaryFile source, default outputs: scores, top labels,
 * points; written to Spark's {@code noop} sink), once in the partitions binaryFile lists and
 * once coalesced to the two task slots, against a plain loop over the library in one
 * JVM: two threads sharing one model, each reading files and explaining them in batches of the
 * same size, computing the same outputs. Both are warmed up first on 16 images (model open,
 * label embedding), then timed in alternating rounds. Not a test: {@code spark/bench-overhead.sh} runs it.
 *
 * <p>Arguments: {@code fixture|vit-b16 [images] [rounds] [LibTorch threads]}. {@code fixture} is the fixtures'
 * tiny {@code vit.pt} at its 64 px; {@code vit-b16} ViT-B/16-shaped random weights at 224 px
 * (written to a temporary safetensors file with the library's internal generator, reachable on
 * the class path), the size users run.
 */
public final class SparkOverheadBenchmark {
    static final String[] LABELS = {"person", "bench", "sky", "tree", "dog"};
    static final int BATCH = 8;

    public static void main(String[] args) throws Exception {
        String which = args.length > 0 ? args[0] : "fixture";
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 0; // LibTorch threads; 0: its default (all cores)
        if (threads > 0) ClipSurgery.setCpuThreads(threads);
        Path dir = Files.createTempDirectory("cs-spark-bench");
        byte[] png = Files.readAllBytes(LocalSpark.fixtures().resolve("image.png"));
        for (int i = 0; i < n; i++) Files.write(dir.resolve(String.format("img-%04d.png", i)), png);
        Path model = LocalSpark.fixtures().resolve("vit.pt");
        if (which.equals("vit-b16")) {
            model = dir.resolve("vit-b16-random.safetensors");
            Safetensors.write(model, RandomWeights.generate(CpuBenchmark.VIT_B_16, 42));
        }
        Path images = Files.createDirectories(dir.resolve("images"));
        try (var files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".png")).toList()) Files.move(f, images.resolve(f.getFileName()));
        }

        SparkSession spark = LocalSpark.start();
        ClipSurgeryTransformer t = new ClipSurgeryTransformer().setModel(model.toString()).setLabels(LABELS).setBatchSize(BATCH);
        Dataset<Row> input = spark.read().format("binaryFile").load(images.toString());
        int partitions = input.rdd().getNumPartitions();
        List<Path> paths;
        try (var files = Files.list(images)) {
            paths = files.sorted().toList();
        }
        Dataset<Row> twoTasks = input.coalesce(2);
        double[] sparkSec = new double[rounds], sparkTwoSec = new double[rounds], loopSec = new double[rounds];
        try (ClipSurgery cs = ClipSurgery.open(model.toString(), new ClipSurgery.Options())) {
            LabelSet labels = cs.labels(LABELS);
            runSpark(t, input.limit(2 * BATCH)); // warm-up: the executor's model and label set
            runLoop(cs, labels, paths.subList(0, 2 * BATCH));
            for (int r = 0; r < rounds; r++) {
                long t0 = System.nanoTime();
                runSpark(t, input);
                sparkSec[r] = (System.nanoTime() - t0) / 1e9;
                t0 = System.nanoTime();
                runSpark(t, twoTasks);
                sparkTwoSec[r] = (System.nanoTime() - t0) / 1e9;
                t0 = System.nanoTime();
                runLoop(cs, labels, paths);
                loopSec[r] = (System.nanoTime() - t0) / 1e9;
            }
        } finally {
            spark.stop();
            ExecutorModels.closeAll();
        }
        System.out.printf(Locale.ROOT, "%n%s, %d images of %s, batch %d, LibTorch threads %s, %d rounds (best and median)%n%n",
                which, n, "500x375 PNG", BATCH, threads > 0 ? threads : "default", rounds);
        System.out.println("| path | best s | median s | images/s (best) |");
        System.out.println("|---|---:|---:|---:|");
        row("plain loop, 2 threads, one model", loopSec, n);
        row("Spark local[2], binaryFile's " + partitions + " partitions", sparkSec, n);
        row("Spark local[2], coalesced to 2 partitions", sparkTwoSec, n);
        System.out.printf(Locale.ROOT, "%nSpark / loop time (best): %.3f as listed, %.3f coalesced to 2%n",
                min(sparkSec) / min(loopSec), min(sparkTwoSec) / min(loopSec));
    }

    private static void runSpark(ClipSurgeryTransformer t, Dataset<Row> input) {
        t.transform(input).write().format("noop").mode("overwrite").save();
    }

    /** Two threads, each taking the next BATCH files, reading and explaining them, and computing the transformer's default outputs. */
    private static void runLoop(ClipSurgery cs, LabelSet labels, List<Path> paths) throws Exception {
        AtomicInteger next = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        List<Future<?>> done = new ArrayList<>();
        for (int th = 0; th < 2; th++) {
            done.add(pool.submit(() -> {
                for (int from; (from = next.getAndAdd(BATCH)) < paths.size(); ) {
                    List<RgbImage> batch = new ArrayList<>();
                    for (int i = from; i < Math.min(from + BATCH, paths.size()); i++) {
                        batch.add(Images.read(Files.readAllBytes(paths.get(i)), paths.get(i).toString(), Images.DEFAULT_MAX_PIXELS));
                    }
                    for (Explanation e : cs.explain(batch, labels, Redundancy.AUTO)) {
                        OutputColumns.topLabels(e.scores(), 3);
                        OutputColumns.points(e, 0.8f);
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : done) f.get();
        pool.shutdown();
    }

    private static void row(String what, double[] sec, int n) {
        double[] s = sec.clone();
        java.util.Arrays.sort(s);
        System.out.printf(Locale.ROOT, "| %s | %.2f | %.2f | %.1f |%n", what, s[0], s[s.length / 2], n / s[0]);
    }

    private static double min(double[] a) {
        return java.util.Arrays.stream(a).min().orElseThrow();
    }
}

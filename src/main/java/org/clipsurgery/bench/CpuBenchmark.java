package org.clipsurgery.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Method;
import org.clipsurgery.Precision;
import org.clipsurgery.Redundancy;
import org.clipsurgery.engine.FacadeAccess;
import org.clipsurgery.engine.cpu.CpuFeatures;
import org.clipsurgery.engine.cpu.TorchOps;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.engine.Stages;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;

/**
 * The CPU benchmark: ViT-B/16-shaped random weights (generated, not downloaded), 59 labels,
 * image → 59 maps at 480×640 (preprocessing, image encoder, feature surgery, min-max and
 * bilinear maps) at 224 and 512 px, batch 1 and 8; and the 59 × 85 prompt ensemble. Reports the
 * median wall time of repeated runs after warm-up, and the process's peak resident memory growth
 * during each case (LibTorch allocations are not visible to the JVM, so RSS is the honest gauge).
 */
public final class CpuBenchmark {
    /** The 59 labels of the official demo (PASCAL Context). */
    public static final List<String> LABELS_59 = List.of("airplane", "bag", "bed", "bedclothes", "bench", "bicycle",
            "bird", "boat", "book", "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth",
            "computer", "cow", "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground",
            "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate", "platform",
            "potted plant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa", "table",
            "track", "train", "tree", "truck", "tv monitor", "wall", "water", "window", "wood");

    /** ViT-B/16: width 768, 12 layers, patch 16, 224 px; text 512 wide, 8 heads, 12 layers; embed 512. */
    public static final ModelConfig VIT_B_16 = new ModelConfig(512, 224, new int[] {12}, 768, 16, 77, 49408, 512, 8, 12);

    private CpuBenchmark() {}

    /**
     * Where the benchmarked weights come from: opened afresh for every resolution (the labels are
     * embedded once, by the first).
     */
    @FunctionalInterface
    public interface Weights {
        WeightStore open() throws IOException;
    }

    /** Runs every case on ViT-B/16-shaped random weights and returns the result table (Markdown). */
    public static String run(int[] resolutions, int[] batches, int iterations, boolean ensemble, List<Method> methods,
            Precision precision) throws IOException {
        return run(null, () -> WeightStore.of(RandomWeights.generate(VIT_B_16, 42)), resolutions, batches, iterations,
                ensemble, methods, precision);
    }

    /**
     * Runs every case on other weights (a checkpoint file, a small model for a quick check).
     *
     * @param model what the weights are, for the table's heading; null for the default ViT-B/16 shape
     * @param methods the methods to time, each at every resolution and batch (rows name the
     *     method unless it is {@link Method#SURGERY}), with its default redundancy
     * @param precision FP32 or BF16 (the facade refuses BF16 where the CPU has no bf16 dot products)
     */
    public static String run(String model, Weights weights, int[] resolutions, int[] batches, int iterations,
            boolean ensemble, List<Method> methods, Precision precision) throws IOException {
        StringBuilder table = new StringBuilder();
        table.append("CPU backend (LibTorch 2.10, ").append(name(precision)).append("), ").append(TorchOps.threads())
                .append(" threads, ").append(cpuName());
        if (model != null) table.append(", model ").append(model);
        table.append("\n\n");
        table.append("| case | median ms | min ms | peak RSS growth MB |\n|---|---:|---:|---:|\n");
        float[] features = null; // the 59 labels' text features, embedded once for all resolutions
        for (Method method : methods) {
            for (int res : resolutions) {
                try (ClipSurgery cs = FacadeAccess.get().open(weights.open(), new ClipSurgery.Options().optResolution(res)
                        .optMethod(method).optPrecision(precision))) {
                    LabelSet labels;
                    if (features != null) {
                        labels = cs.labels(LABELS_59, features);
                    } else if (ensemble) {
                        ProcessMemory.resetPeak(); // where it cannot, the growth is from the peak since start
                        long before = ProcessMemory.resident();
                        long t0 = System.nanoTime();
                        labels = cs.labels(LABELS_59);
                        double ms = (System.nanoTime() - t0) / 1e6;
                        table.append(String.format("| label ensemble 59 × 85 | %.0f | %.0f | %.0f |%n", ms, ms,
                                (ProcessMemory.peak() - before) / 1e6));
                    } else {
                        labels = cs.labels(LABELS_59);
                    }
                    features = labels.textFeatures();
                    for (int batch : batches) {
                        List<RgbImage> images = new ArrayList<>();
                        for (int i = 0; i < batch; i++) images.add(Images.fromBufferedImage(testImage(640, 480, i)));
                        Runnable work = () -> {
                            for (Explanation e : cs.explain(images, labels, Redundancy.AUTO)) e.maps();
                        };
                        work.run(); // warm-up: weights to LibTorch, position embeddings for this grid
                        ProcessMemory.resetPeak(); // where it cannot, the growth is from the peak since start
                        long before = ProcessMemory.resident();
                        double[] ms = new double[iterations];
                        for (int i = 0; i < iterations; i++) {
                            long t0 = System.nanoTime();
                            work.run();
                            ms[i] = (System.nanoTime() - t0) / 1e6;
                        }
                        Arrays.sort(ms);
                        table.append(String.format("| image → 59 maps 480×640, %d px, batch %d%s | %.1f | %.1f | %.0f |%n",
                                res, batch, method == Method.SURGERY ? "" : ", " + method.name().toLowerCase(java.util.Locale.ROOT),
                                ms[ms.length / 2], ms[0], (ProcessMemory.peak() - before) / 1e6));
                    }
                }
            }
        }
        return table.toString();
    }

    /** Side of the square fp32 matmul that measures the GEMM peak in {@link #profile}. */
    public static final int PEAK_GEMM_SIDE = 2048;

    /** {@link #profile(String, Weights, int[], int[], int)} on ViT-B/16-shaped random weights. */
    public static String profile(int[] resolutions, int[] batches, int iterations, Precision precision) throws IOException {
        return profile(null, () -> WeightStore.of(RandomWeights.generate(VIT_B_16, 42)), resolutions, batches,
                iterations, precision);
    }

    /**
     * Where the time of the benchmark's case goes ({@code bench --profile}): per resolution and
     * batch, the mean time of every stage of image → 59 maps at 480×640 (the case {@link #run}
     * times), plus the label map and the point prompts of every label, over {@code iterations}
     * runs after a warm-up; its share of the total; and for the stages that are matrix products,
     * the FLOPs counted from the shapes and the rate achieved against this machine's fp32 GEMM
     * peak, measured first with the same threads. The labels are embedded once beforehand, so the
     * text side is not in the measured case. {@code precision}: FP32 or BF16, as for {@link #run};
     * the GEMM peak is fp32's either way. Returns Markdown.
     */
    public static String profile(String model, Weights weights, int[] resolutions, int[] batches, int iterations,
            Precision precision) throws IOException {
        if (iterations < 1) throw new IllegalArgumentException("iterations must be at least 1, got " + iterations);
        double peak = TorchOps.matmulGflops(PEAK_GEMM_SIDE, 5);
        StringBuilder out = new StringBuilder();
        out.append("CPU backend (LibTorch 2.10, ").append(name(precision)).append("), ").append(TorchOps.threads())
                .append(" threads, ").append(cpuName());
        if (model != null) out.append(", model ").append(model);
        out.append(String.format("%n%nfp32 GEMM peak: %.1f GFLOP/s (LibTorch matmul %d³, best of 5, same threads)%n",
                peak, PEAK_GEMM_SIDE));
        float[] features = null; // the labels' text features, embedded once, outside the profile
        for (int res : resolutions) {
            Stages stages = Stages.recorder();
            try (ClipSurgery cs = FacadeAccess.get().open(weights.open(),
                    FacadeAccess.get().profile(new ClipSurgery.Options().optResolution(res).optPrecision(precision), stages))) {
                LabelSet labels = features == null ? cs.labels(LABELS_59) : cs.labels(LABELS_59, features);
                features = labels.textFeatures();
                for (int batch : batches) {
                    List<RgbImage> images = new ArrayList<>();
                    for (int i = 0; i < batch; i++) images.add(Images.fromBufferedImage(testImage(640, 480, i)));
                    for (int i = 0; i <= iterations; i++) {
                        if (i == 1) stages.reset(); // run 0 is the warm-up
                        profiledExplain(cs, images, labels, stages);
                    }
                    out.append(String.format("%n### %d px, batch %d: image → %d maps 480×640, label map, points; "
                            + "mean of %d runs%n%n", res, batch, LABELS_59.size(), iterations));
                    out.append(profileTable(stages, peak));
                }
            }
        }
        return out.toString();
    }

    /** One explain with its post-processing, as one profiled run (mark … endIteration). */
    private static void profiledExplain(ClipSurgery cs, List<RgbImage> images, LabelSet labels, Stages stages) {
        stages.mark();
        List<Explanation> es = cs.explain(images, labels, Redundancy.LABELS);
        for (Explanation e : es) e.maps();
        stages.lap(Stages.MAPS);
        for (Explanation e : es) e.labelMap(Float.NEGATIVE_INFINITY);
        stages.lap(Stages.LABEL_MAP);
        for (Explanation e : es) for (String target : labels.targets()) e.points(target);
        stages.lap(Stages.POINTS);
        stages.endIteration();
    }

    /** The Markdown table of a recorder: every stage of {@link Stages#ORDER}, then any other, then the total. */
    static String profileTable(Stages stages, double peakGflops) {
        long n = stages.iterations();
        double total = stages.totalNanos() / 1e6 / Math.max(1, n);
        java.util.Map<String, Stages.Row> rows = new java.util.LinkedHashMap<>();
        for (String stage : Stages.ORDER) rows.put(stage, null);
        for (Stages.Row r : stages.rows()) rows.put(r.stage(), r);
        StringBuilder t = new StringBuilder();
        t.append("| stage | mean ms | share | GFLOP | GFLOP/s | % of GEMM peak |\n|---|---:|---:|---:|---:|---:|\n");
        long flops = 0;
        for (var entry : rows.entrySet()) {
            String stage = entry.getKey();
            Stages.Row r = entry.getValue();
            if (r == null) { // the text side (labels embedded beforehand), a ViT stage of a ResNet
                t.append("| ").append(stage).append(" | — | — | | | |\n");
                continue;
            }
            String name = stage;
            if (stage.equals(Stages.ENCODER) || stage.equals(Stages.DUAL_PATH)) {
                name += String.format(" × %d", r.laps() / Math.max(1, n));
            }
            double ms = r.meanMs(n);
            t.append(String.format("| %s | %.1f | %.1f%% |", name, ms, total == 0 ? 0 : 100 * ms / total));
            if (r.flops() > 0) {
                flops += r.flops();
                t.append(String.format(" %.2f | %.1f | %.0f%% |%n", r.flops() / 1e9 / n, r.gflops(),
                        100 * r.gflops() / peakGflops));
            } else {
                t.append(" | | |\n");
            }
        }
        double gflopTotal = flops / 1e9 / Math.max(1, n);
        t.append(String.format("| **total** | **%.1f** | 100%% | %.2f | %.1f | %.0f%% |%n", total, gflopTotal,
                total == 0 ? 0 : gflopTotal / (total / 1e3), total == 0 ? 0 : 100 * gflopTotal / (total / 1e3)
                        / peakGflops));
        t.append("\n— : not in the measured case (the text side: the labels are embedded once beforehand).\n");
        return t.toString();
    }

    /** A deterministic 8-bit RGB test picture (smooth gradients and a few edges). */
    static java.awt.image.BufferedImage testImage(int w, int h, int seed) {
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = (x * 255 / w + seed * 37) & 255, g = (y * 255 / h) & 255, b = ((x / 40 + y / 40) % 2) * 200;
                img.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        }
        return img;
    }

    private static String name(Precision p) {
        return p.name().toLowerCase(java.util.Locale.ROOT);
    }

    private static String cpuName() {
        return CpuFeatures.modelName().orElse(System.getProperty("os.arch"));
    }
}

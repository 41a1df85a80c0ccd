package org.clipsurgery.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Device;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Method;
import org.clipsurgery.PixelOrder;
import org.clipsurgery.Precision;
import org.clipsurgery.Session;
import org.clipsurgery.engine.FacadeAccess;
import org.clipsurgery.engine.Frame;
import org.clipsurgery.engine.Request;
import org.clipsurgery.engine.cuda.CudaEngine;
import org.clipsurgery.engine.cuda.CudaOps;
import org.clipsurgery.engine.cuda.CudaRuntime;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.PromptTemplates;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;

/**
 * The GPU benchmark of issue 5 on ViT-B/16-shaped random weights (generated, not downloaded),
 * 59 labels (PASCAL Context, the official demo's), 85 templates:
 * <ul>
 *   <li>engine only: a uint8 480×640 frame already on the GPU → 59 maps at 480×640 on the GPU,
 *       one CUDA-graph replay (preprocessing included), batch 1 at 224 and 512 px (CUDA-event time
 *       and wall time, median);</li>
 *   <li>end to end, the path users take: {@code ClipSurgery} on {@code Device.CUDA}, a
 *       {@link Session} of 480×640 BGR frames at 224 px → scores only (no map leaves the GPU), and
 *       → scores + label map (wall time, median);</li>
 *   <li>each training-free method asked for ({@code --methods}): the same engine case, 224 and 512 px;</li>
 *   <li>batch 32 at 224 px (similarity only): images/s and model TFLOP/s against the cuBLAS GEMM
 *       rate measured in the same run;</li>
 *   <li>the 59 × 85 prompt ensemble on the GPU (cold: first call, uploads the text weights; warm);</li>
 *   <li>GPU memory: device memory in use, and the engine's own accounting.</li>
 * </ul>
 * Usage: {@code clip-surgery bench --device cuda [--iterations 200] [--precision fp16] [--methods all]}.
 */
public final class CudaBenchmark {
    static final List<String> LABELS_59 = CpuBenchmark.LABELS_59;
    static final ModelConfig VIT_B_16 = CpuBenchmark.VIT_B_16;

    private CudaBenchmark() {}

    /** Runs every case; returns the Markdown table. */
    public static String run(int iterations, Precision precision, List<Method> methods) {
        CudaRuntime.require();
        StringBuilder t = new StringBuilder();
        long t0 = System.nanoTime();
        WeightStore weights;
        try {
            weights = WeightStore.of(RandomWeights.generate(VIT_B_16, 42));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        System.err.printf("random ViT-B/16 weights in %.1f s%n", (System.nanoTime() - t0) / 1e9);
        float[] features;
        try (weights; CudaEngine engine = CudaEngine.open(weights, precision, 0)) {
            CudaOps ops = engine.ops();
            double gemm = ops.gemmTflops(8192, 20);
            t.append("CUDA engine, ").append(engine.deviceName()).append(", ").append(precision)
                    .append(", ViT-B/16 random weights, 59 labels; cuBLAS ").append(String.format("%.0f", gemm))
                    .append(" TFLOP/s on an 8192³ GEMM in this run\n\n");
            t.append("| case | median ms (GPU events) | median ms (wall) | min ms (wall) | notes |\n|---|---:|---:|---:|---|\n");

            List<String> templates = PromptTemplates.defaults();
            long c0 = System.nanoTime();
            features = engine.promptEnsemble(LABELS_59, templates, Progress.none());
            double cold = (System.nanoTime() - c0) / 1e6;
            double[] warm = new double[5];
            for (int i = 0; i < warm.length; i++) {
                long w0 = System.nanoTime();
                engine.promptEnsemble(LABELS_59, templates, Progress.none());
                warm[i] = (System.nanoTime() - w0) / 1e6;
            }
            Arrays.sort(warm);
            t.append(String.format("| label ensemble 59 × 85 (text encoder on the GPU) | | %.1f | %.1f | cold (first call, uploads text weights): %.0f ms |%n",
                    warm[warm.length / 2], warm[0], cold));

            SplittableRandom rng = new SplittableRandom(3);
            for (int res : new int[] {224, 512}) {
                Request maps = Request.resolve(VIT_B_16, Device.CUDA, precision, res, 0).withLabels(features, 59, null)
                        .withOutputs(EnumSet.of(Request.Output.MAPS));
                double[][] m = replay(engine, maps, 1, 480, 640, rng, iterations);
                t.append(String.format("| engine: 480×640 frame on GPU → 59 maps 480×640 on GPU, %d px, batch 1 | %.3f | %.3f | %.3f | one CUDA-graph replay (GPU preprocessing included) |%n",
                        res, m[0][iterations / 2], m[1][iterations / 2], m[1][0]));
            }
            // the training-free methods asked for, on the same frame and labels (their default: no feature surgery)
            for (Method method : methods) {
                if (method == Method.SURGERY) continue;
                for (int res : new int[] {224, 512}) {
                    Request maps = Request.resolve(VIT_B_16, Device.CUDA, precision, res, 0)
                            .withLabels(features, 59, new float[VIT_B_16.embedDim()]).forMethod(method, VIT_B_16)
                            .withOutputs(EnumSet.of(Request.Output.MAPS));
                    double[][] m = replay(engine, maps, 1, 480, 640, rng, iterations);
                    t.append(String.format("| engine, %s: 480×640 frame on GPU → 59 maps 480×640 on GPU, %d px, batch 1 | %.3f | %.3f | %.3f | one CUDA-graph replay |%n",
                            method.name().toLowerCase(Locale.ROOT), res, m[0][iterations / 2], m[1][iterations / 2], m[1][0]));
                }
            }
            {
                int batch = 32, res = 224;
                Request scores = Request.resolve(VIT_B_16, Device.CUDA, precision, res, 0).withLabels(features, 59, null)
                        .withOutputs(EnumSet.noneOf(Request.Output.class));
                int n = Math.max(20, iterations / 4);
                double[][] m = replay(engine, scores, batch, res, res, rng, n);
                double ms = m[0][n / 2];
                double flops = batch * imageFlops(VIT_B_16, res, 6, 59);
                double tflops = flops / (ms * 1e-3) / 1e12;
                t.append(String.format("| batch 32, 224 px, similarity only | %.3f | %.3f | %.3f | %.0f images/s, %.0f TFLOP/s = %.0f%% of the GEMM rate |%n",
                        ms, m[1][n / 2], m[1][0], batch / (ms * 1e-3), tflops, 100 * tflops / gemm));
            }
            t.append(String.format("%nGPU memory: %s; process total on the device %.0f MiB (includes the CUDA context)%n",
                    engine.memorySummary(), engine.deviceMemoryUsed() / 1048576.0));
        }
        facade(t, iterations, precision, features, new SplittableRandom(5));
        return t.toString();
    }

    /** The facade's path on Device.CUDA: a Session of 480×640 BGR frames, scores only and scores + label map. */
    private static void facade(StringBuilder t, int iterations, Precision precision, float[] features, SplittableRandom rng) {
        ClipSurgery.Options o = new ClipSurgery.Options().optDevice(Device.CUDA).optPrecision(precision).optResolution(224);
        WeightStore weights;
        try {
            weights = WeightStore.of(RandomWeights.generate(VIT_B_16, 42));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        try (ClipSurgery cs = FacadeAccess.get().open(weights, o)) {
            LabelSet labels = cs.labels(LABELS_59, features);
            byte[] frame = new byte[480 * 640 * 3];
            for (int i = 0; i < frame.length; i++) frame[i] = (byte) rng.nextInt(256);
            try (Session s = cs.session(labels, 480, 640, PixelOrder.BGR)) {
                for (String what : new String[] {"scores", "scores + label map"}) {
                    for (int i = 0; i < 10; i++) read(s.explain(frame), what);
                    double[] ms = new double[iterations];
                    for (int i = 0; i < iterations; i++) {
                        long t0 = System.nanoTime();
                        read(s.explain(frame), what);
                        ms[i] = (System.nanoTime() - t0) / 1e6;
                    }
                    Arrays.sort(ms);
                    t.append(String.format("| facade (Session, Device.CUDA): uint8 480×640 BGR frame → %s in host memory, 224 px | | %.3f | %.3f | "
                            + "what users call: one upload, one replay, similarity + what is read |%n", what, ms[iterations / 2], ms[0]));
                }
            }
        }
    }

    private static void read(Explanation e, String what) {
        e.scores();
        if (what.contains("label map")) e.labelMap(0.5f);
    }

    /**
     * [0]: CUDA-event times, [1]: wall times (sorted, ms) of the graph replay alone, for
     * {@code batch} random frames of {@code h × w} explained once (so they sit in the runner's input).
     */
    private static double[][] replay(CudaEngine engine, Request request, int batch, int h, int w, SplittableRandom rng,
            int iterations) {
        List<Frame> frames = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            byte[] f = new byte[h * w * 3];
            for (int j = 0; j < f.length; j++) f[j] = (byte) rng.nextInt(256);
            frames.add(new Frame(f, h, w, false));
        }
        engine.explain(frames, request);
        CudaEngine.Runner r = engine.runner(request, batch, h, w, false);
        for (int i = 0; i < 20; i++) r.launch();
        r.synchronize();
        double[] gpu = new double[iterations], wall = new double[iterations];
        for (int i = 0; i < iterations; i++) {
            long s = System.nanoTime();
            gpu[i] = engine.elapsedMs(r::launch);
            wall[i] = (System.nanoTime() - s) / 1e6;
        }
        Arrays.sort(gpu);
        Arrays.sort(wall);
        return new double[][] {gpu, wall};
    }

    /**
     * Multiply-add FLOPs (×2) of one image's forward: patch embedding, every block's GEMMs
     * (24·N·C²), attention (4·N²·C per path; surgery blocks have two paths and two out_proj),
     * the final projection and feature surgery. Elementwise work is not counted. The last surgery
     * block runs the original path's output projection and MLP on the class token alone.
     */
    static double imageFlops(ModelConfig c, int res, int surgeryDepth, int labels) {
        double g = res / c.visionPatchSize(), n = 1 + g * g, w = c.visionWidth(), p = c.visionPatchSize();
        int layers = c.visionLayers()[0];
        double f = 2 * g * g * 3 * p * p * w;
        for (int i = 0; i < layers; i++) {
            boolean surgery = i >= layers - surgeryDepth;
            f += 24 * n * w * w + 4 * n * n * w;
            if (surgery) f += 2 * n * w * w + 4 * n * n * w;
            // the last surgery block: the original path's output projection and MLP on the class token only
            if (surgery && i == layers - 1) f -= 18 * (n - 1) * w * w;
        }
        f += 2 * n * w * c.embedDim() + 2 * n * c.embedDim() * labels;
        return f;
    }
}

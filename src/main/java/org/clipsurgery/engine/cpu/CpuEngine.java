package org.clipsurgery.engine.cpu;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.clipsurgery.Precision;
import org.clipsurgery.engine.Engine;
import org.clipsurgery.engine.Frame;
import org.clipsurgery.engine.HostOutput;
import org.clipsurgery.engine.Output;
import org.clipsurgery.engine.PromptEnsemble;
import org.clipsurgery.engine.Request;
import org.clipsurgery.graph.ClipGraph;
import org.clipsurgery.graph.Ops;
import org.clipsurgery.engine.Stages;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.ClipTokenizer;
import org.clipsurgery.weights.WeightStore;

/**
 * The CPU engine: the CLIP graph over LibTorch in fp32 or bf16 ({@link TorchOps}). Frames are preprocessed on the host, the
 * batch goes through the encoder and feature surgery in one pass, and each output holds its
 * similarity, features and pixels; maps, label map and points are computed from the similarity
 * when read. LibTorch is synchronous, so {@link Stages} laps need no barrier. Thread-safe: every
 * call works in its own LibTorch scope; weights are converted once.
 */
public final class CpuEngine implements Engine {
    /** Token rows per text-encoder pass when embedding label sets. */
    private static final int TEXT_CHUNK = 256;
    /** Image tokens per image-encoder pass (measured on a 2-core EPYC: 8 images at 224 px, 1 at 512). */
    private static final int TOKENS_PER_PASS = 2048;

    private final WeightStore weights;
    private final TorchOps ops;
    private final ClipGraph<Tensor> graph;
    private final Stages stages;
    private final ClipTokenizer tokenizer = ClipTokenizer.bundled();

    /**
     * The weight store stays the caller's; it must stay open while this engine is used.
     * {@code precision}: FP32 or BF16. BF16 is computed on any CPU (LibTorch emulates it where the
     * CPU has no bf16 dot products, correct but slow): {@link org.clipsurgery.engine.Engines#open}
     * offers it only on CPUs that have them ({@link CpuFeatures}).
     */
    public CpuEngine(WeightStore weights, Stages stages, Precision precision) {
        this.weights = weights;
        this.stages = stages;
        this.ops = new TorchOps(name -> weights.get(name).toF32(), precision);
        this.graph = new ClipGraph<>(ops, weights.config(), n -> weights.has(n) ? weights.get(n) : null, stages);
    }

    /** LibTorch's intra-op thread count: process-wide, see {@link org.clipsurgery.engine.Engines#setCpuThreads}. */
    public static void setThreads(int threads) {
        TorchOps.setThreads(threads);
    }

    @Override
    public float[] promptEnsemble(List<String> labels, List<String> templates, Progress progress) {
        return PromptEnsemble.compute(this::textFeatures, weights.config().embedDim(), tokenizer, labels, templates, TEXT_CHUNK,
                progress);
    }

    /** Projected end-token features (rows, E) of token rows, unnormalised. */
    private float[] textFeatures(int[][] tokens) {
        try (Ops.Scope<Tensor> s = ops.scope()) {
            float[] out = ops.toHost(graph.encodeText(tokens));
            stages.lap(Stages.TEXT); // only inside a profiled run (Redundancy.EMPTY's prompt)
            return out;
        }
    }

    @Override
    public List<Output> explain(List<Frame> frames, Request request) {
        request.requireLabels();
        int b = frames.size(), r = request.resolution(), plane = 3 * r * r, t = request.labels();
        int e = weights.config().embedDim();
        float[] pixels = new float[b * plane];
        for (int i = 0; i < b; i++) {
            Preprocessor.preprocessInto(frames.get(i), r, pixels, i * plane); // BGR frames are read as they are
        }
        stages.lap(Stages.PREPROCESS);
        int n = tokens(r);
        float[] features = new float[b * n * e], sim = new float[b * n * t];
        // The image side in passes of at most TOKENS_PER_PASS tokens (at least one image): past
        // that a pass's activations outgrow the caches and every image costs more (512 px, 1,025
        // tokens: batch 8 took 22% more per image than batch 1, batch 16 at 224 px 30% more
        // than batch 8).
        int chunk = Math.max(1, TOKENS_PER_PASS / n);
        try (Ops.Scope<Tensor> labels = ops.scope()) {
            // the label features once for all passes
            Tensor text = ops.input(request.text(), t, e);
            Tensor redundant = request.redundant() == null ? null : ops.input(request.redundant(), e);
            for (int c0 = 0; c0 < b; c0 += chunk) {
                int c = Math.min(chunk, b - c0);
                try (Ops.Scope<Tensor> s = ops.scope()) {
                    Tensor x = ops.input(Arrays.copyOfRange(pixels, c0 * plane, (c0 + c) * plane), c, 3, r, r);
                    Tensor image = request.encodeImage(graph, x);
                    System.arraycopy(ops.toHost(image), 0, features, c0 * n * e, c * n * e);
                    stages.lap(Stages.PROJECTION); // the copy to the host
                    Tensor surgery = ops.featureSurgery(image, text, redundant);
                    if (stages.enabled()) stages.lap(Stages.FEATURE_SURGERY, 2L * c * n * t * e);
                    System.arraycopy(ops.toHost(surgery), 0, sim, c0 * n * t, c * n * t);
                }
            }
        }
        List<Output> out = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            out.add(new HostOutput(frames.get(i).height(), frames.get(i).width(), Arrays.copyOfRange(sim, i * n * t, (i + 1) * n * t),
                    t, Arrays.copyOfRange(features, i * n * e, (i + 1) * n * e), Arrays.copyOfRange(pixels, i * plane, (i + 1) * plane)));
        }
        stages.lap(Stages.SIMILARITY); // the copy to the host and the per-image copies
        return out;
    }

    /** Tokens per image at resolution {@code r}: the class token and the grid. */
    private int tokens(int r) {
        int g = r / weights.config().gridStride();
        return 1 + g * g;
    }

    @Override
    public void close() {
        ops.close();
    }
}

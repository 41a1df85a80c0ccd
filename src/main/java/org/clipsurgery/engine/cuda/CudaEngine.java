package org.clipsurgery.engine.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;
import org.clipsurgery.CudaException;
import org.clipsurgery.Precision;
import org.clipsurgery.engine.Engine;
import org.clipsurgery.engine.Frame;
import org.clipsurgery.engine.HostOutput;
import org.clipsurgery.engine.Output;
import org.clipsurgery.engine.PromptEnsemble;
import org.clipsurgery.engine.Request;
import org.clipsurgery.engine.cuda.Gpu.Copy;
import org.clipsurgery.graph.ClipGraph;
import org.clipsurgery.graph.Ops;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.post.SimilarityMaps;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.ClipTokenizer;
import org.clipsurgery.weights.DType;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.WeightStore;

/**
 * The CUDA engine: CLIP Surgery on one GPU, the whole image side (uint8 frames → preprocessing →
 * encoder → feature surgery → maps, label map, points) captured as one CUDA graph per request
 * shape and replayed.
 *
 * <p><b>As an {@link Engine}</b> (what {@code ClipSurgery} with {@code Device.CUDA} uses): frames
 * are grouped by size; each group is one replay of the runner of its (batch, frame size,
 * resolution, label set, depth, redundancy, outputs), built on first use and kept in a small LRU
 * cache ({@link #CACHED_RUNNERS}; an evicted runner frees its buffers). A replay uploads the
 * frames once as uint8 and downloads only the similarity (B, N, T) (whose token 0 are the
 * scores), so each {@link Output} is self-contained. Maps, the label map, points, image features
 * and preprocessed pixels stay in the runner's device buffers and come down on first read, while
 * that run is still the runner's latest (a generation counter, checked under the engine's lock).
 * A label-map or points threshold other than the captured one launches that kernel once more on
 * the same run's device similarity. Once the runner has run again (or was evicted), maps, label
 * map and points are computed on the host from the output's similarity with the same contract
 * (post/), and features and pixels are gone (read them first, or explain again).
 *
 * <p><b>Directly</b> (benchmarks, tests):
 * <pre>{@code
 * try (CudaEngine engine = CudaEngine.open(weights, Precision.FP16, 0)) {
 *     CudaEngine.Labels labels = engine.labels(List.of("person", "car", "sky"), PromptTemplates.defaults(), false);
 *     CudaEngine.Runner run = engine.runner(new CudaEngine.Capture(labels, 224, 6)
 *             .frames(480, 640, ClipSurgeryNative.CS_BGR)      // uint8 frames, preprocessed on the GPU
 *             .maps(480, 640, 0, 2)                              // maps of labels 0 and 2 come back
 *             .labelMap(0.5f, 255));                             // and the per-pixel label map
 *     CudaEngine.Result r = run.run(frameBytes);                   // one graph launch, one copy back
 * }
 * }</pre>
 *
 * <p>Threads: an engine owns one stream, one cuBLAS handle and one workspace; every public method
 * takes the engine's lock, so sharing one engine between threads is safe but serialises them; for
 * parallel work open one engine per thread. Results left on the GPU ({@link Runner#similarityAddress()}
 * and the like) are valid until the runner's next run.
 *
 * <p>No LibTorch at run time: weights come from a {@link WeightStore} (read in Java), text from
 * {@link ClipTokenizer}; the GPU work is cuBLAS and the project's kernels ({@link Kernels}).
 */
public final class CudaEngine implements Engine {
    /** Runners kept by {@link #explain}: a few shapes (say, camera frames and the odd still) stay captured. */
    public static final int CACHED_RUNNERS = 4;
    /** Token rows per text-encoder pass (the GPU takes larger chunks than the CPU). */
    private static final int TEXT_CHUNK = 2048;

    private final WeightStore weights;
    private final CudaOps ops;
    private final ClipGraph<DeviceTensor> graph;
    private final List<Runner> runners = new ArrayList<>();
    private final List<Labels> labelSets = new ArrayList<>();
    private final Map<LabelsKey, Labels> uploaded = new HashMap<>();
    private final LinkedHashMap<RunnerKey, Runner> cache = new LinkedHashMap<>(16, 0.75f, true);
    private final ReentrantLock lock = new ReentrantLock();
    private final AtomicInteger labelIds = new AtomicInteger();
    private ClipTokenizer tokenizer;
    private boolean closed;

    private CudaEngine(WeightStore weights, Precision precision, Gpu gpu) {
        this.weights = weights;
        this.ops = new CudaOps(gpu, name -> weights.get(name), precision);
        this.graph = new ClipGraph<>(ops, weights.config(), n -> weights.has(n) ? weights.get(n) : null);
    }

    /**
     * Opens an engine on CUDA device {@code device} (0 = the first visible). The weight store stays
     * owned by the caller (it must outlive the engine only until the weights are uploaded, which
     * happens lazily on first use: keep it open while the engine is used).
     *
     * @throws CudaException with kind NO_DEVICE, OLD_DRIVER, MISSING_LIBRARIES, NOT_BUILT or
     *     OUT_OF_MEMORY when the GPU cannot be used
     */
    public static CudaEngine open(WeightStore weights, Precision precision, int device) {
        check(weights, precision);
        // Before CudaGpu is touched: linking that class loads org.bytedeco:cuda's classes (the
        // verifier checks its stream types), which a CPU-only user does not have; require() says
        // what is missing instead (tests/consumer checks this).
        CudaRuntime.require();
        return new CudaEngine(weights, precision, CudaGpu.open(device));
    }

    /** An engine on a given {@link Gpu}, which it owns from now on (tests: the host emulation). */
    static CudaEngine open(WeightStore weights, Precision precision, Gpu gpu) {
        try {
            check(weights, precision);
        } catch (RuntimeException e) {
            gpu.close();
            throw e;
        }
        return new CudaEngine(weights, precision, gpu);
    }

    private static void check(WeightStore weights, Precision precision) {
        Objects.requireNonNull(weights, "weights");
        Objects.requireNonNull(precision, "precision");
    }

    public ModelConfig config() {
        return weights.config();
    }

    /** The backend (for tests and callers that build their own graphs). */
    public CudaOps ops() {
        return ops;
    }

    /** The device's name, for tables and messages. */
    public String deviceName() {
        return ops.gpu().name();
    }

    /** Device memory in use on the device (all processes), in bytes. */
    public long deviceMemoryUsed() {
        return locked(() -> ops.gpu().memoryUsed());
    }

    /** Device milliseconds of the work {@code enqueue} puts on the stream (CUDA events; waits for it). */
    public double elapsedMs(Runnable enqueue) {
        return locked(() -> ops.gpu().elapsedMs(enqueue));
    }

    private <R> R locked(Supplier<R> work) {
        lock.lock();
        try {
            return work.get();
        } finally {
            lock.unlock();
        }
    }

    // ---- labels ----------------------------------------------------------------------------------

    /** Text features on the GPU: (count, E) fp32 normalised, and the redundant feature or null. */
    public final class Labels {
        final DeviceTensor text;
        final DeviceTensor redundant;
        final int count;

        private Labels(float[] text, int count, float[] redundant) {
            int e = config().embedDim();
            if (count < 1 || text.length != count * e) {
                throw new IllegalArgumentException(text.length + " text values for " + count + " labels of width " + e);
            }
            if (redundant != null && redundant.length != e) throw new IllegalArgumentException("redundant feature of length " + redundant.length);
            this.count = count;
            int id = labelIds.incrementAndGet();
            // fp32 whatever the compute type: cs_feature_surgery takes fp32 text features
            this.text = ops.constant("labels#" + id, () -> org.clipsurgery.weights.HostTensor.ofFloats(text, count, e), DType.F32);
            this.redundant = redundant == null ? null : ops.constant("redundant#" + id,
                    () -> org.clipsurgery.weights.HostTensor.ofFloats(redundant, e), DType.F32);
        }

        public int count() {
            return count;
        }

        /** Redundant-feature mode (single label / free text) rather than label-set mode. */
        public boolean redundantMode() {
            return redundant != null;
        }
    }

    /**
     * Uploads label features (count, E), normalised (e.g. {@code LabelSet.textFeatures()}); with
     * {@code redundant} (E) feature surgery runs in redundant mode, else in label-set mode.
     */
    public Labels labels(float[] text, int count, float[] redundant) {
        return locked(() -> {
            checkOpen();
            ops.bind();
            Labels l = new Labels(text, count, redundant);
            labelSets.add(l);
            return l;
        });
    }

    /**
     * Embeds labels with the prompt ensemble on the GPU (every label in every template, each
     * embedding L2-normalised, averaged, normalised again) and uploads them; with
     * {@code redundantMode} the ensemble of "" becomes the redundant feature.
     */
    public Labels labels(List<String> labels, List<String> templates, boolean redundantMode) {
        return locked(() -> {
            float[] text = ensemble(labels, templates);
            float[] redundant = redundantMode ? ensemble(List.of(""), templates) : null;
            return labels(text, labels.size(), redundant);
        });
    }

    /** The prompt ensemble (labels, E) computed by the text encoder on the GPU, chunk by chunk. */
    public float[] ensemble(List<String> labels, List<String> templates) {
        return promptEnsemble(labels, templates, Progress.none());
    }

    @Override
    public float[] promptEnsemble(List<String> labels, List<String> templates, Progress progress) {
        return locked(() -> {
            checkOpen();
            if (tokenizer == null) tokenizer = ClipTokenizer.bundled();
            try {
                return PromptEnsemble.compute(this::textFeatures, config().embedDim(), tokenizer, labels, templates, TEXT_CHUNK,
                        progress);
            } finally {
                ops.trimWorkspace();
            }
        });
    }

    /** Projected end-token features (rows, E) of token rows, op by op; under the lock. */
    private float[] textFeatures(int[][] tokens) {
        ops.bind();
        try (Ops.Scope<DeviceTensor> s = ops.scope()) {
            return ops.toHost(graph.encodeText(tokens));
        }
    }

    // ---- captures -------------------------------------------------------------------------------

    /**
     * What one captured forward computes and returns. Required: labels, resolution and surgery
     * depth (already resolved, e.g. by {@link Request#resolve}). Input: float pixels (B, 3, R, R)
     * by default, or uint8 frames with {@link #frames}. Outputs: the similarity (B, N, T) fp32
     * always (on the GPU); maps, label map and points when asked.
     */
    public static final class Capture {
        final Labels labels;
        final int resolution; // input side r (the caller checked it against the model)
        final int surgeryDepth; // ViT: the last k blocks with the dual path; ResNet: 1 = surgery pool; 0 = plain model
        int batch = 1; // images per replay
        int frameHeight, frameWidth, pixelOrder; // uint8 frames (CS_RGB/CS_BGR) when frameHeight > 0, else float pixels
        int outHeight, outWidth; // size of maps, label map and points' frame; 0 when none is asked
        int[] mapLabels = new int[0]; // label indices whose maps are made; null = all; empty = no maps
        int mapLayout = ClipSurgeryNative.CS_LAYOUT_BTHW; // cs_map_layout of the maps
        boolean mapsHalf; // maps in fp16 rather than fp32
        boolean labelMap; // make the per-pixel label map
        float labelThreshold; // its background threshold
        int background = 255; // its background value (uint8 output while labels and background fit)
        int maxPoints; // SAM points: up to this many positives and as many negatives per label; 0 = none
        float pointThreshold = 0.8f; // their threshold
        boolean copySimilarity; // run() also returns the whole similarity
        boolean keepFeatures; // image features (B, N, E) fp32 kept in a runner buffer

        public Capture(Labels labels, int resolution, int surgeryDepth) {
            this.labels = Objects.requireNonNull(labels, "labels");
            this.resolution = resolution;
            this.surgeryDepth = surgeryDepth;
        }

        public Capture batch(int b) {
            batch = b;
            return this;
        }

        /** Inputs are 8-bit interleaved frames height × width × 3 (order CS_RGB or CS_BGR). */
        public Capture frames(int height, int width, int order) {
            frameHeight = height;
            frameWidth = width;
            pixelOrder = order;
            return this;
        }

        /** Maps at height × width of the given label indices ({@code all()} for every label). */
        public Capture maps(int height, int width, int... labelIndices) {
            outHeight = height;
            outWidth = width;
            mapLabels = labelIndices == null ? null : labelIndices.clone();
            return this;
        }

        /** Marker for {@link #maps}: every label. */
        public static int[] all() {
            return null;
        }

        /** Maps (B, H, W, T) as {@code SimilarityMaps} holds them, rather than (B, T, H, W). */
        public Capture mapsLabelsLast() {
            mapLayout = ClipSurgeryNative.CS_LAYOUT_BHWT;
            return this;
        }

        /** Maps as fp16 (half the memory and copy time) rather than fp32. */
        public Capture halfMaps(boolean half) {
            mapsHalf = half;
            return this;
        }

        /** The per-pixel label map (uint8 while labels and background fit, else int32). Needs {@link #maps}' size. */
        public Capture labelMap(float threshold, int background) {
            labelMap = true;
            labelThreshold = threshold;
            this.background = background;
            return this;
        }

        /** SAM points per label (up to {@code max} positives and as many negatives). Needs {@link #maps}' size. */
        public Capture points(float threshold, int max) {
            pointThreshold = threshold;
            maxPoints = max;
            return this;
        }

        /** Also copy the whole similarity (B, N, T) back. */
        public Capture copySimilarity(boolean copy) {
            copySimilarity = copy;
            return this;
        }

        /** Keep the image features (B, N, E) as fp32 in a runner buffer. */
        public Capture keepFeatures(boolean keep) {
            keepFeatures = keep;
            return this;
        }
    }

    /** Host copies of a run's requested outputs. */
    public static final class Result {
        /** (B, k, H, W) maps of the requested labels, fp32 (null if not asked or fp16). */
        public float[] maps;
        /** The same as raw fp16 bits when {@link Capture#halfMaps} was asked. */
        public short[] mapsHalf;
        /** (B, H, W) label indices (uint8 values 0..255 widened, or int32). */
        public int[] labelMap;
        /** (B, T) class-token similarity: the multi-label scores. */
        public float[] scores;
        /** (B, T, 2·max, 2) int32 points and (B, T) counts. */
        public int[] points, pointCounts;
        /** (B, N, T) similarity when {@link Capture#copySimilarity} was asked. */
        public float[] similarity;
    }

    /** Builds (or returns the cached) runner for a request: eager warm-up, capture, instantiate. */
    public Runner runner(Capture request) {
        return locked(() -> {
            checkOpen();
            if (!labelSets.contains(request.labels)) throw new IllegalArgumentException("these labels belong to another engine");
            Runner r = new Runner(request);
            runners.add(r);
            return r;
        });
    }

    /**
     * One captured image forward: fixed input and output buffers, a CUDA graph over them.
     * Closing it frees its buffers and graph (the engine's close does too).
     */
    public final class Runner implements AutoCloseable {
        private final Capture q;
        private final int grid, tokens, labels, mapCount, depth;
        private final boolean u8Labels;
        private final List<Long> buffers = new ArrayList<>();
        private final long input, pixels, similarity, selected, maps, labelMapBuf, points, counts, features;
        /** Runs so far: an output of run g may read this runner's buffers while generation == g. */
        private long generation;
        private final Map<String, Long> hostBuffers = new LinkedHashMap<>();
        private final Map<String, Long> scratch = new HashMap<>();
        private final Gpu gpu = ops.gpu();
        private final Kernels k = ops.kernels();
        private Gpu.Graph captured;
        private boolean released;

        private Runner(Capture q) {
            ModelConfig c = config();
            // ResNet: one attention pool, surgery on or off; ViT: the last `depth` blocks
            int layers = c.isVit() ? c.visionLayers()[0] : 1;
            if (q.batch < 1) throw new IllegalArgumentException("batch " + q.batch);
            if (q.resolution < c.gridStride() || q.resolution % c.gridStride() != 0 || q.resolution > 4096) {
                throw new IllegalArgumentException("resolution " + q.resolution + " must be a multiple of " + c.gridStride()
                        + " (the " + (c.isVit() ? "patch size" : "ResNet's stride") + "), at most 4096");
            }
            depth = q.surgeryDepth;
            if (depth < 0 || depth > layers) {
                throw new IllegalArgumentException("surgery depth " + depth + " of a model with " + layers + " layers");
            }
            boolean needSize = q.mapLabels == null || q.mapLabels.length > 0 || q.labelMap || q.maxPoints > 0;
            if (needSize && (q.outHeight < 1 || q.outWidth < 1)) {
                throw new IllegalArgumentException("maps, label map and points need an output size (Capture.maps)");
            }
            if (q.frameHeight < 0 || q.frameWidth < 0 || (q.frameHeight > 0) != (q.frameWidth > 0)) {
                throw new IllegalArgumentException("frame size " + q.frameHeight + "×" + q.frameWidth);
            }
            this.q = q;
            grid = q.resolution / c.gridStride();
            tokens = 1 + grid * grid;
            labels = q.labels.count;
            if (q.mapLabels != null) for (int l : q.mapLabels) {
                if (l < 0 || l >= labels) throw new IllegalArgumentException("label index " + l + " of " + labels);
            }
            mapCount = q.mapLabels == null ? labels : q.mapLabels.length;
            u8Labels = labels <= 255 && q.background >= 0 && q.background <= 255;
            long b = q.batch, r = q.resolution, hw = (long) q.outHeight * q.outWidth;
            ops.bind();
            try {
                input = q.frameHeight > 0 ? buffer(b * q.frameHeight * q.frameWidth * 3) : 0;
                pixels = buffer(4 * b * 3 * r * r);
                similarity = buffer(4 * b * tokens * labels);
                selected = q.mapLabels != null && mapCount > 0 ? buffer(4 * b * tokens * mapCount) : 0;
                maps = mapCount > 0 ? buffer((q.mapsHalf ? 2 : 4) * b * mapCount * hw) : 0;
                labelMapBuf = q.labelMap ? buffer((u8Labels ? 1 : 4) * b * hw) : 0;
                points = q.maxPoints > 0 ? buffer(4 * b * labels * 4L * q.maxPoints) : 0;
                counts = q.maxPoints > 0 ? buffer(4 * b * labels) : 0;
                features = q.keepFeatures ? buffer(4 * b * tokens * config().embedDim()) : 0;
                capture();
            } catch (RuntimeException e) {
                release();
                throw e;
            }
        }

        private long buffer(long bytes) {
            long p = gpu.malloc(bytes, "a runner buffer");
            buffers.add(p);
            // zeros, not leftovers: the warm-up run before capture reads the input buffers as they are
            gpu.memset(p, 0, bytes);
            return p;
        }

        /** The whole forward, enqueued on the engine's stream (eagerly, or under capture). */
        private void forward() {
            long b = q.batch, r = q.resolution;
            if (input != 0) {
                long frameBytes = (long) q.frameHeight * q.frameWidth * 3;
                for (long i = 0; i < b; i++) {
                    k.preprocess(input + i * frameBytes, q.frameHeight, q.frameWidth, 3L * q.frameWidth, q.pixelOrder, r, r,
                            ClipSurgeryNative.CS_F32, pixels + i * 4 * 3 * r * r);
                }
            }
            try (Ops.Scope s = ops.scope()) {
                DeviceTensor x = new DeviceTensor(pixels, new long[] {b, 3, r, r}, DType.F32);
                DeviceTensor image = ops.materialize(graph.encodeImage(x, depth));
                ops.featureSurgeryInto(image, q.labels.text, q.labels.redundant, similarity);
                if (features != 0) {
                    if (image.dtype() == DType.F32) gpu.copy(features, image.address(), image.bytes(), Copy.ON_DEVICE);
                    else k.convert(image.address(), CudaOps.csType(image.dtype()), image.numel(), features, ClipSurgeryNative.CS_F32);
                }
            }
            long h = q.outHeight, w = q.outWidth;
            int mapType = q.mapsHalf ? ClipSurgeryNative.CS_F16 : ClipSurgeryNative.CS_F32;
            if (mapCount > 0) {
                long src = similarity;
                if (q.mapLabels != null) {
                    // Only the chosen labels' columns: min-max is per label, so this is exact.
                    for (int j = 0; j < mapCount; j++) {
                        gpu.copy2d(selected + 4L * j, 4L * mapCount, similarity + 4L * q.mapLabels[j], 4L * labels, 4, b * tokens,
                                Copy.ON_DEVICE);
                    }
                    src = selected;
                }
                k.mapUpsample(src, b, tokens, mapCount, h, w, q.mapLayout, mapType, maps);
            }
            if (q.labelMap) {
                k.mapLabels(similarity, b, tokens, labels, h, w, q.labelThreshold, q.background,
                        u8Labels ? ClipSurgeryNative.CS_U8 : ClipSurgeryNative.CS_I32, labelMapBuf);
            }
            if (q.maxPoints > 0) {
                k.mapPoints(similarity, b, tokens, labels, h, w, q.pointThreshold, q.maxPoints, points, counts);
            }
        }

        private void capture() {
            DeviceArena arena = ops.arena;
            long mark = arena.mark();
            arena.resetTouched();
            // Eager first: uploads weights and constants, sizes the arena; capture then replays
            // the same allocation sequence at the same addresses.
            forward();
            ops.synchronize();
            arena.pinTouched();
            arena.reset(mark);
            gpu.beginCapture();
            boolean failed = true;
            try {
                forward();
                failed = false;
            } finally {
                try {
                    captured = gpu.endCapture(failed);
                } finally {
                    arena.reset(mark);
                }
            }
        }

        /** Device address of the input buffer: pixels (B, 3, R, R) fp32, or frames (B, H, W, 3) uint8. */
        public long inputAddress() {
            return input != 0 ? input : pixels;
        }

        public long inputBytes() {
            return input != 0 ? (long) q.batch * q.frameHeight * q.frameWidth * 3 : 4L * q.batch * 3 * q.resolution * q.resolution;
        }

        /** Device addresses of the outputs, valid until the next run: (B, N, T) fp32 similarity. */
        public long similarityAddress() {
            return similarity;
        }

        /** (B, k, H, W) maps (fp32 or fp16), 0 if none. */
        public long mapsAddress() {
            return maps;
        }

        /** (B, H, W) label map (uint8 or int32), 0 if none. */
        public long labelMapAddress() {
            return labelMapBuf;
        }

        /** The preprocessed pixels (B, 3, R, R) fp32 (the input itself for pixel requests). */
        public long pixelsAddress() {
            return pixels;
        }

        public int tokens() {
            return tokens;
        }

        /** A page-locked host buffer for one output, made once per runner. */
        private long host(String key, long bytes) {
            Long p = hostBuffers.get(key);
            if (p == null) {
                p = gpu.mallocHost(bytes, "the " + key + " output");
                hostBuffers.put(key, p);
            }
            return p;
        }

        /** Copies host input (float pixels or frame bytes) into the input buffer (pinned staging, async). */
        private void stage(Object data) {
            long bytes = inputBytes();
            if (input == 0) {
                float[] f = (float[]) data;
                if (4L * f.length != bytes) throw new IllegalArgumentException(f.length + " pixel values, expected " + bytes / 4);
                new FloatPointer(DevicePointer.of(host("input", bytes))).put(f);
            } else {
                byte[] f = (byte[]) data;
                if (f.length != bytes) throw new IllegalArgumentException(f.length + " frame bytes, expected " + bytes);
                new BytePointer(DevicePointer.of(host("input", bytes))).put(f);
            }
            gpu.copy(inputAddress(), host("input", bytes), bytes, Copy.TO_DEVICE);
        }

        /** Replays the graph on what is in the input buffer; returns without waiting. */
        public void launch() {
            lock.lock();
            try {
                checkLive();
                ops.bind();
                captured.launch();
                generation++;
            } finally {
                lock.unlock();
            }
        }

        /** Runs the same forward op by op, without the graph (for comparisons). */
        public void launchEager() {
            lock.lock();
            try {
                checkLive();
                ops.bind();
                forward();
                generation++;
            } finally {
                lock.unlock();
            }
        }

        /** Waits for the engine's stream. */
        public void synchronize() {
            lock.lock();
            try {
                ops.synchronize();
            } finally {
                lock.unlock();
            }
        }

        /** Float pixels (B, 3, R, R) from the host → outputs in host memory. */
        public Result run(float[] pixels) {
            return run((Object) pixels);
        }

        /** uint8 frames (B, H, W, 3) from the host → outputs in host memory. */
        public Result run(byte[] frames) {
            return run((Object) frames);
        }

        private Result run(Object data) {
            lock.lock();
            try {
                checkLive();
                if ((input == 0) != (data instanceof float[])) {
                    throw new IllegalArgumentException(input == 0 ? "this runner takes float pixels" : "this runner takes uint8 frames");
                }
                ops.bind();
                stage(data);
                captured.launch();
                generation++;
                return collect();
            } finally {
                lock.unlock();
            }
        }

        /** Copies the requested outputs of the last launch to the host (one wait). */
        public Result collect() {
            lock.lock();
            try {
                checkLive();
                long b = q.batch, hw = (long) q.outHeight * q.outWidth;
                Map<String, Long> sizes = new LinkedHashMap<>();
                if (mapCount > 0) sizes.put("maps", (q.mapsHalf ? 2 : 4) * b * mapCount * hw);
                if (q.labelMap) sizes.put("labels", (u8Labels ? 1 : 4) * b * hw);
                sizes.put("scores", 4 * b * labels);
                if (q.maxPoints > 0) {
                    sizes.put("points", 4 * b * labels * 4L * q.maxPoints);
                    sizes.put("counts", 4 * b * labels);
                }
                if (q.copySimilarity) sizes.put("similarity", 4 * b * tokens * labels);
                for (Map.Entry<String, Long> e : sizes.entrySet()) {
                    long h = host(e.getKey(), e.getValue());
                    if (e.getKey().equals("scores")) {
                        // token 0 of each image: one strided copy
                        gpu.copy2d(h, 4L * labels, similarity, 4L * tokens * labels, 4L * labels, b, Copy.TO_HOST);
                    } else {
                        long src = switch (e.getKey()) {
                            case "maps" -> maps;
                            case "labels" -> labelMapBuf;
                            case "points" -> points;
                            case "counts" -> counts;
                            default -> similarity;
                        };
                        gpu.copy(h, src, e.getValue(), Copy.TO_HOST);
                    }
                }
                ops.synchronize();
                Result r = new Result();
                for (Map.Entry<String, Long> e : sizes.entrySet()) {
                    Pointer h = DevicePointer.of(hostBuffers.get(e.getKey()));
                    int n = Math.toIntExact(e.getValue() / (e.getKey().equals("labels") && u8Labels ? 1
                            : e.getKey().equals("maps") && q.mapsHalf ? 2 : 4));
                    switch (e.getKey()) {
                        case "maps" -> {
                            if (q.mapsHalf) {
                                r.mapsHalf = new short[n];
                                new ShortPointer(h).get(r.mapsHalf);
                            } else {
                                r.maps = new float[n];
                                new FloatPointer(h).get(r.maps);
                            }
                        }
                        case "labels" -> {
                            r.labelMap = new int[n];
                            if (u8Labels) {
                                BytePointer bp = new BytePointer(h);
                                for (int i = 0; i < n; i++) r.labelMap[i] = bp.get(i) & 0xff;
                            } else {
                                new IntPointer(h).get(r.labelMap);
                            }
                        }
                        case "scores" -> {
                            r.scores = new float[n];
                            new FloatPointer(h).get(r.scores);
                        }
                        case "points" -> {
                            r.points = new int[n];
                            new IntPointer(h).get(r.points);
                        }
                        case "counts" -> {
                            r.pointCounts = new int[n];
                            new IntPointer(h).get(r.pointCounts);
                        }
                        default -> {
                            r.similarity = new float[n];
                            new FloatPointer(h).get(r.similarity);
                        }
                    }
                }
                return r;
            } finally {
                lock.unlock();
            }
        }

        // ---- the Engine path: one run's outputs read lazily, image by image (under the engine's lock)

        /** Stages uint8 frames, replays, and copies the whole similarity (B, N, T) back (one wait). */
        private float[] runSimilarity(byte[] frames) {
            checkLive();
            ops.bind();
            stage(frames);
            captured.launch();
            generation++;
            long bytes = 4L * q.batch * tokens * labels;
            float[] out = new float[Math.toIntExact(bytes / 4)];
            new FloatPointer(fetch("similarity", similarity, bytes)).get(out);
            return out;
        }

        /** Whether run {@code g}'s outputs are still in this runner's buffers. */
        private boolean holds(long g) {
            return !released && !closed && generation == g;
        }

        /** Copies device bytes into this runner's page-locked buffer {@code key} and waits for them. */
        private Pointer fetch(String key, long src, long bytes) {
            long h = host(key, bytes);
            gpu.copy(h, src, bytes, Copy.TO_HOST);
            ops.synchronize();
            return DevicePointer.of(h);
        }

        /** A device buffer made outside the graph (kernels launched again at other thresholds). */
        private long scratch(String key, long bytes) {
            Long p = scratch.get(key);
            if (p == null) {
                p = buffer(bytes);
                scratch.put(key, p);
            }
            return p;
        }

        private int imageOffsetOfSimilarity(int image) {
            return image * tokens * labels;
        }

        /** Image {@code image}'s maps (H, W, T) fp32, or null when this runner does not make all maps so. */
        private float[] mapsOf(int image) {
            if (maps == 0 || q.mapLabels != null || q.mapsHalf || q.mapLayout != ClipSurgeryNative.CS_LAYOUT_BHWT) return null;
            long bytes = 4L * labels * q.outHeight * q.outWidth;
            float[] out = new float[Math.toIntExact(bytes / 4)];
            new FloatPointer(fetch("maps1", maps + image * bytes, bytes)).get(out);
            return out;
        }

        /** Image {@code image}'s label map with {@link LabelMap#BACKGROUND}; the captured one or a fresh launch. */
        private int[] labelMapOf(int image, float threshold) {
            if (q.outHeight < 1) return null;
            long hw = (long) q.outHeight * q.outWidth, elt = u8Labels ? 1 : 4;
            long src;
            if (labelMapBuf != 0 && Float.compare(threshold, q.labelThreshold) == 0) {
                src = labelMapBuf + image * elt * hw;
            } else {
                src = scratch("labelMap", elt * hw);
                k.mapLabels(similarity + 4L * imageOffsetOfSimilarity(image), 1, tokens, labels, q.outHeight, q.outWidth, threshold,
                        q.background, u8Labels ? ClipSurgeryNative.CS_U8 : ClipSurgeryNative.CS_I32, src);
            }
            Pointer h = fetch("labelMap1", src, elt * hw);
            int[] out = new int[Math.toIntExact(hw)];
            if (u8Labels) {
                BytePointer bp = new BytePointer(h);
                for (int i = 0; i < out.length; i++) out[i] = bp.get(i) & 0xff;
            } else {
                new IntPointer(h).get(out);
            }
            for (int i = 0; i < out.length; i++) if (out[i] == q.background) out[i] = LabelMap.BACKGROUND;
            return out;
        }

        /**
         * Image {@code image}'s points of one label as (x, y) pairs, positives first, then
         * negatives: {2·n·2 values, n}; the captured ones or a fresh launch; null without points.
         */
        private int[][] pointsOf(int image, int label, float threshold) {
            if (q.maxPoints < 1) return null;
            long perLabel = 4L * q.maxPoints; // (2·max, 2) int32 values per label
            long pts, cnt;
            if (points != 0 && Float.compare(threshold, q.pointThreshold) == 0) {
                pts = points + 4L * perLabel * ((long) image * labels + label);
                cnt = counts + 4L * ((long) image * labels + label);
            } else {
                long p = scratch("points", 4L * perLabel * labels), c = scratch("counts", 4L * labels);
                k.mapPoints(similarity + 4L * imageOffsetOfSimilarity(image), 1, tokens, labels, q.outHeight, q.outWidth, threshold,
                        q.maxPoints, p, c);
                pts = p + 4L * perLabel * label;
                cnt = c + 4L * label;
            }
            int n = new IntPointer(fetch("count1", cnt, 4)).get(0);
            int[] xy = new int[4 * n];
            if (n > 0) new IntPointer(fetch("points1", pts, 4L * perLabel)).get(xy);
            return new int[][] {xy, {n}};
        }

        /** Image {@code image}'s features (N, E) fp32, or null when not kept. */
        private float[] featuresOf(int image) {
            if (features == 0) return null;
            long bytes = 4L * tokens * config().embedDim();
            float[] out = new float[Math.toIntExact(bytes / 4)];
            new FloatPointer(fetch("features1", features + image * bytes, bytes)).get(out);
            return out;
        }

        /** Image {@code image}'s preprocessed pixels (3, R, R) fp32. */
        private float[] pixelsOf(int image) {
            long bytes = 4L * 3 * q.resolution * q.resolution;
            float[] out = new float[Math.toIntExact(bytes / 4)];
            new FloatPointer(fetch("pixels1", pixels + image * bytes, bytes)).get(out);
            return out;
        }

        private void checkLive() {
            checkOpen();
            if (released) throw new IllegalStateException("this runner is closed");
        }

        private void release() {
            if (released) return;
            released = true;
            if (captured != null) captured.close();
            try {
                gpu.synchronize(); // nothing may still use the buffers
            } catch (RuntimeException e) {
                // a failed stream: free what we can all the same
            }
            for (long p : buffers) gpu.free(p);
            buffers.clear();
            scratch.clear();
            for (long p : hostBuffers.values()) gpu.freeHost(p);
            hostBuffers.clear();
        }

        @Override
        public void close() {
            lock.lock();
            try {
                release();
                runners.remove(this);
                cache.values().remove(this);
            } finally {
                lock.unlock();
            }
        }

        @Override
        public String toString() {
            return "Runner[batch " + q.batch + ", " + q.resolution + " px, " + labels + " labels, " + mapCount + " maps "
                    + q.outHeight + "×" + q.outWidth + (input != 0 ? ", frames " + q.frameHeight + "×" + q.frameWidth : "") + "]";
        }
    }

    // ---- the Engine: frames in, lazily read outputs ---------------------------------------------

    /** Label features uploaded once per pair of arrays (a record compares arrays by identity). */
    private record LabelsKey(float[] text, float[] redundant) {}

    /** One captured runner per shape of work (arrays by identity: one label set). */
    private record RunnerKey(int batch, int height, int width, int order, int resolution, int depth, float[] text,
            float[] redundant, Set<Request.Output> outputs, float labelThreshold, float pointThreshold) {}

    /**
     * {@inheritDoc} Frames of one size (and pixel order) go through one replay; the request's
     * precision is this engine's, fixed when it was opened.
     */
    @Override
    public List<Output> explain(List<Frame> frames, Request request) {
        Objects.requireNonNull(request, "request");
        request.requireLabels();
        if (frames == null || frames.isEmpty()) throw new IllegalArgumentException("no frames");
        Map<List<Integer>, List<Integer>> groups = new LinkedHashMap<>();
        for (int i = 0; i < frames.size(); i++) {
            Frame f = Objects.requireNonNull(frames.get(i), "frame " + i);
            groups.computeIfAbsent(List.of(f.height(), f.width(), f.bgr() ? 1 : 0), g -> new ArrayList<>()).add(i);
        }
        Output[] out = new Output[frames.size()];
        lock.lock();
        try {
            checkOpen();
            for (Map.Entry<List<Integer>, List<Integer>> g : groups.entrySet()) {
                int h = g.getKey().get(0), w = g.getKey().get(1), order = g.getKey().get(2) == 1 ? ClipSurgeryNative.CS_BGR
                        : ClipSurgeryNative.CS_RGB;
                List<Integer> members = g.getValue();
                Runner r = runnerFor(request, members.size(), h, w, order);
                byte[] data;
                if (members.size() == 1) {
                    data = frames.get(members.get(0)).data();
                } else {
                    int bytes = h * w * 3;
                    data = new byte[Math.multiplyExact(bytes, members.size())];
                    for (int j = 0; j < members.size(); j++) System.arraycopy(frames.get(members.get(j)).data(), 0, data, j * bytes, bytes);
                }
                float[] sim = r.runSimilarity(data);
                int per = r.tokens * r.labels;
                for (int j = 0; j < members.size(); j++) {
                    out[members.get(j)] = new CudaOutput(r, r.generation, j, Arrays.copyOfRange(sim, j * per, (j + 1) * per), h, w);
                }
            }
        } finally {
            lock.unlock();
        }
        return List.of(out);
    }

    /** The cached runner for this work, or a new one (evicting the least recently used). Under the lock. */
    private Runner runnerFor(Request request, int batch, int h, int w, int order) {
        RunnerKey key = new RunnerKey(batch, h, w, order, request.resolution(), request.surgeryDepth(), request.text(),
                request.redundant(), request.outputs(), request.labelThreshold(), request.pointThreshold());
        Runner r = cache.get(key);
        if (r != null) return r;
        Labels labels = uploaded.get(new LabelsKey(request.text(), request.redundant()));
        if (labels == null) {
            labels = labels(request.text(), request.labels(), request.redundant());
            uploaded.put(new LabelsKey(request.text(), request.redundant()), labels);
        }
        Capture c = new Capture(labels, request.resolution(), request.surgeryDepth()).batch(batch).frames(h, w, order)
                .keepFeatures(true);
        if (request.wants(Request.Output.MAPS)) c.maps(h, w, Capture.all()).mapsLabelsLast();
        else c.maps(h, w); // no maps: the size of the label map and points' frame
        if (request.wants(Request.Output.LABEL_MAP)) c.labelMap(request.labelThreshold(), request.labels() <= 255 ? 255 : -1);
        int cellsPerSide = request.resolution() / config().gridStride() / SamPoints.DEFAULT_DOWN_SAMPLE;
        int cells = cellsPerSide * cellsPerSide;
        // at most half the cells are positives (cs_map_points); a grid too small for points has none on the device
        if (request.wants(Request.Output.POINTS) && cells / 2 > 0) c.points(request.pointThreshold(), cells / 2);
        r = runner(c);
        cache.put(key, r);
        if (cache.size() > CACHED_RUNNERS) {
            Runner eldest = cache.values().iterator().next();
            eldest.close(); // also leaves the cache; its outputs fall back to the host
        }
        return r;
    }

    /**
     * An output of one run: the similarity on the host, the rest in the runner's buffers while
     * that run is its latest, then computed on the host (see the class comment).
     */
    private final class CudaOutput extends HostOutput {
        private final Runner runner;
        private final long generation;
        private final int image;
        private volatile SimilarityMaps maps;

        CudaOutput(Runner runner, long generation, int image, float[] similarity, int height, int width) {
            super(height, width, similarity, runner.labels, null, null);
            this.runner = runner;
            this.generation = generation;
            this.image = image;
        }

        /** {@code read} of the runner while this run's buffers are there, else null. */
        private <R> R fromDevice(java.util.function.Function<Runner, R> read) {
            lock.lock();
            try {
                return runner.holds(generation) ? read.apply(runner) : null;
            } finally {
                lock.unlock();
            }
        }

        @Override
        public SimilarityMaps maps() {
            SimilarityMaps m = maps;
            if (m == null) {
                float[] v = fromDevice(r -> r.mapsOf(image));
                m = v == null ? super.maps() : SimilarityMaps.of(v, 1, height(), width(), labels(), SimilarityMaps.gridSide(tokens()));
                maps = m;
            }
            return m;
        }

        @Override
        public LabelMap labelMap(float threshold) {
            int[] v = fromDevice(r -> r.labelMapOf(image, threshold));
            return v == null ? super.labelMap(threshold) : LabelMap.ofIndices(v, 1, height(), width(), labels());
        }

        @Override
        public SamPoints points(int label, float threshold) {
            if (label < 0 || label >= labels()) throw new IllegalArgumentException("label index " + label + " of " + labels());
            int[][] v = fromDevice(r -> r.pointsOf(image, label, threshold));
            if (v == null) return super.points(label, threshold);
            int n = v[1][0];
            int[] xs = new int[2 * n], ys = new int[2 * n], sam = new int[2 * n];
            for (int i = 0; i < 2 * n; i++) {
                xs[i] = v[0][2 * i];
                ys[i] = v[0][2 * i + 1];
                sam[i] = i < n ? 1 : 0;
            }
            return SamPoints.of(xs, ys, sam);
        }

        @Override
        public float[] imageFeatures() {
            float[] v = fromDevice(r -> r.featuresOf(image));
            if (v == null) throw stale("image features");
            return v;
        }

        @Override
        public float[] pixels() {
            float[] v = fromDevice(r -> r.pixelsOf(image));
            if (v == null) throw stale("preprocessed image");
            return v;
        }

        private IllegalStateException stale(String what) {
            return new IllegalStateException("the " + what + " of a CUDA explanation stay on the device only until the next "
                    + "image of the same shape is explained: read them before that, or explain this image again");
        }
    }

    /** Bytes held by weights, constants, workspace and runners' buffers (the engine's own view). */
    public String memorySummary() {
        return locked(() -> String.format("weights+constants %.1f MiB, workspace reserved %.1f MiB (peak %.1f MiB), device used %.1f MiB",
                ops.residentBytes() / 1048576.0, ops.workspaceReserved() / 1048576.0, ops.workspacePeak() / 1048576.0,
                ops.gpu().memoryUsed() / 1048576.0));
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("this CUDA engine is closed");
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) return;
            closed = true;
            for (Runner r : runners) r.release();
            runners.clear();
            cache.clear();
            uploaded.clear();
            labelSets.clear();
            ops.close();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        return "CudaEngine[" + ops.computeType() + ", " + ops.gpu().name() + "]";
    }

    static String shape(long[] s) {
        return Arrays.toString(s);
    }
}

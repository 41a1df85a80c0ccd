package org.clipsurgery.backend.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;
import org.clipsurgery.Precision;
import org.clipsurgery.backend.cuda.Gpu.Copy;
import org.clipsurgery.graph.ClipGraph;
import org.clipsurgery.graph.Ops;
import org.clipsurgery.graph.Pipeline;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.ClipTokenizer;
import org.clipsurgery.weights.DType;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.WeightStore;

/**
 * The CUDA engine: CLIP Surgery on one GPU, with the image forward captured as a CUDA graph per
 * request shape and replayed.
 *
 * <pre>{@code
 * try (CudaEngine engine = CudaEngine.open(weights, Precision.FP16, 0)) {
 *     CudaEngine.Labels labels = engine.labels(List.of("person", "car", "sky"), PromptTemplates.defaults(), false);
 *     CudaEngine.Runner run = engine.runner(new CudaEngine.Request(labels, 224)
 *             .frames(480, 640, ClipSurgeryNative.CS_BGR)      // uint8 frames, preprocessed on the GPU
 *             .maps(480, 640, 0, 2)                              // maps of labels 0 and 2 come back
 *             .labelMap(0.5f, 255));                             // and the per-pixel label map
 *     CudaEngine.Result r = run.run(frameBytes);                   // one graph launch, one copy back
 * }
 * }</pre>
 *
 * <p>Threads: an engine owns one stream, one cuBLAS handle and one workspace; it is not
 * thread-safe by itself: every public method (and every call of its {@link #pipeline()}) takes
 * the engine's lock, so sharing one engine between threads is safe but serialises them; for parallel work open one engine per thread (each its own stream
 * and weights) or keep a pool. Results left on the GPU ({@link Runner#similarityAddress()} and the
 * like) are valid until the runner's next run.
 *
 * <p>No LibTorch at run time: weights come from a {@link WeightStore} (read in Java), text from
 * {@link ClipTokenizer}; the GPU work is cuBLAS and the project's kernels ({@link Kernels}).
 */
public final class CudaEngine implements AutoCloseable {
    private final WeightStore weights;
    private final CudaOps ops;
    private final ClipGraph<DeviceTensor> graph;
    private final List<Runner> runners = new ArrayList<>();
    private final List<Labels> labelSets = new ArrayList<>();
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

    /**
     * The eager host-facing pipeline over this engine (what {@code ClipSurgery} with
     * {@code Device.CUDA} uses): each call uploads its input, runs op by op and copies the result
     * back. Closing the pipeline closes this engine.
     */
    public Pipeline<DeviceTensor> pipeline() {
        Ops<DeviceTensor> locking = new LockingOps(ops, lock);
        return new Pipeline<>(locking, new ClipGraph<>(locking, weights.config(), n -> weights.has(n) ? weights.get(n) : null), this);
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
        return locked(() -> ensembleLocked(labels, templates));
    }

    private float[] ensembleLocked(List<String> labels, List<String> templates) {
        checkOpen();
        if (tokenizer == null) tokenizer = ClipTokenizer.bundled();
        try {
            return new Pipeline<>(ops, graph, null).promptEnsemble(tokenizer, labels, templates, 2048, Progress.none());
        } finally {
            ops.trimWorkspace();
        }
    }

    // ---- requests --------------------------------------------------------------------------------

    /**
     * What one captured forward computes and returns. Required: labels and resolution. Input:
     * float pixels (B, 3, R, R) by default, or uint8 frames with {@link #frames}. Outputs:
     * similarity always (on the GPU); maps, label map and points when asked.
     */
    public static final class Request {
        final Labels labels;
        final int resolution;
        int batch = 1;
        int surgeryDepth = -1; // min(6, layers), as the facade
        int frameHeight, frameWidth, pixelOrder;
        int outHeight, outWidth;
        int[] mapLabels = new int[0];
        boolean mapsHalf;
        boolean labelMap;
        float labelThreshold;
        int background = 255;
        int maxPoints;
        float pointThreshold = 0.8f;
        boolean copySimilarity;

        public Request(Labels labels, int resolution) {
            this.labels = Objects.requireNonNull(labels, "labels");
            this.resolution = resolution;
        }

        public Request batch(int b) {
            batch = b;
            return this;
        }

        /**
         * ViT: the final blocks with the dual path (default min(6, layers)); ResNet: 1 (the default)
         * for the surgery attention pool; 0 = the plain model.
         */
        public Request surgeryDepth(int k) {
            surgeryDepth = k;
            return this;
        }

        /** Inputs are 8-bit interleaved frames height × width × 3 (order CS_RGB or CS_BGR). */
        public Request frames(int height, int width, int order) {
            frameHeight = height;
            frameWidth = width;
            pixelOrder = order;
            return this;
        }

        /** Maps at height × width of the given label indices ({@code all()} for every label). */
        public Request maps(int height, int width, int... labelIndices) {
            outHeight = height;
            outWidth = width;
            mapLabels = labelIndices == null ? null : labelIndices.clone();
            return this;
        }

        /** Marker for {@link #maps}: every label. */
        public static int[] all() {
            return null;
        }

        /** Maps as fp16 (half the memory and copy time) rather than fp32. */
        public Request halfMaps(boolean half) {
            mapsHalf = half;
            return this;
        }

        /** The per-pixel label map (uint8 while labels and background fit, else int32). Needs {@link #maps}' size. */
        public Request labelMap(float threshold, int background) {
            labelMap = true;
            labelThreshold = threshold;
            this.background = background;
            return this;
        }

        /** SAM points per label (up to {@code max} positives and as many negatives). Needs {@link #maps}' size. */
        public Request points(float threshold, int max) {
            pointThreshold = threshold;
            maxPoints = max;
            return this;
        }

        /** Also copy the whole similarity (B, N, T) back. */
        public Request copySimilarity(boolean copy) {
            copySimilarity = copy;
            return this;
        }
    }

    /** Host copies of a run's requested outputs. */
    public static final class Result {
        /** (B, k, H, W) maps of the requested labels, fp32 (null if not asked or fp16). */
        public float[] maps;
        /** The same as raw fp16 bits when {@link Request#halfMaps} was asked. */
        public short[] mapsHalf;
        /** (B, H, W) label indices (uint8 values 0..255 widened, or int32). */
        public int[] labelMap;
        /** (B, T) class-token similarity: the multi-label scores. */
        public float[] scores;
        /** (B, T, 2·max, 2) int32 points and (B, T) counts. */
        public int[] points, pointCounts;
        /** (B, N, T) similarity when {@link Request#copySimilarity} was asked. */
        public float[] similarity;
    }

    /** Builds (or returns the cached) runner for a request: eager warm-up, capture, instantiate. */
    public Runner runner(Request request) {
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
        private final Request q;
        private final int grid, tokens, labels, mapCount, depth;
        private final boolean u8Labels;
        private final List<Long> buffers = new ArrayList<>();
        private final long input, pixels, similarity, selected, maps, labelMapBuf, points, counts;
        private final Map<String, Long> hostBuffers = new LinkedHashMap<>();
        private final Gpu gpu = ops.gpu();
        private final Kernels k = ops.kernels();
        private Gpu.Graph captured;
        private boolean released;

        private Runner(Request q) {
            ModelConfig c = config();
            // ResNet: one attention pool, surgery on or off; ViT: the last `depth` blocks
            int layers = c.isVit() ? c.visionLayers()[0] : 1;
            if (q.batch < 1) throw new IllegalArgumentException("batch " + q.batch);
            if (q.resolution < c.gridStride() || q.resolution % c.gridStride() != 0 || q.resolution > 4096) {
                throw new IllegalArgumentException("resolution " + q.resolution + " must be a multiple of " + c.gridStride()
                        + " (the " + (c.isVit() ? "patch size" : "ResNet's stride") + "), at most 4096");
            }
            depth = q.surgeryDepth < 0 ? Math.min(6, layers) : q.surgeryDepth;
            if (depth > layers) throw new IllegalArgumentException("surgery depth " + depth + " of a model with " + layers + " layers");
            boolean needSize = q.mapLabels == null || q.mapLabels.length > 0 || q.labelMap || q.maxPoints > 0;
            if (needSize && (q.outHeight < 1 || q.outWidth < 1)) {
                throw new IllegalArgumentException("maps, label map and points need an output size (Request.maps)");
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
                DeviceTensor features = ops.materialize(graph.encodeImage(x, depth));
                ops.featureSurgeryInto(features, q.labels.text, q.labels.redundant, similarity);
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
                k.mapUpsample(src, b, tokens, mapCount, h, w, ClipSurgeryNative.CS_LAYOUT_BTHW, mapType, maps);
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
            for (long p : hostBuffers.values()) gpu.freeHost(p);
            hostBuffers.clear();
        }

        @Override
        public void close() {
            lock.lock();
            try {
                release();
                runners.remove(this);
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

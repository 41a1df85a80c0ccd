package org.clipsurgery.engine.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.Supplier;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
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
import org.clipsurgery.graph.LastBlocks;
import org.clipsurgery.graph.Ops;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.post.SimilarityMaps;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.ClipTokenizer;
import org.clipsurgery.weights.DType;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.WeightStore;

/**
 * The CUDA engine: CLIP Surgery on one GPU, the whole image side (uint8 frames → preprocessing →
 * encoder → feature surgery → maps, label map, points) captured as one CUDA graph per shape of
 * work and replayed.
 *
 * <p>{@link #explain} groups frames by size; each group is one replay of the {@link Runner} of its
 * (batch, frame size, pixel order, resolution, label set, depth, redundancy, outputs), built on
 * first use and kept in a small LRU cache ({@link #CACHED_RUNNERS}; an evicted runner frees its
 * buffers). A replay uploads the frames once as uint8 and downloads only the similarity (B, N, T)
 * (whose token 0 are the scores), so each {@link Output} is self-contained. Maps, the label map,
 * points, image features and preprocessed pixels stay in the runner's device buffers and come
 * down on first read, while that run is still the runner's latest (a generation counter, checked
 * under the engine's lock). A label-map or points threshold other than the captured one launches
 * that kernel once more on the same run's device similarity. Once the runner has run again (or
 * was evicted), maps, label map and points are computed on the host from the output's similarity
 * with the same contract (the C twins), and features and pixels are gone (read them first, or
 * explain again).
 *
 * <p>Threads: an engine owns one stream, one cuBLAS handle and one workspace; every public method
 * takes the engine's lock, so sharing one engine between threads is safe but serialises them.
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
    /** Label features on the device, per pair of arrays (a record compares arrays by identity). */
    private final Map<LabelsKey, DeviceTensor[]> uploaded = new HashMap<>();
    private final LinkedHashMap<RunnerKey, Runner> cache = new LinkedHashMap<>(16, 0.75f, true);
    private final ReentrantLock lock = new ReentrantLock();
    private ClipTokenizer tokenizer;
    /** Tests: runs enqueue the forward op by op instead of replaying the graph (same buffers, same order). */
    boolean runEagerly;
    private boolean closed;

    private CudaEngine(WeightStore weights, Precision precision, Gpu gpu) {
        this.weights = weights;
        this.ops = new CudaOps(gpu, name -> weights.get(name), precision);
        this.graph = new ClipGraph<>(ops, weights.config(), n -> weights.has(n) ? weights.get(n) : null);
    }

    /**
     * Opens an engine on CUDA device {@code device} (0 = the first visible). The weight store stays
     * owned by the caller; weights are uploaded lazily on first use: keep it open while the engine
     * is used.
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

    /** The backend (for tests and benchmarks). */
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

    // ---- explain: frames in, outputs read lazily ---------------------------------------------------

    /** Label features uploaded once per pair of arrays. */
    private record LabelsKey(float[] text, float[] redundant) {}

    /** One captured runner per shape of work (arrays by identity: one label set). */
    private record RunnerKey(int batch, int height, int width, boolean bgr, int resolution, int depth, LastBlocks method, float[] text,
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
        Map<List<Object>, List<Integer>> groups = new LinkedHashMap<>();
        for (int i = 0; i < frames.size(); i++) {
            Frame f = Objects.requireNonNull(frames.get(i), "frame " + i);
            groups.computeIfAbsent(List.of(f.height(), f.width(), f.bgr()), g -> new ArrayList<>()).add(i);
        }
        Output[] out = new Output[frames.size()];
        lock.lock();
        try {
            for (List<Integer> members : groups.values()) {
                Frame first = frames.get(members.get(0));
                int h = first.height(), w = first.width(), bytes = h * w * 3;
                Runner r = runner(request, members.size(), h, w, first.bgr());
                byte[] data = first.data();
                if (members.size() > 1) {
                    data = new byte[Math.multiplyExact(bytes, members.size())];
                    for (int j = 0; j < members.size(); j++) System.arraycopy(frames.get(members.get(j)).data(), 0, data, j * bytes, bytes);
                }
                float[] sim = r.run(data);
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

    /**
     * The captured runner for {@code batch} frames of {@code height × width} under {@code request}
     * (built on first use, else the cached one; the least recently used is evicted past
     * {@link #CACHED_RUNNERS}). {@link #explain} uses it; benchmarks time its replay alone.
     */
    public Runner runner(Request request, int batch, int height, int width, boolean bgr) {
        return locked(() -> {
            checkOpen();
            request.requireLabels();
            if (batch < 1 || height < 1 || width < 1) throw new IllegalArgumentException(batch + " frames of " + width + "×" + height);
            RunnerKey key = new RunnerKey(batch, height, width, bgr, request.resolution(), request.surgeryDepth(), request.method(),
                    request.text(), request.redundant(), request.outputs(), request.labelThreshold(), request.pointThreshold());
            Runner r = cache.get(key);
            if (r == null) {
                r = new Runner(request, labelFeatures(request), batch, height, width, bgr);
                cache.put(key, r);
                if (cache.size() > CACHED_RUNNERS) cache.values().iterator().next().close(); // its outputs fall back to the host
            }
            return r;
        });
    }

    /** The request's label features (and redundant feature) on the device, fp32, uploaded once per array. */
    private DeviceTensor[] labelFeatures(Request request) {
        return uploaded.computeIfAbsent(new LabelsKey(request.text(), request.redundant()), k -> {
            int e = config().embedDim(), n = request.labels();
            if (k.text().length != n * e) {
                throw new IllegalArgumentException(k.text().length + " text values for " + n + " labels of width " + e);
            }
            ops.bind();
            // fp32 whatever the compute type: cs_feature_surgery takes fp32 text features
            String id = "labels#" + uploaded.size();
            DeviceTensor text = ops.constant(id, () -> HostTensor.ofFloats(k.text(), n, e), DType.F32);
            DeviceTensor redundant = k.redundant() == null ? null
                    : ops.constant(id + ".redundant", () -> HostTensor.ofFloats(k.redundant(), e), DType.F32);
            return new DeviceTensor[] {text, redundant};
        });
    }

    /**
     * One captured image forward: fixed input and output buffers, a CUDA graph over them. The
     * engine's cache owns it; closing the engine (or eviction) frees its buffers and graph.
     */
    public final class Runner {
        private final Request request;
        private final DeviceTensor text, redundant;
        private final int batch, frameHeight, frameWidth, grid, tokens, labels, pointSlots;
        private final boolean bgr, u8Labels;
        private final List<Long> buffers = new ArrayList<>();
        private final long input, pixels, similarity, maps, labelMap, points, counts, features;
        /** Runs so far: an output of run g may read this runner's buffers while generation == g. */
        private long generation;
        private final Map<String, Long> hostBuffers = new LinkedHashMap<>();
        private final Map<String, Long> scratch = new HashMap<>();
        private final Gpu gpu = ops.gpu();
        private final Kernels k = ops.kernels();
        private Gpu.Graph captured;
        private boolean released;

        private Runner(Request request, DeviceTensor[] labelFeatures, int batch, int height, int width, boolean bgr) {
            this.request = request;
            this.text = labelFeatures[0];
            this.redundant = labelFeatures[1];
            this.batch = batch;
            this.frameHeight = height;
            this.frameWidth = width;
            this.bgr = bgr;
            grid = request.resolution() / config().gridStride();
            tokens = 1 + grid * grid;
            labels = request.labels();
            u8Labels = labels <= 255; // background 255 fits a byte
            int cellsPerSide = grid / SamPoints.DOWN_SAMPLE;
            // positives a label can have: at most half the cells (cs_map_points); 0 on a grid too small for points
            pointSlots = cellsPerSide * cellsPerSide / 2;
            boolean capturePoints = request.wants(Request.Output.POINTS) && pointSlots > 0;
            long b = batch, r = request.resolution(), hw = (long) height * width;
            ops.bind();
            try {
                input = buffer(b * hw * 3);
                pixels = buffer(4 * b * 3 * r * r);
                similarity = buffer(4 * b * tokens * labels);
                maps = request.wants(Request.Output.MAPS) ? buffer(4 * b * labels * hw) : 0;
                labelMap = request.wants(Request.Output.LABEL_MAP) ? buffer((u8Labels ? 1 : 4) * b * hw) : 0;
                points = capturePoints ? buffer(4 * b * labels * 4L * pointSlots) : 0;
                counts = capturePoints ? buffer(4 * b * labels) : 0;
                features = buffer(4 * b * tokens * config().embedDim());
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
            long b = batch, r = request.resolution(), h = frameHeight, w = frameWidth;
            int order = bgr ? ClipSurgeryNative.CS_BGR : ClipSurgeryNative.CS_RGB;
            for (long i = 0; i < b; i++) {
                k.preprocess(input + i * h * w * 3, h, w, 3 * w, order, r, r, ClipSurgeryNative.CS_F32, pixels + i * 4 * 3 * r * r);
            }
            try (Ops.Scope<DeviceTensor> s = ops.scope()) {
                DeviceTensor x = new DeviceTensor(pixels, new long[] {b, 3, r, r}, DType.F32);
                DeviceTensor image = ops.materialize(request.encodeImage(graph, x));
                ops.featureSurgeryInto(image, text, redundant, similarity);
                if (image.dtype() == DType.F32) gpu.copy(features, image.address(), image.bytes(), Copy.ON_DEVICE);
                else k.convert(image.address(), CudaOps.csType(image.dtype()), image.numel(), features, ClipSurgeryNative.CS_F32);
            }
            if (maps != 0) k.mapUpsample(similarity, b, tokens, labels, h, w, ClipSurgeryNative.CS_LAYOUT_BHWT, ClipSurgeryNative.CS_F32, maps);
            if (labelMap != 0) labelMapInto(similarity, b, request.labelThreshold(), labelMap);
            if (points != 0) k.mapPoints(similarity, b, tokens, labels, h, w, request.pointThreshold(), pointSlots, points, counts);
        }

        /** The label map of {@code b} images' similarity at {@code src}: uint8 (background 255) or int32 (background −1). */
        private void labelMapInto(long src, long b, float threshold, long dst) {
            k.mapLabels(src, b, tokens, labels, frameHeight, frameWidth, threshold, u8Labels ? 255 : LabelMap.BACKGROUND,
                    u8Labels ? ClipSurgeryNative.CS_U8 : ClipSurgeryNative.CS_I32, dst);
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

        /** Replays the graph on what is in the input buffer; returns without waiting (benchmarks). */
        public void launch() {
            lock.lock();
            try {
                checkLive();
                ops.bind();
                if (runEagerly) forward();
                else captured.launch();
                generation++;
            } finally {
                lock.unlock();
            }
        }

        /** Waits for the engine's stream. */
        public void synchronize() {
            locked(() -> {
                ops.synchronize();
                return null;
            });
        }

        /** Stages uint8 frames (pinned, async), replays, and copies the whole similarity (B, N, T) back (one wait). Under the lock. */
        private float[] run(byte[] frames) {
            checkLive();
            long bytes = (long) batch * frameHeight * frameWidth * 3;
            if (frames.length != bytes) throw new IllegalArgumentException(frames.length + " frame bytes, expected " + bytes);
            ops.bind();
            new BytePointer(DevicePointer.of(host("input", bytes))).put(frames);
            gpu.copy(input, host("input", bytes), bytes, Copy.TO_DEVICE);
            launch();
            float[] out = new float[batch * tokens * labels];
            new FloatPointer(fetch("similarity", similarity, 4L * out.length)).get(out);
            return out;
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
            return scratch.computeIfAbsent(key, kk -> buffer(bytes));
        }

        private long similarityOf(int image) {
            return similarity + 4L * image * tokens * labels;
        }

        /** Image {@code image}'s maps (H, W, T) fp32, or null when this runner makes none. */
        private float[] mapsOf(int image) {
            if (maps == 0) return null;
            long bytes = 4L * labels * frameHeight * frameWidth;
            float[] out = new float[Math.toIntExact(bytes / 4)];
            new FloatPointer(fetch("maps", maps + image * bytes, bytes)).get(out);
            return out;
        }

        /** Image {@code image}'s label map with {@link LabelMap#BACKGROUND}: the captured one or a fresh launch. */
        private int[] labelMapOf(int image, float threshold) {
            long hw = (long) frameHeight * frameWidth, elt = u8Labels ? 1 : 4;
            long src;
            if (labelMap != 0 && Float.compare(threshold, request.labelThreshold()) == 0) {
                src = labelMap + image * elt * hw;
            } else {
                src = scratch("labelMap", elt * hw);
                labelMapInto(similarityOf(image), 1, threshold, src);
            }
            Pointer h = fetch("labelMap", src, elt * hw);
            int[] out = new int[Math.toIntExact(hw)];
            if (u8Labels) {
                BytePointer bp = new BytePointer(h);
                for (int i = 0; i < out.length; i++) {
                    int v = bp.get(i) & 0xff;
                    out[i] = v == 255 ? LabelMap.BACKGROUND : v;
                }
            } else {
                new IntPointer(h).get(out);
            }
            return out;
        }

        /** Image {@code image}'s points of one label: the captured ones or a fresh launch; null when the grid has too few cells. */
        private SamPoints pointsOf(int image, int label, float threshold) {
            if (pointSlots < 1) return null;
            long perLabel = 4L * pointSlots; // (2·slots, 2) int32 values per label
            long pts, cnt;
            if (points != 0 && Float.compare(threshold, request.pointThreshold()) == 0) {
                pts = points + 4L * perLabel * ((long) image * labels + label);
                cnt = counts + 4L * ((long) image * labels + label);
            } else {
                long p = scratch("points", 4L * perLabel * labels), c = scratch("counts", 4L * labels);
                k.mapPoints(similarityOf(image), 1, tokens, labels, frameHeight, frameWidth, threshold, pointSlots, p, c);
                pts = p + 4L * perLabel * label;
                cnt = c + 4L * label;
            }
            int n = new IntPointer(fetch("count", cnt, 4)).get(0);
            int[] xy = new int[4 * n];
            // the whole label's slot: one host buffer per key, of one size
            if (n > 0) new IntPointer(fetch("points", pts, 4L * perLabel)).get(xy);
            int[] xs = new int[2 * n], ys = new int[2 * n], sam = new int[2 * n];
            for (int i = 0; i < 2 * n; i++) {
                xs[i] = xy[2 * i];
                ys[i] = xy[2 * i + 1];
                sam[i] = i < n ? 1 : 0; // positives first, then as many negatives
            }
            return SamPoints.of(xs, ys, sam);
        }

        /** Image {@code image}'s (count) floats from the device buffer {@code base}: features (N, E) or pixels (3, R, R). */
        private float[] floatsOf(String key, long base, int image, long count) {
            float[] out = new float[Math.toIntExact(count)];
            new FloatPointer(fetch(key, base + image * 4L * count, 4L * count)).get(out);
            return out;
        }

        private void checkLive() {
            checkOpen();
            if (released) throw new IllegalStateException("this runner was evicted");
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

        /** Frees the buffers and graph and leaves the cache; under the lock. */
        private void close() {
            release();
            cache.values().remove(this);
        }

        /** N = 1 + g² tokens per image. */
        public int tokens() {
            return tokens;
        }

        @Override
        public String toString() {
            return "Runner[batch " + batch + ", frames " + frameHeight + "×" + frameWidth + ", " + request + "]";
        }
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
        private <R> R fromDevice(Function<Runner, R> read) {
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
            SamPoints p = fromDevice(r -> r.pointsOf(image, label, threshold));
            return p != null ? p : super.points(label, threshold);
        }

        @Override
        public float[] imageFeatures() {
            float[] v = fromDevice(r -> r.floatsOf("features", r.features, image, (long) r.tokens * config().embedDim()));
            if (v == null) throw stale("image features");
            return v;
        }

        @Override
        public float[] pixels() {
            long r2 = (long) runner.request.resolution() * runner.request.resolution();
            float[] v = fromDevice(r -> r.floatsOf("pixels", r.pixels, image, 3 * r2));
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
            for (Runner r : cache.values()) r.release();
            cache.clear();
            uploaded.clear();
            ops.close();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        return "CudaEngine[" + ops.computeType() + ", " + ops.gpu().name() + "]";
    }
}

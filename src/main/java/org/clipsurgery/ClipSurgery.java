package org.clipsurgery;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import org.clipsurgery.engine.Engine;
import org.clipsurgery.engine.Engines;
import org.clipsurgery.engine.FacadeAccess;
import org.clipsurgery.engine.Frame;
import org.clipsurgery.engine.HostOutput;
import org.clipsurgery.engine.Output;
import org.clipsurgery.engine.Request;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.models.ModelDownloader;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.engine.Stages;
import org.clipsurgery.text.PromptTemplates;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.WeightStore;

/**
 * CLIP Surgery on a CLIP model: where in an image the model finds each label.
 *
 * <pre>{@code
 * try (ClipSurgery cs = ClipSurgery.open("ViT-B/16")) {            // a name (downloaded once), a file or a folder
 *     LabelSet labels = cs.labels("person", "bench", "sky");          // text side, reusable
 *     Explanation e = cs.explain(Path.of("photo.jpg"), labels);
 *     float[] map = e.map("person");                                  // H×W, values in [0, 1]
 *     Map<String, Float> scores = e.scores();                         // multi-label scores
 *     LabelMap segmentation = e.labelMap(0.5f);                       // per-pixel label (or background)
 *     SamPoints prompt = e.points("person");                          // point prompts for Segment Anything
 * }
 * }</pre>
 *
 * <p>A model is opened once and used from any number of threads; {@link #close()} frees its
 * native memory. The device is chosen once ({@link Options#optDevice}) and every call goes
 * through that device's engine:
 * <ul>
 *   <li>{@link Device#CPU}: LibTorch in fp32; each explanation holds its similarity, features
 *       and pixels, and computes maps, label map and points from the similarity when asked.</li>
 *   <li>{@link Device#CUDA}: images go to the GPU once, as uint8, and are preprocessed there;
 *       encoder, feature surgery, maps, label map and points run in one CUDA-graph replay per
 *       (batch, image size, resolution, label set, depth, redundancy), a few such graphs kept.
 *       Only the small similarity (tokens × labels, with the scores) comes back with the
 *       explanation; {@link Explanation#maps()}, {@link Explanation#labelMap},
 *       {@link Explanation#points}, {@link Explanation#imageFeatures()} and
 *       {@link Explanation#preprocessedImage()} are fetched from the GPU on first use, as long as
 *       no image of the same shape was explained since. After that, maps, label map and points
 *       are computed on the CPU from the similarity (the same numbers), and features and pixels
 *       are no longer available. Images of different sizes in one batch are run in groups of
 *       one size. The calls of one model share one GPU stream and are serialised (open one model
 *       per thread for parallel GPU work).</li>
 * </ul>
 * For camera frames, {@link #session} takes raw RGB or BGR bytes of a fixed size. Options:
 * {@link Options}.
 */
public final class ClipSurgery implements AutoCloseable {
    /** Surgery depth of the official implementation: the last 6 ViT blocks get the v-v path. */
    public static final int DEFAULT_SURGERY_DEPTH = Request.DEFAULT_SURGERY_DEPTH;
    /** Largest image side accepted, in pixels. */
    public static final int MAX_IMAGE_SIDE = 1 << 15;

    private final WeightStore weights;
    private final Engine engine;
    private final Options options;
    private final Request model; // resolution, depth, precision: resolved once, by Request.resolve
    private final List<String> templates;
    private volatile float[] emptyPrompt;
    private volatile boolean closed;

    /**
     * Options of {@link ClipSurgery#open}. Defaults: CPU, fp32 (fp16 on CUDA), the model's own resolution,
     * surgery depth 6 (or all blocks of a smaller model), the 85 default templates.
     */
    public static final class Options {
        Device device = Device.CPU;
        Precision precision; // null: FP32 on the CPU, FP16 on CUDA
        int resolution;
        int surgeryDepth;
        List<String> templates;
        Path cacheDir;
        Progress progress;
        long maxImagePixels = Images.DEFAULT_MAX_PIXELS;
        Activation activation;
        Consumer<String> notices = NOTICE_LOG;
        Stages stages = Stages.NONE;

        public Options optDevice(Device d) {
            device = Objects.requireNonNull(d);
            return this;
        }

        public Options optPrecision(Precision p) {
            precision = Objects.requireNonNull(p);
            return this;
        }

        /** Input side in pixels; a multiple of the patch size (ViT) or 32 (ResNet). 0 = model default. */
        public Options optResolution(int r) {
            resolution = r;
            return this;
        }

        /** Number of final ViT blocks given the dual path (1 … layers); default min(6, layers). */
        public Options optSurgeryDepth(int k) {
            surgeryDepth = k;
            return this;
        }

        /** Prompt templates, each with "{}" where the label goes. */
        public Options optTemplates(List<String> t) {
            templates = List.copyOf(t);
            return this;
        }

        /** Where named models are downloaded (default ~/.cache/clip or $CLIP_SURGERY_CACHE). */
        public Options optCacheDir(Path dir) {
            cacheDir = dir;
            return this;
        }

        /** Where download progress goes when a named model is fetched (default: nowhere). */
        public Options optProgress(Progress p) {
            progress = p;
            return this;
        }

        /**
         * Image files with more pixels (width × height, from the file's header) are refused before
         * decoding by {@link ClipSurgery#explain(Path, LabelSet)}; default
         * {@link Images#DEFAULT_MAX_PIXELS} (64 megapixels, about 0.4 GB to decode).
         */
        public Options optMaxImagePixels(long n) {
            if (n < 1) throw new IllegalArgumentException("the image pixel limit must be at least 1, got " + n);
            maxImagePixels = n;
            return this;
        }

        /**
         * The MLP activation the weights were trained with, for checkpoints that do not say:
         * OpenAI-layout state dicts (torch.save, safetensors), which OpenAI's QuickGELU models and
         * OpenCLIP's GELU models share. Default: what the checkpoint declares (OpenAI's names and
         * TorchScript archives: QuickGELU; a Hugging Face config.json: its hidden_act), else
         * QuickGELU with a notice. Given, it wins over a declared one (with a notice).
         */
        public Options optActivation(Activation a) {
            activation = Objects.requireNonNull(a);
            return this;
        }

        /** Where one-line notices about the model go (default: System.Logger "org.clipsurgery", WARNING). */
        public Options optNotices(Consumer<String> sink) {
            notices = Objects.requireNonNull(sink);
            return this;
        }
    }

    private static final Consumer<String> NOTICE_LOG =
            m -> System.getLogger("org.clipsurgery").log(System.Logger.Level.WARNING, m);

    /** Opens the engine of a device on weights, for the request the facade resolved (tests: an emulated device). */
    @FunctionalInterface
    interface EngineFactory {
        Engine open(WeightStore weights, Request model);
    }

    private ClipSurgery(WeightStore weights, Options options, EngineFactory engines) {
        this.weights = weights;
        this.options = options;
        this.model = Request.resolve(weights.config(), options.device, options.precision, options.resolution,
                options.surgeryDepth);
        this.templates = options.templates == null ? PromptTemplates.defaults() : options.templates;
        if (templates.isEmpty()) throw new IllegalArgumentException("no prompt templates");
        this.engine = Objects.requireNonNull(engines.open(weights, model), "engine");
    }

    /**
     * Threads of LibTorch's intra-op pool, used by every {@link Device#CPU} model: the pool is
     * process-wide, so this affects all CPU models in the JVM, open or opened later. Default:
     * LibTorch's choice (the number of cores).
     */
    public static void setCpuThreads(int threads) {
        Engines.setCpuThreads(threads);
    }

    /** Opens a model by name ("ViT-B/16", "CS-RN50", …, downloaded once) or by file path. */
    public static ClipSurgery open(String model) throws IOException {
        return open(model, new Options());
    }

    public static ClipSurgery open(String model, Options options) throws IOException {
        Objects.requireNonNull(model, "model");
        Path folder = WeightStore.folder(model);
        if (folder != null) return open(folder, options);
        ModelDownloader.Builder b = ModelDownloader.builder();
        if (options.cacheDir != null) b.cacheDir(options.cacheDir);
        if (options.progress != null) b.progress(options.progress);
        return open(b.build().resolve(model), options);
    }

    /**
     * Opens a checkpoint: OpenAI TorchScript, a torch.save state dict, safetensors, or a Hugging
     * Face CLIPModel folder (or its config.json).
     */
    public static ClipSurgery open(Path file, Options options) throws IOException {
        return open(WeightStore.load(file), options);
    }

    static {
        FacadeAccess.register(new FacadeAccess() {
            @Override
            public ClipSurgery open(WeightStore weights, Options options) {
                return ClipSurgery.open(weights, options);
            }

            @Override
            public Options profile(Options options, Stages stages) {
                options.stages = Objects.requireNonNull(stages, "stages");
                return options;
            }
        });
    }

    /**
     * Opens weights already in memory (tests; the benchmarks reach it through
     * {@link FacadeAccess}); takes ownership.
     */
    static ClipSurgery open(WeightStore store, Options options) {
        Objects.requireNonNull(options, "options");
        return open(store, options, (w, model) -> Engines.open(w, model, options.stages));
    }

    /**
     * The facade over the engine {@code engines} opens (tests: the CUDA engine on an emulated
     * device); every option applies as usual.
     */
    static ClipSurgery open(WeightStore store, Options options, EngineFactory engines) {
        Objects.requireNonNull(options, "options");
        try {
            return new ClipSurgery(store.withActivation(options.activation, options.notices), options, engines);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /** The model's shape (tests). */
    ModelConfig config() {
        return weights.config();
    }

    /** Number of final ViT blocks with the dual path (1 for a ResNet's attention pool). */
    public int surgeryDepth() {
        return model.surgeryDepth();
    }

    /** The input side the images are resized to. */
    public int resolution() {
        return model.resolution();
    }

    public Device device() {
        return options.device;
    }

    // ---- labels -------------------------------------------------------------------------------

    public LabelSet labels(String... targets) {
        return labels(List.of(targets));
    }

    /** Embeds the targets' labels with the prompt ensemble (one batched pass, chunked). */
    public LabelSet labels(List<String> targets) {
        return labels(targets, Progress.none());
    }

    /**
     * {@link #labels(List)}, reporting the prompts embedded to {@code progress} (worth it for large
     * label sets: 59 labels × 85 templates is 5015 prompts).
     */
    public LabelSet labels(List<String> targets, Progress progress) {
        checkOpen();
        Objects.requireNonNull(progress, "progress");
        Targets t = parse(targets);
        return new LabelSet(this, t.cleaned, t.labels, ensemble(t.labels, progress), config().embedDim());
    }

    /**
     * A label set from text features computed earlier ({@link LabelSet#textFeatures()} of a label
     * set of this model and these templates, e.g. saved to disk): the text encoder does not run,
     * which saves the 30 s a 59-label ensemble takes on two CPU cores. The features are rows for
     * the distinct labels in first-seen order ({@link LabelSet#labels()}), each L2-normalised;
     * their shape and norms are checked, their origin cannot be.
     */
    public LabelSet labels(List<String> targets, float[] textFeatures) {
        checkOpen();
        Objects.requireNonNull(textFeatures, "textFeatures");
        Targets t = parse(targets);
        int e = config().embedDim();
        if (textFeatures.length != t.labels.size() * e) {
            throw new IllegalArgumentException(textFeatures.length + " feature values for " + t.labels.size() + " labels of width " + e
                    + " (expected " + t.labels.size() * e + ")");
        }
        for (int l = 0; l < t.labels.size(); l++) {
            double norm = 0;
            for (int i = 0; i < e; i++) norm += (double) textFeatures[l * e + i] * textFeatures[l * e + i];
            if (!(Math.abs(Math.sqrt(norm) - 1) <= 1e-3)) {
                throw new IllegalArgumentException("the features of label '" + t.labels.get(l) + "' have norm " + Math.sqrt(norm)
                        + ", not 1: text features are L2-normalised");
            }
        }
        return new LabelSet(this, t.cleaned, t.labels, textFeatures.clone(), e);
    }

    /** Targets as given (combined ones joined with "+") and the distinct labels they use. */
    private record Targets(List<String> cleaned, List<String> labels) {}

    private static Targets parse(List<String> targets) {
        if (targets == null || targets.isEmpty()) throw new IllegalArgumentException("the label list is empty");
        LinkedHashSet<String> distinct = new LinkedHashSet<>();
        List<String> cleaned = new ArrayList<>();
        for (String t : targets) {
            if (t == null || t.isBlank()) throw new IllegalArgumentException("blank label in " + targets);
            List<String> parts = new ArrayList<>();
            for (String p : t.split("\\+", -1)) {
                String label = p.trim();
                if (label.isEmpty()) throw new IllegalArgumentException("empty part in combined target '" + t + "'");
                parts.add(label);
                distinct.add(label);
            }
            cleaned.add(String.join("+", parts));
        }
        return new Targets(cleaned, List.copyOf(distinct));
    }

    /** The prompt ensemble (labels, E) of {@link Engine#promptEnsemble}, with this model's templates. */
    float[] ensemble(List<String> labels, Progress progress) {
        return engine.promptEnsemble(labels, templates, progress);
    }

    /** The prompt-ensembled empty string: the redundant feature of {@link Redundancy#EMPTY}. */
    public float[] emptyPromptFeatures() {
        return emptyPrompt().clone();
    }

    /** The live array: engines key their uploads by its identity. */
    private float[] emptyPrompt() {
        float[] r = emptyPrompt;
        if (r == null) emptyPrompt = r = ensemble(List.of(""), Progress.none());
        return r;
    }

    // ---- images -------------------------------------------------------------------------------

    /**
     * Explains an image file (PNG, JPEG, BMP) with {@link Redundancy#AUTO}; a file of more pixels
     * than {@link Options#optMaxImagePixels} is refused with an ImageFormatException.
     */
    public Explanation explain(Path image, LabelSet labels) throws IOException {
        return explain(List.of(Images.read(image, options.maxImagePixels)), labels, Redundancy.AUTO).get(0);
    }

    public Explanation explain(BufferedImage image, LabelSet labels) {
        return explain(List.of(Images.fromBufferedImage(image)), labels, Redundancy.AUTO).get(0);
    }

    /**
     * Explains a batch of images in one forward pass (8-bit RGB, e.g. from
     * {@link Images#read}, {@link Images#fromBufferedImage} or {@link Images#fromBgrFrame}); on
     * CUDA, one pass per image size.
     */
    public List<Explanation> explain(List<RgbImage> images, LabelSet labels, Redundancy redundancy) {
        if (images == null || images.isEmpty()) throw new IllegalArgumentException("no images");
        List<Frame> frames = new ArrayList<>(images.size());
        for (int i = 0; i < images.size(); i++) {
            RgbImage img = Objects.requireNonNull(images.get(i), "image " + i);
            checkSize(img.width(), img.height());
            frames.add(new Frame(img.data(), img.height(), img.width(), false));
        }
        return run(frames, labels, redundancy, model);
    }

    /** Frames (checked) through the engine for {@code labels}, with what {@code base} says besides. */
    List<Explanation> run(List<Frame> frames, LabelSet labels, Redundancy redundancy, Request base) {
        checkOpen();
        Objects.requireNonNull(redundancy, "redundancy");
        Request request = forLabels(base, labels, redundancy);
        List<Explanation> out = new ArrayList<>(frames.size());
        for (Output o : engine.explain(frames, request)) out.add(new Explanation(labels, o, request.resolution(), config().embedDim()));
        return out;
    }

    private Request forLabels(Request base, LabelSet labels, Redundancy redundancy) {
        Objects.requireNonNull(labels, "labels");
        if (!labels.ownedBy(this)) {
            throw new IllegalArgumentException("this label set was made by another model: call labels() on this one");
        }
        boolean empty = redundancy == Redundancy.EMPTY || (redundancy == Redundancy.AUTO && labels.labels().size() == 1);
        return base.withLabels(labels.features(), labels.labels().size(), empty ? emptyPrompt() : null);
    }

    /**
     * The plain CLIP map for comparison (no surgery): raw cosine similarity of the unmodified
     * model's tokens with each label, as the official demo draws "CLIP" maps. Both devices run the
     * plain model (depth 0); the cosine is taken here, from its features.
     */
    public Explanation explainPlain(RgbImage image, LabelSet labels) {
        checkOpen();
        Objects.requireNonNull(image, "image");
        checkSize(image.width(), image.height());
        Request request = forLabels(model.plain().withOutputs(java.util.EnumSet.noneOf(Request.Output.class)), labels,
                Redundancy.LABELS);
        Output o = engine.explain(List.of(new Frame(image.data(), image.height(), image.width(), false)), request).get(0);
        float[] features = o.imageFeatures(), pixels = o.pixels();
        int e = config().embedDim(), t = labels.labels().size(), n = features.length / e;
        float[] text = labels.features();
        float[] sim = new float[n * t];
        for (int i = 0; i < n; i++) {
            double norm = 0;
            for (int k = 0; k < e; k++) norm += (double) features[i * e + k] * features[i * e + k];
            float inv = (float) (1 / Math.sqrt(norm));
            for (int l = 0; l < t; l++) {
                double dot = 0;
                for (int k = 0; k < e; k++) dot += features[i * e + k] * text[l * e + k];
                sim[i * t + l] = (float) dot * inv;
            }
        }
        return new Explanation(labels, new HostOutput(image.height(), image.width(), sim, t, features, pixels), model.resolution(), e);
    }

    /**
     * A camera loop: frames of {@code frameHeight} × {@code frameWidth} 8-bit pixels in
     * {@code order}, explained for {@code labels} one by one ({@link Redundancy#AUTO}). On CUDA each
     * frame is one upload of its bytes and one graph replay.
     */
    public Session session(LabelSet labels, int frameHeight, int frameWidth, PixelOrder order) {
        return session(labels, frameHeight, frameWidth, order, Redundancy.AUTO);
    }

    public Session session(LabelSet labels, int frameHeight, int frameWidth, PixelOrder order, Redundancy redundancy) {
        checkOpen();
        checkSize(frameWidth, frameHeight);
        forLabels(model, labels, Objects.requireNonNull(redundancy, "redundancy")); // fails now, not at the first frame
        return new Session(this, labels, frameHeight, frameWidth, Objects.requireNonNull(order, "order"), redundancy, model);
    }

    private static void checkSize(int w, int h) {
        if (w < 1 || h < 1) throw new IllegalArgumentException("image of size " + w + "×" + h + " is empty");
        if (w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE) {
            throw new IllegalArgumentException("image of size " + w + "×" + h + " is larger than "
                    + MAX_IMAGE_SIDE + " pixels on a side");
        }
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("this ClipSurgery is closed");
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            try {
                engine.close();
                weights.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing the model failed", e);
            }
        }
    }
}

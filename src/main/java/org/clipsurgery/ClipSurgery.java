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
import org.clipsurgery.engine.Stages;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.models.ModelDownloader;
import org.clipsurgery.progress.Progress;
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
 * native memory. Images of any size up to {@value #MAX_IMAGE_SIDE} pixels a side are explained:
 * each is resized to {@link #resolution()}² (aspect ratio not kept), and maps, label maps and
 * points come back at the image's own size. The device is chosen once ({@link Options#optDevice}) and every call goes
 * through that device's engine:
 * <ul>
 *   <li>{@link Device#CPU}: LibTorch in fp32, a batch in one forward pass; each explanation holds
 *       its similarity, features and pixels, and computes maps, label map and points from the
 *       similarity when asked. LibTorch's threads: {@link #setCpuThreads}.</li>
 *   <li>{@link Device#CUDA}: images go to the GPU once, as uint8, and are preprocessed there;
 *       encoder, feature surgery, maps, label map (threshold 0.5) and points (threshold 0.8) run
 *       in one CUDA-graph replay, captured on first use per (batch size, image size, pixel order,
 *       label set, redundancy) and kept for the four most recently used such keys.
 *       Only the small similarity (tokens × labels, with the scores) comes back with the
 *       explanation; {@link Explanation#maps()}, {@link Explanation#labelMap},
 *       {@link Explanation#points}, {@link Explanation#imageFeatures()} and
 *       {@link Explanation#preprocessedImage()} are fetched from the GPU when read, as long as
 *       the graph that made them has not run again (an image with the same key explained since)
 *       nor been evicted (four other keys used since), and the model is open. After that, maps,
 *       label map and points are computed on the CPU from the similarity (the same rules), and
 *       features and pixels are no longer available. Images of different sizes in one batch are
 *       run in groups of one size. The calls of one model share one GPU stream and are serialised
 *       (open one model per thread for parallel GPU work).</li>
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
    private final Request model; // resolution, depth, precision, method: resolved once, by Request.resolve
    private final Method method;
    private final float[] noRedundancy; // r = 0 for Redundancy.NONE: one array, as engines cache per array identity
    private final List<String> templates;
    private volatile float[] emptyPrompt;
    private volatile boolean closed;

    /**
     * Options of {@link ClipSurgery#open}. Defaults: CPU, fp32 (fp16 on CUDA), the model's own resolution,
     * surgery depth 6 (or all blocks of a smaller model), the 85 default templates.
     * Each {@code opt} method sets one option and returns this object, for chaining
     * ({@code new Options().optDevice(Device.CUDA).optResolution(448)}); values are checked
     * against the model when it is opened, except where a method says otherwise. An Options
     * object is read, not kept, by {@code open}, and is not thread-safe.
     */
    public static final class Options {
        Device device = Device.CPU;
        Method method = Method.SURGERY;
        int cudaDevice;
        Precision precision; // null: FP32 on the CPU, FP16 on CUDA
        int resolution;
        int surgeryDepth;
        List<String> templates;
        Path cacheDir;
        Progress progress;
        long maxImagePixels = Images.DEFAULT_MAX_PIXELS;
        Activation activation;
        Double layerNormEps; // null: the checkpoint's (OpenAI's 1e-5)
        Consumer<String> notices = NOTICE_LOG;
        Stages stages = Stages.NONE;

        /**
         * The device the model runs on (default {@link Device#CPU}).
         *
         * @param device {@link Device#CPU} or {@link Device#CUDA}
         * @return this
         * @throws NullPointerException if {@code device} is null
         */
        public Options optDevice(Device device) {
            this.device = Objects.requireNonNull(device);
            return this;
        }

        /**
         * The training-free method that computes the image tokens (default {@link Method#SURGERY},
         * CLIP Surgery). Every output works for every method, on the CPU and on
         * {@link Device#CUDA}. Opening throws IllegalArgumentException for a method other than
         * SURGERY or PLAIN on a ResNet.
         *
         * @param method the method
         * @return this
         * @throws NullPointerException if {@code method} is null
         */
        public Options optMethod(Method method) {
            this.method = Objects.requireNonNull(method);
            return this;
        }

        /**
         * Which CUDA device a {@link Device#CUDA} model runs on (default 0, the first visible; the
         * numbering is CUDA's, after {@code CUDA_VISIBLE_DEVICES}). A scheduler that hands out GPUs
         * by index (Spark's task resources, say) passes its index here. Ignored on the CPU; opening
         * a CUDA model throws IllegalArgumentException for an index past the devices visible.
         *
         * @param ordinal the device's index, 0 or more
         * @return this
         * @throws IllegalArgumentException if {@code ordinal} is negative
         */
        public Options optCudaDevice(int ordinal) {
            if (ordinal < 0) throw new IllegalArgumentException("CUDA device index must be 0 or more, got " + ordinal);
            this.cudaDevice = ordinal;
            return this;
        }

        /**
         * The encoders' arithmetic precision (default: {@link Precision#FP32} on the CPU,
         * {@link Precision#FP16} on CUDA). Opening a CPU model in FP16, or in BF16 on a CPU
         * without native bf16 dot products, throws UnsupportedOperationException.
         *
         * @param precision the precision
         * @return this
         * @throws NullPointerException if {@code precision} is null
         */
        public Options optPrecision(Precision precision) {
            this.precision = Objects.requireNonNull(precision);
            return this;
        }

        /**
         * The side images are resized to before the encoder (position embeddings are
         * interpolated for other sides than the model's). Opening throws
         * IllegalArgumentException for a side that is not a positive multiple of the patch size
         * (ViT) or of 32 (ResNet), or is over 4096.
         *
         * @param resolution the input side in pixels; 0 (the default) for the model's own (224 for
         *     ViT-B/16)
         * @return this
         */
        public Options optResolution(int resolution) {
            this.resolution = resolution;
            return this;
        }

        /**
         * Number of final ViT blocks given the dual path (architecture surgery). Opening a ViT
         * throws IllegalArgumentException for a depth outside 1 … layers; a ResNet ignores this
         * (its one attention pool always gets the dual path).
         *
         * @param depth 1 … the ViT's layers; 0 (the default) for min({@value #DEFAULT_SURGERY_DEPTH}, layers)
         * @return this
         */
        public Options optSurgeryDepth(int depth) {
            surgeryDepth = depth;
            return this;
        }

        /**
         * Prompt templates of the ensemble (default: the 85 of the official code). Every label is
         * embedded once per template and the embeddings averaged. Opening throws
         * IllegalArgumentException for an empty list; a template without a placeholder or with a
         * stray brace makes {@link ClipSurgery#labels} throw IllegalArgumentException.
         *
         * @param templates templates, each with {@code {}} (or {@code {0}}) where the label goes
         *     (<code>&#123;&#123;</code> and <code>&#125;&#125;</code> for literal braces); copied
         * @return this
         * @throws NullPointerException if the list or one of its templates is null
         */
        public Options optTemplates(List<String> templates) {
            this.templates = List.copyOf(templates);
            return this;
        }

        /**
         * Where named models are downloaded and looked for; used only by
         * {@link ClipSurgery#open(String, Options)} with a model name.
         *
         * @param dir the cache folder; null (the default) for {@code $CLIP_SURGERY_CACHE}, else
         *     {@code ~/.cache/clip}
         * @return this
         */
        public Options optCacheDir(Path dir) {
            cacheDir = dir;
            return this;
        }

        /**
         * Where download progress goes when a named model is fetched.
         *
         * @param progress the progress sink, e.g. {@link Progress#stderr()}; null (the default)
         *     for none
         * @return this
         */
        public Options optProgress(Progress progress) {
            this.progress = progress;
            return this;
        }

        /**
         * Image files with more pixels (width × height, from the file's header) are refused before
         * decoding by {@link ClipSurgery#explain(Path, LabelSet)}; default
         * {@link Images#DEFAULT_MAX_PIXELS} (64 megapixels, about 0.4 GB to decode). Images
         * given in memory are not limited by this.
         *
         * @param maxPixels the largest width × height accepted, at least 1
         * @return this
         * @throws IllegalArgumentException at once if {@code maxPixels} is less than 1
         */
        public Options optMaxImagePixels(long maxPixels) {
            if (maxPixels < 1) throw new IllegalArgumentException("the image pixel limit must be at least 1, got " + maxPixels);
            maxImagePixels = maxPixels;
            return this;
        }

        /**
         * The MLP activation the weights were trained with, for checkpoints that do not say:
         * OpenAI-layout state dicts (torch.save, safetensors), which OpenAI's QuickGELU models and
         * OpenCLIP's GELU models share. Default: what the checkpoint declares (OpenAI's names and
         * TorchScript archives: QuickGELU; a Hugging Face config.json: its hidden_act), else
         * QuickGELU with a notice. Given, it wins over a declared one (with a notice).
         *
         * @param activation the activation the weights were trained with
         * @return this
         * @throws NullPointerException if {@code activation} is null
         */
        public Options optActivation(Activation activation) {
            this.activation = Objects.requireNonNull(activation);
            return this;
        }

        /**
         * The epsilon of every layer norm, in both encoders. Default: the checkpoint's (a Hugging
         * Face config.json's layer_norm_eps; OpenAI's formats: 1e-5). MaskCLIP's official mmseg
         * configuration computes its image encoder with 1e-6 and the exact GELU: with
         * {@code optMethod(Method.MASKCLIP).optActivation(Activation.GELU).optLayerNormEps(1e-6)}
         * the image tokens equal that code's. (These options apply to the text encoder too, where
         * MaskCLIP's own label features come from CLIP's numerics: pass those through
         * {@link #labels(List, float[])} to reproduce its scores.)
         *
         * @param eps the epsilon, in [0, 1)
         * @return this
         * @throws IllegalArgumentException at once for an epsilon outside [0, 1) (NaN included)
         */
        public Options optLayerNormEps(double eps) {
            if (!(eps >= 0 && eps < 1)) throw new IllegalArgumentException("the layer-norm epsilon must be in [0, 1), got " + eps);
            layerNormEps = eps;
            return this;
        }

        /**
         * Where one-line notices about the model go while it is opened (today: the MLP
         * activation assumed, or a declared one overridden; see {@link #optActivation}).
         *
         * @param sink receives each notice; default: {@code System.Logger} "org.clipsurgery" at
         *     level WARNING
         * @return this
         * @throws NullPointerException if {@code sink} is null
         */
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
        this.method = options.method;
        this.noRedundancy = new float[weights.config().embedDim()];
        this.model = Request.resolve(weights.config(), options.device, options.precision, options.resolution,
                options.surgeryDepth).forMethod(method, weights.config());
        this.templates = options.templates == null ? PromptTemplates.defaults() : options.templates;
        if (templates.isEmpty()) throw new IllegalArgumentException("no prompt templates");
        this.engine = Objects.requireNonNull(engines.open(weights, model), "engine");
    }

    /**
     * Threads of LibTorch's intra-op pool, used by every {@link Device#CPU} model: the pool is
     * process-wide, so this affects all CPU models in the JVM, open or opened later. Default:
     * LibTorch's choice (the number of cores). Does not affect {@link Device#CUDA} models, nor the
     * native map and label-map computation on the host, which uses {@code CS_CPU_THREADS} from
     * the environment (default: all hardware threads).
     *
     * @param threads the number of intra-op threads, at least 1
     * @throws IllegalArgumentException if {@code threads} is less than 1
     */
    public static void setCpuThreads(int threads) {
        Engines.setCpuThreads(threads);
    }

    /**
     * Opens a model with default options ({@link Device#CPU}, fp32): {@code open(model, new
     * Options())}.
     *
     * @param model a model name ("ViT-B/16", "CS-RN50", …, downloaded once), a checkpoint file or a
     *     Hugging Face folder, as for {@link #open(String, Options)}
     * @return the open model; close it
     * @throws IOException if the download fails or the checkpoint cannot be read or is not a
     *     supported CLIP checkpoint
     * @throws IllegalArgumentException if {@code model} is neither an existing file or folder nor
     *     a known model name (the message lists the names)
     */
    public static ClipSurgery open(String model) throws IOException {
        return open(model, new Options());
    }

    /**
     * Opens a model by folder, file or name: an existing folder is read as a Hugging Face
     * CLIPModel checkpoint, an existing file as any checkpoint {@link #open(Path, Options)}
     * reads, and anything else is looked up as a model name of the registry (OpenAI's names such
     * as "ViT-B/16" or "RN50", optionally prefixed "CS-"), downloaded into the cache
     * ({@link Options#optCacheDir}) once, its SHA-256 checked, and read from there afterwards
     * without network access.
     *
     * @param model a model name, a checkpoint file or a Hugging Face folder
     * @param options the options (read, not kept)
     * @return the open model; close it
     * @throws IOException if the download fails, the cache cannot be written, or the checkpoint
     *     cannot be read or is not a supported CLIP checkpoint
     * @throws IllegalArgumentException if {@code model} is neither an existing file or folder nor
     *     a known model name, or an option does not fit the model (resolution, surgery depth, no
     *     templates)
     * @throws UnsupportedOperationException on the CPU for FP16, or BF16 where the CPU has no
     *     native bf16 dot products
     * @throws CudaException on {@link Device#CUDA} when the GPU cannot be used; its
     *     {@link CudaException#kind()} says why (no device, a driver too old for CUDA 13, CUDA
     *     libraries missing, a library built without nvcc, out of memory)
     * @throws NullPointerException if {@code model} or {@code options} is null
     */
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
     * Face CLIPModel folder (or its config.json). The format is detected from the content, not
     * the name; the weights are read into memory and kept until {@link #close()}. Never uses the
     * network.
     *
     * @param file the checkpoint file or folder
     * @param options the options (read, not kept)
     * @return the open model; close it
     * @throws IOException if the file is missing, cannot be read, or is not a supported CLIP
     *     checkpoint (the message says why)
     * @throws IllegalArgumentException if an option does not fit the model (resolution, surgery
     *     depth, no templates)
     * @throws UnsupportedOperationException on the CPU for FP16, or BF16 where the CPU has no
     *     native bf16 dot products
     * @throws RuntimeException on {@link Device#CUDA} when the GPU cannot be used, as for
     *     {@link #open(String, Options)}
     * @throws NullPointerException if {@code file} or {@code options} is null
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
        return open(store, options, (w, model) -> Engines.open(w, model, options.cudaDevice, options.stages));
    }

    /**
     * The facade over the engine {@code engines} opens (tests: the CUDA engine on an emulated
     * device); every option applies as usual.
     */
    static ClipSurgery open(WeightStore store, Options options, EngineFactory engines) {
        Objects.requireNonNull(options, "options");
        try {
            return new ClipSurgery(store.withActivation(options.activation, options.notices)
                    .withLayerNormEps(options.layerNormEps, options.notices), options, engines);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /** The model's shape (tests). */
    ModelConfig config() {
        return weights.config();
    }

    /**
     * The method that computes the image tokens, from {@link Options#optMethod} when opened.
     *
     * @return the method
     */
    public Method method() {
        return method;
    }

    /**
     * The surgery depth in use, resolved from {@link Options#optSurgeryDepth} when opened.
     *
     * @return the number of final ViT blocks with the dual path (1 for a ResNet's attention pool)
     */
    public int surgeryDepth() {
        return model.surgeryDepth();
    }

    /**
     * The input side in use, resolved from {@link Options#optResolution} when opened.
     *
     * @return R, in pixels: every image is resized to R×R before the encoder
     */
    public int resolution() {
        return model.resolution();
    }

    /**
     * The device this model runs on, fixed when it was opened.
     *
     * @return {@link Options#optDevice}'s value
     */
    public Device device() {
        return options.device;
    }

    // ---- labels -------------------------------------------------------------------------------

    /**
     * Embeds targets' labels: {@code labels(List.of(targets))}.
     *
     * @param targets labels, or labels joined with {@code +} ({@code "person+bench"})
     * @return the label set, for this model only
     * @throws IllegalArgumentException as {@link #labels(List)}, also for no targets
     * @throws IllegalStateException if this model is closed
     * @throws NullPointerException if the array or one of the targets is null
     */
    public LabelSet labels(String... targets) {
        return labels(List.of(targets));
    }

    /**
     * Embeds the targets' labels with the prompt ensemble: every distinct label in every
     * template (85 text-encoder rows per label by default), each embedding L2-normalised,
     * averaged per label, normalised again. Runs the text encoder in batched chunks on the
     * model's device; slow on the CPU for many labels (see {@link #labels(List, Progress)}).
     * Each target is split on {@code +} and each part trimmed; the distinct parts, in first-seen
     * order, are the set's {@link LabelSet#labels()}.
     *
     * @param targets labels, or labels joined with {@code +}; labels are used as given (case kept)
     * @return the label set, for this model only
     * @throws IllegalArgumentException for a null or empty list, a null or blank target, an empty
     *     part ({@code "person++bench"}), a prompt longer than CLIP's 77 tokens, or a template
     *     without a placeholder
     * @throws IllegalStateException if this model is closed
     */
    public LabelSet labels(List<String> targets) {
        return labels(targets, Progress.none());
    }

    /**
     * {@link #labels(List)}, reporting the prompts embedded to {@code progress} (worth it for large
     * label sets: 59 labels × 85 templates is 5015 prompts). Progress is reported, in prompts,
     * only when they take more than one chunk (256 prompts on the CPU, 2048 on CUDA).
     *
     * @param targets labels, or labels joined with {@code +}, as for {@link #labels(List)}
     * @param progress receives the prompts embedded, e.g. {@link Progress#stderr()}
     * @return the label set, for this model only
     * @throws IllegalArgumentException as {@link #labels(List)}
     * @throws IllegalStateException if this model is closed
     * @throws NullPointerException if {@code progress} is null
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
     *
     * @param targets the targets, as for {@link #labels(List)}, giving the same labels in the same
     *     order as the set the features came from
     * @param textFeatures (T, E) row-major, T the number of distinct labels, E
     *     {@link LabelSet#embedDim()}, each row of L2 norm 1 (within 0.001); copied
     * @return the label set, for this model only
     * @throws IllegalArgumentException for targets {@link #labels(List)} refuses, a length other
     *     than T·E, or a row whose norm is not 1
     * @throws IllegalStateException if this model is closed
     * @throws NullPointerException if {@code textFeatures} is null
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

    /**
     * The prompt-ensembled empty string: the redundant feature of {@link Redundancy#EMPTY}.
     * Computed with the text encoder on first use (this call or the first explanation in
     * redundant-feature mode) and kept for the model's life.
     *
     * @return a copy, E floats of L2 norm 1
     * @throws IllegalStateException if this model was closed before the feature was first
     *     computed
     */
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
     * than {@link Options#optMaxImagePixels} is refused before decoding. The file is decoded to
     * 8-bit RGB by the rules of {@link Images#read(Path, long)}.
     *
     * @param image the image file
     * @param labels a label set of this model
     * @return the explanation, at the image's size
     * @throws IOException an {@link org.clipsurgery.image.ImageFormatException} (a
     *     {@link org.clipsurgery.image.PixelLimitException} over the pixel limit) if the file is
     *     missing or cannot be decoded, or another IOException for an I/O failure
     * @throws IllegalArgumentException if the label set is another model's, or a side of the
     *     image is over {@value #MAX_IMAGE_SIDE} pixels
     * @throws IllegalStateException if this model is closed
     * @throws NullPointerException if an argument is null
     */
    public Explanation explain(Path image, LabelSet labels) throws IOException {
        return explain(List.of(Images.read(image, options.maxImagePixels)), labels, Redundancy.AUTO).get(0);
    }

    /**
     * Explains an image in memory with {@link Redundancy#AUTO}, converted to 8-bit RGB first by
     * {@link Images#fromBufferedImage} (a copy: the image may be changed after the call).
     *
     * @param image the image, of any {@link BufferedImage} type
     * @param labels a label set of this model
     * @return the explanation, at the image's size
     * @throws IllegalArgumentException if the label set is another model's, or a side of the
     *     image is over {@value #MAX_IMAGE_SIDE} pixels
     * @throws IllegalStateException if this model is closed
     * @throws NullPointerException if an argument is null
     */
    public Explanation explain(BufferedImage image, LabelSet labels) {
        return explain(List.of(Images.fromBufferedImage(image)), labels, Redundancy.AUTO).get(0);
    }

    /**
     * Explains a batch of images in one forward pass (8-bit RGB, e.g. from
     * {@link Images#read}, {@link Images#fromBufferedImage} or {@link Images#fromBgrFrame}); on
     * CUDA, one pass per image size. The images may differ in size; each is resized to
     * {@link #resolution()}² and explained at its own size. Their pixel arrays are read, not
     * kept, and must not change during the call.
     *
     * @param images one or more images
     * @param labels a label set of this model
     * @param redundancy what feature surgery subtracts
     * @return one explanation per image, in the order of {@code images}
     * @throws IllegalArgumentException for a null or empty list, a label set of another model, or
     *     an image with a side over {@value #MAX_IMAGE_SIDE} pixels
     * @throws IllegalStateException if this model is closed
     * @throws NullPointerException if {@code labels}, {@code redundancy} or an image is null
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
        boolean surgery = method == Method.SURGERY;
        boolean none = redundancy == Redundancy.NONE || (redundancy == Redundancy.AUTO && !surgery);
        boolean empty = redundancy == Redundancy.EMPTY || (redundancy == Redundancy.AUTO && surgery && labels.labels().size() == 1);
        // No feature surgery is redundant-feature mode with r = 0: x·(t − 0) is the cosine, on every engine.
        float[] redundant = none ? noRedundancy : empty ? emptyPrompt() : null;
        return base.withLabels(labels.features(), labels.labels().size(), redundant);
    }

    /**
     * The plain CLIP map for comparison (no surgery): raw cosine similarity of the unmodified
     * model's tokens with each label, as the official demo draws "CLIP" maps. Both devices run the
     * plain model (depth 0); the cosine is taken here, from its features. The result holds its
     * similarity, features and pixels on the host on both devices, so everything in it stays
     * available; its maps, label map and points are computed from the cosines (min-max
     * normalised per label, as for surgery maps).
     *
     * @param image the image, 8-bit RGB
     * @param labels a label set of this model
     * @return the explanation: {@link Explanation#similarity()} the (N, T) cosines,
     *     {@link Explanation#scores()} the class token's cosine per target
     * @throws IllegalArgumentException if the label set is another model's, or a side of the
     *     image is over {@value #MAX_IMAGE_SIDE} pixels
     * @throws IllegalStateException if this model is closed
     * @throws NullPointerException if an argument is null
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
     *
     * @param labels a label set of this model
     * @param frameHeight rows per frame, 1 … {@value #MAX_IMAGE_SIDE}
     * @param frameWidth pixels per row, 1 … {@value #MAX_IMAGE_SIDE}
     * @param order the frames' channel order
     * @return a session; closing it does not close this model
     * @throws IllegalArgumentException if the label set is another model's or a frame side is out
     *     of range
     * @throws IllegalStateException if this model is closed
     * @throws NullPointerException if {@code labels} or {@code order} is null
     */
    public Session session(LabelSet labels, int frameHeight, int frameWidth, PixelOrder order) {
        return session(labels, frameHeight, frameWidth, order, Redundancy.AUTO);
    }

    /**
     * A camera loop as {@link #session(LabelSet, int, int, PixelOrder)}, with a given redundancy
     * mode. The label set and redundancy are checked now, not at the first frame; with
     * {@link Redundancy#EMPTY} (or AUTO with one label) the empty prompt is embedded now if it was
     * not yet.
     *
     * @param labels a label set of this model
     * @param frameHeight rows per frame, 1 … {@value #MAX_IMAGE_SIDE}
     * @param frameWidth pixels per row, 1 … {@value #MAX_IMAGE_SIDE}
     * @param order the frames' channel order
     * @param redundancy what feature surgery subtracts
     * @return a session; closing it does not close this model
     * @throws IllegalArgumentException if the label set is another model's or a frame side is out
     *     of range
     * @throws IllegalStateException if this model is closed
     * @throws NullPointerException if {@code labels}, {@code order} or {@code redundancy} is null
     */
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

    /**
     * Frees the model's native memory (LibTorch tensors or GPU buffers) and its weights.
     * Idempotent. Afterwards every call that computes (labels, explain, sessions) throws
     * IllegalStateException. Explanations already made keep their similarity, scores and maps
     * computed on the host; on CUDA their image features and preprocessed images are gone.
     * Close a model only once other threads' calls on it have returned.
     *
     * @throws IllegalStateException if freeing the native memory failed (the model counts as
     *     closed anyway)
     */
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

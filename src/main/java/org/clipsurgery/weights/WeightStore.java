package org.clipsurgery.weights;

import org.clipsurgery.Activation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The weights of one CLIP model, keyed by OpenAI's state-dict names ({@code visual.conv1.weight},
 * {@code transformer.resblocks.0.attn.in_proj_weight}, ...), each in the dtype it was stored in
 * (OpenAI's TorchScript checkpoints mix fp16 matrices with fp32 norms and embeddings), with the
 * {@link ModelConfig} inferred from the shapes as OpenAI's {@code build_model} infers it.
 *
 * <p>Three formats are read, told apart by content, not by file name, all in Java (no format
 * reaches LibTorch, and nothing in a file is executed):
 * <ul>
 *   <li>TorchScript archives (OpenAI's released {@code .pt} files): the module hierarchy in
 *       {@code data.pkl} read as inert records, the code never opened ({@link TorchScriptReader});
 *   <li>{@code torch.save} zips of a state dict ({@link TorchSaveReader});
 *   <li>safetensors, memory-mapped;
 *   <li>Hugging Face {@code CLIPModel} folders (config.json + model.safetensors or
 *       pytorch_model.bin), mapped to OpenAI's names by {@link HuggingFaceLayout}, with the
 *       activation, layer-norm epsilon and head counts of their config.json.
 * </ul>
 * Both zip formats go through one pickle reader with an allow-list ({@link TorchPickle}) and one
 * storage reader that checks every tensor view against its storage, and bounds memory by the
 * tensors' own size, before anything is read ({@link TorchStorages}).
 * Every load is validated: the names must be exactly those the inferred config implies, every
 * shape must match it, and non-weight entries ({@code input_resolution}, {@code context_length},
 * {@code vocab_size}) are checked against the config and dropped. Any problem is a
 * {@link WeightFormatException} naming the file and the problem.
 *
 * <pre>{@code
 * try (WeightStore w = WeightStore.load(Path.of("ViT-B-16.pt"))) {
 *     ModelConfig c = w.config();                  // ViT, width 768, 12 layers, patch 16, 224 px
 *     HostTensor proj = w.get("visual.proj");     // F16 [768, 512]
 *     w.saveSafetensors(Path.of("ViT-B-16.safetensors"));
 * }
 * }</pre>
 */
public final class WeightStore implements AutoCloseable {
    /** The format a store was read from. */
    public enum Format { TORCHSCRIPT, TORCH_SAVE, SAFETENSORS, HUGGING_FACE, MEMORY }

    private static final int ZIP_MAGIC = 0x04034b50;

    private final Path source;
    private final Format format;
    private final ModelConfig config;
    private volatile Map<String, HostTensor> tensors;
    private final boolean activationGiven;

    private WeightStore(Path source, Format format, ModelConfig config, Map<String, HostTensor> tensors) {
        this(source, format, config, tensors, false);
    }

    /** {@code activationGiven}: the activation of {@code config} was set by the caller (an option). */
    private WeightStore(Path source, Format format, ModelConfig config, Map<String, HostTensor> tensors,
            boolean activationGiven) {
        this.source = source;
        this.format = format;
        this.config = config;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.activationGiven = activationGiven;
    }

    /**
     * Reads and validates {@code file}, detecting its format from its content; a folder (or its
     * config.json, or its model.safetensors / pytorch_model.bin beside a config.json) is read as
     * a Hugging Face checkpoint.
     */
    public static WeightStore load(Path file) throws IOException {
        Path folder = HuggingFaceLayout.folderOf(file);
        if (folder != null) return loadHuggingFace(file, folder);
        if (!Files.isRegularFile(file)) throw new WeightFormatException(file, "no such file");
        byte[] head = new byte[16];
        int n;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.wrap(head);
            while (b.hasRemaining() && ch.read(b) > 0) { /* fill */ }
            n = b.position();
        }
        ByteBuffer h = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
        if (n >= 4 && h.getInt(0) == ZIP_MAGIC) {
            try (ZipArchive zip = ZipArchive.open(file)) {
                String p = zip.prefix();
                if (zip.has(p + "constants.pkl") || zip.names().stream().anyMatch(s -> s.startsWith(p + "code/"))) {
                    return validated(file, Format.TORCHSCRIPT, TorchScriptReader.read(file, zip));
                }
                if (zip.has(p + "data.pkl")) {
                    return validated(file, Format.TORCH_SAVE, TorchSaveReader.read(file, zip, WeightStore::checkShapes));
                }
                throw new WeightFormatException(file, "zip archive is neither a TorchScript archive (code/, constants.pkl) "
                        + "nor a torch.save file (" + p + "data.pkl)");
            }
        }
        // The '{' that starts a safetensors header is enough to claim the file: the reader then says
        // exactly what is wrong with it (a header length past the end, say) instead of "unrecognised".
        if (n >= 9 && head[8] == '{') {
            Map<String, HostTensor> t;
            try {
                t = Safetensors.read(file);
            } catch (IllegalArgumentException e) {
                // FileChannel.map and ByteBuffer offsets are int-sized: the reader maps up to 2 GiB.
                throw new WeightFormatException(file, "safetensors file too large for this reader (2 GiB at most): "
                        + e.getMessage(), e);
            }
            return validated(file, Format.SAFETENSORS, t);
        }
        if (n >= 2 && (head[0] & 0xff) == 0x80) {
            throw new WeightFormatException(file, "a bare pickle (PyTorch's legacy, pre-1.6 torch.save format) is not "
                    + "supported: re-save it with a current torch.save");
        }
        throw new WeightFormatException(file, "unrecognised format: not a zip archive (TorchScript / torch.save) "
                + "nor safetensors");
    }

    /**
     * A store over tensors already in memory (a synthetic model in a test, say), validated like a
     * file. The map's iteration order is kept.
     */
    public static WeightStore of(Map<String, HostTensor> tensors) throws WeightFormatException {
        return validated(Path.of("<memory>"), Format.MEMORY, new LinkedHashMap<>(tensors));
    }

    /** The inferred model config. */
    public ModelConfig config() {
        return config;
    }

    /** Where the weights were read from ({@code <memory>} for {@link #of}). */
    public Path source() {
        return source;
    }

    public Format format() {
        return format;
    }

    /** The tensor {@code name} (OpenAI's state-dict name). */
    public HostTensor get(String name) {
        HostTensor t = open().get(name);
        if (t == null) throw new NoSuchElementException(source + ": no weight named '" + name + "'");
        return t;
    }

    public boolean has(String name) {
        return open().containsKey(name);
    }

    /** All weight names, in the file's order. */
    public Set<String> names() {
        return open().keySet();
    }

    /** All weights by name, in the file's order (unmodifiable). */
    public Map<String, HostTensor> tensors() {
        return open();
    }

    /** Writes all weights to {@code file} as safetensors: OpenAI's names, dtypes as stored. */
    public void saveSafetensors(Path file) throws IOException {
        Safetensors.write(file, open());
    }

    /** Releases the tensors (memory-mapped files are unmapped when the buffers are collected). */
    @Override
    public void close() {
        tensors = null;
    }

    private Map<String, HostTensor> open() {
        Map<String, HostTensor> t = tensors;
        if (t == null) throw new IllegalStateException(source + ": weight store is closed");
        return t;
    }

    // ---------------------------------------------------------------- Hugging Face and the activation

    /** A Hugging Face CLIPModel checkpoint with OpenAI's names and its config.json's numerics. */
    private static WeightStore loadHuggingFace(Path path, Path folder) throws IOException {
        HuggingFaceLayout.Checkpoint c = HuggingFaceLayout.read(path, folder);
        WeightStore s = validated(folder, Format.HUGGING_FACE, c.tensors());
        return new WeightStore(folder, Format.HUGGING_FACE, c.config(s.config), s.open());
    }

    /**
     * {@code nameOrPath} as a path when it names an existing folder (read as a Hugging Face
     * checkpoint by {@link #load}), else null: a model name or a file goes to the downloader.
     */
    public static Path folder(String nameOrPath) {
        try {
            Path p = Path.of(nameOrPath);
            return Files.isDirectory(p) ? p : null;
        } catch (java.nio.file.InvalidPathException e) {
            return null; // not a path: a name
        }
    }

    /**
     * Whether the activation of {@link #config()} was stated by the checkpoint rather than
     * assumed: OpenAI's TorchScript archives are QuickGELU, a Hugging Face config.json names its
     * {@code hidden_act}, a store made in memory has the config its maker gave, and one from
     * {@link #withActivation} has the activation asked for. A {@code torch.save} or safetensors
     * state dict with OpenAI's names says nothing: OpenAI's and OpenCLIP's QuickGELU models look
     * exactly like OpenCLIP's GELU ones.
     */
    public boolean activationDeclared() {
        return activationGiven || (format != Format.TORCH_SAVE && format != Format.SAFETENSORS);
    }

    /**
     * The same weights (shared, not copied) with the activation rule applied, in one place for
     * the library and the CLI: {@code option} when given (a notice to {@code notices} when it
     * overrides a declared one), else the declared activation, else OpenAI's QuickGELU with a
     * notice that names the option: assuming silently would give an OpenCLIP GELU model wrong
     * outputs without a sign.
     */
    public WeightStore withActivation(Activation option, Consumer<String> notices) {
        Activation have = config.activation();
        String name = String.valueOf(source.getFileName());
        if (option == null) {
            if (!activationDeclared()) {
                notices.accept(name + ": an OpenAI-layout state dict does not say its activation: using OpenAI's QuickGELU; "
                        + "OpenCLIP models trained with GELU need it set (CLI --activation gelu, Java "
                        + "Options.optActivation(Activation.GELU))");
            }
            return this;
        }
        if (activationDeclared() && option != have) {
            notices.accept(name + " declares the " + have + " activation; using " + option + " as asked");
        }
        return new WeightStore(source, format, config.withActivation(option), open(), true);
    }

    /**
     * The same weights (shared, not copied) with every layer norm's epsilon {@code eps} when it
     * is given (null: this store). OpenAI's formats imply 1e-5 and say nothing; a Hugging Face
     * config.json declares its own, and overriding a different one sends a notice.
     *
     * @throws IllegalArgumentException for an epsilon outside [0, 1)
     */
    public WeightStore withLayerNormEps(Double eps, Consumer<String> notices) {
        if (eps == null) return this;
        if (format == Format.HUGGING_FACE && eps != config.layerNormEps()) {
            notices.accept(source.getFileName() + " declares layer-norm epsilon " + config.layerNormEps() + "; using " + eps
                    + " as asked");
        }
        return new WeightStore(source, format, config.withLayerNormEps(eps), open(), activationGiven);
    }

    /** Writes all weights to {@code dir} as a Hugging Face CLIPModel folder (ViT only; see {@link HuggingFaceLayout}). */
    public void saveHuggingFace(Path dir) throws IOException {
        HuggingFaceLayout.write(this, dir);
    }

    // ---------------------------------------------------------------- validation

    private static WeightStore validated(Path file, Format format, Map<String, HostTensor> raw) throws WeightFormatException {
        Map<String, HostTensor> weights = new LinkedHashMap<>(raw);
        Map<String, Long> configValues = new HashMap<>();
        for (String k : ModelConfig.CONFIG_ENTRIES) {
            HostTensor t = weights.remove(k);
            if (t == null) continue;
            if (t.numel() != 1) throw new WeightFormatException(file, "config entry '" + k + "' is not a scalar: " + t);
            configValues.put(k, t.dtype().isFloatingPoint() ? Math.round((double) t.getFloat(0)) : integerValue(t));
        }
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : weights.entrySet()) shapes.put(e.getKey(), e.getValue().shape());
        ModelConfig config = checkShapes(file, shapes);
        for (Map.Entry<String, HostTensor> e : weights.entrySet()) {
            boolean counter = e.getKey().endsWith(".num_batches_tracked");
            DType dt = e.getValue().dtype();
            if (counter ? dt.isFloatingPoint() : !dt.isFloatingPoint()) {
                throw new WeightFormatException(file, "tensor '" + e.getKey() + "' has dtype " + dt + ", expected "
                        + (counter ? "an integer type" : "a floating-point type"));
            }
        }
        long[][] cross = {
            {configValues.getOrDefault("input_resolution", -1L), config.imageResolution()},
            {configValues.getOrDefault("context_length", -1L), config.contextLength()},
            {configValues.getOrDefault("vocab_size", -1L), config.vocabSize()}};
        String[] names = {"input_resolution", "context_length", "vocab_size"};
        for (int i = 0; i < 3; i++) {
            if (cross[i][0] != -1 && cross[i][0] != cross[i][1]) {
                throw new WeightFormatException(file, "entry " + names[i] + " = " + cross[i][0]
                        + " disagrees with the weights' shapes, which imply " + cross[i][1]);
            }
        }
        return new WeightStore(file, format, config, weights);
    }

    private static long integerValue(HostTensor t) {
        ByteBuffer b = t.data();
        return switch (t.dtype()) {
            case I64 -> b.getLong(0);
            case I32 -> b.getInt(0);
            case U8 -> b.get(0) & 0xff;
            default -> (long) t.getFloat(0);
        };
    }

    /** Infers the config and checks names and shapes against it exactly; returns the config. */
    static ModelConfig checkShapes(Path file, Map<String, long[]> shapes) throws WeightFormatException {
        ModelConfig config;
        try {
            config = ModelConfig.infer(shapes);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new WeightFormatException(file, "not a CLIP state dict: cannot infer the model config: " + e.getMessage());
        }
        Map<String, long[]> expected = config.expectedShapes();
        List<String> missing = new ArrayList<>();
        for (String k : expected.keySet()) {
            if (!shapes.containsKey(k) && !ModelConfig.isOptional(k)) missing.add(k);
        }
        List<String> extra = new ArrayList<>();
        for (String k : shapes.keySet()) if (!expected.containsKey(k)) extra.add(k);
        if (!missing.isEmpty() || !extra.isEmpty()) {
            throw new WeightFormatException(file, "weights do not match " + config + ":"
                    + (missing.isEmpty() ? "" : " missing " + missing.size() + " " + head(missing))
                    + (extra.isEmpty() ? "" : " unexpected " + extra.size() + " " + head(extra)));
        }
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long[] want = expected.get(e.getKey());
            if (!Arrays.equals(want, e.getValue())) {
                wrong.add(e.getKey() + " " + Arrays.toString(e.getValue()) + " (expected " + Arrays.toString(want) + ")");
            }
        }
        if (!wrong.isEmpty()) {
            throw new WeightFormatException(file, "shapes inconsistent with " + config + ": " + wrong.size() + " "
                    + head(wrong));
        }
        return config;
    }

    private static String head(List<String> items) {
        return (items.size() <= 10 ? items : items.subList(0, 10) + "...").toString();
    }
}

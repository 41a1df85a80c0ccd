package org.clipsurgery.weights;

import org.clipsurgery.Activation;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Hugging Face {@code transformers}' CLIPModel checkpoints: a folder with {@code config.json} and
 * {@code model.safetensors} (or its shards, or {@code pytorch_model.bin}), read into OpenAI's
 * names and layout, and written from them. The one place where the two layouts meet:
 * <ul>
 *   <li>{@code text_model.*} / {@code vision_model.*} encoder layers are OpenAI's
 *       {@code transformer.resblocks.*} / {@code visual.transformer.resblocks.*};
 *       {@code self_attn.q_proj}, {@code k_proj}, {@code v_proj} are the three row blocks of
 *       OpenAI's packed {@code attn.in_proj_weight} / {@code in_proj_bias}, in that order;
 *       {@code layer_norm1/2} are {@code ln_1/2}, {@code mlp.fc1/fc2} are {@code mlp.c_fc/c_proj};
 *   <li>{@code text_projection.weight} and {@code visual_projection.weight} are Linear weights
 *       (out, in): the transposes of OpenAI's {@code text_projection} and {@code visual.proj};
 *   <li>embeddings, {@code pre_layrnorm} (transformers' spelling) → {@code visual.ln_pre},
 *       {@code post_layernorm} → {@code visual.ln_post}, {@code final_layer_norm} →
 *       {@code ln_final}, {@code logit_scale} as it is; the {@code position_ids} buffers some
 *       versions save are dropped.
 * </ul>
 * The config's {@code hidden_act}, {@code layer_norm_eps} and head counts become the model's
 * {@link ModelConfig} (transformers' defaults where a key is absent: QuickGELU, 1e-5); its sizes
 * must agree with the weights. transformers' CLIPModel has a ViT image encoder only.
 */
final class HuggingFaceLayout {
    static final String CONFIG = "config.json";
    static final String SAFETENSORS = "model.safetensors";
    static final String SHARD_INDEX = "model.safetensors.index.json";
    static final String TORCH_SAVE = "pytorch_model.bin";
    private static final long MAX_JSON = 16L << 20;
    private static final int ZIP_MAGIC = 0x04034b50;

    private HuggingFaceLayout() {}

    // ---------------------------------------------------------------- the name mapping

    /** How one OpenAI tensor is made from Hugging Face's: copied, transposed, or q/k/v packed. */
    private enum Kind { COPY, TRANSPOSE, PACK }

    private record Rule(Kind kind, String openAi, String... hf) {}

    /** Inside one encoder layer: Hugging Face's name → OpenAI's (q/k/v are packed apart). */
    private static final String[][] LAYER = {
        {"layer_norm1.weight", "ln_1.weight"}, {"layer_norm1.bias", "ln_1.bias"},
        {"self_attn.out_proj.weight", "attn.out_proj.weight"}, {"self_attn.out_proj.bias", "attn.out_proj.bias"},
        {"layer_norm2.weight", "ln_2.weight"}, {"layer_norm2.bias", "ln_2.bias"},
        {"mlp.fc1.weight", "mlp.c_fc.weight"}, {"mlp.fc1.bias", "mlp.c_fc.bias"},
        {"mlp.fc2.weight", "mlp.c_proj.weight"}, {"mlp.fc2.bias", "mlp.c_proj.bias"},
    };

    /** Every OpenAI tensor of a ViT CLIP with these layer counts, and how it is made. */
    private static List<Rule> rules(int textLayers, int visionLayers) {
        List<Rule> r = new ArrayList<>();
        r.add(new Rule(Kind.COPY, "positional_embedding", "text_model.embeddings.position_embedding.weight"));
        r.add(new Rule(Kind.TRANSPOSE, "text_projection", "text_projection.weight"));
        r.add(new Rule(Kind.COPY, "logit_scale", "logit_scale"));
        r.add(new Rule(Kind.COPY, "visual.class_embedding", "vision_model.embeddings.class_embedding"));
        r.add(new Rule(Kind.COPY, "visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"));
        r.add(new Rule(Kind.TRANSPOSE, "visual.proj", "visual_projection.weight"));
        r.add(new Rule(Kind.COPY, "visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"));
        r.add(new Rule(Kind.COPY, "visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"));
        r.add(new Rule(Kind.COPY, "visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"));
        layers(r, "visual.transformer.resblocks.", "vision_model.encoder.layers.", visionLayers);
        r.add(new Rule(Kind.COPY, "visual.ln_post.weight", "vision_model.post_layernorm.weight"));
        r.add(new Rule(Kind.COPY, "visual.ln_post.bias", "vision_model.post_layernorm.bias"));
        layers(r, "transformer.resblocks.", "text_model.encoder.layers.", textLayers);
        r.add(new Rule(Kind.COPY, "token_embedding.weight", "text_model.embeddings.token_embedding.weight"));
        r.add(new Rule(Kind.COPY, "ln_final.weight", "text_model.final_layer_norm.weight"));
        r.add(new Rule(Kind.COPY, "ln_final.bias", "text_model.final_layer_norm.bias"));
        return r;
    }

    private static void layers(List<Rule> r, String openAi, String hf, int count) {
        for (int i = 0; i < count; i++) {
            String o = openAi + i + ".", h = hf + i + ".self_attn.";
            for (String kind : new String[] {"weight", "bias"}) {
                r.add(new Rule(Kind.PACK, o + "attn.in_proj_" + kind, h + "q_proj." + kind, h + "k_proj." + kind,
                        h + "v_proj." + kind));
            }
            for (String[] m : LAYER) r.add(new Rule(Kind.COPY, o + m[1], hf + i + "." + m[0]));
        }
    }

    /** Buffers some transformers versions save; the model does not read them. */
    private static boolean isPositionIds(String name) {
        return name.equals("text_model.embeddings.position_ids") || name.equals("vision_model.embeddings.position_ids");
    }

    // ---------------------------------------------------------------- config.json

    /** One tower of config.json, with transformers' defaults for absent keys. */
    record Tower(int hidden, int intermediate, int layers, int heads, Activation activation, double eps,
            int positions, int vocab, int imageSize, int patchSize) {}

    /** The parts of config.json the model needs. */
    record Config(Tower text, Tower vision, int projectionDim) {
        Activation activation() {
            return text.activation;
        }

        double eps() {
            return text.eps;
        }
    }

    /** Parses and checks config.json (transformers' CLIPConfig, including the legacy *_config_dict). */
    static Config parseConfig(Path file) throws IOException {
        JsonObject root = json(file);
        JsonElement type = root.get("model_type");
        if (type != null && !(type.isJsonPrimitive() && type.getAsString().equals("clip"))) {
            throw new WeightFormatException(file, "model_type " + type + " is not \"clip\": only transformers' CLIPModel "
                    + "is read (SigLIP, CLIP vision/text-only and other models are not)");
        }
        if (!root.has("text_config") && !root.has("text_config_dict") && !root.has("vision_config")
                && !root.has("vision_config_dict")) {
            throw new WeightFormatException(file, "not a CLIPModel config.json: it has no text_config or vision_config");
        }
        Tower text = tower(file, root, "text_config");
        Tower vision = tower(file, root, "vision_config");
        if (text.activation != vision.activation || text.eps != vision.eps) {
            throw new WeightFormatException(file, "text_config and vision_config differ in hidden_act (" + text.activation + ", "
                    + vision.activation + ") or layer_norm_eps (" + text.eps + ", " + vision.eps + "); one of each is supported");
        }
        return new Config(text, vision, positive(file, root, "", "projection_dim", 512));
    }

    private static Tower tower(Path file, JsonObject root, String key) throws WeightFormatException {
        // transformers: a *_config_dict, where present, replaces the *_config (its defaults included)
        JsonElement legacy = root.get(key + "_dict");
        JsonElement e = legacy != null && !legacy.isJsonNull() ? legacy : root.get(key);
        String where = legacy != null && !legacy.isJsonNull() ? key + "_dict." : key + ".";
        JsonObject c;
        if (e == null || e.isJsonNull()) {
            c = new JsonObject();
        } else if (e.isJsonObject()) {
            c = e.getAsJsonObject();
        } else {
            throw new WeightFormatException(file, where.substring(0, where.length() - 1) + " is not an object");
        }
        boolean isText = key.equals("text_config");
        int hidden = positive(file, c, where, "hidden_size", isText ? 512 : 768);
        int intermediate = positive(file, c, where, "intermediate_size", isText ? 2048 : 3072);
        int layers = positive(file, c, where, "num_hidden_layers", 12);
        if (layers > 1024) throw new WeightFormatException(file, where + "num_hidden_layers " + layers + " is implausible (at most 1024)");
        int heads = positive(file, c, where, "num_attention_heads", isText ? 8 : 12);
        if (hidden % heads != 0) {
            throw new WeightFormatException(file, where + "hidden_size " + hidden + " is not a multiple of num_attention_heads "
                    + heads);
        }
        if (intermediate != 4L * hidden) {
            throw new WeightFormatException(file, where + "intermediate_size " + intermediate + " is not 4 × hidden_size "
                    + hidden + ": CLIP's MLP (OpenAI's layout) is 4 × wide, other widths are not supported");
        }
        JsonElement act = c.get("hidden_act");
        Activation activation = Activation.QUICK_GELU; // transformers' CLIP default
        if (act != null) {
            activation = act.isJsonPrimitive() && act.getAsJsonPrimitive().isString()
                    ? Activation.fromConfigName(act.getAsString()) : null;
            if (activation == null) {
                throw new WeightFormatException(file, where + "hidden_act " + act + " is not supported (quick_gelu or gelu)");
            }
        }
        double eps = ModelConfig.DEFAULT_LAYER_NORM_EPS; // transformers' CLIP default
        JsonElement ep = c.get("layer_norm_eps");
        if (ep != null) {
            Double v = ep.isJsonPrimitive() && ep.getAsJsonPrimitive().isNumber() ? ep.getAsDouble() : null;
            if (v == null || !(v >= 0 && v < 1)) {
                throw new WeightFormatException(file, where + "layer_norm_eps " + ep + " is not a number in [0, 1)");
            }
            eps = v;
        }
        if (isText) {
            return new Tower(hidden, intermediate, layers, heads, activation, eps,
                    positive(file, c, where, "max_position_embeddings", 77), positive(file, c, where, "vocab_size", 49408), 0, 0);
        }
        int channels = positive(file, c, where, "num_channels", 3);
        if (channels != 3) throw new WeightFormatException(file, where + "num_channels " + channels + " is not 3 (RGB)");
        int image = positive(file, c, where, "image_size", 224), patch = positive(file, c, where, "patch_size", 32);
        if (image % patch != 0) {
            throw new WeightFormatException(file, where + "image_size " + image + " is not a multiple of patch_size " + patch);
        }
        return new Tower(hidden, intermediate, layers, heads, activation, eps, 0, 0, image, patch);
    }

    /** A positive int at {@code key} of {@code c}, or {@code dflt} when absent. */
    private static int positive(Path file, JsonObject c, String where, String key, int dflt) throws WeightFormatException {
        JsonElement v = c.get(key);
        if (v == null) return dflt;
        try {
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) throw new NumberFormatException();
            int n = new BigDecimal(v.getAsString()).intValueExact();
            if (n < 1 || n > (1 << 24)) throw new ArithmeticException();
            return n;
        } catch (NumberFormatException | ArithmeticException e) {
            throw new WeightFormatException(file, where + key + " " + v + " is not a positive integer (at most 2^24)");
        }
    }

    private static JsonObject json(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new WeightFormatException(file, "no such file");
        if (Files.size(file) > MAX_JSON) throw new WeightFormatException(file, "implausibly large for a JSON config");
        JsonElement e;
        try {
            e = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
        } catch (JsonParseException | java.nio.charset.CharacterCodingException ex) {
            throw new WeightFormatException(file, "not valid JSON: " + ex.getClass().getSimpleName());
        }
        if (!e.isJsonObject()) throw new WeightFormatException(file, "not a JSON object");
        return e.getAsJsonObject();
    }

    /** Every tensor name and shape a CLIPModel with config {@code c} saves (position_ids aside). */
    static Map<String, long[]> expectedShapes(Config c) {
        Map<String, long[]> m = new LinkedHashMap<>();
        Tower t = c.text, v = c.vision;
        long e = c.projectionDim, grid = v.imageSize / v.patchSize;
        m.put("logit_scale", new long[] {});
        m.put("text_model.embeddings.token_embedding.weight", new long[] {t.vocab, t.hidden});
        m.put("text_model.embeddings.position_embedding.weight", new long[] {t.positions, t.hidden});
        encoder(m, "text_model.encoder.layers.", t);
        m.put("text_model.final_layer_norm.weight", new long[] {t.hidden});
        m.put("text_model.final_layer_norm.bias", new long[] {t.hidden});
        m.put("text_projection.weight", new long[] {e, t.hidden});
        m.put("vision_model.embeddings.class_embedding", new long[] {v.hidden});
        m.put("vision_model.embeddings.patch_embedding.weight", new long[] {v.hidden, 3, v.patchSize, v.patchSize});
        m.put("vision_model.embeddings.position_embedding.weight", new long[] {grid * grid + 1, v.hidden});
        m.put("vision_model.pre_layrnorm.weight", new long[] {v.hidden});
        m.put("vision_model.pre_layrnorm.bias", new long[] {v.hidden});
        encoder(m, "vision_model.encoder.layers.", v);
        m.put("vision_model.post_layernorm.weight", new long[] {v.hidden});
        m.put("vision_model.post_layernorm.bias", new long[] {v.hidden});
        m.put("visual_projection.weight", new long[] {e, v.hidden});
        return m;
    }

    private static void encoder(Map<String, long[]> m, String prefix, Tower t) {
        long w = t.hidden, f = t.intermediate;
        for (int i = 0; i < t.layers; i++) {
            String p = prefix + i + ".";
            for (String q : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                m.put(p + "self_attn." + q + ".weight", new long[] {w, w});
                m.put(p + "self_attn." + q + ".bias", new long[] {w});
            }
            for (String n : new String[] {"layer_norm1", "layer_norm2"}) {
                m.put(p + n + ".weight", new long[] {w});
                m.put(p + n + ".bias", new long[] {w});
            }
            m.put(p + "mlp.fc1.weight", new long[] {f, w});
            m.put(p + "mlp.fc1.bias", new long[] {f});
            m.put(p + "mlp.fc2.weight", new long[] {w, f});
            m.put(p + "mlp.fc2.bias", new long[] {w});
        }
    }

    /** Names and shapes exactly those config.json implies (position_ids buffers allowed). */
    private static void checkShapes(Path file, Config c, Map<String, long[]> shapes) throws WeightFormatException {
        Map<String, long[]> expected = expectedShapes(c);
        List<String> missing = new ArrayList<>(), extra = new ArrayList<>(), wrong = new ArrayList<>();
        for (String k : expected.keySet()) if (!shapes.containsKey(k)) missing.add(k);
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            String k = e.getKey();
            long[] want = expected.get(k);
            if (isPositionIds(k)) {
                if (e.getValue().length > 2) wrong.add(k + " " + Arrays.toString(e.getValue()) + " (a [1, n] buffer)");
            } else if (want == null) {
                extra.add(k);
            } else if (!Arrays.equals(want, e.getValue())) {
                wrong.add(k + " " + Arrays.toString(e.getValue()) + " (config.json implies " + Arrays.toString(want) + ")");
            }
        }
        if (!missing.isEmpty() || !extra.isEmpty()) {
            String hint = shapes.containsKey("visual.proj") || shapes.containsKey("visual.conv1.weight")
                    || shapes.containsKey("visual.attnpool.c_proj.weight")
                    ? " (these are OpenAI's names: load the file on its own, away from config.json)"
                    : !missing.isEmpty() && missing.get(0).startsWith("text_model.") && extra.isEmpty()
                    ? " (a vision-only model? CLIP Surgery needs CLIPModel's text and vision towers)" : "";
            throw new WeightFormatException(file, "weights do not match CLIPModel of config.json:"
                    + (missing.isEmpty() ? "" : " missing " + missing.size() + " " + head(missing))
                    + (extra.isEmpty() ? "" : " unexpected " + extra.size() + " " + head(extra)) + hint);
        }
        if (!wrong.isEmpty()) throw new WeightFormatException(file, "shapes disagree with config.json: " + wrong.size() + " " + head(wrong));
    }

    private static String head(List<String> items) {
        return (items.size() <= 10 ? items : items.subList(0, 10) + "...").toString();
    }

    // ---------------------------------------------------------------- reading

    /**
     * The Hugging Face folder {@code path} names: the folder itself, its config.json, or its
     * model.safetensors / pytorch_model.bin beside a config.json; null for anything else.
     */
    static Path folderOf(Path path) {
        if (Files.isDirectory(path)) return path;
        Path name = path.getFileName(), parent = path.toAbsolutePath().getParent();
        if (name == null || parent == null || !Files.isRegularFile(path)) return null;
        String n = name.toString();
        if (n.equals(CONFIG)) return parent;
        if ((n.equals(SAFETENSORS) || n.equals(TORCH_SAVE)) && Files.isRegularFile(parent.resolve(CONFIG))) return parent;
        return null;
    }

    /** A checkpoint read and mapped: OpenAI-named tensors and the config.json numerics. */
    record Checkpoint(Map<String, HostTensor> tensors, Config hf) {
        /** {@code inferred} (OpenAI's inference from the mapped shapes) with config.json's numerics. */
        ModelConfig config(ModelConfig inferred) {
            return new ModelConfig(inferred.embedDim(), inferred.imageResolution(), inferred.visionLayers(),
                    inferred.visionWidth(), inferred.visionPatchSize(), inferred.contextLength(), inferred.vocabSize(),
                    inferred.transformerWidth(), hf.text.heads, inferred.transformerLayers(), hf.vision.heads,
                    hf.activation(), hf.eps());
        }
    }

    /** Reads the checkpoint of {@code folder} ({@code path}: the folder, its config or its weights file). */
    static Checkpoint read(Path path, Path folder) throws IOException {
        Path configFile = folder.resolve(CONFIG);
        if (!Files.isRegularFile(configFile)) {
            throw new WeightFormatException(folder, "a folder is read as a Hugging Face CLIPModel checkpoint, and this one "
                    + "has no " + CONFIG);
        }
        Config c = parseConfig(configFile);
        Map<String, HostTensor> raw = new LinkedHashMap<>();
        Path weights = Files.isRegularFile(path) && !path.getFileName().toString().equals(CONFIG) ? path
                : Files.isRegularFile(folder.resolve(SAFETENSORS)) ? folder.resolve(SAFETENSORS)
                : Files.isRegularFile(folder.resolve(SHARD_INDEX)) ? folder.resolve(SHARD_INDEX)
                : Files.isRegularFile(folder.resolve(TORCH_SAVE)) ? folder.resolve(TORCH_SAVE) : null;
        if (weights == null) {
            throw new WeightFormatException(folder, "no " + SAFETENSORS + ", " + SHARD_INDEX + " or " + TORCH_SAVE
                    + " (TensorFlow and Flax weights are not read)");
        }
        if (weights.getFileName().toString().equals(SHARD_INDEX)) {
            for (Path shard : shards(weights, folder)) {
                for (Map.Entry<String, HostTensor> e : readFile(shard, c).entrySet()) {
                    if (raw.put(e.getKey(), e.getValue()) != null) {
                        throw new WeightFormatException(shard, "tensor '" + e.getKey() + "' is in two shards");
                    }
                }
            }
        } else {
            raw.putAll(readFile(weights, c));
        }
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : raw.entrySet()) shapes.put(e.getKey(), e.getValue().shape());
        checkShapes(weights, c, shapes);
        return new Checkpoint(toOpenAi(weights, raw, c), c);
    }

    /** The tensors of one safetensors or torch.save file (checked against {@code c} before reading, for torch.save). */
    private static Map<String, HostTensor> readFile(Path file, Config c) throws IOException {
        byte[] head = new byte[4];
        int n;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.wrap(head);
            while (b.hasRemaining() && ch.read(b) > 0) { /* fill */ }
            n = b.position();
        }
        if (n == 4 && ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt(0) == ZIP_MAGIC) {
            try (ZipArchive zip = ZipArchive.open(file)) {
                if (!zip.has(zip.prefix() + "data.pkl")) {
                    throw new WeightFormatException(file, "zip archive is not a torch.save file (no " + zip.prefix() + "data.pkl)");
                }
                return TorchSaveReader.read(file, zip, (f, shapes) -> checkShapes(f, c, shapes));
            }
        }
        try {
            return Safetensors.read(file);
        } catch (IllegalArgumentException e) {
            // FileChannel.map and ByteBuffer offsets are int-sized: the reader maps up to 2 GiB.
            throw new WeightFormatException(file, "safetensors file too large for this reader (2 GiB at most): "
                    + e.getMessage(), e);
        }
    }

    /** The shard files of model.safetensors.index.json, each a plain file name in {@code folder}. */
    private static List<Path> shards(Path index, Path folder) throws IOException {
        JsonElement map = json(index).get("weight_map");
        if (map == null || !map.isJsonObject()) throw new WeightFormatException(index, "no weight_map object");
        Set<String> files = new LinkedHashSet<>();
        for (Map.Entry<String, JsonElement> e : map.getAsJsonObject().entrySet()) {
            JsonElement v = e.getValue();
            String f = v.isJsonPrimitive() && v.getAsJsonPrimitive().isString() ? v.getAsString() : "";
            if (!f.matches("[A-Za-z0-9._-]+\\.safetensors")) {
                throw new WeightFormatException(index, "weight_map entry '" + e.getKey() + "' names " + v
                        + ", not a .safetensors file in this folder");
            }
            files.add(f);
        }
        if (files.isEmpty()) throw new WeightFormatException(index, "weight_map is empty");
        List<Path> out = new ArrayList<>();
        for (String f : files) {
            Path shard = folder.resolve(f);
            if (!Files.isRegularFile(shard)) throw new WeightFormatException(index, "shard " + f + " is missing");
            out.add(shard);
        }
        return out;
    }

    /** Hugging Face tensors (names and shapes already checked) → OpenAI's, in OpenAI's order. */
    private static Map<String, HostTensor> toOpenAi(Path file, Map<String, HostTensor> hf, Config c)
            throws WeightFormatException {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Rule r : rules(c.text.layers, c.vision.layers)) {
            HostTensor first = hf.get(r.hf[0]);
            out.put(r.openAi, switch (r.kind) {
                case COPY -> first;
                case TRANSPOSE -> transpose(first);
                case PACK -> pack(file, r.openAi, hf.get(r.hf[0]), hf.get(r.hf[1]), hf.get(r.hf[2]));
            });
        }
        return out;
    }

    // ---------------------------------------------------------------- writing

    /**
     * Writes {@code store} to {@code dir} as a CLIPModel checkpoint: config.json (with the
     * store's activation, layer-norm epsilon and head counts) and model.safetensors, dtypes as
     * stored. Each file is replaced atomically.
     *
     * @throws WeightFormatException for a ResNet model (CLIPModel's image encoder is a ViT)
     */
    static void write(WeightStore store, Path dir) throws IOException {
        ModelConfig m = store.config();
        if (!m.isVit()) {
            throw new WeightFormatException(store.source(), "transformers' CLIPModel has a ViT image encoder only: "
                    + "a ResNet model is written in OpenAI's layout");
        }
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Rule r : rules(m.transformerLayers(), m.visionLayers()[0])) {
            HostTensor t = store.get(r.openAi);
            switch (r.kind) {
                case COPY -> out.put(r.hf[0], t);
                case TRANSPOSE -> out.put(r.hf[0], transpose(t));
                case PACK -> {
                    long rows = t.size(0) / 3, row = t.numel() / t.size(0) * t.dtype().size();
                    long[] shape = t.shape();
                    shape[0] = rows;
                    for (int i = 0; i < 3; i++) {
                        out.put(r.hf[i], new HostTensor(t.dtype(), shape, t.data().slice((int) (i * rows * row), (int) (rows * row))));
                    }
                }
            }
        }
        Files.createDirectories(dir);
        Safetensors.write(dir.resolve(SAFETENSORS), out);
        Path config = dir.resolve(CONFIG), tmp = dir.resolve(CONFIG + ".part");
        Files.writeString(tmp, configJson(m, store), StandardCharsets.UTF_8);
        Files.move(tmp, config, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static String configJson(ModelConfig m, WeightStore store) {
        JsonObject text = new JsonObject();
        text.addProperty("hidden_size", m.transformerWidth());
        text.addProperty("intermediate_size", 4 * m.transformerWidth());
        text.addProperty("num_hidden_layers", m.transformerLayers());
        text.addProperty("num_attention_heads", m.transformerHeads());
        text.addProperty("max_position_embeddings", m.contextLength());
        text.addProperty("vocab_size", m.vocabSize());
        text.addProperty("projection_dim", m.embedDim());
        common(text, m);
        // CLIP's BPE: the start and end tokens (pooling reads the end token's position)
        text.addProperty("bos_token_id", 49406);
        text.addProperty("eos_token_id", 49407);
        JsonObject vision = new JsonObject();
        vision.addProperty("hidden_size", m.visionWidth());
        vision.addProperty("intermediate_size", 4 * m.visionWidth());
        vision.addProperty("num_hidden_layers", m.visionLayers()[0]);
        vision.addProperty("num_attention_heads", m.visionHeads());
        vision.addProperty("image_size", m.imageResolution());
        vision.addProperty("patch_size", m.visionPatchSize());
        vision.addProperty("num_channels", 3);
        vision.addProperty("projection_dim", m.embedDim());
        common(vision, m);
        JsonObject root = new JsonObject();
        root.add("architectures", new com.google.gson.JsonArray());
        root.getAsJsonArray("architectures").add("CLIPModel");
        root.addProperty("model_type", "clip");
        root.addProperty("projection_dim", m.embedDim());
        root.addProperty("logit_scale_init_value", 2.6592);
        root.add("text_config", text);
        root.add("vision_config", vision);
        root.addProperty("torch_dtype", torchDtype(store.get("visual.proj").dtype()));
        return new GsonBuilder().setPrettyPrinting().create().toJson(root) + "\n";
    }

    private static void common(JsonObject tower, ModelConfig m) {
        tower.addProperty("hidden_act", m.activation().configName());
        tower.add("layer_norm_eps", new JsonPrimitive(m.layerNormEps()));
    }

    private static String torchDtype(DType t) {
        return switch (t) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> "float32";
        };
    }

    // ---------------------------------------------------------------- tensor helpers

    /** The transpose of a 2-D tensor, same dtype. */
    private static HostTensor transpose(HostTensor t) {
        int rows = Math.toIntExact(t.size(0)), cols = Math.toIntExact(t.size(1)), es = t.dtype().size();
        ByteBuffer in = t.data(), out = ByteBuffer.allocate(rows * cols * es).order(ByteOrder.LITTLE_ENDIAN);
        byte[] elem = new byte[es];
        for (int c = 0; c < cols; c++) {
            for (int r = 0; r < rows; r++) {
                in.get((r * cols + c) * es, elem);
                out.put(elem);
            }
        }
        return new HostTensor(t.dtype(), new long[] {cols, rows}, out.flip());
    }

    /** q, k, v stacked along dimension 0 (OpenAI's in_proj); fp32 where their dtypes differ. */
    private static HostTensor pack(Path file, String name, HostTensor q, HostTensor k, HostTensor v)
            throws WeightFormatException {
        boolean same = q.dtype() == k.dtype() && k.dtype() == v.dtype();
        HostTensor[] parts = same ? new HostTensor[] {q, k, v} : new HostTensor[] {q.toF32(), k.toF32(), v.toF32()};
        long bytes = 3 * parts[0].numel() * parts[0].dtype().size();
        if (bytes > Integer.MAX_VALUE) throw new WeightFormatException(file, name + " is too large to pack");
        ByteBuffer out = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (HostTensor p : parts) out.put(p.data());
        long[] shape = q.shape();
        shape[0] *= 3;
        return new HostTensor(parts[0].dtype(), shape, out.flip());
    }
}

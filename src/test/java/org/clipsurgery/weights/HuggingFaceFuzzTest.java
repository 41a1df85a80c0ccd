package org.clipsurgery.weights;

import org.clipsurgery.Activation;
import org.clipsurgery.ClipSurgery;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.clipsurgery.engine.FacadeAccess;
import org.clipsurgery.image.RgbImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutated Hugging Face checkpoints: config.json (keys dropped, values of the wrong type, size or
 * sign, unknown activations, epsilons out of range, legacy *_config_dict, other model types, broken
 * JSON) and key sets (tensors dropped, renamed, added, reshaped, of another dtype; position_ids
 * buffers; shard indexes), in safetensors and torch.save files. Every case must load or end in a
 * {@link WeightFormatException} naming a file of the checkpoint, never another exception; a case
 * that loads must also run (a short forward on the CPU backend), so that a config the reader
 * accepts cannot crash the model. Seeded ({@code -Dfuzz.seed=N}, {@code -Dfuzz.scale=K}).
 */
class HuggingFaceFuzzTest {
    private static final long SEED = Long.getLong("fuzz.seed", 20261201L);
    private static final int SCALE = Integer.getInteger("fuzz.scale", 1);

    /**
     * A tiny ViT: width 16 with 2 heads (not OpenAI's 64-wide heads), 2 + 1 layers, 16 px, GELU,
     * epsilon 1e-6; CLIP's vocabulary and context, which the tokenizer needs.
     */
    static final ModelConfig TINY = new ModelConfig(8, 16, new int[] {2}, 16, 8, 77, 49408, 16, 2, 1, 2,
            Activation.GELU, 1e-6);

    @TempDir
    Path tmp;

    private record Case(String what, JsonObject config, Map<String, HostTensor> tensors, boolean bin, String shardIndex) {}

    @Test
    void mutatedHuggingFaceCheckpointsLoadOrFailCleanly() throws IOException {
        Path base = tmp.resolve("base");
        Map<String, HostTensor> openAi = WeightStoreTest.synthetic(TINY, new Random(SEED));
        HuggingFaceCopy.write(openAi, TINY, base, "gelu", 1e-6, HuggingFaceCopy.Weights.SAFETENSORS, true);
        JsonObject config = JsonParser.parseString(Files.readString(base.resolve("config.json"))).getAsJsonObject();
        Map<String, HostTensor> hf = Safetensors.read(base.resolve("model.safetensors"));
        try (WeightStore w = WeightStore.load(base)) {
            assertEquals(Activation.GELU, w.config().activation());
            assertEquals(1e-6, w.config().layerNormEps());
            assertEquals(2, w.config().visionHeads());
        }

        Map<String, Integer> outcomes = new TreeMap<>(), reasons = new TreeMap<>();
        int[] total = {0};
        long t0 = System.nanoTime();
        assertTimeoutPreemptively(Duration.ofSeconds(150), () -> {
            Random rnd = new Random(SEED);
            for (int i = 0; i < 300 * SCALE; i++) {
                Case c = mutate(config, hf, rnd);
                Path dir = tmp.resolve("case" + i);
                String outcome = write(c, dir, rnd);
                if (outcome == null) {
                    try (WeightStore w = WeightStore.load(rnd.nextBoolean() ? dir : dir.resolve("config.json"))) {
                        run(w);
                        outcome = "loaded and ran";
                    } catch (WeightFormatException e) {
                        outcome = "rejected";
                        String msg = e.getMessage();
                        assertTrue(msg.startsWith(dir.toString()) || msg.startsWith(dir.toAbsolutePath().toString()),
                                "the message names the checkpoint: " + msg);
                        assertFalse(msg.contains("\n"), msg);
                        reasons.merge(reason(msg.substring(msg.indexOf(": ") + 2)), 1, Integer::sum);
                    } catch (Throwable e) {
                        fail("case " + i + " (" + c.what + ", seed " + SEED + "): " + e, e);
                        return;
                    }
                }
                outcomes.merge(outcome, 1, Integer::sum);
                total[0]++;
                deleteTree(dir);
            }
        });
        System.out.printf("Hugging Face fuzz: %d cases in %.1f s, seed %d%n", total[0], (System.nanoTime() - t0) / 1e9, SEED);
        outcomes.forEach((o, k) -> System.out.printf("  %5d  %s%n", k, o));
        System.out.println("rejection reasons:");
        reasons.forEach((r, k) -> System.out.printf("  %5d  %s%n", k, r));
        assertEquals(300 * SCALE, total[0]);
        assertTrue(outcomes.getOrDefault("loaded and ran", 0) > 10 && outcomes.getOrDefault("rejected", 0) > 100, outcomes.toString());
    }

    /** A loaded mutant runs: the model's config must be one the graph can compute. */
    private static void run(WeightStore w) {
        ClipSurgery.Options o = new ClipSurgery.Options().optTemplates(List.of("{}")).optNotices(m -> { });
        try (ClipSurgery cs = FacadeAccess.get().open(w.withActivation(null, m -> { }), o)) {
            var labels = cs.labels("a", "b");
            byte[] px = new byte[20 * 12 * 3];
            new Random(1).nextBytes(px);
            float[] sim = cs.explain(List.of(new RgbImage(20, 12, px)), labels, org.clipsurgery.Redundancy.LABELS).get(0).similarity();
            for (float v : sim) assertTrue(Float.isFinite(v) || Float.isNaN(v), "a number");
        }
    }

    // ---------------------------------------------------------------- mutations

    private static final String[] TOWER_KEYS = {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "hidden_act", "layer_norm_eps", "max_position_embeddings", "vocab_size", "image_size", "patch_size", "num_channels",
        "projection_dim"};

    private static Case mutate(JsonObject config, Map<String, HostTensor> hf, Random rnd) {
        JsonObject c = config.deepCopy();
        Map<String, HostTensor> t = new LinkedHashMap<>(hf);
        List<String> what = new ArrayList<>();
        boolean bin = rnd.nextInt(4) == 0;
        String index = null;
        int edits = 1 + rnd.nextInt(2);
        for (int e = 0; e < edits; e++) {
            switch (rnd.nextInt(10)) {
                case 0, 1, 2 -> { // a tower value
                    String tower = rnd.nextBoolean() ? "text_config" : "vision_config";
                    if (!(c.get(tower) instanceof JsonObject)) c.add(tower, new JsonObject());
                    String key = TOWER_KEYS[rnd.nextInt(TOWER_KEYS.length)];
                    JsonElement v = value(rnd, c.getAsJsonObject(tower).get(key));
                    if (v == null) c.getAsJsonObject(tower).remove(key);
                    else c.getAsJsonObject(tower).add(key, v);
                    what.add(tower + "." + key + " = " + v);
                }
                case 3 -> { // a top-level value
                    String key = List.of("projection_dim", "model_type", "text_config", "vision_config", "text_config_dict",
                            "vision_config_dict").get(rnd.nextInt(6));
                    JsonElement base = c.get(key.replace("_dict", ""));
                    JsonElement v = key.endsWith("_dict") && rnd.nextBoolean() && base != null ? base.deepCopy() : value(rnd, c.get(key));
                    if (v == null) c.remove(key);
                    else c.add(key, v);
                    what.add(key + " = " + v);
                }
                case 4 -> { // a tensor dropped
                    String k = pick(t, rnd);
                    t.remove(k);
                    what.add("dropped " + k);
                }
                case 5 -> { // a tensor renamed or added
                    String k = pick(t, rnd);
                    String n = rnd.nextBoolean() ? k.replace("layers.0", "layers.7") : k + (rnd.nextBoolean() ? ".extra" : "_x");
                    t.put(n, rnd.nextBoolean() ? t.remove(k) : t.get(k));
                    what.add("renamed/added " + n);
                }
                case 6 -> { // a tensor reshaped (same bytes, other shape) or of another dtype
                    String k = pick(t, rnd);
                    HostTensor x = t.get(k);
                    if (rnd.nextBoolean() && x.numel() > 1) {
                        long n = x.numel();
                        long[] shape = rnd.nextBoolean() ? new long[] {n} : new long[] {1, n};
                        t.put(k, new HostTensor(x.dtype(), shape, x.data()));
                        what.add("reshaped " + k + " to " + Arrays.toString(shape));
                    } else {
                        // (torch.save mutants get the dtypes TorchSaveWriter writes)
                        DType d = List.of(DType.F32, DType.F16, DType.BF16, DType.I64, DType.I32, DType.U8).get(rnd.nextInt(bin ? 4 : 6));
                        t.put(k, new HostTensor(d, x.shape(), ByteBuffer.allocate((int) (x.numel() * d.size())).order(ByteOrder.LITTLE_ENDIAN)));
                        what.add(k + " as " + d);
                    }
                }
                case 7 -> { // position_ids buffers of odd shapes, or dropped
                    String k = rnd.nextBoolean() ? "text_model.embeddings.position_ids" : "vision_model.embeddings.position_ids";
                    if (rnd.nextBoolean()) {
                        t.remove(k);
                    } else {
                        long[] shape = List.of(new long[] {3}, new long[] {1, 1, 2}, new long[] {}).get(rnd.nextInt(3));
                        t.put(k, new HostTensor(DType.I64, shape, ByteBuffer.allocate((int) (8 * HostTensor.numel(shape)))));
                    }
                    what.add("position_ids " + k);
                }
                case 8 -> { // sharded, with an index that may lie
                    index = List.of("good", "traversal", "missing", "number", "empty", "not-object").get(rnd.nextInt(6));
                    what.add("shards " + index);
                }
                default -> { // text-only or vision-only weights
                    String drop = rnd.nextBoolean() ? "text_model." : "vision_model.";
                    t.keySet().removeIf(k -> k.startsWith(drop));
                    what.add("without " + drop);
                }
            }
        }
        return new Case(String.join("; ", what) + (bin ? " (torch.save)" : ""), c, t, bin, index);
    }

    /** Another value for a config entry: absent (null), of another type, or another number. */
    private static JsonElement value(Random rnd, JsonElement old) {
        return switch (rnd.nextInt(12)) {
            case 0 -> null;
            case 1 -> JsonNull.INSTANCE;
            case 2 -> new JsonPrimitive(List.of("gelu", "quick_gelu", "GELU", "relu", "gelu_new", "gelu_pytorch_tanh", "", "clip",
                    "clip_vision_model", "siglip").get(rnd.nextInt(10)));
            case 3 -> new JsonPrimitive(List.of(0, -1, 1, 2, 3, 4, 7, 8, 16, 32, 64, 1 << 30).get(rnd.nextInt(12)));
            case 4 -> new JsonPrimitive(List.of(1e-5, 1e-6, 0.0, -1e-5, 1.5, 1e308, 2.5, 0.5).get(rnd.nextInt(8)));
            case 5 -> new JsonPrimitive(rnd.nextBoolean());
            case 6 -> new JsonArray();
            case 7 -> new JsonObject();
            case 8 -> JsonParser.parseString("1e400");
            case 9 -> JsonParser.parseString("123456789012345678901234567890");
            case 10 -> old == null ? JsonNull.INSTANCE : old.isJsonPrimitive() && old.getAsJsonPrimitive().isNumber()
                    ? new JsonPrimitive(old.getAsLong() * 2) : old;
            default -> old == null ? JsonNull.INSTANCE : old.isJsonPrimitive() && old.getAsJsonPrimitive().isNumber()
                    ? new JsonPrimitive(old.getAsDouble() / 2) : new JsonPrimitive(String.valueOf(old));
        };
    }

    private static String pick(Map<String, HostTensor> t, Random rnd) {
        List<String> keys = new ArrayList<>(t.keySet());
        return keys.isEmpty() ? "logit_scale" : keys.get(rnd.nextInt(keys.size()));
    }

    /** Writes the case; returns null, or an outcome when the case could not even be written. */
    private static String write(Case c, Path dir, Random rnd) throws IOException {
        Files.createDirectories(dir);
        String json = c.config.toString();
        switch (rnd.nextInt(20)) { // now and then, broken JSON or bytes that are not UTF-8
            case 0 -> json = json.substring(0, rnd.nextInt(json.length()));
            case 1 -> json = "[".repeat(100_000);
            default -> { }
        }
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        if (rnd.nextInt(30) == 0) bytes[rnd.nextInt(bytes.length)] = (byte) 0xff;
        Files.write(dir.resolve("config.json"), bytes);
        if (c.tensors.isEmpty()) return null;
        if (c.shardIndex != null) {
            Map<String, HostTensor> a = new LinkedHashMap<>(), b = new LinkedHashMap<>();
            JsonObject map = new JsonObject();
            int i = 0;
            for (Map.Entry<String, HostTensor> e : c.tensors.entrySet()) {
                boolean first = i++ % 2 == 0;
                (first ? a : b).put(e.getKey(), e.getValue());
                map.addProperty(e.getKey(), first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
            }
            Safetensors.write(dir.resolve("model-00001-of-00002.safetensors"), a);
            if (!c.shardIndex.equals("missing")) Safetensors.write(dir.resolve("model-00002-of-00002.safetensors"), b);
            switch (c.shardIndex) {
                case "traversal" -> map.addProperty(map.keySet().iterator().next(), "../base/model.safetensors");
                case "number" -> map.addProperty(map.keySet().iterator().next(), 3);
                case "empty" -> map = new JsonObject();
                default -> { }
            }
            JsonObject index = new JsonObject();
            if (c.shardIndex.equals("not-object")) index.add("weight_map", new JsonArray());
            else index.add("weight_map", map);
            Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
        } else if (c.bin) {
            Files.write(dir.resolve("pytorch_model.bin"), TorchSaveWriter.write("archive", c.tensors));
        } else {
            Safetensors.write(dir.resolve("model.safetensors"), c.tensors);
        }
        return null;
    }

    /** A rejection message without its numbers and names, for the summary. */
    private static String reason(String msg) {
        String r = msg.replaceAll("\\[[^\\]]*\\]", "[..]").replaceAll("'[^']*'", "'..'").replaceAll("-?\\d[\\d.eE+-]*", "N");
        return r.length() > 90 ? r.substring(0, 90) : r;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted((x, y) -> y.getNameCount() - x.getNameCount()).toList()) Files.delete(p);
        }
    }
}

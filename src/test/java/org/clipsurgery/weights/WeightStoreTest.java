package org.clipsurgery.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.clipsurgery.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightStoreTest {
    @TempDir
    Path tmp;

    /** A config from reference.json's {@code configs} (keys as build_model's arguments). */
    static ModelConfig referenceConfig(String model) throws IOException {
        JsonObject all = JsonParser.parseString(Files.readString(Fixtures.file("reference.json"))).getAsJsonObject();
        JsonObject c = all.getAsJsonObject("configs").getAsJsonObject(model);
        int[] layers = c.get("vision_layers").isJsonArray()
                ? new Gsonish(c.getAsJsonArray("vision_layers")).ints()
                : new int[] {c.get("vision_layers").getAsInt()};
        int patch = c.get("vision_patch_size").isJsonNull() ? 0 : c.get("vision_patch_size").getAsInt();
        return new ModelConfig(c.get("embed_dim").getAsInt(), c.get("image_resolution").getAsInt(), layers,
                c.get("vision_width").getAsInt(), patch, c.get("context_length").getAsInt(),
                c.get("vocab_size").getAsInt(), c.get("transformer_width").getAsInt(),
                c.get("transformer_heads").getAsInt(), c.get("transformer_layers").getAsInt());
    }

    private record Gsonish(com.google.gson.JsonArray a) {
        int[] ints() {
            int[] out = new int[a.size()];
            for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
            return out;
        }
    }

    @Test
    void vitTorchSaveLoadsWithReferenceConfig() throws IOException {
        try (WeightStore w = WeightStore.load(Fixtures.file("vit.pt"))) {
            assertEquals(WeightStore.Format.TORCH_SAVE, w.format());
            assertEquals(referenceConfig("vit"), w.config());
            assertEquals(134, w.names().size());
            for (HostTensor t : w.tensors().values()) assertEquals(DType.F16, t.dtype());
            assertArrayEquals(new long[] {128, 3, 8, 8}, w.get("visual.conv1.weight").shape());
            assertEquals(Fixtures.file("vit.pt"), w.source());
            assertTrue(w.has("logit_scale"));
            assertFalse(w.has("input_resolution"));
            NoSuchElementException e = assertThrows(NoSuchElementException.class, () -> w.get("visual.nope"));
            assertTrue(e.getMessage().contains("visual.nope"));
        }
    }

    @Test
    void resnetTorchSaveLoadsWithReferenceConfig() throws IOException {
        try (WeightStore w = WeightStore.load(Fixtures.file("rn.pt"))) {
            assertEquals(referenceConfig("rn"), w.config());
            assertEquals(153, w.names().size());
            assertEquals(DType.I64, w.get("visual.bn1.num_batches_tracked").dtype());
            assertEquals(DType.F16, w.get("visual.attnpool.c_proj.weight").dtype());
            assertEquals(8, w.config().visionHeads()); // width 16 · 32 / 64
        }
    }

    @Test
    void torchScriptArchiveEqualsTorchSaveOnceCastToF32() throws IOException {
        try (WeightStore jit = WeightStore.load(Fixtures.file("vit-jit.pt"));
                WeightStore sd = WeightStore.load(Fixtures.file("vit.pt"))) {
            assertEquals(WeightStore.Format.TORCHSCRIPT, jit.format());
            assertEquals(referenceConfig("vit"), jit.config());
            // The module hierarchy's tensors are exactly the torch.save state dict's keys.
            assertEquals(new java.util.TreeSet<>(sd.names()), new java.util.TreeSet<>(jit.names()));
            int f16 = 0, f32 = 0;
            for (String name : sd.names()) {
                HostTensor a = jit.get(name), b = sd.get(name);
                assertArrayEquals(b.shape(), a.shape(), name);
                if (a.dtype() == DType.F16) f16++;
                if (a.dtype() == DType.F32) f32++;
                // The archive keeps OpenAI's fp32 norms and embeddings; vit.pt is those values in
                // fp16, and both come from the same fp16-representable numbers: equal exactly.
                assertArrayEquals(b.toF32().toFloatArray(), a.toF32().toFloatArray(), name);
            }
            assertTrue(f16 > 0 && f32 > 0, "OpenAI's fp16/fp32 mix: " + f16 + " fp16, " + f32 + " fp32");
            assertEquals(DType.F32, jit.get("visual.ln_pre.weight").dtype());
            assertEquals(DType.F16, jit.get("visual.conv1.weight").dtype());
        }
    }

    @Test
    void safetensorsRoundTripKeepsNamesDtypesAndBytes() throws IOException {
        Path out = tmp.resolve("vit.safetensors");
        try (WeightStore jit = WeightStore.load(Fixtures.file("vit-jit.pt"))) {
            jit.saveSafetensors(out);
            try (WeightStore back = WeightStore.load(out)) {
                assertEquals(WeightStore.Format.SAFETENSORS, back.format());
                assertEquals(jit.config(), back.config());
                assertEquals(jit.names().stream().toList(), back.names().stream().toList());
                for (String n : jit.names()) {
                    assertEquals(jit.get(n).dtype(), back.get(n).dtype(), n);
                    assertArrayEquals(jit.get(n).shape(), back.get(n).shape(), n);
                    assertEquals(jit.get(n).data(), back.get(n).data(), n);
                }
            }
        }
    }

    @Test
    void inferenceMatchesBuildModelForOpenAiShapes() {
        // (embed, resolution, layers, width, patch, context, vocab, text width, heads, text layers)
        ModelConfig[] configs = {
            new ModelConfig(512, 224, new int[] {12}, 768, 32, 77, 49408, 512, 8, 12), // ViT-B/32
            new ModelConfig(768, 336, new int[] {24}, 1024, 14, 77, 49408, 768, 12, 12), // ViT-L/14@336px
            new ModelConfig(1024, 224, new int[] {3, 4, 6, 3}, 64, 0, 77, 49408, 512, 8, 12), // RN50
            new ModelConfig(512, 224, new int[] {3, 4, 23, 3}, 64, 0, 77, 49408, 512, 8, 12), // RN101
            new ModelConfig(1024, 448, new int[] {3, 15, 36, 10}, 128, 0, 77, 49408, 1024, 16, 12), // RN50x64
        };
        for (ModelConfig c : configs) assertEquals(c, ModelConfig.infer(c.expectedShapes()));
        // RN50's attention pool: 2048 channels, 32 heads, 7×7 grid.
        Map<String, long[]> rn50 = configs[2].expectedShapes();
        assertArrayEquals(new long[] {50, 2048}, rn50.get("visual.attnpool.positional_embedding"));
        assertEquals(32, configs[2].visionHeads());
        assertTrue(rn50.containsKey("visual.layer1.0.downsample.0.weight"));
        assertFalse(rn50.containsKey("visual.layer1.1.downsample.0.weight"));
        assertTrue(rn50.containsKey("visual.layer2.0.downsample.0.weight")); // stride 2
        assertFalse(rn50.containsKey("visual.layer2.1.downsample.0.weight"));
    }

    @Test
    void syntheticStoreValidatesAndDropsConfigEntries() throws IOException {
        ModelConfig c = new ModelConfig(8, 64, new int[] {2, 1, 1, 1}, 8, 0, 5, 11, 16, 0, 1);
        Map<String, HostTensor> t = synthetic(c, new Random(1));
        t.put("input_resolution", scalar(64));
        t.put("context_length", scalar(5));
        t.put("vocab_size", scalar(11));
        try (WeightStore w = WeightStore.of(t)) {
            assertEquals(c, w.config());
            assertFalse(w.has("vocab_size"));
            assertEquals(t.size() - 3, w.names().size());
        }
        t.put("vocab_size", scalar(12));
        WeightFormatException e = assertThrows(WeightFormatException.class, () -> WeightStore.of(t));
        assertTrue(e.getMessage().contains("vocab_size = 12"), e.getMessage());
    }

    @Test
    void missingExtraAndMisshapenWeightsAreNamed() throws IOException {
        try (WeightStore w = WeightStore.load(Fixtures.file("vit.pt"))) {
            Map<String, HostTensor> t = new LinkedHashMap<>(w.tensors());
            t.remove("visual.transformer.resblocks.3.ln_2.bias");
            assertMessage(t, "missing 1 [visual.transformer.resblocks.3.ln_2.bias]");

            t = new LinkedHashMap<>(w.tensors());
            t.put("visual.extra", HostTensor.ofFloats(new float[] {1}, 1));
            assertMessage(t, "unexpected 1 [visual.extra]");

            t = new LinkedHashMap<>(w.tensors());
            t.put("transformer.resblocks.1.mlp.c_fc.bias", HostTensor.ofFloats(new float[255], 255));
            assertMessage(t, "transformer.resblocks.1.mlp.c_fc.bias [255] (expected [256])");

            t = new LinkedHashMap<>(w.tensors());
            t.put("visual.ln_post.weight", new HostTensor(DType.I32, new long[] {128}, ByteBuffer.allocate(512)));
            assertMessage(t, "visual.ln_post.weight' has dtype I32");

            t = new LinkedHashMap<>(w.tensors());
            t.remove("visual.proj"); // now it looks like a ResNet with no ResNet weights
            assertMessage(t, "cannot infer the model config");
        }
    }

    private static void assertMessage(Map<String, HostTensor> t, String part) {
        WeightFormatException e = assertThrows(WeightFormatException.class, () -> WeightStore.of(t));
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    @Test
    void picklesAskingForOtherCallablesAreRejected() throws IOException {
        // cos\nsystem\n (X 'echo pwned') TUPLE1 REDUCE STOP: pickle's classic code-execution payload.
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(new byte[] {(byte) 0x80, 2});
        p.write("cos\nsystem\n".getBytes(StandardCharsets.US_ASCII));
        byte[] cmd = "echo pwned".getBytes(StandardCharsets.US_ASCII);
        p.write('X');
        p.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(cmd.length).array());
        p.write(cmd);
        p.write(new byte[] {(byte) 0x85, 'R', '.'});
        Path evil = tmp.resolve("evil.pt");
        writeZip(evil, Map.of("evil/data.pkl", p.toByteArray(), "evil/byteorder", "little".getBytes()));
        WeightFormatException e = assertThrows(WeightFormatException.class, () -> WeightStore.load(evil));
        assertTrue(e.getMessage().contains("os.system") && e.getMessage().contains(evil.toString()), e.getMessage());

        byte[] builtins = "\u0080\u0002cbuiltins\neval\n)R.".getBytes(StandardCharsets.ISO_8859_1);
        writeZip(evil, Map.of("evil/data.pkl", builtins));
        e = assertThrows(WeightFormatException.class, () -> WeightStore.load(evil));
        assertTrue(e.getMessage().contains("builtins.eval"), e.getMessage());
    }

    @Test
    void stridedTorchSaveTensorsAreMaterialisedRowMajor() throws IOException {
        // Rewrite vit.pt's pickle so that visual.proj [128, 64] is read with strides (1, 128):
        // the transpose of its storage viewed as [64, 128].
        Path src = Fixtures.file("vit.pt");
        Map<String, byte[]> entries = readZip(src);
        byte[] pkl = entries.get("vit/data.pkl");
        int at = indexOf(pkl, "visual.proj".getBytes(StandardCharsets.US_ASCII), 0);
        int s = indexOf(pkl, new byte[] {'K', 64, 'K', 1, (byte) 0x86}, at);
        assertTrue(at > 0 && s > at);
        pkl[s + 1] = 1;
        pkl[s + 3] = (byte) 128;
        Path out = tmp.resolve("strided.pt");
        writeZip(out, entries);
        try (WeightStore orig = WeightStore.load(src); WeightStore w = WeightStore.load(out)) {
            float[] a = orig.get("visual.proj").toFloatArray(), b = w.get("visual.proj").toFloatArray();
            for (int i = 0; i < 128; i++) {
                for (int j = 0; j < 64; j++) assertEquals(a[j * 128 + i], b[i * 64 + j]);
            }
        }
        // A stride that runs past the storage is rejected before any copy.
        pkl[s + 3] = (byte) 129;
        writeZip(out, entries);
        WeightFormatException e = assertThrows(WeightFormatException.class, () -> WeightStore.load(out));
        assertTrue(e.getMessage().contains("does not fit its storage"), e.getMessage());
    }

    @Test
    void badFilesGiveClearErrors() throws IOException {
        Path f = tmp.resolve("junk.bin");
        Files.write(f, "hello, not weights".getBytes(StandardCharsets.US_ASCII));
        assertTrue(assertThrows(WeightFormatException.class, () -> WeightStore.load(f)).getMessage()
                .contains("unrecognised format"));

        byte[] vit = Files.readAllBytes(Fixtures.file("vit.pt"));
        Files.write(f, Arrays.copyOf(vit, vit.length / 2));
        WeightFormatException e = assertThrows(WeightFormatException.class, () -> WeightStore.load(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());

        // A storage byte flipped: the CRC catches it.
        byte[] flipped = vit.clone();
        flipped[vit.length / 2] ^= 0x10;
        Files.write(f, flipped);
        e = assertThrows(WeightFormatException.class, () -> WeightStore.load(f));
        assertTrue(e.getMessage().contains("CRC"), e.getMessage());

        // Safetensors with a dtype this project does not know.
        String header = "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}  ";
        ByteBuffer b = ByteBuffer.allocate(8 + header.length() + 1).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length()).put(header.getBytes(StandardCharsets.US_ASCII)).put((byte) 0);
        Files.write(f, b.array());
        e = assertThrows(WeightFormatException.class, () -> WeightStore.load(f));
        assertTrue(e.getMessage().contains("unknown dtype F8_E4M3"), e.getMessage());
    }

    @Test
    void torchScriptFromAnIndependentWriterReadsBack() throws IOException {
        ModelConfig c = new ModelConfig(16, 64, new int[] {1, 2, 1, 1}, 4, 0, 6, 13, 8, 0, 2);
        Map<String, HostTensor> t = synthetic(c, new Random(11));
        Path f = tmp.resolve("small-jit.pt");
        Files.write(f, TorchSaveWriter.writeScript("small-jit", t));
        try (WeightStore w = WeightStore.load(f)) {
            assertEquals(WeightStore.Format.TORCHSCRIPT, w.format());
            assertEquals(c, w.config());
            assertEquals(new java.util.TreeSet<>(t.keySet()), new java.util.TreeSet<>(w.names()));
            for (String n : t.keySet()) {
                assertEquals(t.get(n).dtype(), w.get(n).dtype(), n);
                assertEquals(t.get(n).data(), w.get(n).data(), n);
            }
        }
    }

    @Test
    void torchSaveFromAnIndependentWriterReadsBack() throws IOException {
        ModelConfig c = new ModelConfig(16, 64, new int[] {1, 2, 1, 1}, 4, 0, 6, 13, 8, 0, 2);
        Map<String, HostTensor> t = synthetic(c, new Random(7));
        Path f = tmp.resolve("small.pt");
        Files.write(f, TorchSaveWriter.write("small", t));
        try (WeightStore w = WeightStore.load(f)) {
            assertEquals(WeightStore.Format.TORCH_SAVE, w.format());
            assertEquals(c, w.config());
            assertEquals(t.keySet().stream().toList(), w.names().stream().toList());
            for (String n : t.keySet()) {
                assertEquals(t.get(n).dtype(), w.get(n).dtype(), n);
                assertEquals(t.get(n).data(), w.get(n).data(), n);
            }
        }
    }

    @Test
    void closedStoreRefusesAccess() throws IOException {
        WeightStore w = WeightStore.load(Fixtures.file("rn.pt"));
        w.close();
        assertThrows(IllegalStateException.class, () -> w.get("logit_scale"));
    }

    // ---------------------------------------------------------------- helpers (shared with the fuzz test)

    /** Random fp16/fp32 tensors with exactly the shapes {@code c} implies. */
    static Map<String, HostTensor> synthetic(ModelConfig c, Random rnd) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : c.expectedShapes().entrySet()) {
            int n = Math.toIntExact(HostTensor.numel(e.getValue()));
            if (e.getKey().endsWith("num_batches_tracked")) {
                out.put(e.getKey(), new HostTensor(DType.I64, e.getValue(), ByteBuffer.allocate(8 * n)));
                continue;
            }
            boolean half = rnd.nextBoolean();
            ByteBuffer b = ByteBuffer.allocate(n * (half ? 2 : 4)).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                float v = (float) rnd.nextGaussian();
                if (half) b.putShort(Half.fromFloat(v));
                else b.putFloat(v);
            }
            out.put(e.getKey(), new HostTensor(half ? DType.F16 : DType.F32, e.getValue(), b.flip()));
        }
        return out;
    }

    private static HostTensor scalar(long v) {
        return new HostTensor(DType.I64, new long[0], ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v));
    }

    static Map<String, byte[]> readZip(Path file) throws IOException {
        Map<String, byte[]> out = new LinkedHashMap<>();
        try (ZipFile z = new ZipFile(file.toFile())) {
            for (Enumeration<? extends ZipEntry> en = z.entries(); en.hasMoreElements(); ) {
                ZipEntry e = en.nextElement();
                out.put(e.getName(), z.getInputStream(e).readAllBytes());
            }
        }
        return out;
    }

    static void writeZip(Path file, Map<String, byte[]> entries) throws IOException {
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(file))) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                z.putNextEntry(new ZipEntry(e.getKey()));
                z.write(e.getValue());
                z.closeEntry();
            }
        }
    }

    private static int indexOf(byte[] hay, byte[] needle, int from) {
        outer:
        for (int i = from; i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }
}

package org.clipsurgery.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.clipsurgery.bench.ProcessMemory;
import org.clipsurgery.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The files of issue 12's review, rebuilt from the fixtures: tensor views in {@code data.pkl} of
 * a copy of {@code vit-jit.pt} (TorchScript) and of {@code vit.pt} ({@code torch.save}) edited to
 * lie about their storages, TorchScript code that defines {@code __setstate__}, storages and
 * entries inflating to 1 GiB, pickles that ask for other globals. Each must be refused with a
 * one-line {@link WeightFormatException} naming the file (or, for code, load the same weights as
 * the original: code is never read), and the load must allocate little: the Java heap allocated
 * by the loading thread is asserted; the growth of the process's peak resident set is printed.
 *
 * <p>For resident-set numbers of a fresh JVM per file: {@code -Dcrafted.out=DIR} keeps every
 * crafted file in DIR, then {@code java -cp target/classes:target/test-classes:target/lib/*
 * org.clipsurgery.weights.CraftedWeightFilesTest FILE} loads one and prints its peak RSS.
 */
class CraftedWeightFilesTest {
    private static final long GIB = 1L << 30;
    /** What a refused load may allocate: the archive's directory and pickles, far below any storage. */
    private static final long REFUSED_BUDGET = 8L << 20;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final List<String> TABLE = new ArrayList<>();

    @TempDir
    static Path tmp;

    private record Case(String name, Builder file, String expect) {}

    @FunctionalInterface
    private interface Builder {
        Path build(Path out) throws IOException;
    }

    @TestFactory
    Stream<DynamicTest> craftedFilesAreRefusedOrLoadInertly() throws IOException {
        List<Case> cases = new ArrayList<>();
        for (String fixture : List.of("vit-jit.pt", "vit.pt")) {
            String f = fixture.replace(".pt", "");
            cases.add(new Case(f + ": unmodified", out -> Fixtures.file(fixture), null));
            // visual.proj, [128, 64] F16, stride (64, 1), alone in a storage of 8192 elements.
            cases.add(view(fixture, "huge offset (2^62)", v -> Map.of(v.offset(), 1L << 62), "does not fit its storage"));
            cases.add(view(fixture, "offset past the end", v -> Map.of(v.offset(), 8192L), "does not fit its storage"));
            cases.add(view(fixture, "last element one past the end", v -> Map.of(v.offset(), 1L), "does not fit its storage"));
            cases.add(view(fixture, "negative offset", v -> Map.of(v.offset(), -1L), "negative storage offset"));
            cases.add(view(fixture, "huge stride (2^62)", v -> Map.of(v.stride().get(0), 1L << 62), "overflows 64-bit"));
            cases.add(view(fixture, "large stride (2^33)", v -> Map.of(v.stride().get(0), 1L << 33), "does not fit its storage"));
            cases.add(view(fixture, "negative stride (a reversed view)",
                    v -> Map.of(v.stride().get(0), -64L, v.offset(), 127L * 64), "negative size or stride"));
            cases.add(view(fixture, "declared storage size > entry", v -> Map.of(v.numel(), 8193L), "the pickle declares 8193 F16"));
            cases.add(view(fixture, "declared storage size < entry", v -> Map.of(v.numel(), 8191L), "the pickle declares 8191 F16"));
            cases.add(view(fixture, "declared storage size 2^62", v -> Map.of(v.numel(), 1L << 62), "the pickle declares"));
            cases.add(view(fixture, "size 2^40 (shape of another model)", v -> Map.of(v.size().get(0), 1L << 40),
                    "shapes inconsistent"));
            cases.add(new Case(f + ": ln_final.bias given visual.proj's storage", out -> sharedStorage(fixture, out),
                    "tensor 'ln_final.bias': storage " + f + "/data/"));
            cases.add(new Case(f + ": ln_final.bias a broadcast (stride 0) view of ln_final.weight's storage",
                    out -> broadcast(fixture, out), "backs strided views of 128 elements (ln_final.weight, ln_final.bias)"));
            cases.add(new Case(f + ": visual.proj's storage inflates to 1 GiB (deflated)", out -> inflatedStorage(fixture, out),
                    "holds 1073741824 bytes but its tensors (visual.proj) use at most 16384"));
            cases.add(new Case(f + ": visual.proj a slice of a storage 64 elements longer", out -> longerStorage(fixture, out), null));
        }
        cases.add(new Case("vit: unreferenced data/999 inflating to 1 GiB", out -> withEntry("vit.pt", "vit/data/999", GIB, out),
                "vit/data/999 is a storage no tensor references"));
        cases.add(new Case("vit-jit: unreferenced extra/big inflating to 1 GiB",
                out -> withEntry("vit-jit.pt", "vit-jit/extra/big", GIB, out), "the entries a weight reader never opens hold at most"));
        cases.add(new Case("vit-jit: unreferenced constants/9", out -> withEntry("vit-jit.pt", "vit-jit/constants/9", 1L << 20, out),
                "constants/9 is a storage no tensor references"));
        cases.add(new Case("vit-jit: every code/*.py defines a raising __setstate__, linear.py renamed linear.PY",
                CraftedWeightFilesTest::setstateEverywhere, null));
        cases.add(new Case("vit-jit: code/__torch__/torch/nn/modules/linear.PY with __setstate__ beside linear.py",
                out -> withCode("vit-jit/code/__torch__/torch/nn/modules/linear.PY", out), "differ only in case"));
        cases.add(new Case("vit-jit: CODE/__torch__/torch/nn/modules/linear.py with __setstate__", out -> withCode("vit-jit/CODE/"
                + "__torch__/torch/nn/modules/linear.py", out), "differ only in case"));
        cases.add(new Case("vit-jit: CODE/__torch__/evil.py with __setstate__", out -> withCode("vit-jit/CODE/__torch__/evil.py", out),
                "vit-jit/CODE/__torch__/evil.py is not part of this format"));
        cases.add(new Case("vit-jit: data.pkl asks for builtins.eval", out -> global("cbuiltins\neval\n", out),
                "asks for builtins.eval, which is not allowed"));
        cases.add(new Case("vit-jit: data.pkl asks for torch.jit._pickle.restore_type_tag",
                out -> global("ctorch.jit._pickle\nrestore_type_tag\n", out), "asks for torch.jit._pickle.restore_type_tag"));
        cases.add(new Case("vit-jit: a module class called (REDUCE) instead of NEWOBJ", CraftedWeightFilesTest::calledClass,
                "__torch__.clip.clip_model.CLIP is not a function"));
        cases.add(new Case("vit-jit: an attribute that is a list", CraftedWeightFilesTest::listAttribute,
                "attribute 'training' of __torch__.clip.clip_model.CLIP is a list"));
        return cases.stream().map(c -> dynamicTest(c.name, () -> run(c)));
    }

    private static void run(Case c) throws IOException {
        Path file = c.file.build(tmp.resolve(String.format("%02d-%s.pt", TABLE.size(), c.name.replaceAll("[^A-Za-z0-9]+", "-"))));
        String keep = System.getProperty("crafted.out");
        if (keep != null && !file.startsWith(Fixtures.dir())) {
            Files.copy(file, Path.of(keep).resolve(file.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        long rssBefore = ProcessMemory.resetPeak() ? ProcessMemory.resident() : -1;
        long allocated = THREADS.getCurrentThreadAllocatedBytes();
        String outcome;
        if (c.expect == null) {
            try (WeightStore w = WeightStore.load(file)) {
                allocated = THREADS.getCurrentThreadAllocatedBytes() - allocated;
                outcome = "loads, " + w.names().size() + " tensors";
                if (!file.startsWith(Fixtures.dir())) assertSameWeights(w, Fixtures.file(c.name.split(":")[0] + ".pt"));
            }
            // A load holds its storages: within twice the file's size.
            assertTrue(allocated < 2 * Files.size(file), "allocated " + allocated);
        } else {
            WeightFormatException e = assertThrows(WeightFormatException.class, () -> WeightStore.load(file));
            allocated = THREADS.getCurrentThreadAllocatedBytes() - allocated;
            String msg = e.getMessage();
            assertTrue(msg.startsWith(file + ": ") && msg.contains(c.expect), msg);
            assertFalse(msg.contains("\n"), msg);
            assertTrue(allocated < REFUSED_BUDGET, "allocated " + allocated + " bytes for " + msg);
            outcome = "refused: " + msg.substring(file.toString().length() + 2);
        }
        long rss = rssBefore < 0 ? -1 : ProcessMemory.peak() - rssBefore;
        TABLE.add(String.format("| %s | %.1f MB | %s | %s |", c.name, Files.size(file) / 1e6,
                rss < 0 ? "n/a" : String.format("%.1f MB", rss / 1e6), outcome));
        System.out.printf("crafted: %-70s heap allocated %7.1f MB, peak RSS growth %s: %s%n", c.name, allocated / 1e6,
                rss < 0 ? "n/a" : String.format("%.1f MB", rss / 1e6), outcome);
    }

    @AfterAll
    static void printTable() {
        System.out.println("| case | file | peak RSS growth | outcome |");
        TABLE.forEach(System.out::println);
    }

    // ---------------------------------------------------------------- the crafted files

    private interface ViewEdit {
        Map<PickleViews.Op, Object> edits(PickleViews.View v);
    }

    /** {@code fixture} with visual.proj's view or storage declaration edited in data.pkl. */
    private static Case view(String fixture, String what, ViewEdit edit, String expect) {
        return new Case(fixture.replace(".pt", "") + ": visual.proj " + what, out -> {
            Map<String, byte[]> entries = WeightStoreTest.readZip(Fixtures.file(fixture));
            String pkl = pickleName(entries);
            entries.put(pkl, PickleViews.edit(entries.get(pkl), new LinkedHashMap<>(edit.edits(proj(entries.get(pkl))))));
            Files.write(out, TorchSaveWriter.storedZip(entries));
            return out;
        }, expect);
    }

    /**
     * The last tensor (ln_final.bias, 64 elements) given visual.proj's storage key (8192 F16
     * elements): one storage declared with two sizes. (The last key, not visual.proj's: the
     * TorchScript pickle memoizes key strings that later name Sequential children.)
     */
    private static Path sharedStorage(String fixture, Path out) throws IOException {
        Map<String, byte[]> entries = WeightStoreTest.readZip(Fixtures.file(fixture));
        String pkl = pickleName(entries);
        byte[] p = entries.get(pkl);
        List<PickleViews.View> views = List.copyOf(PickleViews.find(p).values());
        PickleViews.View last = views.get(views.size() - 1);
        assertEquals(64L, last.numel().value());
        entries.put(pkl, PickleViews.edit(p, last.keyOp(), proj(p).key()));
        entries.remove(pkl.replace("data.pkl", "data/" + last.key()));
        Files.write(out, TorchSaveWriter.storedZip(entries));
        return out;
    }

    /**
     * ln_final.bias made a stride-0 view of ln_final.weight's storage: its copy plus the
     * weight's would exceed the storage they share (the bound on copies of strided views).
     */
    private static Path broadcast(String fixture, Path out) throws IOException {
        Map<String, byte[]> entries = WeightStoreTest.readZip(Fixtures.file(fixture));
        String pkl = pickleName(entries);
        List<PickleViews.View> views = List.copyOf(PickleViews.find(entries.get(pkl)).values());
        PickleViews.View weight = views.get(views.size() - 2), bias = views.get(views.size() - 1);
        assertEquals(64L, weight.numel().value());
        assertEquals(64L, bias.numel().value());
        entries.put(pkl, PickleViews.edit(entries.get(pkl), Map.of(bias.keyOp(), weight.key(), bias.stride().get(0), 0L)));
        entries.remove(pkl.replace("data.pkl", "data/" + bias.key()));
        Files.write(out, TorchSaveWriter.storedZip(entries));
        return out;
    }

    /** visual.proj's storage replaced by 1 GiB of zeros, deflated, its declared size to match. */
    private static Path inflatedStorage(String fixture, Path out) throws IOException {
        Map<String, byte[]> entries = WeightStoreTest.readZip(Fixtures.file(fixture));
        String pkl = pickleName(entries);
        PickleViews.View v = proj(entries.get(pkl));
        entries.put(pkl, PickleViews.edit(entries.get(pkl), v.numel(), GIB / 2));
        Map<String, Object> layout = new LinkedHashMap<>(entries);
        layout.put(pkl.replace("data.pkl", "data/" + v.key()), GIB);
        TorchSaveWriter.zipWithZeros(out, layout);
        return out;
    }

    /** visual.proj's storage 64 elements longer than the tensor: a saved slice, within the slack allowed. */
    private static Path longerStorage(String fixture, Path out) throws IOException {
        Map<String, byte[]> entries = WeightStoreTest.readZip(Fixtures.file(fixture));
        String pkl = pickleName(entries);
        PickleViews.View v = proj(entries.get(pkl));
        entries.put(pkl, PickleViews.edit(entries.get(pkl), v.numel(), 8192L + 64));
        String storage = pkl.replace("data.pkl", "data/" + v.key());
        entries.put(storage, java.util.Arrays.copyOf(entries.get(storage), 2 * (8192 + 64)));
        Files.write(out, TorchSaveWriter.storedZip(entries));
        return out;
    }

    /** {@code fixture} with one more entry, {@code size} bytes of zeros (deflated). */
    private static Path withEntry(String fixture, String name, long size, Path out) throws IOException {
        Map<String, Object> layout = new LinkedHashMap<>(WeightStoreTest.readZip(Fixtures.file(fixture)));
        layout.put(name, size);
        TorchSaveWriter.zipWithZeros(out, layout);
        return out;
    }

    private static final String SETSTATE = "\n  def __setstate__(self, state: Tuple[int]) -> None:\n"
            + "    ops.prim.RaiseException(\"__setstate__ ran\")\n";

    /** Every code file given a __setstate__ that raises; linear.py renamed linear.PY. */
    private static Path setstateEverywhere(Path out) throws IOException {
        Map<String, byte[]> entries = WeightStoreTest.readZip(Fixtures.file("vit-jit.pt"));
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
            if (e.getKey().contains("/code/") && e.getKey().endsWith(".py")) {
                e.setValue((new String(e.getValue(), StandardCharsets.UTF_8) + SETSTATE).getBytes(StandardCharsets.UTF_8));
            }
        }
        String linear = "vit-jit/code/__torch__/torch/nn/modules/linear";
        entries.put(linear + ".PY", entries.remove(linear + ".py"));
        Files.write(out, TorchSaveWriter.storedZip(entries));
        return out;
    }

    private static Path withCode(String name, Path out) throws IOException {
        Map<String, byte[]> entries = WeightStoreTest.readZip(Fixtures.file("vit-jit.pt"));
        entries.put(name, ("class Linear(Module):" + SETSTATE).getBytes(StandardCharsets.UTF_8));
        Files.write(out, TorchSaveWriter.storedZip(entries));
        return out;
    }

    /** data.pkl's first GLOBAL (the top-level module class) replaced. */
    private static Path global(String replacement, Path out) throws IOException {
        return replaceInPickle("c__torch__.clip.clip_model\nCLIP\n", replacement, out);
    }

    /** The top-level module class called with REDUCE, as a function, instead of NEWOBJ. */
    private static Path calledClass(Path out) throws IOException {
        return replaceInPickle("CLIP\nq\u0000)\u0081", "CLIP\nq\u0000)R", out);
    }

    /** The top-level module's {@code training} flag made an empty list. */
    private static Path listAttribute(Path out) throws IOException {
        return replaceInPickle("training\u0071\u0013\u0089", "training\u0071\u0013]", out);
    }

    private static Path replaceInPickle(String from, String to, Path out) throws IOException {
        Map<String, byte[]> entries = WeightStoreTest.readZip(Fixtures.file("vit-jit.pt"));
        String pkl = new String(entries.get("vit-jit/data.pkl"), StandardCharsets.ISO_8859_1);
        assertEquals(1, pkl.split(java.util.regex.Pattern.quote(from), -1).length - 1, "pattern " + from);
        entries.put("vit-jit/data.pkl", pkl.replace(from, to).getBytes(StandardCharsets.ISO_8859_1));
        Files.write(out, TorchSaveWriter.storedZip(entries));
        return out;
    }

    private static String pickleName(Map<String, byte[]> entries) {
        return entries.keySet().stream().filter(k -> k.endsWith("/data.pkl")).findFirst().orElseThrow();
    }

    /** The view of visual.proj: the only [128, 64] tensor of the fixtures' ViT. */
    private static PickleViews.View proj(byte[] pkl) {
        List<PickleViews.View> views = PickleViews.find(pkl).values().stream()
                .filter(v -> v.size().size() == 2 && (Long) v.size().get(0).value() == 128
                        && (Long) v.size().get(1).value() == 64).toList();
        assertEquals(1, views.size());
        assertEquals(8192L, views.get(0).numel().value());
        return views.get(0);
    }

    private static void assertSameWeights(WeightStore w, Path reference) throws IOException {
        try (WeightStore ref = WeightStore.load(reference)) {
            assertEquals(List.copyOf(ref.names()), List.copyOf(w.names()));
            for (String n : ref.names()) {
                assertEquals(ref.get(n).dtype(), w.get(n).dtype(), n);
                assertArrayEquals(ref.get(n).shape(), w.get(n).shape(), n);
                assertEquals(ref.get(n).data(), w.get(n).data(), n);
            }
        }
    }

    /** Loads one file in a fresh JVM and prints the outcome and the process's peak resident set. */
    public static void main(String[] args) throws IOException {
        String outcome;
        try (WeightStore w = WeightStore.load(Path.of(args[0]))) {
            outcome = "loaded " + w.names().size() + " tensors";
        } catch (WeightFormatException e) {
            outcome = "refused: " + e.getMessage();
        }
        System.out.printf("peak RSS %.1f MB: %s%n", ProcessMemory.peak() / 1e6, outcome);
    }
}

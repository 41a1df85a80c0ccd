package org.clipsurgery.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.sun.net.httpserver.HttpServer;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Method;
import org.clipsurgery.engine.cpu.CpuFeatures;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.testing.Pngs;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.weights.DType;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line run in-process on the reference fixtures: every command, the
 * {@code --save-tensors} contract against the official implementation's outputs, valid PNGs, and
 * one-line errors with the right exit status.
 */
class CliTest {
    static Path fixtures;
    static Path vit;
    static Path image;
    static JsonObject reference;
    static List<String> texts;

    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {
        /** The error output as lines. */
        List<String> errLines() {
            return err.lines().filter(l -> !l.isBlank()).toList();
        }
    }

    @BeforeAll
    static void fixtures() throws IOException {
        fixtures = Fixtures.dir();
        vit = fixtures.resolve("vit.pt");
        image = fixtures.resolve("image.png");
        reference = JsonParser.parseString(Files.readString(fixtures.resolve("reference.json"))).getAsJsonObject();
        texts = new ArrayList<>();
        reference.getAsJsonArray("texts").forEach(t -> texts.add(t.getAsString()));
    }

    static Run run(Object... args) {
        String[] a = Stream.of(args).map(String::valueOf).toArray(String[]::new);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(a, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(code, out.toString(), err.toString());
    }

    static Run ok(Object... args) {
        Run r = run(args);
        assertEquals(0, r.code(), "exit status; stderr: " + r.err());
        return r;
    }

    /**
     * An error: the status, exactly one error line on stderr in the agreed form, no stack trace
     * (notes about the model, "clip-surgery: note: ...", may come before it).
     */
    static String fails(int status, Object... args) {
        Run r = run(args);
        assertEquals(status, r.code(), "exit status; stderr: " + r.err() + " stdout: " + r.out());
        List<String> lines = r.errLines().stream().filter(l -> !l.startsWith("clip-surgery: note: ")).toList();
        assertEquals(1, lines.size(), "one line on stderr, got: " + r.err());
        assertTrue(lines.get(0).startsWith("clip-surgery: error: "), lines.get(0));
        assertFalse(lines.get(0).contains("Exception"), "no exception class names: " + lines.get(0));
        return lines.get(0);
    }

    static BufferedImage png(Path file) throws IOException {
        assertTrue(Files.isRegularFile(file), file + " written");
        BufferedImage img = ImageIO.read(file.toFile());
        assertNotNull(img, file + " is a readable PNG");
        return img;
    }

    // ---- the --save-tensors contract ----------------------------------------------------------

    /**
     * {@code --method}: the same keys for every training-free method, {@code image_features} the
     * method's tokens and {@code similarity} its cosines, against each official code's output at 64
     * and 96 px (reference-methods.safetensors: the image, the text features, all tokens, the patch
     * rows of the similarity).
     */
    @Test
    void saveTensorsOfEveryMethodMatchItsOfficialCode() throws IOException {
        Map<String, HostTensor> ref = Safetensors.read(fixtures.resolve("reference-methods.safetensors"));
        for (int res : new int[] {64, 96}) {
            for (String method : new String[] {"sclip", "clearclip", "naclip", "maskclip", "gem", "plain"}) {
                if (method.equals("plain") && res != 64) continue; // the reference's keys
                String key = "vit." + res + "." + (method.equals("plain") ? "clip" : method), what = method + " at " + res;
                Path file = tmp.resolve(method + res + ".safetensors");
                ok("explain", "--model", vit, "--image", image, "--labels", "cat,dog,tv monitor", "--method", method,
                        "--resolution", res, "--out", tmp.resolve(method + res), "--save-tensors", file);
                Map<String, HostTensor> got = Safetensors.read(file);
                assertEquals(List.of("image", "image_features", "text_features", "similarity", "similarity_map"),
                        List.copyOf(got.keySet()), what + ": keys");
                close(what + " image", ref.get("vit." + res + ".image").toFloatArray(), got.get("image").toFloatArray());
                close(what + " text_features", ref.get("vit." + res + ".text_features").toFloatArray(), got.get("text_features").toFloatArray());
                close(what + " image_features", ref.get(key + ".tokens").toFloatArray(), got.get("image_features").toFloatArray());
                float[] sim = got.get("similarity").toFloatArray();
                close(what + " similarity", ref.get(key + ".similarity").toFloatArray(), java.util.Arrays.copyOfRange(sim, 3, sim.length));
            }
        }
        Run bad = run("explain", "--model", vit, "--image", image, "--labels", "cat", "--method", "dino", "--out", tmp);
        assertEquals(2, bad.code(), bad.err());
        // MaskCLIP with its official mmseg numerics: the tokens of the maskclip_mmcfg key
        Path mm = tmp.resolve("mmseg.safetensors");
        ok("explain", "--model", vit, "--image", image, "--labels", "cat", "--method", "maskclip", "--activation", "gelu",
                "--layer-norm-eps", "1e-6", "--resolution", 96, "--out", tmp.resolve("mmseg"), "--save-tensors", mm);
        close("maskclip mmseg image_features", ref.get("vit.96.maskclip_mmcfg.tokens").toFloatArray(),
                Safetensors.read(mm).get("image_features").toFloatArray());
        Run eps = run("explain", "--model", vit, "--image", image, "--labels", "cat", "--layer-norm-eps", "1", "--out", tmp);
        assertEquals(2, eps.code(), eps.err());
        assertTrue(eps.err().contains("--layer-norm-eps must be in [0, 1)"), eps.err());
    }

    @Test
    void saveTensorsMatchesTheOfficialImplementation() throws IOException {
        Path file = tmp.resolve("t.safetensors");
        Path out = tmp.resolve("pics");
        // A combined target adds an overlay but no column: T is the distinct single labels.
        Run run = ok("explain", "--model", vit, "--image", image, "--labels", String.join(",", texts) + ",person+bench",
                "--resolution", 64, "--out", out, "--save-tensors", file);
        Map<String, HostTensor> got = Safetensors.read(file);
        assertEquals(List.of("image", "image_features", "text_features", "similarity", "similarity_map"),
                List.copyOf(got.keySet()), "keys");
        Map<String, HostTensor> ref = Safetensors.read(fixtures.resolve("reference-vit.safetensors"));
        String[][] keys = {
            {"image", "image"}, {"image_features", "surgery_image_features"}, {"text_features", "text_features"},
            {"similarity", "similarity"}, {"similarity_map", "similarity_map"}};
        for (String[] k : keys) {
            HostTensor t = got.get(k[0]);
            HostTensor r = ref.get("vit.64." + k[1]);
            assertEquals(DType.F32, t.dtype(), k[0] + " dtype");
            assertArrayEquals(r.shape(), t.shape(), k[0] + " shape");
            close(k[0], r.toFloatArray(), t.toFloatArray());
        }
        assertArrayEquals(new long[] {1, 3, 64, 64}, got.get("image").shape());
        assertArrayEquals(new long[] {1, 375, 500, 7}, got.get("similarity_map").shape());

        JsonArray points = JsonParser.parseString(Files.readString(TensorDump.pointsFile(file))).getAsJsonArray();
        assertEquals(1, points.size(), "one object per image");
        JsonObject expected = reference.getAsJsonObject("vit").getAsJsonObject("64");
        JsonObject actual = points.get(0).getAsJsonObject();
        assertEquals(Set.copyOf(texts), actual.keySet(), "one entry per label");
        for (String label : texts) {
            JsonObject want = expected.getAsJsonObject(label);
            JsonObject have = actual.getAsJsonObject(label);
            assertEquals(want.get("points"), have.get("points"), label + " points");
            assertEquals(want.get("labels"), have.get("labels"), label + " labels");
        }
        assertEquals(texts.size(), actual.keySet().size());

        // The pictures and the summary line of the same run.
        List<String> lines = run.out().lines().toList();
        assertEquals(1, lines.size(), run.out());
        assertTrue(lines.get(0).startsWith(image + " 500x375: "), lines.get(0));
        assertTrue(lines.get(0).contains("(3 more)"), "top 5 of 8 targets: " + lines.get(0));
        float[] maps = got.get("similarity_map").toFloatArray();
        for (String target : List.of("person", "potted plant", "sky", "person+bench")) {
            String name = Outputs.safe(target);
            BufferedImage overlay = png(out.resolve("image." + name + ".png"));
            assertEquals(500, overlay.getWidth());
            assertEquals(375, overlay.getHeight());
            BufferedImage raw = png(out.resolve("image." + name + ".map.png"));
            assertEquals(500, raw.getWidth());
            assertEquals(375, raw.getHeight());
            assertEquals(16, raw.getColorModel().getPixelSize(), "16-bit grey");
            if (target.contains("+")) continue;
            // The raw map is the saved similarity_map to 16 bits; the overlay is the demo's blend.
            int t = texts.indexOf(target);
            BufferedImage photo = ImageIO.read(image.toFile());
            for (int y = 0; y < 375; y += 7) {
                for (int x = 0; x < 500; x += 5) {
                    float v = maps[(y * 500 + x) * texts.size() + t];
                    assertEquals(v, raw.getRaster().getSample(x, y, 0) / 65535f, 0.6f / 65535, target + " raw");
                    int heat = org.clipsurgery.post.Overlay.jet(org.clipsurgery.post.Overlay.level(v));
                    int src = photo.getRGB(x, y);
                    int o = overlay.getRGB(x, y);
                    for (int sh = 0; sh <= 16; sh += 8) {
                        int want = (int) (((src >> sh) & 0xff) * 0.4 + ((heat >> sh) & 0xff) * 0.6);
                        assertEquals(want, (o >> sh) & 0xff, target + " overlay at " + x + "," + y);
                    }
                }
            }
        }
    }

    @Test
    void saveTensorsBatchesImagesAndKeepsEachImagesValues() throws IOException {
        Path file = tmp.resolve("b.safetensors");
        // Three images in batches of two: a full batch and a partial one.
        Run r = ok("classify", "-m", vit, "-i", image, image, image, "-l", String.join(",", texts), "-r", 64,
                "--batch", 2, "--save-tensors", file);
        Map<String, HostTensor> got = Safetensors.read(file);
        Map<String, HostTensor> ref = Safetensors.read(fixtures.resolve("reference-vit.safetensors"));
        assertArrayEquals(new long[] {3, 3, 64, 64}, got.get("image").shape());
        assertArrayEquals(new long[] {3, 65, 64}, got.get("image_features").shape());
        assertArrayEquals(new long[] {7, 64}, got.get("text_features").shape());
        assertArrayEquals(new long[] {3, 65, 7}, got.get("similarity").shape());
        assertArrayEquals(new long[] {3, 375, 500, 7}, got.get("similarity_map").shape());
        for (String key : new String[] {"similarity", "image_features"}) {
            float[] all = got.get(key).toFloatArray();
            String refKey = key.equals("image_features") ? "surgery_image_features" : key;
            float[] one = ref.get("vit.64." + refKey).toFloatArray();
            for (int b = 0; b < 3; b++) {
                float[] slice = java.util.Arrays.copyOfRange(all, b * one.length, (b + 1) * one.length);
                close(key + "[" + b + "]", one, slice);
            }
        }
        JsonArray points = JsonParser.parseString(Files.readString(TensorDump.pointsFile(file))).getAsJsonArray();
        assertEquals(3, points.size());

        // classify's table: per image a heading, a header row and the labels by score, aligned.
        List<String> lines = r.out().lines().toList();
        assertEquals(3 * (2 + texts.size()) + 2, lines.size(), r.out());
        assertEquals(image + " (500x375)", lines.get(0));
        assertTrue(lines.get(1).contains("rank") && lines.get(1).contains("label") && lines.get(1).contains("score"));
        double previous = Double.POSITIVE_INFINITY;
        int column = lines.get(2).length();
        for (String row : lines.subList(2, 2 + texts.size())) {
            assertEquals(column, row.length(), "aligned: " + row);
            double score = Double.parseDouble(row.substring(row.lastIndexOf(' ') + 1));
            assertTrue(score <= previous, "highest first");
            previous = score;
        }
    }

    @Test
    void redundantEmptyModeAndClassifyJson() throws IOException {
        Path file = tmp.resolve("r.safetensors");
        Run j = ok("classify", "-m", vit, "-i", image, "-l", String.join(",", texts), "-r", 64, "--json",
                "--redundant", "empty", "--save-tensors", file);
        float[] expected = Safetensors.read(fixtures.resolve("reference-vit.safetensors"))
                .get("vit.64.similarity_redundant").toFloatArray();
        close("similarity", expected, Safetensors.read(file).get("similarity").toFloatArray());
        JsonObject o = JsonParser.parseString(j.out()).getAsJsonArray().get(0).getAsJsonObject();
        assertEquals(image.toString(), o.get("image").getAsString());
        assertEquals(500, o.get("width").getAsInt());
        assertEquals(375, o.get("height").getAsInt());
        JsonObject scores = o.getAsJsonObject("scores");
        assertEquals(texts, List.copyOf(scores.keySet()));
        // Scores are the class token's similarity (token 0).
        for (int t = 0; t < texts.size(); t++) {
            assertEquals(expected[t], scores.get(texts.get(t)).getAsFloat(), 1e-4 + 1e-3 * Math.abs(expected[t]),
                    texts.get(t));
        }
    }

    @Test
    void saveTensorsRefusesImagesOfDifferentSizes() throws IOException {
        Path small = tmp.resolve("small.png");
        ImageIO.write(new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB), "png", small.toFile());
        // Found from the headers, before the model loads.
        String line = fails(2, "explain", "-m", garbageModel(), "-i", image, small, "-l", "person,sky", "-r", 64,
                "-o", tmp, "--save-tensors", tmp.resolve("x.safetensors"));
        assertTrue(line.contains("one size") && line.contains("500x375") && line.contains("40x30"), line);
        assertFalse(Files.exists(tmp.resolve("x.safetensors")));
    }

    // ---- the commands --------------------------------------------------------------------------

    @Test
    void segmentWritesALabelMapWithLegendAndIndices() throws IOException {
        Path out = tmp.resolve("seg");
        Path tensors = tmp.resolve("seg.safetensors");
        Run r = ok("segment", "-m", vit, "-i", image, "-l", "person,bench,sky", "-r", 64, "-o", out, "-t", "0.9",
                "--save-tensors", tensors);
        assertTrue(r.out().startsWith(image + " 500x375: "), r.out());
        BufferedImage pic = png(out.resolve("image.segment.png"));
        assertTrue(pic.getWidth() > 500, "legend to the right");
        assertEquals(375, pic.getHeight(), "the legend fits beside the image");
        BufferedImage ids = png(out.resolve("image.labels.png"));
        assertEquals(500, ids.getWidth());
        assertEquals(375, ids.getHeight());
        // A palette PNG: the pixel values are the label indices of the label map, the palette the
        // picture's colours, 255 the background.
        float[] sim = Safetensors.read(tensors).get("similarity").toFloatArray();
        org.clipsurgery.post.LabelMap expected = org.clipsurgery.post.LabelMap.compute(sim, 1, sim.length / 3, 3, 375, 500, 0.9f);
        int[] back = new int[500];
        int background = 0;
        for (int y = 0; y < 375; y++) {
            ids.getRaster().getSamples(0, y, 500, 1, 0, back);
            for (int x = 0; x < 500; x++) {
                int want = expected.label(0, y, x);
                assertEquals(want == org.clipsurgery.post.LabelMap.BACKGROUND ? 255 : want, back[x], "at " + x + "," + y);
                if (back[x] == 255) background++;
            }
        }
        assertTrue(background > 0, "threshold 0.9 leaves some background");
        assertTrue(ids.getColorModel() instanceof java.awt.image.IndexColorModel, "indexed PNG");
        java.awt.image.IndexColorModel palette = (java.awt.image.IndexColorModel) ids.getColorModel();
        int[] colours = org.clipsurgery.post.Overlay.palette(3);
        for (int t = 0; t < 3; t++) assertEquals(colours[t], palette.getRGB(t) & 0xffffff, "palette entry " + t);
        assertEquals(org.clipsurgery.post.Overlay.BACKGROUND_RGB, palette.getRGB(255) & 0xffffff);
        // The shares printed: largest first, background included, adding up to the whole image.
        double sum = 0;
        double previous = 101;
        List<String> names = new ArrayList<>();
        for (String part : r.out().strip().substring(r.out().indexOf(": ") + 2).split(", ")) {
            double share = Double.parseDouble(part.substring(part.lastIndexOf(' ') + 1, part.length() - 1));
            assertTrue(share <= previous, "sorted by share: " + r.out());
            previous = share;
            sum += share;
            names.add(part.substring(0, part.lastIndexOf(' ')));
        }
        assertTrue(names.contains("background"), r.out());
        assertEquals(100, sum, 0.5);
        assertEquals(background / 1875.0, Double.parseDouble(r.out().replaceAll("(?s).*background ([0-9.]+)%.*", "$1")),
                0.051, "background share");
    }

    @Test
    void labelPngIsIndexedUpTo255LabelsAnd16BitBeyond() throws IOException {
        int[] ids = {0, 1, 254, -1, 7, 3};
        Path small = tmp.resolve("small.labels.png");
        Outputs.labelPng(LabelMap.ofIndices(ids, 1, 2, 3, 255), 0, small);
        BufferedImage img = png(small);
        assertTrue(img.getColorModel() instanceof java.awt.image.IndexColorModel);
        int[] back = img.getRaster().getSamples(0, 0, 3, 2, 0, new int[6]);
        assertArrayEquals(new int[] {0, 1, 254, 255, 7, 3}, back);
        Path wide = tmp.resolve("wide.labels.png");
        Outputs.labelPng(LabelMap.ofIndices(new int[] {300, -1}, 1, 1, 2, 301), 0, wide);
        BufferedImage w = png(wide);
        assertEquals(16, w.getColorModel().getPixelSize());
        assertArrayEquals(new int[] {300, 65535}, w.getRaster().getSamples(0, 0, 2, 1, 0, new int[2]));
    }

    @Test
    void pointsPrintsJsonAndDrawsThem() throws IOException {
        Path out = tmp.resolve("pts");
        Run r = ok("points", "-m", vit, "-i", image, "-l", String.join(",", texts), "-r", 64, "-o", out,
                "--target", "person,sky,person + bench");
        JsonArray arr = JsonParser.parseString(r.out()).getAsJsonArray();
        assertEquals(1, arr.size());
        JsonObject obj = arr.get(0).getAsJsonObject();
        assertEquals(List.of("person", "sky", "person+bench"), List.copyOf(obj.keySet()));
        JsonObject expected = reference.getAsJsonObject("vit").getAsJsonObject("64");
        assertEquals(expected.get("person"), obj.get("person"));
        assertEquals(expected.get("sky"), obj.get("sky"));
        BufferedImage pic = png(out.resolve("image.person.points.png"));
        assertEquals(500, pic.getWidth());
        assertEquals(375, pic.getHeight());
        // Positives are drawn green, negatives red, at the JSON's coordinates.
        JsonArray xy = obj.getAsJsonObject("person").getAsJsonArray("points");
        JsonArray labels = obj.getAsJsonObject("person").getAsJsonArray("labels");
        for (int i = 0; i < xy.size(); i++) {
            JsonArray p = xy.get(i).getAsJsonArray();
            int rgb = pic.getRGB(p.get(0).getAsInt(), p.get(1).getAsInt());
            assertEquals(labels.get(i).getAsInt() == 1 ? 0x00c800 : 0xe60000, rgb & 0xffffff, "point " + i);
        }
        png(out.resolve("image.sky.points.png"));

        JsonObject combined = obj.getAsJsonObject("person+bench");
        assertTrue(combined.getAsJsonArray("points").size() > 0);
        png(out.resolve("image.person+bench.points.png"));
        // A combined target: positives first, as the help says, and each pixel once.
        JsonArray cl = combined.getAsJsonArray("labels");
        JsonArray cp = combined.getAsJsonArray("points");
        assertEquals(cp.size(), cl.size());
        assertEquals(1, cl.get(0).getAsInt(), "a positive first: " + combined);
        for (int i = 1; i < cl.size(); i++) assertTrue(cl.get(i).getAsInt() <= cl.get(i - 1).getAsInt(), "1s then 0s");
        assertEquals(cp.size(), cp.asList().stream().map(Object::toString).distinct().count(), "no pixel twice");
        assertEquals("", r.err().lines().filter(l -> l.contains("warning")).findAny().orElse(""), "nothing degenerate");
    }

    @Test
    void pointsWarnsAboutDegenerateTargetsAndSkipsThemOnRequest() throws IOException {
        // ResNet at 64 px: a 2×2 grid down-sampled to one cell. Deviation from the official code
        // (README): it gives one point and no labels (the reference fixtures record that); the C
        // API's rule gives no point.
        Path rn = fixtures.resolve("rn.pt");
        Path out = tmp.resolve("deg");
        Run r = ok("points", "-m", rn, "-i", image, "-l", "person,sky", "-r", 64, "-o", out);
        List<String> warnings = r.errLines().stream().filter(l -> l.startsWith("clip-surgery: warning: ")).toList();
        assertEquals(2, warnings.size(), r.err());
        assertTrue(warnings.get(0).contains("'person': degenerate points (no point")
                && warnings.get(0).contains("--skip-degenerate"), warnings.get(0));
        JsonObject obj = JsonParser.parseString(r.out()).getAsJsonArray().get(0).getAsJsonObject();
        JsonObject official = reference.getAsJsonObject("rn").getAsJsonObject("64").getAsJsonObject("person");
        assertEquals(1, official.getAsJsonArray("points").size(), "the official rank[-0:] quirk: every cell");
        assertEquals(0, official.getAsJsonArray("labels").size());
        assertEquals("{\"points\":[],\"labels\":[]}", obj.get("person").toString(), "the deviation: no point");
        png(out.resolve("image.person.points.png"));

        Path skipped = tmp.resolve("skipped");
        Run s = ok("points", "-m", rn, "-i", image, "-l", "person,sky", "-r", 64, "-o", skipped, "--skip-degenerate");
        assertEquals(2, s.errLines().stream().filter(l -> l.contains("warning") && l.endsWith("left out")).count(), s.err());
        assertEquals(0, JsonParser.parseString(s.out()).getAsJsonArray().get(0).getAsJsonObject().size(), s.out());
        assertFalse(Files.exists(skipped.resolve("image.person.points.png")));
    }

    @Test
    void manifestSaysWhichFilesBelongToWhichInput() throws IOException {
        // Two inputs named image.png in different folders: numbered prefixes, a note, the manifest.
        Path a = Files.createDirectories(tmp.resolve("a")).resolve("image.png");
        Path b = Files.createDirectories(tmp.resolve("b")).resolve("image.png");
        Files.copy(image, a);
        Files.copy(image, b);
        Path out = tmp.resolve("maps");
        Path manifest = tmp.resolve("m/manifest.json");
        Run r = ok("explain", "-m", vit, "-i", a, b, "-l", "person,sky", "-r", 64, "-o", out, "--manifest", manifest);
        List<String> notes = r.errLines().stream().filter(l -> l.contains("numbered")).toList();
        assertEquals(List.of("clip-surgery: note: inputs with the same name are numbered: " + a + " -> image-1.*, "
                + b + " -> image-2.*"), notes);
        JsonObject m = JsonParser.parseString(Files.readString(manifest)).getAsJsonObject();
        assertEquals("explain", m.get("command").getAsString());
        JsonArray imgs = m.getAsJsonArray("images");
        assertEquals(2, imgs.size());
        int count = 0;
        for (int i = 0; i < 2; i++) {
            JsonObject o = imgs.get(i).getAsJsonObject();
            assertEquals((i == 0 ? a : b).toString(), o.get("image").getAsString());
            assertEquals("image-" + (i + 1), o.get("prefix").getAsString());
            for (var f : o.getAsJsonArray("files")) {
                JsonObject e = f.getAsJsonObject();
                Path p = Path.of(e.get("path").getAsString());
                assertTrue(Files.isRegularFile(p), p + " exists");
                assertTrue(p.getFileName().toString().startsWith("image-" + (i + 1) + "." + Outputs.safe(
                        e.get("target").getAsString()) + "."), p.toString());
                assertTrue(Set.of("overlay", "map").contains(e.get("kind").getAsString()));
                count++;
            }
        }
        assertEquals(2 * 2 * 2, count, "overlay and map per image and target");
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(count, files.count(), "every file written is listed");
        }
        assertEquals(0, m.getAsJsonArray("files").size());

        // segment's kinds and --save-tensors' files; classify lists only the run's files.
        Path seg = tmp.resolve("seg.json");
        ok("segment", "-m", vit, "-i", image, "-l", "person,sky", "-r", 64, "-o", tmp.resolve("s"), "--manifest", seg,
                "--save-tensors", tmp.resolve("t.safetensors"));
        JsonObject sm = JsonParser.parseString(Files.readString(seg)).getAsJsonObject();
        assertEquals("[{\"kind\":\"segment\",\"path\":\"" + tmp.resolve("s/image.segment.png") + "\"},"
                + "{\"kind\":\"labels\",\"path\":\"" + tmp.resolve("s/image.labels.png") + "\"}]",
                sm.getAsJsonArray("images").get(0).getAsJsonObject().getAsJsonArray("files").toString());
        assertEquals(2, sm.getAsJsonArray("files").size());
        Path cls = tmp.resolve("c.json");
        ok("classify", "-m", vit, "-i", image, "-l", "person,sky", "-r", 64, "--manifest", cls);
        JsonObject cm = JsonParser.parseString(Files.readString(cls)).getAsJsonObject();
        assertFalse(cm.getAsJsonArray("images").get(0).getAsJsonObject().has("prefix"));
        assertTrue(fails(2, "classify", "-m", vit, "-i", image, "-l", "a", "--manifest", tmp).contains("--manifest"));
    }

    @Test
    void labelsFileSkipsCommentsAndBlankLines() throws IOException {
        Path labels = tmp.resolve("labels.txt");
        Files.writeString(labels, "# PASCAL Context, two of them\n\nperson\n   # an indented comment\n  sky  \n\n");
        Run r = ok("classify", "-m", vit, "-i", image, "--labels-file", labels, "-r", 64, "--json");
        JsonObject scores = JsonParser.parseString(r.out()).getAsJsonArray().get(0).getAsJsonObject()
                .getAsJsonObject("scores");
        assertEquals(List.of("person", "sky"), List.copyOf(scores.keySet()));
        assertEquals(List.of("a", "b+c"), ImageInputs.labelLines(List.of("#x", "a", " ", "\t# y", "b+c")));
    }

    @Test
    void mistypedNamesGetSuggestions() throws IOException {
        String line = fails(2, "explain", "-m", "ViT-B/17", "-i", image, "-l", "person");
        assertTrue(line.contains("neither a model file nor a known model name; did you mean ViT-B/16?"), line);
        assertTrue(fails(2, "classify", "-m", "vit-b-16", "-i", image, "-l", "person").contains("did you mean ViT-B/16?"));
        assertTrue(fails(2, "download", "RN50x").contains("unknown model 'RN50x'; did you mean RN50 or RN50x4?"));
        assertFalse(fails(2, "classify", "-m", "bert-base", "-i", image, "-l", "person").contains("did you mean"));
        // A model path with a typo in the file name: a close file in the same folder.
        Files.copy(vit, tmp.resolve("vit-b16.pt"));
        line = fails(2, "classify", "-m", tmp.resolve("vit-b61.pt"), "-i", image, "-l", "person");
        assertTrue(line.contains("did you mean '" + tmp.resolve("vit-b16.pt") + "'?"), line);
        // Labels and templates files.
        Files.writeString(tmp.resolve("labels.txt"), "person\n");
        Files.writeString(tmp.resolve("templates.txt"), "a photo of a {}.\n");
        line = fails(2, "classify", "-m", vit, "-i", image, "--labels-file", tmp.resolve("lables.txt"));
        assertTrue(line.endsWith("labels file '" + tmp.resolve("lables.txt") + "' not found; did you mean '"
                + tmp.resolve("labels.txt") + "'?"), line);
        line = fails(2, "classify", "-m", vit, "-i", image, "-l", "a", "--templates", tmp.resolve("template.txt"));
        assertTrue(line.contains("did you mean '" + tmp.resolve("templates.txt") + "'?"), line);
        line = fails(2, "classify", "-m", vit, "-i", image, "-l", "a", "--templates", tmp.resolve("other.txt"));
        assertFalse(line.contains("did you mean"), line);
        line = fails(2, "classify", "-m", vit, "-i", tmp.resolve("imgae.png"), "-l", "a");
        assertFalse(line.contains("did you mean"), "no close file: " + line);
        Files.copy(image, tmp.resolve("image.png"));
        line = fails(2, "classify", "-m", vit, "-i", tmp.resolve("imgae.png"), "-l", "a");
        assertTrue(line.contains("did you mean '" + tmp.resolve("image.png") + "'?"), line);
    }

    @Test
    void editDistance() {
        assertEquals(0, Suggest.distance("", ""));
        assertEquals(1, Suggest.distance("ab", "ba"), "a swap is one edit");
        assertEquals(3, Suggest.distance("kitten", "sitting"));
        List<String> names = List.of("RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B/32", "ViT-B/16");
        assertEquals(List.of("RN50", "RN50x4"), Suggest.closest("rn50x", names));
        assertEquals(List.of("ViT-B/16"), Suggest.closest("ViT-B/1", names));
        assertEquals(List.of("ViT-B/32", "ViT-B/16"), Suggest.closest("ViT-B/", names));
        assertEquals(List.of(), Suggest.closest("bert", names));
        assertEquals("; did you mean RN101?", Suggest.didYouMean("RN10l", names));
    }

    @Test
    void templatesFileChangesThePrompts() throws IOException {
        Path templates = tmp.resolve("templates.txt");
        Files.writeString(templates, "a photo of a {}.\n\nitap of the {}.\n");
        Path file = tmp.resolve("t.safetensors");
        // points with --json FILE and --no-pictures: nothing on stdout, no pictures folder.
        Path json = tmp.resolve("p.json");
        Run r = ok("points", "-m", vit, "-i", image, "-l", "person,sky", "-r", 64, "--templates", templates,
                "--save-tensors", file, "--json", json, "--no-pictures", "-o", tmp.resolve("none"));
        assertEquals("", r.out());
        assertFalse(Files.exists(tmp.resolve("none")));
        JsonArray points = JsonParser.parseString(Files.readString(json)).getAsJsonArray();
        assertEquals(JsonParser.parseString(Files.readString(TensorDump.pointsFile(file))), points,
                "the same points as --save-tensors writes");
        float[] expected;
        try (ClipSurgery cs = ClipSurgery.open(vit, new ClipSurgery.Options().optResolution(64)
                .optTemplates(List.of("a photo of a {}.", "itap of the {}.")))) {
            LabelSet ls = cs.labels("person", "sky");
            expected = ls.textFeatures();
        }
        close("text_features", expected, Safetensors.read(file).get("text_features").toFloatArray());

        Path bad = tmp.resolve("bad.txt");
        Files.writeString(bad, "no placeholder here\n");
        String line = fails(2, "classify", "-m", vit, "-i", image, "-l", "person", "--templates", bad);
        assertTrue(line.contains("line 1") && line.contains("placeholder"), line);
    }

    @Test
    void convertWritesTheSameWeightsAsSafetensors() throws IOException {
        Path out = tmp.resolve("sub/vit.safetensors");
        Run r = ok("convert", "--model", vit, "--output", out);
        assertTrue(r.out().contains("134 tensors"), r.out());
        try (WeightStore a = WeightStore.load(vit); WeightStore b = WeightStore.load(out)) {
            assertEquals(a.names(), b.names());
            assertEquals(a.config(), b.config());
            for (String n : a.names()) {
                assertEquals(a.get(n).dtype(), b.get(n).dtype(), n);
                assertEquals(a.get(n).data(), b.get(n).data(), n);
            }
        }
    }

    @Test
    void downloadListsNamesAndReportsFailuresInOneLine() throws IOException {
        Run r = ok("download", "--list");
        assertEquals(9, r.out().lines().count());
        assertTrue(r.out().contains("ViT-B/16  https://"), r.out());

        assertTrue(fails(2, "download", "ViT-B/17").contains("unknown model 'ViT-B/17'"));
        assertTrue(fails(2, "download").contains("--list"));

        // A mirror that serves the wrong bytes: the checksum fails and nothing stays in the cache;
        // one that answers 404: the URL is named.
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", ex -> {
            byte[] body = "not a checkpoint".getBytes(StandardCharsets.UTF_8);
            boolean missing = ex.getRequestURI().getPath().endsWith("RN101.pt");
            ex.sendResponseHeaders(missing ? 404 : 200, missing ? -1 : body.length);
            if (!missing) {
                try (OutputStream o = ex.getResponseBody()) {
                    o.write(body);
                }
            }
            ex.close();
        });
        server.start();
        try {
            String mirror = "http://127.0.0.1:" + server.getAddress().getPort();
            Path cache = tmp.resolve("cache");
            String bad = fails(1, "download", "--cache", cache, "--mirror", mirror, "RN50");
            assertTrue(bad.toLowerCase().contains("sha-256") || bad.toLowerCase().contains("checksum"), bad);
            try (Stream<Path> files = Files.exists(cache) ? Files.list(cache) : Stream.empty()) {
                assertTrue(files.noneMatch(f -> f.getFileName().toString().equals("RN50.pt")), "no bad file cached");
            }
            String missing = fails(1, "download", "--cache", cache, "--mirror", mirror, "CS-RN101");
            assertTrue(missing.contains("404"), missing);
        } finally {
            server.stop(0);
        }
    }

    @Test
    void benchRunsOnAGivenModel() {
        Run r = ok("bench", "--model", vit, "--resolutions", 64, "--batches", 1, "--iterations", 1);
        assertTrue(r.out().contains("| case | median ms | min ms | peak RSS growth MB |"), r.out());
        assertTrue(r.out().contains("| label ensemble 59 × 85 |"), r.out());
        assertTrue(r.out().contains("| image → 59 maps 480×640, 64 px, batch 1 |"), r.out());
        assertTrue(r.out().contains("model " + vit), r.out());
        // no GPU here: the CUDA benchmark says why it cannot run (CudaRuntime's message), nothing crashes
        assertTrue(fails(1, "bench", "--device", "cuda").contains("CUDA"));
        assertTrue(fails(2, "bench", "--device", "cuda", "--model", vit).contains("--device cuda"));
        assertTrue(fails(2, "bench", "--iterations", 0).contains("--iterations"));
    }

    /** {@code compare}: one picture with a column per method and a row per label, and each method's scores, as the library gives them. */
    @Test
    void compareDrawsEveryMethodSideBySideAndPrintsTheirScores() throws IOException {
        Path out = tmp.resolve("cmp");
        Run r = ok("compare", "--model", vit, "--image", image, "--labels", "cat,dog", "--resolution", 64, "--cell", 64, "--out", out);
        BufferedImage pic = png(out.resolve("image.compare.png"));
        assertEquals(120 + 7 * 64, pic.getWidth(), "a label column and 7 methods");
        assertEquals(28 + 2 * 48, pic.getHeight(), "a header and 2 labels of 64x48 (the image's 4:3)");
        for (Method m : Method.values()) {
            try (ClipSurgery cs = ClipSurgery.open(vit, new ClipSurgery.Options().optMethod(m).optResolution(64))) {
                Map<String, Float> scores = cs.explain(image, cs.labels("cat", "dog")).scores();
                String row = String.format(java.util.Locale.ROOT, "| %s | %.4f | %.4f |", m.name().toLowerCase(java.util.Locale.ROOT),
                        scores.get("cat"), scores.get("dog"));
                assertTrue(r.out().contains(row), row + " in " + r.out());
            }
        }
        assertTrue(fails(2, "compare", "--model", vit, "--image", image, "--labels", "cat", "--methods", "dino").contains("unknown method"));
        // the image commands' inputs: a labels file, the pixel limit, a missing image
        Path labelsFile = tmp.resolve("cmp-labels.txt");
        Files.writeString(labelsFile, "# animals\ncat\n\ndog\n");
        Path two = tmp.resolve("cmp2");
        ok("compare", "--model", vit, "--image", image, "--labels-file", labelsFile, "--methods", "gem,plain", "--resolution", 64,
                "--cell", 64, "--out", two);
        BufferedImage small = png(two.resolve("image.compare.png"));
        assertEquals(120 + 2 * 64, small.getWidth(), "a label column and 2 methods");
        assertEquals(28 + 2 * 48, small.getHeight(), "the file's 2 labels");
        assertTrue(fails(1, "compare", "--model", vit, "--image", image, "--labels", "cat", "--max-pixels", 187_499, "--out", two)
                .contains("--max-pixels raises the limit"));
        assertTrue(fails(2, "compare", "--model", vit, "--image", tmp.resolve("none.png"), "--labels", "cat", "--out", two)
                .contains("not found"));
    }

    @Test
    void benchTimesEveryMethod() {
        Run r = ok("bench", "--model", vit, "--resolutions", 64, "--batches", 1, "--iterations", 1, "--no-ensemble", "--methods", "all");
        assertTrue(r.out().contains("| image → 59 maps 480×640, 64 px, batch 1 |"), r.out()); // surgery: the row as before
        for (String m : new String[] {"sclip", "clearclip", "naclip", "maskclip", "gem", "plain"}) {
            assertTrue(r.out().contains("| image → 59 maps 480×640, 64 px, batch 1, " + m + " |"), m + ": " + r.out());
        }
        assertTrue(fails(2, "bench", "--model", vit, "--methods", "dino").contains("unknown method 'dino'"));
        assertTrue(fails(2, "bench", "--profile", "--methods", "gem").contains("--methods"));
    }

    @Test
    void benchProfilePrintsEveryStage() {
        Run r = ok("bench", "--profile", "--model", vit, "--resolutions", 32, "--batches", 1, "--iterations", 2);
        String out = r.out();
        assertTrue(out.contains("fp32 GEMM peak: "), out);
        assertTrue(out.contains("### 32 px, batch 1: image → 59 maps 480×640"), out);
        assertTrue(out.contains("| stage | mean ms | share | GFLOP | GFLOP/s | % of GEMM peak |"), out);
        for (String stage : org.clipsurgery.engine.Stages.ORDER) {
            assertTrue(out.contains("\n| " + stage + " |") || out.contains("\n| " + stage + " × "), stage + "\n" + out);
        }
        assertTrue(out.contains("| text side | — |"), out); // labels embedded before the measured runs
        assertTrue(out.contains("| **total** |"), out);
    }

    // ---- help, version and errors ----------------------------------------------------------------

    @Test
    void helpAndVersion() {
        Run r = ok("--help");
        for (String c : List.of("explain", "segment", "points", "classify", "convert", "download", "bench")) {
            assertTrue(r.out().contains("  " + c + " "), c + " listed");
            Run h = ok(c, "--help");
            assertTrue(h.out().contains("Usage: clip-surgery " + c), h.out());
        }
        Run e = ok("explain", "--help");
        for (String o : List.of("--model", "--image", "--labels", "--resolution", "--device", "--precision",
                "--templates", "--redundant", "--out", "--save-tensors", "--depth", "--threads", "--batch", "--max-pixels")) {
            assertTrue(e.out().contains(o), o);
        }
        Run v = ok("--version");
        assertTrue(v.out().startsWith("clip-surgery " + VersionProvider.projectVersion()), v.out());
        assertTrue(v.out().contains("native library "), v.out());
        assertEquals(2, run().code(), "no command");
    }

    @Test
    void userMistakesGiveOneLineAndStatusTwo() throws IOException {
        assertTrue(fails(2, "explain", "-m", vit, "-i", tmp.resolve("missing.png"), "-l", "person")
                .contains("missing.png' not found"));
        assertTrue(fails(2, "explain", "-m", "ViT-Q/99", "-i", image, "-l", "person")
                .contains("neither a model file nor a known model name"));
        assertTrue(fails(2, "explain", "-m", vit, "-i", image, "-l", "person", "-r", 70)
                .contains("multiple of 8"));
        assertTrue(fails(2, "explain", "-m", vit, "-i", image, "-l", "person", "-r", "abc")
                .contains("'--resolution'"));
        assertTrue(fails(2, "explain", "-m", vit, "-i", image, "-l", "person", "--device", "tpu")
                .contains("--device"));
        assertTrue(fails(2, "explain", "-m", vit, "-i", image, "-l", "person", "--redundant", "some")
                .contains("--redundant"));
        assertTrue(fails(2, "explain", "-m", vit, "-i", image, "-l", "person", "--frobnicate")
                .contains("Unknown option"));
        assertTrue(fails(2, "explain", "-m", vit, "-i", image).contains("no labels"));
        assertTrue(fails(2, "explain", "-m", vit, "-i", image, "-l", "person,,sky").contains("empty label"));
        assertTrue(fails(2, "explain", "-m", vit, "-i", image, "-l", "person", "--depth", 99, "-r", 64)
                .contains("depth"));
        assertTrue(fails(2, "points", "-m", vit, "-i", image, "-l", "person,sky", "--target", "dog")
                .contains("'dog' is not one of the labels"));
        assertTrue(fails(2, "explain", "-i", image, "-l", "person").contains("--model"));
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertTrue(fails(2, "explain", "-m", vit, "-i", image, "-l", "a", "-o", file).contains("not a folder"));
        // The CPU backend's precisions are a matter of the command (and of this CPU, for bf16),
        // found before the model loads.
        String fp16 = fails(2, "explain", "-m", garbageModel(), "-i", image, "-l", "person", "--precision", "fp16");
        assertTrue(fp16.contains("--precision fp16 needs --device cuda") && fp16.contains("fp32 or bf16"), fp16);
        assertTrue(fails(2, "bench", "--precision", "fp16").contains("--precision fp16 needs --device cuda"));
        if (CpuFeatures.bf16Refusal().isPresent()) { // this CPU has no bf16 dot products
            String bf16 = fails(2, "explain", "-m", garbageModel(), "-i", image, "-l", "person", "--precision", "bf16");
            assertTrue(bf16.contains("--precision bf16: bf16 on the CPU needs native bf16 dot products"), bf16);
            assertTrue(fails(2, "bench", "--precision", "bf16").contains("bf16 dot products"));
        }
        assertTrue(fails(2, "classify", "-m", vit, "-i", image, "-l", "a", "--max-pixels", 0).contains("--max-pixels"));
    }

    /** A model file that fails to load: an error about anything else shows the model was not opened. */
    Path garbageModel() throws IOException {
        return Files.writeString(tmp.resolve("garbage.pt"), "not a checkpoint");
    }

    @Test
    void everyImageIsCheckedBeforeTheModelLoads() throws IOException {
        Path notImage = Files.writeString(tmp.resolve("notes.png"), "not a png");
        byte[] png = Files.readAllBytes(image);
        Path truncated = Files.write(tmp.resolve("cut.png"), java.util.Arrays.copyOf(png, png.length / 2));
        Path model = garbageModel();
        // A file that is not an image, anywhere in the list (its header is read).
        String line = fails(1, "explain", "-m", model, "-i", image, image, notImage, "-l", "person", "--batch", 1,
                "-o", tmp);
        assertTrue(line.contains("notes.png: not an image"), line);
        // Pixel data cut short in the first batch (decoded in full before the model loads).
        line = fails(1, "classify", "-m", model, "-i", truncated, "-l", "person");
        assertTrue(line.contains("cut.png: cannot decode png image"), line);
        // Over the pixel limit: the header says 500x375 = 187500 pixels; the message names the option.
        line = fails(1, "classify", "-m", model, "-i", image, "-l", "person", "--max-pixels", 187_499);
        assertTrue(line.contains("500x375 = 187500 pixels is over the limit of 187499")
                && line.contains("--max-pixels raises the limit"), line);
        // A side longer than the model takes, from a header that claims 40000x10.
        Path wide = tmp.resolve("wide.png");
        Files.write(wide, Pngs.headerOnly(40_000, 10));
        line = fails(2, "classify", "-m", model, "-i", wide, "-l", "person");
        assertTrue(line.contains("40000x10") && line.contains("32768 pixels on a side"), line);
        // Raising the limit to the image's size lets it through.
        Run r = ok("classify", "-m", vit, "-i", image, "-l", "person,sky", "-r", 64, "--max-pixels", 187_500);
        assertTrue(r.out().contains("person"), r.out());
    }

    @Test
    void failuresWhileWorkingGiveOneLineAndStatusOne() throws IOException {
        Path notImage = Files.writeString(tmp.resolve("notes.png"), "not a png");
        assertTrue(fails(1, "explain", "-m", vit, "-i", notImage, "-l", "person", "-o", tmp)
                .contains("notes.png"));
        Path notModel = Files.writeString(tmp.resolve("model.pt"), "garbage");
        assertTrue(fails(1, "classify", "-m", notModel, "-i", image, "-l", "person").contains("model.pt"));
        // no GPU or driver here: the CUDA engine's own one-line reason
        assertTrue(fails(1, "explain", "-m", vit, "-i", image, "-l", "person", "--device", "cuda")
                .contains("CUDA"));

        // --debug adds the stack trace
        Run r = run("explain", "-m", vit, "-i", notImage, "-l", "person", "-o", tmp, "--debug");
        assertEquals(1, r.code());
        assertTrue(r.errLines().size() > 1 && r.err().contains("\tat "), r.err());
    }

    // ---- helpers ----------------------------------------------------------------------------------

    @Test
    void fileNamesAreSafeAndUnique() {
        assertEquals("potted_plant", Outputs.safe("potted plant"));
        assertEquals("a_b", Outputs.safe("a/b"));
        assertEquals("_..", Outputs.safe(".."));
        assertEquals("person+bench", Outputs.safe("person+bench"));
        assertEquals(List.of("a_b", "a_b-2", "A_B-3"), Outputs.uniqueNames(List.of("a b", "a/b", "A B")));
        assertEquals(List.of("x-1", "y", "x-3"),
                Outputs.uniqueStems(List.of(Path.of("a/x.png"), Path.of("y.jpg"), Path.of("b/x.jpg"))));
    }

    @Test
    void npyFilesAreWhatNumpyReads() throws IOException {
        float[] values = {0f, 0.5f, 1f, Float.NaN, -2.25f, 3e-7f};
        Path file = tmp.resolve("m.npy");
        Outputs.npy(values, new int[] {2, 3}, file);
        byte[] npy = Files.readAllBytes(file);
        assertEquals((byte) 0x93, npy[0]);
        assertEquals("NUMPY", new String(npy, 1, 5, StandardCharsets.US_ASCII));
        assertEquals(1, npy[6], "format version 1.0");
        assertEquals(0, npy[7]);
        int headerLen = (npy[8] & 0xff) | (npy[9] & 0xff) << 8;
        assertEquals(0, (10 + headerLen) % 64, "data aligned to 64 bytes");
        String header = new String(npy, 10, headerLen, StandardCharsets.US_ASCII);
        assertTrue(header.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), header);
        assertTrue(header.endsWith("\n"));
        ByteBuffer data = ByteBuffer.wrap(npy, 10 + headerLen, npy.length - 10 - headerLen)
                .order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(values.length * 4, data.remaining());
        float[] back = new float[values.length];
        data.asFloatBuffer().get(back);
        assertArrayEquals(values, back);
        Outputs.npy(new float[] {1, 2}, new int[] {2}, file);
        assertTrue(new String(Files.readAllBytes(file), StandardCharsets.US_ASCII).contains("'shape': (2,), }"));
    }

    /** 1e-4 absolute + 1e-3 relative, element-wise (the fixture README's tolerance). */
    static void close(String key, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, key + ": size");
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            if (!(err <= 1e-4 + 1e-3 * Math.abs(expected[i]))) {
                throw new AssertionError(key + "[" + i + "]: expected " + expected[i] + ", got " + actual[i]);
            }
        }
    }
}

package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.PixelLimitException;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The facade's contract: batching, outputs, and clear errors for bad input. */
class ClipSurgeryTest {
    static ClipSurgery cs;
    static RgbImage image;

    @BeforeAll
    static void open() throws Exception {
        cs = ClipSurgery.open(Fixtures.file("vit.pt"), new ClipSurgery.Options());
        image = Images.read(Fixtures.file("image.png"));
    }

    @AfterAll
    static void close() {
        if (cs != null) cs.close();
    }

    /** A second, different image: the fixture image flipped left-right. */
    static RgbImage flipped() {
        byte[] src = image.data(), out = new byte[src.length];
        int w = image.width(), h = image.height();
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                System.arraycopy(src, (y * w + x) * 3, out, (y * w + (w - 1 - x)) * 3, 3);
        return new RgbImage(w, h, out);
    }

    @Test
    void batchOfTwoEqualsTwoBatchesOfOne() {
        LabelSet labels = cs.labels("person", "bench", "sky");
        RgbImage other = flipped();
        List<Explanation> both = cs.explain(List.of(image, other), labels, Redundancy.LABELS);
        Explanation a = cs.explain(List.of(image), labels, Redundancy.LABELS).get(0);
        Explanation b = cs.explain(List.of(other), labels, Redundancy.LABELS).get(0);
        assertClose(a.similarity(), both.get(0).similarity());
        assertClose(b.similarity(), both.get(1).similarity());
        assertClose(a.imageFeatures(), both.get(0).imageFeatures());
        assertClose(b.imageFeatures(), both.get(1).imageFeatures());
        // the two images differ, so a per-batch mix-up would show
        assertTrue(maxDiff(a.similarity(), b.similarity()) > 1e-3);
    }

    @Test
    void labelSetsFromSavedFeaturesSkipTheTextEncoder() {
        LabelSet embedded = cs.labels("person+bench", "sky");
        LabelSet restored = cs.labels(List.of("person+bench", "sky"), embedded.textFeatures());
        assertEquals(embedded.labels(), restored.labels());
        assertEquals(embedded.targets(), restored.targets());
        Explanation a = cs.explain(List.of(image), embedded, Redundancy.LABELS).get(0);
        Explanation b = cs.explain(List.of(image), restored, Redundancy.LABELS).get(0);
        assertArrayEquals(a.similarity(), b.similarity(), 0f);
        assertArrayEquals(a.map("person+bench"), b.map("person+bench"), 0f);
        float[] f = embedded.textFeatures();
        assertThrows(IllegalArgumentException.class, () -> cs.labels(List.of("person", "bench"), f)); // 3 labels' rows for 2
        f[0] += 0.5f;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cs.labels(List.of("person+bench", "sky"), f));
        assertTrue(e.getMessage().contains("person") && e.getMessage().contains("norm"), e.getMessage());
    }

    @Test
    void outputsHaveTheImageSizeAndAreConsistent() {
        LabelSet labels = cs.labels("person", "bench", "person+bench");
        assertEquals(List.of("person", "bench"), labels.labels());
        Explanation e = cs.explain(List.of(image), labels, Redundancy.AUTO).get(0);
        float[] map = e.map("person");
        assertEquals(375 * 500, map.length);
        float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
        for (float v : map) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertTrue(min >= 0f && max <= 1f && max - min > 0.5f, "min-max map in [0,1]: " + min + ".." + max);
        assertEquals(375 * 500, e.map("person+bench").length);
        assertEquals(List.of("person", "bench", "person+bench"), List.copyOf(e.scores().keySet()));
        LabelMap lm = e.labelMap(0f);
        for (int y = 0; y < 375; y += 37) {
            for (int x = 0; x < 500; x += 41) {
                int best = e.maps().value(0, y, x, 0) >= e.maps().value(0, y, x, 1) ? 0 : 1;
                assertEquals(best, lm.label(0, y, x));
            }
        }
        assertTrue(e.points("person").size() > 0);
        assertTrue(e.points("person+bench").size() > 0);
    }

    @Test
    void badInputGivesClearExceptions(@TempDir Path tmp) throws Exception {
        assertThrows(IllegalArgumentException.class, () -> cs.labels(List.of()));
        assertThrows(IllegalArgumentException.class, () -> cs.labels("person", " "));
        assertThrows(IllegalArgumentException.class, () -> cs.labels("person+"));
        LabelSet labels = cs.labels("person");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cs.explain(List.of(image), labels, Redundancy.AUTO).get(0).map("dog"));
        assertTrue(e.getMessage().contains("dog"));
        assertThrows(IllegalArgumentException.class, () -> cs.explain(List.of(), labels, Redundancy.AUTO));
        assertThrows(IllegalArgumentException.class,
                () -> cs.explain(new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB), labels).points("nothing"));
        // resolution not a multiple of the patch size
        e = assertThrows(IllegalArgumentException.class,
                () -> ClipSurgery.open(Fixtures.file("vit.pt"), new ClipSurgery.Options().optResolution(100)));
        assertTrue(e.getMessage().contains("multiple of 8"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> ClipSurgery.open(Fixtures.file("vit.pt"), new ClipSurgery.Options().optSurgeryDepth(9)));
        // a label set from another model
        try (ClipSurgery other = ClipSurgery.open(Fixtures.file("vit.pt"), new ClipSurgery.Options())) {
            LabelSet foreign = other.labels("person");
            e = assertThrows(IllegalArgumentException.class, () -> cs.explain(List.of(image), foreign, Redundancy.AUTO));
            assertTrue(e.getMessage().contains("another model"));
        }
        // huge image
        RgbImage huge = new RgbImage(ClipSurgery.MAX_IMAGE_SIDE + 1, 1, new byte[(ClipSurgery.MAX_IMAGE_SIDE + 1) * 3]);
        assertThrows(IllegalArgumentException.class, () -> cs.explain(List.of(huge), labels, Redundancy.AUTO));
        // a missing or broken model file
        assertThrows(java.io.IOException.class, () -> ClipSurgery.open(tmp.resolve("none.pt"), new ClipSurgery.Options()));
        Path junk = Files.write(tmp.resolve("junk.pt"), new byte[] {1, 2, 3});
        assertThrows(java.io.IOException.class, () -> ClipSurgery.open(junk, new ClipSurgery.Options()));
        // a closed model
        ClipSurgery closed = ClipSurgery.open(Fixtures.file("vit.pt"), new ClipSurgery.Options());
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.labels("person"));
    }

    @Test
    void imageFilesOverThePixelLimitAreRefusedAndTheLimitCanBeRaised() throws Exception {
        Path file = Fixtures.file("image.png"); // 500x375 = 187500 pixels
        List<String> oneTemplate = List.of("{}"); // the text side is not what is tested: keep it cheap
        try (ClipSurgery tight = ClipSurgery.open(Fixtures.file("vit.pt"),
                new ClipSurgery.Options().optTemplates(oneTemplate).optMaxImagePixels(187_499))) {
            LabelSet labels = tight.labels("person");
            PixelLimitException e = assertThrows(PixelLimitException.class, () -> tight.explain(file, labels));
            assertTrue(e.getMessage().contains("over the limit of 187499"), e.getMessage());
        }
        try (ClipSurgery exact = ClipSurgery.open(Fixtures.file("vit.pt"),
                new ClipSurgery.Options().optTemplates(oneTemplate).optMaxImagePixels(187_500))) {
            assertEquals(500, exact.explain(file, exact.labels("person")).width());
        }
        assertThrows(IllegalArgumentException.class, () -> new ClipSurgery.Options().optMaxImagePixels(0));
    }

    /** A layer-norm epsilon outside [0, 1) is refused when given; one in range changes the outputs. */
    @Test
    void aLayerNormEpsilonIsCheckedAndUsed() throws Exception {
        for (double eps : new double[] {-1e-6, 1, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ClipSurgery.Options().optLayerNormEps(eps));
            assertTrue(e.getMessage().contains("[0, 1)"), e.getMessage());
        }
        float[][] scores = new float[2][];
        double[] eps = {1e-5, 1e-1};
        for (int i = 0; i < 2; i++) {
            try (ClipSurgery cs = ClipSurgery.open(Fixtures.file("vit.pt"),
                    new ClipSurgery.Options().optLayerNormEps(eps[i]).optTemplates(List.of("{}")))) {
                scores[i] = cs.explain(Fixtures.file("image.png"), cs.labels("cat", "dog")).similarity();
            }
        }
        assertFalse(java.util.Arrays.equals(scores[0], scores[1]), "epsilon 0.1 must change the similarity");
    }

    /** A CUDA device index is checked for sign when given, and a CPU model ignores it. */
    @Test
    void aCudaDeviceIndexIsIgnoredOnTheCpu() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> new ClipSurgery.Options().optCudaDevice(-1));
        try (ClipSurgery cpu = ClipSurgery.open(Fixtures.file("vit.pt"),
                new ClipSurgery.Options().optCudaDevice(3).optTemplates(List.of("{}")))) {
            assertEquals(Device.CPU, cpu.device());
            assertEquals(1, cpu.labels("person").labels().size());
        }
    }

    @Test
    void nativeMemoryStaysFlatOver500Explanations() {
        LabelSet labels = cs.labels("person", "bench", "sky");
        List<RgbImage> batch = List.of(image);
        for (int i = 0; i < 50; i++) cs.explain(batch, labels, Redundancy.LABELS); // warm-up: caches, allocator pools
        long before = rss(), heapBefore = Runtime.getRuntime().totalMemory();
        for (int i = 0; i < 500; i++) cs.explain(batch, labels, Redundancy.LABELS);
        // Native memory = resident memory less what the Java heap committed meanwhile.
        long grown = rss() - before - (Runtime.getRuntime().totalMemory() - heapBefore);
        System.out.printf("native memory growth over 500 explanations: %.1f MB%n", grown / 1e6);
        // One explanation allocates ~1 MB natively (all freed per call); a leak of even one small
        // tensor per call would show as MBs over 500 calls, a leak of a call's tensors as hundreds.
        assertTrue(grown < 16L << 20, "native memory grew by " + (grown >> 20) + " MB over 500 explanations");
    }

    static long rss() {
        System.gc();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        throw new IllegalStateException("no VmRSS");
    }

    static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    static void assertClose(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(expected[i] - actual[i]) <= 1e-5 + 1e-4 * Math.abs(expected[i]),
                    "element " + i + ": " + expected[i] + " vs " + actual[i]);
        }
    }
}

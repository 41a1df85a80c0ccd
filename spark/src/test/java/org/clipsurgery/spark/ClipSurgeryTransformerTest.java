package org.clipsurgery.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Redundancy;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.Overlay;
import org.clipsurgery.post.SamPoints;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The transformer on a local Spark (local[2]: the test JVM is the driver and the one executor),
 * against direct calls of the library on the fixtures' models.
 */
@Tag("spark")
class ClipSurgeryTransformerTest {
    static final String[] LABELS = {"person", "bench", "sky", "tree"};
    static final int RESOLUTION = 64;
    static final int BATCH = 3;
    static final StructType FILES = DataTypes.createStructType(List.of(
            DataTypes.createStructField("path", DataTypes.StringType, false),
            DataTypes.createStructField("content", DataTypes.BinaryType, true)));

    static SparkSession spark;
    static List<byte[]> images;

    @BeforeAll
    static void start() throws IOException {
        spark = LocalSpark.start();
        images = LocalSpark.images();
    }

    @AfterAll
    static void stop() {
        spark.stop();
        ExecutorModels.closeAll();
    }

    static ClipSurgeryTransformer transformer(String model) {
        return new ClipSurgeryTransformer().setModel(LocalSpark.fixtures().resolve(model).toString())
                .setResolution(RESOLUTION).setLabels(LABELS).setBatchSize(BATCH)
                .setLabelMapCol("label_map").setMapsCol("maps").setLabelMapThreshold(0.5);
    }

    static ClipSurgery library(String model) throws IOException {
        return ClipSurgery.open(LocalSpark.fixtures().resolve(model).toString(),
                new ClipSurgery.Options().optResolution(RESOLUTION));
    }

    /** The rows (path, content) of {@code images} in {@code partitions} slices, as parallelize cuts them. */
    static Dataset<Row> files(List<byte[]> encoded, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < encoded.size(); i++) rows.add(RowFactory.create("img-" + i, encoded.get(i)));
        return spark.createDataFrame(new JavaSparkContext(spark.sparkContext()).parallelize(rows, partitions), FILES);
    }

    /** What the library gives for the same images batched as the transformer batches them: BATCH rows at a time within each slice. */
    static List<Explanation> expected(ClipSurgery cs, LabelSet labels, List<byte[]> encoded, int partitions) throws IOException {
        List<Explanation> out = new ArrayList<>();
        int n = encoded.size();
        for (int p = 0; p < partitions; p++) {
            int from = (int) ((long) p * n / partitions), to = (int) ((long) (p + 1) * n / partitions);
            for (int b = from; b < to; b += BATCH) {
                List<RgbImage> batch = new ArrayList<>();
                for (int i = b; i < Math.min(b + BATCH, to); i++) batch.add(Images.read(encoded.get(i), "img-" + i, Images.DEFAULT_MAX_PIXELS));
                out.addAll(cs.explain(batch, labels, Redundancy.AUTO));
            }
        }
        return out;
    }

    static byte[] pixels(byte[] png) throws IOException {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(BufferedImage.TYPE_BYTE_GRAY, img.getType());
        return ((DataBufferByte) img.getRaster().getDataBuffer()).getData();
    }

    /** Every output column of {@code row} against the library's explanation {@code e}, exactly. */
    static void assertRowIs(Explanation e, Row row, String what) throws IOException {
        assertNull(row.getAs("error"), what);
        Map<String, Float> scores = row.getJavaMap(row.fieldIndex("scores"));
        assertEquals(e.scores(), scores, what + ": scores, bit for bit");
        assertEquals(OutputColumns.topLabels(e.scores(), 3), row.getList(row.fieldIndex("top_labels")), what + ": top labels");
        List<Row> points = row.getList(row.fieldIndex("points"));
        int k = 0;
        for (String target : LABELS) {
            SamPoints p = e.points(target, SamPoints.DEFAULT_THRESHOLD);
            for (int i = 0; i < p.size(); i++, k++) {
                Row pt = points.get(k);
                assertEquals(List.of(target, p.x(i), p.y(i), p.labels()[i]), List.of(pt.getString(0), pt.getInt(1), pt.getInt(2), pt.getInt(3)),
                        what + ": point " + k);
            }
        }
        assertEquals(k, points.size(), what + ": point count");
        assertArrayEquals(e.labelMap(0.5f).toBytes(0), pixels(row.getAs("label_map")), what + ": label map");
        Map<String, byte[]> maps = row.getJavaMap(row.fieldIndex("maps"));
        assertEquals(Arrays.asList(LABELS), new ArrayList<>(maps.keySet()), what + ": map labels");
        for (String target : LABELS) {
            float[] m = e.map(target);
            byte[] levels = new byte[m.length];
            for (int i = 0; i < m.length; i++) levels[i] = (byte) Overlay.level(m[i]);
            assertArrayEquals(levels, pixels(maps.get(target)), what + ": map of " + target);
        }
    }

    /**
     * The outputs equal the library's for the same batches, bit for bit, for 1 and 4 partitions, on
     * ViT and ResNet; between the two partitionings (other batches) scores differ by at most a few
     * units in the last place.
     */
    @ParameterizedTest
    @ValueSource(strings = {"vit.pt", "rn.pt"})
    void outputsEqualTheLibrarysWhateverThePartitioning(String model) throws IOException {
        Map<Integer, List<Row>> byPartitioning = new LinkedHashMap<>();
        try (ClipSurgery cs = library(model)) {
            LabelSet labels = cs.labels(LABELS);
            for (int partitions : new int[] {1, 4}) {
                List<Row> rows = transformer(model).transform(files(images, partitions)).collectAsList();
                assertEquals(images.size(), rows.size());
                List<Explanation> expected = expected(cs, labels, images, partitions);
                for (int i = 0; i < rows.size(); i++) {
                    assertEquals("img-" + i, rows.get(i).getString(0), "row order");
                    assertRowIs(expected.get(i), rows.get(i), model + ", " + partitions + " partitions, image " + i);
                }
                byPartitioning.put(partitions, rows);
            }
        }
        double worst = 0;
        for (int i = 0; i < images.size(); i++) {
            Map<String, Float> a = byPartitioning.get(1).get(i).getJavaMap(2), b = byPartitioning.get(4).get(i).getJavaMap(2);
            for (String l : LABELS) worst = Math.max(worst, Math.abs(a.get(l) - b.get(l)));
        }
        System.out.printf("%s: largest score difference between 1 and 4 partitions: %.3g%n", model, worst);
        assertTrue(worst < 1e-5, "other batches move scores in their last bits only: " + worst);
    }

    /**
     * Files read by Spark's binaryFile source: a corrupt file, a truncated JPEG and an image over the
     * pixel limit among good ones give error rows naming the file and the problem, with null
     * outputs; the good ones are explained as the library explains them. {@code failOnError} fails
     * the job instead. (binaryFile skips empty files itself.)
     */
    @Test
    void badFilesGiveErrorRowsAndTheOthersTheirResults(@TempDir Path dir) throws IOException {
        for (int i = 0; i < 4; i++) Files.write(dir.resolve("good-" + i + ".png"), images.get(i));
        Files.write(dir.resolve("junk.png"), "not an image at all".getBytes());
        byte[] jpeg = images.get(2);
        Files.write(dir.resolve("cut.jpg"), Arrays.copyOf(jpeg, jpeg.length / 2));
        Files.write(dir.resolve("big.png"), images.get(8)); // 640x480 = 307,200 pixels
        Dataset<Row> input = spark.read().format("binaryFile").load(dir.toString());
        ClipSurgeryTransformer t = transformer("vit.pt").setBatchSize(1).setMaxImagePixels(300_000);
        List<Row> rows = t.transform(input).collectAsList();
        assertEquals(7, rows.size());
        int good = 0;
        try (ClipSurgery cs = library("vit.pt")) {
            LabelSet labels = cs.labels(LABELS);
            for (Row r : rows) {
                String path = r.getAs("path");
                String error = r.getAs("error");
                if (path.contains("good-")) {
                    int i = Integer.parseInt(path.replaceAll(".*good-(\\d+)\\.png$", "$1"));
                    Explanation e = cs.explain(List.of(Images.read(images.get(i), path, Images.DEFAULT_MAX_PIXELS)), labels, Redundancy.AUTO).get(0);
                    assertRowIs(e, r, path);
                    good++;
                } else {
                    assertNotNull(error, path);
                    assertTrue(error.startsWith(path + ": ") && !error.contains("\n"), error);
                    assertTrue(error.contains(path.endsWith("junk.png") ? "not an image" : path.endsWith("cut.jpg") ? "truncated" : "over the limit of 300000"), error);
                    for (String col : new String[] {"scores", "top_labels", "points", "label_map", "maps"}) assertNull(r.getAs(col), path + " " + col);
                }
            }
        }
        assertEquals(4, good);
        SparkException failed = assertThrows(SparkException.class, () -> t.setFailOnError(true).transform(input).collectAsList());
        assertTrue(failed.getMessage().contains("clip-surgery: ") && (failed.getMessage().contains("junk.png")
                || failed.getMessage().contains("cut.jpg") || failed.getMessage().contains("big.png")), failed.getMessage());
    }

    /** Four partitions, two tasks at a time, two transforms: the model is opened once in this (executor) JVM. */
    @Test
    void theModelIsOpenedOncePerExecutorJvm() {
        ExecutorModels.closeAll();
        int before = ExecutorModels.opened();
        ClipSurgeryTransformer t = transformer("vit.pt").setBatchSize(1);
        assertEquals(images.size(), t.transform(files(images, 4)).collectAsList().size());
        assertEquals(images.size(), t.transform(files(images, 3)).collectAsList().size());
        assertEquals(1, ExecutorModels.opened() - before, "models opened");
    }

    /**
     * Saved and loaded alone and inside a fitted pipeline: the same id and parameters, and the
     * same outputs.
     */
    @Test
    void persistenceRoundTrip(@TempDir Path dir) throws IOException {
        ClipSurgeryTransformer t = transformer("rn.pt").setTopK(2).setPointsThreshold(0.6).setRedundancy("labels").setCpuThreads(2)
                .setErrorCol("why").setMaxImagePixels(1 << 22);
        t.write().overwrite().save(dir.resolve("alone").toString());
        ClipSurgeryTransformer loaded = ClipSurgeryTransformer.load(dir.resolve("alone").toString());
        assertEquals(t.uid(), loaded.uid());
        assertEquals(t.params().length, loaded.params().length);
        for (org.apache.spark.ml.param.Param<?> p : t.params()) {
            Object want = t.getOrDefault(p), got = loaded.getOrDefault(loaded.getParam(p.name()));
            if (want instanceof String[] w) assertArrayEquals(w, (String[]) got, p.name());
            else assertEquals(want, got, p.name());
            assertEquals(t.isSet(p), loaded.isSet(loaded.getParam(p.name())), p.name() + " set");
        }
        Dataset<Row> input = files(images.subList(0, 4), 2);
        List<Row> a = t.transform(input).collectAsList(), b = loaded.transform(input).collectAsList();
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) assertEquals(a.get(i).getJavaMap(2), b.get(i).getJavaMap(2), "scores of row " + i);

        PipelineModel fitted = new Pipeline().setStages(new PipelineStage[] {t}).fit(input);
        fitted.write().overwrite().save(dir.resolve("pipeline").toString());
        PipelineModel back = PipelineModel.load(dir.resolve("pipeline").toString());
        List<Row> c = back.transform(input).collectAsList();
        for (int i = 0; i < a.size(); i++) assertEquals(a.get(i).getJavaMap(2), c.get(i).getJavaMap(2), "pipeline, scores of row " + i);
    }

    /**
     * Spark's image source (its image struct, BGR pixels already decoded) and per-row labels from
     * a column: each row is what the library gives for the struct's pixels and the row's labels.
     */
    @Test
    void imageStructsAndPerRowLabels(@TempDir Path dir) throws IOException {
        for (int i = 0; i < 3; i++) Files.write(dir.resolve("im-" + i + ".png"), images.get(i));
        Dataset<Row> structs = spark.read().format("image").load(dir.toString()).coalesce(1)
                .withColumn("labels", org.apache.spark.sql.functions.expr(
                        "case when image.origin like '%im-1%' then array('sky', 'tree') else array('person', 'bench', 'sky') end"));
        ClipSurgeryTransformer t = new ClipSurgeryTransformer().setModel(LocalSpark.fixtures().resolve("vit.pt").toString())
                .setResolution(RESOLUTION).setInputCol("image").setLabelsCol("labels").setBatchSize(4);
        List<Row> rows = t.transform(structs).collectAsList();
        assertEquals(3, rows.size());
        try (ClipSurgery cs = library("vit.pt")) {
            // one partition: the two rows with the same labels are one library call, the other its own
            List<RgbImage> pixels = new ArrayList<>();
            for (Row r : rows) {
                Row s = r.getStruct(0);
                pixels.add(Images.fromBgrFrame(s.getAs("data"), 0, s.<Integer>getAs("width"), s.<Integer>getAs("height"), s.<Integer>getAs("width") * 3));
            }
            List<Integer> same = new ArrayList<>(), other = new ArrayList<>();
            for (int i = 0; i < 3; i++) (rows.get(i).getStruct(0).getString(0).contains("im-1") ? other : same).add(i);
            List<Explanation> sameOut = cs.explain(List.of(pixels.get(same.get(0)), pixels.get(same.get(1))), cs.labels("person", "bench", "sky"), Redundancy.AUTO);
            Explanation otherOut = cs.explain(List.of(pixels.get(other.get(0))), cs.labels("sky", "tree"), Redundancy.AUTO).get(0);
            assertEquals(sameOut.get(0).scores(), rows.get(same.get(0)).getJavaMap(2));
            assertEquals(sameOut.get(1).scores(), rows.get(same.get(1)).getJavaMap(2));
            assertEquals(otherOut.scores(), rows.get(other.get(0)).getJavaMap(2));
            assertEquals(List.of("sky", "tree"), new ArrayList<>(rows.get(other.get(0)).getJavaMap(2).keySet()));
        }
    }

    /** {@code method}: each row is what the library opened with that method gives for the same batch, bit for bit. */
    @ParameterizedTest
    @ValueSource(strings = {"plain", "sclip", "clearclip", "naclip", "maskclip", "gem"})
    void everyMethodIsTheLibrarys(String method) throws IOException {
        List<Row> rows = transformer("vit.pt").setMethod(method).transform(files(images.subList(0, 3), 1)).collectAsList();
        try (ClipSurgery cs = ClipSurgery.open(LocalSpark.fixtures().resolve("vit.pt").toString(), new ClipSurgery.Options()
                .optResolution(RESOLUTION).optMethod(org.clipsurgery.Method.valueOf(method.toUpperCase(java.util.Locale.ROOT))))) {
            List<Explanation> expected = expected(cs, cs.labels(LABELS), images.subList(0, 3), 1);
            for (int i = 0; i < 3; i++) assertRowIs(expected.get(i), rows.get(i), method + ", image " + i);
        }
    }

    /** Mistakes in the parameters are found on the driver, before any task, with what is wrong. */
    @Test
    void badParametersFailOnTheDriverWithWhatIsWrong() {
        Dataset<Row> input = files(images.subList(0, 1), 1);
        Map<String, ClipSurgeryTransformer> cases = new LinkedHashMap<>();
        cases.put("model is not set", new ClipSurgeryTransformer().setLabels(LABELS));
        cases.put("exactly one of labels and labelsCol", transformer("vit.pt").setLabelsCol("path"));
        cases.put("must be array<string>", new ClipSurgeryTransformer().setModel("x").setLabelsCol("path"));
        cases.put("must be binary", transformer("vit.pt").setInputCol("path"));
        cases.put("\"nope\" is not a column", transformer("vit.pt").setInputCol("nope"));
        cases.put("device must be one of", transformer("vit.pt").setDevice("tpu"));
        cases.put("batchSize must be at least 1", transformer("vit.pt").setBatchSize(0));
        cases.put("cpuThreads must be 0", transformer("vit.pt").setCpuThreads(-1));
        cases.put("already a column of the input", transformer("vit.pt").setScoresCol("path"));
        cases.put("both named", transformer("vit.pt").setMapsCol("scores"));
        for (Map.Entry<String, ClipSurgeryTransformer> c : cases.entrySet()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.getValue().transform(input), c.getKey());
            assertTrue(e.getMessage().contains(c.getKey()), e.getMessage());
        }
    }
}

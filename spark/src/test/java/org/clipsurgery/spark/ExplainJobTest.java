package org.clipsurgery.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spark-submit job's body on a local Spark: a folder of files (one corrupt, one not an image name) to Parquet. */
@Tag("spark")
class ExplainJobTest {
    static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = LocalSpark.start();
    }

    @AfterAll
    static void stop() {
        spark.stop();
        ExecutorModels.closeAll();
    }

    @Test
    void aFolderBecomesParquetWithAnErrorRowForTheCorruptFile(@TempDir Path dir) throws IOException {
        Path in = Files.createDirectories(dir.resolve("in/nested"));
        List<byte[]> images = LocalSpark.images();
        for (int i = 0; i < 5; i++) Files.write((i < 3 ? in : in.getParent()).resolve("f" + i + (i == 2 ? ".jpg" : ".png")), images.get(i));
        Files.write(in.resolve("broken.png"), "garbage".getBytes());
        Files.write(in.resolve("notes.txt"), "not an image name: not read".getBytes());
        String out = dir.resolve("out.parquet").toString();
        String[] args = {"--input", in.getParent().toString(), "--output", out, "--model", LocalSpark.fixtures().resolve("vit.pt").toString(),
                "--labels", "person,bench,sky", "--resolution", "64", "--batch-size", "2", "--partitions", "2",
                "--outputs", "scores,top-labels,points,label-map"};
        assertEquals(0, ExplainJob.run(spark, args));
        List<Row> rows = spark.read().parquet(out).collectAsList();
        assertEquals(6, rows.size(), "five images and the corrupt one; the .txt is not read");
        for (Row r : rows) {
            String path = r.getAs("path");
            assertTrue(r.schema().getFieldIndex("content").isEmpty(), "no image bytes in the output");
            if (path.endsWith("broken.png")) {
                assertTrue(r.<String>getAs("error").contains("not an image"), r.<String>getAs("error"));
                assertNull(r.getAs("scores"));
            } else {
                assertNull(r.getAs("error"), path);
                assertEquals(3, r.getJavaMap(r.fieldIndex("scores")).size(), path);
                assertEquals(3, r.getList(r.fieldIndex("top_labels")).size(), path);
                assertNotNull(r.getAs("label_map"), path);
            }
            assertTrue(r.schema().getFieldIndex("maps").isEmpty(), "maps were not asked for");
        }
        assertEquals(1, ExplainJob.run(spark, args), "an existing output is refused without --overwrite");
        assertEquals(2, ExplainJob.run(spark, "--input", "x", "--output", "y", "--model", "m", "--labels", "a", "--outputs", "colours"),
                "an unknown output is a usage error");
    }
}

package org.clipsurgery.spark;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code spark-submit} job: image files (a folder, searched recursively, or a glob) through
 * {@link ClipSurgeryTransformer} into Parquet, one row per file: its path, modification time and
 * length (not its bytes), and the outputs asked for. Each partition logs its progress on its
 * executor; the driver prints the totals at the end.
 *
 * <pre>
 * spark-submit --class org.clipsurgery.spark.ExplainJob --master local[2] \
 *     --jars "$(ls lib/*.jar | paste -sd,)" clip-surgery-spark-VERSION.jar \
 *     --input photos/ --output explained.parquet --model ViT-B/16 --labels person,car,sky
 * </pre>
 */
@Command(name = "clip-surgery-spark",
        description = "Explain image files with CLIP Surgery on Spark; write one Parquet row per file.")
public final class ExplainJob implements Callable<Integer> {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help and exit")
    boolean help;

    @Option(names = "--input", required = true, description = "a folder (searched recursively) or a glob of image files")
    String input;

    @Option(names = "--output", required = true, description = "the Parquet folder to write")
    String output;

    @Option(names = "--overwrite", description = "replace --output if it exists (default: refuse)")
    boolean overwrite;

    @Option(names = "--model", required = true, description = "an OpenAI model name (ViT-B/16, RN50, ...) or a checkpoint path every executor can read")
    String model;

    @Option(names = "--labels", required = true, split = ",", description = "the labels, comma-separated")
    List<String> labels;

    @Option(names = "--files-matching", defaultValue = "*.{png,jpg,jpeg,bmp,gif,PNG,JPG,JPEG,BMP,GIF}",
            description = "file names to read (a glob on the name; default: ${DEFAULT-VALUE})")
    String filesMatching;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--precision", defaultValue = "", description = "fp32, fp16 or bf16 (default: the device's)")
    String precision;

    @Option(names = "--resolution", defaultValue = "0", description = "input side in pixels (default: the model's)")
    int resolution;

    @Option(names = "--cache-dir", defaultValue = "", description = "where executors download named models")
    String cacheDir;

    @Option(names = "--method", defaultValue = "surgery",
            description = "surgery, sclip, clearclip, naclip, maskclip, gem or plain (default: ${DEFAULT-VALUE})")
    String method;

    @Option(names = "--redundancy", defaultValue = "auto", description = "auto, labels, empty or none (default: ${DEFAULT-VALUE})")
    String redundancy;

    @Option(names = "--batch-size", defaultValue = "8", description = "images per model call (default: ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--partitions", defaultValue = "0", description = "repartition the files into this many tasks (default: as Spark lists them)")
    int partitions;

    @Option(names = "--outputs", split = ",", defaultValue = "scores,top-labels,points",
            description = "any of scores, top-labels, points, label-map, maps (default: ${DEFAULT-VALUE})")
    List<String> outputs;

    @Option(names = "--top-k", defaultValue = "3", description = "labels in top_labels (default: ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--points-threshold", defaultValue = "0.8", description = "SAM points threshold (default: ${DEFAULT-VALUE})")
    double pointsThreshold;

    @Option(names = "--label-map-threshold", description = "background below this best-map value (default: no background)")
    Double labelMapThreshold;

    @Option(names = "--max-image-pixels", defaultValue = "67108864", description = "larger images are error rows (default: ${DEFAULT-VALUE})")
    long maxImagePixels;

    @Option(names = "--fail-on-error", description = "fail the job on the first bad file instead of writing an error row")
    boolean failOnError;

    private SparkSession spark;

    /**
     * Runs the job in the session {@code spark-submit} gives (or a new local one when run
     * without it), and exits with its status.
     *
     * @param args the options (see {@code --help})
     */
    public static void main(String[] args) {
        SparkSession spark = SparkSession.builder().appName("clip-surgery").getOrCreate();
        int status;
        try {
            status = run(spark, args);
        } finally {
            spark.stop();
        }
        System.exit(status);
    }

    /**
     * Runs the job in {@code spark}.
     *
     * @param spark the session
     * @param args the options
     * @return 0 when every file was read and written (error rows included), 2 for bad options, 1 on failure
     */
    static int run(SparkSession spark, String... args) {
        ExplainJob job = new ExplainJob();
        job.spark = spark;
        return new CommandLine(job).setExecutionExceptionHandler((e, cmd, parsed) -> {
            // one line, as the library's CLI reports failures (Spark's messages name the cause)
            cmd.getErr().println("clip-surgery-spark: " + String.valueOf(e.getMessage()).lines().findFirst().orElse(e.toString()));
            return 1;
        }).execute(args);
    }

    @Override
    public Integer call() {
        ClipSurgeryTransformer t = new ClipSurgeryTransformer().setModel(model).setLabels(labels.stream().map(String::trim).toArray(String[]::new))
                .setDevice(device).setPrecision(precision).setResolution(resolution).setCacheDir(cacheDir)
                .setMethod(method).setRedundancy(redundancy).setBatchSize(batchSize).setTopK(topK)
                .setPointsThreshold(pointsThreshold).setMaxImagePixels(maxImagePixels).setFailOnError(failOnError)
                .setScoresCol("").setTopLabelsCol("").setPointsCol("");
        if (labelMapThreshold != null) t.setLabelMapThreshold(labelMapThreshold);
        for (String o : outputs) {
            switch (o.trim().toLowerCase(Locale.ROOT)) {
                case "scores" -> t.setScoresCol("scores");
                case "top-labels" -> t.setTopLabelsCol("top_labels");
                case "points" -> t.setPointsCol("points");
                case "label-map" -> t.setLabelMapCol("label_map");
                case "maps" -> t.setMapsCol("maps");
                default -> throw new CommandLine.ParameterException(new CommandLine(this),
                        "--outputs: unknown output \"" + o + "\" (scores, top-labels, points, label-map, maps)");
            }
        }
        long start = System.nanoTime();
        Dataset<Row> files = spark.read().format("binaryFile").option("recursiveFileLookup", "true")
                .option("pathGlobFilter", filesMatching).load(input);
        if (partitions > 0) files = files.repartition(partitions);
        Dataset<Row> explained = t.transform(files).drop("content");
        explained.write().mode(overwrite ? SaveMode.Overwrite : SaveMode.ErrorIfExists).parquet(output);

        Dataset<Row> written = spark.read().parquet(output);
        long rows = written.count();
        long errors = written.where(functions.col("error").isNotNull()).count();
        double seconds = (System.nanoTime() - start) / 1e9;
        List<String> summary = new ArrayList<>();
        summary.add(rows + " files, " + errors + " error rows");
        summary.add(String.format(Locale.ROOT, "%.1f s, %.2f files/s", seconds, rows / seconds));
        System.out.println("clip-surgery: " + String.join("; ", summary) + " -> " + output);
        return 0;
    }
}

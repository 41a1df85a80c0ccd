package org.clipsurgery.spark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.clipsurgery.image.Images;
import org.clipsurgery.post.SamPoints;

/**
 * CLIP Surgery as a Spark ML {@link Transformer}: each row's image explained for a set of labels
 * on the executors, with the results as typed columns.
 *
 * <pre>{@code
 * Dataset<Row> images = spark.read().format("binaryFile").load("s3://bucket/frames/");
 * Dataset<Row> out = new ClipSurgeryTransformer()
 *         .setModel("ViT-B/16")                       // or a checkpoint path every executor can read
 *         .setLabels(new String[] {"person", "car", "sky"})
 *         .setLabelMapCol("label_map")                // off by default, as are the per-label maps
 *         .transform(images);
 * }</pre>
 *
 * <p><b>Input.</b> {@code inputCol} (default {@code content}, the {@code binaryFile} source's) holds
 * either the bytes of an image file (PNG, JPEG, BMP, GIF; decoded as the library decodes files) or
 * Spark's image struct (the {@code image} source's; 8-bit grey, BGR or BGRA). {@code sourceCol}
 * (default {@code path}), where present, names rows in error messages. Labels are fixed
 * ({@code labels}) or per row ({@code labelsCol}, an array of strings).
 *
 * <p><b>Outputs</b>, each under the column name its parameter gives (an empty name leaves it
 * out): {@code scoresCol} map&lt;string,float&gt; (each label's score), {@code topLabelsCol}
 * array&lt;string&gt; (the {@code topK} best, best first), {@code pointsCol} array of
 * struct&lt;target,x,y,label&gt; (every label's SAM point prompts at {@code pointsThreshold}, label 1
 * foreground and 0 background), {@code labelMapCol} PNG bytes (the per-pixel label index, 255
 * background, at {@code labelMapThreshold}), {@code mapsCol} map&lt;string,binary&gt; (each label's
 * map as an 8-bit grey PNG), and {@code errorCol} (null, or why the row has no outputs).
 *
 * <p><b>On the executors.</b> Each executor JVM opens the model once, lazily, and shares it among
 * its tasks; each label set is embedded once per executor; rows are explained {@code batchSize} at
 * a time within a partition. On the CPU, LibTorch runs {@code cpuThreads} threads per call,
 * by default the CPUs Spark gives each task ({@code spark.task.cpus}, default 1): LibTorch's own
 * default, every core for every call, oversubscribes an executor that runs one task per core
 * (measured on 2 cores, two tasks of ViT-B/16 at 224 px: see the README). The setting is
 * LibTorch's, so it holds for the whole executor JVM. On {@code device = cuda} a task uses the GPU Spark gave it
 * ({@code spark.task.resource.gpu.amount}; the first address in its {@code gpu} resources, read
 * as a CUDA device index), else device 0. A row that cannot be explained (its image undecodable,
 * over {@code maxImagePixels}, its labels missing) gets null outputs and a one-line message in
 * the error column; {@code failOnError} makes it fail the task instead.
 *
 * <p><b>Bits.</b> A row's outputs equal the library's for the same images in the same batch, bit
 * for bit. Batched with other images, the similarity can differ from the image explained alone in
 * its last bits (LibTorch's and cuBLAS's GEMMs sum in another order for another row count), so a
 * repartitioning that regroups rows can move scores by about 1e-7.
 *
 * <p>Saved and loaded with Spark ML persistence ({@link #write()}, {@link #load(String)}, and
 * inside a {@code PipelineModel}).
 *
 * @serial exclude (Java serialization is not how it is saved: Spark ML persistence is)
 */
public final class ClipSurgeryTransformer extends Transformer implements DefaultParamsWritable {
    private static final long serialVersionUID = 1L;
    private static final List<String> METHODS = java.util.Arrays.stream(org.clipsurgery.Method.values())
            .map(m -> m.name().toLowerCase(Locale.ROOT)).toList();
    private static final List<String> REDUNDANCIES = java.util.Arrays.stream(org.clipsurgery.Redundancy.values())
            .map(r -> r.name().toLowerCase(Locale.ROOT)).toList();
    private static final List<String> DEVICES = List.of("cpu", "cuda");
    private static final List<String> PRECISIONS = List.of("", "fp32", "fp16", "bf16");

    private final String uid;
    private final Param<String> model;
    private final Param<String> cacheDir;
    private final Param<String> device;
    private final Param<String> precision;
    private final IntParam resolution;
    private final StringArrayParam labels;
    private final Param<String> labelsCol;
    private final Param<String> inputCol;
    private final Param<String> sourceCol;
    private final Param<String> method;
    private final Param<String> redundancy;
    private final IntParam batchSize;
    private final IntParam cpuThreads;
    private final IntParam topK;
    private final DoubleParam pointsThreshold;
    private final DoubleParam labelMapThreshold;
    private final LongParam maxImagePixels;
    private final Param<String> scoresCol;
    private final Param<String> topLabelsCol;
    private final Param<String> pointsCol;
    private final Param<String> labelMapCol;
    private final Param<String> mapsCol;
    private final Param<String> errorCol;
    private final BooleanParam failOnError;

    /** A transformer with a new unique id and the default parameters. */
    public ClipSurgeryTransformer() {
        this(Identifiable$.MODULE$.randomUID("clipSurgery"));
    }

    /**
     * A transformer with the given id (Spark ML persistence and {@link #copy} use this).
     *
     * @param uid the id
     */
    public ClipSurgeryTransformer(String uid) {
        this.uid = uid;
        model = new Param<>(this, "model", "OpenAI model name (ViT-B/16, RN50, ...) or a checkpoint path readable on every executor");
        cacheDir = new Param<>(this, "cacheDir", "where executors download named models (empty: the library's default, ~/.cache/clip)");
        device = new Param<>(this, "device", "cpu or cuda");
        precision = new Param<>(this, "precision", "fp32, fp16 or bf16; empty for the device's default (fp32 on the CPU, fp16 on CUDA)");
        resolution = new IntParam(this, "resolution", "input side in pixels; 0 for the model's own");
        labels = new StringArrayParam(this, "labels", "the labels, the same for every row (or labelsCol)");
        labelsCol = new Param<>(this, "labelsCol", "an array<string> column of per-row labels (or labels)");
        inputCol = new Param<>(this, "inputCol", "the image column: image file bytes (binaryFile's content) or Spark's image struct");
        sourceCol = new Param<>(this, "sourceCol", "a string column naming rows in error messages, used when present");
        method = new Param<>(this, "method", "the training-free method: surgery (CLIP Surgery), sclip, clearclip, naclip, maskclip, gem"
                + " or plain (the unmodified CLIP)");
        redundancy = new Param<>(this, "redundancy", "what feature surgery subtracts: auto, labels, empty or none");
        batchSize = new IntParam(this, "batchSize", "rows per model call within a partition, at least 1");
        cpuThreads = new IntParam(this, "cpuThreads",
                "LibTorch threads per CPU executor JVM; 0: the CPUs Spark gives a task (spark.task.cpus)");
        topK = new IntParam(this, "topK", "how many labels the top-labels column lists, 0 or more");
        pointsThreshold = new DoubleParam(this, "pointsThreshold", "SAM point prompts' threshold, in [0, 1]");
        labelMapThreshold = new DoubleParam(this, "labelMapThreshold",
                "least best-map value of a labelled pixel, background below; -Infinity for none");
        maxImagePixels = new LongParam(this, "maxImagePixels", "images with more pixels are refused from their header");
        scoresCol = new Param<>(this, "scoresCol", "output: map<string,float> of label scores (empty: left out)");
        topLabelsCol = new Param<>(this, "topLabelsCol", "output: array<string> of the topK labels, best first (empty: left out)");
        pointsCol = new Param<>(this, "pointsCol", "output: array<struct<target,x,y,label>> of SAM point prompts (empty: left out)");
        labelMapCol = new Param<>(this, "labelMapCol", "output: the label map as PNG bytes (empty, the default: left out)");
        mapsCol = new Param<>(this, "mapsCol", "output: map<string,binary> of per-label maps as PNG (empty, the default: left out)");
        errorCol = new Param<>(this, "errorCol", "output: why a row has no outputs, null when it has (empty: left out)");
        failOnError = new BooleanParam(this, "failOnError", "fail the task on a bad row instead of giving it an error");
        setDefault(cacheDir, "");
        setDefault(device, "cpu");
        setDefault(precision, "");
        setDefault(resolution, (Object) 0);
        setDefault(labelsCol, "");
        setDefault(inputCol, "content");
        setDefault(sourceCol, "path");
        setDefault(method, "surgery");
        setDefault(redundancy, "auto");
        setDefault(batchSize, (Object) 8);
        setDefault(cpuThreads, (Object) 0);
        setDefault(topK, (Object) 3);
        setDefault(pointsThreshold, (Object) (double) SamPoints.DEFAULT_THRESHOLD);
        setDefault(labelMapThreshold, (Object) Double.NEGATIVE_INFINITY);
        setDefault(maxImagePixels, (Object) Images.DEFAULT_MAX_PIXELS);
        setDefault(scoresCol, "scores");
        setDefault(topLabelsCol, "top_labels");
        setDefault(pointsCol, "points");
        setDefault(labelMapCol, "");
        setDefault(mapsCol, "");
        setDefault(errorCol, "error");
        setDefault(failOnError, (Object) false);
    }

    @Override
    public String uid() {
        return uid;
    }

    // ---------------------------------------------------------------- parameters (Spark's naming)

    /**
     * The model parameter.
     *
     * @return the parameter
     */
    public Param<String> model() {
        return model;
    }

    /**
     * The cacheDir parameter.
     *
     * @return the parameter
     */
    public Param<String> cacheDir() {
        return cacheDir;
    }

    /**
     * The device parameter.
     *
     * @return the parameter
     */
    public Param<String> device() {
        return device;
    }

    /**
     * The precision parameter.
     *
     * @return the parameter
     */
    public Param<String> precision() {
        return precision;
    }

    /**
     * The resolution parameter.
     *
     * @return the parameter
     */
    public IntParam resolution() {
        return resolution;
    }

    /**
     * The labels parameter.
     *
     * @return the parameter
     */
    public StringArrayParam labels() {
        return labels;
    }

    /**
     * The labelsCol parameter.
     *
     * @return the parameter
     */
    public Param<String> labelsCol() {
        return labelsCol;
    }

    /**
     * The inputCol parameter.
     *
     * @return the parameter
     */
    public Param<String> inputCol() {
        return inputCol;
    }

    /**
     * The sourceCol parameter.
     *
     * @return the parameter
     */
    public Param<String> sourceCol() {
        return sourceCol;
    }

    /**
     * The method parameter.
     *
     * @return the parameter
     */
    public Param<String> method() {
        return method;
    }

    /**
     * The redundancy parameter.
     *
     * @return the parameter
     */
    public Param<String> redundancy() {
        return redundancy;
    }

    /**
     * The batchSize parameter.
     *
     * @return the parameter
     */
    public IntParam batchSize() {
        return batchSize;
    }

    /**
     * The cpuThreads parameter.
     *
     * @return the parameter
     */
    public IntParam cpuThreads() {
        return cpuThreads;
    }

    /**
     * The topK parameter.
     *
     * @return the parameter
     */
    public IntParam topK() {
        return topK;
    }

    /**
     * The pointsThreshold parameter.
     *
     * @return the parameter
     */
    public DoubleParam pointsThreshold() {
        return pointsThreshold;
    }

    /**
     * The labelMapThreshold parameter.
     *
     * @return the parameter
     */
    public DoubleParam labelMapThreshold() {
        return labelMapThreshold;
    }

    /**
     * The maxImagePixels parameter.
     *
     * @return the parameter
     */
    public LongParam maxImagePixels() {
        return maxImagePixels;
    }

    /**
     * The scoresCol parameter.
     *
     * @return the parameter
     */
    public Param<String> scoresCol() {
        return scoresCol;
    }

    /**
     * The topLabelsCol parameter.
     *
     * @return the parameter
     */
    public Param<String> topLabelsCol() {
        return topLabelsCol;
    }

    /**
     * The pointsCol parameter.
     *
     * @return the parameter
     */
    public Param<String> pointsCol() {
        return pointsCol;
    }

    /**
     * The labelMapCol parameter.
     *
     * @return the parameter
     */
    public Param<String> labelMapCol() {
        return labelMapCol;
    }

    /**
     * The mapsCol parameter.
     *
     * @return the parameter
     */
    public Param<String> mapsCol() {
        return mapsCol;
    }

    /**
     * The errorCol parameter.
     *
     * @return the parameter
     */
    public Param<String> errorCol() {
        return errorCol;
    }

    /**
     * The failOnError parameter.
     *
     * @return the parameter
     */
    public BooleanParam failOnError() {
        return failOnError;
    }

    /**
     * Sets {@link #model()}.
     *
     * @param v the model name or path
     * @return this
     */
    public ClipSurgeryTransformer setModel(String v) {
        set(model, v);
        return this;
    }

    /**
     * Sets {@link #cacheDir()}.
     *
     * @param v the download folder
     * @return this
     */
    public ClipSurgeryTransformer setCacheDir(String v) {
        set(cacheDir, v);
        return this;
    }

    /**
     * Sets {@link #device()}.
     *
     * @param v cpu or cuda
     * @return this
     */
    public ClipSurgeryTransformer setDevice(String v) {
        set(device, v);
        return this;
    }

    /**
     * Sets {@link #precision()}.
     *
     * @param v fp32, fp16, bf16 or empty
     * @return this
     */
    public ClipSurgeryTransformer setPrecision(String v) {
        set(precision, v);
        return this;
    }

    /**
     * Sets {@link #resolution()}.
     *
     * @param v the input side, 0 for the model's
     * @return this
     */
    public ClipSurgeryTransformer setResolution(int v) {
        set(resolution, (Object) v);
        return this;
    }

    /**
     * Sets {@link #labels()}.
     *
     * @param v the labels of every row
     * @return this
     */
    public ClipSurgeryTransformer setLabels(String[] v) {
        set(labels, v);
        return this;
    }

    /**
     * Sets {@link #labelsCol()}.
     *
     * @param v the per-row labels column
     * @return this
     */
    public ClipSurgeryTransformer setLabelsCol(String v) {
        set(labelsCol, v);
        return this;
    }

    /**
     * Sets {@link #inputCol()}.
     *
     * @param v the image column
     * @return this
     */
    public ClipSurgeryTransformer setInputCol(String v) {
        set(inputCol, v);
        return this;
    }

    /**
     * Sets {@link #sourceCol()}.
     *
     * @param v the column naming rows in messages
     * @return this
     */
    public ClipSurgeryTransformer setSourceCol(String v) {
        set(sourceCol, v);
        return this;
    }

    /**
     * Sets {@link #method()}.
     *
     * @param v surgery, sclip, clearclip, naclip, maskclip, gem or plain
     * @return this
     */
    public ClipSurgeryTransformer setMethod(String v) {
        set(method, v);
        return this;
    }

    /**
     * Sets {@link #redundancy()}.
     *
     * @param v auto, labels, empty or none
     * @return this
     */
    public ClipSurgeryTransformer setRedundancy(String v) {
        set(redundancy, v);
        return this;
    }

    /**
     * Sets {@link #batchSize()}.
     *
     * @param v rows per model call
     * @return this
     */
    public ClipSurgeryTransformer setBatchSize(int v) {
        set(batchSize, (Object) v);
        return this;
    }

    /**
     * Sets {@link #cpuThreads()}.
     *
     * @param v LibTorch threads per executor JVM, 0 for spark.task.cpus
     * @return this
     */
    public ClipSurgeryTransformer setCpuThreads(int v) {
        set(cpuThreads, (Object) v);
        return this;
    }

    /**
     * Sets {@link #topK()}.
     *
     * @param v how many top labels
     * @return this
     */
    public ClipSurgeryTransformer setTopK(int v) {
        set(topK, (Object) v);
        return this;
    }

    /**
     * Sets {@link #pointsThreshold()}.
     *
     * @param v the SAM points threshold
     * @return this
     */
    public ClipSurgeryTransformer setPointsThreshold(double v) {
        set(pointsThreshold, (Object) v);
        return this;
    }

    /**
     * Sets {@link #labelMapThreshold()}.
     *
     * @param v the label map's background threshold
     * @return this
     */
    public ClipSurgeryTransformer setLabelMapThreshold(double v) {
        set(labelMapThreshold, (Object) v);
        return this;
    }

    /**
     * Sets {@link #maxImagePixels()}.
     *
     * @param v the pixel limit
     * @return this
     */
    public ClipSurgeryTransformer setMaxImagePixels(long v) {
        set(maxImagePixels, (Object) v);
        return this;
    }

    /**
     * Sets {@link #scoresCol()}.
     *
     * @param v the scores column, empty for none
     * @return this
     */
    public ClipSurgeryTransformer setScoresCol(String v) {
        set(scoresCol, v);
        return this;
    }

    /**
     * Sets {@link #topLabelsCol()}.
     *
     * @param v the top labels column, empty for none
     * @return this
     */
    public ClipSurgeryTransformer setTopLabelsCol(String v) {
        set(topLabelsCol, v);
        return this;
    }

    /**
     * Sets {@link #pointsCol()}.
     *
     * @param v the points column, empty for none
     * @return this
     */
    public ClipSurgeryTransformer setPointsCol(String v) {
        set(pointsCol, v);
        return this;
    }

    /**
     * Sets {@link #labelMapCol()}.
     *
     * @param v the label map column, empty for none
     * @return this
     */
    public ClipSurgeryTransformer setLabelMapCol(String v) {
        set(labelMapCol, v);
        return this;
    }

    /**
     * Sets {@link #mapsCol()}.
     *
     * @param v the per-label maps column, empty for none
     * @return this
     */
    public ClipSurgeryTransformer setMapsCol(String v) {
        set(mapsCol, v);
        return this;
    }

    /**
     * Sets {@link #errorCol()}.
     *
     * @param v the error column, empty for none
     * @return this
     */
    public ClipSurgeryTransformer setErrorCol(String v) {
        set(errorCol, v);
        return this;
    }

    /**
     * Sets {@link #failOnError()}.
     *
     * @param v whether a bad row fails the task
     * @return this
     */
    public ClipSurgeryTransformer setFailOnError(boolean v) {
        set(failOnError, (Object) v);
        return this;
    }

    // ---------------------------------------------------------------- Transformer

    @Override
    public StructType transformSchema(StructType schema) {
        return outputSchema(schema, settings(schema)); // settings() checks everything
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        Settings settings = settings(dataset.schema());
        return dataset.toDF().mapPartitions(new Explain(settings), Encoders.row(outputSchema(dataset.schema(), settings)));
    }

    /** The input's columns, then the outputs the settings add. */
    private StructType outputSchema(StructType schema, Settings settings) {
        StructType out = schema;
        for (Settings.Output o : settings.outputs()) {
            out = out.add(new StructField(outputName(o), OutputColumns.type(o), true, org.apache.spark.sql.types.Metadata.empty()));
        }
        return out;
    }

    /** The task's function: only the settings travel to the executors, not this transformer. */
    private static final class Explain implements MapPartitionsFunction<Row, Row> {
        private static final long serialVersionUID = 1L;
        private final Settings settings;

        Explain(Settings settings) {
            this.settings = settings;
        }

        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            return new PartitionExplainer(settings, rows);
        }
    }

    @Override
    public ClipSurgeryTransformer copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    /**
     * The reader of saved transformers (Spark ML persistence; {@code PipelineModel.load} finds it too).
     *
     * @return a reader
     */
    public static MLReader<ClipSurgeryTransformer> read() {
        return new DefaultParamsReader<>();
    }

    /**
     * Loads a transformer saved with {@code write().save(path)}.
     *
     * @param path where it was saved
     * @return the transformer, with the saved id and parameters
     */
    public static ClipSurgeryTransformer load(String path) {
        return read().load(path);
    }

    // ---------------------------------------------------------------- checks

    private String str(Param<String> p) {
        return getOrDefault(p);
    }

    private int integer(IntParam p) {
        return (Integer) getOrDefault(p);
    }

    private double dbl(DoubleParam p) {
        return (Double) getOrDefault(p);
    }

    private String outputName(Settings.Output o) {
        return str(switch (o) {
            case SCORES -> scoresCol;
            case TOP_LABELS -> topLabelsCol;
            case POINTS -> pointsCol;
            case LABEL_MAP -> labelMapCol;
            case MAPS -> mapsCol;
            case ERROR -> errorCol;
        });
    }

    private List<Settings.Output> outputs() {
        List<Settings.Output> out = new ArrayList<>();
        for (Settings.Output o : Settings.Output.values()) {
            if (!outputName(o).isEmpty()) out.add(o);
        }
        return out;
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException("ClipSurgeryTransformer: " + message);
    }

    private static String oneOf(String value, List<String> allowed, String what) {
        String v = value.toLowerCase(Locale.ROOT);
        require(allowed.contains(v), what + " must be one of " + allowed + ", got \"" + value + "\"");
        return v;
    }

    private static int column(StructType schema, String name, String what) {
        require(Arrays.asList(schema.fieldNames()).contains(name), what + " \"" + name + "\" is not a column of " + schema.simpleString());
        return schema.fieldIndex(name);
    }

    /** The parameters checked against the input schema, as the executors will use them. */
    private Settings settings(StructType schema) {
        require(isDefined(model) && !str(model).isEmpty(), "model is not set");
        boolean fixed = isDefined(labels);
        require(fixed != !str(labelsCol).isEmpty(), "set exactly one of labels and labelsCol");
        List<String> fixedLabels = null;
        int labelsColumn = -1;
        if (fixed) {
            String[] ls = getOrDefault(labels);
            require(ls.length > 0, "labels is empty");
            for (String l : ls) require(l != null && !l.isBlank(), "labels holds a blank label");
            fixedLabels = List.of(ls);
        } else {
            labelsColumn = column(schema, str(labelsCol), "labelsCol");
            DataType t = schema.fields()[labelsColumn].dataType();
            require(t instanceof ArrayType a && a.elementType() instanceof StringType,
                    "labelsCol \"" + str(labelsCol) + "\" must be array<string>, not " + t.simpleString());
        }
        int input = column(schema, str(inputCol), "inputCol");
        DataType inputType = schema.fields()[input].dataType();
        require(RowImages.isImageStruct(inputType) || inputType instanceof BinaryType,
                "inputCol \"" + str(inputCol) + "\" must be binary (image file bytes) or Spark's image struct, not " + inputType.simpleString());
        int source = Arrays.asList(schema.fieldNames()).contains(str(sourceCol)) ? schema.fieldIndex(str(sourceCol)) : -1;
        if (source >= 0 && !(schema.fields()[source].dataType() instanceof StringType)) source = -1;
        String dev = oneOf(str(device), DEVICES, "device");
        String prec = oneOf(str(precision), PRECISIONS, "precision");
        require(integer(resolution) >= 0, "resolution must be 0 (the model's) or positive");
        require(integer(batchSize) >= 1, "batchSize must be at least 1");
        require(integer(cpuThreads) >= 0, "cpuThreads must be 0 (spark.task.cpus) or more");
        require(integer(topK) >= 0, "topK must be 0 or more");
        double pt = dbl(pointsThreshold), lt = dbl(labelMapThreshold);
        require(pt >= 0 && pt <= 1, "pointsThreshold must be in [0, 1], got " + pt);
        require(!Double.isNaN(lt), "labelMapThreshold is NaN");
        long maxPixels = (Long) getOrDefault(maxImagePixels);
        require(maxPixels > 0, "maxImagePixels must be positive");
        List<Settings.Output> outs = outputs();
        List<String> names = new ArrayList<>();
        for (Settings.Output o : outs) {
            String n = outputName(o);
            require(!names.contains(n), "two outputs are both named \"" + n + "\"");
            require(!Arrays.asList(schema.fieldNames()).contains(n), "output column \"" + n + "\" is already a column of the input");
            names.add(n);
        }
        ModelKey key = new ModelKey(str(model), oneOf(str(method), METHODS, "method"), dev, 0, prec, integer(resolution),
                str(cacheDir));
        return new Settings(key, fixedLabels, labelsColumn, input, source, oneOf(str(redundancy), REDUNDANCIES, "redundancy"), integer(batchSize), integer(cpuThreads), integer(topK), (float) pt,
                (float) lt, maxPixels, outs, (Boolean) getOrDefault(failOnError));
    }
}

package org.clipsurgery.spark;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Redundancy;
import org.clipsurgery.image.RgbImage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One partition through the model, lazily: rows are taken {@code batchSize} at a time, in the
 * partition's order; the decodable images among them are explained in one library call per
 * label set (one call in all with fixed labels), and each row comes out with its outputs appended,
 * in the order it came in. A row whose image cannot be read, or whose call fails on its own, gets
 * null outputs and its one-line message in the error column (or fails the task with
 * {@code failOnError}). The model is opened by the first batch, so an empty partition opens none.
 */
final class PartitionExplainer implements Iterator<Row> {
    private static final Logger LOG = LoggerFactory.getLogger(PartitionExplainer.class);
    private static final long PROGRESS_EVERY_NANOS = 30_000_000_000L;

    private final Settings s;
    private final Iterator<Row> in;
    private final ArrayDeque<Row> ready = new ArrayDeque<>();
    private final int partition;
    private final long start = System.nanoTime();
    private long lastLog = start;
    private long rows;
    private long errors;
    private boolean finished;
    private ExecutorModels.Model model;

    PartitionExplainer(Settings settings, Iterator<Row> rows) {
        this.s = settings;
        this.in = rows;
        TaskContext task = TaskContext.get();
        this.partition = task == null ? -1 : task.partitionId();
    }

    @Override
    public boolean hasNext() {
        while (ready.isEmpty() && in.hasNext()) explainBatch();
        if (ready.isEmpty() && !finished) {
            finished = true;
            if (rows > 0) log("done");
        }
        return !ready.isEmpty();
    }

    @Override
    public Row next() {
        if (!hasNext()) throw new NoSuchElementException();
        return ready.poll();
    }

    /** A row on its way through: its input, its labels, its image (or why there is none), its outputs. */
    private static final class Item {
        final Row row;
        final String source;
        List<String> labels;
        RgbImage image;
        String error;
        Explanation explanation;

        Item(Row row, String source) {
            this.row = row;
            this.source = source;
        }
    }

    private void explainBatch() {
        List<Item> batch = new ArrayList<>(s.batchSize());
        while (batch.size() < s.batchSize() && in.hasNext()) batch.add(read(in.next()));
        // one library call per label set, the rows of each in their order
        Map<List<String>, List<Item>> byLabels = new LinkedHashMap<>();
        for (Item it : batch) {
            if (it.error == null) byLabels.computeIfAbsent(it.labels, k -> new ArrayList<>()).add(it);
        }
        for (Map.Entry<List<String>, List<Item>> group : byLabels.entrySet()) explain(group.getKey(), group.getValue());
        for (Item it : batch) {
            if (it.error != null) {
                errors++;
                if (s.failOnError()) throw new IllegalStateException("clip-surgery: " + it.error);
            }
            ready.add(output(it));
        }
        rows += batch.size();
        if (in.hasNext() && System.nanoTime() - lastLog > PROGRESS_EVERY_NANOS) log("so far"); // the last batch logs "done"
    }

    private Item read(Row row) {
        String source = s.sourceColumn() >= 0 && !row.isNullAt(s.sourceColumn()) ? row.getString(s.sourceColumn())
                : "row " + (rows + 1) + " of partition " + partition;
        Item it = new Item(row, source);
        try {
            it.labels = s.labels() != null ? s.labels() : labelsOf(row);
            it.image = RowImages.read(row.get(s.inputColumn()), source, s.maxImagePixels());
        } catch (Exception e) {
            it.error = oneLine(e);
        }
        return it;
    }

    private List<String> labelsOf(Row row) {
        if (row.isNullAt(s.labelsColumn())) throw new IllegalArgumentException("no labels (null)");
        List<String> labels = row.getList(s.labelsColumn());
        if (labels.isEmpty()) throw new IllegalArgumentException("no labels (empty)");
        return List.copyOf(labels); // throws on a null label
    }

    /** Explains a group in one call; if that call fails, each row alone, so the failure is the failing row's. */
    private void explain(List<String> labels, List<Item> group) {
        if (model == null) {
            useTaskCpus();
            model = ExecutorModels.get(modelKey());
        }
        try {
            LabelSet set = model.labels(labels);
            List<Explanation> out = call(set, group);
            for (int i = 0; i < group.size(); i++) group.get(i).explanation = out.get(i);
        } catch (RuntimeException e) {
            if (group.size() == 1) {
                group.get(0).error = group.get(0).source + ": " + oneLine(e);
            } else {
                for (Item it : group) explain(labels, List.of(it));
            }
        }
    }

    private List<Explanation> call(LabelSet set, List<Item> group) {
        List<RgbImage> images = new ArrayList<>();
        for (Item it : group) images.add(it.image);
        return model.clip.explain(images, set, Redundancy.valueOf(s.redundancy().toUpperCase(java.util.Locale.ROOT)));
    }

    /**
     * LibTorch's threads for a CPU model: the setting, or the CPUs Spark gives each task. Set on
     * every task's own thread before its first model call (the same value each time: Spark's task
     * CPUs are the application's), as an OpenMP build of LibTorch also keeps the count per calling
     * thread.
     */
    private void useTaskCpus() {
        TaskContext task = TaskContext.get();
        int threads = s.cpuThreads() > 0 ? s.cpuThreads() : task != null ? task.cpus() : 0;
        if (s.model().device().equals("cpu") && threads > 0) ClipSurgery.setCpuThreads(threads);
    }

    /** The model of the settings, on the GPU Spark gave this task if it gave one. */
    private ModelKey modelKey() {
        ModelKey key = s.model();
        TaskContext task = TaskContext.get();
        if (!key.device().equals("cuda") || task == null) return key;
        return key.onCudaDevice(cudaDevice(task.resourcesJMap(), key.cudaDevice()));
    }

    /**
     * The CUDA device of a task: the first address of its {@code gpu} resource (Spark's GPU
     * discovery lists CUDA indices), else {@code otherwise}.
     *
     * @throws IllegalArgumentException for an address that is not a device index
     */
    static int cudaDevice(Map<String, ResourceInformation> resources, int otherwise) {
        ResourceInformation gpu = resources.get("gpu");
        if (gpu == null || gpu.addresses().length == 0) return otherwise;
        String address = gpu.addresses()[0].trim();
        try {
            return Integer.parseInt(address);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("the task's gpu resource address \"" + address + "\" is not a CUDA device index");
        }
    }

    private Row output(Item it) {
        int n = it.row.size();
        Object[] values = Arrays.copyOf(toArray(it.row), n + s.outputs().size());
        for (int i = 0; i < s.outputs().size(); i++) {
            Settings.Output o = s.outputs().get(i);
            if (o == Settings.Output.ERROR) {
                values[n + i] = it.error;
            } else if (it.error == null) {
                try {
                    values[n + i] = OutputColumns.value(o, it.explanation, s);
                } catch (RuntimeException e) { // e.g. a map too small for points: this row's, not the job's
                    if (s.failOnError()) throw e;
                    return errorRow(it, it.source + ": " + oneLine(e));
                }
            }
        }
        return RowFactory.create(values);
    }

    private Row errorRow(Item it, String error) {
        errors++;
        it.error = error;
        it.explanation = null;
        return output(it);
    }

    private static Object[] toArray(Row row) {
        Object[] values = new Object[row.size()];
        for (int i = 0; i < values.length; i++) values[i] = row.get(i);
        return values;
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.toString() : e.getMessage();
        return m.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim();
    }

    private void log(String when) {
        lastLog = System.nanoTime();
        double seconds = (lastLog - start) / 1e9;
        LOG.info("clip-surgery partition {} {}: {} rows, {} errors, {} s, {} rows/s", partition, when, rows, errors,
                String.format(java.util.Locale.ROOT, "%.1f", seconds),
                String.format(java.util.Locale.ROOT, "%.2f", rows / Math.max(seconds, 1e-9)));
    }
}

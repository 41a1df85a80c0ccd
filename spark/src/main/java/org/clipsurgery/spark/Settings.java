package org.clipsurgery.spark;

import java.io.Serializable;
import java.util.List;

/**
 * What a {@link ClipSurgeryTransformer} asks of each partition, fixed on the driver when
 * {@code transform} is called and shipped to the executors with the task: the transformer's
 * parameters, checked, plus where the input is in the row.
 *
 * @param model the model to open on each executor, as {@link ModelKey} names it
 * @param labels the fixed labels, or null when they come from {@code labelsColumn}
 * @param labelsColumn index of the array&lt;string&gt; labels column, or −1
 * @param inputColumn index of the image column
 * @param sourceColumn index of a string column naming each row in error messages (binaryFile's
 *     {@code path}), or −1
 * @param redundancy {@code auto}, {@code labels} or {@code empty}
 * @param batchSize rows per library call
 * @param cpuThreads LibTorch threads for CPU models, 0 for the task's CPUs
 * @param topK how many labels {@code topLabels} lists
 * @param pointsThreshold the SAM points threshold
 * @param labelMapThreshold the label map's background threshold
 * @param maxImagePixels images with more pixels are refused from their header
 * @param outputs which outputs to add, in the output schema's order
 * @param failOnError whether a bad row fails the task instead of giving an error row
 */
record Settings(ModelKey model, List<String> labels, int labelsColumn, int inputColumn,
        int sourceColumn, String redundancy, int batchSize, int cpuThreads, int topK, float pointsThreshold,
        float labelMapThreshold, long maxImagePixels, List<Output> outputs, boolean failOnError) implements Serializable {

    /** The columns a transformer can add, each under the name its parameter gives. */
    enum Output {
        SCORES,
        TOP_LABELS,
        POINTS,
        LABEL_MAP,
        MAPS,
        ERROR
    }
}

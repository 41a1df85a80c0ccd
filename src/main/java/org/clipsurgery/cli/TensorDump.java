package org.clipsurgery.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;

/**
 * The {@code --save-tensors FILE} contract. FILE is safetensors, all F32, B images, T single labels
 * ({@link LabelSet#labels()}, first-seen order), N tokens, E embedding width, H×W the images' size:
 * <ul>
 *   <li>{@code image} [B,3,R,R]: the preprocessed input;</li>
 *   <li>{@code image_features} [B,N,E]: the surgery image encoder's output, not normalised;</li>
 *   <li>{@code text_features} [T,E]: prompt-ensembled, normalised;</li>
 *   <li>{@code similarity} [B,N,T]: feature surgery in the mode {@code --redundant} selects;</li>
 *   <li>{@code similarity_map} [B,H,W,T]: min-max and bilinear maps (all images share H, W).</li>
 * </ul>
 * Beside it, {@code FILE.points.json} (the name with ".points.json" appended): a JSON array, one
 * object per image, mapping each label to {@code {"points": [[x, y], ...], "labels": [1, ..., 0, ...]}}
 * (positives first, threshold 0.8, as the official {@code similarity_map_to_points}).
 */
final class TensorDump {
    private final Path file;
    private final LabelSet labels;
    private final int count;
    private final int height;
    private final int width;
    private final List<Explanation> explanations = new ArrayList<>();

    /**
     * @param count the number of images that will be added
     * @throws UsageException if the similarity maps would not fit one tensor
     */
    TensorDump(Path file, LabelSet labels, int count, int height, int width) {
        this.file = file;
        this.labels = labels;
        this.count = count;
        this.height = height;
        this.width = width;
        long bytes = 4L * count * height * width * labels.labels().size();
        if (bytes > Integer.MAX_VALUE - 8) {
            throw new UsageException("--save-tensors: similarity_map [" + count + "," + height + "," + width + ","
                    + labels.labels().size() + "] would be " + bytes / (1 << 20) + " MiB, over the 2 GiB a tensor"
                    + " can hold here; save fewer images or labels per run");
        }
    }

    /** The points file written beside {@code file}. */
    static Path pointsFile(Path file) {
        return file.resolveSibling(file.getFileName() + ".points.json");
    }

    void add(Explanation e) {
        if (e.width() != width || e.height() != height) {
            throw new IllegalStateException("image of " + e.width() + "x" + e.height() + " in a dump of "
                    + width + "x" + height);
        }
        explanations.add(e);
    }

    void write() throws IOException {
        if (explanations.size() != count) {
            throw new IllegalStateException(explanations.size() + " images explained, " + count + " expected");
        }
        Explanation first = explanations.get(0);
        int b = count;
        int r = first.resolution();
        int e = first.embedDim();
        int t = labels.labels().size();
        int n = first.similarity().length / t;
        float[] image = new float[b * 3 * r * r];
        float[] features = new float[b * n * e];
        float[] similarity = new float[b * n * t];
        float[] maps = new float[b * height * width * t];
        List<Map<String, SamPoints>> points = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            Explanation x = explanations.get(i);
            System.arraycopy(x.preprocessedImage(), 0, image, i * 3 * r * r, 3 * r * r);
            System.arraycopy(x.imageFeatures(), 0, features, i * n * e, n * e);
            System.arraycopy(x.similarity(), 0, similarity, i * n * t, n * t);
            System.arraycopy(x.maps().values(), 0, maps, i * height * width * t, height * width * t);
            Map<String, SamPoints> perLabel = new LinkedHashMap<>();
            for (String label : labels.labels()) perLabel.put(label, x.points(label));
            points.add(perLabel);
        }
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        tensors.put("image", HostTensor.ofFloats(image, b, 3, r, r));
        tensors.put("image_features", HostTensor.ofFloats(features, b, n, e));
        tensors.put("text_features", HostTensor.ofFloats(labels.textFeatures(), t, e));
        tensors.put("similarity", HostTensor.ofFloats(similarity, b, n, t));
        tensors.put("similarity_map", HostTensor.ofFloats(maps, b, height, width, t));
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Safetensors.write(file, tensors);
        Files.writeString(pointsFile(file), SamPoints.toJson(points), StandardCharsets.UTF_8);
    }
}

package org.clipsurgery.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.Overlay;
import org.clipsurgery.post.SamPoints;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code points}: point prompts for Segment Anything, as JSON and drawn on the images. */
@Command(name = "points", sortOptions = false, mixinStandardHelpOptions = true,
        header = "Point prompts for Segment Anything, as JSON and drawn on the images.",
        description = {
            "As the official similarity_map_to_points computes them. Prints a JSON array, one object per "
                    + "image, mapping each target to "
                    + "{\"points\": [[x, y], ...], \"labels\": [1, ..., 0, ...]} (positives first; pixel "
                    + "coordinates of the original image). Writes <image>.<target>.points.png into --out: "
                    + "green = positive, red = negative.",
            "A combined target (a+b) takes its positives from each part and its negatives from the mean of "
                    + "the parts, as the official demo; unlike the demo, positives come first and a pixel is "
                    + "given once: a negative at a positive's pixel is dropped.",
            "Targets without points (no cell reaches the threshold, the map is constant, or the similarity "
                    + "grid down-samples to one cell, e.g. a ResNet at 64 px; the official code would return "
                    + "every cell with an empty labels array) get a one-line warning each; --skip-degenerate "
                    + "leaves those targets out."
        })
final class PointsCommand extends ImageCommand {
    @Option(names = "--target", split = ",", paramLabel = "LABEL",
            description = "Targets to give points for (default: every target of --labels); "
                    + "each must be a label of --labels or a '+' combination of them.")
    List<String> only;

    @Option(names = {"-t", "--threshold"}, defaultValue = "0.8", paramLabel = "T",
            description = "Cells at or above T (after min-max) are candidates for positives "
                    + "(default: ${DEFAULT-VALUE}).")
    float threshold;

    @Option(names = {"-o", "--out"}, defaultValue = ".", paramLabel = "DIR",
            description = "Folder for the pictures, created if missing (default: the current folder).")
    Path out;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the JSON to FILE instead of standard output.")
    Path json;

    @Option(names = "--no-pictures", description = "Do not draw the points.")
    boolean noPictures;

    @Option(names = "--skip-degenerate",
            description = "Leave out targets whose points are degenerate (one point, no labels) instead of "
                    + "writing them with a warning.")
    boolean skipDegenerate;

    private List<String> selected;
    private List<String> names;
    private final List<Map<String, SamPoints>> results = new ArrayList<>();

    @Override
    void validate(List<String> targets) {
        if (Float.isNaN(threshold) || threshold < 0 || threshold > 1) {
            throw new UsageException("--threshold must be in [0, 1], got " + threshold);
        }
        if (only == null) return;
        List<String> known = parts(targets);
        for (String t : only) {
            for (String part : t.split("\\+", -1)) {
                if (!known.contains(part.strip())) {
                    throw new UsageException("--target '" + t + "': '" + part.strip() + "' is not one of the labels ("
                            + String.join(", ", known) + ")");
                }
            }
        }
    }

    @Override
    boolean writesImageFiles() {
        return !noPictures;
    }

    @Override
    void begin(ClipSurgery cs, LabelSet labelSet) throws IOException {
        if (!noPictures) Outputs.directory(out);
        selected = new ArrayList<>();
        if (only == null) {
            selected.addAll(labelSet.targets());
        } else {
            // Normalise "a + b" to "a+b", as the label set writes combined targets.
            for (String t : only) selected.add(String.join("+", t.strip().split("\\s*\\+\\s*")));
        }
        names = Outputs.uniqueNames(selected);
    }

    @Override
    void handle(int index, Path file, RgbImage image, Explanation e) throws IOException {
        Map<String, SamPoints> perTarget = new LinkedHashMap<>();
        for (int t = 0; t < selected.size(); t++) {
            String target = selected.get(t);
            SamPoints p = e.points(target, threshold);
            if (p.isDegenerate()) {
                warn(file + ": '" + target + "': degenerate points (no point: no cell reaches the threshold, the "
                        + "map is constant, or the similarity grid down-samples to one cell); "
                        + (skipDegenerate ? "left out" : "--skip-degenerate leaves such targets out"));
                if (skipDegenerate) continue;
            }
            perTarget.put(target, p);
            if (!noPictures) {
                Path picture = out.resolve(stems().get(index) + "." + names.get(t) + ".points.png");
                Outputs.png(Overlay.points(Outputs.toBufferedImage(image), p), picture);
                wrote(index, "points", target, picture);
            }
        }
        results.add(perTarget);
    }

    @Override
    void finish() throws IOException {
        String text = SamPoints.toJson(results);
        if (json == null) {
            out().print(text);
        } else {
            Path parent = json.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            Files.writeString(json, text, StandardCharsets.UTF_8);
            wrote("points-json", json);
        }
    }
}

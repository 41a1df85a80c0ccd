package org.clipsurgery.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.Overlay;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code segment}: open-vocabulary segmentation, the label whose map is highest at each pixel. */
@Command(name = "segment", sortOptions = false, mixinStandardHelpOptions = true,
        header = "Per-pixel label map (open-vocabulary segmentation) with a legend.",
        description = {
            "Each pixel gets the label whose map is highest. Writes, per image, into --out: "
                    + "<image>.segment.png (the image tinted half and half with each label's colour, and a "
                    + "legend in columns beside it: the labels present, largest share first, the background "
                    + "too when -t leaves any) and <image>.labels.png (a palette PNG in the same colours whose "
                    + "pixel values are the label indices in --labels order, counting distinct single labels "
                    + "from 0; 255 = background, black; 16-bit grey beyond 255 labels). Prints each image's "
                    + "label shares, largest first. Combined targets contribute their parts."
        })
final class SegmentCommand extends ImageCommand {
    @Option(names = {"-o", "--out"}, defaultValue = ".", paramLabel = "DIR",
            description = "Output folder, created if missing (default: the current folder).")
    Path out;

    @Option(names = {"-t", "--threshold"}, paramLabel = "T",
            description = "Background where no label's map reaches T (maps are in [0, 1]); default: no background.")
    Float threshold;

    private List<String> labelNames;

    @Override
    void validate(List<String> targets) {
        if (threshold != null && (threshold.isNaN() || threshold < 0 || threshold > 1)) {
            throw new UsageException("--threshold must be in [0, 1], got " + threshold);
        }
    }

    @Override
    boolean writesImageFiles() {
        return true;
    }

    @Override
    void begin(ClipSurgery cs, LabelSet labelSet) throws IOException {
        Outputs.directory(out);
        labelNames = labelSet.labels();
    }

    @Override
    void handle(int index, Path file, RgbImage image, Explanation e) throws IOException {
        LabelMap map = e.labelMap(threshold == null ? Float.NEGATIVE_INFINITY : threshold);
        String stem = stems().get(index);
        Path picture = out.resolve(stem + ".segment.png");
        Outputs.png(Overlay.labelMap(Outputs.toBufferedImage(image), map, 0, labelNames), picture);
        wrote(index, "segment", null, picture);
        Path indices = out.resolve(stem + ".labels.png");
        Outputs.labelPng(map, 0, indices);
        wrote(index, "labels", null, indices);
        StringBuilder sb = new StringBuilder();
        for (Overlay.LegendEntry entry : Overlay.legend(map, 0, labelNames)) {
            if (sb.length() > 0) sb.append(", ");
            sb.append(entry.text());
        }
        emit(file + " " + e.width() + "x" + e.height() + ": " + sb + System.lineSeparator());
    }
}

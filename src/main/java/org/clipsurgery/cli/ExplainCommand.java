package org.clipsurgery.cli;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.Overlay;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code explain}: per image and target a heat-map overlay (OpenCV's JET, 0.4 image + 0.6 heat, as
 * the official demo draws it) and the raw map; one summary line per image.
 */
@Command(name = "explain", sortOptions = false, mixinStandardHelpOptions = true,
        header = "Heat maps of where the model sees each label (overlay PNGs and raw maps).",
        description = {
            "Writes, per image and target, into --out: <image>.<label>.png (the heat map over the image: "
                    + "0.4 image + 0.6 JET colours, as the official demo) and the raw map, "
                    + "<image>.<label>.map.png (16-bit grey, value = level / 65535, in [0, 1]) or "
                    + "<image>.<label>.npy (float32 H×W, numpy.load). Prints one line per image: "
                    + "its size and the best-scoring labels."
        })
final class ExplainCommand extends ImageCommand {
    /** Raw map formats. */
    enum RawFormat { png16, npy, none }

    @Option(names = {"-o", "--out"}, defaultValue = ".", paramLabel = "DIR",
            description = "Output folder, created if missing (default: the current folder).")
    Path out;

    @Option(names = "--raw", defaultValue = "png16", paramLabel = "png16|npy|none",
            description = "Raw map format (default: ${DEFAULT-VALUE}).")
    RawFormat raw;

    @Option(names = "--top", defaultValue = "5", paramLabel = "K",
            description = "Labels shown per image in the summary line (default: ${DEFAULT-VALUE}).")
    int top;

    private List<String> names;
    private List<String> targets;

    @Override
    void validate(List<String> targets) {
        if (top < 1) throw new UsageException("--top must be at least 1, got " + top);
    }

    @Override
    boolean writesImageFiles() {
        return true;
    }

    @Override
    void begin(ClipSurgery cs, LabelSet labelSet) throws IOException {
        Outputs.directory(out);
        targets = labelSet.targets();
        names = Outputs.uniqueNames(targets);
    }

    @Override
    void handle(int index, Path file, RgbImage image, Explanation e) throws IOException {
        BufferedImage picture = Outputs.toBufferedImage(image);
        String stem = stems().get(index);
        for (int t = 0; t < targets.size(); t++) {
            String target = targets.get(t);
            float[] map = e.map(target);
            String base = stem + "." + names.get(t);
            Path overlay = out.resolve(base + ".png");
            Outputs.png(Overlay.heatmap(picture, map), overlay);
            wrote(index, "overlay", target, overlay);
            Path rawFile = switch (raw) {
                case png16 -> out.resolve(base + ".map.png");
                case npy -> out.resolve(base + ".npy");
                case none -> null;
            };
            switch (raw) {
                case png16 -> Outputs.png16(map, e.height(), e.width(), rawFile);
                case npy -> Outputs.npy(map, new int[] {e.height(), e.width()}, rawFile);
                case none -> { }
            }
            if (rawFile != null) wrote(index, "map", target, rawFile);
        }
        emit(file + " " + e.width() + "x" + e.height() + ": " + topScores(e.scores(), top) + System.lineSeparator());
    }
}

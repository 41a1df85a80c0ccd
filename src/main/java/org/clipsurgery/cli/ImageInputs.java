package org.clipsurgery.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.image.ImageInfo;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.PixelLimitException;
import org.clipsurgery.image.RgbImage;
import picocli.CommandLine.Option;

/**
 * The images and labels a command explains ({@code --image}, {@code --labels},
 * {@code --labels-file}, {@code --max-pixels}), with the checks made before a model loads: one
 * set of options and rules for every command that reads images ({@link ImageCommand}'s and
 * {@code compare}).
 */
final class ImageInputs {
    @Option(names = {"-i", "--image"}, required = true, arity = "1..*", paramLabel = "FILE",
            description = "Image files (PNG, JPEG, BMP, GIF); several may follow one --image.")
    List<Path> images;

    @Option(names = {"-l", "--labels"}, split = ",", paramLabel = "LABEL",
            description = "Comma-separated labels, e.g. person,bench,sky; 'person+bench' is a combined target.")
    List<String> labels = new ArrayList<>();

    @Option(names = "--labels-file", paramLabel = "FILE",
            description = "More labels, one per line (for large label sets); blank lines and lines "
                    + "starting with # are skipped.")
    Path labelsFile;

    @Option(names = "--max-pixels", defaultValue = "" + Images.DEFAULT_MAX_PIXELS, paramLabel = "N",
            description = "Refuse images of more than N pixels (width x height, read from the file's header "
                    + "before decoding; default: ${DEFAULT-VALUE}, 64 megapixels, about 0.4 GB to decode).")
    long maxPixels;

    /** Checks the pixel limit and that every image is a file, before anything is loaded. */
    void checkFiles() {
        if (maxPixels < 1) throw new UsageException("--max-pixels must be at least 1, got " + maxPixels);
        for (Path p : images) {
            if (!Files.exists(p)) throw new UsageException("image '" + p + "' not found" + Suggest.file(p));
            if (!Files.isRegularFile(p)) throw new UsageException("image '" + p + "' is not a file");
        }
    }

    /** The header of an image, checked against the pixel limit and the largest side the model takes. */
    ImageInfo probe(Path p) throws IOException {
        ImageInfo info;
        try {
            info = Images.probe(p, maxPixels);
        } catch (PixelLimitException e) {
            throw new IOException(e.getMessage() + "; --max-pixels raises the limit", e);
        }
        if (info.width() > ClipSurgery.MAX_IMAGE_SIDE || info.height() > ClipSurgery.MAX_IMAGE_SIDE) {
            throw new UsageException("image '" + p + "' is " + info.width() + "x" + info.height()
                    + ": larger than " + ClipSurgery.MAX_IMAGE_SIDE + " pixels on a side");
        }
        return info;
    }

    /** An image decoded under the pixel limit. */
    RgbImage read(Path p) throws IOException {
        return Images.read(p, maxPixels);
    }

    /** The targets from --labels and --labels-file, in order; at least one. */
    List<String> targets() throws IOException {
        List<String> out = new ArrayList<>();
        for (String l : labels) {
            String s = l.strip();
            if (s.isEmpty()) throw new UsageException("--labels has an empty label (two commas, or a trailing comma?)");
            out.add(s);
        }
        if (labelsFile != null) {
            if (!Files.isRegularFile(labelsFile)) {
                throw new UsageException("labels file '" + labelsFile + "' not found" + Suggest.file(labelsFile));
            }
            out.addAll(labelLines(Files.readAllLines(labelsFile, StandardCharsets.UTF_8)));
        }
        if (out.isEmpty()) throw new UsageException("no labels: give --labels a,b,c or --labels-file FILE");
        for (String t : out) {
            for (String part : t.split("\\+", -1)) {
                if (part.isBlank()) throw new UsageException("combined target '" + t + "' has an empty part");
            }
        }
        return out;
    }

    /**
     * The labels of a --labels-file: one per line, stripped; blank lines and lines whose first
     * non-blank character is '#' (comments) are skipped. A label cannot start with '#'.
     */
    static List<String> labelLines(List<String> lines) {
        List<String> out = new ArrayList<>();
        for (String line : lines) {
            String s = line.strip();
            if (!s.isEmpty() && !s.startsWith("#")) out.add(s);
        }
        return out;
    }
}

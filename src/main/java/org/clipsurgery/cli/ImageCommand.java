package org.clipsurgery.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Redundancy;
import org.clipsurgery.image.ImageInfo;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.PixelLimitException;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.progress.Progress;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * What the image commands share: the model, the images (explained in batches, one forward pass
 * per batch), the labels, the redundancy mode and {@code --save-tensors}. A subclass says what to
 * do with each image's {@link Explanation}.
 */
abstract class ImageCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    ImageInputs inputs;

    @Option(names = "--redundant", defaultValue = "auto", paramLabel = "labels|empty|none",
            description = "Redundant features feature surgery subtracts: 'labels' (the label set), "
                    + "'empty' (the empty prompt) or 'none' (no feature surgery: the cosine). Default: for --method "
                    + "surgery, labels for two or more labels and empty for one; none for the other methods.")
    Redundancy redundant;

    @Option(names = "--batch", defaultValue = "8", paramLabel = "B",
            description = "Images per forward pass (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--save-tensors", paramLabel = "FILE",
            description = "Also write the tensors as safetensors to FILE (image, image_features, text_features, "
                    + "similarity, similarity_map; F32) and SAM points to FILE.points.json. "
                    + "All images must then have one size.")
    Path saveTensors;

    @Option(names = "--manifest", paramLabel = "FILE",
            description = "Write a JSON manifest of the files written, per input image (its output prefix and "
                    + "each file's kind, target and path), to FILE once the command has finished.")
    Path manifestFile;

    /** Whether an "images" progress line is being drawn on the terminal. */
    private boolean progressLine;
    /** The files written, for --manifest (kept even without it: it costs a few strings). */
    private Manifest manifest;
    private List<String> stems;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    /**
     * Prints a result as soon as it is known. While the progress line is drawn (standard output
     * and error are then the same terminal), the line is erased first so results and the bar do
     * not run into each other; the bar is redrawn below on the next image.
     */
    void emit(String text) {
        if (progressLine) {
            System.err.print("\r\033[2K");
            System.err.flush();
        }
        out().print(text);
        out().flush();
    }

    /**
     * A warning on standard error ("clip-surgery: warning: ..."), one line; the progress line, if
     * drawn, is erased first.
     */
    void warn(String text) {
        if (progressLine) {
            System.err.print("\r\033[2K");
            System.err.flush();
        }
        PrintWriter err = spec.commandLine().getErr();
        err.println(Main.PROGRAM + ": warning: " + text);
        err.flush();
    }

    /** Whether this run writes files named after each image (then the manifest gives their prefixes). */
    boolean writesImageFiles() {
        return false;
    }

    /**
     * The output name prefix of each image ({@link Outputs#uniqueStems}). When two inputs share a
     * name, a one-line note on standard error says which numbered prefix is which input.
     */
    List<String> stems() {
        if (stems == null) {
            stems = Outputs.uniqueStems(inputs.images);
            List<String> renamed = new ArrayList<>();
            for (int i = 0; i < inputs.images.size(); i++) {
                if (!stems.get(i).equals(Outputs.safe(Outputs.stem(inputs.images.get(i))))) {
                    renamed.add(inputs.images.get(i) + " -> " + stems.get(i) + ".*");
                }
            }
            if (!renamed.isEmpty()) {
                PrintWriter err = spec.commandLine().getErr();
                err.println(Main.PROGRAM + ": note: inputs with the same name are numbered: " + String.join(", ", renamed));
                err.flush();
            }
        }
        return stems;
    }

    /** Records a file written for image {@code index} (for --manifest); {@code target} may be null. */
    void wrote(int index, String kind, String target, Path path) {
        manifest.add(index, kind, target, path);
    }

    /** Records a file written for the whole run (for --manifest). */
    void wrote(String kind, Path path) {
        manifest.add(kind, path);
    }

    /** Checks options of the subclass before anything is loaded. */
    void validate(List<String> targets) {}

    /** Called once the model and labels are ready. */
    void begin(ClipSurgery cs, LabelSet labelSet) throws IOException {}

    /** One image's result, in the order the images were given. */
    abstract void handle(int index, Path file, RgbImage image, Explanation e) throws IOException;

    /** Called after the last image. */
    void finish() throws IOException {}

    @Override
    public final Integer call() throws Exception {
        List<String> targets = targets();
        if (batch < 1) throw new UsageException("--batch must be at least 1, got " + batch);
        inputs.checkFiles();
        if (saveTensors != null && Files.isDirectory(saveTensors)) {
            throw new UsageException("--save-tensors '" + saveTensors + "' is a folder; give a file name");
        }
        if (manifestFile != null && Files.isDirectory(manifestFile)) {
            throw new UsageException("--manifest '" + manifestFile + "' is a folder; give a file name");
        }
        model.validate();
        validate(targets);
        manifest = new Manifest(spec.name(), inputs.images, writesImageFiles() ? stems() : null);
        // Every image is checked before the model loads (seconds, or a download): all headers, and
        // the first batch decoded in full, which the first forward pass needs anyway. Later images
        // are decoded one batch at a time, as before, so memory stays one batch of images.
        List<ImageInfo> infos = new ArrayList<>();
        for (Path p : inputs.images) infos.add(inputs.probe(p));
        if (saveTensors != null) sameSize(infos);
        List<RgbImage> firstBatch = new ArrayList<>();
        for (int i = 0; i < Math.min(batch, inputs.images.size()); i++) firstBatch.add(inputs.read(inputs.images.get(i)));
        try (ClipSurgery cs = model.open()) {
            LabelSet labelSet = cs.labels(targets, Progress.stderr());
            begin(cs, labelSet);
            TensorDump dump = saveTensors == null ? null
                    : new TensorDump(saveTensors, labelSet, inputs.images.size(), infos.get(0).height(), infos.get(0).width());
            Progress progress = inputs.images.size() > 1 ? Progress.stderr() : Progress.none();
            progressLine = progress.enabled();
            Progress.Task task = progress.start("images", inputs.images.size(), Progress.Unit.ITEMS);
            try {
                for (int start = 0; start < inputs.images.size(); start += batch) {
                    int end = Math.min(inputs.images.size(), start + batch);
                    List<RgbImage> chunk = new ArrayList<>();
                    for (int i = start; i < end; i++) chunk.add(firstBatch != null ? firstBatch.get(i) : inputs.read(inputs.images.get(i)));
                    firstBatch = null;
                    List<Explanation> results = cs.explain(chunk, labelSet, redundant);
                    for (int i = start; i < end; i++) {
                        Explanation e = results.get(i - start);
                        handle(i, inputs.images.get(i), chunk.get(i - start), e);
                        if (dump != null) dump.add(e);
                        task.advance(1);
                    }
                }
            } finally {
                task.close();
                progressLine = false;
            }
            finish();
            if (dump != null) {
                dump.write();
                wrote("tensors", saveTensors);
                wrote("tensor-points", TensorDump.pointsFile(saveTensors));
            }
        }
        out().flush();
        if (manifestFile != null) manifest.write(manifestFile);
        return 0;
    }

    /** The similarity_map tensor of --save-tensors is [B,H,W,T]: one size for all images. */
    private void sameSize(List<ImageInfo> infos) {
        ImageInfo first = infos.get(0);
        for (int i = 1; i < infos.size(); i++) {
            ImageInfo im = infos.get(i);
            if (im.width() != first.width() || im.height() != first.height()) {
                throw new UsageException("--save-tensors needs images of one size (similarity_map is "
                        + "[B,H,W,T]): '" + inputs.images.get(0) + "' is " + first.width() + "x" + first.height()
                        + ", '" + inputs.images.get(i) + "' is " + im.width() + "x" + im.height());
            }
        }
    }

    /** The targets from --labels and --labels-file, in order; at least one. */
    List<String> targets() throws IOException {
        return inputs.targets();
    }

    /** The single labels of the targets, as {@link ClipSurgery#labels} will embed them. */
    static List<String> parts(List<String> targets) {
        java.util.LinkedHashSet<String> set = new java.util.LinkedHashSet<>();
        for (String t : targets) for (String p : t.split("\\+")) set.add(p.strip());
        return new ArrayList<>(set);
    }

    /** "name 0.1234, other 0.0567" for the top {@code k} scores, highest first. */
    static String topScores(java.util.Map<String, Float> scores, int k) {
        List<java.util.Map.Entry<String, Float>> list = new ArrayList<>(scores.entrySet());
        list.sort((a, b) -> Float.compare(b.getValue(), a.getValue()));
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(k, list.size()); i++) {
            if (i > 0) sb.append(", ");
            sb.append(list.get(i).getKey()).append(' ')
                    .append(String.format(Locale.ROOT, "%.4f", list.get(i).getValue()));
        }
        if (list.size() > k) sb.append(", ... (").append(list.size() - k).append(" more)");
        return sb.toString();
    }
}

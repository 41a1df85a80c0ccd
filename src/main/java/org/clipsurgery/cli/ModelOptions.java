package org.clipsurgery.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Device;
import org.clipsurgery.Precision;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.PromptTemplates;
import picocli.CommandLine.Option;

/** The options that say which model to open and how: shared by the image commands. */
final class ModelOptions {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "NAME|PATH",
            description = "Model name (ViT-B/16, RN50, CS-ViT-B/16, ...; downloaded once) or checkpoint file.")
    String model;

    @Option(names = {"-r", "--resolution"}, paramLabel = "R",
            description = "Input side in pixels: a multiple of the patch size (ViT) or 32 (ResNet). "
                    + "Default: the model's own (224 for ViT-B/16).")
    Integer resolution;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda",
            description = "Where the model runs (default: ${DEFAULT-VALUE}).")
    Device device;

    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "fp32|fp16|bf16",
            description = "Encoder arithmetic (default: ${DEFAULT-VALUE}; the CPU backend is fp32 only).")
    Precision precision;

    @Option(names = "--templates", paramLabel = "FILE",
            description = "Prompt templates, one per line with {} where the label goes "
                    + "(default: the 85 templates of the official code).")
    Path templates;

    @Option(names = "--depth", paramLabel = "K",
            description = "Surgery depth: the last K ViT blocks get the v-v attention path (default: 6).")
    Integer depth;

    @Option(names = "--threads", paramLabel = "N",
            description = "CPU threads for LibTorch (default: LibTorch's choice, usually the core count).")
    Integer threads;

    /** Checks what can be checked without loading anything, so mistakes surface before a download. */
    void validate() {
        if (resolution != null && resolution < 1) {
            throw new UsageException("--resolution must be a positive number of pixels, got " + resolution);
        }
        if (depth != null && depth < 1) throw new UsageException("--depth must be at least 1, got " + depth);
        if (threads != null && threads < 1) throw new UsageException("--threads must be at least 1, got " + threads);
        if (templates != null && !Files.isRegularFile(templates)) {
            throw new UsageException("templates file '" + templates + "' not found");
        }
        if (model.isBlank()) throw new UsageException("--model is empty");
    }

    /** Opens the model (downloading a named one, with a progress bar on a terminal). */
    ClipSurgery open() throws IOException {
        validate();
        ClipSurgery.Options o = new ClipSurgery.Options()
                .optDevice(device)
                .optPrecision(precision)
                .optProgress(Progress.stderr());
        if (resolution != null) o.optResolution(resolution);
        if (depth != null) o.optSurgeryDepth(depth);
        if (threads != null) o.optThreads(threads);
        if (templates != null) o.optTemplates(PromptTemplates.fromFile(templates));
        try {
            return ClipSurgery.open(model, o);
        } catch (UnsupportedOperationException e) {
            // The facade speaks Java ("use Device.CPU"); say it in options.
            String m = e.getMessage() == null ? "" : e.getMessage();
            throw new UnsupportedOperationException(m.replace("Device.CPU", "--device cpu"), e);
        }
    }
}

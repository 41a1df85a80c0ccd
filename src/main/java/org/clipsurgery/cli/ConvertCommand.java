package org.clipsurgery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.clipsurgery.models.ModelDownloader;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.Activation;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.WeightStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code convert}: any supported checkpoint to safetensors, in OpenAI's layout or Hugging Face's. */
@Command(name = "convert", sortOptions = false, mixinStandardHelpOptions = true,
        header = "Convert a checkpoint to safetensors.",
        description = "Convert a checkpoint (OpenAI TorchScript .pt, torch.save state dict, safetensors, Hugging Face "
                + "CLIPModel folder) to safetensors, dtypes as stored: with OpenAI's parameter names (--layout openai, "
                + "one file), or as a Hugging Face CLIPModel folder (--layout huggingface: config.json + "
                + "model.safetensors).")
final class ConvertCommand implements Callable<Integer> {
    /** The layouts convert writes. */
    enum Layout { OPENAI, HUGGINGFACE }

    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "NAME|PATH",
            description = "Model name (downloaded once), checkpoint file or Hugging Face folder.")
    String model;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE|DIR",
            description = "The safetensors file to write (--layout openai), or the folder (--layout huggingface); "
                    + "files are replaced if they exist.")
    Path output;

    @Option(names = "--layout", defaultValue = "openai", paramLabel = "openai|huggingface",
            description = "Names and layout of the output (default: ${DEFAULT-VALUE}).")
    Layout layout;

    @Option(names = "--activation", paramLabel = "gelu|quick_gelu",
            description = "The MLP activation of an OpenAI-layout state dict (which does not say it), written to "
                    + "config.json with --layout huggingface. Default: what the checkpoint says, else quick_gelu "
                    + "with a notice.")
    String activation;

    @Override
    public Integer call() throws Exception {
        Activation act = ModelOptions.parseActivation(activation);
        Path folder = WeightStore.folder(model);
        Path source = folder != null ? folder : ModelDownloader.builder().progress(Progress.stderr()).build().resolve(model);
        if (Files.exists(output) && Files.isSameFile(source, output)) {
            throw new UsageException("--output is the model itself: '" + output + "'");
        }
        if (layout == Layout.OPENAI && Files.isDirectory(output)) {
            throw new UsageException("--output '" + output + "' is a folder (--layout openai writes one file)");
        }
        if (layout == Layout.HUGGINGFACE && Files.exists(output) && !Files.isDirectory(output)) {
            throw new UsageException("--output '" + output + "' is a file (--layout huggingface writes a folder)");
        }
        Path parent = output.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        try (WeightStore loaded = WeightStore.load(source)) {
            WeightStore store = loaded.withActivation(act, this::note);
            ModelConfig c = store.config();
            if (layout == Layout.HUGGINGFACE) {
                if (!c.isVit()) {
                    throw new UsageException("transformers' CLIPModel has a ViT image encoder only: write a ResNet model "
                            + "with --layout openai");
                }
                store.saveHuggingFace(output);
            } else {
                checkOpenAiLayoutHolds(c);
                store.saveSafetensors(output);
                if (c.activation() != Activation.QUICK_GELU) {
                    // OpenAI's layout has no place for it: whoever opens the file must say it again.
                    note("OpenAI's layout does not record the " + c.activation() + " activation: open " + output
                            + " with --activation " + c.activation());
                }
            }
            long bytes = 0;
            for (HostTensor t : store.tensors().values()) bytes += t.numel() * t.dtype().size();
            spec.commandLine().getOut().printf(Locale.ROOT, "%s: %d tensors, %.1f MiB, %s, %d px, embed %d, %s, %s layout%n",
                    output, store.tensors().size(), bytes / 1048576.0, c.isVit() ? "ViT" : "ResNet",
                    c.imageResolution(), c.embedDim(), c.activation(), layout == Layout.OPENAI ? "OpenAI" : "Hugging Face");
        }
        return 0;
    }

    /** What OpenAI's layout cannot say (it implies 64-wide heads and epsilon 1e-5): refused, not lost. */
    private static void checkOpenAiLayoutHolds(ModelConfig c) {
        ModelConfig implied = new ModelConfig(c.embedDim(), c.imageResolution(), c.visionLayers(), c.visionWidth(),
                c.visionPatchSize(), c.contextLength(), c.vocabSize(), c.transformerWidth(), c.transformerWidth() / 64,
                c.transformerLayers()).withActivation(c.activation());
        if (!implied.equals(c)) {
            throw new UsageException("OpenAI's layout cannot record this model's head counts or layer-norm epsilon ("
                    + c + "): write it with --layout huggingface");
        }
    }

    private void note(String message) {
        spec.commandLine().getErr().println(Main.PROGRAM + ": note: " + message);
    }
}

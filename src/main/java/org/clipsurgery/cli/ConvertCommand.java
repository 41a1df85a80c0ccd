package org.clipsurgery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.clipsurgery.models.ModelDownloader;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.WeightStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code convert}: any supported checkpoint to safetensors with OpenAI's parameter names. */
@Command(name = "convert", sortOptions = false, mixinStandardHelpOptions = true,
        header = "Convert a checkpoint to safetensors.",
        description = "Convert a checkpoint (OpenAI TorchScript .pt, torch.save state dict, safetensors) to "
                + "safetensors with OpenAI's parameter names, dtypes as stored.")
final class ConvertCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "NAME|PATH",
            description = "Model name (downloaded once) or checkpoint file.")
    String model;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE.safetensors",
            description = "The safetensors file to write (replaced if it exists).")
    Path output;

    @Override
    public Integer call() throws Exception {
        Path source = ModelDownloader.builder().progress(Progress.stderr()).build().resolve(model);
        if (Files.exists(output) && Files.isSameFile(source, output)) {
            throw new UsageException("--output is the model file itself: '" + output + "'");
        }
        if (Files.isDirectory(output)) throw new UsageException("--output '" + output + "' is a folder");
        Path parent = output.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        try (WeightStore store = WeightStore.load(source)) {
            store.saveSafetensors(output);
            long bytes = 0;
            for (HostTensor t : store.tensors().values()) bytes += t.numel() * t.dtype().size();
            ModelConfig c = store.config();
            spec.commandLine().getOut().printf(Locale.ROOT, "%s: %d tensors, %.1f MiB, %s, %d px, embed %d%n",
                    output, store.tensors().size(), bytes / 1048576.0, c.isVit() ? "ViT" : "ResNet",
                    c.imageResolution(), c.embedDim());
        }
        return 0;
    }
}

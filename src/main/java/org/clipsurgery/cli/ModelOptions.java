package org.clipsurgery.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Device;
import org.clipsurgery.Method;
import org.clipsurgery.Precision;
import org.clipsurgery.engine.cpu.CpuFeatures;
import org.clipsurgery.models.ModelRegistry;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.text.PromptTemplates;
import org.clipsurgery.Activation;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** The options that say which model to open and how: shared by the image commands. */
final class ModelOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "NAME|PATH",
            description = "Model name (ViT-B/16, RN50, CS-ViT-B/16, ...; downloaded once), checkpoint file, "
                    + "or Hugging Face CLIPModel folder (config.json + model.safetensors or pytorch_model.bin).")
    String model;

    @Option(names = "--activation", paramLabel = "gelu|quick_gelu",
            description = "MLP activation the weights were trained with, for OpenAI-layout state dicts (OpenCLIP's): "
                    + "gelu for most OpenCLIP models, quick_gelu for OpenAI's and OpenCLIP's -quickgelu ones. "
                    + "Default: what the checkpoint says (OpenAI's files, Hugging Face config.json), else quick_gelu "
                    + "with a notice.")
    String activation;

    @Option(names = "--layer-norm-eps", paramLabel = "E",
            description = "Epsilon of every layer norm (default: the checkpoint's; OpenAI's 1e-5). MaskCLIP's official "
                    + "mmseg numerics: --method maskclip --activation gelu --layer-norm-eps 1e-6.")
    Double layerNormEps;

    @Option(names = {"-r", "--resolution"}, paramLabel = "R",
            description = "Input side in pixels: a multiple of the patch size (ViT) or 32 (ResNet). "
                    + "Default: the model's own (224 for ViT-B/16).")
    Integer resolution;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda",
            description = "Where the model runs (default: ${DEFAULT-VALUE}).")
    Device device;

    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "fp32|fp16|bf16",
            description = "Encoder arithmetic (default: ${DEFAULT-VALUE}). The CPU backend has fp32 and, on CPUs "
                    + "with bf16 dot products (AVX512-BF16, AMX, Arm BF16), bf16; fp16 is for CUDA.")
    Precision precision;

    @Option(names = "--templates", paramLabel = "FILE",
            description = "Prompt templates, one per line with {} where the label goes "
                    + "(default: the 85 templates of the official code).")
    Path templates;

    @Option(names = "--method", defaultValue = "surgery", paramLabel = "surgery|sclip|clearclip|naclip|maskclip|gem|plain",
            description = "Training-free method that computes the image tokens (default: ${DEFAULT-VALUE}, CLIP Surgery). "
                    + "The others are ViT-only, and CPU-only so far.")
    Method method;

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
        if (layerNormEps != null && !(layerNormEps >= 0 && layerNormEps < 1)) {
            throw new UsageException("--layer-norm-eps must be in [0, 1), got " + layerNormEps);
        }
        if (templates != null && !Files.isRegularFile(templates)) {
            throw new UsageException("templates file '" + templates + "' not found" + Suggest.file(templates));
        }
        if (model.isBlank()) throw new UsageException("--model is empty");
        checkModelName(model);
        activation();
        if (device == Device.CPU) checkCpuPrecision(precision);
    }

    /**
     * The CPU backend's precisions, refused before anything is loaded (the facade refuses them
     * too, but only once the model is loaded or downloaded): fp16 is CUDA's, and bf16 needs a CPU
     * with bf16 dot products.
     */
    static void checkCpuPrecision(Precision precision) {
        if (precision == Precision.FP16) {
            throw new UsageException("--precision fp16 needs --device cuda: the CPU backend computes in fp32 or bf16");
        }
        if (precision == Precision.BF16) {
            CpuFeatures.bf16Refusal().ifPresent(why -> {
                throw new UsageException("--precision bf16: " + why);
            });
        }
    }

    /**
     * Refuses, before anything is loaded, a --model that is neither an existing file or folder nor
     * an official name, suggesting close names ("did you mean ViT-B/16?") or, for a path, a close
     * file name in its folder.
     */
    static void checkModelName(String model) {
        Path local;
        try {
            local = Path.of(model);
        } catch (InvalidPathException e) {
            local = null;
        }
        if (local != null && Files.exists(local)) return;
        ModelRegistry registry = ModelRegistry.official();
        if (registry.find(model).isPresent()) return;
        throw new UsageException("'" + model + "' is neither a model file nor a known model name"
                + suggestion(model, registry, local) + " (available models: " + String.join(", ", registry.names())
                + "; a " + ModelRegistry.SURGERY_PREFIX + " prefix is also accepted)");
    }

    /** "; did you mean ViT-B/16?" for a name close to an official one, else a close file, else "". */
    static String suggestion(String model, ModelRegistry registry, Path local) {
        List<String> known = new ArrayList<>(registry.names());
        for (String n : registry.names()) known.add(ModelRegistry.SURGERY_PREFIX + n);
        String names = Suggest.didYouMean(model, known);
        if (!names.isEmpty() || local == null) return names;
        return Suggest.file(local);
    }

    /** The --activation value, or null when not given. */
    Activation activation() {
        return parseActivation(activation);
    }

    /** An --activation value ("gelu" or "quick_gelu"), or null for null; a mistake is a UsageException. */
    static Activation parseActivation(String value) {
        if (value == null) return null;
        Activation a = Activation.fromConfigName(value.toLowerCase(java.util.Locale.ROOT));
        if (a == null) throw new UsageException("--activation must be gelu or quick_gelu, got '" + value + "'");
        return a;
    }

    /** Opens the model (downloading a named one, with a progress bar on a terminal). */
    ClipSurgery open() throws IOException {
        return open(method);
    }

    /** Opens the model with {@code method} instead of --method's. */
    ClipSurgery open(Method method) throws IOException {
        validate();
        ClipSurgery.Options o = new ClipSurgery.Options()
                .optDevice(device)
                .optMethod(method)
                .optPrecision(precision)
                .optProgress(Progress.stderr())
                .optNotices(m -> command.commandLine().getErr().println(Main.PROGRAM + ": note: " + m));
        if (activation() != null) o.optActivation(activation());
        if (layerNormEps != null) o.optLayerNormEps(layerNormEps);
        if (resolution != null) o.optResolution(resolution);
        if (depth != null) o.optSurgeryDepth(depth);
        if (threads != null) ClipSurgery.setCpuThreads(threads); // LibTorch's pool is process-wide
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

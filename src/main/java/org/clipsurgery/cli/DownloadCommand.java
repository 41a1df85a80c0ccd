package org.clipsurgery.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.clipsurgery.models.ModelDownloader;
import org.clipsurgery.models.ModelRegistry;
import org.clipsurgery.progress.Progress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code download}: fetch named models into the cache and print their paths. */
@Command(name = "download", sortOptions = false, mixinStandardHelpOptions = true,
        header = "Download models into the cache and print their paths.",
        description = {
            "Download OpenAI CLIP checkpoints into the cache (checked against the SHA-256 in OpenAI's URL; "
                    + "an interrupted download resumes) and print each file's path.",
            "Cache: ~/.cache/clip, or $CLIP_SURGERY_CACHE. $CLIP_SURGERY_MIRROR replaces the scheme and host "
                    + "of OpenAI's URLs (same paths)."
        })
final class DownloadCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..*", paramLabel = "NAME",
            description = "Model names, e.g. ViT-B/16 RN50 (CS- prefix accepted).")
    List<String> names;

    @Option(names = "--list", description = "List the model names and exit.")
    boolean list;

    @Option(names = "--cache", paramLabel = "DIR",
            description = "Cache folder (default: $CLIP_SURGERY_CACHE or ~/.cache/clip).")
    Path cache;

    @Option(names = "--mirror", paramLabel = "URL",
            description = "Download from this host instead of OpenAI's (same paths; default: $CLIP_SURGERY_MIRROR).")
    String mirror;

    @Override
    public Integer call() throws Exception {
        ModelDownloader.Builder b = ModelDownloader.builder().progress(Progress.stderr());
        if (cache != null) b.cacheDir(cache);
        if (mirror != null) b.mirror(mirror);
        ModelDownloader downloader = b.build();
        if (list) {
            for (ModelRegistry.Entry e : downloader.registry().entries()) {
                spec.commandLine().getOut().println(e.name() + "  " + downloader.sourceUrl(e));
            }
            return 0;
        }
        if (names == null || names.isEmpty()) {
            throw new UsageException("name a model to download (" + String.join(", ", downloader.registry().names())
                    + "), or --list");
        }
        // Check every name before downloading anything.
        ModelRegistry registry = downloader.registry();
        for (String n : names) {
            if (registry.find(n).isEmpty()) {
                throw new UsageException("unknown model '" + n + "'" + ModelOptions.suggestion(n, registry, null)
                        + " (available models: " + String.join(", ", registry.names())
                        + "; a " + ModelRegistry.SURGERY_PREFIX + " prefix is also accepted)");
            }
        }
        List<ModelRegistry.Entry> entries = names.stream().map(registry::get).toList();
        for (ModelRegistry.Entry e : entries) {
            spec.commandLine().getOut().println(downloader.fetch(e));
            spec.commandLine().getOut().flush();
        }
        return 0;
    }
}

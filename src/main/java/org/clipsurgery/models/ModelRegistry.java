package org.clipsurgery.models;

import java.net.URI;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The CLIP checkpoints that can be named instead of given as a path, with the URLs OpenAI publishes
 * them at (the list in openai/CLIP {@code clip/clip.py}). The path segment before each file name is
 * the file's SHA-256, which {@link ModelDownloader} checks.
 *
 * <p>Names are matched exactly as OpenAI spells them ({@code "ViT-B/16"}); the {@code CS-} prefix
 * that the CLIP Surgery code puts in front of the same names ({@code "CS-ViT-B/16"}) is accepted
 * and means the same file: surgery is applied by this library whatever the name.
 *
 * <pre>{@code
 * ModelRegistry.Entry e = ModelRegistry.official().get("CS-ViT-B/16");
 * e.name();      // "ViT-B/16"
 * e.fileName();  // "ViT-B-16.pt"
 * }</pre>
 *
 * <p>Other registries (a private mirror with other files, tests) are made with
 * {@link #of(List)}.
 */
public final class ModelRegistry {

    /** The prefix CLIP Surgery's own model list uses for the same checkpoints. */
    public static final String SURGERY_PREFIX = "CS-";

    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

    private static final String BASE = "https://openaipublic.azureedge.net/clip/models/";

    private static final ModelRegistry OFFICIAL = of(List.of(
            Entry.fromUrl("RN50", BASE
                    + "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt"),
            Entry.fromUrl("RN101", BASE
                    + "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt"),
            Entry.fromUrl("RN50x4", BASE
                    + "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt"),
            Entry.fromUrl("RN50x16", BASE
                    + "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt"),
            Entry.fromUrl("RN50x64", BASE
                    + "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt"),
            Entry.fromUrl("ViT-B/32", BASE
                    + "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt"),
            Entry.fromUrl("ViT-B/16", BASE
                    + "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt"),
            Entry.fromUrl("ViT-L/14", BASE
                    + "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt"),
            Entry.fromUrl("ViT-L/14@336px", BASE
                    + "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt")));

    /**
     * One downloadable checkpoint.
     *
     * @param name   the canonical name ("ViT-B/16")
     * @param url    where the file is published
     * @param sha256 the file's SHA-256, 64 lower-case hex digits
     */
    public record Entry(String name, URI url, String sha256) {
        public Entry {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(url, "url");
            Objects.requireNonNull(sha256, "sha256");
            if (name.isBlank()) {
                throw new IllegalArgumentException("model name is empty");
            }
            if (!SHA256_HEX.matcher(sha256).matches()) {
                throw new IllegalArgumentException("model " + name + ": '" + sha256
                        + "' is not a SHA-256 (64 lower-case hex digits)");
            }
            String scheme = url.getScheme();
            if (scheme == null || !(scheme.equals("http") || scheme.equals("https"))
                    || url.getHost() == null) {
                throw new IllegalArgumentException("model " + name + ": URL " + url
                        + " is not an http(s) URL with a host");
            }
            String file = fileNameOf(url);
            if (file.isEmpty() || file.equals(".") || file.equals("..") || file.contains("\\")) {
                throw new IllegalArgumentException("model " + name + ": URL " + url
                        + " does not end in a file name");
            }
        }

        /**
         * An entry whose URL follows OpenAI's layout {@code .../<sha256>/<file>}: the SHA-256 is
         * read from the URL.
         */
        public static Entry fromUrl(String name, String url) {
            URI uri = URI.create(url);
            String path = uri.getPath() == null ? "" : uri.getPath();
            String[] parts = path.split("/");
            if (parts.length < 2) {
                throw new IllegalArgumentException("model " + name + ": URL " + url
                        + " has no <sha256>/<file> path");
            }
            return new Entry(name, uri, parts[parts.length - 2].toLowerCase(Locale.ROOT));
        }

        /** The cache file name: the URL's last path segment ("ViT-B-16.pt"). */
        public String fileName() {
            return fileNameOf(url);
        }

        private static String fileNameOf(URI url) {
            String path = url.getPath() == null ? "" : url.getPath();
            int slash = path.lastIndexOf('/');
            return path.substring(slash + 1);
        }
    }

    private final Map<String, Entry> entries;

    private ModelRegistry(Map<String, Entry> entries) {
        this.entries = entries;
    }

    /** OpenAI's nine published checkpoints. */
    public static ModelRegistry official() {
        return OFFICIAL;
    }

    /** A registry of the given entries, in that order; names must be unique. */
    public static ModelRegistry of(List<Entry> entries) {
        Map<String, Entry> map = new LinkedHashMap<>();
        for (Entry e : entries) {
            if (map.put(e.name(), e) != null) {
                throw new IllegalArgumentException("model name listed twice: " + e.name());
            }
        }
        return new ModelRegistry(Collections.unmodifiableMap(map));
    }

    /**
     * The entry for a name, with or without the {@code CS-} prefix; empty when the name is not
     * listed (a file path, a typo).
     */
    public Optional<Entry> find(String name) {
        if (name == null) {
            return Optional.empty();
        }
        Entry e = entries.get(name);
        if (e == null && name.startsWith(SURGERY_PREFIX)) {
            e = entries.get(name.substring(SURGERY_PREFIX.length()));
        }
        return Optional.ofNullable(e);
    }

    /**
     * The entry for a name, with or without the {@code CS-} prefix.
     *
     * @throws IllegalArgumentException naming the available models when the name is not listed
     */
    public Entry get(String name) {
        return find(name).orElseThrow(() -> new IllegalArgumentException(
                "unknown model '" + name + "'; available models: " + String.join(", ", names())
                        + " (a " + SURGERY_PREFIX + " prefix is also accepted)"));
    }

    /** The canonical names, in the published order. */
    public List<String> names() {
        return List.copyOf(entries.keySet());
    }

    /** All entries, in the published order. */
    public List<Entry> entries() {
        return List.copyOf(entries.values());
    }
}

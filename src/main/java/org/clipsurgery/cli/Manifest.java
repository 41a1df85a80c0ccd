package org.clipsurgery.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The files a command wrote, per input image: what {@code --manifest FILE} writes once the command
 * has finished.
 *
 * <pre>
 * {
 *   "command": "segment",
 *   "images": [
 *     {"image": "a/photo.png", "prefix": "photo-1",
 *      "files": [{"kind": "segment", "path": "out/photo-1.segment.png"},
 *                {"kind": "labels", "path": "out/photo-1.labels.png"}]}
 *   ],
 *   "files": [{"kind": "tensors", "path": "t.safetensors"}]
 * }
 * </pre>
 *
 * <p>{@code prefix} is the start of the image's output names (the file name without extension,
 * numbered when two inputs share it); files written for one target carry {@code "target"}. Kinds:
 * explain {@code overlay}, {@code map}; segment {@code segment}, {@code labels}; points
 * {@code points}; for the whole run {@code tensors}, {@code tensor-points} (--save-tensors) and
 * {@code points-json} (points --json FILE). Paths are as given on the command line (relative ones
 * relative to the working folder).
 */
final class Manifest {
    private final String command;
    private final List<Path> images;
    private final List<String> prefixes;
    private final List<List<JsonObject>> perImage = new ArrayList<>();
    private final List<JsonObject> whole = new ArrayList<>();

    /** A manifest for {@code images}; {@code prefixes} may be null for a command that writes no per-image files. */
    Manifest(String command, List<Path> images, List<String> prefixes) {
        this.command = command;
        this.images = List.copyOf(images);
        this.prefixes = prefixes == null ? null : List.copyOf(prefixes);
        for (int i = 0; i < images.size(); i++) perImage.add(new ArrayList<>());
    }

    /** A file written for image {@code index}; {@code target} may be null. */
    void add(int index, String kind, String target, Path path) {
        perImage.get(index).add(entry(kind, target, path));
    }

    /** A file written for the whole run. */
    void add(String kind, Path path) {
        whole.add(entry(kind, null, path));
    }

    private static JsonObject entry(String kind, String target, Path path) {
        JsonObject o = new JsonObject();
        o.addProperty("kind", kind);
        if (target != null) o.addProperty("target", target);
        o.addProperty("path", path.toString());
        return o;
    }

    /** The manifest as pretty-printed JSON, ending in a newline. */
    String toJson() {
        JsonObject root = new JsonObject();
        root.addProperty("command", command);
        JsonArray arr = new JsonArray();
        for (int i = 0; i < images.size(); i++) {
            JsonObject o = new JsonObject();
            o.addProperty("image", images.get(i).toString());
            if (prefixes != null) o.addProperty("prefix", prefixes.get(i));
            JsonArray files = new JsonArray();
            perImage.get(i).forEach(files::add);
            o.add("files", files);
            arr.add(o);
        }
        root.add("images", arr);
        JsonArray files = new JsonArray();
        whole.forEach(files::add);
        root.add("files", files);
        return new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(root) + "\n";
    }

    /** Writes the manifest to {@code file} (beside it first, then moved), creating its folder. */
    void write(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Path tmp = file.resolveSibling(file.getFileName() + ".part");
        try {
            Files.writeString(tmp, toJson(), StandardCharsets.UTF_8);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}

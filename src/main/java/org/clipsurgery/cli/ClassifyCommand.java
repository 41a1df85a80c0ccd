package org.clipsurgery.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.clipsurgery.Explanation;
import org.clipsurgery.image.RgbImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code classify}: multi-label scores per image. */
@Command(name = "classify", sortOptions = false, mixinStandardHelpOptions = true,
        header = "Multi-label scores per image, as a table or JSON.",
        description = {
            "Multi-label scores: the class token's feature-surgery similarity with each target "
                    + "(higher = more present; comparable within one image and label set).",
            "Prints, per image, a table of targets by score, highest first; or with --json an array of "
                    + "{\"image\", \"width\", \"height\", \"scores\": {target: score}} in --labels order."
        })
final class ClassifyCommand extends ImageCommand {
    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Option(names = "--top", paramLabel = "K", description = "Show only the K best targets per image (table).")
    Integer top;

    private final JsonArray array = new JsonArray();

    @Override
    void validate(List<String> targets) {
        if (top != null && top < 1) throw new UsageException("--top must be at least 1, got " + top);
    }

    @Override
    void handle(int index, Path file, RgbImage image, Explanation e) {
        Map<String, Float> scores = e.scores();
        if (json) {
            JsonObject o = new JsonObject();
            o.addProperty("image", file.toString());
            o.addProperty("width", e.width());
            o.addProperty("height", e.height());
            JsonObject s = new JsonObject();
            scores.forEach(s::addProperty);
            o.add("scores", s);
            array.add(o);
            return;
        }
        List<Map.Entry<String, Float>> rows = new ArrayList<>(scores.entrySet());
        rows.sort((a, b) -> Float.compare(b.getValue(), a.getValue()));
        if (top != null && rows.size() > top) rows = rows.subList(0, top);
        int width = "label".length();
        for (Map.Entry<String, Float> r : rows) width = Math.max(width, r.getKey().length());
        StringBuilder table = new StringBuilder();
        if (index > 0) table.append(String.format("%n"));
        table.append(file).append(" (").append(e.width()).append('x').append(e.height()).append(')')
                .append(String.format("%n"));
        table.append(String.format(Locale.ROOT, "  %4s  %-" + width + "s  %9s%n", "rank", "label", "score"));
        for (int i = 0; i < rows.size(); i++) {
            table.append(String.format(Locale.ROOT, "  %4d  %-" + width + "s  %9.4f%n", i + 1, rows.get(i).getKey(),
                    rows.get(i).getValue()));
        }
        emit(table.toString());
    }

    @Override
    void finish() {
        if (json) out().println(new GsonBuilder().setPrettyPrinting().disableHtmlEscaping()
                .serializeSpecialFloatingPointValues().create().toJson(array));
    }
}

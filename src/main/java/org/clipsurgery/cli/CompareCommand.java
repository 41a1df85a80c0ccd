package org.clipsurgery.cli;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Method;
import org.clipsurgery.Redundancy;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.Overlay;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code compare}: every method's map of every label side by side, and their scores. */
@Command(name = "compare", sortOptions = false, mixinStandardHelpOptions = true,
        header = "Each method's map of each label side by side, and each method's scores.",
        description = {
            "Explains each image with each method of --methods (the model opened once per method, with each method's "
                    + "default redundancy) and writes <image>.compare.png into --out: one column per method, one row "
                    + "per label, each cell the label's heat map over the image. Prints, per image, a table of "
                    + "each method's label scores. --method is not used: --methods says which."
        })
final class CompareCommand implements Callable<Integer> {
    /** Header band and label column, in pixels. */
    private static final int HEADER = 28, LABEL_COLUMN = 120;

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    ImageInputs inputs;

    @Option(names = "--methods", split = ",", defaultValue = "all", paramLabel = "M",
            description = "Methods to compare, comma-separated, or 'all' (default: ${DEFAULT-VALUE}).")
    List<String> methods;

    @Option(names = {"-o", "--out"}, defaultValue = ".", paramLabel = "DIR",
            description = "Output folder, created if missing (default: the current folder).")
    Path out;

    @Option(names = "--cell", defaultValue = "192", paramLabel = "W",
            description = "Width of each map in the picture, in pixels (default: ${DEFAULT-VALUE}).")
    int cell;

    @Override
    public Integer call() throws Exception {
        if (cell < 16 || cell > 2048) throw new UsageException("--cell must be in 16..2048 pixels, got " + cell);
        List<Method> compared = Methods.parse(methods, "--methods");
        List<String> targets = inputs.targets();
        inputs.checkFiles();
        model.validate();
        List<Path> images = inputs.images;
        // every header checked before the first model loads, then the pictures decoded (each method reads them all)
        for (Path p : images) inputs.probe(p);
        List<RgbImage> pictures = new ArrayList<>();
        for (Path p : images) pictures.add(inputs.read(p));
        // per image, per method: the maps of the targets and the scores (read before the model closes)
        List<Map<Method, float[][]>> maps = new ArrayList<>();
        List<Map<Method, Map<String, Float>>> scores = new ArrayList<>();
        for (int i = 0; i < pictures.size(); i++) {
            maps.add(new LinkedHashMap<>());
            scores.add(new LinkedHashMap<>());
        }
        for (Method m : compared) {
            try (ClipSurgery cs = model.open(m)) {
                LabelSet set = cs.labels(targets);
                for (int i = 0; i < pictures.size(); i++) {
                    Explanation e = cs.explain(List.of(pictures.get(i)), set, Redundancy.AUTO).get(0);
                    float[][] perTarget = new float[targets.size()][];
                    for (int t = 0; t < targets.size(); t++) perTarget[t] = e.map(targets.get(t));
                    maps.get(i).put(m, perTarget);
                    scores.get(i).put(m, e.scores());
                }
            }
        }
        Outputs.directory(out);
        List<String> stems = Outputs.uniqueStems(images);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < pictures.size(); i++) {
            Path file = out.resolve(stems.get(i) + ".compare.png");
            Outputs.png(picture(Outputs.toBufferedImage(pictures.get(i)), compared, targets, maps.get(i)), file);
            text.append(images.get(i)).append(" -> ").append(file).append(System.lineSeparator());
            text.append("| method | ").append(String.join(" | ", targets)).append(" |").append(System.lineSeparator());
            text.append("|---|").append("---:|".repeat(targets.size())).append(System.lineSeparator());
            for (Method m : compared) {
                text.append("| ").append(m.name().toLowerCase(Locale.ROOT));
                for (String t : targets) text.append(String.format(Locale.ROOT, " | %.4f", scores.get(i).get(m).get(t)));
                text.append(" |").append(System.lineSeparator());
            }
        }
        spec.commandLine().getOut().print(text);
        spec.commandLine().getOut().flush();
        return 0;
    }

    /** The grid: method names across the top, label names down the left, heat maps in the cells. */
    private BufferedImage picture(BufferedImage image, List<Method> compared, List<String> targets, Map<Method, float[][]> maps) {
        int cellH = Math.max(1, Math.round((float) cell * image.getHeight() / image.getWidth()));
        BufferedImage out = new BufferedImage(LABEL_COLUMN + compared.size() * cell, HEADER + targets.size() * cellH,
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, out.getWidth(), out.getHeight());
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
        g.setColor(Color.BLACK);
        FontMetrics fm = g.getFontMetrics();
        for (int c = 0; c < compared.size(); c++) {
            String name = compared.get(c).name().toLowerCase(Locale.ROOT);
            g.drawString(name, LABEL_COLUMN + c * cell + (cell - fm.stringWidth(name)) / 2, HEADER - 8);
        }
        for (int r = 0; r < targets.size(); r++) {
            g.drawString(targets.get(r), 6, HEADER + r * cellH + cellH / 2 + fm.getAscent() / 2);
            for (int c = 0; c < compared.size(); c++) {
                BufferedImage heat = Overlay.heatmap(image, maps.get(compared.get(c))[r]);
                g.drawImage(heat, LABEL_COLUMN + c * cell, HEADER + r * cellH, cell, cellH, null);
            }
        }
        g.dispose();
        return out;
    }
}

// Makes docs/outputs.png, the README's picture of the outputs, from the fixture image and the
// random-weight fixture model (so the maps are noise: the picture shows the outputs' form only).
//
//   mvn -B package -DskipTests
//   java -cp 'target/classes:target/lib/*' docs/MakeFigure.java ../shared/fixtures docs/outputs.png
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Explanation;
import org.clipsurgery.LabelSet;
import org.clipsurgery.Redundancy;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.Overlay;

public class MakeFigure {
    public static void main(String[] args) throws Exception {
        Path fixtures = Path.of(args[0]);
        BufferedImage photo = ImageIO.read(fixtures.resolve("image.png").toFile());
        RgbImage rgb = Images.fromBufferedImage(photo);
        try (ClipSurgery cs = ClipSurgery.open(fixtures.resolve("vit.pt"), new ClipSurgery.Options().optResolution(96))) {
            LabelSet labels = cs.labels("person", "bench", "sky", "ground");
            Explanation e = cs.explain(List.of(rgb), labels, Redundancy.LABELS).get(0);
            Explanation plain = cs.explainPlain(rgb, labels);
            BufferedImage[] tiles = {
                Overlay.heatmap(photo, plain.map("person")),
                Overlay.heatmap(photo, e.map("person")),
                Overlay.heatmap(photo, e.map("bench")),
                Overlay.labelMap(photo, e.labelMap(0f), 0, labels.labels()),
                Overlay.points(photo, e.points("person")),
                Overlay.heatmap(photo, e.map("person+bench")),
            };
            String[] captions = {"plain CLIP: person", "CLIP Surgery: person", "CLIP Surgery: bench",
                "label map", "SAM points: person", "combined: person+bench"};
            // tiles at 60% size keep the file small enough for the repository
            int w = 0, h = 0, pad = 8, cap = 24, cols = 3;
            for (BufferedImage t : tiles) {
                w = Math.max(w, t.getWidth() * 3 / 5);
                h = Math.max(h, t.getHeight() * 3 / 5);
            }
            BufferedImage out = new BufferedImage(cols * (w + pad) + pad, 2 * (h + cap + pad) + pad, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = out.createGraphics();
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, out.getWidth(), out.getHeight());
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 16));
            for (int i = 0; i < tiles.length; i++) {
                int x = pad + (i % cols) * (w + pad), y = pad + (i / cols) * (h + cap + pad);
                g.setColor(Color.BLACK);
                g.drawString(captions[i], x + 2, y + 19);
                g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
                g.drawImage(tiles[i], x, y + cap, tiles[i].getWidth() * 3 / 5, tiles[i].getHeight() * 3 / 5, null);
            }
            g.dispose();
            ImageIO.write(out, "png", Path.of(args[1]).toFile());
        }
    }
}

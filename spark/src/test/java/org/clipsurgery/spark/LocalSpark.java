package org.clipsurgery.spark;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.spark.sql.SparkSession;

/** A local Spark with two task threads, and test images made from the fixtures' one picture. */
final class LocalSpark {
    private LocalSpark() {}

    static Path fixtures() {
        String dir = System.getenv("CLIP_SURGERY_FIXTURES");
        if (dir == null) throw new IllegalStateException("CLIP_SURGERY_FIXTURES is not set (the pom sets it to ../../shared/fixtures)");
        return Path.of(dir);
    }

    /** local[2]: one JVM, which is the driver and the one executor, running two tasks at a time. */
    static SparkSession start() {
        SparkSession spark = SparkSession.builder()
                .master("local[2]")
                .appName("clip-surgery-test")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "4")
                .getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        return spark;
    }

    /**
     * Nine encoded pictures of different sizes and formats, all from the fixture image: the file
     * itself, crops, scalings, a grey one, a mirrored one, as PNG, JPEG and BMP.
     */
    static List<byte[]> images() throws IOException {
        BufferedImage src = ImageIO.read(fixtures().resolve("image.png").toFile());
        List<byte[]> out = new ArrayList<>();
        out.add(java.nio.file.Files.readAllBytes(fixtures().resolve("image.png")));
        out.add(encode(src.getSubimage(0, 0, 200, 150), "png"));
        out.add(encode(scaled(src, 320, 240), "jpeg"));
        out.add(encode(src.getSubimage(100, 50, 64, 96), "bmp"));
        out.add(encode(grey(src), "png"));
        out.add(encode(mirrored(src), "png"));
        out.add(encode(scaled(src, 97, 131), "png"));
        out.add(encode(src.getSubimage(250, 100, 250, 275), "jpeg"));
        out.add(encode(scaled(src, 640, 480), "png"));
        return out;
    }

    static byte[] encode(BufferedImage img, String format) throws IOException {
        BufferedImage rgb = new BufferedImage(img.getWidth(), img.getHeight(),
                format.equals("png") && img.getType() == BufferedImage.TYPE_BYTE_GRAY ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_3BYTE_BGR);
        rgb.getGraphics().drawImage(img, 0, 0, null);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (!ImageIO.write(rgb, format, out)) throw new IOException("no writer for " + format);
        return out.toByteArray();
    }

    private static BufferedImage scaled(BufferedImage src, int w, int h) {
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        Graphics2D g = out.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(src, 0, 0, w, h, null);
        g.dispose();
        return out;
    }

    private static BufferedImage grey(BufferedImage src) {
        BufferedImage out = new BufferedImage(src.getWidth(), src.getHeight(), BufferedImage.TYPE_BYTE_GRAY);
        out.getGraphics().drawImage(src, 0, 0, null);
        return out;
    }

    private static BufferedImage mirrored(BufferedImage src) {
        BufferedImage out = new BufferedImage(src.getWidth(), src.getHeight(), BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < src.getHeight(); y++) {
            for (int x = 0; x < src.getWidth(); x++) out.setRGB(src.getWidth() - 1 - x, y, src.getRGB(x, y));
        }
        return out;
    }
}

package org.clipsurgery.spark;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferUShort;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.clipsurgery.Explanation;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.Overlay;
import org.clipsurgery.post.SamPoints;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The columns a {@link ClipSurgeryTransformer} adds: their Spark types, and their values for one
 * explanation. Pictures are PNG bytes, lossless, of the image's size:
 * <ul>
 *   <li>the label map: 8-bit grey, each pixel the index of its label in the row's labels,
 *       {@value LabelMap#BACKGROUND_BYTE} for background; 16-bit grey with
 *       {@value LabelMap#BACKGROUND_SHORT} for background past 255 labels;</li>
 *   <li>a label's map: 8-bit grey, {@link Overlay#level} of the map value (the level the heat-map
 *       overlays colour).</li>
 * </ul>
 */
final class OutputColumns {
    /** A SAM point: the label ("target") it prompts for, its pixel, and SAM's label (1 foreground, 0 background). */
    static final StructType POINT = DataTypes.createStructType(List.of(
            DataTypes.createStructField("target", DataTypes.StringType, false),
            DataTypes.createStructField("x", DataTypes.IntegerType, false),
            DataTypes.createStructField("y", DataTypes.IntegerType, false),
            DataTypes.createStructField("label", DataTypes.IntegerType, false)));

    private OutputColumns() {}

    /** The Spark type of an output column (all are nullable: null on an error row). */
    static DataType type(Settings.Output output) {
        return switch (output) {
            case SCORES -> DataTypes.createMapType(DataTypes.StringType, DataTypes.FloatType, false);
            case TOP_LABELS -> DataTypes.createArrayType(DataTypes.StringType, false);
            case POINTS -> DataTypes.createArrayType(POINT, false);
            case LABEL_MAP -> DataTypes.BinaryType;
            case MAPS -> DataTypes.createMapType(DataTypes.StringType, DataTypes.BinaryType, false);
            case ERROR -> DataTypes.StringType;
        };
    }

    /** The value of {@code output} for an explained row, as Spark's Row encoder takes it (Scala collections). */
    static Object value(Settings.Output output, Explanation e, Settings s) {
        return switch (output) {
            case SCORES -> CollectionConverters.asScala(e.scores());
            case TOP_LABELS -> CollectionConverters.asScala(topLabels(e.scores(), s.topK()));
            case POINTS -> CollectionConverters.asScala(points(e, s.pointsThreshold()));
            case LABEL_MAP -> labelMapPng(e.labelMap(s.labelMapThreshold()));
            case MAPS -> {
                Map<String, byte[]> maps = new LinkedHashMap<>();
                for (String target : e.labelSet().targets()) maps.put(target, mapPng(e.map(target), e.width(), e.height()));
                yield CollectionConverters.asScala(maps);
            }
            case ERROR -> null;
        };
    }

    /** The {@code k} best-scored targets, best first (ties in the labels' order). */
    static List<String> topLabels(Map<String, Float> scores, int k) {
        List<Map.Entry<String, Float>> entries = new ArrayList<>(scores.entrySet());
        entries.sort(Map.Entry.<String, Float>comparingByValue(Comparator.reverseOrder()));
        List<String> top = new ArrayList<>();
        for (int i = 0; i < Math.min(k, entries.size()); i++) top.add(entries.get(i).getKey());
        return top;
    }

    /** Every target's SAM points at {@code threshold}, targets in the labels' order. */
    static List<Row> points(Explanation e, float threshold) {
        List<Row> rows = new ArrayList<>();
        for (String target : e.labelSet().targets()) {
            SamPoints p = e.points(target, threshold);
            int[] labels = p.labels();
            for (int i = 0; i < p.size(); i++) rows.add(RowFactory.create(target, p.x(i), p.y(i), labels[i]));
        }
        return rows;
    }

    /** The label map as a grey PNG (see the class comment). */
    static byte[] labelMapPng(LabelMap m) {
        int w = m.width(), h = m.height();
        if (m.labels() <= 255) {
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
            System.arraycopy(m.toBytes(0), 0, ((DataBufferByte) img.getRaster().getDataBuffer()).getData(), 0, w * h);
            return png(img);
        }
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_USHORT_GRAY);
        System.arraycopy(m.toShorts(0), 0, ((DataBufferUShort) img.getRaster().getDataBuffer()).getData(), 0, w * h);
        return png(img);
    }

    /** A (H, W) map as an 8-bit grey PNG of its {@link Overlay#level}s. */
    static byte[] mapPng(float[] map, int width, int height) {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
        byte[] px = ((DataBufferByte) img.getRaster().getDataBuffer()).getData();
        for (int i = 0; i < px.length; i++) px[i] = (byte) Overlay.level(map[i]);
        return png(img);
    }

    private static byte[] png(BufferedImage img) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(img, "png", out)) throw new IllegalStateException("no PNG writer in this JVM");
        } catch (IOException e) {
            throw new UncheckedIOException(e); // into memory: does not happen
        }
        return out.toByteArray();
    }
}

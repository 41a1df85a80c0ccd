package org.clipsurgery.cli;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferUShort;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import javax.imageio.ImageIO;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.Overlay;

/** Writing the CLI's files: PNGs (8-bit RGB, 8/16-bit grey), .npy arrays, and safe file names. */
final class Outputs {
    private Outputs() {}

    /** The output folder, created if missing. */
    static Path directory(Path dir) throws IOException {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new UsageException("--out '" + dir + "' exists and is not a folder");
        }
        Files.createDirectories(dir);
        return dir;
    }

    /** An 8-bit RGB image as a BufferedImage (for drawing). */
    static BufferedImage toBufferedImage(RgbImage image) {
        int w = image.width();
        int h = image.height();
        byte[] d = image.data();
        int[] px = new int[w * h];
        for (int p = 0, i = 0; p < px.length; p++, i += 3) {
            px[p] = (d[i] & 0xff) << 16 | (d[i + 1] & 0xff) << 8 | (d[i + 2] & 0xff);
        }
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, w, h, px, 0, w);
        return out;
    }

    static void png(BufferedImage image, Path file) throws IOException {
        // Write beside the target and move, so an interrupted run leaves no truncated PNG.
        Path tmp = file.resolveSibling(file.getFileName() + ".part");
        try {
            if (!ImageIO.write(image, "png", tmp.toFile())) throw new IOException("no PNG writer for " + file);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * A map with values in [0, 1] as a 16-bit grey PNG: level = round(v · 65535), NaN (a label whose
     * similarity was constant) as 0. Readable by any image viewer; {@code v = level / 65535}.
     */
    static void png16(float[] map, int height, int width, Path file) throws IOException {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_USHORT_GRAY);
        WritableRaster r = img.getRaster();
        int[] row = new int[width];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                float v = map[y * width + x];
                row[x] = Float.isNaN(v) ? 0 : Math.round(Math.max(0f, Math.min(1f, v)) * 65535f);
            }
            r.setSamples(0, y, width, 1, 0, row);
        }
        png(img, file);
    }

    /**
     * One image of a label map as a PNG whose pixel values are the indices: for up to 255 labels
     * an 8-bit palette (indexed) PNG, so a viewer shows the label colours of
     * {@link Overlay#palette} while tools that read the values (PIL's
     * {@code np.array(Image.open(f))}, ImageIO's raster) get the indices, with 255 = background
     * (black in the palette); for more labels a 16-bit grey PNG (PNG palettes hold at most 256
     * colours), 65535 = background ({@link LabelMap#toBytes}, {@link LabelMap#toShorts}).
     */
    static void labelPng(LabelMap map, int image, Path file) throws IOException {
        int width = map.width(), height = map.height();
        BufferedImage img;
        if (map.labels() > 255) {
            img = new BufferedImage(width, height, BufferedImage.TYPE_USHORT_GRAY);
            short[] px = ((DataBufferUShort) img.getRaster().getDataBuffer()).getData();
            System.arraycopy(map.toShorts(image), 0, px, 0, px.length);
        } else {
            int[] colours = Overlay.palette(255);
            byte[] r = new byte[256];
            byte[] g = new byte[256];
            byte[] b = new byte[256];
            for (int i = 0; i < 256; i++) {
                int c = i == LabelMap.BACKGROUND_BYTE ? Overlay.BACKGROUND_RGB : colours[i];
                r[i] = (byte) (c >> 16);
                g[i] = (byte) (c >> 8);
                b[i] = (byte) c;
            }
            img = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(8, 256, r, g, b));
            byte[] px = ((DataBufferByte) img.getRaster().getDataBuffer()).getData();
            System.arraycopy(map.toBytes(image), 0, px, 0, px.length);
        }
        png(img, file);
    }

    /**
     * A float32 array in NumPy's .npy format (version 1.0, little-endian, C order): {@code
     * numpy.load(file)} gives the exact values.
     */
    static void npy(float[] values, int[] shape, Path file) throws IOException {
        StringBuilder dims = new StringBuilder();
        for (int s : shape) dims.append(s).append(", ");
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims.toString().strip()
                .replaceAll(",$", shape.length == 1 ? "," : "") + "), }";
        // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple
        // of 64 bytes and ending in a newline, as numpy writes it.
        int unpadded = 10 + dict.length() + 1;
        int total = (unpadded + 63) / 64 * 64;
        String header = dict + " ".repeat(total - unpadded) + "\n";
        ByteBuffer head = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN);
        head.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0)
                .putShort((short) header.length());
        ByteBuffer data = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        data.asFloatBuffer().put(values);
        Path tmp = file.resolveSibling(file.getFileName() + ".part");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            out.write(head.array());
            out.write(header.getBytes(StandardCharsets.US_ASCII));
            out.write(data.array());
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** The file name of an image without folder and extension ("photo" for "a/photo.jpg"). */
    static String stem(Path image) {
        String name = image.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 ? name.substring(0, dot) : name;
    }

    /**
     * Stems for the images, unique: a stem that occurs more than once ("a/x.png", "b/x.jpg") gets
     * its position appended ("x-1", "x-2") so outputs never overwrite each other.
     */
    static List<String> uniqueStems(List<Path> images) {
        List<String> stems = new ArrayList<>();
        for (Path p : images) stems.add(safe(stem(p)));
        List<String> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < stems.size(); i++) {
            String s = stems.get(i);
            boolean repeated = stems.indexOf(s) != stems.lastIndexOf(s);
            String name = repeated ? s + "-" + (i + 1) : s;
            while (!seen.add(name.toLowerCase(Locale.ROOT))) name = name + "_";
            out.add(name);
        }
        return out;
    }

    /**
     * A label as a file-name part: letters, digits and {@code - _ + .} kept, anything else (spaces,
     * slashes) becomes '_'; "potted plant" gives "potted_plant".
     */
    static String safe(String label) {
        StringBuilder sb = new StringBuilder();
        label.codePoints().forEach(c -> {
            if (Character.isLetterOrDigit(c) || c == '-' || c == '_' || c == '+' || c == '.') sb.appendCodePoint(c);
            else sb.append('_');
        });
        String s = sb.toString();
        if (s.isEmpty() || s.startsWith(".")) s = "_" + s;
        return s.length() > 100 ? s.substring(0, 100) : s;
    }

    /** File-name parts for targets, unique within the list (case-insensitively, for such file systems). */
    static List<String> uniqueNames(List<String> targets) {
        List<String> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (String t : targets) {
            String name = safe(t);
            String candidate = name;
            for (int k = 2; !seen.add(candidate.toLowerCase(Locale.ROOT)); k++) candidate = name + "-" + k;
            out.add(candidate);
        }
        return out;
    }
}

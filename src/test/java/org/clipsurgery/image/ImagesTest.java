package org.clipsurgery.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import org.clipsurgery.testing.Pngs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loaders on images made here: every BufferedImage kind, files, frames, and broken files. */
class ImagesTest {
    @TempDir
    Path tmp;

    private static void assertPixel(RgbImage img, int x, int y, int r, int g, int b) {
        assertEquals(String.format("%02x%02x%02x", r, g, b), String.format("%06x", img.rgb(x, y)),
                "pixel " + x + "," + y);
    }

    private Path write(BufferedImage img, String format, String name) throws IOException {
        Path p = tmp.resolve(name);
        assertTrue(ImageIO.write(img, format, p.toFile()), "no " + format + " writer for " + img.getType());
        return p;
    }

    // ------------------------------------------------------------- grey

    @Test
    void greyIsReplicatedWithoutGamma() throws IOException {
        BufferedImage g = new BufferedImage(4, 1, BufferedImage.TYPE_BYTE_GRAY);
        int[] v = {0, 50, 128, 255};
        for (int x = 0; x < 4; x++) g.getRaster().setSample(x, 0, 0, v[x]);
        // Java's getRGB() treats TYPE_BYTE_GRAY as linear and would brighten 50 to about 124.
        for (RgbImage img : new RgbImage[] {Images.fromBufferedImage(g), Images.read(write(g, "png", "g.png")),
                Images.read(write(g, "bmp", "g.bmp"))}) {
            for (int x = 0; x < 4; x++) assertPixel(img, x, 0, v[x], v[x], v[x]);
        }
    }

    @Test
    void grey16ClipsLikePillowI16() throws IOException {
        BufferedImage g = new BufferedImage(5, 1, BufferedImage.TYPE_USHORT_GRAY);
        int[] v = {0, 100, 255, 256, 65535};
        int[] want = {0, 100, 255, 255, 255};
        for (int x = 0; x < 5; x++) g.getRaster().setSample(x, 0, 0, v[x]);
        for (RgbImage img : new RgbImage[] {Images.fromBufferedImage(g), Images.read(write(g, "png", "g16.png"))}) {
            for (int x = 0; x < 5; x++) assertPixel(img, x, 0, want[x], want[x], want[x]);
        }
    }

    @Test
    void sixteenBitWithAlphaOrColourKeepsTheHighByte() {
        ComponentColorModel rgb16 = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), false, false,
                Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
        WritableRaster r = rgb16.createCompatibleWritableRaster(2, 1);
        r.setPixel(0, 0, new int[] {0xABCD, 0x00FF, 0xFF00});
        r.setPixel(1, 0, new int[] {0x0100, 0xFFFF, 0x7F80});
        RgbImage img = Images.fromBufferedImage(new BufferedImage(rgb16, r, false, null));
        assertPixel(img, 0, 0, 0xAB, 0x00, 0xFF);
        assertPixel(img, 1, 0, 0x01, 0xFF, 0x7F);

        ComponentColorModel ga16 = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_GRAY), true, false,
                Transparency.TRANSLUCENT, DataBuffer.TYPE_USHORT);
        WritableRaster ra = ga16.createCompatibleWritableRaster(1, 1);
        ra.setPixel(0, 0, new int[] {0x1234, 0});
        assertPixel(Images.fromBufferedImage(new BufferedImage(ga16, ra, false, null)), 0, 0, 0x12, 0x12, 0x12);
    }

    // ------------------------------------------------------------- alpha

    @Test
    void alphaIsDroppedNotComposited() throws IOException {
        for (int type : new int[] {BufferedImage.TYPE_INT_ARGB, BufferedImage.TYPE_4BYTE_ABGR}) {
            BufferedImage a = new BufferedImage(3, 1, type);
            a.setRGB(0, 0, 0x000A141E); // fully transparent, colour (10, 20, 30)
            a.setRGB(1, 0, 0x80FF8000);
            a.setRGB(2, 0, 0xFF123456);
            for (RgbImage img : new RgbImage[] {Images.fromBufferedImage(a), Images.read(write(a, "png", "a" + type + ".png"))}) {
                assertPixel(img, 0, 0, 10, 20, 30);
                assertPixel(img, 1, 0, 255, 128, 0);
                assertPixel(img, 2, 0, 0x12, 0x34, 0x56);
            }
        }
    }

    @Test
    void premultipliedIsUnpremultiplied() {
        BufferedImage p = new BufferedImage(2, 1, BufferedImage.TYPE_INT_ARGB_PRE);
        p.setRGB(0, 0, 0x80C86432); // straight (200, 100, 50) at alpha 128, stored premultiplied
        p.setRGB(1, 0, 0xFF010203);
        RgbImage img = Images.fromBufferedImage(p);
        int rgb = img.rgb(0, 0);
        assertEquals(200, rgb >> 16 & 0xFF, 2);
        assertEquals(100, rgb >> 8 & 0xFF, 2);
        assertEquals(50, rgb & 0xFF, 2);
        assertPixel(img, 1, 0, 1, 2, 3);
    }

    // ------------------------------------------------------------- RGB kinds and palettes

    @Test
    void everyPackedAndByteRgbTypeGivesTheSamePixels() throws IOException {
        int[] colours = {0xFF0000, 0x00FF00, 0x0000FF, 0xFFFFFF, 0x000000, 0x123456, 0xFEDCBA, 0x7F8081};
        int[] types = {BufferedImage.TYPE_INT_RGB, BufferedImage.TYPE_INT_BGR, BufferedImage.TYPE_3BYTE_BGR,
                BufferedImage.TYPE_INT_ARGB, BufferedImage.TYPE_4BYTE_ABGR};
        for (int type : types) {
            BufferedImage b = new BufferedImage(colours.length, 1, type);
            for (int x = 0; x < colours.length; x++) b.setRGB(x, 0, 0xFF000000 | colours[x]);
            RgbImage direct = Images.fromBufferedImage(b);
            RgbImage png = Images.read(write(b, "png", "t" + type + ".png"));
            for (int x = 0; x < colours.length; x++) {
                assertEquals(colours[x], direct.rgb(x, 0), "type " + type);
                assertEquals(colours[x], png.rgb(x, 0), "type " + type + " via PNG");
            }
            if (type != BufferedImage.TYPE_INT_ARGB && type != BufferedImage.TYPE_4BYTE_ABGR) {
                RgbImage bmp = Images.read(write(b, "bmp", "t" + type + ".bmp"));
                for (int x = 0; x < colours.length; x++) assertEquals(colours[x], bmp.rgb(x, 0), "BMP " + type);
            }
        }
        BufferedImage s = new BufferedImage(3, 1, BufferedImage.TYPE_USHORT_565_RGB);
        s.setRGB(0, 0, 0xFF0000);
        s.setRGB(1, 0, 0x00FF00);
        s.setRGB(2, 0, 0xFFFFFF);
        RgbImage img = Images.fromBufferedImage(s);
        assertPixel(img, 0, 0, 255, 0, 0);
        assertPixel(img, 1, 0, 0, 255, 0);
        assertPixel(img, 2, 0, 255, 255, 255);
    }

    @Test
    void palettesUseTheirEntries() throws IOException {
        byte[] r = {0, (byte) 200, 10, (byte) 255};
        byte[] g = {0, 100, 20, (byte) 255};
        byte[] b = {0, 50, 30, (byte) 255};
        byte[] a = {(byte) 255, (byte) 255, 0, (byte) 255}; // entry 2 transparent: colour still used
        IndexColorModel icm = new IndexColorModel(2, 4, r, g, b, a);
        BufferedImage p = new BufferedImage(4, 1, BufferedImage.TYPE_BYTE_BINARY, icm);
        for (int x = 0; x < 4; x++) p.getRaster().setSample(x, 0, 0, x);
        for (RgbImage img : new RgbImage[] {Images.fromBufferedImage(p), Images.read(write(p, "png", "p.png"))}) {
            for (int x = 0; x < 4; x++) assertPixel(img, x, 0, r[x] & 0xFF, g[x] & 0xFF, b[x] & 0xFF);
        }
        BufferedImage bw = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_BINARY);
        bw.getRaster().setSample(1, 0, 0, 1);
        RgbImage img = Images.read(write(bw, "bmp", "bw.bmp"));
        assertPixel(img, 0, 0, 0, 0, 0);
        assertPixel(img, 1, 0, 255, 255, 255);
    }

    // ------------------------------------------------------------- CMYK

    /** A minimal CMYK colour space, so a BufferedImage can say its samples are ink amounts. */
    private static final class InkSpace extends ColorSpace {
        InkSpace() {
            super(ColorSpace.TYPE_CMYK, 4);
        }

        @Override
        public float[] toRGB(float[] v) {
            return new float[] {(1 - v[0]) * (1 - v[3]), (1 - v[1]) * (1 - v[3]), (1 - v[2]) * (1 - v[3])};
        }

        @Override
        public float[] fromRGB(float[] rgb) {
            return new float[] {1 - rgb[0], 1 - rgb[1], 1 - rgb[2], 0};
        }

        @Override
        public float[] toCIEXYZ(float[] v) {
            return ColorSpace.getInstance(CS_sRGB).toCIEXYZ(toRGB(v));
        }

        @Override
        public float[] fromCIEXYZ(float[] v) {
            return fromRGB(ColorSpace.getInstance(CS_sRGB).fromCIEXYZ(v));
        }
    }

    @Test
    void cmykBufferedImageUsesPillowFormula() {
        ComponentColorModel cm = new ComponentColorModel(new InkSpace(), false, false, Transparency.OPAQUE,
                DataBuffer.TYPE_BYTE);
        WritableRaster r = cm.createCompatibleWritableRaster(4, 1);
        r.setPixel(0, 0, new int[] {0, 0, 0, 0}); // no ink: white
        r.setPixel(1, 0, new int[] {255, 0, 0, 0}); // cyan
        r.setPixel(2, 0, new int[] {0, 0, 0, 255}); // black
        r.setPixel(3, 0, new int[] {128, 64, 0, 51}); // nk = 204: 204 - 128*204/255 = 101.6 -> 102
        RgbImage img = Images.fromBufferedImage(new BufferedImage(cm, r, false, null));
        assertPixel(img, 0, 0, 255, 255, 255);
        assertPixel(img, 1, 0, 0, 255, 255);
        assertPixel(img, 2, 0, 0, 0, 0);
        assertPixel(img, 3, 0, 102, 153, 204);
        assertEquals(102, Images.pilCmykChannel(128, 51));
    }

    /** Writes a 4-band raster as a JPEG (ImageIO writes it as plain CMYK, no Adobe marker). */
    private Path cmykJpeg(int[] stored, String name) throws IOException {
        WritableRaster r = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, 16, 16, 4, null);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) r.setPixel(x, y, stored);
        }
        Path p = tmp.resolve(name);
        ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
        ImageWriteParam param = w.getDefaultWriteParam();
        param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        param.setCompressionQuality(1.0f);
        try (ImageOutputStream os = ImageIO.createImageOutputStream(p.toFile())) {
            w.setOutput(os);
            w.write(null, new IIOImage(r, null, null), param);
        } finally {
            w.dispose();
        }
        return p;
    }

    @Test
    void cmykJpegIsReadWithAdobeInversionLikePillow() throws IOException {
        // Pillow inverts every stored byte of a 4-component JPEG (Adobe convention), then converts.
        int[][] cases = {
            {255, 255, 255, 255, 255, 255, 255}, // stored 255 = no ink: white
            {255, 255, 255, 0, 0, 0, 0}, // stored K 0 = full black
            {0, 255, 255, 255, 0, 255, 255}, // full cyan
            {127, 191, 255, 204, 102, 153, 204}, // inks 128, 64, 0, 51 (see the BufferedImage test)
        };
        for (int[] c : cases) {
            RgbImage img = Images.read(cmykJpeg(Arrays.copyOf(c, 4), "cmyk" + c[0] + c[3] + ".jpg"));
            assertEquals(16, img.width());
            int rgb = img.rgb(7, 7);
            // Quality 1.0 on a flat colour is lossless up to rounding.
            assertEquals(c[4], rgb >> 16 & 0xFF, 2, Arrays.toString(c));
            assertEquals(c[5], rgb >> 8 & 0xFF, 2, Arrays.toString(c));
            assertEquals(c[6], rgb & 0xFF, 2, Arrays.toString(c));
        }
    }

    // ------------------------------------------------------------- frames

    @Test
    void rgbAndBgrFramesWithPitchAndOffset() {
        int w = 3, h = 2, stride = 11, off = 5;
        byte[] f = new byte[off + stride * h];
        Arrays.fill(f, (byte) 99);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = off + y * stride + x * 3;
                f[p] = (byte) (10 * x + y);
                f[p + 1] = (byte) (100 + x);
                f[p + 2] = (byte) (200 + y);
            }
        }
        RgbImage rgb = Images.fromRgbFrame(f, off, w, h, stride);
        RgbImage bgr = Images.fromBgrFrame(f, off, w, h, stride);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                assertPixel(rgb, x, y, 10 * x + y, 100 + x, 200 + y);
                assertPixel(bgr, x, y, 200 + y, 100 + x, 10 * x + y);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> Images.fromRgbFrame(f, off, w, h, 8));
        assertThrows(IllegalArgumentException.class, () -> Images.fromRgbFrame(f, off + 3, w, h, stride));
        assertThrows(IllegalArgumentException.class, () -> Images.fromBgrFrame(f, 0, 0, h, stride));
        assertThrows(IllegalArgumentException.class, () -> Images.fromRgbFrame(f, -1, w, h, stride));
    }

    // ------------------------------------------------------------- broken files

    private void assertRefused(Path p, String... words) {
        IOException e = assertThrows(IOException.class, () -> Images.read(p));
        assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
        for (String w : words) assertTrue(e.getMessage().contains(w), "message says '" + w + "': " + e.getMessage());
    }

    private byte[] sampleBytes(String format) throws IOException {
        BufferedImage b = new BufferedImage(40, 30, BufferedImage.TYPE_3BYTE_BGR);
        Random rnd = new Random(3);
        for (int y = 0; y < 30; y++) {
            for (int x = 0; x < 40; x++) b.setRGB(x, y, rnd.nextInt());
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(b, format, out));
        return out.toByteArray();
    }

    @Test
    void missingEmptyJunkAndTruncatedFilesAreRefused() throws IOException {
        assertRefused(tmp.resolve("nope.png"), "no such file");
        assertRefused(Files.write(tmp.resolve("empty.png"), new byte[0]), "empty");
        assertRefused(Files.write(tmp.resolve("junk.png"), "hello, not an image".getBytes()), "not an image");
        for (String format : new String[] {"png", "jpeg", "bmp"}) {
            byte[] full = sampleBytes(format);
            for (int cut : new int[] {full.length / 2, full.length - 100, 40}) {
                assertRefused(Files.write(tmp.resolve("cut" + cut + "." + format), Arrays.copyOf(full, cut)));
            }
        }
        // As in Pillow: a JPEG missing only its end marker is refused ("image file is truncated"),
        // a PNG missing only its IEND chunk still has all its pixels and loads.
        byte[] jpeg = sampleBytes("jpeg");
        assertRefused(Files.write(tmp.resolve("noeoi.jpg"), Arrays.copyOf(jpeg, jpeg.length - 2)), "truncated");
        byte[] png = sampleBytes("png");
        RgbImage noIend = Images.read(Files.write(tmp.resolve("noiend.png"), Arrays.copyOf(png, png.length - 12)));
        assertEquals(40, noIend.width());
    }

    /**
     * Bytes in memory are read as the same bytes in a file are: the same pixels for every format,
     * and every refusal (empty, junk, truncated, over the pixel limit, zero size) the same, named by
     * the given source instead of a path.
     */
    @Test
    void bytesInMemoryAreReadAndRefusedAsFilesAre() throws IOException {
        for (String format : new String[] {"png", "jpeg", "bmp", "gif"}) {
            byte[] bytes = sampleBytes(format);
            RgbImage fromFile = Images.read(Files.write(tmp.resolve("mem." + format), bytes));
            RgbImage fromBytes = Images.read(bytes, "s3://bucket/mem." + format, Images.DEFAULT_MAX_PIXELS);
            assertEquals(fromFile.width(), fromBytes.width(), format);
            assertArrayEquals(fromFile.data(), fromBytes.data(), format);
        }
        byte[] jpeg = sampleBytes("jpeg");
        byte[][] broken = {new byte[0], "hello, not an image".getBytes(), Arrays.copyOf(jpeg, jpeg.length - 2),
                Arrays.copyOf(sampleBytes("png"), 60), Pngs.headerOnly(0, 10)};
        String[] says = {"empty", "not an image", "truncated", "cannot decode", "width <= 0"};
        for (int i = 0; i < broken.length; i++) {
            byte[] b = broken[i];
            String source = "row " + i;
            IOException e = assertThrows(ImageFormatException.class, () -> Images.read(b, source, Images.DEFAULT_MAX_PIXELS));
            assertTrue(e.getMessage().startsWith(source + ": ") && e.getMessage().contains(says[i]), e.getMessage());
        }
        byte[] small = Pngs.headerOnly(100, 100);
        PixelLimitException e = assertThrows(PixelLimitException.class, () -> Images.read(small, "big", 9_999));
        assertEquals("big: image of 100x100 = 10000 pixels is over the limit of 9999 (a decompression bomb?)", e.getMessage());
        assertThrows(NullPointerException.class, () -> Images.read((byte[]) null, "x", 1));
    }

    /** A PNG that declares w×h pixels (8-bit RGB) but whose data is a few zero bytes. */
    private Path pngHeader(int w, int h, String name) throws IOException {
        return Files.write(tmp.resolve(name), Pngs.headerOnly(w, h));
    }

    @Test
    void hugeAndZeroSizedImagesAreRefusedBeforeDecoding() throws IOException {
        Path bomb = pngHeader(100_000, 100_000, "bomb.png");
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertRefused(bomb, "limit"));
        Path small = pngHeader(100, 100, "small.png");
        IOException e = assertThrows(PixelLimitException.class, () -> Images.read(small, 9_999));
        assertTrue(e.getMessage().contains("100x100 = 10000 pixels is over the limit of 9999"), e.getMessage());
        assertRefused(pngHeader(0, 10, "zero.png"));
    }

    /** Bytes this thread has allocated so far (heap growth that no GC can hide). */
    private static long allocated() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    /**
     * A valid 16000×16000 PNG of a few kB (768 MB once decoded to RGB, twice that while decoding)
     * is refused from its header under the 64-megapixel default: in milliseconds, allocating well
     * under a megabyte.
     */
    @Test
    void a16000By16000PngIsRefusedFromItsHeaderInBoundedMemory() throws IOException {
        Path bomb = Files.write(tmp.resolve("bomb.png"), Pngs.bomb(16_000, 16_000, 0));
        long before = allocated(), t0 = System.nanoTime();
        PixelLimitException e = assertThrows(PixelLimitException.class, () -> Images.read(bomb));
        long bytes = allocated() - before, ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(e.getMessage().contains("16000x16000 = 256000000 pixels is over the limit of 67108864"), e.getMessage());
        assertTrue(bytes < 8L << 20, "allocated " + bytes + " bytes");
        System.out.printf("16000x16000 PNG (%d bytes on disk) refused in %d ms, %.2f MB allocated%n",
                Files.size(bomb), ms, bytes / 1e6);
        // The same check without reading pixels, and what a raised limit lets through.
        assertThrows(PixelLimitException.class, () -> Images.probe(bomb, Images.DEFAULT_MAX_PIXELS));
        assertEquals(new ImageInfo("png", 16_000, 16_000), Images.probe(bomb, 256_000_000));
    }

    @Test
    void raisingTheLimitReadsAnImageOverTheDefault() throws IOException {
        // 9000×8000 = 72 MP, over the 64 MP default; 216 MB once decoded.
        Path big = Files.write(tmp.resolve("big.png"), Pngs.bomb(9_000, 8_000, 0));
        assertThrows(PixelLimitException.class, () -> Images.read(big));
        RgbImage img = Images.read(big, 72_000_000);
        assertEquals(9_000, img.width());
        assertEquals(8_000, img.height());
        assertEquals(0, img.rgb(8_999, 7_999));
        assertThrows(PixelLimitException.class, () -> Images.read(big, 71_999_999));
    }

    /** A text chunk that inflates to 64 MB: skipped, not inflated (ImageIO would if asked for metadata). */
    @Test
    void compressedTextChunksAreNotInflated() throws IOException {
        Path p = Files.write(tmp.resolve("text.png"), Pngs.bomb(64, 48, 64 << 20));
        assertTrue(Files.size(p) < 1 << 20, "small on disk: " + Files.size(p));
        long before = allocated();
        RgbImage img = Images.read(p);
        assertEquals(64, img.width());
        assertTrue(allocated() - before < 8L << 20, "allocated " + (allocated() - before) + " bytes");
    }

    /**
     * Mutated PNG, JPEG and BMP files (flipped bytes, junk runs, truncation) either load or give an
     * IOException naming the file: never another exception, a crash or a hang.
     */
    @Test
    void fuzzedFilesLoadOrFailCleanly() throws IOException {
        Random rnd = new Random(12345);
        int loaded = 0, refused = 0;
        for (String format : new String[] {"png", "jpeg", "bmp"}) {
            byte[] orig = sampleBytes(format);
            for (int i = 0; i < 120; i++) {
                byte[] m = orig.clone();
                switch (i % 3) {
                    case 0:
                        for (int k = 0; k < 1 + rnd.nextInt(4); k++) m[rnd.nextInt(m.length)] ^= (byte) (1 << rnd.nextInt(8));
                        break;
                    case 1: {
                        int at = rnd.nextInt(m.length);
                        for (int k = at; k < Math.min(m.length, at + 1 + rnd.nextInt(16)); k++) m[k] = (byte) rnd.nextInt();
                        break;
                    }
                    default:
                        m = Arrays.copyOf(m, rnd.nextInt(m.length));
                }
                Path p = Files.write(tmp.resolve("fuzz" + i + "." + format), m);
                Object outcome = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
                    try {
                        return Images.read(p);
                    } catch (IOException | RuntimeException e) {
                        return e;
                    }
                });
                if (outcome instanceof RgbImage) {
                    RgbImage img = (RgbImage) outcome;
                    assertTrue(img.width() > 0 && img.height() > 0);
                    loaded++;
                } else if (outcome instanceof ImageFormatException) {
                    assertTrue(((Exception) outcome).getMessage().contains(p.toString()));
                    refused++;
                } else {
                    Throwable t = (Throwable) outcome;
                    fail("case " + i + " of " + format + " threw " + t, t);
                }
            }
        }
        System.out.println("fuzzed images: " + loaded + " loaded, " + refused + " refused");
        assertEquals(360, loaded + refused);
        assertTrue(refused > 0);
    }
}

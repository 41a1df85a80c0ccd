package org.clipsurgery.image;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DirectColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.event.IIOReadWarningListener;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;

/**
 * Turns image files, {@link BufferedImage}s and raw camera frames into 8-bit {@link RgbImage}s the
 * way the official Python pipeline does with {@code PIL.Image.open(f).convert("RGB")}.
 *
 * <p>Decoding is ImageIO's (PNG, JPEG, BMP, GIF and whatever other readers are installed); the
 * conversion to RGB follows Pillow's rules, which are not Java's {@code getRGB()}:
 * <ul>
 *   <li>Alpha is dropped, not composited (PIL's RGBA→RGB and LA→RGB ignore alpha); premultiplied
 *       images are un-premultiplied first.</li>
 *   <li>Grey is replicated to R = G = B without any gamma conversion (Java's linear-grey colour space
 *       would brighten it). Palette and low-bit-depth grey images take the palette's entries.</li>
 *   <li>16-bit samples: PNG RGB, RGBA and grey+alpha at 16 bits are loaded by Pillow with the raw
 *       modes {@code RGB;16B}, {@code RGBA;16B}, {@code LA;16B}, which keep the high byte of each
 *       sample, so this keeps {@code v >> 8}. 16-bit grey without alpha becomes Pillow mode
 *       {@code I;16} (older Pillow: {@code I}), whose conversion to RGB clips: v &gt; 255 gives 255,
 *       else v. Both are copied here on purpose, odd as the second is, so the pixels equal PIL's.</li>
 *   <li>CMYK JPEGs (4 components; ImageIO's {@code read} rejects them) are read as a raw raster.
 *       Pillow decodes every 4-component JPEG with raw mode {@code CMYK;I}: it assumes Adobe's
 *       inverted convention, so C = 255 − stored (likewise M, Y, K), whether or not the file carries
 *       an Adobe marker. YCCK files (Adobe transform 2) are first turned into stored CMYK with
 *       libjpeg's integer YCC tables, as libjpeg does for Pillow. Then Pillow's CMYK→RGB:
 *       {@code nk = 255 − K; R = nk − MULDIV255(C, nk)} (same for G with M, B with Y), where
 *       {@code MULDIV255(a, b) = ((t >> 8) + t) >> 8} with {@code t = a·b + 128}, i.e. a·b/255 rounded.
 *       For an Adobe file this comes to about stored_C · stored_K / 255.</li>
 *   <li>Colour profiles are ignored, as PIL's {@code convert} ignores them: RGB-family samples are
 *       taken as they are stored (packed-pixel images in a non-sRGB RGB space are the exception:
 *       Java's {@code DirectColorModel} converts those). {@link BufferedImage}s in other colour
 *       spaces (Lab, XYZ, float rasters) fall back to Java's conversion to sRGB, {@code getRGB()}.</li>
 * </ul>
 * EXIF orientation is not applied (neither PIL's {@code open} nor CLIP's preprocessing does).
 * JPEG pixels come from Java's libjpeg 6b and Pillow's from libjpeg-turbo; both use the same
 * integer IDCT and colour tables by default, but exact equality of JPEG pixels is not promised.
 *
 * <p>Every problem with a file (missing, unknown format, corrupt or truncated data, zero size, more
 * pixels than the limit) is an {@link ImageFormatException}, an {@link IOException} whose message
 * names the file. The pixel limit is checked against the size in the file's header before any
 * pixel is decoded ({@link PixelLimitException}); {@link #probe} makes the header checks alone.
 * Whatever the limit, an image of more than 715,827,879 pixels (the most one Java byte array holds at
 * 3 bytes a pixel) is refused.
 *
 * <p>Every method returns a new {@link RgbImage} with its own array, which the caller owns; no input
 * is kept or modified. The class holds no state, so its methods may be called from several threads
 * at once (each call uses its own ImageIO reader).
 */
public final class Images {
    /**
     * Default limit on width × height for files: 64 megapixels (8192 × 8192), above the largest
     * common camera sensors (50 MP phones, 61 MP full frame). Decoding costs about 6 bytes a pixel
     * for 8-bit RGB (ImageIO's image plus the RGB copy), up to 11 for 16-bit RGBA, so this keeps
     * one image under 0.4 GB (0.7 GB at worst). Pillow warns at 89 MP.
     */
    public static final long DEFAULT_MAX_PIXELS = 1L << 26;
    /** An RgbImage is one Java array, so it cannot hold more than this many pixels. */
    private static final long ARRAY_MAX_PIXELS = (Integer.MAX_VALUE - 8) / 3;

    private Images() {}

    /**
     * Reads an image file as RGB with the default pixel limit, {@link #DEFAULT_MAX_PIXELS}
     * ({@value #DEFAULT_MAX_PIXELS} pixels); otherwise as {@link #read(Path, long)}.
     *
     * @param file the image file, not null; its format is recognised from its content, not its name
     * @return the first image in the file as a new RGB image, owned by the caller
     * @throws PixelLimitException when the header declares more than {@value #DEFAULT_MAX_PIXELS} pixels
     * @throws ImageFormatException for any other problem with the file, with the file and the reason
     * @throws IOException rarely, for an I/O failure outside decoding (reading the file's size,
     *     closing it), which is passed on as it is
     */
    public static RgbImage read(Path file) throws IOException {
        return read(file, DEFAULT_MAX_PIXELS);
    }

    /**
     * Reads an image file as RGB, as {@code PIL.Image.open(file).convert("RGB")} does (see the class
     * comment for the conversion rules). The format is recognised from the file's content by the
     * first ImageIO reader that accepts it; of a file holding several images (an animated GIF) only
     * the first is read. The header's size is checked against {@code maxPixels} before any pixel is
     * decoded. A file whose decoder warns that it is truncated (libjpeg pads such a JPEG with grey)
     * is refused, as PIL refuses it. Unchecked exceptions from ImageIO's decoders on corrupt data are turned into
     * {@link ImageFormatException}s.
     *
     * @param file the image file, not null (a regular file; symbolic links are followed)
     * @param maxPixels width × height above which the file is refused, from its header, before its
     *     pixels are decoded; zero or negative refuses every file
     * @return the first image in the file as a new RGB image, owned by the caller
     * @throws PixelLimitException when the image has more pixels than {@code maxPixels}
     * @throws ImageFormatException for any other file that cannot be read (missing or not a regular
     *     file, empty, in no supported format, corrupt, truncated, of zero size, or over 715,827,879
     *     pixels), with the file and the reason
     * @throws IOException rarely, for an I/O failure outside decoding (reading the file's size,
     *     closing it), which is passed on as it is
     */
    public static RgbImage read(Path file, long maxPixels) throws IOException {
        return withReader(file, reader -> decode(file.toString(), reader, header(file.toString(), reader, maxPixels)));
    }

    /**
     * What the file's header says (format, width, height), checked like {@link #read(Path, long)}
     * checks it, without decoding any pixel: the file is read only as far as its size (PNG's
     * IHDR, JPEG's frame header, BMP's info header). Corrupt or truncated pixel data is found only by
     * {@link #read}, so a file that passes here may still fail there.
     *
     * @param file the image file, not null (a regular file; symbolic links are followed)
     * @param maxPixels width × height above which the file is refused; zero or negative refuses every
     *     file
     * @return the reader's format name in lower case and the first image's size, both positive
     * @throws PixelLimitException when the header declares more pixels than {@code maxPixels}
     * @throws ImageFormatException when the file is missing or not a regular file, empty, in no
     *     supported format, has an unreadable header, declares a zero size or over 715,827,879 pixels
     * @throws IOException rarely, for an I/O failure outside decoding (reading the file's size,
     *     closing it), which is passed on as it is
     */
    public static ImageInfo probe(Path file, long maxPixels) throws IOException {
        return withReader(file, reader -> header(file.toString(), reader, maxPixels));
    }

    private interface ReaderAction<T> {
        T apply(ImageReader reader) throws IOException;
    }

    /**
     * Reads an encoded image held in memory (the bytes of a PNG, JPEG, BMP or GIF file) as RGB, by
     * the same rules and with the same checks as {@link #read(Path, long)}: the header's size
     * against {@code maxPixels} before any pixel is decoded, truncated data refused, every decoding
     * failure an {@link ImageFormatException}. For images that arrive as bytes rather than files
     * (a message, a database row, Spark's {@code binaryFile} source).
     *
     * @param encoded the encoded image, not null; only read, not kept
     * @param source what to call it in error messages (a path or URI it came from), not null
     * @param maxPixels width × height above which the image is refused, from its header; zero or
     *     negative refuses every image
     * @return the first image in the data as a new RGB image, owned by the caller
     * @throws PixelLimitException when the image has more pixels than {@code maxPixels}
     * @throws ImageFormatException for any other problem (empty, in no supported format, corrupt,
     *     truncated, of zero size, or over 715,827,879 pixels), with {@code source} and the reason
     * @throws NullPointerException if {@code encoded} or {@code source} is null
     */
    public static RgbImage read(byte[] encoded, String source, long maxPixels) throws IOException {
        Objects.requireNonNull(encoded, "encoded");
        Objects.requireNonNull(source, "source");
        if (encoded.length == 0) throw new ImageFormatException(source, "empty file");
        ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(encoded));
        return withReader(source, in, reader -> decode(source, reader, header(source, reader, maxPixels)));
    }

    /** Opens {@code file} for {@link #withReader(String, ImageInputStream, ReaderAction)}, refusing what is no image file. */
    private static <T> T withReader(Path file, ReaderAction<T> action) throws IOException {
        String source = file.toString();
        if (!Files.isRegularFile(file)) throw new ImageFormatException(source, "no such file");
        if (Files.size(file) == 0) throw new ImageFormatException(source, "empty file");
        ImageInputStream in;
        try {
            in = ImageIO.createImageInputStream(file.toFile());
        } catch (IOException e) {
            throw new ImageFormatException(source, "cannot open: " + e.getMessage(), e);
        }
        if (in == null) throw new ImageFormatException(source, "cannot open");
        return withReader(source, in, action);
    }

    /**
     * Runs {@code action} on a reader of {@code in} (closed here); every failure becomes an
     * ImageFormatException naming {@code source}.
     */
    private static <T> T withReader(String source, ImageInputStream in, ReaderAction<T> action) throws IOException {
        try (ImageInputStream stream = in) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(stream);
            if (!readers.hasNext()) {
                throw new ImageFormatException(source, "not an image in a supported format (PNG, JPEG, BMP, GIF)");
            }
            ImageReader reader = readers.next();
            try {
                // ignoreMetadata: the PNG reader then skips text and profile chunks, which it would
                // otherwise inflate without bound (a compressed text chunk is a bomb of its own).
                reader.setInput(stream, true, true);
                return action.apply(reader);
            } catch (ImageFormatException e) {
                throw e;
            } catch (IOException | RuntimeException e) {
                // ImageIO reports corrupt data as IIOException but also as unchecked exceptions
                // (index out of bounds, illegal argument, negative array size) from its decoders.
                throw new ImageFormatException(source, "cannot decode " + reader.getFormatName() + " image: "
                        + problem(e), e);
            } finally {
                reader.dispose();
            }
        }
    }

    /** An ImageIO failure in a few words: its message and its cause's ("Unexpected end of ZLIB input stream"). */
    private static String problem(Exception e) {
        if (!(e instanceof IOException) || e.getMessage() == null) return e.toString();
        Throwable c = e.getCause();
        return e.getMessage() + (c != null && c.getMessage() != null ? " (" + c.getMessage() + ")" : "");
    }

    /** The header's format and size, refused when empty or over the limits. */
    private static ImageInfo header(String file, ImageReader reader, long maxPixels) throws IOException {
        String format = reader.getFormatName().toLowerCase(java.util.Locale.ROOT);
        int w = reader.getWidth(0);
        int h = reader.getHeight(0);
        if (w <= 0 || h <= 0) throw new ImageFormatException(file, "image has zero size (" + w + "x" + h + ")");
        long pixels = (long) w * h;
        if (pixels > maxPixels) throw new PixelLimitException(file, w, h, maxPixels);
        if (pixels > ARRAY_MAX_PIXELS) {
            throw new ImageFormatException(file, "image of " + w + "x" + h + " is larger than this library holds ("
                    + ARRAY_MAX_PIXELS + " pixels)");
        }
        return new ImageInfo(format, w, h);
    }

    private static RgbImage decode(String file, ImageReader reader, ImageInfo info) throws IOException {
        String format = info.format();
        int w = info.width();
        int h = info.height();
        List<String> warnings = new ArrayList<>();
        reader.addIIOReadWarningListener(new IIOReadWarningListener() {
            @Override
            public void warningOccurred(ImageReader source, String warning) {
                warnings.add(warning);
            }
        });
        IIOMetadata meta = reader.getImageMetadata(0);
        RgbImage out;
        if (format.equals("jpeg") && jpegComponents(meta) == 4) {
            Raster raster = reader.readRaster(0, null);
            out = cmykJpegToRgb(raster, adobeTransform(meta) == 2);
        } else {
            BufferedImage img = reader.read(0);
            // For PNG the header decides (ImageIO may turn a tRNS chunk into an alpha band, Pillow
            // keeps such a file as I;16); for other formats the decoded image does.
            out = convert(img, format.equals("png") ? Boolean.valueOf(isPngGrey16(meta)) : null);
        }
        // libjpeg does not fail on a truncated file: it warns and pads with grey. PIL refuses such a
        // file ("image file is truncated"), and so do we.
        for (String wmsg : warnings) {
            String lw = wmsg.toLowerCase(java.util.Locale.ROOT);
            if (lw.contains("premature end") || lw.contains("truncat")) {
                throw new ImageFormatException(file, "truncated " + format + " image: " + wmsg);
            }
        }
        if (out.width() != w || out.height() != h) {
            throw new ImageFormatException(file, "decoder returned " + out.width() + "x" + out.height()
                    + " for an image declared " + w + "x" + h);
        }
        return out;
    }

    /**
     * Converts any {@link BufferedImage} to RGB by the rules in the class comment. A 16-bit grey
     * image without alpha is treated as Pillow's {@code I;16} (values above 255 clip to 255); with
     * alpha, as {@code LA;16B} (the high byte of each sample). No pixel limit applies beyond what one
     * array holds. The image is only read (a premultiplied one is un-premultiplied on a copy), so it
     * must not be changed by another thread during the call.
     *
     * @param image the image to convert, not null
     * @return a new RGB image of the same size, owned by the caller
     * @throws IllegalArgumentException when the image has more than 715,827,879 pixels
     */
    public static RgbImage fromBufferedImage(BufferedImage image) {
        return convert(image, null);
    }

    /**
     * Copies a raw interleaved uint8 RGB frame (as a camera or a video decoder gives it) into a new
     * image. Row y is read from {@code frame[offset + y * rowStride]} on, {@code width * 3} bytes;
     * padding bytes between rows are skipped, and the last row needs no padding after it. The frame
     * array is neither kept nor modified, so it may be reused for the next frame at once.
     *
     * @param frame the bytes holding the frame, not null
     * @param offset index in {@code frame} of the first pixel's R byte, at least 0
     * @param width the frame's width in pixels, positive
     * @param height the frame's height in pixels, positive
     * @param rowStride bytes from one row's start to the next, at least {@code width * 3}
     * @return a new RGB image with a copy of the pixels, owned by the caller
     * @throws IllegalArgumentException for a non-positive size, more than 715,827,879 pixels, a row
     *     stride under {@code width * 3}, a negative offset, or an array too short for the frame
     *     ({@code offset + rowStride * (height - 1) + width * 3} bytes needed)
     */
    public static RgbImage fromRgbFrame(byte[] frame, int offset, int width, int height, int rowStride) {
        return fromFrame(frame, offset, width, height, rowStride, false);
    }

    /**
     * As {@link #fromRgbFrame}, for a frame in B, G, R byte order (OpenCV's {@code Mat} of type
     * {@code CV_8UC3}): the bytes of each pixel are swapped into R, G, B in the copy.
     *
     * @param frame the bytes holding the frame, not null
     * @param offset index in {@code frame} of the first pixel's B byte, at least 0
     * @param width the frame's width in pixels, positive
     * @param height the frame's height in pixels, positive
     * @param rowStride bytes from one row's start to the next, at least {@code width * 3}
     * @return a new RGB image with a copy of the pixels, owned by the caller
     * @throws IllegalArgumentException for a non-positive size, more than 715,827,879 pixels, a row
     *     stride under {@code width * 3}, a negative offset, or an array too short for the frame
     *     ({@code offset + rowStride * (height - 1) + width * 3} bytes needed)
     */
    public static RgbImage fromBgrFrame(byte[] frame, int offset, int width, int height, int rowStride) {
        return fromFrame(frame, offset, width, height, rowStride, true);
    }

    private static RgbImage fromFrame(byte[] frame, int offset, int width, int height, int rowStride, boolean bgr) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("frame size must be positive, got " + width + "x" + height);
        }
        if ((long) width * height > ARRAY_MAX_PIXELS) {
            throw new IllegalArgumentException("frame of " + width + "x" + height + " is too large");
        }
        if (rowStride < width * 3) {
            throw new IllegalArgumentException("row stride " + rowStride + " is less than width*3 = " + width * 3);
        }
        long end = offset + (long) rowStride * (height - 1) + (long) width * 3;
        if (offset < 0 || end > frame.length) {
            throw new IllegalArgumentException("frame of " + width + "x" + height + " with stride " + rowStride
                    + " from offset " + offset + " needs " + end + " bytes, array has " + frame.length);
        }
        byte[] out = new byte[width * height * 3];
        for (int y = 0; y < height; y++) {
            int src = offset + y * rowStride;
            int dst = y * width * 3;
            if (!bgr) {
                System.arraycopy(frame, src, out, dst, width * 3);
            } else {
                for (int x = 0; x < width; x++, src += 3, dst += 3) {
                    out[dst] = frame[src + 2];
                    out[dst + 1] = frame[src + 1];
                    out[dst + 2] = frame[src];
                }
            }
        }
        return new RgbImage(width, height, out);
    }

    // ---------------------------------------------------------------- BufferedImage conversion

    /**
     * @param grey16Clips whether 16-bit grey follows Pillow's I;16 clipping rule (else: high byte);
     *     null = when the image has no alpha
     */
    private static RgbImage convert(BufferedImage image, Boolean grey16Clips) {
        int w = image.getWidth();
        int h = image.getHeight();
        if ((long) w * h > ARRAY_MAX_PIXELS) {
            throw new IllegalArgumentException("image of " + w + "x" + h + " is too large");
        }
        ColorModel cm = image.getColorModel();
        WritableRaster raster = image.getRaster();
        byte[] out = new byte[w * h * 3];
        if (cm instanceof IndexColorModel) {
            IndexColorModel icm = (IndexColorModel) cm;
            int size = icm.getMapSize();
            int[] pal = new int[size];
            icm.getRGBs(pal); // the palette's own entries: sRGB, alpha ignored below
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, row);
                for (int x = 0; x < w; x++) {
                    int idx = row[x];
                    // An index past the palette is a corrupt file; Pillow reads such entries as black.
                    int rgb = idx >= 0 && idx < size ? pal[idx] : 0;
                    int o = (y * w + x) * 3;
                    out[o] = (byte) (rgb >> 16);
                    out[o + 1] = (byte) (rgb >> 8);
                    out[o + 2] = (byte) rgb;
                }
            }
            return new RgbImage(w, h, out);
        }
        int type = raster.getDataBuffer().getDataType();
        boolean integral = type == DataBuffer.TYPE_BYTE || type == DataBuffer.TYPE_USHORT
                || type == DataBuffer.TYPE_SHORT || type == DataBuffer.TYPE_INT;
        if (cm.isAlphaPremultiplied() && integral) {
            // Pillow holds straight (non-premultiplied) colour; undo the premultiplication on a copy.
            WritableRaster copy = cm.createCompatibleWritableRaster(w, h);
            copy.setRect(raster.createChild(raster.getMinX(), raster.getMinY(), w, h, 0, 0, null));
            cm = cm.coerceData(copy, false);
            raster = copy;
        }
        int csType = cm.getColorSpace().getType();
        int nColor = cm.getNumColorComponents();
        if (cm instanceof DirectColorModel && csType == ColorSpace.TYPE_RGB) {
            DirectColorModel dcm = (DirectColorModel) cm;
            // getRed/Green/Blue(int) scale each field to 8 bits without colour management for packed
            // sRGB pixels. A row at a time: the transfer type is int, ushort or byte.
            Object rowData = null;
            for (int y = 0; y < h; y++) {
                rowData = raster.getDataElements(0, y, w, 1, rowData);
                for (int x = 0; x < w; x++) {
                    int px = packedPixel(rowData, x);
                    int o = (y * w + x) * 3;
                    out[o] = (byte) dcm.getRed(px);
                    out[o + 1] = (byte) dcm.getGreen(px);
                    out[o + 2] = (byte) dcm.getBlue(px);
                }
            }
            return new RgbImage(w, h, out);
        }
        if (cm instanceof ComponentColorModel && integral
                && (csType == ColorSpace.TYPE_RGB && nColor == 3 || csType == ColorSpace.TYPE_GRAY && nColor == 1
                        || csType == ColorSpace.TYPE_CMYK && nColor == 4)) {
            int bands = raster.getNumBands();
            boolean clip16 = grey16Clips != null ? grey16Clips : !cm.hasAlpha();
            int[] bits = new int[nColor];
            for (int c = 0; c < nColor; c++) bits[c] = cm.getComponentSize(c);
            int[] row = new int[w * bands];
            for (int y = 0; y < h; y++) {
                raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    int p = x * bands;
                    int o = (y * w + x) * 3;
                    if (csType == ColorSpace.TYPE_GRAY) {
                        int v = (clip16 && bits[0] == 16)
                                ? Math.min(row[p] & 0xFFFF, 255) // Pillow I;16 -> RGB clips
                                : to8(row[p], bits[0]);
                        out[o] = out[o + 1] = out[o + 2] = (byte) v;
                    } else if (csType == ColorSpace.TYPE_RGB) {
                        out[o] = (byte) to8(row[p], bits[0]);
                        out[o + 1] = (byte) to8(row[p + 1], bits[1]);
                        out[o + 2] = (byte) to8(row[p + 2], bits[2]);
                    } else {
                        int k = to8(row[p + 3], bits[3]);
                        out[o] = (byte) pilCmykChannel(to8(row[p], bits[0]), k);
                        out[o + 1] = (byte) pilCmykChannel(to8(row[p + 1], bits[1]), k);
                        out[o + 2] = (byte) pilCmykChannel(to8(row[p + 2], bits[2]), k);
                    }
                }
            }
            return new RgbImage(w, h, out);
        }
        // Anything else (float rasters, Lab, XYZ, odd colour models): Java's own conversion to sRGB.
        int[] rgb = new int[w];
        for (int y = 0; y < h; y++) {
            image.getRGB(0, y, w, 1, rgb, 0, w);
            for (int x = 0; x < w; x++) {
                int o = (y * w + x) * 3;
                out[o] = (byte) (rgb[x] >> 16);
                out[o + 1] = (byte) (rgb[x] >> 8);
                out[o + 2] = (byte) rgb[x];
            }
        }
        return new RgbImage(w, h, out);
    }

    private static int packedPixel(Object row, int x) {
        if (row instanceof int[]) return ((int[]) row)[x];
        if (row instanceof short[]) return ((short[]) row)[x] & 0xFFFF;
        return ((byte[]) row)[x] & 0xFF;
    }

    /**
     * A sample of {@code bits} bits as 8 bits: 8 as is; 16 by its high byte (Pillow's
     * {@code ;16B} unpackers); other depths scaled to 0..255 with rounding.
     */
    private static int to8(int v, int bits) {
        if (bits == 8) return v & 0xFF;
        if (bits == 16) return (v >> 8) & 0xFF;
        if (bits > 16) return (int) (((long) v & 0xFFFFFFFFL) >>> (bits - 8)) & 0xFF;
        int max = (1 << bits) - 1;
        return (v * 255 + max / 2) / max;
    }

    // ---------------------------------------------------------------- CMYK JPEG

    /** Pillow's cmyk2rgb for one channel: nk − MULDIV255(c, nk) with nk = 255 − k. */
    static int pilCmykChannel(int c, int k) {
        int nk = 255 - k;
        int t = c * nk + 128;
        int v = nk - (((t >> 8) + t) >> 8);
        return v < 0 ? 0 : (v > 255 ? 255 : v);
    }

    // libjpeg's YCC->RGB tables (jdcolor.c): 16-bit fixed point, rounded.
    private static final int SCALEBITS = 16;
    private static final int ONE_HALF = 1 << (SCALEBITS - 1);
    private static final int[] CR_R = new int[256];
    private static final int[] CB_B = new int[256];
    private static final int[] CR_G = new int[256];
    private static final int[] CB_G = new int[256];

    static {
        for (int i = 0; i < 256; i++) {
            int x = i - 128;
            CR_R[i] = (fix(1.40200) * x + ONE_HALF) >> SCALEBITS;
            CB_B[i] = (fix(1.77200) * x + ONE_HALF) >> SCALEBITS;
            CR_G[i] = -fix(0.71414) * x;
            CB_G[i] = -fix(0.34414) * x + ONE_HALF;
        }
    }

    private static int fix(double x) {
        return (int) (x * (1L << SCALEBITS) + 0.5);
    }

    private static int clamp255(int v) {
        return v < 0 ? 0 : (v > 255 ? 255 : v);
    }

    /**
     * A 4-component JPEG raster (as stored: CMYK, or YCCK when {@code ycck}) to RGB as Pillow
     * produces it; see the class comment for the formula.
     */
    static RgbImage cmykJpegToRgb(Raster raster, boolean ycck) {
        int w = raster.getWidth();
        int h = raster.getHeight();
        if (raster.getNumBands() != 4) {
            throw new IllegalArgumentException("expected 4 bands, got " + raster.getNumBands());
        }
        byte[] out = new byte[w * h * 3];
        int[] row = new int[w * 4];
        for (int y = 0; y < h; y++) {
            raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int p = x * 4;
                int c0 = row[p] & 0xFF, c1 = row[p + 1] & 0xFF, c2 = row[p + 2] & 0xFF, k = row[p + 3] & 0xFF;
                if (ycck) {
                    // libjpeg's ycck_cmyk_convert: stored CMY = 255 - (YCC -> RGB), K passes through.
                    int yy = c0, cb = c1, cr = c2;
                    c0 = clamp255(255 - (yy + CR_R[cr]));
                    c1 = clamp255(255 - (yy + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS)));
                    c2 = clamp255(255 - (yy + CB_B[cb]));
                }
                // Pillow's CMYK;I raw mode: every stored byte is inverted.
                int kk = 255 - k;
                int o = (y * w + x) * 3;
                out[o] = (byte) pilCmykChannel(255 - c0, kk);
                out[o + 1] = (byte) pilCmykChannel(255 - c1, kk);
                out[o + 2] = (byte) pilCmykChannel(255 - c2, kk);
            }
        }
        return new RgbImage(w, h, out);
    }

    // ---------------------------------------------------------------- metadata

    private static Node tree(IIOMetadata meta, String format) {
        if (meta == null) return null;
        for (String name : meta.getMetadataFormatNames() == null ? new String[0] : meta.getMetadataFormatNames()) {
            if (name.equals(format)) return meta.getAsTree(format);
        }
        return null;
    }

    private static Node find(Node n, String name) {
        if (n == null) return null;
        if (name.equals(n.getNodeName())) return n;
        for (Node c = n.getFirstChild(); c != null; c = c.getNextSibling()) {
            Node f = find(c, name);
            if (f != null) return f;
        }
        return null;
    }

    private static String attr(Node n, String name) {
        if (n == null) return null;
        NamedNodeMap a = n.getAttributes();
        Node v = a == null ? null : a.getNamedItem(name);
        return v == null ? null : v.getNodeValue();
    }

    /** Number of components in the JPEG's frame header, or -1 if unknown. */
    private static int jpegComponents(IIOMetadata meta) {
        Node sof = find(tree(meta, "javax_imageio_jpeg_image_1.0"), "sof");
        String n = attr(sof, "numFrameComponents");
        if (n != null) return Integer.parseInt(n);
        if (sof == null) return -1;
        int count = 0;
        for (Node c = sof.getFirstChild(); c != null; c = c.getNextSibling()) {
            if ("componentSpec".equals(c.getNodeName())) count++;
        }
        return count;
    }

    /** The Adobe APP14 transform flag (0 none/CMYK, 1 YCbCr, 2 YCCK), or -1 without the marker. */
    private static int adobeTransform(IIOMetadata meta) {
        String t = attr(find(tree(meta, "javax_imageio_jpeg_image_1.0"), "app14Adobe"), "transform");
        return t == null ? -1 : Integer.parseInt(t);
    }

    /** Whether a PNG's header says 16-bit grey (with or without a tRNS chunk, but no alpha channel). */
    private static boolean isPngGrey16(IIOMetadata meta) {
        Node ihdr = find(tree(meta, "javax_imageio_png_1.0"), "IHDR");
        return "Grayscale".equals(attr(ihdr, "colorType")) && "16".equals(attr(ihdr, "bitDepth"));
    }
}

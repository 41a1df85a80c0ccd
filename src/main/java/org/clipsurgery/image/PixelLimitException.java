package org.clipsurgery.image;

import java.nio.file.Path;

/**
 * An image file whose header declares more pixels than the caller's limit: refused before any
 * pixel is decoded, so a small file that would expand to gigabytes (a decompression bomb) costs
 * nothing. The limit is the caller's to raise (the {@code maxPixels} argument of
 * {@link Images#read(Path, long)}, {@link Images#read(byte[], String, long)} and
 * {@link Images#probe(Path, long)}).
 */
public class PixelLimitException extends ImageFormatException {
    /**
     * An exception whose message names the file, its declared size, its pixel count
     * ({@code width * height}, computed in {@code long}) and the limit.
     *
     * @param file the refused file (only its {@code toString()} is kept, in the message)
     * @param width the width declared in the file's header, in pixels
     * @param height the height declared in the file's header, in pixels
     * @param limit the largest pixel count the caller allowed
     */
    public PixelLimitException(Path file, int width, int height, long limit) {
        this(String.valueOf(file), width, height, limit);
    }

    /**
     * An exception whose message names the image's source, its declared size, its pixel count and
     * the limit.
     *
     * @param source what the refused image is called: a path, or where in-memory bytes came from
     * @param width the width declared in the image's header, in pixels
     * @param height the height declared in the image's header, in pixels
     * @param limit the largest pixel count the caller allowed
     */
    public PixelLimitException(String source, int width, int height, long limit) {
        super(source, "image of " + width + "x" + height + " = " + (long) width * height
                + " pixels is over the limit of " + limit + " (a decompression bomb?)");
    }
}

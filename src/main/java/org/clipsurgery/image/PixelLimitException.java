package org.clipsurgery.image;

import java.nio.file.Path;

/**
 * An image file whose header declares more pixels than the caller's limit: refused before any
 * pixel is decoded, so a small file that would expand to gigabytes (a decompression bomb) costs
 * nothing. The limit is the caller's to raise.
 */
public class PixelLimitException extends ImageFormatException {
    public PixelLimitException(Path file, int width, int height, long limit) {
        super(file, "image of " + width + "x" + height + " = " + (long) width * height
                + " pixels is over the limit of " + limit + " (a decompression bomb?)");
    }
}

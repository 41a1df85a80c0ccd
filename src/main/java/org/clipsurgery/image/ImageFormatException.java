package org.clipsurgery.image;

import java.io.IOException;
import java.nio.file.Path;

/**
 * An image file that cannot be read: missing, empty, in no supported format, corrupt, truncated,
 * of zero size or too large. The message is {@code "<file>: <problem>"}, so it names the file and
 * the problem. {@link Images#read(Path, long)} and {@link Images#probe(Path, long)} throw it (or its
 * subclass {@link PixelLimitException}) for every problem with a file.
 */
public class ImageFormatException extends IOException {
    /**
     * An exception with the message {@code file + ": " + problem} and no cause.
     *
     * @param file the file that cannot be read; only its {@code toString()} is kept, in the message
     *     (null gives "null")
     * @param problem what is wrong with it, in a few words
     */
    public ImageFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    /**
     * An exception with the message {@code file + ": " + problem} and the underlying failure.
     *
     * @param file the file that cannot be read; only its {@code toString()} is kept, in the message
     *     (null gives "null")
     * @param problem what is wrong with it, in a few words
     * @param cause the failure that revealed the problem (an ImageIO exception, say), or null
     */
    public ImageFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}

package org.clipsurgery.image;

import java.io.IOException;
import java.nio.file.Path;

/**
 * An image file that cannot be read: missing, empty, in no supported format, corrupt, truncated,
 * of zero size or too large. The message is {@code "<file>: <problem>"}, so it names the file (or
 * where in-memory bytes came from) and the problem. {@link Images#read(Path, long)},
 * {@link Images#read(byte[], String, long)} and {@link Images#probe(Path, long)} throw it (or its
 * subclass {@link PixelLimitException}) for every problem with an image.
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
        this(String.valueOf(file), problem);
    }

    /**
     * An exception with the message {@code source + ": " + problem} and no cause.
     *
     * @param source what the image is called: a path, or where in-memory bytes came from
     * @param problem what is wrong with it, in a few words
     */
    public ImageFormatException(String source, String problem) {
        super(source + ": " + problem);
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
        this(String.valueOf(file), problem, cause);
    }

    /**
     * An exception with the message {@code source + ": " + problem} and the underlying failure.
     *
     * @param source what the image is called: a path, or where in-memory bytes came from
     * @param problem what is wrong with it, in a few words
     * @param cause the failure that revealed the problem, or null
     */
    public ImageFormatException(String source, String problem, Throwable cause) {
        super(source + ": " + problem, cause);
    }
}

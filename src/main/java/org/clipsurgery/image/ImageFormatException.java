package org.clipsurgery.image;

import java.io.IOException;
import java.nio.file.Path;

/** An image file that cannot be read: the message names the file and the problem. */
public class ImageFormatException extends IOException {
    public ImageFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public ImageFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}

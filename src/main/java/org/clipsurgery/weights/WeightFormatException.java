package org.clipsurgery.weights;

import java.io.IOException;
import java.nio.file.Path;

/** A weight or tensor file that cannot be read: the message names the file and the problem. */
public class WeightFormatException extends IOException {
    public WeightFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public WeightFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}

package org.clipsurgery.cli;

/**
 * A mistake on the command line found while running a command (an input file that does not
 * exist, a label that is not in the set, images of different sizes for {@code --save-tensors}):
 * reported as one line and exit status 2, like picocli's own parameter errors.
 */
final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}

package org.clipsurgery.engine;

import java.util.Objects;

/**
 * One 8-bit frame as it arrives: {@code height} rows of {@code width} interleaved pixels, 3 bytes
 * each, rows packed ({@code width·3} bytes apart), in RGB or BGR order. The array is not copied:
 * it must not change until the explain call that takes it returns.
 */
public record Frame(byte[] data, int height, int width, boolean bgr) {
    public Frame {
        Objects.requireNonNull(data, "frame data");
        if (height < 1 || width < 1) throw new IllegalArgumentException("frame of size " + width + "×" + height + " is empty");
        if (data.length != (long) height * width * 3) {
            throw new IllegalArgumentException("a " + width + "×" + height + " frame has " + (long) height * width * 3
                    + " bytes, got " + data.length);
        }
    }
}

package org.clipsurgery.image;

/**
 * An 8-bit RGB image held as one interleaved array: pixel (x, y) channel c is at
 * {@code data[(y * width + x) * 3 + c]}, read unsigned, with x from 0 (left) and y from 0 (top).
 * This is the form PIL's mode "RGB" has after {@code convert("RGB")}, and the form
 * the CPU engine's preprocessing takes. {@link Images} makes one from a file, a
 * {@link java.awt.image.BufferedImage} or a camera frame.
 *
 * <p>The array is owned by the image: the constructor does not copy it, so callers hand over a fresh
 * array and do not touch it afterwards; {@link #data()} returns the live array for speed and callers
 * must not modify it. Held that way, an image never changes and may be shared between threads.
 */
public final class RgbImage {
    private final int width;
    private final int height;
    private final byte[] data;

    /**
     * Wraps {@code data} as an image, without copying it: the image keeps this very array.
     *
     * @param width the width in pixels, positive
     * @param height the height in pixels, positive
     * @param data interleaved RGB, exactly {@code width * height * 3} bytes; the image takes
     *     ownership, so the caller must not modify it afterwards
     * @throws IllegalArgumentException for a non-positive size, a null array or an array whose length
     *     is not {@code width * height * 3}
     */
    public RgbImage(int width, int height, byte[] data) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size must be positive, got " + width + "x" + height);
        }
        long need = (long) width * height * 3;
        if (data == null || data.length != need) {
            throw new IllegalArgumentException("a " + width + "x" + height + " RGB image needs " + need
                    + " bytes, got " + (data == null ? "null" : String.valueOf(data.length)));
        }
        this.width = width;
        this.height = height;
        this.data = data;
    }

    /**
     * The width.
     *
     * @return the width in pixels, positive
     */
    public int width() {
        return width;
    }

    /**
     * The height.
     *
     * @return the height in pixels, positive
     */
    public int height() {
        return height;
    }

    /**
     * The interleaved RGB bytes, not a copy: the image's own array, for fast reading.
     *
     * @return the live array of {@code width() * height() * 3} bytes (R, G, B of each pixel, rows
     *     top to bottom, read unsigned); callers must not modify it
     */
    public byte[] data() {
        return data;
    }

    /**
     * One channel of one pixel. The coordinates are not checked one by one, only the resulting
     * array index: an x outside {@code 0..width()-1} (or a c outside 0..2) may silently read
     * another pixel's byte instead of throwing.
     *
     * @param x the column, 0 (left) to {@code width() - 1}
     * @param y the row, 0 (top) to {@code height() - 1}
     * @param c the channel: 0 = R, 1 = G, 2 = B
     * @return the sample, 0..255
     * @throws ArrayIndexOutOfBoundsException when {@code (y * width() + x) * 3 + c} is outside the array
     */
    public int get(int x, int y, int c) {
        return data[(y * width + x) * 3 + c] & 0xFF;
    }

    /**
     * One pixel packed as {@code 0xRRGGBB}, the layout of {@link java.awt.image.BufferedImage#getRGB(int, int)}
     * without its alpha byte (the top byte is 0), handy in tests and for comparisons with
     * {@code getRGB()}. Coordinates are checked as in {@link #get(int, int, int)}.
     *
     * @param x the column, 0 (left) to {@code width() - 1}
     * @param y the row, 0 (top) to {@code height() - 1}
     * @return the pixel as {@code R << 16 | G << 8 | B}, each 0..255
     * @throws ArrayIndexOutOfBoundsException when the pixel's bytes fall outside the array
     */
    public int rgb(int x, int y) {
        int i = (y * width + x) * 3;
        return (data[i] & 0xFF) << 16 | (data[i + 1] & 0xFF) << 8 | (data[i + 2] & 0xFF);
    }

    /**
     * A short description with the size only, not the pixels.
     *
     * @return {@code "RgbImage[<width>x<height>]"}
     */
    @Override
    public String toString() {
        return "RgbImage[" + width + "x" + height + "]";
    }
}

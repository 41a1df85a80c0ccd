package org.clipsurgery.image;

/**
 * An 8-bit RGB image held as one interleaved array: pixel (x, y) channel c is at
 * {@code data[(y * width + x) * 3 + c]}, read unsigned. This is the form PIL's mode "RGB" has
 * after {@code convert("RGB")}, and the form {@link Preprocessor} takes.
 *
 * <p>The array is owned by the image: constructors copy nothing, so callers hand over a fresh
 * array; {@link #data()} returns the live array for speed and callers must not modify it.
 */
public final class RgbImage {
    private final int width;
    private final int height;
    private final byte[] data;

    /**
     * @param data interleaved RGB, exactly {@code width * height * 3} bytes
     * @throws IllegalArgumentException for a non-positive size or a wrong array length
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

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** The interleaved RGB bytes (live array, do not modify). */
    public byte[] data() {
        return data;
    }

    /** Channel {@code c} (0 = R, 1 = G, 2 = B) of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) {
        return data[(y * width + x) * 3 + c] & 0xFF;
    }

    /** Packed 0xRRGGBB of pixel (x, y), handy in tests and for comparison with getRGB(). */
    public int rgb(int x, int y) {
        int i = (y * width + x) * 3;
        return (data[i] & 0xFF) << 16 | (data[i + 1] & 0xFF) << 8 | (data[i + 2] & 0xFF);
    }

    @Override
    public String toString() {
        return "RgbImage[" + width + "x" + height + "]";
    }
}

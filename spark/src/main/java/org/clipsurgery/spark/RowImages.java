package org.clipsurgery.spark;

import java.io.IOException;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.image.ImageFormatException;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.PixelLimitException;
import org.clipsurgery.image.RgbImage;

/**
 * The image of a row: the bytes of an image file (Spark's {@code binaryFile} source, or any binary
 * column), decoded by {@link Images#read(byte[], String, long)}, or Spark's image struct (the
 * {@code image} source: 8-bit BGR, BGRA or grey pixels, already decoded by Spark), converted to
 * RGB. Either way an image the model would refuse (over the pixel limit, a side over
 * {@link ClipSurgery#MAX_IMAGE_SIDE}) is refused here, so that one row's problem is that row's.
 */
final class RowImages {
    // OpenCV's type codes, as Spark's ImageSchema stores them in "mode"
    private static final int CV_8UC1 = 0;
    private static final int CV_8UC3 = 16;
    private static final int CV_8UC4 = 24;

    private RowImages() {}

    /** Whether {@code type} is Spark's image struct (ImageSchema.columnSchema's fields, by name and type). */
    static boolean isImageStruct(DataType type) {
        if (!(type instanceof StructType s)) return false;
        try {
            return s.apply("data").dataType() instanceof BinaryType && s.fieldIndex("height") >= 0
                    && s.fieldIndex("width") >= 0 && s.fieldIndex("nChannels") >= 0 && s.fieldIndex("mode") >= 0;
        } catch (IllegalArgumentException missing) {
            return false;
        }
    }

    /**
     * The row's image as RGB.
     *
     * @param value the input column's value: {@code byte[]} file content, or an image struct row
     * @param source what the row is called in messages
     * @throws ImageFormatException when there is no image, it cannot be decoded, or the model would
     *     refuse its size
     */
    static RgbImage read(Object value, String source, long maxPixels) throws IOException {
        if (value == null) throw new ImageFormatException(source, "no image (null)");
        RgbImage img = value instanceof Row struct ? fromStruct(struct, source, maxPixels)
                : Images.read((byte[]) value, source, maxPixels);
        if (img.width() > ClipSurgery.MAX_IMAGE_SIDE || img.height() > ClipSurgery.MAX_IMAGE_SIDE) {
            throw new ImageFormatException(source, "image of " + img.width() + "x" + img.height()
                    + " has a side over " + ClipSurgery.MAX_IMAGE_SIDE + " pixels");
        }
        return img;
    }

    private static RgbImage fromStruct(Row s, String source, long maxPixels) throws IOException {
        int h = s.<Integer>getAs("height"), w = s.<Integer>getAs("width");
        int channels = s.<Integer>getAs("nChannels"), mode = s.<Integer>getAs("mode");
        byte[] data = s.getAs("data");
        if (h <= 0 || w <= 0 || data == null) throw new ImageFormatException(source, "undecoded image (Spark's image source could not read it)");
        if ((long) w * h > maxPixels) throw new PixelLimitException(source, w, h, maxPixels);
        int expected = switch (mode) {
            case CV_8UC1 -> 1;
            case CV_8UC3 -> 3;
            case CV_8UC4 -> 4;
            default -> throw new ImageFormatException(source, "image mode " + mode + " is not 8-bit grey, BGR or BGRA");
        };
        if (channels != expected || (long) w * h * channels != data.length) {
            throw new ImageFormatException(source, "image struct of " + w + "x" + h + "x" + channels + " holds "
                    + data.length + " bytes");
        }
        if (channels == 3) return Images.fromBgrFrame(data, 0, w, h, w * 3);
        byte[] rgb = new byte[w * h * 3];
        for (int p = 0, q = 0; p < w * h; p++, q += channels) {
            if (channels == 1) {
                rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = data[q];
            } else { // BGRA: alpha dropped, as the library drops it for files (not composited)
                rgb[3 * p] = data[q + 2];
                rgb[3 * p + 1] = data[q + 1];
                rgb[3 * p + 2] = data[q];
            }
        }
        return new RgbImage(w, h, rgb);
    }
}

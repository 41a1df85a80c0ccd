package org.clipsurgery;

/**
 * Channel order of an interleaved 8-bit camera frame (3 bytes per pixel, rows packed), as given
 * to {@link ClipSurgery#session}.
 */
public enum PixelOrder {
    /** Red, green, blue: PIL, Java's decoders, most cameras' RGB24. */
    RGB,
    /** Blue, green, red: OpenCV's Mat, many robotics drivers; swapped to RGB before preprocessing. */
    BGR
}

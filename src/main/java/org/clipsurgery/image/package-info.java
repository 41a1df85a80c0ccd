/**
 * Images in and out of the library: {@link org.clipsurgery.image.Images} decodes files (with a
 * pixel limit checked from the header before decoding), converts {@link java.awt.image.BufferedImage}s
 * and raw RGB or BGR camera frames into 8-bit {@link org.clipsurgery.image.RgbImage}s the way
 * PIL's {@code convert("RGB")} does, and {@link org.clipsurgery.image.Images#probe} reads a file's
 * format and size ({@link org.clipsurgery.image.ImageInfo}) without decoding. Every problem with a
 * file is an {@link org.clipsurgery.image.ImageFormatException} (an {@link java.io.IOException});
 * {@link org.clipsurgery.image.PixelLimitException} marks one over the pixel limit.
 */
package org.clipsurgery.image;

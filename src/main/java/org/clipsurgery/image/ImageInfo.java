package org.clipsurgery.image;

/**
 * What an image file's header says, read without decoding any pixel ({@link Images#probe}).
 * A plain value: immutable, compared by its three components.
 *
 * @param format ImageIO's format name of the file's reader, in lower case ("png", "jpeg", "bmp",
 *     "gif", or another installed reader's name)
 * @param width the width in pixels; positive in every instance {@link Images#probe} returns
 * @param height the height in pixels; positive in every instance {@link Images#probe} returns
 */
public record ImageInfo(String format, int width, int height) {}

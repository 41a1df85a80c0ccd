package org.clipsurgery.image;

/**
 * What an image file's header says, read without decoding any pixel ({@link Images#probe}).
 *
 * @param format ImageIO's format name in lower case ("png", "jpeg", "bmp", "gif")
 */
public record ImageInfo(String format, int width, int height) {}

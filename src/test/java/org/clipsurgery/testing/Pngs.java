package org.clipsurgery.testing;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * PNG files written byte by byte, for what ImageIO's writer cannot make: headers that lie about
 * the size, and valid images that are small on disk but huge once decoded.
 */
public final class Pngs {
    private Pngs() {}

    private static void chunk(ByteArrayOutputStream out, String tag, byte[] data, int length) {
        byte[] t = tag.getBytes(StandardCharsets.US_ASCII);
        out.writeBytes(ByteBuffer.allocate(4).putInt(length).array());
        out.writeBytes(t);
        out.write(data, 0, length);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data, 0, length);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    private static ByteArrayOutputStream start(int w, int h, int bitDepth, int colourType) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        chunk(out, "IHDR", ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) bitDepth).put((byte) colourType)
                .put((byte) 0).put((byte) 0).put((byte) 0).array(), 13);
        return out;
    }

    /** A PNG whose header declares w×h pixels (8-bit RGB) but whose data is a few zero bytes. */
    public static byte[] headerOnly(int w, int h) {
        ByteArrayOutputStream out = start(w, h, 8, 2);
        chunk(out, "IDAT", new byte[] {0x78, (byte) 0x9c, 3, 0, 0, 0, 0, 1}, 8);
        chunk(out, "IEND", new byte[0], 0);
        return out.toByteArray();
    }

    /**
     * A complete, valid w×h black 1-bit grey PNG: a few kB on disk for 16000×16000 (its rows
     * deflate about 1000:1), 768 MB as 8-bit RGB. With {@code textBytes} > 0 a zTXt chunk comes
     * first whose text inflates to that many bytes (a bomb in the metadata rather than the pixels).
     */
    public static byte[] bomb(int w, int h, int textBytes) {
        ByteArrayOutputStream out = start(w, h, 1, 0);
        if (textBytes > 0) {
            ByteArrayOutputStream z = new ByteArrayOutputStream();
            z.writeBytes("Comment\0\0".getBytes(StandardCharsets.US_ASCII));
            byte[] text = new byte[textBytes];
            Arrays.fill(text, (byte) 'a');
            z.writeBytes(deflate(text, 1));
            chunk(out, "zTXt", z.toByteArray(), z.size());
        }
        byte[] idat = deflate(new byte[1 + (w + 7) / 8], h); // filter byte 0 + zero bits, h times
        chunk(out, "IDAT", idat, idat.length);
        chunk(out, "IEND", new byte[0], 0);
        return out.toByteArray();
    }

    /** zlib stream of {@code block} repeated {@code times} times. */
    private static byte[] deflate(byte[] block, int times) {
        Deflater d = new Deflater(Deflater.BEST_COMPRESSION);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        for (int i = 0; i < times; i++) {
            d.setInput(block);
            while (!d.needsInput()) out.write(buf, 0, d.deflate(buf));
        }
        d.finish();
        while (!d.finished()) out.write(buf, 0, d.deflate(buf));
        d.end();
        return out.toByteArray();
    }
}

package org.clipsurgery.weights;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * The zip container PyTorch writes ({@code torch.save} and TorchScript archives), read with
 * {@link ZipFile} plus the checks ZipFile leaves out: every entry's size and CRC-32 are verified
 * when it is read, sizes are checked against the file before anything is allocated, and the
 * archive must be laid out as PyTorch lays it out (no data before the first entry, no duplicate
 * names, every entry under one top-level folder). Internal to the weights package.
 */
final class ZipArchive implements Closeable {
    /** Deflate cannot expand data by more than about 1032:1; a larger claim is a zip bomb. */
    private static final long MAX_DEFLATE_RATIO = 1040;
    /** Entries are read into Java arrays. */
    static final long MAX_ENTRY = Integer.MAX_VALUE - 64;
    private static final int MAX_ENTRIES = 1_000_000;

    private final Path file;
    private final ZipFile zip;
    private final String prefix;
    private final Map<String, ZipEntry> entries;

    private ZipArchive(Path file, ZipFile zip, String prefix, Map<String, ZipEntry> entries) {
        this.file = file;
        this.zip = zip;
        this.prefix = prefix;
        this.entries = entries;
    }

    /** Opens {@code file}, checking its structure (not yet the contents of its entries). */
    static ZipArchive open(Path file) throws IOException {
        long fileSize = checkLayout(file);
        ZipFile zip;
        try {
            zip = new ZipFile(file.toFile());
        } catch (IOException | RuntimeException e) {
            throw new WeightFormatException(file, "not a valid zip archive (truncated or corrupt?): " + e.getMessage(), e);
        }
        try {
            Map<String, ZipEntry> entries = new LinkedHashMap<>();
            Map<String, String> folded = new HashMap<>();
            String prefix = null;
            long compressedTotal = 0;
            Enumeration<? extends ZipEntry> en = zip.entries();
            while (en.hasMoreElements()) {
                ZipEntry e = en.nextElement();
                String name = e.getName();
                if (entries.size() >= MAX_ENTRIES) throw new WeightFormatException(file, "too many zip entries");
                int slash = name.indexOf('/');
                // Names reach one-line messages: no control or line-break characters.
                if (slash <= 0 || name.contains("..") || name.startsWith("/") || name.contains("\\")
                        || name.codePoints().anyMatch(c -> c < 0x20 || c == 0x7f || c == 0x2028 || c == 0x2029 || c == 0x85)) {
                    throw new WeightFormatException(file, "unexpected zip entry name '"
                            + name.replaceAll("[\\p{Cc}\\u2028\\u2029]", "?") + "'");
                }
                if (entries.put(name, e) != null) throw new WeightFormatException(file, "duplicate zip entry " + name);
                // Other readers of the file (PyTorch's zip reader, which took CODE/ for code/ in
                // issue 12's review; unzip on a case-insensitive file system) may take one of these
                // for the other: a file that means different things to different readers is refused.
                String other = folded.put(name.toLowerCase(Locale.ROOT), name);
                if (other != null) throw new WeightFormatException(file, "zip entries " + other + " and " + name + " differ only in case");
                String top = name.substring(0, slash + 1);
                if (prefix == null) prefix = top;
                else if (!prefix.equals(top)) {
                    throw new WeightFormatException(file, "zip entries under two folders: " + prefix + " and " + top);
                }
                long size = e.getSize(), csize = e.getCompressedSize();
                if (size < 0 || csize < 0) throw new WeightFormatException(file, "zip entry " + name + " has no size");
                if (e.getMethod() == ZipEntry.STORED) {
                    if (size != csize) {
                        throw new WeightFormatException(file, "stored zip entry " + name + " claims " + size
                                + " bytes but occupies " + csize);
                    }
                } else if (e.getMethod() == ZipEntry.DEFLATED) {
                    if (size > csize * MAX_DEFLATE_RATIO + 1024) {
                        throw new WeightFormatException(file, "zip entry " + name + " claims " + size + " bytes from "
                                + csize + " compressed (zip bomb?)");
                    }
                } else {
                    throw new WeightFormatException(file, "zip entry " + name + " uses compression method " + e.getMethod());
                }
                if (size > MAX_ENTRY) throw new WeightFormatException(file, "zip entry " + name + " is too large: " + size);
                compressedTotal += csize;
                if (compressedTotal > fileSize) {
                    throw new WeightFormatException(file, "zip entries claim more bytes than the file holds");
                }
            }
            if (prefix == null) throw new WeightFormatException(file, "empty zip archive");
            return new ZipArchive(file, zip, prefix, Collections.unmodifiableMap(entries));
        } catch (IOException | RuntimeException e) {
            zip.close();
            if (e instanceof WeightFormatException w) throw w;
            throw new WeightFormatException(file, "not a valid zip archive: " + e.getMessage(), e);
        }
    }

    /**
     * Checks what ZipFile tolerates and PyTorch's reader does not: the first bytes must be a local
     * header, and the central directory must end exactly where the end records begin (ZipFile
     * silently accepts data inserted before the entries by shifting every offset).
     */
    private static long checkLayout(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 22) throw new WeightFormatException(file, "not a zip archive: " + size + " bytes");
            ByteBuffer head = readAt(ch, 0, 4);
            if (head.getInt(0) != 0x04034b50) throw new WeightFormatException(file, "not a zip archive: bad magic");
            int tailLen = (int) Math.min(size, 22 + 65535);
            ByteBuffer tail = readAt(ch, size - tailLen, tailLen);
            int eocd = -1;
            for (int i = tailLen - 22; i >= 0; i--) {
                if (tail.getInt(i) == 0x06054b50 && i + 22 + (tail.getShort(i + 20) & 0xffff) == tailLen) {
                    eocd = i;
                    break;
                }
            }
            if (eocd < 0) throw new WeightFormatException(file, "zip end record not found (truncated file?)");
            long eocdPos = size - tailLen + eocd;
            long cenSize = tail.getInt(eocd + 12) & 0xffffffffL;
            long cenOff = tail.getInt(eocd + 16) & 0xffffffffL;
            long cenEnd;
            if (eocdPos >= 20 && readAt(ch, eocdPos - 20, 4).getInt(0) == 0x07064b50) {
                // Zip64 (PyTorch always writes it): the locator says where the zip64 end record is.
                ByteBuffer loc = readAt(ch, eocdPos - 20, 20);
                long z64 = loc.getLong(8);
                if (z64 < 0 || z64 > eocdPos - 20 - 56) throw new WeightFormatException(file, "bad zip64 end locator");
                ByteBuffer rec = readAt(ch, z64, 56);
                if (rec.getInt(0) != 0x06064b50) throw new WeightFormatException(file, "bad zip64 end record");
                if (z64 + 12 + rec.getLong(4) != eocdPos - 20) {
                    throw new WeightFormatException(file, "zip64 end record does not end at its locator");
                }
                cenSize = rec.getLong(40);
                cenOff = rec.getLong(48);
                cenEnd = z64;
            } else {
                cenEnd = eocdPos;
            }
            if (cenOff < 0 || cenSize < 0 || cenOff > cenEnd || cenOff + cenSize != cenEnd) {
                throw new WeightFormatException(file, "zip central directory [" + cenOff + ", +" + cenSize
                        + ") does not end at the end record (" + cenEnd + "): corrupt or shifted data");
            }
            return size;
        }
    }

    private static ByteBuffer readAt(FileChannel ch, long pos, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0) throw new IOException("unexpected end of file");
        }
        return b.flip();
    }

    /** The top-level folder every entry lives in, with its trailing slash ("vit/"). */
    String prefix() {
        return prefix;
    }

    boolean has(String name) {
        return entries.containsKey(name);
    }

    /** Entry names, in the archive's order. */
    List<String> names() {
        return new ArrayList<>(entries.keySet());
    }

    /** Declared uncompressed size of {@code name}, or -1 if absent. */
    long size(String name) {
        ZipEntry e = entries.get(name);
        return e == null ? -1 : e.getSize();
    }

    /** The whole entry, size and CRC-32 verified. */
    byte[] read(String name) throws WeightFormatException {
        ZipEntry e = entries.get(name);
        if (e == null) throw new WeightFormatException(file, "zip entry " + name + " is missing");
        byte[] out = new byte[(int) e.getSize()];
        CRC32 crc = new CRC32();
        try (InputStream in = zip.getInputStream(e)) {
            int n = in.readNBytes(out, 0, out.length);
            if (n != out.length) {
                throw new WeightFormatException(file, "zip entry " + name + " is truncated: " + n + " of " + out.length + " bytes");
            }
            if (in.read() >= 0) throw new WeightFormatException(file, "zip entry " + name + " is longer than it claims");
        } catch (WeightFormatException x) {
            throw x;
        } catch (IOException | RuntimeException x) {
            throw new WeightFormatException(file, "cannot read zip entry " + name + ": " + x.getMessage(), x);
        }
        crc.update(out);
        checkCrc(e, crc);
        return out;
    }

    private void checkCrc(ZipEntry e, CRC32 crc) throws WeightFormatException {
        if (crc.getValue() != e.getCrc()) {
            throw new WeightFormatException(file, "zip entry " + e.getName() + " fails its CRC-32 check (corrupt file)");
        }
    }

    @Override
    public void close() throws IOException {
        zip.close();
    }
}

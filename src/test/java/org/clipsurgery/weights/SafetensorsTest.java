package org.clipsurgery.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The safetensors reader against files crafted from a valid one (written by
 * {@link Safetensors#write}): each breaks one rule of the format and must be refused with a
 * one-line {@link WeightFormatException} that names the file and the rule.
 */
class SafetensorsTest {
    @TempDir
    Path tmp;

    /** The valid file's header text (without padding) and data region. */
    private String header;
    private byte[] data;

    @BeforeEach
    void validFile() throws IOException {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        t.put("a", HostTensor.ofFloats(new float[] {1, 2, 3, 4}, 2, 2));                       // bytes 0..16
        t.put("b", new HostTensor(DType.F16, new long[] {3}, ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5, 6}))); // 16..22
        t.put("empty", new HostTensor(DType.F32, new long[] {0, 5}, ByteBuffer.allocate(0)));  // 22..22
        t.put("c", new HostTensor(DType.U8, new long[] {2}, ByteBuffer.wrap(new byte[] {7, 8}))); // 22..24
        Path f = tmp.resolve("valid.safetensors");
        Safetensors.write(f, t);
        byte[] all = Files.readAllBytes(f);
        int n = (int) ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        header = new String(all, 8, n, StandardCharsets.UTF_8).strip();
        data = Arrays.copyOfRange(all, 8 + n, all.length);
        assertEquals(24, data.length);
        assertTrue(header.contains("\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]}"), header);
    }

    private Path file(String name, byte[] headerBytes, long declaredLength, byte[] dataBytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(declaredLength).array());
        out.writeBytes(headerBytes);
        out.writeBytes(dataBytes);
        return Files.write(tmp.resolve(name + ".safetensors"), out.toByteArray());
    }

    private Path file(String name, String headerText, byte[] dataBytes) throws IOException {
        byte[] h = headerText.getBytes(StandardCharsets.UTF_8);
        return file(name, h, h.length, dataBytes);
    }

    /** The header with {@code from} replaced by {@code to} (which must occur). */
    private String edit(String from, String to) {
        assertTrue(header.contains(from), from + " in " + header);
        return header.replace(from, to);
    }

    private static String refused(Path f, String... words) {
        WeightFormatException e = assertThrows(WeightFormatException.class, () -> Safetensors.read(f));
        String m = e.getMessage();
        assertTrue(m.startsWith(f.toString() + ": "), "names the file: " + m);
        assertFalse(m.contains("\n"), "one line: " + m);
        for (String w : words) assertTrue(m.contains(w), "says '" + w + "': " + m);
        // Through the format detection (which claims a file whose header starts with '{'), the same message.
        WeightFormatException viaStore = assertThrows(WeightFormatException.class, () -> WeightStore.load(f));
        if (!m.contains("does not start with '{'")) assertEquals(m, viaStore.getMessage());
        return m;
    }

    @Test
    void validFileWithMetadataPaddingAndAnEmptyTensorLoads() throws IOException {
        String h = "{\"__metadata__\":{\"format\":\"pt\"}," + header.substring(1) + "   ";
        Map<String, HostTensor> t = Safetensors.read(file("ok", h, data));
        assertEquals(java.util.List.of("a", "b", "empty", "c"), java.util.List.copyOf(t.keySet()));
        assertArrayEquals(new float[] {1, 2, 3, 4}, t.get("a").toFloatArray());
        assertEquals(0, t.get("empty").numel());
        assertEquals(8, t.get("c").data().get(1));
    }

    @Test
    void overlappingTensorsAreRefused() throws IOException {
        // b moved onto a's last 6 bytes (found in offset order, before the hole b leaves at 16..22).
        refused(file("overlap", edit("[16,22]", "[10,16]"), data), "overlap", "'a' [0, 16]", "'b' [10, 16]",
                "share bytes 10..16");
        // Two names for the same bytes: writing one would change the other.
        String alias = header.substring(0, header.length() - 1)
                + ",\"a2\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
        refused(file("alias", alias, data), "overlap", "'a2' [0, 16]");
    }

    @Test
    void duplicateKeysAreRefused() throws IOException {
        // Gson's tree parser (and many others) would keep the last "a" silently.
        refused(file("dup", edit("\"c\":", "\"a\":"), data), "duplicate key 'a'");
        refused(file("dupfield", edit("\"dtype\":\"U8\"", "\"dtype\":\"U8\",\"dtype\":\"I64\""), data),
                "tensor 'c'", "duplicate key 'dtype'");
        String meta = "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}," + header.substring(1);
        refused(file("dupmeta", meta, data), "duplicate key 'k'", "__metadata__");
        String twoMeta = "{\"__metadata__\":{},\"__metadata__\":{}," + header.substring(1);
        refused(file("twometa", twoMeta, data), "duplicate key '__metadata__'");
        // A name with a newline in it is escaped: the message stays one line.
        String h = header.replace("\"a\":", "\"x\\ny\":").replace("\"c\":", "\"x\\ny\":");
        refused(file("newline", h, data), "duplicate key 'x\\u000ay'");
    }

    @Test
    void headerThatIsNotUtf8IsRefused() throws IOException {
        // A Latin-1 "é" (0xE9) in a key, and a UTF-16 surrogate encoded on its own (CESU-8):
        // both would be replaced by U+FFFD by a lenient decoder and the key would change.
        for (byte[] bad : new byte[][] {{(byte) 0xE9}, {(byte) 0xED, (byte) 0xA0, (byte) 0x80}}) {
            String h = edit("\"c\":", "\"cX\":");
            byte[] hb = h.getBytes(StandardCharsets.UTF_8);
            int at = h.indexOf("cX") + 1;
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.write(hb, 0, at);
            b.writeBytes(bad);
            b.write(hb, at + 1, hb.length - at - 1);
            byte[] bytes = b.toByteArray();
            refused(file("latin" + bad.length, bytes, bytes.length, data), "not valid UTF-8", "byte " + at);
        }
    }

    @Test
    void headerLengthPastTheEndOfTheFileIsRefused() throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        refused(file("pastend", h, h.length + data.length + 1, data), "header length " + (h.length + data.length + 1),
                "runs past the end of the file");
        refused(file("huge", h, -1, data), "header length 18446744073709551615", "outside");
    }

    @Test
    void offsetsMustTileTheDataRegionExactly() throws IOException {
        // Trailing bytes no tensor owns (room for a polyglot file's second content).
        byte[] longer = Arrays.copyOf(data, data.length + 4);
        refused(file("trailing", header, longer), "has 28 bytes but the tensors cover 24", "4 trailing bytes");
        // A hole at the start: every tensor shifted by 4 bytes.
        String shifted = header.replace("[0,16]", "[4,20]").replace("[16,22]", "[20,26]")
                .replace("[22,22]", "[26,26]").replace("[22,24]", "[26,28]");
        refused(file("holefirst", shifted, longer), "bytes 0..4 belong to no tensor", "before 'a' [4, 20]");
        // A hole in the middle: c moved 4 bytes on.
        refused(file("holemid", edit("[22,24]", "[26,28]"), longer), "bytes 22..26 belong to no tensor");
        // A range past the data (a truncated file).
        refused(file("cut", header, Arrays.copyOf(data, 20)), "tensor 'b'", "outside the 20 data bytes");
        // A range whose length does not match its shape and dtype.
        refused(file("size", edit("\"shape\":[3]", "\"shape\":[4]"), data), "tensor 'b'", "6 bytes for shape [4] F16");
    }

    @Test
    void headerSyntaxIsStrict() throws IOException {
        refused(file("space", " " + header, data), "does not start with '{'");
        byte[] h = (header + "\0\0").getBytes(StandardCharsets.UTF_8);
        // Padding is spaces; NULs, a second object or single quotes are not JSON the format accepts.
        refused(file("nul", h, h.length, data), "bad safetensors header: malformed JSON at line 1 column");
        refused(file("two", header + "{}", data), "bad safetensors header: malformed JSON");
        assertFalse(refused(file("single", edit("\"a\":", "'a':"), data), "bad safetensors header")
                .contains("Strictness"), "no advice meant for programmers");
        refused(file("meta", "{\"__metadata__\":{\"n\":1}," + header.substring(1), data), "'n' is not a string");
        refused(file("noffs", edit(",\"data_offsets\":[22,24]", ""), data), "tensor 'c'", "no data_offsets");
        refused(file("frac", edit("[22,24]", "[22,24.5]"), data), "tensor 'c'", "non-integer");
        refused(file("notobj", edit("\"c\":{", "\"c\":[{").replace("]}}", "]}]}"), data), "tensor 'c'",
                "not an object");
    }
}

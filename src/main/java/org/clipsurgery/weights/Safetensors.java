package org.clipsurgery.weights;

import com.google.gson.Gson;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
 * mapping names to {dtype, shape, data_offsets}, then the raw bytes. Reading maps the file into
 * memory; tensors are read-only views of the mapping (nothing is copied until a caller converts).
 */
public final class Safetensors {
    /** Headers larger than this are rejected (the format's reference implementation uses 100 MB). */
    private static final long MAX_HEADER = 100L << 20;
    private static final Gson GSON = new Gson();

    private Safetensors() {}

    /**
     * All tensors of {@code file}, in header order; {@code __metadata__} is checked and skipped.
     *
     * <p>The file is held to the format's rules (huggingface/safetensors, README "Format" and the
     * reference reader's checks), because a reader that is lenient where others are strict can be
     * fed a file that means one thing here and another elsewhere: the header is strict UTF-8 JSON
     * that starts with '{', has no duplicate keys at any level and at most 100 MB; each tensor's
     * byte range matches its shape and dtype; and the ranges, in offset order, tile the data region
     * exactly: they start at 0, neither overlap nor leave holes, and end at the end of the file.
     *
     * @throws WeightFormatException naming the file and the first rule broken, in one line
     */
    public static Map<String, HostTensor> read(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new WeightFormatException(file, "not a safetensors file: " + size + " bytes");
            ByteBuffer all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN);
            long headerLen = all.getLong(0);
            // The length is an unsigned 64-bit number: a negative long is one over 2^63.
            if (headerLen < 2 || headerLen > MAX_HEADER) {
                throw new WeightFormatException(file, "not a safetensors file: header length "
                        + Long.toUnsignedString(headerLen) + " is outside 2.." + MAX_HEADER + " bytes");
            }
            if (headerLen > size - 8) {
                throw new WeightFormatException(file, "safetensors header length " + headerLen
                        + " runs past the end of the file (" + (size - 8) + " bytes after the length; truncated file?)");
            }
            String text = utf8(file, all.slice(8, (int) headerLen));
            long dataLen = size - 8 - headerLen;
            List<Entry> entries = parseHeader(file, text, dataLen);
            checkTiling(file, entries, dataLen);
            Map<String, HostTensor> out = new LinkedHashMap<>();
            int dataStart = (int) (8 + headerLen);
            for (Entry e : entries) {
                ByteBuffer view = all.slice(dataStart + (int) e.begin, (int) (e.end - e.begin)).order(ByteOrder.LITTLE_ENDIAN);
                out.put(e.name, new HostTensor(e.dtype, e.shape, view));
            }
            return out;
        }
    }

    /** One header entry: a tensor's name, dtype, shape and byte range in the data region. */
    private record Entry(String name, DType dtype, long[] shape, long begin, long end) {
        String describe() {
            return quoted(name) + " " + Arrays.toString(new long[] {begin, end});
        }
    }

    /** The header as text; malformed UTF-8 is refused, not replaced (the JDK's String would replace it). */
    private static String utf8(Path file, ByteBuffer bytes) throws WeightFormatException {
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        CharBuffer chars = CharBuffer.allocate(bytes.remaining());
        CoderResult r = dec.decode(bytes, chars, true);
        if (r.isError()) {
            throw new WeightFormatException(file, "safetensors header is not valid UTF-8 (byte " + bytes.position()
                    + " of the header)");
        }
        dec.flush(chars);
        return chars.flip().toString();
    }

    /** Parses the header strictly: Gson's tree parser would let a later duplicate key win silently. */
    private static List<Entry> parseHeader(Path file, String text, long dataLen) throws WeightFormatException {
        if (!text.startsWith("{")) throw new WeightFormatException(file, "safetensors header does not start with '{'");
        List<Entry> entries = new ArrayList<>();
        try {
            JsonReader r = new JsonReader(new StringReader(text));
            r.setStrictness(Strictness.STRICT);
            r.beginObject();
            Set<String> names = new HashSet<>();
            while (r.hasNext()) {
                String name = r.nextName();
                if (!names.add(name)) throw new WeightFormatException(file, "duplicate key " + quoted(name) + " in the safetensors header");
                if (name.equals("__metadata__")) {
                    metadata(file, r);
                } else {
                    entries.add(entry(file, name, r, dataLen));
                }
            }
            r.endObject();
            // The format pads the header with spaces; anything else after the object is refused.
            if (r.peek() != JsonToken.END_DOCUMENT) throw new WeightFormatException(file, "safetensors header has data after its JSON object");
        } catch (WeightFormatException e) {
            throw e;
        } catch (IOException | IllegalStateException e) {
            // Gson's syntax errors (IOException) and wrong-token errors (IllegalStateException).
            throw new WeightFormatException(file, "bad safetensors header: " + gsonProblem(e.getMessage()));
        }
        return entries;
    }

    /** {@code __metadata__}: the format allows only a map of strings to strings. */
    private static void metadata(Path file, JsonReader r) throws IOException {
        String bad = "safetensors __metadata__ must map strings to strings";
        if (r.peek() != JsonToken.BEGIN_OBJECT) throw new WeightFormatException(file, bad);
        r.beginObject();
        Set<String> keys = new HashSet<>();
        while (r.hasNext()) {
            String k = r.nextName();
            if (!keys.add(k)) throw new WeightFormatException(file, "duplicate key " + quoted(k) + " in safetensors __metadata__");
            if (r.peek() != JsonToken.STRING) throw new WeightFormatException(file, bad + " (" + quoted(k) + " is not a string)");
            r.nextString();
        }
        r.endObject();
    }

    private static Entry entry(Path file, String name, JsonReader r, long dataLen) throws IOException {
        String where = "tensor " + quoted(name) + ": ";
        if (r.peek() != JsonToken.BEGIN_OBJECT) throw new WeightFormatException(file, where + "entry is not an object");
        r.beginObject();
        Set<String> fields = new HashSet<>();
        String dtypeName = null;
        long[] shape = null, offsets = null;
        while (r.hasNext()) {
            String f = r.nextName();
            if (!fields.add(f)) throw new WeightFormatException(file, where + "duplicate key " + quoted(f));
            switch (f) {
                case "dtype" -> {
                    if (r.peek() != JsonToken.STRING) throw new WeightFormatException(file, where + "dtype is not a string");
                    dtypeName = r.nextString();
                }
                case "shape" -> shape = longs(file, where, f, r);
                case "data_offsets" -> offsets = longs(file, where, f, r);
                default -> r.skipValue(); // other fields carry no meaning in the format
            }
        }
        r.endObject();
        if (dtypeName == null) throw new WeightFormatException(file, where + "no dtype");
        if (shape == null) throw new WeightFormatException(file, where + "no shape");
        if (offsets == null) throw new WeightFormatException(file, where + "no data_offsets");
        DType dtype = DType.fromSafetensorsName(dtypeName);
        if (dtype == null) throw new WeightFormatException(file, where + "unknown dtype " + escaped(dtypeName));
        if (offsets.length != 2) throw new WeightFormatException(file, where + "data_offsets needs 2 numbers");
        long numel;
        try {
            for (long s : shape) if (s < 0) throw new ArithmeticException();
            numel = HostTensor.numel(shape);
            Math.multiplyExact(numel, dtype.size());
        } catch (ArithmeticException ex) {
            throw new WeightFormatException(file, where + "bad shape " + Arrays.toString(shape));
        }
        long begin = offsets[0], end = offsets[1];
        if (begin < 0 || end < begin || end > dataLen) {
            throw new WeightFormatException(file, where + "data_offsets " + Arrays.toString(offsets)
                    + " outside the " + dataLen + " data bytes (truncated file?)");
        }
        if (end - begin != numel * dtype.size()) {
            throw new WeightFormatException(file, where + (end - begin) + " bytes for shape "
                    + Arrays.toString(shape) + " " + dtypeName);
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static long[] longs(Path file, String where, String field, JsonReader r) throws IOException {
        if (r.peek() != JsonToken.BEGIN_ARRAY) throw new WeightFormatException(file, where + field + " is not a list");
        List<Long> out = new ArrayList<>();
        r.beginArray();
        while (r.hasNext()) {
            try {
                if (r.peek() != JsonToken.NUMBER) throw new NumberFormatException();
                out.add(new java.math.BigDecimal(r.nextString()).longValueExact());
            } catch (NumberFormatException | ArithmeticException e) {
                throw new WeightFormatException(file, where + field + " holds a non-integer");
            }
        }
        r.endArray();
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /**
     * The format's "the byte buffer needs to be entirely indexed, and cannot contain holes": in
     * offset order each range starts where the previous one ended (empty tensors take no bytes),
     * the first at 0, the last at the end of the data. Bytes no tensor owns could hide another
     * file's content (a polyglot); bytes two tensors own would make writing one change the other.
     */
    private static void checkTiling(Path file, List<Entry> entries, long dataLen) throws WeightFormatException {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long covered = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            if (e.begin < covered) {
                throw new WeightFormatException(file, "safetensors tensors overlap: " + previous.describe() + " and "
                        + e.describe() + " share bytes " + e.begin + ".." + Math.min(covered, e.end));
            }
            if (e.begin > covered) {
                throw new WeightFormatException(file, "safetensors data bytes " + covered + ".." + e.begin
                        + " belong to no tensor (a hole before " + e.describe() + ")");
            }
            covered = e.end;
            if (e.end > e.begin) previous = e;
        }
        if (covered != dataLen) {
            throw new WeightFormatException(file, "safetensors data region has " + dataLen + " bytes but the tensors cover "
                    + covered + " (" + (dataLen - covered) + " trailing bytes belong to no tensor)");
        }
    }

    /** A name from the file in single quotes, control characters escaped so a message stays one line. */
    private static String quoted(String name) {
        return "'" + escaped(name) + "'";
    }

    private static String escaped(String text) {
        StringBuilder sb = new StringBuilder();
        for (char c : text.toCharArray()) {
            if (c < 0x20 || c == 0x7f) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.toString();
    }

    /** Gson's message without its advice to the programmer (lenient parsing) and its second line (a URL). */
    private static String gsonProblem(String message) {
        if (message == null) return "";
        int nl = message.indexOf('\n');
        String first = nl < 0 ? message : message.substring(0, nl);
        return first.replace("Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON", "malformed JSON");
    }

    /** Writes {@code tensors} (in iteration order) to {@code file}, replacing it atomically. */
    public static void write(Path file, Map<String, HostTensor> tensors) throws IOException {
        StringBuilder json = new StringBuilder("{");
        long offset = 0;
        List<ByteBuffer> blobs = new ArrayList<>();
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            HostTensor t = e.getValue();
            long len = t.numel() * t.dtype().size();
            if (json.length() > 1) json.append(',');
            json.append(GSON.toJson(e.getKey())).append(":{\"dtype\":\"").append(t.dtype().safetensorsName())
                    .append("\",\"shape\":").append(Arrays.toString(t.shape()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + len).append("]}");
            offset += len;
            blobs.add(t.data());
        }
        json.append('}');
        // The header is padded with spaces to a multiple of 8 bytes so the data is aligned.
        byte[] text = json.toString().getBytes(StandardCharsets.UTF_8);
        byte[] header = Arrays.copyOf(text, (text.length + 7) / 8 * 8);
        Arrays.fill(header, text.length, header.length, (byte) ' ');
        Path tmp = file.resolveSibling(file.getFileName() + ".part");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
            writeFully(ch, lenBuf);
            writeFully(ch, ByteBuffer.wrap(header));
            for (ByteBuffer b : blobs) writeFully(ch, b);
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}

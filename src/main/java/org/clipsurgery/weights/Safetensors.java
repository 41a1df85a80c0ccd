package org.clipsurgery.weights;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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

    /** All tensors of {@code file}, in header order; {@code __metadata__} is skipped. */
    public static Map<String, HostTensor> read(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new WeightFormatException(file, "not a safetensors file: " + size + " bytes");
            ByteBuffer all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN);
            long headerLen = all.getLong(0);
            if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > size - 8) {
                throw new WeightFormatException(file, "not a safetensors file: header length " + headerLen
                        + " does not fit a file of " + size + " bytes");
            }
            byte[] hb = new byte[(int) headerLen];
            all.get(8, hb);
            JsonElement parsed;
            try {
                parsed = JsonParser.parseString(new String(hb, StandardCharsets.UTF_8));
            } catch (JsonParseException e) {
                throw new WeightFormatException(file, "bad safetensors header: " + e.getMessage());
            }
            if (!parsed.isJsonObject()) throw new WeightFormatException(file, "safetensors header is not a JSON object");
            long dataStart = 8 + headerLen;
            long dataLen = size - dataStart;
            Map<String, HostTensor> out = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> e : parsed.getAsJsonObject().entrySet()) {
                String name = e.getKey();
                if (name.equals("__metadata__")) continue;
                out.put(name, tensor(file, name, e.getValue(), all, dataStart, dataLen));
            }
            return out;
        }
    }

    private static HostTensor tensor(Path file, String name, JsonElement spec, ByteBuffer all, long dataStart,
            long dataLen) throws WeightFormatException {
        if (!spec.isJsonObject()) throw new WeightFormatException(file, "tensor '" + name + "': entry is not an object");
        JsonObject m = spec.getAsJsonObject();
        JsonElement dt = m.get("dtype");
        if (dt == null || !dt.isJsonPrimitive() || !dt.getAsJsonPrimitive().isString()) {
            throw new WeightFormatException(file, "tensor '" + name + "': no dtype");
        }
        String dtypeName = dt.getAsString();
        DType dtype = DType.fromSafetensorsName(dtypeName);
        if (dtype == null) throw new WeightFormatException(file, "tensor '" + name + "': unknown dtype " + dtypeName);
        long[] shape = longs(file, name, "shape", m.get("shape"));
        long[] offsets = longs(file, name, "data_offsets", m.get("data_offsets"));
        if (offsets.length != 2) throw new WeightFormatException(file, "tensor '" + name + "': data_offsets needs 2 numbers");
        long numel;
        try {
            for (long s : shape) if (s < 0) throw new ArithmeticException();
            numel = HostTensor.numel(shape);
            Math.multiplyExact(numel, dtype.size());
        } catch (ArithmeticException ex) {
            throw new WeightFormatException(file, "tensor '" + name + "': bad shape " + Arrays.toString(shape));
        }
        long begin = offsets[0], end = offsets[1];
        if (begin < 0 || end < begin || end > dataLen) {
            throw new WeightFormatException(file, "tensor '" + name + "': data_offsets " + Arrays.toString(offsets)
                    + " outside the " + dataLen + " data bytes (truncated file?)");
        }
        if (end - begin != numel * dtype.size()) {
            throw new WeightFormatException(file, "tensor '" + name + "': " + (end - begin) + " bytes for shape "
                    + Arrays.toString(shape) + " " + dtypeName);
        }
        ByteBuffer view = all.slice((int) (dataStart + begin), (int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
        return new HostTensor(dtype, shape, view);
    }

    private static long[] longs(Path file, String name, String field, JsonElement v) throws WeightFormatException {
        if (v == null || !v.isJsonArray()) throw new WeightFormatException(file, "tensor '" + name + "': " + field + " is not a list");
        JsonArray list = v.getAsJsonArray();
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            JsonElement x = list.get(i);
            try {
                if (!x.isJsonPrimitive() || !x.getAsJsonPrimitive().isNumber()) throw new NumberFormatException();
                out[i] = new java.math.BigDecimal(x.getAsString()).longValueExact();
            } catch (NumberFormatException | ArithmeticException e) {
                throw new WeightFormatException(file, "tensor '" + name + "': " + field + " holds a non-integer");
            }
        }
        return out;
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

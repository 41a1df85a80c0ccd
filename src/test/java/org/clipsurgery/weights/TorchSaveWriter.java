package org.clipsurgery.weights;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Test helper: writes a state dict the way {@code torch.save} lays it out (a zip with
 * {@code <name>/data.pkl}, {@code <name>/data/<key>}, {@code byteorder}, {@code version}; the
 * pickle an OrderedDict of {@code _rebuild_tensor_v2} calls over persistent-id storages), written
 * from the format description independently of the reader, so the reader is checked against a
 * second producer and the fuzz test has small torch.save files.
 */
final class TorchSaveWriter {
    private TorchSaveWriter() {}

    static byte[] write(String name, Map<String, HostTensor> tensors) throws IOException {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(new byte[] {(byte) 0x80, 2});
        global(p, "collections", "OrderedDict");
        p.write(new byte[] {')', 'R', '('});
        Map<String, byte[]> entries = new LinkedHashMap<>();
        int key = 0;
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            HostTensor t = e.getValue();
            String storage = switch (t.dtype()) {
                case F16 -> "HalfStorage";
                case F32 -> "FloatStorage";
                case BF16 -> "BFloat16Storage";
                case I64 -> "LongStorage";
                default -> throw new IllegalArgumentException(t.dtype().toString());
            };
            unicode(p, e.getKey());
            global(p, "torch._utils", "_rebuild_tensor_v2");
            p.write(new byte[] {'(', '('});
            unicode(p, "storage");
            global(p, "torch", storage);
            unicode(p, Integer.toString(key));
            unicode(p, "cpu");
            binint(p, t.numel());
            p.write(new byte[] {'t', 'Q'});
            binint(p, 0);
            long[] shape = t.shape();
            long[] stride = new long[shape.length];
            long s = 1;
            for (int d = shape.length - 1; d >= 0; d--) {
                stride[d] = s;
                s *= shape[d];
            }
            tuple(p, shape);
            tuple(p, stride);
            p.write(0x89); // requires_grad False
            global(p, "collections", "OrderedDict");
            p.write(new byte[] {')', 'R', 't', 'R'});
            byte[] data = new byte[t.data().remaining()];
            t.data().get(data);
            entries.put(name + "/data/" + key++, data);
        }
        p.write(new byte[] {'u', '.'});
        Map<String, byte[]> all = new LinkedHashMap<>();
        all.put(name + "/data.pkl", p.toByteArray());
        all.put(name + "/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        all.putAll(entries);
        all.put(name + "/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        return storedZip(all);
    }

    /** A zip with every entry STORED (as PyTorch writes), sizes and CRCs in the local headers. */
    static byte[] storedZip(Map<String, byte[]> entries) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(out)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                ZipEntry ze = new ZipEntry(e.getKey());
                ze.setMethod(ZipEntry.STORED);
                ze.setSize(e.getValue().length);
                CRC32 crc = new CRC32();
                crc.update(e.getValue());
                ze.setCrc(crc.getValue());
                z.putNextEntry(ze);
                z.write(e.getValue());
                z.closeEntry();
            }
        }
        return out.toByteArray();
    }

    private static void global(ByteArrayOutputStream p, String module, String name) throws IOException {
        p.write('c');
        p.write((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
    }

    private static void unicode(ByteArrayOutputStream p, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        p.write('X');
        p.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
        p.write(b);
    }

    private static void binint(ByteArrayOutputStream p, long v) throws IOException {
        p.write('J');
        p.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(Math.toIntExact(v)).array());
    }

    private static void tuple(ByteArrayOutputStream p, long[] v) throws IOException {
        p.write('(');
        for (long x : v) binint(p, x);
        p.write('t');
    }
}

package org.clipsurgery.weights;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Test helper: writes a state dict the way {@code torch.save} lays it out (a zip with
 * {@code <name>/data.pkl}, {@code <name>/data/<key>}, {@code byteorder}, {@code version}; the
 * pickle an OrderedDict of {@code _rebuild_tensor_v2} calls over persistent-id storages), or the
 * way {@code torch.jit.save} lays out a traced module ({@link #writeScript}), written from the
 * format descriptions independently of the readers, so the readers are checked against a second
 * producer and the fuzz test has small files of both kinds.
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
            unicode(p, e.getKey());
            tensor(p, e.getValue(), Integer.toString(key), "cpu", false);
            entries.put(name + "/data/" + key++, bytes(e.getValue()));
        }
        p.write(new byte[] {'u', '.'});
        Map<String, byte[]> all = new LinkedHashMap<>();
        all.put(name + "/data.pkl", p.toByteArray());
        all.put(name + "/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        all.putAll(entries);
        all.put(name + "/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        return storedZip(all);
    }

    /**
     * A TorchScript archive as {@code torch.jit.save} writes a traced module: {@code data.pkl} the
     * module hierarchy (one {@code __torch__} object per dotted prefix of the names, its state a
     * dict of tensors, submodules, {@code training} and {@code _is_full_backward_hook}), storages
     * in {@code data/}, a tensor constant in {@code constants.pkl} and {@code constants/}, code
     * that is never read, {@code version} and {@code byteorder}.
     */
    static byte[] writeScript(String name, Map<String, HostTensor> tensors) throws IOException {
        Map<String, Object> root = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            Map<String, Object> node = root;
            String[] parts = e.getKey().split("\\.");
            for (int i = 0; i < parts.length - 1; i++) {
                @SuppressWarnings("unchecked")
                Map<String, Object> child = (Map<String, Object>) node.computeIfAbsent(parts[i], k -> new LinkedHashMap<>());
                node = child;
            }
            node.put(parts[parts.length - 1], e.getValue());
        }
        Map<String, byte[]> all = new LinkedHashMap<>();
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(new byte[] {(byte) 0x80, 2});
        Map<String, byte[]> storages = new LinkedHashMap<>();
        module(p, "__torch__.model.CLIP", root, storages);
        p.write('.');
        all.put(name + "/data.pkl", p.toByteArray());
        for (Map.Entry<String, byte[]> e : storages.entrySet()) all.put(name + "/data/" + e.getKey(), e.getValue());
        HostTensor mask = new HostTensor(DType.I64, new long[] {2}, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(0, 1).putLong(8, -1));
        ByteArrayOutputStream c = new ByteArrayOutputStream();
        c.write(new byte[] {(byte) 0x80, 2, '('});
        tensor(c, mask, "0", "cpu", false);
        c.write(new byte[] {'t', '.'});
        all.put(name + "/constants.pkl", c.toByteArray());
        all.put(name + "/constants/0", bytes(mask));
        all.put(name + "/code/__torch__/model.py", "class CLIP(Module):\n  __parameters__ = []\n".getBytes(StandardCharsets.UTF_8));
        all.put(name + "/version", "4\n".getBytes(StandardCharsets.US_ASCII));
        all.put(name + "/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        return storedZip(all);
    }

    /** One module object: NEWOBJ of its class, then BUILD from its attribute dict. */
    private static void module(ByteArrayOutputStream p, String cls, Map<String, Object> attributes, Map<String, byte[]> storages)
            throws IOException {
        int dot = cls.lastIndexOf('.');
        global(p, cls.substring(0, dot), cls.substring(dot + 1));
        p.write(new byte[] {')', (byte) 0x81, '}', '('});
        for (Map.Entry<String, Object> e : attributes.entrySet()) {
            unicode(p, e.getKey());
            if (e.getValue() instanceof HostTensor t) {
                String key = Integer.toString(storages.size());
                tensor(p, t, key, "cuda:0", true);
                storages.put(key, bytes(t));
            } else {
                @SuppressWarnings("unchecked")
                Map<String, Object> sub = (Map<String, Object>) e.getValue();
                module(p, "__torch__.model.M_" + e.getKey(), sub, storages);
            }
        }
        unicode(p, "training");
        p.write(0x89);
        unicode(p, "_is_full_backward_hook");
        p.write('N');
        p.write(new byte[] {'u', 'b'});
    }

    /** {@code _rebuild_tensor_v2(('storage', type, key, location, numel), 0, size, stride, requires_grad, OrderedDict())}. */
    private static void tensor(ByteArrayOutputStream p, HostTensor t, String key, String location, boolean requiresGrad)
            throws IOException {
        String storage = switch (t.dtype()) {
            case F16 -> "HalfStorage";
            case F32 -> "FloatStorage";
            case BF16 -> "BFloat16Storage";
            case I64 -> "LongStorage";
            default -> throw new IllegalArgumentException(t.dtype().toString());
        };
        global(p, "torch._utils", "_rebuild_tensor_v2");
        p.write(new byte[] {'(', '('});
        unicode(p, "storage");
        global(p, "torch", storage);
        unicode(p, key);
        unicode(p, location);
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
        p.write(requiresGrad ? 0x88 : 0x89);
        global(p, "collections", "OrderedDict");
        p.write(new byte[] {')', 'R', 't', 'R'});
    }

    private static byte[] bytes(HostTensor t) {
        byte[] data = new byte[t.data().remaining()];
        t.data().get(data);
        return data;
    }

    /** A zip with every entry STORED (as PyTorch writes), sizes and CRCs in the local headers. */
    static byte[] storedZip(Map<String, byte[]> entries) throws IOException {
        long size = 22;
        for (Map.Entry<String, byte[]> e : entries.entrySet()) size += 76 + 2L * e.getKey().length() + e.getValue().length;
        ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(size + 1024, Integer.MAX_VALUE - 64));
        zip(out, new LinkedHashMap<>(entries));
        return out.toByteArray();
    }

    /**
     * Writes a zip of {@code layout}: byte arrays stored, sizes (Long, a multiple of 1 MiB) as that
     * many zero bytes deflated, streamed, so that a test can make an entry that inflates to 1 GiB
     * without holding it or spending the time to deflate it.
     */
    static void zipWithZeros(Path file, Map<String, Object> layout) throws IOException {
        try (OutputStream o = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
            zip(o, layout);
        }
    }

    /** CRC-32s of arrays already written (by identity): the fuzz rewrites the same 16 MB of entries hundreds of times. */
    private static final Map<byte[], Long> CRCS = Collections.synchronizedMap(new WeakHashMap<>());
    private static final int ZEROS = 1 << 20;
    /** 1 MiB of zeros as one fully flushed deflate block: it starts afresh, so copies concatenate. */
    private static final byte[] ZEROS_DEFLATED = deflatedZeros();

    private static byte[] deflatedZeros() {
        byte[] out = new byte[1 << 16];
        Deflater d = new Deflater(Deflater.BEST_COMPRESSION, true);
        d.setInput(new byte[ZEROS]);
        int n = d.deflate(out, 0, out.length, Deflater.FULL_FLUSH);
        d.end();
        return java.util.Arrays.copyOf(out, n);
    }

    /**
     * The zip layout PyTorch reads: local header and data per entry, then the central directory
     * and the end record (no zip64: the tests' archives stay under 4 GiB). Zeros are
     * {@link #ZEROS_DEFLATED} repeated (about 1,000:1, as zlib makes it) and a final empty block.
     */
    private static void zip(OutputStream o, Map<String, Object> layout) throws IOException {
        byte[] zeros = new byte[ZEROS];
        byte[] last = {3, 0};
        ByteArrayOutputStream central = new ByteArrayOutputStream();
        long at = 0;
        for (Map.Entry<String, Object> e : layout.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            boolean stored = e.getValue() instanceof byte[];
            long size, csize, crc;
            if (stored) {
                byte[] data = (byte[]) e.getValue();
                size = csize = data.length;
                crc = CRCS.computeIfAbsent(data, b -> {
                    CRC32 c = new CRC32();
                    c.update(b);
                    return c.getValue();
                });
            } else {
                size = (Long) e.getValue();
                if (size % ZEROS != 0) throw new IllegalArgumentException("zeros come in MiB: " + size);
                CRC32 c = new CRC32();
                for (long done = 0; done < size; done += ZEROS) c.update(zeros);
                crc = c.getValue();
                csize = size / ZEROS * ZEROS_DEFLATED.length + last.length;
            }
            int method = stored ? 0 : 8;
            ByteBuffer h = ByteBuffer.allocate(30).order(ByteOrder.LITTLE_ENDIAN);
            h.putInt(0x04034b50).putShort((short) 20).putShort((short) 0).putShort((short) method).putInt(0)
                    .putInt((int) crc).putInt((int) csize).putInt((int) size).putShort((short) name.length).putShort((short) 0);
            ByteBuffer c = ByteBuffer.allocate(46).order(ByteOrder.LITTLE_ENDIAN);
            c.putInt(0x02014b50).putShort((short) 20).putShort((short) 20).putShort((short) 0).putShort((short) method)
                    .putInt(0).putInt((int) crc).putInt((int) csize).putInt((int) size).putShort((short) name.length)
                    .putShort((short) 0).putShort((short) 0).putShort((short) 0).putShort((short) 0).putInt(0).putInt((int) at);
            central.write(c.array());
            central.write(name);
            o.write(h.array());
            o.write(name);
            if (stored) {
                o.write((byte[]) e.getValue());
            } else {
                for (long done = 0; done < size; done += ZEROS) o.write(ZEROS_DEFLATED);
                o.write(last);
            }
            at += 30 + name.length + csize;
        }
        ByteBuffer end = ByteBuffer.allocate(22).order(ByteOrder.LITTLE_ENDIAN);
        end.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) layout.size())
                .putShort((short) layout.size()).putInt(central.size()).putInt((int) at).putShort((short) 0);
        central.writeTo(o);
        o.write(end.array());
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

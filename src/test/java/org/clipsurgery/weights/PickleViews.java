package org.clipsurgery.weights;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Test helper: finds the tensor views in a PyTorch pickle ({@code torch.save}'s or TorchScript's
 * {@code data.pkl}) by scanning its opcodes, without interpreting it, and rewrites their integers
 * (storage element count, offset, sizes, strides), so that tests and the fuzz can craft files
 * whose views lie about their storages. Written from the pickle format, independently of the
 * reader under test.
 */
final class PickleViews {
    private PickleViews() {}

    /** One opcode: where it starts, its code, its argument length; {@code value} for integers and strings. */
    record Op(int pos, int code, int length, Object value) {}

    /** The opcodes of one view: {@code ('storage', type, key, location, numel)}, offset, size, stride. */
    record View(String key, Op keyOp, Op numel, Op offset, List<Op> size, List<Op> stride) {
        List<Op> ints() {
            List<Op> all = new ArrayList<>(List.of(numel, offset));
            all.addAll(size);
            all.addAll(stride);
            return all;
        }
    }

    /** Every view in {@code pkl}, by storage key (in order of appearance). */
    static Map<String, View> find(byte[] pkl) {
        List<Op> ops = scan(pkl);
        Map<Long, Object> memo = new HashMap<>();
        Map<String, View> out = new LinkedHashMap<>();
        for (int i = 0; i < ops.size(); i++) {
            Op op = ops.get(i);
            if (op.code == 'q' || op.code == 'r') memo.put(((Number) op.value).longValue(), ops.get(i - 1).value);
            if (op.code != 'Q') continue; // BINPERSID: the pid tuple (maybe memoized) ends just before it
            int j = i - 1;
            while (isMemo(ops.get(j))) j--;
            if (ops.get(j).code != 't') continue;
            List<Op> pid = new ArrayList<>();
            for (j--; ops.get(j).code != '('; j--) if (!isMemo(ops.get(j))) pid.add(0, ops.get(j));
            if (pid.size() != 5) continue;
            Object key = pid.get(2).value;
            if (pid.get(2).code == 'h' || pid.get(2).code == 'j') key = memo.get(((Number) key).longValue());
            int k = next(ops, i + 1);
            Op offset = ops.get(k);
            List<Op> size = new ArrayList<>(), stride = new ArrayList<>();
            k = tuple(ops, next(ops, k + 1), size);
            tuple(ops, next(ops, k), stride);
            out.put((String) key, new View((String) key, pid.get(2), pid.get(4), offset, size, stride));
        }
        return out;
    }

    /**
     * {@code pkl} with the opcodes of {@code edits} replaced: a Long as an 8-byte LONG1, a String
     * as a BINUNICODE.
     */
    static byte[] edit(byte[] pkl, Map<Op, Object> edits) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int at = 0;
        List<Op> sorted = new ArrayList<>(edits.keySet());
        sorted.sort((a, b) -> Integer.compare(a.pos, b.pos));
        for (Op op : sorted) {
            out.write(pkl, at, op.pos - at);
            if (edits.get(op) instanceof String str) {
                byte[] b = str.getBytes(StandardCharsets.UTF_8);
                out.write('X');
                out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
                out.writeBytes(b);
            } else {
                out.write(0x8a);
                out.write(8);
                out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong((Long) edits.get(op)).array());
            }
            at = op.pos + 1 + op.length;
        }
        out.write(pkl, at, pkl.length - at);
        return out.toByteArray();
    }

    static byte[] edit(byte[] pkl, Op op, Object value) {
        return edit(pkl, Map.of(op, value));
    }

    /** Collects the integers of the tuple starting at op {@code k} into {@code into}; returns the op after it. */
    private static int tuple(List<Op> ops, int k, List<Op> into) {
        if (ops.get(k).code == ')') return next(ops, k + 1);
        boolean marked = ops.get(k).code == '(';
        if (marked) k++;
        while (isInt(ops.get(k))) into.add(ops.get(k++));
        return next(ops, k + 1); // past TUPLE (after MARK) or TUPLE1/2/3
    }

    private static int next(List<Op> ops, int k) {
        while (isMemo(ops.get(k))) k++;
        return k;
    }

    private static boolean isInt(Op op) {
        return op.code == 'K' || op.code == 'M' || op.code == 'J' || op.code == 0x8a;
    }

    private static boolean isMemo(Op op) {
        return op.code == 'q' || op.code == 'r' || op.code == 0x94;
    }

    /** The opcodes of protocol 2 that PyTorch writes. */
    static List<Op> scan(byte[] pkl) {
        ByteBuffer in = ByteBuffer.wrap(pkl).order(ByteOrder.LITTLE_ENDIAN);
        List<Op> ops = new ArrayList<>();
        while (in.hasRemaining()) {
            int pos = in.position();
            int code = in.get() & 0xff;
            Object value = null;
            switch (code) {
                case 0x80, 'K', 'q', 'h' -> value = (long) (in.get() & 0xff);
                case 'M' -> value = (long) (in.getShort() & 0xffff);
                case 'J', 'r', 'j' -> value = (long) in.getInt();
                case 0x8a -> {
                    int n = in.get() & 0xff;
                    long v = 0;
                    for (int b = 0; b < n; b++) v |= (in.get() & 0xffL) << (8 * b);
                    if (n < 8 && n > 0 && (v & (1L << (8 * n - 1))) != 0) v |= -1L << (8 * n);
                    value = v;
                }
                case 'X', 0x8c -> {
                    int n = code == 'X' ? in.getInt() : in.get() & 0xff;
                    byte[] s = new byte[n];
                    in.get(s);
                    value = new String(s, StandardCharsets.UTF_8);
                }
                case 'c' -> {
                    while (in.get() != '\n') { /* module */ }
                    while (in.get() != '\n') { /* name */ }
                }
                case 'G', 0x95 -> in.position(in.position() + 8);
                default -> { /* no argument */ }
            }
            ops.add(new Op(pos, code, in.position() - pos - 1, value));
            if (code == '.') break;
        }
        return ops;
    }
}

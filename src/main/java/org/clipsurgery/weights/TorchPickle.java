package org.clipsurgery.weights;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A reader for the two pickle subsets PyTorch writes into its zip archives (protocol 2): the state
 * dict of {@code torch.save}, and the module hierarchy and tensor constants of a TorchScript
 * archive ({@code data.pkl}, {@code constants.pkl}). It never runs anything: globals are resolved
 * against a fixed allow-list per dialect (PyTorch's tensor-rebuild functions, {@code
 * collections.OrderedDict}, the typed storage classes and, in TorchScript, the {@code __torch__.*}
 * module classes, which become inert {@link ScriptObject}s), and any other global, or any opcode
 * outside the subset, is an error naming it. Tensors come back as {@link TensorRef}s (storage key,
 * offset, size, stride), unchecked; {@link TorchStorages} checks them against the storages.
 * Internal to the weights package.
 */
final class TorchPickle {
    /**
     * The largest pickle read. OpenAI's largest model (RN50x64, about 2,000 tensors and modules)
     * pickles to a few hundred kB; the cap bounds the reader's own objects (at most about 25 bytes
     * of Java heap per pickle byte) to about 100 MB.
     */
    static final long MAX_SIZE = 4L << 20;

    /** A storage named by a persistent id: {@code ('storage', torch.HalfStorage, key, location, numel)}. */
    record StorageRef(DType dtype, String key, long numel) {}

    /** A tensor view of a storage, as {@code torch._utils._rebuild_tensor_v2} describes it. */
    record TensorRef(StorageRef storage, long offset, long[] size, long[] stride) {}

    /**
     * An instance of a TorchScript class ({@code __torch__.model.CLIP}, {@code
     * __torch__.torch.nn.modules.linear.Linear}, ...): a name and the state {@code BUILD} gave it,
     * of which only tensors and nested objects are kept (a traced module's other attributes are
     * {@code training} and hook flags, booleans or None). Nothing of the class is looked up or run.
     */
    static final class ScriptObject {
        final String type;
        private Map<String, Object> attributes;

        private ScriptObject(String type) {
            this.type = type;
        }

        /** Attribute name to {@link TensorRef} or {@link ScriptObject}, in the pickle's order; null before BUILD. */
        Map<String, Object> attributes() {
            return attributes;
        }
    }

    private enum Dialect { TORCH_SAVE, TORCHSCRIPT }

    /** A module-qualified name from a GLOBAL opcode (already checked against the allow-list). */
    private record Global(String module, String name) {}

    /** An immutable Python tuple. */
    private record Tuple(List<Object> items) {}

    private static final Tuple EMPTY_TUPLE = new Tuple(List.of());

    /** A Python dict or OrderedDict (both keep insertion order here); the map is made on first use. */
    private static final class Dict {
        private LinkedHashMap<Object, Object> map;

        Map<Object, Object> map() {
            if (map == null) map = new LinkedHashMap<>();
            return map;
        }
    }

    private static final Object NONE = new Object() {
        @Override
        public String toString() {
            return "None";
        }
    };

    private static final Map<String, DType> STORAGES = Map.of(
            "HalfStorage", DType.F16, "FloatStorage", DType.F32, "BFloat16Storage", DType.BF16,
            "LongStorage", DType.I64, "DoubleStorage", DType.F64, "IntStorage", DType.I32,
            "ByteStorage", DType.U8);

    /** A TorchScript class: {@code __torch__} and dotted identifiers, then an identifier. */
    private static final Pattern SCRIPT_MODULE = Pattern.compile("__torch__(\\.[A-Za-z_][A-Za-z0-9_]*)*");
    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    /** An attribute of a TorchScript object: an identifier or a container index ("0"). */
    private static final Pattern ATTRIBUTE = Pattern.compile("[A-Za-z0-9_]{1,200}");
    private static final Pattern NOT_PRINTABLE = Pattern.compile("[\\p{Cc}\\p{Zl}\\p{Zp}]");

    private final Path file;
    private final String name;
    private final Dialect dialect;
    private final ByteBuffer in;
    private final ArrayList<Object> stack = new ArrayList<>();
    private int[] marks = new int[16];
    private int markCount;
    private final HashMap<Long, Object> memo = new HashMap<>();

    private TorchPickle(Path file, String name, Dialect dialect, byte[] data) {
        this.file = file;
        this.name = name;
        this.dialect = dialect;
        this.in = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Unpickles a {@code torch.save} {@code data.pkl}, which must be a dict from names to tensors
     * or integers (integers only for {@link ModelConfig#CONFIG_ENTRIES}-like entries; the caller
     * decides). Values are {@link TensorRef} or {@link Long}.
     */
    static Map<String, Object> stateDict(Path file, byte[] data) throws WeightFormatException {
        Object top = new TorchPickle(file, "data.pkl", Dialect.TORCH_SAVE, data).load();
        if (!(top instanceof Dict d)) throw new WeightFormatException(file, "data.pkl does not hold a dict but " + typeName(top));
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<Object, Object> e : d.map().entrySet()) {
            if (!(e.getKey() instanceof String k)) {
                throw new WeightFormatException(file, "state dict key is a " + typeName(e.getKey()) + ", not a string");
            }
            // Names reach error messages, which are one line: no control characters, a bounded length.
            if (k.length() > 1000 || NOT_PRINTABLE.matcher(k).find()) {
                throw new WeightFormatException(file, "state dict key '" + printable(k) + "' is not a plain name");
            }
            Object v = e.getValue();
            if (!(v instanceof TensorRef) && !(v instanceof Long)) {
                throw new WeightFormatException(file, "state dict entry '" + k + "' is a " + typeName(v) + ", not a tensor");
            }
            out.put(k, v);
        }
        return out;
    }

    /** Unpickles a TorchScript archive's {@code data.pkl}: the top-level module object. */
    static ScriptObject scriptModule(Path file, byte[] data) throws WeightFormatException {
        Object top = new TorchPickle(file, "data.pkl", Dialect.TORCHSCRIPT, data).load();
        if (!(top instanceof ScriptObject o)) {
            throw new WeightFormatException(file, "data.pkl does not hold a TorchScript module but " + typeName(top));
        }
        return o;
    }

    /** Unpickles a TorchScript archive's {@code constants.pkl}: a tuple of tensors. */
    static List<TensorRef> constants(Path file, byte[] data) throws WeightFormatException {
        Object top = new TorchPickle(file, "constants.pkl", Dialect.TORCHSCRIPT, data).load();
        if (!(top instanceof Tuple t)) {
            throw new WeightFormatException(file, "constants.pkl does not hold a tuple but " + typeName(top));
        }
        List<TensorRef> out = new ArrayList<>();
        for (Object o : t.items) {
            if (!(o instanceof TensorRef r)) {
                throw new WeightFormatException(file, "constants.pkl holds a " + typeName(o) + ", not only tensors");
            }
            out.add(r);
        }
        return out;
    }

    private Object load() throws WeightFormatException {
        try {
            return run();
        } catch (java.nio.BufferUnderflowException | IndexOutOfBoundsException e) {
            throw new WeightFormatException(file, name + " ends in the middle of an opcode (truncated pickle)");
        }
    }

    private Object run() throws WeightFormatException {
        while (true) {
            int pos = in.position();
            int op = in.get() & 0xff;
            switch (op) {
                case 0x80 -> { // PROTO
                    int v = in.get() & 0xff;
                    if (v < 2 || v > 5) throw bad("unsupported pickle protocol " + v);
                }
                case 0x95 -> in.getLong(); // FRAME (protocol 4): a length hint only
                case '.' -> { // STOP
                    if (stack.size() != 1 || markCount != 0) throw bad("pickle stops with " + stack.size() + " values on the stack");
                    return stack.get(0);
                }
                case '(' -> mark(); // MARK
                case 'N' -> push(NONE);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'J' -> push((long) in.getInt()); // BININT
                case 'K' -> push((long) (in.get() & 0xff)); // BININT1
                case 'M' -> push((long) (in.getShort() & 0xffff)); // BININT2
                case 0x8a -> push(long1(in.get() & 0xff)); // LONG1
                case 'G' -> push(in.duplicate().order(ByteOrder.BIG_ENDIAN).getDouble(skip(8))); // BINFLOAT
                case 'X' -> push(string(in.getInt() & 0xffffffffL)); // BINUNICODE
                case 0x8c -> push(string(in.get() & 0xff)); // SHORT_BINUNICODE
                case ')' -> push(EMPTY_TUPLE);
                case 't' -> push(new Tuple(popMark()));
                case 0x85 -> push(tuple(1));
                case 0x86 -> push(tuple(2));
                case 0x87 -> push(tuple(3));
                case ']' -> push(new ArrayList<>());
                case 'l' -> push(new ArrayList<>(popMark())); // LIST
                case '}' -> push(new Dict());
                case 'd' -> { // DICT
                    Dict d = new Dict();
                    putAll(d, popMark());
                    push(d);
                }
                case 'a' -> { // APPEND
                    Object v = pop();
                    list(peek()).add(v);
                }
                case 'e' -> { // APPENDS
                    List<Object> items = popMark();
                    list(peek()).addAll(items);
                }
                case 's' -> { // SETITEM
                    Object v = pop();
                    Object k = pop();
                    putAll(dict(peek()), List.of(k, v));
                }
                case 'u' -> { // SETITEMS
                    List<Object> items = popMark();
                    putAll(dict(peek()), items);
                }
                case 'q' -> memo.put((long) (in.get() & 0xff), peek()); // BINPUT
                case 'r' -> memo.put(in.getInt() & 0xffffffffL, peek()); // LONG_BINPUT
                case 0x94 -> memo.put((long) memo.size(), peek()); // MEMOIZE
                case 'h' -> push(memoGet(in.get() & 0xff)); // BINGET
                case 'j' -> push(memoGet(in.getInt() & 0xffffffffL)); // LONG_BINGET
                case 'c' -> push(global(line(), line())); // GLOBAL
                case 'Q' -> push(persistent(pop())); // BINPERSID
                case 'R' -> { // REDUCE
                    Object args = pop();
                    Object fn = pop();
                    push(reduce(fn, args));
                }
                case 0x81 -> { // NEWOBJ: cls.__new__(cls), for TorchScript classes only (the allow-list)
                    Object args = pop();
                    Object cls = pop();
                    push(newObject(cls, args));
                }
                case 'b' -> { // BUILD
                    Object state = pop();
                    build(peek(), state);
                }
                default -> throw new WeightFormatException(file, String.format(
                        "%s uses pickle opcode 0x%02x at byte %d, which %s does not contain", name, op, pos,
                        dialect == Dialect.TORCH_SAVE ? "a torch.save state dict" : "a TorchScript archive"));
            }
        }
    }

    private Object global(String module, String cls) throws WeightFormatException {
        String q = module + "." + cls;
        boolean ok = q.equals("torch._utils._rebuild_tensor_v2") || q.equals("collections.OrderedDict")
                || (module.equals("torch") && STORAGES.containsKey(cls));
        if (dialect == Dialect.TORCH_SAVE) {
            ok |= q.equals("torch._utils._rebuild_parameter");
        } else {
            // TorchScript names its module classes; they only become inert records (NEWOBJ + BUILD).
            ok |= SCRIPT_MODULE.matcher(module).matches() && IDENTIFIER.matcher(cls).matches();
        }
        if (!ok) {
            throw new WeightFormatException(file, name + " asks for " + q + ", which is not allowed (only PyTorch's "
                    + "tensor-rebuild functions, OrderedDict, storage types"
                    + (dialect == Dialect.TORCHSCRIPT ? " and __torch__ module classes" : "")
                    + " are; nothing in a file is executed)");
        }
        return new Global(module, cls);
    }

    private ScriptObject newObject(Object cls, Object args) throws WeightFormatException {
        if (!(cls instanceof Global g) || !g.module.startsWith("__torch__")) {
            throw bad("NEWOBJ of a " + typeName(cls) + ", not a TorchScript class");
        }
        if (args != EMPTY_TUPLE && !(args instanceof Tuple t && t.items.isEmpty())) {
            throw bad("NEWOBJ of " + g.module + "." + g.name + " with constructor arguments");
        }
        return new ScriptObject(g.module + "." + g.name);
    }

    /**
     * BUILD: a TorchScript object's attributes (once), or an OrderedDict's own state in a
     * torch.save file (its {@code _metadata}, not needed).
     */
    private void build(Object target, Object state) throws WeightFormatException {
        if (target instanceof ScriptObject o) {
            if (o.attributes != null) throw bad(o.type + " is built twice");
            if (!(state instanceof Dict d)) throw bad(o.type + " is built from a " + typeName(state) + ", not a dict");
            Map<String, Object> attributes = new LinkedHashMap<>();
            for (Map.Entry<Object, Object> e : d.map().entrySet()) {
                if (!(e.getKey() instanceof String k) || !ATTRIBUTE.matcher(k).matches()) {
                    throw bad(o.type + " has an attribute named by " + typeName(e.getKey()) + " '" + printable(e.getKey()) + "'");
                }
                Object v = e.getValue();
                if (v instanceof TensorRef || v instanceof ScriptObject) {
                    attributes.put(k, v);
                } else if (!(v instanceof Boolean) && v != NONE) {
                    throw bad("attribute '" + k + "' of " + o.type + " is a " + typeName(v)
                            + " (a traced module holds only tensors, submodules, booleans and None)");
                }
            }
            o.attributes = attributes;
        } else if (dialect != Dialect.TORCH_SAVE || !(target instanceof Dict) || !(state instanceof Dict || state == NONE)) {
            throw bad("BUILD on a " + typeName(target) + " is not part of " + (dialect == Dialect.TORCH_SAVE
                    ? "a state dict" : "a TorchScript module"));
        }
    }

    private Object persistent(Object pid) throws WeightFormatException {
        if (!(pid instanceof Tuple t) || t.items.size() != 5 || !"storage".equals(t.items.get(0))) {
            throw bad("persistent id is not ('storage', type, key, location, numel)");
        }
        List<Object> p = t.items;
        if (!(p.get(1) instanceof Global g) || !g.module.equals("torch") || !STORAGES.containsKey(g.name)) {
            throw bad("persistent id names no storage type");
        }
        if (!(p.get(2) instanceof String key) || !(p.get(3) instanceof String)) throw bad("storage key or location is not a string");
        if (!key.matches("[A-Za-z0-9_]{1,64}")) throw bad("storage key '" + key + "' is not a plain name");
        long numel = integer(p.get(4), "storage size");
        if (numel < 0) throw bad("negative storage size " + numel);
        return new StorageRef(STORAGES.get(g.name), key, numel);
    }

    private Object reduce(Object fn, Object args) throws WeightFormatException {
        if (!(fn instanceof Global g)) throw bad("REDUCE calls a " + typeName(fn) + ", not an allowed global");
        if (!(args instanceof Tuple t)) throw bad("REDUCE arguments are a " + typeName(args) + ", not a tuple");
        List<Object> a = t.items;
        switch (g.module + "." + g.name) {
            case "collections.OrderedDict" -> {
                if (!a.isEmpty()) throw bad("OrderedDict with constructor arguments");
                return new Dict();
            }
            case "torch._utils._rebuild_tensor_v2" -> {
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                if (a.size() < 6 || a.size() > 7) throw bad("_rebuild_tensor_v2 with " + a.size() + " arguments");
                if (!(a.get(0) instanceof StorageRef s)) throw bad("_rebuild_tensor_v2 without a storage");
                long offset = integer(a.get(1), "storage offset");
                long[] size = ints(a.get(2), "size");
                long[] stride = ints(a.get(3), "stride");
                if (size.length != stride.length) throw bad("tensor size and stride differ in length");
                if (!(a.get(4) instanceof Boolean)) throw bad("requires_grad is not a bool");
                return new TensorRef(s, offset, size, stride);
            }
            case "torch._utils._rebuild_parameter" -> { // torch.save only (the allow-list)
                // (data, requires_grad, backward_hooks)
                if (a.size() != 3 || !(a.get(0) instanceof TensorRef r)) throw bad("_rebuild_parameter without a tensor");
                return r;
            }
            default -> throw bad(g.module + "." + g.name + " is not a function");
        }
    }

    private void putAll(Dict d, List<Object> kv) throws WeightFormatException {
        if (kv.size() % 2 != 0) throw bad("odd number of dict items");
        for (int i = 0; i < kv.size(); i += 2) {
            Object k = kv.get(i);
            // Only hashable scalars as keys: a list or dict key could be self-referential.
            if (!(k instanceof String || k instanceof Long || k instanceof Boolean || k == NONE)) {
                throw bad("dict key of type " + typeName(k));
            }
            d.map().put(k, kv.get(i + 1));
        }
    }

    private long integer(Object o, String what) throws WeightFormatException {
        if (o instanceof Long l) return l;
        throw bad(what + " is a " + typeName(o) + ", not an integer");
    }

    private long[] ints(Object o, String what) throws WeightFormatException {
        if (!(o instanceof Tuple t)) throw bad("tensor " + what + " is not a tuple");
        long[] out = new long[t.items.size()];
        for (int i = 0; i < out.length; i++) out[i] = integer(t.items.get(i), "tensor " + what);
        return out;
    }

    private long long1(int n) throws WeightFormatException {
        if (n > 8) throw bad("integer of " + n + " bytes is too large");
        long v = 0;
        for (int i = 0; i < n; i++) v |= (in.get() & 0xffL) << (8 * i);
        if (n > 0 && n < 8 && (v & (1L << (8 * n - 1))) != 0) v |= -1L << (8 * n); // sign-extend
        return v;
    }

    private int skip(int n) {
        int p = in.position();
        if (in.remaining() < n) throw new java.nio.BufferUnderflowException();
        in.position(p + n);
        return p;
    }

    private String string(long len) throws WeightFormatException {
        if (len > in.remaining()) throw bad("string of " + len + " bytes runs past the end of " + name);
        ByteBuffer slice = in.slice(in.position(), (int) len);
        in.position(in.position() + (int) len);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(slice).toString();
        } catch (CharacterCodingException e) {
            throw bad("string is not valid UTF-8");
        }
    }

    /** A GLOBAL operand: text up to a newline, printable ASCII only. */
    private String line() throws WeightFormatException {
        StringBuilder sb = new StringBuilder();
        while (true) {
            byte b = in.get();
            if (b == '\n') return sb.toString();
            if (b < 0x20 || b > 0x7e || sb.length() > 200) throw bad("malformed GLOBAL name");
            sb.append((char) b);
        }
    }

    private Object memoGet(long i) throws WeightFormatException {
        Object v = memo.get(i);
        if (v == null) throw bad("memo slot " + i + " is empty");
        return v;
    }

    private Tuple tuple(int n) throws WeightFormatException {
        if (stack.size() - lastMark() < n) throw bad("stack underflow");
        List<Object> items = new ArrayList<>(stack.subList(stack.size() - n, stack.size()));
        stack.subList(stack.size() - n, stack.size()).clear();
        return new Tuple(List.copyOf(items));
    }

    private void mark() {
        if (markCount == marks.length) marks = Arrays.copyOf(marks, 2 * markCount);
        marks[markCount++] = stack.size();
    }

    private List<Object> popMark() throws WeightFormatException {
        if (markCount == 0) throw bad("no MARK on the stack");
        int m = marks[--markCount];
        List<Object> items = new ArrayList<>(stack.subList(m, stack.size()));
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private int lastMark() {
        return markCount == 0 ? 0 : marks[markCount - 1];
    }

    private void push(Object o) {
        stack.add(o);
    }

    private Object pop() throws WeightFormatException {
        if (stack.size() <= lastMark()) throw bad("stack underflow");
        return stack.remove(stack.size() - 1);
    }

    private Object peek() throws WeightFormatException {
        if (stack.size() <= lastMark()) throw bad("stack underflow");
        return stack.get(stack.size() - 1);
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object o) throws WeightFormatException {
        if (o instanceof ArrayList<?> l) return (List<Object>) l;
        throw bad("APPEND to a " + typeName(o));
    }

    private Dict dict(Object o) throws WeightFormatException {
        if (o instanceof Dict d) return d;
        throw bad("SETITEM on a " + typeName(o));
    }

    /** {@code o} as text for a one-line message: control and line-break characters replaced, at most 80 characters. */
    private static String printable(Object o) {
        String s = String.valueOf(o);
        if (s.length() > 80) s = s.substring(0, 80) + "...";
        return NOT_PRINTABLE.matcher(s).replaceAll("?");
    }

    private static String typeName(Object o) {
        if (o == NONE) return "None";
        if (o instanceof Tuple) return "tuple";
        if (o instanceof Dict) return "dict";
        if (o instanceof List) return "list";
        if (o instanceof Global g) return "global " + g.module + "." + g.name;
        if (o instanceof StorageRef) return "storage";
        if (o instanceof TensorRef) return "tensor";
        if (o instanceof ScriptObject s) return "object " + s.type;
        return o == null ? "null" : o.getClass().getSimpleName();
    }

    private WeightFormatException bad(String problem) {
        return new WeightFormatException(file, "bad " + name + " at byte " + in.position() + ": " + problem);
    }
}

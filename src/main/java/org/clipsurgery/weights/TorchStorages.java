package org.clipsurgery.weights;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.clipsurgery.weights.TorchPickle.StorageRef;
import org.clipsurgery.weights.TorchPickle.TensorRef;

/**
 * The part of PyTorch's two zip formats ({@code torch.save} and TorchScript) that both readers
 * share: which entries an archive may hold, and the tensors its pickle describes, read out of the
 * storage entries only after every view and storage has been checked:
 * <ul>
 *   <li>every view: offset, sizes and strides non-negative, the last element inside its storage
 *       (overflow-safe arithmetic);
 *   <li>every storage: its entry exists, holds exactly the pickle's element count times the
 *       element size of its storage type, and is used with one type and count only; an entry in a
 *       storage folder that no tensor references is refused;
 *   <li>memory: the storages' bytes that no tensor uses ({@link #slackAllowed}) and the copies that
 *       strided views need are bounded before any storage is read or inflated, so what a load holds
 *       never exceeds the tensors' own bytes (which the caller has checked against the model config)
 *       by more than that slack.
 * </ul>
 * Every problem is a one-line {@link WeightFormatException} naming the tensor or entry. Internal
 * to the weights package.
 */
final class TorchStorages {
    /**
     * An entry no reader opens (TorchScript code, debug tables, traced inputs, version stamps) may
     * hold at most this much: they are a few kB to a few hundred kB in PyTorch's archives, and a
     * larger one is no part of a weight file.
     */
    static final long MAX_UNREAD = 16L << 20;

    private TorchStorages() {}

    /** A named tensor view, in the pickle's order. */
    private record View(String name, TensorRef ref) {}

    /** A storage entry and the views that read it. */
    private static final class Storage {
        final String entry;
        final StorageRef ref;
        final List<View> views = new ArrayList<>();
        /** Elements of all views (overlaps counted twice); an upper bound of what they use. */
        long viewElements;
        boolean strided;

        Storage(String entry, StorageRef ref) {
            this.entry = entry;
            this.ref = ref;
        }

        long bytes() {
            return ref.numel() * ref.dtype().size();
        }
    }

    /**
     * Refuses entries the reader does not expect. {@code read}: entry names (relative to the
     * archive's folder) or folders (ending in '/') that the reader reads or checks itself;
     * {@code unread}: the same for entries never opened, which are only size-checked.
     */
    static void checkEntries(Path file, ZipArchive zip, List<String> read, List<String> unread)
            throws WeightFormatException {
        String p = zip.prefix();
        for (String name : zip.names()) {
            String rel = name.substring(p.length());
            if (matches(read, rel)) continue;
            if (!matches(unread, rel)) {
                throw new WeightFormatException(file, "zip entry " + name + " is not part of this format");
            }
            if (zip.size(name) > MAX_UNREAD) {
                throw new WeightFormatException(file, "zip entry " + name + " holds " + zip.size(name)
                        + " bytes; the entries a weight reader never opens hold at most " + MAX_UNREAD);
            }
        }
    }

    private static boolean matches(List<String> patterns, String rel) {
        for (String pat : patterns) {
            if (pat.endsWith("/") ? rel.startsWith(pat) && rel.length() > pat.length() : rel.equals(pat)) return true;
        }
        return false;
    }

    /** A pickle entry ({@code data.pkl}, ...), its size checked before it is read. */
    static byte[] readPickle(Path file, ZipArchive zip, String rel) throws WeightFormatException {
        String name = zip.prefix() + rel;
        long size = zip.size(name);
        if (size < 0) throw new WeightFormatException(file, "archive lacks " + name);
        if (size > TorchPickle.MAX_SIZE) {
            throw new WeightFormatException(file, name + " holds " + size + " bytes, more than a weight file's pickle ("
                    + TorchPickle.MAX_SIZE + ")");
        }
        return zip.read(name);
    }

    /** PyTorch records the writer's byte order; only little-endian data is read. */
    static void checkByteOrder(Path file, ZipArchive zip) throws WeightFormatException {
        String name = zip.prefix() + "byteorder";
        if (!zip.has(name)) return; // older PyTorch versions write none; their data is little-endian
        if (zip.size(name) > 16) throw new WeightFormatException(file, name + " is not a byte order");
        String order = new String(zip.read(name), StandardCharsets.US_ASCII);
        if (!order.equals("little")) {
            throw new WeightFormatException(file, "byte order '" + order.replaceAll("[^ -~]", "?") + "' is not supported");
        }
    }

    /**
     * Checks the views of {@code folder}'s storages (e.g. {@code constants/}) and that every entry
     * there is referenced, without reading any: for tensors a weight load does not need.
     */
    static void check(Path file, ZipArchive zip, String folder, Map<String, TensorRef> tensors)
            throws WeightFormatException {
        plan(file, zip, folder, tensors);
    }

    /**
     * The tensors of {@code tensors} (names and shapes already checked against the model config),
     * read from the storages in {@code data/}, in the same order. Contiguous views share their
     * storage's bytes; a storage with a strided view is copied out view by view and dropped.
     */
    static Map<String, HostTensor> read(Path file, ZipArchive zip, Map<String, TensorRef> tensors)
            throws WeightFormatException {
        List<Storage> storages = plan(file, zip, "data/", tensors);
        long tensorBytes = 0, slack = 0, worstUnused = -1;
        Storage worst = null;
        for (Storage s : storages) {
            long es = s.ref.dtype().size();
            tensorBytes += s.viewElements * es;
            long unused = Math.max(0, s.ref.numel() - s.viewElements) * es;
            slack += unused;
            if (unused > worstUnused) {
                worst = s;
                worstUnused = unused;
            }
            if (s.strided && s.viewElements > s.ref.numel()) {
                throw new WeightFormatException(file, "storage " + s.entry + " of " + s.ref.numel() + " elements backs strided "
                        + "views of " + s.viewElements + " elements (" + viewNames(s) + "): more than it holds");
            }
        }
        if (slack > slackAllowed(tensorBytes)) {
            throw new WeightFormatException(file, "storage " + worst.entry + " holds " + worst.bytes() + " bytes but its tensors ("
                    + viewNames(worst) + ") use at most " + worst.viewElements * worst.ref.dtype().size() + "; the storages hold "
                    + slack + " bytes no tensor uses, at most " + slackAllowed(tensorBytes) + " are allowed");
        }
        Map<String, HostTensor> byName = new LinkedHashMap<>();
        for (String name : tensors.keySet()) byName.put(name, null);
        for (Storage s : storages) {
            ByteBuffer data = ByteBuffer.wrap(zip.read(s.entry)).order(ByteOrder.LITTLE_ENDIAN);
            for (View v : s.views) byName.put(v.name, s.strided ? copy(v.ref, data) : slice(v.ref, data));
        }
        return byName;
    }

    /**
     * Bytes the storages may hold beyond what their tensors use: PyTorch saves a tensor's whole
     * storage, so a tensor saved as a slice of a larger one brings the rest along. OpenAI's,
     * OpenCLIP's and this project's files have one exact storage per tensor and need none; 1/64 of
     * the tensors' bytes (plus 64 KiB, for a small model's slice of a small storage) lets such a
     * file load while keeping a load within 1.6% of the model's own size.
     */
    static long slackAllowed(long tensorBytes) {
        return tensorBytes / 64 + (64 << 10);
    }

    /** Groups the views by storage and checks storages and views; refuses unreferenced entries of {@code folder}. */
    private static List<Storage> plan(Path file, ZipArchive zip, String folder, Map<String, TensorRef> tensors)
            throws WeightFormatException {
        String dir = zip.prefix() + folder;
        Map<String, Storage> byKey = new LinkedHashMap<>();
        for (Map.Entry<String, TensorRef> e : tensors.entrySet()) {
            View v = new View(e.getKey(), e.getValue());
            StorageRef ref = v.ref.storage();
            Storage s = byKey.get(ref.key());
            if (s == null) {
                s = new Storage(dir + ref.key(), ref);
                long size = zip.size(s.entry);
                if (size < 0) throw new WeightFormatException(file, "tensor '" + v.name + "': storage " + s.entry + " is missing");
                long es = ref.dtype().size();
                if (ref.numel() > ZipArchive.MAX_ENTRY / es || size != ref.numel() * es) {
                    throw new WeightFormatException(file, "tensor '" + v.name + "': storage " + s.entry + " holds " + size
                            + " bytes, the pickle declares " + ref.numel() + " " + ref.dtype() + " elements");
                }
                byKey.put(ref.key(), s);
            } else if (!s.ref.equals(ref)) {
                throw new WeightFormatException(file, "tensor '" + v.name + "': storage " + s.entry + " is declared as "
                        + ref.numel() + " " + ref.dtype() + " elements and elsewhere as " + s.ref.numel() + " " + s.ref.dtype());
            }
            long numel = checkView(file, v, ref.numel());
            s.views.add(v);
            s.viewElements = Math.addExact(s.viewElements, numel); // each numel < 2^31 (checkView)
            s.strided |= !isContiguous(v.ref.size(), v.ref.stride());
        }
        Set<String> referenced = new HashSet<>();
        for (Storage s : byKey.values()) referenced.add(s.entry);
        for (String name : zip.names()) {
            if (name.startsWith(dir) && !referenced.contains(name)) {
                throw new WeightFormatException(file, "zip entry " + name + " is a storage no tensor references");
            }
        }
        return new ArrayList<>(byKey.values());
    }

    /** Checks that view {@code v} lies inside a storage of {@code storageNumel} elements; returns its element count. */
    private static long checkView(Path file, View v, long storageNumel) throws WeightFormatException {
        TensorRef r = v.ref;
        long[] size = r.size(), stride = r.stride();
        String where = "tensor '" + v.name + "' (offset " + r.offset() + ", size " + Arrays.toString(size) + ", stride "
                + Arrays.toString(stride) + ")";
        if (r.offset() < 0) throw new WeightFormatException(file, where + " has a negative storage offset");
        for (int d = 0; d < size.length; d++) {
            if (size[d] < 0 || stride[d] < 0) throw new WeightFormatException(file, where + " has a negative size or stride");
        }
        long numel, last = r.offset();
        try {
            numel = HostTensor.numel(size);
            for (int d = 0; d < size.length; d++) {
                if (size[d] > 0) last = Math.addExact(last, Math.multiplyExact(size[d] - 1, stride[d]));
            }
        } catch (ArithmeticException e) {
            throw new WeightFormatException(file, where + " overflows 64-bit index arithmetic");
        }
        if (numel == 0 ? r.offset() > storageNumel : last >= storageNumel) {
            throw new WeightFormatException(file, where + " does not fit its storage of " + storageNumel + " elements");
        }
        if (numel > ZipArchive.MAX_ENTRY) throw new WeightFormatException(file, where + " has too many elements");
        return numel;
    }

    private static boolean isContiguous(long[] size, long[] stride) {
        long expect = 1;
        for (int d = size.length - 1; d >= 0; d--) {
            if (size[d] != 1 && stride[d] != expect) return false;
            expect *= size[d];
        }
        return true;
    }

    private static HostTensor slice(TensorRef r, ByteBuffer storage) {
        int es = r.storage().dtype().size();
        long numel = HostTensor.numel(r.size());
        return new HostTensor(r.storage().dtype(), r.size(), storage.slice((int) (r.offset() * es), (int) (numel * es)));
    }

    /** A strided view (a transposed weight, say) copied out in row-major order. */
    private static HostTensor copy(TensorRef r, ByteBuffer storage) {
        long[] size = r.size(), stride = r.stride();
        int es = r.storage().dtype().size();
        long numel = HostTensor.numel(size);
        ByteBuffer out = ByteBuffer.allocate((int) (numel * es)).order(ByteOrder.LITTLE_ENDIAN);
        long[] idx = new long[size.length];
        byte[] elem = new byte[es];
        for (long k = 0; k < numel; k++) {
            long src = r.offset();
            for (int d = 0; d < size.length; d++) src += idx[d] * stride[d];
            storage.get((int) (src * es), elem);
            out.put(elem);
            for (int d = size.length - 1; d >= 0; d--) {
                if (++idx[d] < size[d]) break;
                idx[d] = 0;
            }
        }
        return new HostTensor(r.storage().dtype(), size, out.flip());
    }

    /** The first few tensor names of a storage, for a message. */
    private static String viewNames(Storage s) {
        List<String> names = new ArrayList<>();
        for (View v : s.views) {
            if (names.size() == 3) {
                names.add("...");
                break;
            }
            names.add(v.name);
        }
        return String.join(", ", names);
    }
}

package org.clipsurgery.weights;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.clipsurgery.weights.TorchPickle.TensorRef;

/**
 * Reads a {@code torch.save} zip of a state dict in Java: {@code data.pkl} (a dict of names to
 * tensors, unpickled by {@link TorchPickle} under its allow-list), then the storages by
 * {@link TorchStorages}, once the names and shapes match the model config they imply. Integer
 * entries are allowed only for {@link ModelConfig#CONFIG_ENTRIES} and come back as I64 scalars.
 * Internal to the weights package.
 */
final class TorchSaveReader {
    /** Entries read or checked here. */
    private static final List<String> READ = List.of("data.pkl", "byteorder", "data/");
    /** Version stamps PyTorch writes beside them: never opened. */
    private static final List<String> UNREAD = List.of("version", ".data/", ".format_version", ".storage_alignment");

    /** Vets a state dict's names and shapes (config entries removed) before any storage is read. */
    interface ShapeCheck {
        void check(Path file, Map<String, long[]> shapes) throws WeightFormatException;
    }

    private TorchSaveReader() {}

    /** The tensors of a torch.save zip whose names and shapes {@code check} accepts. */
    static Map<String, HostTensor> read(Path file, ZipArchive zip, ShapeCheck check) throws WeightFormatException {
        TorchStorages.checkEntries(file, zip, READ, UNREAD);
        TorchStorages.checkByteOrder(file, zip);
        Map<String, Object> dict = TorchPickle.stateDict(file, TorchStorages.readPickle(file, zip, "data.pkl"));
        Map<String, TensorRef> tensors = new LinkedHashMap<>();
        Map<String, Long> configEntries = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : dict.entrySet()) {
            if (e.getValue() instanceof TensorRef r) {
                tensors.put(e.getKey(), r);
            } else if (ModelConfig.CONFIG_ENTRIES.contains(e.getKey())) {
                configEntries.put(e.getKey(), (Long) e.getValue());
            } else {
                throw new WeightFormatException(file, "state dict entry '" + e.getKey() + "' is an integer, not a tensor");
            }
        }
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (Map.Entry<String, TensorRef> e : tensors.entrySet()) shapes.put(e.getKey(), e.getValue().size());
        shapes.keySet().removeAll(ModelConfig.CONFIG_ENTRIES);
        check.check(file, shapes); // before any storage is read: the sizes are then the model's
        Map<String, HostTensor> out = TorchStorages.read(file, zip, tensors);
        for (Map.Entry<String, Long> e : configEntries.entrySet()) {
            out.put(e.getKey(), new HostTensor(DType.I64, new long[0],
                    ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, e.getValue())));
        }
        return out;
    }
}

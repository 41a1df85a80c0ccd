package org.clipsurgery.weights;

import java.nio.file.Path;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.clipsurgery.weights.TorchPickle.ScriptObject;
import org.clipsurgery.weights.TorchPickle.TensorRef;

/**
 * Reads the weights of a TorchScript archive (OpenAI's released checkpoint format) in Java,
 * without LibTorch: {@code data.pkl} is unpickled by {@link TorchPickle} into inert records of the
 * module hierarchy ({@code __torch__.model.CLIP} with its {@code visual} submodule, and so on),
 * whose tensor attributes, named by their path ({@code visual.conv1.weight}), are the state dict;
 * the tensors are then read by {@link TorchStorages} like a {@code torch.save} file's.
 *
 * <p>The archive's code ({@code code/}), debug tables, traced inputs and extra files are never
 * opened, so nothing in the file is interpreted or run; {@code constants.pkl}, if present, is
 * unpickled and its tensors checked against {@code constants/}, but not read. Which tensor
 * attributes are parameters and which buffers is written only in the code, so every tensor
 * attribute is returned: for OpenAI's traced modules these are exactly the parameters and buffers
 * (a traced module keeps no other tensors), and the names are then checked against the model
 * config like any other format's. Internal to the weights package.
 */
final class TorchScriptReader {
    /** Entries read or checked here. */
    private static final List<String> READ = List.of("data.pkl", "constants.pkl", "byteorder", "data/", "constants/");
    /** Entries PyTorch writes that weights do not need: never opened. */
    private static final List<String> UNREAD = List.of("code/", "extra/", "traced_inputs.pkl", "traced_inputs/",
            "version", ".data/", ".format_version", ".storage_alignment");
    /** Module nesting deeper than this is no CLIP model (OpenAI's models nest 6 deep). */
    private static final int MAX_DEPTH = 32;

    private TorchScriptReader() {}

    /** All tensor attributes of the module hierarchy by state-dict name, in the pickle's order. */
    static Map<String, HostTensor> read(Path file, ZipArchive zip) throws WeightFormatException {
        TorchStorages.checkEntries(file, zip, READ, UNREAD);
        TorchStorages.checkByteOrder(file, zip);
        ScriptObject root = TorchPickle.scriptModule(file, TorchStorages.readPickle(file, zip, "data.pkl"));
        Map<String, TensorRef> tensors = new LinkedHashMap<>();
        collect(file, "", root, tensors, Collections.newSetFromMap(new IdentityHashMap<>()), 0);
        if (zip.has(zip.prefix() + "constants.pkl")) {
            Map<String, TensorRef> constants = new LinkedHashMap<>();
            for (TensorRef r : TorchPickle.constants(file, TorchStorages.readPickle(file, zip, "constants.pkl"))) {
                constants.put("constant " + constants.size(), r);
            }
            TorchStorages.check(file, zip, "constants/", constants);
        }
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (Map.Entry<String, TensorRef> e : tensors.entrySet()) shapes.put(e.getKey(), e.getValue().size());
        shapes.keySet().removeAll(ModelConfig.CONFIG_ENTRIES);
        WeightStore.checkShapes(file, shapes); // before any storage is read: the sizes are then the model's
        return TorchStorages.read(file, zip, tensors);
    }

    /**
     * Adds the tensor attributes of {@code o} and its submodules, depth first in attribute order
     * (the order LibTorch lists parameters in).
     */
    private static void collect(Path file, String prefix, ScriptObject o, Map<String, TensorRef> out, Set<ScriptObject> seen,
            int depth) throws WeightFormatException {
        String here = prefix.isEmpty() ? "the top-level module" : "module '" + prefix.substring(0, prefix.length() - 1) + "'";
        if (depth > MAX_DEPTH) throw new WeightFormatException(file, here + " is nested deeper than " + MAX_DEPTH);
        if (!seen.add(o)) throw new WeightFormatException(file, here + " (" + o.type + ") appears twice in the module hierarchy");
        if (o.attributes() == null) throw new WeightFormatException(file, here + " (" + o.type + ") has no state (no BUILD)");
        for (Map.Entry<String, Object> e : o.attributes().entrySet()) {
            String name = prefix + e.getKey();
            if (e.getValue() instanceof ScriptObject sub) {
                collect(file, name + ".", sub, out, seen, depth + 1);
            } else {
                out.put(name, (TensorRef) e.getValue()); // unique: attribute names hold no '.'
            }
        }
    }
}

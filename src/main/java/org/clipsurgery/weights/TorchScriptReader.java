package org.clipsurgery.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.NamedTensor;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.named_buffer_iterator;
import org.bytedeco.pytorch.named_buffer_list;
import org.bytedeco.pytorch.named_parameter_iterator;
import org.bytedeco.pytorch.named_parameter_list;

/**
 * Reads the parameters and buffers of a TorchScript archive (OpenAI's released checkpoint format)
 * through LibTorch's own loader, mapped to the CPU, into Java-owned {@link HostTensor}s.
 *
 * <p>LibTorch's loader is native code that can crash the process on a corrupt archive, so the
 * archive is checked in Java first: zip layout, every entry's size and CRC-32, the entries a
 * TorchScript archive must have, little-endian byte order. It also refuses archives whose code
 * defines {@code __setstate__}: LibTorch runs such methods while loading, and nothing in a weight
 * file should run. (The file is read twice, by Java and then by LibTorch; a file replaced between
 * the two reads is not detected.) Internal to the weights package.
 */
final class TorchScriptReader {
    private TorchScriptReader() {}

    /** All parameters and buffers by state-dict name, in LibTorch's order (parameters first). */
    static Map<String, HostTensor> read(Path file, ZipArchive zip) throws IOException {
        validate(file, zip);
        Map<String, HostTensor> out = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            JitModule module;
            try {
                module = torch.load(file.toAbsolutePath().toString(), new DeviceOptional(new Device("cpu")), false);
            } catch (RuntimeException e) {
                throw new WeightFormatException(file, "LibTorch cannot load this TorchScript archive: " + firstLine(e), e);
            }
            named_parameter_list params = module.named_parameters(true);
            for (named_parameter_iterator it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
                NamedTensor nt = it.access();
                put(file, out, nt.name().getString(), nt.value());
            }
            named_buffer_list buffers = module.named_buffers(true);
            for (named_buffer_iterator it = buffers.begin(); it.notEquals(buffers.end()); it = it.increment()) {
                NamedTensor nt = it.access();
                put(file, out, nt.name().getString(), nt.value());
            }
        } catch (RuntimeException e) {
            throw new WeightFormatException(file, "cannot read tensors from the TorchScript archive: " + firstLine(e), e);
        }
        return out;
    }

    private static void validate(Path file, ZipArchive zip) throws IOException {
        String p = zip.prefix();
        for (String need : new String[] {"data.pkl", "constants.pkl", "version"}) {
            if (!zip.has(p + need)) throw new WeightFormatException(file, "TorchScript archive lacks " + p + need);
        }
        zip.verifyAll();
        WeightStore.checkByteOrder(file, zip);
        boolean code = false;
        for (String name : zip.names()) {
            if (!name.startsWith(p + "code/") || !name.endsWith(".py")) continue;
            code = true;
            if (zip.size(name) > (64 << 20)) throw new WeightFormatException(file, "TorchScript code file " + name + " is too large");
            String text = new String(zip.read(name), StandardCharsets.UTF_8);
            if (text.contains("__setstate__")) {
                throw new WeightFormatException(file, "TorchScript archive defines __setstate__ in " + name
                        + "; LibTorch would run it while loading, and weight files are never executed");
            }
        }
        if (!code) throw new WeightFormatException(file, "TorchScript archive has no code/ entries");
    }

    private static void put(Path file, Map<String, HostTensor> out, String name, Tensor t) throws WeightFormatException {
        DType dtype = dtype(t.scalar_type());
        if (dtype == null) throw new WeightFormatException(file, "tensor '" + name + "' has unsupported dtype "
                + t.dtype().name().getString());
        Tensor c = t.is_cpu() ? t : t.cpu();
        c = c.contiguous();
        long[] shape = new long[(int) c.dim()];
        for (int i = 0; i < shape.length; i++) shape[i] = c.size(i);
        long nbytes = c.nbytes();
        if (nbytes != HostTensor.numel(shape) * dtype.size() || nbytes > ZipArchive.MAX_ENTRY) {
            throw new WeightFormatException(file, "tensor '" + name + "' has an impossible size: " + nbytes
                    + " bytes for " + java.util.Arrays.toString(shape) + " " + dtype);
        }
        ByteBuffer data = ByteBuffer.allocate((int) nbytes).order(ByteOrder.LITTLE_ENDIAN);
        if (nbytes > 0) {
            // Keep c referenced while its data pointer is read (a temporary's pointer would dangle).
            BytePointer ptr = new BytePointer(c.data_ptr()).capacity(nbytes);
            data.put(ptr.asByteBuffer());
            data.flip();
        }
        if (out.put(name, new HostTensor(dtype, shape, data)) != null) {
            throw new WeightFormatException(file, "tensor '" + name + "' appears twice");
        }
    }

    /**
     * JavaCPP returns native enums as fresh objects that carry only {@code value} (their ordinal
     * is 0 and they are not the enum constants), so the mapping compares values.
     */
    private static DType dtype(torch.ScalarType t) {
        int v = t.value;
        if (v == torch.ScalarType.Float.value) return DType.F32;
        if (v == torch.ScalarType.Half.value) return DType.F16;
        if (v == torch.ScalarType.BFloat16.value) return DType.BF16;
        if (v == torch.ScalarType.Double.value) return DType.F64;
        if (v == torch.ScalarType.Long.value) return DType.I64;
        if (v == torch.ScalarType.Int.value) return DType.I32;
        if (v == torch.ScalarType.Byte.value) return DType.U8;
        return null;
    }

    /** The first non-blank line of a LibTorch error (the rest is a C++ backtrace). */
    private static String firstLine(Throwable e) {
        for (String line : String.valueOf(e.getMessage()).split("\n")) {
            if (!line.isBlank()) return line.strip();
        }
        return e.getClass().getSimpleName();
    }
}

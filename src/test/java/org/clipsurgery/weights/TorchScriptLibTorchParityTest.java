package org.clipsurgery.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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
import org.clipsurgery.engine.cpu.TorchOps;
import org.clipsurgery.testing.Fixtures;
import org.junit.jupiter.api.Test;

/**
 * OpenAI's format read in Java against LibTorch's own loader, used here as the oracle only (the
 * library never hands a file to LibTorch): the same names in the same order, dtypes, shapes and
 * bytes, bit for bit. The fixture is trusted; LibTorch runs its code while loading.
 */
class TorchScriptLibTorchParityTest {
    static {
        TorchOps.extractLibTorch(); // as the library does before LibTorch's first use (see there)
    }

    @Test
    void javaReaderEqualsLibTorchBitForBit() throws IOException {
        Path file = Fixtures.file("vit-jit.pt");
        Map<String, byte[]> oracle = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, Integer> types = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            JitModule m = torch.load(file.toAbsolutePath().toString(), new DeviceOptional(new Device("cpu")), false);
            named_parameter_list params = m.named_parameters(true);
            for (named_parameter_iterator it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
                NamedTensor nt = it.access();
                put(nt.name().getString(), nt.value(), oracle, shapes, types);
            }
            named_buffer_list buffers = m.named_buffers(true);
            for (named_buffer_iterator it = buffers.begin(); it.notEquals(buffers.end()); it = it.increment()) {
                NamedTensor nt = it.access();
                put(nt.name().getString(), nt.value(), oracle, shapes, types);
            }
        }
        try (WeightStore w = WeightStore.load(file)) {
            assertEquals(new ArrayList<>(oracle.keySet()), new ArrayList<>(w.names()));
            int bytes = 0;
            for (String name : oracle.keySet()) {
                HostTensor t = w.get(name);
                assertEquals(types.get(name), libTorchType(t.dtype()), name);
                assertArrayEquals(shapes.get(name), t.shape(), name);
                ByteBuffer b = t.data();
                byte[] mine = new byte[b.remaining()];
                b.get(mine);
                assertArrayEquals(oracle.get(name), mine, name);
                bytes += mine.length;
            }
            System.out.printf("vit-jit.pt: %d tensors, %d bytes, bit-identical to LibTorch's reading%n", oracle.size(), bytes);
        }
    }

    private static void put(String name, Tensor t, Map<String, byte[]> data, Map<String, long[]> shapes,
            Map<String, Integer> types) {
        Tensor c = t.contiguous(); // kept referenced while its data pointer is read
        long[] shape = new long[(int) c.dim()];
        for (int i = 0; i < shape.length; i++) shape[i] = c.size(i);
        byte[] b = new byte[(int) c.nbytes()];
        if (b.length > 0) new BytePointer(c.data_ptr()).capacity(b.length).get(b);
        data.put(name, b);
        shapes.put(name, shape);
        types.put(name, (int) c.scalar_type().value);
    }

    private static int libTorchType(DType d) {
        return switch (d) {
            case F32 -> torch.ScalarType.Float.value;
            case F16 -> torch.ScalarType.Half.value;
            case BF16 -> torch.ScalarType.BFloat16.value;
            case F64 -> torch.ScalarType.Double.value;
            case I64 -> torch.ScalarType.Long.value;
            case I32 -> torch.ScalarType.Int.value;
            case U8 -> torch.ScalarType.Byte.value;
        };
    }
}

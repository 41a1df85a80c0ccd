package org.clipsurgery.nativeapi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.bytedeco.javacpp.FloatPointer;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.junit.jupiter.api.Test;

/** The whole chain Java → JavaCPP → libclip_surgery, checked against the official outputs. */
class FeatureSurgeryNativeTest {

    @Test
    void loadsAndReportsVersion() {
        assertTrue(NativeCalls.version().matches("\\d+\\.\\d+\\.\\d+"));
    }

    @Test
    void featureSurgeryCpuEqualsOfficialImplementation() throws Exception {
        Map<String, HostTensor> ref = Safetensors.read(Fixtures.file("reference-vit.safetensors"));
        for (String res : new String[] {"64", "96"}) {
            HostTensor img = ref.get("vit." + res + ".surgery_image_features");
            HostTensor text = ref.get("vit." + res + ".text_features");
            HostTensor redundant = ref.get("vit." + res + ".redundant_features");
            int n = (int) img.size(1), c = (int) img.size(2), t = (int) text.size(0);
            NativeCalls.load();
            try (FloatPointer x = new FloatPointer(img.toFloatArray());
                    FloatPointer tx = new FloatPointer(text.toFloatArray());
                    FloatPointer r = new FloatPointer(redundant.toFloatArray());
                    FloatPointer out = new FloatPointer((long) n * t)) {
                NativeCalls.check(ClipSurgeryNative.cs_feature_surgery_cpu(x, ClipSurgeryNative.CS_F32, 1, n, c,
                        tx, t, (FloatPointer) null, out, null), "feature surgery");
                assertClose(ref.get("vit." + res + ".similarity").toFloatArray(), out);
                NativeCalls.check(ClipSurgeryNative.cs_feature_surgery_cpu(x, ClipSurgeryNative.CS_F32, 1, n, c,
                        tx, t, r, out, null), "feature surgery (redundant)");
                assertClose(ref.get("vit." + res + ".similarity_redundant").toFloatArray(), out);
            }
        }
    }

    @Test
    void badArgumentsBecomeExceptions() {
        NativeCalls.load();
        try (FloatPointer p = new FloatPointer(4)) {
            NativeException e = assertThrows(NativeException.class, () -> NativeCalls.check(
                    ClipSurgeryNative.cs_feature_surgery_cpu(p, 42, 1, 2, 1, p, 1, (FloatPointer) null, p, null),
                    "feature surgery"));
            assertEquals(ClipSurgeryNative.CS_ERR_INVALID_ARGUMENT, e.status());
            assertTrue(e.getMessage().contains("dtype"), e.getMessage());
        }
    }

    @Test
    void cudaEntryPointFailsCleanlyWithoutGpu() {
        NativeCalls.load();
        int[] count = new int[1];
        int rc = ClipSurgeryNative.cs_cuda_device_count(count);
        if (rc != ClipSurgeryNative.CS_OK) {
            // Built without CUDA, or no driver here: a status and a message, never a crash.
            assertTrue(rc == ClipSurgeryNative.CS_ERR_NO_CUDA || rc == ClipSurgeryNative.CS_ERR_CUDA);
            assertTrue(!ClipSurgeryNative.cs_last_error().getString().isEmpty());
        }
    }

    /** Tolerance of ../shared/fixtures/README.md: 1e-4 absolute + 1e-3 relative. */
    private static void assertClose(float[] expected, FloatPointer actual) {
        for (int i = 0; i < expected.length; i++) {
            float a = actual.get(i);
            assertTrue(Math.abs(a - expected[i]) <= 1e-4 + 1e-3 * Math.abs(expected[i]),
                    "element " + i + ": expected " + expected[i] + ", got " + a);
        }
    }
}

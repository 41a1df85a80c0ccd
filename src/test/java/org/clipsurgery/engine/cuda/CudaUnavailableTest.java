package org.clipsurgery.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.util.EnumSet;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.CudaException;
import org.clipsurgery.Device;
import org.clipsurgery.engine.FacadeAccess;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.RandomWeights;
import org.junit.jupiter.api.Test;
import org.clipsurgery.weights.WeightStore;

/**
 * Where no GPU can be used (this runs in the default, untagged suite): asking for Device.CUDA
 * fails with a {@link CudaException} that says why, never with a JVM crash or a bare
 * UnsatisfiedLinkError. Skips on machines that do have a device.
 */
class CudaUnavailableTest {
    @Test
    void cudaWithoutADeviceSaysWhy() throws Exception {
        assumeFalse(CudaRuntime.deviceAvailable(), "a CUDA device is present: the GPU tests cover this machine");
        ModelConfig tiny = new ModelConfig(32, 32, new int[] {1}, 64, 16, 77, 49408, 32, 1, 1);
        CudaException e = assertThrows(CudaException.class, () -> FacadeAccess.get().open(WeightStore.of(RandomWeights.generate(tiny, 1)),
                new ClipSurgery.Options().optDevice(Device.CUDA)));
        assertTrue(EnumSet.of(CudaException.Kind.NO_DEVICE, CudaException.Kind.OLD_DRIVER, CudaException.Kind.NOT_BUILT,
                CudaException.Kind.MISSING_LIBRARIES).contains(e.kind()), e.kind() + ": " + e.getMessage());
        assertTrue(e.getMessage().length() > 20, e.getMessage());
        System.out.println("Device.CUDA here: " + e.kind() + ": " + e.getMessage());
        // the check is repeatable (no half-initialised state left behind)
        assertThrows(CudaException.class, CudaRuntime::require);
    }
}

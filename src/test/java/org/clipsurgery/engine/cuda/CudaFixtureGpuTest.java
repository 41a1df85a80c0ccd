package org.clipsurgery.engine.cuda;

import org.clipsurgery.ClipSurgery;
import org.clipsurgery.ClipSurgeryFixtureTest;
import org.clipsurgery.Device;
import org.clipsurgery.Precision;
import org.clipsurgery.testing.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link AbstractCudaFixtureTest} on CUDA device 0, plus the facade with {@code Device.CUDA}. */
@Tag("gpu")
class CudaFixtureGpuTest extends AbstractCudaFixtureTest {
    @BeforeAll
    static void device() {
        GpuTests.requireDevice();
    }

    @Override
    Gpu newGpu() {
        return CudaGpu.open(0);
    }

    @ParameterizedTest(name = "ViT at {0} px, fp32, facade on CUDA")
    @ValueSource(ints = {64, 96})
    void facadeMatchesTheOfficialImplementation(int resolution) throws Exception {
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.dir().resolve("vit.pt"), new ClipSurgery.Options().optResolution(resolution)
                .optDevice(Device.CUDA).optPrecision(Precision.FP32))) {
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", resolution);
        }
    }
}

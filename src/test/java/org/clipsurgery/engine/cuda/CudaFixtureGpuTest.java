package org.clipsurgery.engine.cuda;

import org.clipsurgery.ClipSurgery;
import org.clipsurgery.ClipSurgeryFixtureTest;
import org.clipsurgery.Device;
import org.clipsurgery.Method;
import org.clipsurgery.MethodsFixtureTest;
import org.clipsurgery.Precision;
import org.clipsurgery.testing.Fixtures;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.cuda.global.cudart;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link ClipSurgeryFixtureTest}'s body on CUDA device 0: the facade with {@code Device.CUDA} (the
 * captured engine, real kernels and cuBLAS) against the official implementation's outputs, every
 * key, and every training-free method's keys ({@link MethodsFixtureTest}); fp16 within the fixture
 * test's half-precision tolerance. The same bodies run on the emulated device in every test run.
 */
@Tag("gpu")
class CudaFixtureGpuTest {
    @BeforeAll
    static void device() {
        GpuTests.requireDevice();
    }

    @ParameterizedTest(name = "ViT at {0} px, {1}, facade on CUDA")
    @CsvSource({"64, FP32", "96, FP32", "64, FP16", "96, FP16"})
    void facadeMatchesTheOfficialImplementation(int resolution, Precision precision) throws Exception {
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.dir().resolve("vit.pt"), new ClipSurgery.Options().optResolution(resolution)
                .optDevice(Device.CUDA).optPrecision(precision))) {
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", resolution,
                    precision == Precision.FP32 ? ClipSurgeryFixtureTest.FIXTURE : ClipSurgeryFixtureTest.HALF);
        }
    }

    /** {@link MethodsFixtureTest}'s body on CUDA: every training-free method's keys (the cs_self_attention kernels). */
    @ParameterizedTest(name = "{0} at {1} px, {2}, facade on CUDA")
    @MethodSource("methods")
    void everyMethodMatchesItsOfficialCode(Method method, int resolution, Precision precision) throws Exception {
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.dir().resolve("vit.pt"), new ClipSurgery.Options().optMethod(method)
                .optResolution(resolution).optDevice(Device.CUDA).optPrecision(precision))) {
            MethodsFixtureTest.checkMethod(cs, resolution,
                    precision == Precision.FP32 ? ClipSurgeryFixtureTest.FIXTURE : ClipSurgeryFixtureTest.HALF);
        }
    }

    static Stream<Arguments> methods() {
        List<Arguments> out = new ArrayList<>();
        for (Precision p : new Precision[] {Precision.FP32, Precision.FP16}) {
            for (int r : new int[] {64, 96}) {
                for (Method m : Method.values()) {
                    if (m != Method.SURGERY && (m != Method.PLAIN || r == 64)) out.add(Arguments.of(m, r, p));
                }
            }
        }
        return out.stream();
    }

    /** {@code optCudaDevice}: the last visible device opens and explains; one past it is refused by name. */
    @Test
    void theCudaDeviceIndexPicksTheDevice() throws Exception {
        int[] count = new int[1];
        cudart.cudaGetDeviceCount(count);
        ClipSurgery.Options last = new ClipSurgery.Options().optDevice(Device.CUDA).optCudaDevice(count[0] - 1).optResolution(64);
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.dir().resolve("vit.pt"), last)) {
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", 64, ClipSurgeryFixtureTest.HALF);
        }
        ClipSurgery.Options past = new ClipSurgery.Options().optDevice(Device.CUDA).optCudaDevice(count[0]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipSurgery.open(Fixtures.dir().resolve("vit.pt"), past));
        assertTrue(e.getMessage().contains("CUDA device " + count[0] + " does not exist"), e.getMessage());
    }
}

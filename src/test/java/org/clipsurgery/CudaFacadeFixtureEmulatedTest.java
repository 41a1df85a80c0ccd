package org.clipsurgery;

import java.nio.file.Path;
import org.clipsurgery.testing.GeluReference;
import org.clipsurgery.weights.HuggingFaceCopy;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The GELU model through the facade's Device.CUDA path on the emulated device (engine.cuda.HostGpu):
 * in the default test run with the kernels' CPU twins, in the emulated-kernels run with the real
 * CUDA kernels executed by the SIMT emulation. Every other fixture key of both devices:
 * {@link ClipSurgeryFixtureTest}; fp16 tolerance: {@link ClipSurgeryFixtureTest#HALF}.
 */
class CudaFacadeFixtureEmulatedTest {
    @TempDir
    static Path tmp;

    /**
     * The GELU model (a Hugging Face copy of vit.pt with hidden_act gelu) against the official
     * code with GELU (ActivationFixtureTest says how that reference was made): cs_bias_gelu in the
     * engine, twin or real kernel.
     */
    @ParameterizedTest(name = "Hugging Face gelu ViT at 64 px, {0}")
    @EnumSource(value = Precision.class, names = {"FP32", "FP16"})
    void theGeluModelMatchesTheOfficialImplementationWithGelu(Precision precision) throws Exception {
        Path dir = ActivationFixtureTest.huggingFaceCopy(tmp.resolve("hf-gelu"), "gelu", HuggingFaceCopy.Weights.SAFETENSORS, false);
        ClipSurgery.Options options = new ClipSurgery.Options().optResolution(64).optDevice(Device.CUDA).optPrecision(precision);
        try (ClipSurgery cs = ClipSurgeryFixtureTest.open(ClipSurgeryFixtureTest.Engine.CUDA_EMULATED, WeightStore.load(dir), options)) {
            ClipSurgeryFixtureTest.checkEveryKey(cs, "vit", 64, GeluReference.read(tmp), false,
                    precision == Precision.FP32 ? ClipSurgeryFixtureTest.FIXTURE : ClipSurgeryFixtureTest.HALF);
        }
    }
}

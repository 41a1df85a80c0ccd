package org.clipsurgery.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.clipsurgery.Precision;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.text.PromptTemplates;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.api.Test;

/**
 * {@link AbstractCudaGraphReplayTest} on the host emulation of the device ({@link HostGpu}): the
 * CUDA backend's own logic, with the kernels' CPU twins in place of the kernels. Also what only
 * the emulation can see: that a run replays the recorded graph (rather than recomputing eagerly),
 * and that closing an engine frees every buffer it made.
 */
class CudaGraphReplayEmulatedTest extends AbstractCudaGraphReplayTest {
    @Override
    Gpu newGpu() {
        return new HostGpu();
    }

    @Test
    void runsReplayTheCapturedGraphAndCloseFreesEverything() throws Exception {
        HostGpu gpu = new HostGpu();
        try (WeightStore weights = WeightStore.of(RandomWeights.generate(SMALL, 13))) {
            try (CudaEngine engine = CudaEngine.open(weights, Precision.FP16, gpu)) {
                CudaEngine.Labels labels = engine.labels(List.of("cat", "dog"), PromptTemplates.defaults().subList(0, 2), true);
                CudaEngine.Runner runner = engine.runner(new CudaEngine.Capture(labels, 64, 3)
                        .frames(40, 50, ClipSurgeryNative.CS_RGB).maps(20, 25, 1).labelMap(0.5f, 255).points(0.8f, 4));
                byte[] frame = new byte[40 * 50 * 3];
                Arrays.fill(frame, (byte) 90);
                long before = gpu.graphsLaunched();
                float[] first = runner.run(frame).maps;
                assertEquals(before + 1, gpu.graphsLaunched(), "one run is one graph replay");
                for (int i = 0; i < frame.length; i++) frame[i] = (byte) (i * 31);
                float[] second = runner.run(frame).maps;
                assertFalse(Arrays.equals(first, second), "the replay reads the new frame");
                for (float v : second) assertTrue(v >= 0 && v <= 1, "map value " + v);
                // a second runner, one closed early: both release their buffers
                engine.runner(new CudaEngine.Capture(labels, 64, 3).batch(2)).close();
                engine.runner(new CudaEngine.Capture(labels, 128, 3).copySimilarity(true));
                assertThrows(IllegalStateException.class, () -> {
                    CudaEngine.Runner r = engine.runner(new CudaEngine.Capture(labels, 64, 3));
                    r.close();
                    r.launch();
                });
            }
            assertEquals(0, gpu.leakedAtClose(), "buffers still allocated when the engine closed");
        }
    }
}

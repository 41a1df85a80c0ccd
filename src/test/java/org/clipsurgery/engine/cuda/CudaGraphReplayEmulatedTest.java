package org.clipsurgery.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.clipsurgery.Device;
import org.clipsurgery.Precision;
import org.clipsurgery.engine.Frame;
import org.clipsurgery.engine.Output;
import org.clipsurgery.engine.Request;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.api.Test;

/**
 * {@link AbstractCudaGraphReplayTest} on the host emulation of the device ({@link HostGpu}): the
 * CUDA backend's own logic, with the kernels' CPU twins in place of the kernels. Also what only
 * the emulation can see: that an explain replays the recorded graph (rather than recomputing
 * eagerly), that an evicted runner's outputs fall back to the host, and that closing an engine
 * frees every buffer it made.
 */
class CudaGraphReplayEmulatedTest extends AbstractCudaGraphReplayTest {
    @Override
    Gpu newGpu() {
        return new HostGpu();
    }

    @Test
    void explainReplaysTheCapturedGraphEvictsAndCloseFreesEverything() throws Exception {
        HostGpu gpu = new HostGpu();
        SplittableRandom rng = new SplittableRandom(13);
        try (WeightStore weights = WeightStore.of(RandomWeights.generate(SMALL, 13))) {
            CudaEngine engine = CudaEngine.open(weights, Precision.FP16, gpu);
            try (engine) {
                Request q = Request.resolve(SMALL, Device.CUDA, Precision.FP16, 64, 2)
                        .withLabels(randomLabels(rng, 2, SMALL.embedDim()), 2, randomLabels(rng, 1, SMALL.embedDim()));
                List<Frame> frame = frames(rng, 1, 40, 50, false);
                Output first = engine.explain(frame, q).get(0); // builds and captures the runner
                float[] firstMaps = first.maps().values().clone();
                int[] firstLabels = first.labelMap(0.5f).values().clone();
                long before = gpu.graphsLaunched();
                engine.explain(frame, q);
                assertEquals(before + 1, gpu.graphsLaunched(), "one explain is one graph replay");
                // the first output is stale now: its label map from the host, equal; features gone
                assertArrayEquals(firstLabels, first.labelMap(0.5f).values(), "stale label map computed on the host");
                assertThrows(IllegalStateException.class, first::imageFeatures);
                // CACHED_RUNNERS more shapes evict the first runner; its outputs fall back to the host
                Output evicted = engine.explain(frame, q).get(0);
                for (int i = 1; i <= CudaEngine.CACHED_RUNNERS; i++) engine.explain(frames(rng, 1, 40 + i, 50, false), q);
                assertArrayEquals(firstMaps, evicted.maps().values(), 1e-6f, "an evicted runner's output, from the host");
                long replays = gpu.graphsLaunched();
                engine.explain(frame, q);
                assertEquals(replays + 1, gpu.graphsLaunched(), "the evicted shape is captured again and replayed");
                assertTrue(gpu.leakedAtClose() < 0, "still open");
            }
            assertEquals(0, gpu.leakedAtClose(), "buffers still allocated when the engine closed");
            assertThrows(IllegalStateException.class,
                    () -> engine.explain(frames(rng, 1, 8, 8, false), Request.resolve(SMALL, Device.CUDA, Precision.FP16, 64, 0)
                            .withLabels(new float[64], 1, null)));
        }
    }
}

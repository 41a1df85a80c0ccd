package org.clipsurgery.engine.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;

/** {@link AbstractCudaGraphReplayTest} on CUDA device 0. */
@Tag("gpu")
class CudaGraphReplayGpuTest extends AbstractCudaGraphReplayTest {
    @BeforeAll
    static void device() {
        GpuTests.requireDevice();
    }

    @Override
    Gpu newGpu() {
        return CudaGpu.open(0);
    }
}

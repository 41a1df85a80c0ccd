package org.clipsurgery.engine.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;

/** {@link AbstractCudaOpsTest} on CUDA device 0. */
@Tag("gpu")
class CudaOpsGpuTest extends AbstractCudaOpsTest {
    @BeforeAll
    static void device() {
        GpuTests.requireDevice();
    }

    @Override
    Gpu newGpu() {
        return CudaGpu.open(0);
    }
}

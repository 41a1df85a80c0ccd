package org.clipsurgery.engine.cuda;

/**
 * {@link AbstractCudaFixtureTest} on the host emulation of the device ({@link HostGpu}): the CUDA
 * backend's own logic, with the kernels' CPU twins in place of the kernels.
 */
class CudaFixtureEmulatedTest extends AbstractCudaFixtureTest {
    @Override
    Gpu newGpu() {
        return new HostGpu();
    }
}

package org.clipsurgery.engine.cuda;

/**
 * {@link AbstractCudaOpsTest} on the host emulation of the device ({@link HostGpu}): the CUDA
 * backend's own logic, with the kernels' CPU twins in place of the kernels.
 */
class CudaOpsEmulatedTest extends AbstractCudaOpsTest {
    @Override
    Gpu newGpu() {
        return new HostGpu();
    }
}

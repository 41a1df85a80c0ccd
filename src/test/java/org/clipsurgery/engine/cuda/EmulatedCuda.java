package org.clipsurgery.engine.cuda;

import org.clipsurgery.Precision;
import org.clipsurgery.graph.Pipeline;
import org.clipsurgery.weights.WeightStore;

/** For tests outside this package: the CUDA engine's pipeline on the host emulation ({@link HostGpu}). */
public final class EmulatedCuda {
    private EmulatedCuda() {}

    public static Pipeline<DeviceTensor> pipeline(WeightStore weights, Precision precision) {
        return CudaEngine.open(weights, precision, new HostGpu()).pipeline();
    }
}

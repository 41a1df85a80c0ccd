package org.clipsurgery.engine.cuda;

import org.clipsurgery.Precision;
import org.clipsurgery.engine.Engine;
import org.clipsurgery.weights.WeightStore;

/** For tests outside this package: the CUDA engine on the host emulation ({@link HostGpu}). */
public final class EmulatedCuda {
    private EmulatedCuda() {}

    /** A CUDA engine on a fresh emulated device. */
    public static Engine engine(WeightStore weights, Precision precision) {
        return CudaEngine.open(weights, precision, new HostGpu());
    }

    /** A CUDA engine on {@code gpu} (an emulated device a test inspects, see {@link #device()}). */
    public static Engine engine(WeightStore weights, Precision precision, Device gpu) {
        return CudaEngine.open(weights, precision, gpu.gpu);
    }

    /** A fresh emulated device whose transfers a test can count. */
    public static Device device() {
        return new Device(new HostGpu());
    }

    /** An emulated device seen from outside this package: its transfer counters. */
    public static final class Device {
        private final HostGpu gpu;

        private Device(HostGpu gpu) {
            this.gpu = gpu;
        }

        /** Copies from host to device since the last reset, and their bytes each. */
        public java.util.List<Long> uploads() {
            return gpu.transfers(Gpu.Copy.TO_DEVICE);
        }

        /** Copies from device to host since the last reset, and their bytes each. */
        public java.util.List<Long> downloads() {
            return gpu.transfers(Gpu.Copy.TO_HOST);
        }

        public void resetTransfers() {
            gpu.resetTransfers();
        }
    }
}

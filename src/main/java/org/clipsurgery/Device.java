package org.clipsurgery;

/** Where the model runs. */
public enum Device {
    /** LibTorch on the CPU (fp32). */
    CPU,
    /** The CUDA engine (needs a CUDA 13 driver and a library built with nvcc). */
    CUDA
}

package org.clipsurgery.engine;

import java.util.Objects;
import org.clipsurgery.CudaException;
import org.clipsurgery.Device;
import org.clipsurgery.Precision;
import org.clipsurgery.engine.cpu.CpuEngine;
import org.clipsurgery.engine.cpu.CpuFeatures;
import org.clipsurgery.engine.cuda.CudaEngine;
import org.clipsurgery.weights.WeightStore;

/** Picks the engine of a device, once per model. */
public final class Engines {
    private Engines() {}

    /**
     * The engine for {@code model.device()} in {@code model.precision()}: the CPU engine (LibTorch)
     * or the CUDA engine on device {@code cudaDevice}. The weight store stays the caller's; keep it open
     * while the engine is used. {@code stages}: a profile recorder, CPU only.
     *
     * @throws org.clipsurgery.CudaException on CUDA when the GPU cannot be used (no
     *     device, old driver, missing CUDA libraries, out of memory)
     * @throws UnsupportedOperationException for a stage profile on CUDA, or bf16 on a CPU without
     *     native bf16 dot products
     * @throws IllegalArgumentException on CUDA for a device index past the devices visible
     */
    public static Engine open(WeightStore weights, Request model, int cudaDevice, Stages stages) {
        Objects.requireNonNull(weights, "weights");
        Objects.requireNonNull(stages, "stages");
        if (model.device() == Device.CUDA) {
            // the CUDA stream is asynchronous: laps would measure enqueueing, not work
            if (stages.enabled()) throw new UnsupportedOperationException("stage profiles are for the CPU engine");
            return CudaEngine.open(weights, model.precision(), cudaDevice);
        }
        if (model.precision() == Precision.BF16) {
            CpuFeatures.bf16Refusal().ifPresent(why -> {
                throw new UnsupportedOperationException(why);
            });
        }
        return new CpuEngine(weights, stages, model.precision());
    }

    /**
     * Threads of LibTorch's intra-op pool. The pool is process-wide: this affects every CPU model
     * in the JVM, open or opened later.
     */
    public static void setCpuThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("CPU threads must be at least 1, got " + threads);
        CpuEngine.setThreads(threads);
    }
}

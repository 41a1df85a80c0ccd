package org.clipsurgery.spark;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Device;
import org.clipsurgery.Method;
import org.clipsurgery.Precision;

/**
 * A model as an executor opens it: the same key is the same open model in one JVM
 * ({@link ExecutorModels}).
 *
 * @param model an OpenAI model name ({@code ViT-B/16}, downloaded into {@code cacheDir} once,
 *     SHA-256 checked) or a checkpoint path readable on every executor
 * @param method the training-free method, a {@link org.clipsurgery.Method} name in lower case
 * @param device {@code cpu} or {@code cuda}
 * @param cudaDevice the CUDA device index ({@code 0} on the CPU)
 * @param precision {@code fp32}, {@code fp16} or {@code bf16}; empty for the device's default
 * @param resolution the input side, 0 for the model's own
 * @param cacheDir where named models are downloaded; empty for the library's default
 */
record ModelKey(String model, String method, String device, int cudaDevice, String precision, int resolution, String cacheDir)
        implements Serializable {

    /** The same model on another CUDA device (the one Spark gave a task). */
    ModelKey onCudaDevice(int ordinal) {
        return new ModelKey(model, method, device, ordinal, precision, resolution, cacheDir);
    }

    /** Opens the model as the library does for a user (images arrive decoded: the pixel limit is the transformer's). */
    ClipSurgery open() throws IOException {
        ClipSurgery.Options o = new ClipSurgery.Options()
                .optMethod(Method.valueOf(method.toUpperCase(java.util.Locale.ROOT)))
                .optDevice(Device.valueOf(device.toUpperCase(java.util.Locale.ROOT)))
                .optCudaDevice(cudaDevice)
                .optResolution(resolution);
        if (!precision.isEmpty()) o.optPrecision(Precision.valueOf(precision.toUpperCase(java.util.Locale.ROOT)));
        if (!cacheDir.isEmpty()) o.optCacheDir(Path.of(cacheDir));
        return ClipSurgery.open(model, o);
    }
}

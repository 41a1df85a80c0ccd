package org.clipsurgery.engine;

import java.util.List;
import org.clipsurgery.progress.Progress;

/**
 * CLIP Surgery on one device, chosen once by {@link Engines#open}: the text side (prompt
 * ensembles) and the image side (frames in, per-image {@link Output}s). The CPU engine runs the
 * CLIP graph over LibTorch; the CUDA engine replays one captured CUDA graph per request shape,
 * frames going up as uint8 and outputs coming down only when read. Implementations are
 * thread-safe (the CUDA engine serialises its callers on its one stream).
 */
public interface Engine extends AutoCloseable {
    /**
     * The prompt ensemble of {@code labels}: every label in every template, each embedding
     * L2-normalised, averaged per label, normalised again. Returns (labels, E).
     */
    float[] promptEnsemble(List<String> labels, List<String> templates, Progress progress);

    /**
     * Explains a batch of frames (any sizes) for {@code request}, which must carry labels; returns
     * one output per frame, in order.
     */
    List<Output> explain(List<Frame> frames, Request request);

    @Override
    void close();
}

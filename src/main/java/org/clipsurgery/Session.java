package org.clipsurgery;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;
import org.clipsurgery.engine.Frame;
import org.clipsurgery.engine.Request;

/**
 * Explains camera frames of one size and pixel order for one label set, frame after frame, on
 * either device: made by {@link ClipSurgery#session}.
 *
 * <pre>{@code
 * try (Session s = cs.session(labels, 480, 640, PixelOrder.BGR)) {
 *     while (running) {
 *         Explanation e = s.explain(camera.nextFrame());   // 480·640·3 bytes
 *         float person = e.scores().get("person");          // no map leaves the GPU for this
 *         LabelMap seg = e.labelMap(0.5f);                 // one (H, W) download on CUDA
 *     }
 * }
 * }</pre>
 *
 * <p>On {@link Device#CUDA} each frame is one upload of its bytes, one graph replay and one copy
 * of the similarity back; maps, label map and points of a frame come from the GPU when read before
 * the next frame, and are computed on the CPU from the similarity after it (the same numbers,
 * slower), so read a frame's outputs before explaining the next. On {@link Device#CPU} the same
 * calls run the CPU engine. A session holds no resources of its own beyond its model's; it is as
 * thread-safe as its model, and unusable once closed or once the model is closed.
 */
public final class Session implements AutoCloseable {
    private final ClipSurgery model;
    private final LabelSet labels;
    private final int height, width;
    private final PixelOrder order;
    private final Redundancy redundancy;
    private final Request request;
    private volatile boolean closed;

    Session(ClipSurgery model, LabelSet labels, int height, int width, PixelOrder order, Redundancy redundancy, Request request) {
        this.model = model;
        this.labels = labels;
        this.height = height;
        this.width = width;
        this.order = order;
        this.redundancy = redundancy;
        this.request = request;
    }

    /** One frame: exactly height·width·3 bytes, rows packed, in this session's pixel order. The array may be reused after the call. */
    public Explanation explain(byte[] frame) {
        Objects.requireNonNull(frame, "frame");
        return explainOwned(frame.clone());
    }

    /**
     * One frame from the buffer's remaining bytes (exactly height·width·3 of them; the position
     * is left as it was), e.g. a direct buffer a camera driver filled.
     */
    public Explanation explain(ByteBuffer frame) {
        Objects.requireNonNull(frame, "frame");
        byte[] data = new byte[frame.remaining()];
        frame.duplicate().get(data);
        return explainOwned(data);
    }

    private Explanation explainOwned(byte[] data) {
        if (closed) throw new IllegalStateException("this session is closed");
        if (data.length != (long) height * width * 3) {
            throw new IllegalArgumentException("a " + width + "×" + height + " frame has " + (long) height * width * 3
                    + " bytes, got " + data.length);
        }
        return model.run(List.of(new Frame(data, height, width, order == PixelOrder.BGR)), labels, redundancy, request).get(0);
    }

    public int frameHeight() {
        return height;
    }

    public int frameWidth() {
        return width;
    }

    public PixelOrder pixelOrder() {
        return order;
    }

    public LabelSet labelSet() {
        return labels;
    }

    @Override
    public void close() {
        closed = true;
    }
}

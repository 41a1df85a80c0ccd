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
 * <p>Every frame is explained with the session's label set and redundancy, at the model's
 * resolution and surgery depth; each call returns an {@link Explanation} whose
 * {@link Explanation#height()} and {@link Explanation#width()} are the frame's.
 *
 * <p>On {@link Device#CUDA} each frame is one upload of its bytes, one graph replay and one copy
 * of the similarity back; maps, label map and points of a frame come from the GPU when read before
 * the same captured graph runs again (normally: before the session's next frame; see
 * {@link ClipSurgery} for the exact rule), and are computed on the CPU from the similarity after
 * that (the same rules, slower), while its image features and preprocessed image are then gone.
 * So read a frame's outputs before explaining the next. On {@link Device#CPU} the same calls run the CPU engine, and every explanation
 * keeps all its outputs. A session holds no resources of its own beyond its model's; it is as
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

    /**
     * Explains one frame. The bytes are copied first, so the array may be reused after the call
     * (or changed by another thread during it).
     *
     * @param frame exactly {@code frameHeight()·frameWidth()·3} bytes: rows top to bottom, packed
     *     (no padding), 3 bytes per pixel in {@link #pixelOrder()}
     * @return the frame's explanation
     * @throws IllegalArgumentException if the array's length is not that
     * @throws IllegalStateException if this session or its model is closed
     * @throws NullPointerException if {@code frame} is null
     */
    public Explanation explain(byte[] frame) {
        Objects.requireNonNull(frame, "frame");
        return explainOwned(frame.clone());
    }

    /**
     * Explains one frame from a buffer's remaining bytes, e.g. a direct buffer a camera driver
     * filled. The bytes are copied first; the buffer's position, limit and mark are left as they
     * were.
     *
     * @param frame a buffer with exactly {@code frameHeight()·frameWidth()·3} bytes remaining,
     *     laid out as for {@link #explain(byte[])}
     * @return the frame's explanation
     * @throws IllegalArgumentException if the number of remaining bytes is not that
     * @throws IllegalStateException if this session or its model is closed
     * @throws NullPointerException if {@code frame} is null
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

    /**
     * The height of this session's frames.
     *
     * @return rows per frame, in pixels
     */
    public int frameHeight() {
        return height;
    }

    /**
     * The width of this session's frames.
     *
     * @return pixels per row
     */
    public int frameWidth() {
        return width;
    }

    /**
     * The channel order this session's frames are read in.
     *
     * @return {@link PixelOrder#RGB} or {@link PixelOrder#BGR}
     */
    public PixelOrder pixelOrder() {
        return order;
    }

    /**
     * The labels every frame is explained for.
     *
     * @return the label set this session was made with
     */
    public LabelSet labelSet() {
        return labels;
    }

    /**
     * Ends this session: later {@code explain} calls throw IllegalStateException. The model stays
     * open and explanations already returned stay valid. Idempotent; frees nothing, as a session
     * owns nothing.
     */
    @Override
    public void close() {
        closed = true;
    }
}

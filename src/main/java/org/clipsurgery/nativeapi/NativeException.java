package org.clipsurgery.nativeapi;

/** A failure reported by the native library, with its status code (see clip_surgery.h). */
public class NativeException extends RuntimeException {
    private final int status;

    public NativeException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The cs_status code, e.g. {@link ClipSurgeryNative#CS_ERR_NO_CUDA}. */
    public int status() {
        return status;
    }
}

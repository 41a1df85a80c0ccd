package org.clipsurgery.engine.cuda;

import org.bytedeco.javacpp.Pointer;

/**
 * A JavaCPP {@link Pointer} at a raw device address, for passing device memory to native calls.
 * It owns nothing and must never be dereferenced from Java.
 */
final class DevicePointer extends Pointer {
    private DevicePointer(long address) {
        super((Pointer) null);
        this.address = address;
    }

    static Pointer of(long address) {
        return new DevicePointer(address);
    }
}

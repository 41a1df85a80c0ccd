package org.clipsurgery.weights;

/** Element types that weight files hold. Sizes are in bytes; all data is little-endian. */
public enum DType {
    F32(4, "F32"),
    F16(2, "F16"),
    BF16(2, "BF16"),
    F64(8, "F64"),
    I64(8, "I64"),
    I32(4, "I32"),
    U8(1, "U8");

    private final int size;
    private final String safetensorsName;

    DType(int size, String safetensorsName) {
        this.size = size;
        this.safetensorsName = safetensorsName;
    }

    public int size() {
        return size;
    }

    /** The dtype string of the safetensors header ("F32", "F16", ...). */
    public String safetensorsName() {
        return safetensorsName;
    }

    public boolean isFloatingPoint() {
        return this == F32 || this == F16 || this == BF16 || this == F64;
    }

    /** The dtype with safetensors name {@code name}, or null if there is none. */
    public static DType fromSafetensorsName(String name) {
        for (DType t : values()) if (t.safetensorsName.equals(name)) return t;
        return null;
    }
}

package org.clipsurgery;

/** Arithmetic precision of the image and text encoders. Softmax and accumulation are fp32 always. */
public enum Precision {
    FP32,
    FP16,
    BF16
}

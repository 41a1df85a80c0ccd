/**
 * Results and their presentation: {@link org.clipsurgery.post.SimilarityMaps} (per-label maps in
 * [0, 1] at the image's size, (B, H, W, T) row-major), {@link org.clipsurgery.post.LabelMap}
 * (the per-pixel best label, or background below a threshold),
 * {@link org.clipsurgery.post.SamPoints} (point prompts for Segment Anything) and
 * {@link org.clipsurgery.post.Overlay} (heat maps, label-map pictures with a legend, points drawn
 * on the image). The numbers come from the native library's map functions
 * ({@code include/clip_surgery.h}), one contract for the CPU code and the CUDA kernels:
 * non-finite similarities normalise to 0, and a label without contrast gives a zero map and no
 * points, where the official code gives NaN. Instances are immutable and may be shared between
 * threads as long as nobody modifies the arrays they expose or were given; sizes and image, label
 * and pixel indices are checked with {@link java.lang.IllegalArgumentException}.
 */
package org.clipsurgery.post;

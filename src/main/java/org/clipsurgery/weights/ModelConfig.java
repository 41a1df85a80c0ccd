package org.clipsurgery.weights;

import java.util.Arrays;

/**
 * The shape of a CLIP model, as OpenAI's {@code build_model} infers it from the weights.
 *
 * @param visionLayers ViT: one entry, the number of transformer blocks; ResNet: four entries,
 *     the blocks per stage
 * @param visionPatchSize the ViT patch size, or 0 for a ResNet
 */
public record ModelConfig(
        int embedDim,
        int imageResolution,
        int[] visionLayers,
        int visionWidth,
        int visionPatchSize,
        int contextLength,
        int vocabSize,
        int transformerWidth,
        int transformerHeads,
        int transformerLayers) {

    public ModelConfig {
        visionLayers = visionLayers.clone();
    }

    public boolean isVit() {
        return visionPatchSize > 0;
    }

    /** Attention heads of the image encoder: width/64 (ViT) or width·32/64 (ResNet attention pool). */
    public int visionHeads() {
        return isVit() ? visionWidth / 64 : visionWidth * 32 / 64;
    }

    /** Pixels per output-grid cell: the patch size (ViT) or 32 (ResNet). */
    public int gridStride() {
        return isVit() ? visionPatchSize : 32;
    }

    /** Grid side at the model's own resolution. */
    public int defaultGrid() {
        return imageResolution / gridStride();
    }

    @Override
    public int[] visionLayers() {
        return visionLayers.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelConfig c && embedDim == c.embedDim && imageResolution == c.imageResolution
                && Arrays.equals(visionLayers, c.visionLayers) && visionWidth == c.visionWidth
                && visionPatchSize == c.visionPatchSize && contextLength == c.contextLength
                && vocabSize == c.vocabSize && transformerWidth == c.transformerWidth
                && transformerHeads == c.transformerHeads && transformerLayers == c.transformerLayers;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(visionLayers) * 31 + java.util.Objects.hash(embedDim, imageResolution, visionWidth,
                visionPatchSize, contextLength, vocabSize, transformerWidth, transformerHeads, transformerLayers);
    }

    @Override
    public String toString() {
        return (isVit() ? "ViT" : "ResNet") + "(embed=" + embedDim + ", resolution=" + imageResolution
                + ", layers=" + Arrays.toString(visionLayers) + ", width=" + visionWidth
                + (isVit() ? ", patch=" + visionPatchSize : "") + ", text width=" + transformerWidth
                + ", text heads=" + transformerHeads + ", text layers=" + transformerLayers
                + ", context=" + contextLength + ", vocab=" + vocabSize + ")";
    }
}

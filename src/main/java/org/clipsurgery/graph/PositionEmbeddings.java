package org.clipsurgery.graph;

import org.clipsurgery.weights.HostTensor;

/**
 * Position embeddings for another grid, as the official implementation makes them: the class row
 * kept, the patch rows reshaped to g0×g0 and resized bilinearly (align_corners=false) to g×g.
 * The model's own weights are never changed; backends cache the result per grid.
 */
public final class PositionEmbeddings {
    private PositionEmbeddings() {}

    /** pos (1 + g0², C) → (1 + g², C), fp32. */
    public static HostTensor resize(HostTensor pos, int grid) {
        int rows = (int) pos.size(0), c = (int) pos.size(1);
        int g0 = (int) Math.round(Math.sqrt(rows - 1));
        if (g0 * g0 + 1 != rows) {
            throw new IllegalArgumentException("position embedding with " + rows + " rows is not 1 + g²");
        }
        float[] src = pos.toFloatArray();
        if (g0 == grid) return HostTensor.ofFloats(src, rows, c);
        float[] out = new float[(1 + grid * grid) * c];
        System.arraycopy(src, 0, out, 0, c);
        float[] plane = new float[g0 * g0];
        float[] resized = new float[grid * grid];
        for (int ch = 0; ch < c; ch++) {
            for (int i = 0; i < g0 * g0; i++) plane[i] = src[(1 + i) * c + ch];
            org.clipsurgery.post.Bilinear.resize(plane, g0, g0, resized, grid, grid);
            for (int i = 0; i < grid * grid; i++) out[(1 + i) * c + ch] = resized[i];
        }
        return HostTensor.ofFloats(out, 1 + grid * grid, c);
    }
}

package org.clipsurgery.graph;

import org.bytedeco.javacpp.FloatPointer;
import org.clipsurgery.nativeapi.ClipSurgeryNative;
import org.clipsurgery.nativeapi.NativeCalls;
import org.clipsurgery.weights.HostTensor;

/**
 * Position embeddings for another grid, as the official implementation makes them: the class row
 * kept, the patch rows reshaped to g0×g0 and resized bilinearly (align_corners=false) to g×g.
 * The model's own weights are never changed; backends cache the result per grid.
 *
 * <p>The resize is the C API's {@code cs_embed_tokens_cpu} (include/clip_surgery.h) with zero
 * patches and a zero class embedding (adding +0 changes no value): the same arithmetic as the
 * CUDA engine's {@code cs_embed_tokens_cuda}, so both engines start from the same embeddings.
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
        NativeCalls.load();
        try (FloatPointer zeros = new FloatPointer((long) grid * grid * c);
                FloatPointer o = new FloatPointer(out.length)) {
            zeros.zero();
            NativeCalls.check(ClipSurgeryNative.cs_embed_tokens_cpu(zeros, ClipSurgeryNative.CS_F32, 1, grid, c,
                    new float[c], src, g0, o, null), "cs_embed_tokens_cpu");
            o.get(out);
        }
        return HostTensor.ofFloats(out, 1 + grid * grid, c);
    }
}

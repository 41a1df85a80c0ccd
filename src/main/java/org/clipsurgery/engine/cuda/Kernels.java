package org.clipsurgery.engine.cuda;

import static org.clipsurgery.nativeapi.ClipSurgeryNative.*;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The project's kernels (include/clip_surgery.h) as the engine calls them: addresses as
 * {@code long}s (0 for an absent optional tensor), each call enqueued through {@link Gpu#kernel}
 * as its {@code _cuda}/{@code _cpu} pair. The header documents every argument.
 */
final class Kernels {
    private final Gpu gpu;

    Kernels(Gpu gpu) {
        this.gpu = gpu;
    }

    private static Pointer p(long address) {
        return address == 0 ? null : DevicePointer.of(address);
    }

    private static FloatPointer f(long address) {
        return address == 0 ? null : new FloatPointer(DevicePointer.of(address));
    }

    private static IntPointer i(long address) {
        return address == 0 ? null : new IntPointer(DevicePointer.of(address));
    }

    private static BytePointer u8(long address) {
        return address == 0 ? null : new BytePointer(DevicePointer.of(address));
    }

    void featureSurgery(long image, int type, long batch, long tokens, long channels, long text, long labels, long redundant,
            long out) {
        gpu.kernel("cs_feature_surgery", (host, s) -> host
                ? cs_feature_surgery_cpu(p(image), type, batch, tokens, channels, f(text), labels, f(redundant), f(out), s)
                : cs_feature_surgery_cuda(p(image), type, batch, tokens, channels, f(text), labels, f(redundant), f(out), s));
    }

    void attentionDual(long qkv, int type, long batch, long tokens, long channels, long heads, float scale, long ori, long vv) {
        gpu.kernel("cs_attention_dual", (host, s) -> host
                ? cs_attention_dual_cpu(p(qkv), type, batch, tokens, channels, heads, scale, p(ori), p(vv), s)
                : cs_attention_dual_cuda(p(qkv), type, batch, tokens, channels, heads, scale, p(ori), p(vv), s));
    }

    void selfAttention(long qkv, int type, long batch, long tokens, long channels, long heads, float scale, int mode, long grid,
            float sigma, long normed, long workspace, long out) {
        gpu.kernel("cs_self_attention", (host, s) -> host
                ? cs_self_attention_cpu(p(qkv), type, batch, tokens, channels, heads, scale, mode, grid, sigma, p(normed),
                        p(workspace), p(out), s)
                : cs_self_attention_cuda(p(qkv), type, batch, tokens, channels, heads, scale, mode, grid, sigma, p(normed),
                        p(workspace), p(out), s));
    }

    void attention(long q, long k, long v, long rowStride, int type, long batch, long tokens, long channels, long heads,
            float scale, boolean causal, long out) {
        int c = causal ? 1 : 0;
        gpu.kernel("cs_attention", (host, s) -> host
                ? cs_attention_cpu(p(q), p(k), p(v), rowStride, type, batch, tokens, channels, heads, scale, c, p(out), s)
                : cs_attention_cuda(p(q), p(k), p(v), rowStride, type, batch, tokens, channels, heads, scale, c, p(out), s));
    }

    void mapUpsample(long similarity, long batch, long tokens, long labels, long height, long width, int layout, int outType,
            long out) {
        gpu.kernel("cs_map_upsample", (host, s) -> host
                ? cs_map_upsample_cpu(f(similarity), batch, tokens, labels, height, width, layout, outType, p(out), s)
                : cs_map_upsample_cuda(f(similarity), batch, tokens, labels, height, width, layout, outType, p(out), s));
    }

    void mapLabels(long similarity, long batch, long tokens, long labels, long height, long width, float threshold,
            int background, int outType, long out) {
        gpu.kernel("cs_map_labels", (host, s) -> host
                ? cs_map_labels_cpu(f(similarity), batch, tokens, labels, height, width, threshold, background, outType, p(out), s)
                : cs_map_labels_cuda(f(similarity), batch, tokens, labels, height, width, threshold, background, outType, p(out), s));
    }

    void mapPoints(long similarity, long batch, long tokens, long labels, long height, long width, float threshold,
            long maxPoints, long points, long counts) {
        gpu.kernel("cs_map_points", (host, s) -> host
                ? cs_map_points_cpu(f(similarity), batch, tokens, labels, height, width, threshold, maxPoints, i(points), i(counts), s)
                : cs_map_points_cuda(f(similarity), batch, tokens, labels, height, width, threshold, maxPoints, i(points), i(counts), s));
    }

    void preprocess(long frame, long height, long width, long rowPitch, int order, long outHeight, long outWidth, int outType,
            long out) {
        gpu.kernel("cs_preprocess", (host, s) -> host
                ? cs_preprocess_cpu(u8(frame), height, width, rowPitch, order, outHeight, outWidth, outType, p(out), s)
                : cs_preprocess_cuda(u8(frame), height, width, rowPitch, order, outHeight, outWidth, outType, p(out), s));
    }

    void layerNorm(long x, int type, long rows, long cols, long weight, long bias, float eps, long out) {
        gpu.kernel("cs_layer_norm", (host, s) -> host
                ? cs_layer_norm_cpu(p(x), type, rows, cols, f(weight), f(bias), eps, p(out), s)
                : cs_layer_norm_cuda(p(x), type, rows, cols, f(weight), f(bias), eps, p(out), s));
    }

    void biasQuickGelu(long x, int type, long rows, long cols, long bias, long out) {
        gpu.kernel("cs_bias_quick_gelu", (host, s) -> host
                ? cs_bias_quick_gelu_cpu(p(x), type, rows, cols, f(bias), p(out), s)
                : cs_bias_quick_gelu_cuda(p(x), type, rows, cols, f(bias), p(out), s));
    }

    void biasGelu(long x, int type, long rows, long cols, long bias, long out) {
        gpu.kernel("cs_bias_gelu", (host, s) -> host
                ? cs_bias_gelu_cpu(p(x), type, rows, cols, f(bias), p(out), s)
                : cs_bias_gelu_cuda(p(x), type, rows, cols, f(bias), p(out), s));
    }

    void add(long a, long aBias, long b, long bRows, long bBias, int type, long rows, long cols, long out) {
        gpu.kernel("cs_add", (host, s) -> host
                ? cs_add_cpu(p(a), f(aBias), p(b), bRows, f(bBias), type, rows, cols, p(out), s)
                : cs_add_cuda(p(a), f(aBias), p(b), bRows, f(bBias), type, rows, cols, p(out), s));
    }

    void embedTokens(long patches, int type, long batch, long grid, long channels, long classEmbedding, long posEmbedding,
            long posGrid, long out) {
        gpu.kernel("cs_embed_tokens", (host, s) -> host
                ? cs_embed_tokens_cpu(p(patches), type, batch, grid, channels, f(classEmbedding), f(posEmbedding), posGrid, p(out), s)
                : cs_embed_tokens_cuda(p(patches), type, batch, grid, channels, f(classEmbedding), f(posEmbedding), posGrid, p(out), s));
    }

    void convert(long x, int xType, long n, long out, int outType) {
        gpu.kernel("cs_convert", (host, s) -> host
                ? cs_convert_cpu(p(x), xType, n, p(out), outType, s)
                : cs_convert_cuda(p(x), xType, n, p(out), outType, s));
    }

    void im2col(long x, int xType, int layout, long batch, long channels, long height, long width, long kernel, long stride,
            long padding, int outType, long out) {
        gpu.kernel("cs_im2col", (host, s) -> host
                ? cs_im2col_cpu(p(x), xType, layout, batch, channels, height, width, kernel, stride, padding, outType, p(out), s)
                : cs_im2col_cuda(p(x), xType, layout, batch, channels, height, width, kernel, stride, padding, outType, p(out), s));
    }

    void batchNorm(long x, int type, long rows, long channels, long weight, long bias, long mean, long var, float eps, long out) {
        gpu.kernel("cs_batch_norm", (host, s) -> host
                ? cs_batch_norm_cpu(p(x), type, rows, channels, f(weight), f(bias), f(mean), f(var), eps, p(out), s)
                : cs_batch_norm_cuda(p(x), type, rows, channels, f(weight), f(bias), f(mean), f(var), eps, p(out), s));
    }

    void relu(long x, int type, long n, long out) {
        gpu.kernel("cs_relu", (host, s) -> host ? cs_relu_cpu(p(x), type, n, p(out), s) : cs_relu_cuda(p(x), type, n, p(out), s));
    }

    void avgPool(long x, int type, long batch, long height, long width, long channels, long kernelH, long kernelW, long out) {
        gpu.kernel("cs_avg_pool", (host, s) -> host
                ? cs_avg_pool_cpu(p(x), type, batch, height, width, channels, kernelH, kernelW, p(out), s)
                : cs_avg_pool_cuda(p(x), type, batch, height, width, channels, kernelH, kernelW, p(out), s));
    }

    void gatherRows(long table, long tableRows, long rowBytes, long index, long rows, long out) {
        gpu.kernel("cs_gather_rows", (host, s) -> host
                ? cs_gather_rows_cpu(p(table), tableRows, rowBytes, i(index), rows, p(out), s)
                : cs_gather_rows_cuda(p(table), tableRows, rowBytes, i(index), rows, p(out), s));
    }
}

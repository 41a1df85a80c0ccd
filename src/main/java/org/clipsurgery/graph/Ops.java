package org.clipsurgery.graph;

import java.util.function.Supplier;
import org.clipsurgery.weights.HostTensor;

/**
 * The tensor operations a backend provides. {@link ClipGraph} expresses the CLIP Surgery model
 * once over these; the CPU backend implements them with LibTorch, the CUDA engine with cuBLAS and
 * the project's kernels. {@code T} is the backend's tensor handle.
 *
 * <p>Layouts are batch-first: token tensors are (B, N, C), images (B, C, H, W). Weights use
 * OpenAI's names and layouts (linear weights are (out, in)).
 *
 * <p>Tensors returned by an operation live until the innermost {@link #scope()} is closed
 * (unless {@link Scope#keep kept}); weights and constants live as long as the backend.
 */
public interface Ops<T> {

    /** A model weight by OpenAI's name, in the backend's compute precision (prepared once). */
    T weight(String name);

    /** A derived constant (e.g. a position embedding resized to a grid), made once per key. */
    T constant(String key, Supplier<HostTensor> make);

    /** Host fp32 data of the given shape, as a backend tensor. */
    T input(float[] data, long... shape);

    /** Token ids (B, length) as a backend integer tensor. */
    T tokenIds(long[] ids, int batch, int length);

    /** The tensor as contiguous fp32 host data. */
    float[] toHost(T x);

    long[] shape(T x);

    /** Starts a region whose intermediate tensors are released on close (try-with-resources). */
    Scope<T> scope();

    /**
     * A region of intermediate tensors. The graph opens one per block, so a forward holds one
     * block's intermediates at a time, not the whole network's.
     */
    interface Scope<T> extends AutoCloseable {
        /** Keeps {@code t} alive after this scope closes: it then belongs to the enclosing scope. */
        T keep(T t);

        /** Releases every tensor made in this scope except the kept ones; never throws. */
        @Override
        void close();
    }

    /** x (..., in) · weightᵀ + bias; weight (out, in); bias (out) or null. */
    T linear(T x, T weight, T bias);

    /** x (..., in) · w, with w (in, out) (OpenAI's proj and text_projection layout). */
    T matmul(T x, T w);

    /** Layer norm over the last dimension with epsilon {@code eps}, statistics in fp32. */
    T layerNorm(T x, T weight, T bias, double eps);

    /** x · sigmoid(1.702 · x) (OpenAI's QuickGELU). */
    T quickGelu(T x);

    /** x · Φ(x) = x/2 · (1 + erf(x/√2)) (the exact GELU, torch.nn.GELU's default). */
    T gelu(T x);

    /** a + b, b broadcast over leading dimensions. */
    T add(T a, T b);

    /** 2-D convolution without bias: x (B, Cin, H, W), w (Cout, Cin, k, k). */
    T conv2d(T x, T w, int stride, int padding);

    /** Inference batch norm (running statistics), eps 1e-5. */
    T batchNorm(T x, T weight, T bias, T mean, T var);

    T relu(T x);

    /** Average pooling with kernel = stride = k. */
    T avgPool(T x, int k);

    /** (B, C, H, W) → (B, H·W, C), row-major over the grid. */
    T gridToTokens(T x);

    /** (B, N, C) with {@code token} prepended: token is (C) (broadcast) or (B, 1, C). */
    T prependToken(T x, T token);

    /** Mean over tokens: (B, N, C) → (B, 1, C). */
    T meanToken(T x);

    /** Token 0 (the class token) of each batch element: (B, N, C) → (B, 1, C). */
    T classToken(T x);

    /** x (B, N, C) with token 0 replaced by {@code token} (B, 1, C); a new tensor, inputs unchanged. */
    T withToken0From(T x, T token);

    /** Rows of (B, N, C) at one token index per batch element → (B, C). */
    T gatherTokens(T x, int[] index);

    /** Embedding lookup: table (V, C), ids (B, L) → (B, L, C). */
    T embedding(T table, T ids);

    /**
     * Multi-head attention of a packed in_proj output qkv (B, N, 3C): softmax(s·q·kᵀ)·v per head,
     * s = d^-1/2; with {@code causal}, token i sees tokens ≤ i. Returns (B, N, C).
     */
    T attention(T qkv, int heads, boolean causal);

    /**
     * Both paths of CLIP Surgery's dual attention from one packed qkv (B, N, 3C):
     * {@code [softmax(s·q·kᵀ)·v, softmax(s·v·vᵀ)·v]}, each (B, N, C).
     */
    T[] dualAttention(T qkv, int heads);

    /**
     * The attention of a training-free method's modified block ({@link LastBlocks.Attention}) from
     * a packed qkv (B, N, 3C), per head with s = d^-1/2 → (B, N, C).
     *
     * @param grid the patch grid's side (N = 1 + grid²), for {@code KK_GAUSSIAN}'s coordinates
     * @param normed the block's ln_1 output (B, N, C), for {@code GEM}'s temperature
     *     τ = s · mean over tokens of the tokens' L2 norms, per image; null for other modes
     */
    T selfAttention(T qkv, int heads, LastBlocks.Attention mode, int grid, T normed);

    /** v-v self-attention of v (B, N, C): softmax(s·v·vᵀ)·v per head. */
    T vvAttention(T v, int heads);

    /**
     * Feature surgery (see clip_surgery.h): image tokens (B, N, C) unnormalised, text (T, C)
     * normalised, redundant (C) or null for label-set mode → (B, N, T).
     */
    T featureSurgery(T image, T text, T redundant);
}

package org.clipsurgery.engine.cpu;

import static org.bytedeco.pytorch.global.torch.ScalarType.BFloat16;
import static org.bytedeco.pytorch.global.torch.ScalarType.Float;
import static org.bytedeco.pytorch.global.torch.ScalarType.Long;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AbstractTensor;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.clipsurgery.Precision;
import org.clipsurgery.graph.LastBlocks;
import org.clipsurgery.graph.Ops;
import org.clipsurgery.nativeapi.NativeCalls;
import org.clipsurgery.weights.HostTensor;

/**
 * {@link Ops} on the CPU with LibTorch (org.bytedeco:pytorch), in fp32 or bf16. Weights are
 * converted to fp32 LibTorch tensors once, when first used; intermediates belong to the JavaCPP
 * {@link PointerScope} opened by {@link #scope()} and are freed when it closes, so repeated calls
 * do not grow native memory.
 *
 * <p>In {@link Precision#BF16} the matrix products (linear layers, projections, convolutions and
 * the attention products) take bf16 operands and return fp32, as PyTorch's CPU autocast computes
 * them: LibTorch accumulates them in fp32. Everything else (layer norms, softmax inside the fused
 * attention, activations, residual additions, feature surgery) stays fp32. A weight's bf16 copy is
 * made once, beside its fp32 one.
 */
public final class TorchOps implements Ops<Tensor>, AutoCloseable {
    static {
        // First, before anything touches a LibTorch class: OpenMP's wait policy, read once when
        // LibTorch's libgomp loads, and LibTorch's libraries in JavaCPP's cache.
        NativeCalls.passiveOpenMpWaiting();
        extractLibTorch();
    }

    /**
     * Extracts all of LibTorch's libraries into JavaCPP's cache before the first is loaded.
     * JavaCPP extracts them one by one as it loads them; on a first run (empty cache) the dynamic
     * linker then resolves {@code libtorch.so}'s need for {@code libtorch_cpu.so} before that file
     * is in the cache, and on a machine with another LibTorch installed (Debian's python3-torch
     * puts libtorch_cpu.so.1.13 in /lib) it loads that one: two LibTorch versions in one process,
     * and the JVM dies in {@code pthread_mutex_lock}. With the whole folder extracted first, the
     * libraries' own run path finds the right one. Costs nothing once the cache is filled.
     */
    public static void extractLibTorch() {
        String folder = "/org/bytedeco/pytorch/" + Loader.getPlatform() + "/";
        try {
            Loader.cacheResources(torch.class, folder);
        } catch (IOException e) {
            // Loading then extracts file by file as before; say why the cache could not be filled.
            throw new UncheckedIOException("cannot extract LibTorch's libraries to JavaCPP's cache", e);
        }
    }

    private final Function<String, HostTensor> source;
    private final Map<String, Tensor> cache = new HashMap<>();
    /**
     * BF16 only: every cached tensor (weights, constants), mapped to its bf16 copy once one was
     * needed for a product (null before), by identity: activations are never keys.
     */
    private final Map<Tensor, Tensor> lowered = new IdentityHashMap<>();
    private final boolean bf16;
    private boolean closed;

    /**
     * {@code source} gives the host tensor of a weight name (it throws for unknown names);
     * {@code precision} is FP32 or BF16 (the caller checks that the CPU has bf16 dot products).
     */
    public TorchOps(Function<String, HostTensor> source, Precision precision) {
        if (precision != Precision.FP32 && precision != Precision.BF16) {
            throw new IllegalArgumentException("the CPU backend computes in fp32 or bf16, not " + precision);
        }
        this.source = source;
        this.bf16 = precision == Precision.BF16;
    }

    /** Sets LibTorch's intra-op thread count (process-wide). */
    public static void setThreads(int threads) {
        torch.set_num_threads(threads);
    }

    public static int threads() {
        return torch.get_num_threads();
    }

    /**
     * The fp32 GEMM rate this machine reaches with LibTorch at the current thread count: the best
     * of {@code repeats} timed {@code n}×{@code n} by {@code n}×{@code n} products (after one
     * untimed), 2·n³ FLOPs each, in GFLOP/s. The yardstick of {@code bench --profile}.
     */
    public static double matmulGflops(int n, int repeats) {
        try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
            Tensor a = torch.randn(n, n), b = torch.randn(n, n);
            torch.matmul(a, b); // warm-up: pages, BLAS thread pool (results freed with the scope)
            long best = java.lang.Long.MAX_VALUE; // Long is LibTorch's scalar type here
            for (int i = 0; i < repeats; i++) {
                long t0 = System.nanoTime();
                torch.matmul(a, b); // synchronous on the CPU
                best = Math.min(best, System.nanoTime() - t0);
            }
            return 2.0 * n * n * n / best;
        }
    }

    @Override
    public synchronized Tensor weight(String name) {
        return cached(name, () -> source.apply(name));
    }

    @Override
    public synchronized Tensor constant(String key, Supplier<HostTensor> make) {
        return cached("#" + key, make);
    }

    private Tensor cached(String key, Supplier<HostTensor> make) {
        if (closed) throw new IllegalStateException("the CPU backend is closed");
        Tensor t = cache.get(key);
        if (t == null) {
            // Made outside any caller scope: weights live as long as this backend.
            try (PointerScope outer = new PointerScope()) {
                t = fromHost(make.get());
                t.retainReference();
            }
            cache.put(key, t);
            if (bf16) lowered.put(t, null);
        }
        return t;
    }

    /** A LibTorch fp32 tensor owning a copy of {@code h}. */
    static Tensor fromHost(HostTensor h) {
        float[] values = h.toFloatArray();
        return AbstractTensor.create(values, h.shape());
    }

    @Override
    public Tensor input(float[] data, long... shape) {
        return AbstractTensor.create(data, shape);
    }

    @Override
    public Tensor tokenIds(long[] ids, int batch, int length) {
        return AbstractTensor.create(ids, batch, length);
    }

    @Override
    public float[] toHost(Tensor x) {
        Tensor c = x.to(Float).contiguous();
        float[] out = new float[(int) c.numel()];
        new FloatPointer(c.data_ptr()).capacity(out.length).get(out);
        return out;
    }

    @Override
    public long[] shape(Tensor x) {
        return x.shape();
    }

    @Override
    public Scope<Tensor> scope() {
        PointerScope scope = new PointerScope();
        InferenceMode guard = new InferenceMode();
        List<Tensor> kept = new ArrayList<>();
        return new Scope<>() {
            @Override
            public Tensor keep(Tensor t) {
                t.retainReference(); // survives this scope's release
                kept.add(t);
                return t;
            }

            @Override
            public void close() {
                guard.close();
                scope.close();
                PointerScope outer = PointerScope.getInnerScope();
                for (Tensor t : kept) {
                    if (outer != null) {
                        outer.attach(t); // the enclosing scope now owns it
                        t.releaseReference();
                    }
                }
            }
        };
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        Tensor y = bias == null ? torch.linear(operand(x), operand(weight))
                : torch.linear(operand(x), operand(weight), new TensorOptional(operand(bias)));
        return result(y);
    }

    @Override
    public Tensor matmul(Tensor x, Tensor w) {
        return result(torch.matmul(operand(x), operand(w)));
    }

    /**
     * An operand of a matrix product in the compute precision: the tensor itself in fp32; in bf16
     * the cached copy of a weight or constant, or a new copy of an activation.
     */
    private Tensor operand(Tensor t) {
        if (!bf16) return t;
        synchronized (this) {
            Tensor low = lowered.get(t);
            if (low != null) return low;
            if (lowered.containsKey(t)) { // a weight: lowered once, kept as long as this backend
                try (PointerScope outer = new PointerScope()) {
                    low = t.to(BFloat16);
                    low.retainReference();
                }
                lowered.put(t, low);
                return low;
            }
        }
        return t.to(BFloat16);
    }

    /** A product's result back in fp32 (a no-op in fp32). */
    private Tensor result(Tensor y) {
        return bf16 ? y.to(Float) : y;
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        return torch.layer_norm(x, new long[] {x.size(-1)}, new TensorOptional(weight), new TensorOptional(bias), eps, false);
    }

    @Override
    public Tensor quickGelu(Tensor x) {
        // x·sigmoid(1.702·x) in one new tensor (the same three operations in the same order, done
        // in place): at 512 px the MLP's activation is 12.6 MB a block.
        Tensor y = x.mul(new Scalar(1.702f));
        y.sigmoid_();
        return y.mul_(x);
    }

    @Override
    public Tensor gelu(Tensor x) {
        return torch.gelu(x, "none"); // the exact erf form, as torch.nn.GELU() by default
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return a.add(b);
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor w, int stride, int padding) {
        return result(torch.conv2d(operand(x), operand(w), new TensorOptional(), new long[] {stride, stride},
                new long[] {padding, padding}, new long[] {1, 1}, 1));
    }

    @Override
    public Tensor batchNorm(Tensor x, Tensor weight, Tensor bias, Tensor mean, Tensor var) {
        return torch.batch_norm(x, new TensorOptional(weight), new TensorOptional(bias), new TensorOptional(mean),
                new TensorOptional(var), false, 0.1, 1e-5, false);
    }

    @Override
    public Tensor relu(Tensor x) {
        return torch.relu(x);
    }

    @Override
    public Tensor avgPool(Tensor x, int k) {
        return torch.avg_pool2d(x, k);
    }

    @Override
    public Tensor gridToTokens(Tensor x) {
        long b = x.size(0), c = x.size(1);
        return x.reshape(b, c, -1).permute(0, 2, 1);
    }

    @Override
    public Tensor prependToken(Tensor x, Tensor token) {
        long b = x.size(0), c = x.size(2);
        Tensor t = token.dim() == 1 ? token.reshape(1, 1, c).expand(b, 1, c) : token;
        return torch.cat(new TensorVector(t, x), 1);
    }

    @Override
    public Tensor meanToken(Tensor x) {
        return x.mean(new long[] {1}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
    }

    @Override
    public Tensor classToken(Tensor x) {
        return x.narrow(1, 0, 1).contiguous();
    }

    @Override
    public Tensor withToken0From(Tensor x, Tensor token) {
        return torch.cat(new TensorVector(token, x.narrow(1, 1, x.size(1) - 1)), 1);
    }

    @Override
    public Tensor gatherTokens(Tensor x, int[] index) {
        long b = x.size(0), n = x.size(1), c = x.size(2);
        long[] flat = new long[index.length];
        for (int i = 0; i < index.length; i++) flat[i] = i * n + index[i];
        return torch.index_select(x.reshape(b * n, c), 0, AbstractTensor.create(flat));
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        return torch.embedding(table, ids);
    }

    /** (B, N, 3C) → q, k, v each (B, H, N, d). */
    private static Tensor[] splitHeads(Tensor qkv, int heads) {
        long b = qkv.size(0), n = qkv.size(1), c = qkv.size(2) / 3;
        Tensor t = qkv.reshape(b, n, 3, heads, c / heads).permute(2, 0, 3, 1, 4);
        return new Tensor[] {t.select(0, 0), t.select(0, 1), t.select(0, 2)};
    }

    /** (B, H, N, d) → (B, N, H·d). */
    private static Tensor mergeHeads(Tensor x) {
        long b = x.size(0), h = x.size(1), n = x.size(2), d = x.size(3);
        return x.permute(0, 2, 1, 3).reshape(b, n, h * d);
    }

    private Tensor sdpa(Tensor q, Tensor k, Tensor v, boolean causal) {
        return attend(q, k, v, null, causal, new DoubleOptional());
    }

    /**
     * LibTorch's fused attention, softmax(q·kᵀ·scale + bias)·v: the one place every attention
     * of this backend runs, so the bf16 mode lowers its operands here (the softmax stays fp32).
     */
    private Tensor attend(Tensor q, Tensor k, Tensor v, Tensor bias, boolean causal, DoubleOptional scale) {
        return result(torch.scaled_dot_product_attention(operand(q), operand(k), operand(v),
                bias == null ? new TensorOptional() : new TensorOptional(operand(bias)), 0.0, causal, scale, false));
    }

    @Override
    public Tensor attention(Tensor qkv, int heads, boolean causal) {
        Tensor[] p = splitHeads(qkv, heads);
        return mergeHeads(sdpa(p[0], p[1], p[2], causal));
    }

    @Override
    public Tensor[] dualAttention(Tensor qkv, int heads) {
        Tensor[] p = splitHeads(qkv, heads);
        return new Tensor[] {mergeHeads(sdpa(p[0], p[1], p[2], false)), mergeHeads(sdpa(p[2], p[2], p[2], false))};
    }

    @Override
    public Tensor selfAttention(Tensor qkv, int heads, LastBlocks.Attention mode, int grid, Tensor normed) {
        Tensor[] p = splitHeads(qkv, heads);
        Tensor q = p[0], k = p[1], v = p[2];
        return mergeHeads(switch (mode) {
            case QQ -> sdpa(q, q, v, false);
            case KK -> sdpa(k, k, v, false);
            case VV -> sdpa(v, v, v, false);
            case QQ_PLUS_KK -> sdpa(q, q, v, false).add(sdpa(k, k, v, false));
            case KK_GAUSSIAN -> attend(k, k, v, constant("naclip-bias@" + grid, () -> LastBlocks.gaussianBias(grid)), false,
                    new DoubleOptional());
            case VALUE -> v;
            case GEM -> gem(q, k, v, normed);
        });
    }

    /**
     * GEM's attention (B, H, N, d): the temperature from the block's ln_1 output, then its three
     * self-self maps on v. softmax(τ·h·hᵀ)·x is a fused attention of q = τ·h (per image) at scale
     * 1: no N×N matrix (at 512 px they were 1,025² per head, block and map, and GEM ran 2.6 times
     * slower than the others).
     */
    private Tensor gem(Tensor q, Tensor k, Tensor v, Tensor normed) {
        long b = q.size(0);
        double s = 1.0 / Math.sqrt(q.size(3));
        Tensor tau = torch.linalg_vector_norm(normed, new Scalar(2.0), new long[] {-1}, false, new org.bytedeco.pytorch.ScalarTypeOptional())
                .mean(new long[] {1}, false, new org.bytedeco.pytorch.ScalarTypeOptional()).mul(new Scalar(s)).reshape(b, 1, 1, 1);
        Tensor sum = null;
        for (Tensor w : new Tensor[] {v, k, q}) {
            Tensor h = l2Normalised(w);
            h = l2Normalised(selfSelf(h, tau, h)); // one iteration
            Tensor a = selfSelf(h, tau, v);
            sum = sum == null ? a : sum.add(a);
        }
        return sum.div(new Scalar(3.0));
    }

    /** softmax(τ·h·hᵀ)·x, fused. */
    private Tensor selfSelf(Tensor h, Tensor tau, Tensor x) {
        return attend(h.mul(tau), h, x, null, false, new DoubleOptional(1.0));
    }

    private static Tensor l2Normalised(Tensor x) {
        return x.div(torch.linalg_vector_norm(x, new Scalar(2.0), new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional()));
    }

    @Override
    public Tensor vvAttention(Tensor v, int heads) {
        long b = v.size(0), n = v.size(1), c = v.size(2);
        Tensor h = v.reshape(b, n, heads, c / heads).permute(0, 2, 1, 3);
        return mergeHeads(sdpa(h, h, h, false));
    }

    @Override
    public Tensor featureSurgery(Tensor image, Tensor text, Tensor redundant) {
        // x / ||x|| per token, then one GEMM against the labels.
        Tensor x = image.div(torch.linalg_vector_norm(image, new Scalar(2.0), new long[] {-1}, true,
                new org.bytedeco.pytorch.ScalarTypeOptional()));
        if (redundant != null) return torch.matmul(x, text.sub(redundant.reshape(1, -1)).t());
        Tensor dots = torch.matmul(x, text.t()); // (B, N, T)
        // w = softmax(2·x0·tᵀ) / mean(...) per image, from the class token.
        Tensor p = dots.narrow(1, 0, 1).mul(new Scalar(2.0f)).softmax(-1);
        Tensor w = p.div(p.mean(new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional()));
        Tensor weighted = dots.mul(w);
        return weighted.sub(weighted.mean(new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional()));
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            for (Tensor t : cache.values()) t.releaseReference();
            for (Tensor t : lowered.values()) {
                if (t != null) t.releaseReference();
            }
            cache.clear();
            lowered.clear();
            closed = true;
        }
    }
}

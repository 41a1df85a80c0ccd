package org.clipsurgery.backend.cuda;

import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.clipsurgery.graph.Ops;
import org.clipsurgery.weights.HostTensor;

/**
 * {@link CudaOps} behind an engine's lock: {@link #scope()} takes the lock and closing the scope
 * releases it, so a whole {@code Pipeline} call (which always runs inside one scope) owns the
 * engine's stream and workspace while it runs. Other operations delegate as they are: they are
 * only ever called inside a scope.
 */
final class LockingOps implements Ops<DeviceTensor> {
    private final CudaOps ops;
    private final ReentrantLock lock;

    LockingOps(CudaOps ops, ReentrantLock lock) {
        this.ops = ops;
        this.lock = lock;
    }

    @Override
    public Scope<DeviceTensor> scope() {
        lock.lock();
        try {
            Scope<DeviceTensor> inner = ops.scope();
            return new Scope<>() {
                @Override
                public DeviceTensor keep(DeviceTensor t) {
                    return inner.keep(t);
                }

                @Override
                public void close() {
                    try {
                        inner.close();
                        if (lock.getHoldCount() == 1) ops.trimWorkspace();
                    } finally {
                        lock.unlock();
                    }
                }
            };
        } catch (RuntimeException | Error e) {
            lock.unlock();
            throw e;
        }
    }

    @Override public DeviceTensor weight(String name) { return ops.weight(name); }
    @Override public DeviceTensor constant(String key, Supplier<HostTensor> make) { return ops.constant(key, make); }
    @Override public DeviceTensor input(float[] data, long... shape) { return ops.input(data, shape); }
    @Override public DeviceTensor tokenIds(long[] ids, int batch, int length) { return ops.tokenIds(ids, batch, length); }
    @Override public float[] toHost(DeviceTensor x) { return ops.toHost(x); }
    @Override public long[] shape(DeviceTensor x) { return ops.shape(x); }
    @Override public DeviceTensor linear(DeviceTensor x, DeviceTensor w, DeviceTensor b) { return ops.linear(x, w, b); }
    @Override public DeviceTensor matmul(DeviceTensor x, DeviceTensor w) { return ops.matmul(x, w); }
    @Override public DeviceTensor layerNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, double eps) { return ops.layerNorm(x, w, b, eps); }
    @Override public DeviceTensor quickGelu(DeviceTensor x) { return ops.quickGelu(x); }
    @Override public DeviceTensor gelu(DeviceTensor x) { return ops.gelu(x); }
    @Override public DeviceTensor add(DeviceTensor a, DeviceTensor b) { return ops.add(a, b); }
    @Override public DeviceTensor conv2d(DeviceTensor x, DeviceTensor w, int stride, int padding) { return ops.conv2d(x, w, stride, padding); }
    @Override public DeviceTensor batchNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, DeviceTensor m, DeviceTensor v) {
        return ops.batchNorm(x, w, b, m, v);
    }
    @Override public DeviceTensor relu(DeviceTensor x) { return ops.relu(x); }
    @Override public DeviceTensor avgPool(DeviceTensor x, int k) { return ops.avgPool(x, k); }
    @Override public DeviceTensor gridToTokens(DeviceTensor x) { return ops.gridToTokens(x); }
    @Override public DeviceTensor prependToken(DeviceTensor x, DeviceTensor t) { return ops.prependToken(x, t); }
    @Override public DeviceTensor meanToken(DeviceTensor x) { return ops.meanToken(x); }
    @Override public DeviceTensor withToken0From(DeviceTensor x, DeviceTensor src) { return ops.withToken0From(x, src); }
    @Override public DeviceTensor gatherTokens(DeviceTensor x, int[] index) { return ops.gatherTokens(x, index); }
    @Override public DeviceTensor embedding(DeviceTensor table, DeviceTensor ids) { return ops.embedding(table, ids); }
    @Override public DeviceTensor attention(DeviceTensor qkv, int heads, boolean causal) { return ops.attention(qkv, heads, causal); }
    @Override public DeviceTensor[] dualAttention(DeviceTensor qkv, int heads) { return ops.dualAttention(qkv, heads); }
    @Override public DeviceTensor vvAttention(DeviceTensor v, int heads) { return ops.vvAttention(v, heads); }
    @Override public DeviceTensor featureSurgery(DeviceTensor i, DeviceTensor t, DeviceTensor r) { return ops.featureSurgery(i, t, r); }
}

package org.clipsurgery.engine;

import java.util.Objects;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.weights.WeightStore;

/**
 * What the project's own tools (the benchmarks) need of the facade beyond its public API: opening
 * a model on weights already in memory ({@link org.clipsurgery.weights.RandomWeights}) and a
 * per-stage profile ({@code bench --profile}). The facade
 * registers the implementation when its class initialises; this package is not exported, so the
 * entry point stays out of the library's API (the JDK's SharedSecrets pattern).
 */
public abstract class FacadeAccess {
    private static volatile FacadeAccess instance;

    /** Called once, by {@link ClipSurgery}'s static initialiser. */
    protected FacadeAccess() {}

    /**
     * @param access the facade's implementation
     * @throws IllegalStateException when one is registered already
     */
    public static synchronized void register(FacadeAccess access) {
        if (instance != null) throw new IllegalStateException("the facade's access is registered already");
        instance = Objects.requireNonNull(access, "access");
    }

    /** @return the facade's implementation, initialising {@link ClipSurgery} if needed */
    public static FacadeAccess get() {
        FacadeAccess a = instance;
        if (a == null) {
            try {
                Class.forName(ClipSurgery.class.getName(), true, FacadeAccess.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException(e);
            }
            a = instance;
        }
        return a;
    }

    /**
     * {@code ClipSurgery.open} on weights in memory.
     *
     * @param weights the weights; the model takes ownership (closed with it, or at once if opening fails)
     * @param options the options, as for a file
     * @return the open model
     */
    public abstract ClipSurgery open(WeightStore weights, ClipSurgery.Options options);

    /**
     * Records the stages of the model's explains: the facade and the model graph report their
     * stage boundaries to {@code stages} (CPU engine only: the CUDA stream is asynchronous).
     *
     * @param options the options to profile with
     * @param stages the recorder
     * @return {@code options}
     */
    public abstract ClipSurgery.Options profile(ClipSurgery.Options options, Stages stages);
}

package org.clipsurgery.engine;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Where the time of an explain goes: an optional per-stage stopwatch that the model graph,
 * the CPU engine and the facade call at their stage boundaries ({@code bench --profile}).
 *
 * <p>Design: a lap timer, not nested start/stop pairs. The driver ({@code bench --profile})
 * opens a run with {@link #mark()} and closes it with {@link #endIteration()}; inside a run
 * every {@link #lap(String, long)} charges the time since the previous mark or lap to a stage
 * and restarts the clock. The laps of one run are therefore contiguous: the stages add up to
 * the run's wall time, nothing falls between two timers, and a call site is one line. Laps of
 * the same stage (the 6 encoder blocks, say) add up in one row. Laps outside a run (a label
 * set embedded before the timed explains) are ignored, since they would measure from an
 * arbitrary earlier point.
 *
 * <p>{@link #NONE}, the default everywhere, records nothing: each call is one branch on a final
 * field, and the callers compute what they pass (FLOP counts from tensor shapes) only when
 * {@link #enabled()}, so the normal path does no extra work (no clock reads, no shape queries).
 *
 * <p>Barrier: a stage's time is only meaningful if its work has finished when the lap is taken.
 * LibTorch on the CPU is synchronous (an op returns when its result is computed), so the CPU
 * backend needs none; an asynchronous backend (CUDA streams) must pass one that waits for the
 * queued work ({@link #recorder(Runnable)}), which a lap then runs before reading the clock.
 *
 * <p>Not thread-safe: one recorder per model, used by one explaining thread at a time.
 */
public final class Stages {
    // The stages of an explain, in pipeline order (bench --profile prints them in this order).
    public static final String PREPROCESS = "preprocess";
    public static final String PATCH_EMBEDDING = "patch embedding";
    public static final String ENCODER = "encoder blocks (original path)";
    public static final String DUAL_PATH = "dual-path (v-v) blocks";
    public static final String PROJECTION = "final projection";
    public static final String TEXT = "text side";
    public static final String FEATURE_SURGERY = "feature surgery";
    public static final String SIMILARITY = "similarity";
    public static final String MAPS = "maps (min-max + bilinear)";
    public static final String LABEL_MAP = "label map";
    public static final String POINTS = "points";
    /** Every stage above, in pipeline order. */
    public static final List<String> ORDER = List.of(PREPROCESS, PATCH_EMBEDDING, ENCODER, DUAL_PATH, PROJECTION,
            TEXT, FEATURE_SURGERY, SIMILARITY, MAPS, LABEL_MAP, POINTS);

    /** Records nothing (the default). */
    public static final Stages NONE = new Stages(false, () -> {}, () -> 0L);

    /** One stage's totals over all laps since the last {@link #reset()}. */
    public record Row(String stage, long nanos, long laps, long flops) {
        /** Mean milliseconds per iteration. */
        public double meanMs(long iterations) {
            return iterations == 0 ? 0 : nanos / 1e6 / iterations;
        }

        /** Achieved GFLOP/s (FLOPs counted from the shapes over the stage's time); 0 without FLOPs. */
        public double gflops() {
            return nanos == 0 ? 0 : flops / (double) nanos;
        }
    }

    private final boolean enabled;
    private final Runnable barrier;
    private final LongSupplier clock;
    private final Map<String, long[]> totals = new LinkedHashMap<>(); // stage → {nanos, laps, flops}
    private long last;
    private boolean running;
    private long iterations;

    private Stages(boolean enabled, Runnable barrier, LongSupplier clock) {
        this.enabled = enabled;
        this.barrier = barrier;
        this.clock = clock;
    }

    /** A recorder for a synchronous backend (LibTorch on the CPU). */
    public static Stages recorder() {
        return new Stages(true, () -> {}, System::nanoTime);
    }

    /** A recorder whose laps first run {@code barrier} (wait for an asynchronous backend's queued work). */
    public static Stages recorder(Runnable barrier) {
        return new Stages(true, barrier, System::nanoTime);
    }

    /** A recorder on another clock (tests). */
    static Stages recorder(LongSupplier clock) {
        return new Stages(true, () -> {}, clock);
    }

    static Stages recorder(Runnable barrier, LongSupplier clock) {
        return new Stages(true, barrier, clock);
    }

    public boolean enabled() {
        return enabled;
    }

    /** Starts a run (or restarts its clock): the next lap measures from now. */
    public void mark() {
        if (!enabled) return;
        barrier.run();
        last = clock.getAsLong();
        running = true;
    }

    /** Charges the time since the last mark or lap to {@code stage}; restarts the clock. */
    public void lap(String stage) {
        lap(stage, 0);
    }

    /**
     * Charges the time since the last mark or lap to {@code stage}, with {@code flops}
     * floating-point operations done in it (2·M·N·K per M×K by K×N product); restarts the clock.
     */
    public void lap(String stage, long flops) {
        if (!enabled || !running) return;
        barrier.run();
        long now = clock.getAsLong();
        long[] t = totals.computeIfAbsent(stage, s -> new long[3]);
        t[0] += now - last;
        t[1]++;
        t[2] += flops;
        last = now;
    }

    /** Ends the run and counts it (the divisor of {@link Row#meanMs}); laps until the next mark are ignored. */
    public void endIteration() {
        if (!enabled || !running) return;
        running = false;
        iterations++;
    }

    /** Forgets every lap and iteration (after a warm-up) and ends any run. */
    public void reset() {
        totals.clear();
        iterations = 0;
        running = false;
    }

    public long iterations() {
        return iterations;
    }

    /** Every stage in first-lapped order. */
    public List<Row> rows() {
        List<Row> out = new ArrayList<>(totals.size());
        totals.forEach((stage, t) -> out.add(new Row(stage, t[0], t[1], t[2])));
        return out;
    }

    /** Total nanoseconds over all stages. */
    public long totalNanos() {
        long sum = 0;
        for (long[] t : totals.values()) sum += t[0];
        return sum;
    }
}

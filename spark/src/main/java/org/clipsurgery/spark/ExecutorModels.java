package org.clipsurgery.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.LabelSet;

/**
 * The models of one executor JVM: each {@link ModelKey} is opened once, lazily, by the first task
 * that needs it, and shared by every task of the JVM after it (the library is thread-safe); each
 * label set is embedded once per model. Models are closed when the JVM ends (a shutdown hook),
 * which is when an executor's resources go anyway; a model is never closed under a running task.
 */
final class ExecutorModels {
    /** Label sets kept per model: a labels column with more distinct sets re-embeds the least recent. */
    static final int LABEL_SETS_KEPT = 256;

    private static final Map<ModelKey, Model> MODELS = new ConcurrentHashMap<>();
    private static final AtomicInteger OPENED = new AtomicInteger();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(ExecutorModels::closeAll, "clip-surgery-models-close"));
    }

    private ExecutorModels() {}

    /** One open model and the label sets embedded on it. */
    static final class Model {
        final ClipSurgery clip;
        private final Map<List<String>, LabelSet> labelSets = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<List<String>, LabelSet> eldest) {
                return size() > LABEL_SETS_KEPT;
            }
        };

        Model(ClipSurgery clip) {
            this.clip = clip;
        }

        /** The label set of {@code labels}, embedded on first use (the text encoder runs once per set). */
        synchronized LabelSet labels(List<String> labels) {
            LabelSet set = labelSets.get(labels);
            if (set == null) {
                set = clip.labels(labels);
                labelSets.put(List.copyOf(labels), set);
            }
            return set;
        }
    }

    /**
     * The model of {@code key} in this JVM, opened now if no task has opened it yet.
     *
     * @throws UncheckedIOException if it cannot be read or downloaded
     */
    static Model get(ModelKey key) {
        return MODELS.computeIfAbsent(key, k -> {
            try {
                ClipSurgery clip = k.open();
                OPENED.incrementAndGet();
                return new Model(clip);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open model " + k.model() + ": " + e.getMessage(), e);
            }
        });
    }

    /** How many models this JVM has opened so far (tests: one per model and executor, however many tasks). */
    static int opened() {
        return OPENED.get();
    }

    /** Closes every model (the JVM is ending, or a test wants a fresh executor). */
    static void closeAll() {
        for (ModelKey k : List.copyOf(MODELS.keySet())) {
            Model m = MODELS.remove(k);
            if (m != null) m.clip.close();
        }
    }
}

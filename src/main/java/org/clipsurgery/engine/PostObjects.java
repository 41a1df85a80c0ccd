package org.clipsurgery.engine;

import java.lang.reflect.Constructor;
import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.post.SimilarityMaps;

/**
 * The post-processing result types built from arrays that the CUDA engine computed on the device
 * (the same C contract as the host entry points). post/ has no public factory for a computed
 * array yet, so this calls the classes' private constructors; it is the only such place and goes
 * once post/ gains {@code SimilarityMaps.of}, {@code LabelMap.of(int[] ...)} and
 * {@code SamPoints.of} (asked of post/'s owner). A changed constructor fails here with a clear
 * message, and the CUDA facade tests fail with it.
 */
public final class PostObjects {
    private PostObjects() {}

    private static <T> T make(Class<T> type, Class<?>[] params, Object... args) {
        try {
            Constructor<T> c = type.getDeclaredConstructor(params);
            c.setAccessible(true);
            return c.newInstance(args);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("internal: cannot build a " + type.getSimpleName() + " from device results", e);
        }
    }

    /** Maps (batch, height, width, labels) of a g×g grid. */
    public static SimilarityMaps maps(float[] values, int batch, int height, int width, int labels, int grid) {
        return make(SimilarityMaps.class, new Class<?>[] {float[].class, int.class, int.class, int.class, int.class, int.class},
                values, batch, height, width, labels, grid);
    }

    /** Label indices (batch, height, width), {@link LabelMap#BACKGROUND} for background. */
    public static LabelMap labelMap(int[] values, int batch, int height, int width, int labels) {
        return make(LabelMap.class, new Class<?>[] {int[].class, int.class, int.class, int.class, int.class},
                values, batch, height, width, labels);
    }

    /** Points (x, y) with SAM labels (1 positive, 0 negative). */
    public static SamPoints points(int[] xs, int[] ys, int[] labels) {
        return make(SamPoints.class, new Class<?>[] {int[].class, int[].class, int[].class}, xs, ys, labels);
    }
}

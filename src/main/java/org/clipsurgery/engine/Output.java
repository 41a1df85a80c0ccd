package org.clipsurgery.engine;

import org.clipsurgery.post.LabelMap;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.post.SimilarityMaps;

/**
 * What an engine computed for one frame. The similarity is on the host when the explain call
 * returns; everything else may be fetched from the device on first use (see the engine's
 * documentation for how long that is possible and what happens after). Arrays returned are the
 * output's own: callers copy before handing them out.
 */
public interface Output {
    /** Frame height and width: the size of maps and label maps, the frame of points. */
    int height();

    int width();

    /** N = 1 + g² tokens (token 0 the class token). */
    int tokens();

    /** T, the labels of the request. */
    int labels();

    /** Feature-surgery similarity (N, T), token 0 the class token. */
    float[] similarity();

    /** The image encoder's output tokens (N, E), not normalised. */
    float[] imageFeatures();

    /** The preprocessed input (3, R, R) the model saw. */
    float[] pixels();

    /** Every label's map at the frame's size, (1, H, W, T), values in [0, 1]. */
    SimilarityMaps maps();

    /** Argmax of {@link #maps()}; pixels whose best value is below {@code threshold} are background. */
    LabelMap labelMap(float threshold);

    /** SAM point prompts of label {@code label} (an index into the request's labels). */
    SamPoints points(int label, float threshold);
}

package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.SplittableRandom;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.post.SamPoints;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The camera entry point on both devices: a BGR frame through a {@link Session} gives what
 * {@link ClipSurgery#explain} gives for the same pixels as an RGB image — similarity, scores,
 * maps, label map and points, exactly (the same engine, the same preprocessing integers).
 */
class SessionTest {
    @ParameterizedTest
    @EnumSource(ClipSurgeryFixtureTest.Engine.class)
    void aSessionFrameEqualsExplainOfTheSameImage(ClipSurgeryFixtureTest.Engine engine) throws Exception {
        ClipSurgery.Options o = new ClipSurgery.Options().optPrecision(Precision.FP32).optTemplates(List.of("a photo of a {}."));
        try (ClipSurgery cs = ClipSurgeryFixtureTest.open(engine, WeightStore.of(RandomWeights.generate(CudaTransfersEmulatedTest.SMALL, 5)), o)) {
            LabelSet labels = cs.labels("cat", "dog", "sky");
            int h = 30, w = 40;
            SplittableRandom rng = new SplittableRandom(4);
            byte[] rgb = new byte[h * w * 3], bgr = new byte[rgb.length];
            for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) rng.nextInt(256);
            for (int i = 0; i < rgb.length; i += 3) {
                bgr[i] = rgb[i + 2];
                bgr[i + 1] = rgb[i + 1];
                bgr[i + 2] = rgb[i];
            }
            try (Session s = cs.session(labels, h, w, PixelOrder.BGR)) {
                Explanation viaSession = s.explain(bgr);
                float[] maps = viaSession.maps().values();
                int[] labelMap = viaSession.labelMap(0.5f).values();
                SamPoints points = viaSession.points("cat");
                Explanation viaBuffer = s.explain(ByteBuffer.wrap(bgr));
                Explanation viaExplain = cs.explain(List.of(new RgbImage(w, h, rgb.clone())), labels, Redundancy.AUTO).get(0);
                assertArrayEquals(viaExplain.similarity(), viaSession.similarity(), 0f, engine + ": similarity");
                assertArrayEquals(viaExplain.similarity(), viaBuffer.similarity(), 0f, engine + ": a ByteBuffer frame");
                assertEquals(viaExplain.scores(), viaSession.scores(), engine + ": scores");
                assertArrayEquals(viaExplain.maps().values(), maps, 0f, engine + ": maps");
                assertArrayEquals(viaExplain.labelMap(0.5f).values(), labelMap, engine + ": label map");
                assertArrayEquals(viaExplain.points("cat").points(), points.points(), engine + ": points");
                assertArrayEquals(viaExplain.points("cat").labels(), points.labels(), engine + ": point labels");

                assertThrows(IllegalArgumentException.class, () -> s.explain(new byte[h * w * 3 - 1]), "a frame of another size");
            }
            assertThrows(IllegalArgumentException.class, () -> cs.session(labels, 0, w, PixelOrder.RGB));
        }
    }
}

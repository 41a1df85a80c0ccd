package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.ModelConfig;
import org.clipsurgery.weights.RandomWeights;
import org.clipsurgery.weights.WeightStore;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Shapes no fixture covers (other widths, heads, layers, patch sizes, ResNet stages,
 * resolutions, custom templates, both redundancy modes) run end to end with the shapes the
 * contract promises; random weights are made in memory and pass the weight store's validation.
 */
class OtherShapesTest {

    static ModelConfig shape(String name) {
        return switch (name) {
            // embed, resolution, layers, width, patch, context, vocab, text width, text heads, text layers
            case "vit-p16-w192-l4" -> new ModelConfig(96, 64, new int[] {4}, 192, 16, 77, 49408, 128, 2, 3);
            case "vit-p4-w64-l7" -> new ModelConfig(32, 32, new int[] {7}, 64, 4, 77, 49408, 64, 1, 1);
            case "rn-2111-w8" -> new ModelConfig(48, 64, new int[] {2, 1, 1, 1}, 8, 0, 77, 49408, 64, 1, 1);
            default -> throw new IllegalArgumentException(name);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"vit-p16-w192-l4", "vit-p4-w64-l7", "rn-2111-w8"})
    void runsEndToEnd(String name) throws Exception {
        ModelConfig c = shape(name);
        RgbImage image = Images.read(Fixtures.file("image.png"));
        int resolution = c.gridStride() * 3; // a grid the weights were not made for
        WeightStore store = WeightStore.of(RandomWeights.generate(c, 7));
        assertEquals(c, store.config(), "inferred config of generated weights");
        try (ClipSurgery cs = ClipSurgery.open(store, new ClipSurgery.Options().optResolution(resolution)
                .optTemplates(List.of("a photo of a {}.", "{} in the scene")))) {
            LabelSet labels = cs.labels("cat", "dog", "cat+dog");
            for (Redundancy mode : new Redundancy[] {Redundancy.LABELS, Redundancy.EMPTY}) {
                List<Explanation> out = cs.explain(List.of(image, image), labels, mode);
                Explanation e = out.get(0);
                int n = 1 + 9;
                assertEquals(n * c.embedDim(), e.imageFeatures().length);
                assertEquals(n * 2, e.similarity().length);
                assertEquals(375 * 500 * 2, e.maps().values().length);
                for (float v : e.similarity()) assertTrue(Float.isFinite(v));
                assertEquals(e.similarity()[5], out.get(1).similarity()[5], 1e-6f);
            }
        }
    }
}

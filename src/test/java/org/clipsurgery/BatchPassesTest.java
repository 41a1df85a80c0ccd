package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.clipsurgery.image.Images;
import org.clipsurgery.image.RgbImage;
import org.clipsurgery.testing.Fixtures;
import org.junit.jupiter.api.Test;

/**
 * A batch larger than one image-encoder pass (the CPU engine splits it at 2,048 tokens: 14 images
 * of 145 tokens at 96 px on the fixture ViT) gives every image what it gets alone, in order:
 * 15 images, the fixture image and its mirror alternating, so a pass boundary that mixed images
 * up would show.
 */
class BatchPassesTest {
    @Test
    void aBatchSplitIntoPassesEqualsEachImageAlone() throws Exception {
        RgbImage image = Images.read(Fixtures.file("image.png"));
        RgbImage mirrored = mirror(image);
        List<RgbImage> batch = new ArrayList<>();
        for (int i = 0; i < 15; i++) batch.add(i % 2 == 0 ? image : mirrored);
        try (ClipSurgery cs = ClipSurgery.open(Fixtures.file("vit.pt"),
                new ClipSurgery.Options().optResolution(96).optTemplates(List.of("{}")))) {
            LabelSet labels = cs.labels("cat", "dog");
            List<Explanation> all = cs.explain(batch, labels, Redundancy.AUTO);
            float[][] alone = {cs.explain(List.of(image), labels, Redundancy.AUTO).get(0).similarity(),
                cs.explain(List.of(mirrored), labels, Redundancy.AUTO).get(0).similarity()};
            assertEquals(15, all.size());
            double apart = 0;
            for (int k = 0; k < alone[0].length; k++) apart = Math.max(apart, Math.abs(alone[0][k] - alone[1][k]));
            assertTrue(apart > 1e-3, "the mirror must change the similarity for the order to be checked: " + apart);
            for (int i = 0; i < 15; i++) {
                float[] got = all.get(i).similarity(), want = alone[i % 2];
                double worst = 0;
                for (int k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k] - want[k]));
                assertTrue(worst < 1e-5, "image " + i + ": " + worst + " from the same image alone");
            }
        }
    }

    private static RgbImage mirror(RgbImage im) {
        int w = im.width(), h = im.height();
        byte[] src = im.data(), dst = new byte[src.length];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) System.arraycopy(src, (y * w + x) * 3, dst, (y * w + w - 1 - x) * 3, 3);
        }
        return new RgbImage(w, h, dst);
    }
}

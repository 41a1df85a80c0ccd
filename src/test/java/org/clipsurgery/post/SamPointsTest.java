package org.clipsurgery.post;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.junit.jupiter.api.Test;

class SamPointsTest {

    /**
     * Points from the fixture's similarity equal the official points, for every model and
     * resolution, except where the official code hits its {@code rank[-0:]} quirk (n = 0: every
     * cell returned as a point, with an empty label list; the ResNet's 2×2 and 3×3 grids, one cell
     * after down-sampling). There this project deviates by its header's rule: no point.
     */
    @Test
    void reproducesOfficialPoints() throws Exception {
        JsonObject ref = JsonParser.parseString(
                Files.readString(Fixtures.file("reference.json"), StandardCharsets.UTF_8)).getAsJsonObject();
        JsonArray hw = ref.getAsJsonArray("image_size_hw");
        int h = hw.get(0).getAsInt(), w = hw.get(1).getAsInt();
        JsonArray texts = ref.getAsJsonArray("texts");
        int checked = 0;
        int deviations = 0;
        for (String model : new String[] {"vit", "rn"}) {
            Map<String, HostTensor> tensors = Safetensors.read(Fixtures.file("reference-" + model + ".safetensors"));
            JsonObject perRes = ref.getAsJsonObject(model);
            for (String res : perRes.keySet()) {
                HostTensor sim = tensors.get(model + "." + res + ".similarity");
                int n = (int) sim.size(1), t = (int) sim.size(2);
                float[] s = sim.toFloatArray();
                for (int label = 0; label < t; label++) {
                    JsonObject want = perRes.getAsJsonObject(res).getAsJsonObject(texts.get(label).getAsString());
                    SamPoints got = SamPoints.compute(SimilarityMaps.patchSimilarity(s, 1, n, t, 0, label), h, w);
                    String where = model + "@" + res + " " + texts.get(label).getAsString();
                    JsonArray pts = want.getAsJsonArray("points");
                    if (want.getAsJsonArray("labels").isEmpty()) {
                        // Deviation (README, "Deviations from the official code"): the official
                        // rank[-0:] gives every cell and no labels; we give no point.
                        assertEquals("rn", model, where + ": only the ResNet fixtures are degenerate");
                        assertTrue(pts.size() > 0, where);
                        assertEquals(0, got.size(), where + ": n = 0 gives no point (deviation from rank[-0:])");
                        assertTrue(got.isDegenerate(), where);
                        deviations++;
                        checked++;
                        continue;
                    }
                    assertArrayEquals(toInts(want.getAsJsonArray("labels")), got.labels(), where);
                    assertEquals(pts.size(), got.size(), where);
                    for (int i = 0; i < pts.size(); i++) {
                        assertArrayEquals(toInts(pts.get(i).getAsJsonArray()), got.points()[i], where + " point " + i);
                    }
                    assertFalse(got.isDegenerate(), where);
                    checked++;
                }
            }
        }
        assertEquals(28, checked);
        assertEquals(14, deviations, "every ResNet key (2 resolutions × 7 labels) and no other");
    }

    @Test
    void handExample() {
        // g = 4 → d = 2 cells; each cell is the mean of a 2×2 block (src 0.5 / 2.5, weights 1/2).
        float[] grid = {
            0, 0, 8, 8,
            0, 0, 8, 8,
            4, 4, 2, 2,
            4, 4, 2, 2,
        };
        // cells: [0, 8; 4, 2] → normalised [0, 1; 0.5, 0.25]; one cell ≥ 0.8 → n = 1.
        SamPoints p = SamPoints.compute(grid, 100, 200);
        assertEquals(2, p.size());
        assertArrayEquals(new int[] {1, 0}, p.labels());
        assertArrayEquals(new int[] {150, 25}, p.points()[0]); // cell (0, 1): x = 1.5·100, y = 0.5·50
        assertArrayEquals(new int[] {50, 25}, p.points()[1]); // cell (0, 0)
        assertEquals("{\"points\": [[150, 25], [50, 25]], \"labels\": [1, 0]}", p.toJson());
        // A lower threshold admits more positives, capped at half the cells; ascending order.
        SamPoints q = SamPoints.compute(grid, 100, 200, 0.2f);
        assertArrayEquals(new int[] {1, 1, 0, 0}, q.labels());
        assertArrayEquals(new int[][] {{50, 75}, {150, 25}, {50, 25}, {150, 75}}, q.points());
        assertFalse(q.isDegenerate());
    }

    @Test
    void pointsAreClampedToTheLastPixel() {
        // A 1×1 image: every (c + 0.5)·(1/2) is clamped to pixel 0.
        float[] grid = new float[16];
        for (int i = 0; i < grid.length; i++) grid[i] = i;
        SamPoints p = SamPoints.compute(grid, 1, 1, 0.5f);
        assertEquals(4, p.size());
        for (int i = 0; i < p.size(); i++) {
            assertEquals(0, p.x(i));
            assertEquals(0, p.y(i));
        }
    }

    /** n = 0 gives no point (the header's rule; the official rank[-0:] would give every cell). */
    @Test
    void noPointsWhenNothingPasses() {
        // g = 3, d = 1: one cell, n = min(1, 1 / 2) = 0.
        SamPoints one = SamPoints.compute(new float[9], 375, 500);
        assertEquals(0, one.size());
        assertEquals(0, one.labels().length);
        assertTrue(one.isDegenerate());
        assertEquals("{\"points\": [], \"labels\": []}", one.toJson());
        // A constant map has no contrast: no point, whatever the threshold (official: NaN, every cell).
        float[] constant = new float[16];
        java.util.Arrays.fill(constant, 0.3f);
        assertTrue(SamPoints.compute(constant, 100, 100, 0f).isDegenerate());
        // No cell reaches the threshold.
        float[] grid = {0, 0, 8, 8, 0, 0, 8, 8, 4, 4, 2, 2, 4, 4, 2, 2};
        assertTrue(SamPoints.compute(grid, 100, 200, 1.5f).isDegenerate());
        // A NaN patch makes its cell NaN, which normalises to 0: cells [0, 1; 0.5, 0]; one passes
        // 0.8 (top right), the lowest in stable order is the top-left cell.
        grid[15] = Float.NaN;
        SamPoints nan = SamPoints.compute(grid, 100, 200);
        assertArrayEquals(new int[][] {{150, 25}, {50, 25}}, nan.points());
        assertArrayEquals(new int[] {1, 0}, nan.labels());
        // Every patch NaN (NaN features): no finite value, no point.
        float[] allNan = new float[16];
        java.util.Arrays.fill(allNan, Float.NaN);
        assertTrue(SamPoints.compute(allNan, 100, 200, 0f).isDegenerate());
    }

    @Test
    void combinedTargetTakesPositivesFromEachPartThenNegativesFromTheMean() {
        float[] a = {
            9, 9, 0, 0,
            9, 9, 0, 0,
            1, 1, 2, 2,
            1, 1, 2, 2,
        };
        float[] b = {
            0, 0, 1, 1,
            0, 0, 1, 1,
            5, 5, 2, 2,
            5, 5, 2, 2,
        };
        SamPoints p = SamPoints.combined(List.of(a, b), 100, 100, 0.8f);
        // Normalised per patch: a → [1, 0; 1/9, 2/9], b → [0, 0.2; 1, 0.4] (by 2×2 block); mean
        // [0.5, 0.1; 0.556, 0.311] → min-max [0.878, 0; 1, 0.463]: two cells ≥ 0.8, so the two
        // lowest cells, (0, 1) then (1, 1), are the negatives. Part a's only positive is the
        // top-left cell, part b's the bottom-left one. Positives first, as for one target.
        assertArrayEquals(new int[][] {{25, 25}, {25, 75}, {75, 25}, {75, 75}}, p.points());
        assertArrayEquals(new int[] {1, 1, 0, 0}, p.labels());
        SamPoints pa = SamPoints.compute(a, 100, 100);
        assertArrayEquals(pa.points()[0], p.points()[0]);
        assertFalse(p.isDegenerate());
    }

    @Test
    void combinedTargetGivesEachPointOnceAndPositivesWin() {
        // By 2×2 block: a = [1, 0.6; 0.6, 0], b = [0, 1; 1, 1] (both already in [0, 1]).
        float[] a = blocks(1f, 0.6f, 0.6f, 0f);
        float[] b = blocks(0f, 1f, 1f, 1f);
        // Mean [0.5, 0.8; 0.8, 0.5] → [0, 1; 1, 0]: two cells ≥ 0.8, negatives the top-left and
        // bottom-right cells. Positives: a's top-left; b's two highest in ascending order, the
        // bottom-left and bottom-right (equal values keep cell order). The demo would name the
        // top-left and bottom-right cells both positive and negative; here they stay positives.
        SamPoints p = SamPoints.combined(List.of(a, b), 100, 100, 0.8f);
        assertArrayEquals(new int[][] {{25, 25}, {25, 75}, {75, 75}}, p.points());
        assertArrayEquals(new int[] {1, 1, 1}, p.labels());
        // The same part twice: its positives once.
        SamPoints twice = SamPoints.combined(List.of(b, b), 100, 100, 0.8f);
        assertEquals(java.util.Arrays.stream(twice.points()).map(java.util.Arrays::toString).distinct().count(),
                twice.size(), "no point repeated");
        // A one-cell grid: the mean gives no point, so neither does the target.
        SamPoints one = SamPoints.combined(List.of(new float[9], new float[9]), 375, 500, 0.8f);
        assertTrue(one.isDegenerate());
        assertEquals(0, one.size());
    }

    /** A 4×4 grid of 2×2 blocks with the given values (top-left, top-right, bottom-left, bottom-right). */
    private static float[] blocks(float tl, float tr, float bl, float br) {
        float[] g = new float[16];
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) g[y * 4 + x] = y < 2 ? (x < 2 ? tl : tr) : (x < 2 ? bl : br);
        }
        return g;
    }

    @Test
    void pointsFileFollowsTheCliContract() {
        float[] grid = {0, 0, 8, 8, 0, 0, 8, 8, 4, 4, 2, 2, 4, 4, 2, 2};
        SamPoints p = SamPoints.compute(grid, 100, 200);
        Map<String, SamPoints> image = new java.util.LinkedHashMap<>();
        image.put("person", p);
        image.put("tv \"monitor\"", p);
        String json = SamPoints.toJson(List.of(image));
        JsonArray parsed = JsonParser.parseString(json).getAsJsonArray();
        assertEquals(1, parsed.size());
        JsonObject tv = parsed.get(0).getAsJsonObject().getAsJsonObject("tv \"monitor\"");
        assertEquals("[[150,25],[50,25]]", tv.getAsJsonArray("points").toString());
        assertEquals("[1,0]", tv.getAsJsonArray("labels").toString());
        assertEquals(List.of("person", "tv \"monitor\""), List.copyOf(parsed.get(0).getAsJsonObject().keySet()));
        assertEquals(0, JsonParser.parseString(SamPoints.toJson(List.of())).getAsJsonArray().size());
        // patchSimilarity is the label's patch column
        float[] sim = new float[17 * 2];
        for (int i = 0; i < 16; i++) sim[(1 + i) * 2 + 1] = grid[i];
        assertArrayEquals(p.points(), SamPoints.compute(SimilarityMaps.patchSimilarity(sim, 1, 17, 2, 0, 1), 100, 200).points());
    }

    @Test
    void badInputIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> SamPoints.compute(new float[0], 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SamPoints.compute(null, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SamPoints.compute(new float[5], 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SamPoints.compute(new float[4], 0, 10));
        assertThrows(IllegalArgumentException.class, () -> SamPoints.compute(new float[1], 10, 10));
        assertThrows(IllegalArgumentException.class, () -> SamPoints.combined(List.of(), 10, 10, 0.8f));
        assertThrows(IllegalArgumentException.class,
                () -> SamPoints.combined(List.of(new float[4], new float[9]), 10, 10, 0.8f));
    }

    private static int[] toInts(JsonArray a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
        return out;
    }
}

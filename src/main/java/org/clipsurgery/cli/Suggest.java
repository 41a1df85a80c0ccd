package org.clipsurgery.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * "Did you mean ...?" for mistyped names: the known names within a small edit distance of what
 * was typed.
 *
 * <p>The distance is the optimal string alignment distance (insertions, deletions, substitutions
 * and swaps of two neighbours each count 1), compared without case. A name is suggested when it is
 * at most {@code max(1, length / 3)} edits away (so "ViT-B/17" finds "ViT-B/16", but "RN50" does
 * not suggest "ViT-B/32"); the closest names win, at most three, in the order known.
 */
final class Suggest {
    private Suggest() {}

    /** At most this many names are suggested. */
    static final int MAX = 3;

    /** The known names closest to {@code typed}, within the allowed distance; empty when none is close. */
    static List<String> closest(String typed, Collection<String> known) {
        String t = typed.toLowerCase(Locale.ROOT);
        int limit = Math.max(1, t.length() / 3);
        int best = Integer.MAX_VALUE;
        List<String> out = new ArrayList<>();
        for (String k : known) {
            int d = distance(t, k.toLowerCase(Locale.ROOT));
            if (d > limit || d > best) continue;
            if (d < best) {
                best = d;
                out.clear();
            }
            if (!out.contains(k)) out.add(k);
        }
        return out.size() > MAX ? out.subList(0, MAX) : out;
    }

    /** "; did you mean X?" or "; did you mean X or Y?", or "" when no known name is close. */
    static String didYouMean(String typed, Collection<String> known) {
        List<String> c = closest(typed, known);
        if (c.isEmpty()) return "";
        String names = c.size() == 1 ? c.get(0)
                : String.join(", ", c.subList(0, c.size() - 1)) + " or " + c.get(c.size() - 1);
        return "; did you mean " + names + "?";
    }

    /**
     * For a file that does not exist: "; did you mean 'dir/labels.txt'?" when its folder exists and
     * holds a regular file with a close name, else "".
     */
    static String file(Path missing) {
        Path name = missing.getFileName();
        if (name == null) return "";
        Path parent = missing.getParent();
        Path dir = parent == null ? Path.of("") : parent;
        if (!Files.isDirectory(dir.toAbsolutePath())) return "";
        List<String> names = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir.toAbsolutePath())) {
            files.filter(Files::isRegularFile).limit(10_000).forEach(f -> names.add(f.getFileName().toString()));
        } catch (IOException | RuntimeException e) {
            return "";
        }
        names.sort(null);
        List<String> c = closest(name.toString(), names);
        if (c.isEmpty()) return "";
        return "; did you mean '" + (parent == null ? Path.of(c.get(0)) : parent.resolve(c.get(0))) + "'?";
    }

    /** Optimal string alignment distance between a and b. */
    static int distance(String a, String b) {
        int n = a.length();
        int m = b.length();
        int[][] d = new int[n + 1][m + 1];
        for (int i = 0; i <= n; i++) d[i][0] = i;
        for (int j = 0; j <= m; j++) d[0][j] = j;
        for (int i = 1; i <= n; i++) {
            for (int j = 1; j <= m; j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                int v = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    v = Math.min(v, d[i - 2][j - 2] + 1);
                }
                d[i][j] = v;
            }
        }
        return d[n][m];
    }
}

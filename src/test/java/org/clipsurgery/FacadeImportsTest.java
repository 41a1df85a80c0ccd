package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The facade (src/main/java/org/clipsurgery/*.java) reaches the devices only through
 * org.clipsurgery.engine's interface: it names no backend type (LibTorch, cudart, the engines'
 * packages, the CLIP graph, the binding), and its public signatures hold no raw device address.
 * A plain scan of the sources: imports and fully qualified names alike.
 */
class FacadeImportsTest {
    private static final List<String> FORBIDDEN = List.of("org.bytedeco.", "org.clipsurgery.engine.cpu",
            "org.clipsurgery.engine.cuda", "org.clipsurgery.graph", "org.clipsurgery.nativeapi");
    /** A public method or constructor taking or returning a long: an address in disguise. */
    private static final Pattern PUBLIC_LONG = Pattern.compile("public\\s+[^=;{]*\\blong\\b[^=;{]*\\(|public\\s+[^=;{]*\\(([^)]*\\blong\\b[^)]*)\\)");

    private static List<Path> facadeSources() throws Exception {
        Path dir = Path.of("src/main/java/org/clipsurgery");
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> out = files.filter(p -> p.toString().endsWith(".java")).sorted().toList();
            assertTrue(out.size() >= 5, "facade sources found in " + dir.toAbsolutePath() + ": " + out);
            return out;
        }
    }

    @Test
    void theFacadeNamesNoBackendType() throws Exception {
        for (Path file : facadeSources()) {
            // code only: the javadoc may say where things live
            String text = Files.readString(file).replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\\n]*", "");
            for (String pkg : FORBIDDEN) assertFalse(text.contains(pkg), file.getFileName() + " names " + pkg);
        }
    }

    @Test
    void noPublicSignatureOfTheFacadeHoldsARawAddress() throws Exception {
        for (Path file : facadeSources()) {
            List<String> lines = Files.readAllLines(file);
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                // the image pixel limit is a count, not an address
                if (line.contains("optMaxImagePixels(long")) continue;
                assertFalse(PUBLIC_LONG.matcher(line).find(), file.getFileName() + ":" + (i + 1) + " has a long in a public signature: " + line.trim());
            }
        }
    }

    @Test
    void theScanFindsWhatItLooksFor() {
        assertTrue(PUBLIC_LONG.matcher("    public long address() {").find());
        assertTrue(PUBLIC_LONG.matcher("    public Explanation explain(long frame, int h) {").find());
        assertFalse(PUBLIC_LONG.matcher("    public Explanation explain(byte[] frame) {").find());
    }
}

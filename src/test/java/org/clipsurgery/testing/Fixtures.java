package org.clipsurgery.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the reference fixtures are: $CLIP_SURGERY_FIXTURES, else ../shared/fixtures from the
 * project root. Tests that need them call {@link #dir()}, which skips the test (with a message)
 * where the folder is absent.
 */
public final class Fixtures {
    private Fixtures() {}

    public static Path dir() {
        String env = System.getenv("CLIP_SURGERY_FIXTURES");
        Path p = env != null && !env.isEmpty() ? Path.of(env) : Path.of("..", "shared", "fixtures");
        assumeTrue(Files.isRegularFile(p.resolve("reference.json")),
                "reference fixtures not found at " + p.toAbsolutePath() + " (set CLIP_SURGERY_FIXTURES)");
        return p;
    }

    public static Path file(String name) {
        return dir().resolve(name);
    }
}

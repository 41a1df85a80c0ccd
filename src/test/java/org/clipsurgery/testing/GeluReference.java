package org.clipsurgery.testing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;

/**
 * The official implementation's outputs for the fixtures' ViT with its MLP activation swapped to
 * the exact GELU (test resource org/clipsurgery/activation/reference-vit-gelu.safetensors, keys
 * as the fixtures' "vit.R.*"; how it was made: make_reference.py beside it, and
 * ActivationFixtureTest).
 */
public final class GeluReference {
    private static final String RESOURCE = "/org/clipsurgery/activation/reference-vit-gelu.safetensors";

    private GeluReference() {}

    /** The reference, copied to {@code dir} (safetensors are read from files) and read. */
    public static Map<String, HostTensor> read(Path dir) throws IOException {
        Path file = dir.resolve("reference-vit-gelu.safetensors");
        if (!Files.exists(file)) {
            try (InputStream in = GeluReference.class.getResourceAsStream(RESOURCE)) {
                if (in == null) throw new IOException("test resource " + RESOURCE + " is missing");
                Files.copy(in, file);
            }
        }
        return Safetensors.read(file);
    }
}

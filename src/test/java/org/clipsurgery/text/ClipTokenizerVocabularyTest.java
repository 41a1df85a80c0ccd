package org.clipsurgery.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * The BPE vocabulary packaged with the library is OpenAI's file, byte for byte.
 *
 * <p>Provenance: {@code clip/bpe_simple_vocab_16e6.txt.gz} of github.com/openai/CLIP (MIT,
 * Copyright (c) 2021 OpenAI), added in commit 3bee28119e6b28e75b82b811b87b56935314e6a5 and
 * unchanged up to d05afc436d78f1c48dc0dbf8e5980a9d471f35f6 (the commit it was copied from,
 * 2026-03-25); xmed-lab/CLIP_Surgery carries the identical file (commit
 * d4696d47f49cfe70f49140afe5eb94f94c5f59bc). 1,356,917 bytes, 262,145 lines once decompressed
 * (the header line and 262,144 merges, of which CLIP uses the first 48,894).
 *
 * <p>The build checks the source file with the same hash (maven-enforcer-plugin, pom.xml property
 * {@code clip.bpe.sha256}); this test checks what is actually on the class path, so a resource
 * step that altered the bytes (filtering, a stale or replaced copy in target/classes or in the
 * jar) fails here. The hash is written out in both places on purpose: changing the vocabulary
 * takes two deliberate edits.
 */
class ClipTokenizerVocabularyTest {

    /** SHA-256 of OpenAI's clip/bpe_simple_vocab_16e6.txt.gz. */
    static final String OPENAI_BPE_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a";

    @Test
    void bundledVocabularyIsOpenAisFile() throws IOException, NoSuchAlgorithmException {
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        long size = 0;
        try (InputStream in = ClipTokenizer.class.getResourceAsStream(ClipTokenizer.BUNDLED_RESOURCE)) {
            assertNotNull(in, "classpath resource org/clipsurgery/text/" + ClipTokenizer.BUNDLED_RESOURCE + " is missing");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; size += n) {
                sha256.update(buf, 0, n);
            }
        }
        assertEquals(1_356_917L, size, "size of the bundled vocabulary");
        assertEquals(OPENAI_BPE_SHA256, HexFormat.of().formatHex(sha256.digest()),
                "SHA-256 of the bundled vocabulary");
    }
}

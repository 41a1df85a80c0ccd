package org.clipsurgery.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PromptTemplatesTest {

    @TempDir
    Path tmp;

    @Test
    void defaultsAreTheOfficial85InOrder() {
        List<String> t = PromptTemplates.defaults();
        assertEquals(85, t.size());
        assertEquals(85, new HashSet<>(t).size(), "no duplicates");
        assertEquals("a bad photo of a {}.", t.get(0));
        assertEquals("a photo of many {}.", t.get(1));
        assertEquals("a photo of a {}.", t.get(39));
        assertEquals("itap of my {}.", t.get(76));
        assertEquals("this is one {} in the scene.", t.get(84));
        for (String s : t) {
            assertTrue(s.contains("{}"), s);
        }
        assertThrows(UnsupportedOperationException.class, () -> t.add("x {}"));
    }

    @Test
    void everyDefaultPromptFitsTheContext() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        List<String> prompts = PromptTemplates.defaults().stream()
                .map(t -> PromptTemplates.apply(t, "potted plant")).toList();
        int[][] ids = tok.tokenize(prompts, false);
        assertEquals(85, ids.length);
        assertEquals("a bad photo of a potted plant.", prompts.get(0));
    }

    @Test
    void applyFollowsPythonFormat() {
        assertEquals("a photo of a dog.", PromptTemplates.apply("a photo of a {}.", "dog"));
        assertEquals("dog and dog", PromptTemplates.apply("{0} and {0}", "dog"));
        assertEquals("{dog}", PromptTemplates.apply("{{{}}}", "dog"));
        assertEquals("a {} b", PromptTemplates.apply("a {} b", "{}"));
        assertThrows(IllegalArgumentException.class, () -> PromptTemplates.apply("no placeholder", "dog"));
        assertThrows(IllegalArgumentException.class, () -> PromptTemplates.apply("{} and {}", "dog"));
        assertThrows(IllegalArgumentException.class, () -> PromptTemplates.apply("{name}", "dog"));
        assertThrows(IllegalArgumentException.class, () -> PromptTemplates.apply("a } {}", "dog"));
    }

    @Test
    void fromFileSkipsBlankLines() throws IOException {
        Path f = tmp.resolve("t.txt");
        Files.writeString(f, "\uFEFFa photo of a {}.\r\n\n   \nthe {} in the scene\n", StandardCharsets.UTF_8);
        assertEquals(List.of("a photo of a {}.", "the {} in the scene"), PromptTemplates.fromFile(f));
    }

    @Test
    void fromFileReadsBackTheDefaults() throws IOException {
        Path f = tmp.resolve("defaults.txt");
        Files.write(f, PromptTemplates.defaults(), StandardCharsets.UTF_8);
        assertEquals(PromptTemplates.defaults(), PromptTemplates.fromFile(f));
    }

    @Test
    void lineWithoutPlaceholderNamesFileAndLine() throws IOException {
        Path f = tmp.resolve("bad-templates.txt");
        Files.writeString(f, "a photo of a {}.\n\na photo of nothing\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptTemplates.fromFile(f));
        assertTrue(e.getMessage().contains("bad-templates.txt"), e.getMessage());
        assertTrue(e.getMessage().contains("line 3"), e.getMessage());
        assertTrue(e.getMessage().contains("a photo of nothing"), e.getMessage());
    }

    @Test
    void otherBadFiles() throws IOException {
        Path empty = tmp.resolve("empty.txt");
        Files.writeString(empty, "\n\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptTemplates.fromFile(empty));
        assertTrue(e.getMessage().contains("empty.txt"), e.getMessage());

        Path brace = tmp.resolve("brace.txt");
        Files.writeString(brace, "a {label}\n");
        e = assertThrows(IllegalArgumentException.class, () -> PromptTemplates.fromFile(brace));
        assertTrue(e.getMessage().contains("line 1"), e.getMessage());

        Path binary = tmp.resolve("binary.txt");
        Files.write(binary, new byte[] {'a', ' ', '{', '}', (byte) 0xFF, '\n'});
        assertThrows(IOException.class, () -> PromptTemplates.fromFile(binary));

        assertThrows(IOException.class, () -> PromptTemplates.fromFile(tmp.resolve("missing.txt")));
    }
}

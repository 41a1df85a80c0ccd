package org.clipsurgery.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.IntBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.clipsurgery.testing.Fixtures;
import org.clipsurgery.weights.DType;
import org.clipsurgery.weights.HostTensor;
import org.clipsurgery.weights.Safetensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipTokenizerTest {

    @TempDir
    Path tmp;

    // ------------------------------------------------------------------ reference fixture

    private static List<String> referenceStrings() throws IOException {
        JsonObject ref = JsonParser.parseString(
                Files.readString(Fixtures.file("reference.json"), StandardCharsets.UTF_8)).getAsJsonObject();
        List<String> out = new ArrayList<>();
        for (JsonElement e : ref.getAsJsonArray("token_strings")) {
            out.add(e.getAsString());
        }
        return out;
    }

    private static int[][] referenceTokens() throws IOException {
        HostTensor t = Safetensors.read(Fixtures.file("reference-tokens.safetensors")).get("tokens");
        assertEquals(DType.I32, t.dtype());
        int rows = (int) t.size(0);
        int cols = (int) t.size(1);
        IntBuffer ib = t.data().asIntBuffer();
        int[][] out = new int[rows][cols];
        for (int r = 0; r < rows; r++) {
            ib.get(out[r]);
        }
        return out;
    }

    private static void assertMatchesReference(ClipTokenizer tok) throws IOException {
        List<String> strings = referenceStrings();
        int[][] expected = referenceTokens();
        assertEquals(13, strings.size());
        assertEquals(13, expected.length);
        int[][] actual = tok.tokenize(strings, true);
        for (int i = 0; i < strings.size(); i++) {
            assertArrayEquals(expected[i], actual[i], "tokens of \"" + strings.get(i) + "\"");
        }
    }

    @Test
    void bundledVocabularyMatchesOfficialTokens() throws IOException {
        assertMatchesReference(ClipTokenizer.bundled());
    }

    @Test
    void openAiVocabularyMatchesOfficialTokens() throws IOException {
        assertMatchesReference(ClipTokenizer.fromOpenAiVocab(Fixtures.file("bpe_simple_vocab_16e6.txt.gz")));
    }

    @Test
    void huggingFaceVocabularyMatchesOfficialTokens() throws IOException {
        assertMatchesReference(huggingFaceFromFixture());
    }

    @Test
    void officialTokensSpotChecks() throws IOException {
        ClipTokenizer tok = ClipTokenizer.bundled();
        int[][] ref = referenceTokens();
        List<String> strings = referenceStrings();
        // The empty string is start, end, zeros.
        int empty = strings.indexOf("");
        assertEquals(ClipTokenizer.START_TOKEN, ref[empty][0]);
        assertEquals(ClipTokenizer.END_TOKEN, ref[empty][1]);
        assertEquals(0, tok.encode("").length);
        // A literal special token in the text becomes that token.
        int special = strings.indexOf("<|startoftext|>");
        assertArrayEquals(new int[] {ClipTokenizer.START_TOKEN}, tok.encode("<|startoftext|>"));
        assertEquals(ClipTokenizer.START_TOKEN, ref[special][1]);
        assertEquals(49406, tok.startToken());
        assertEquals(49407, tok.endToken());
        assertEquals(49408, tok.vocabularySize());
    }

    // ------------------------------------------------------------------ three vocabularies agree

    @Test
    void allThreeVocabulariesGiveIdenticalTokensOnRandomText() throws IOException {
        ClipTokenizer bundled = ClipTokenizer.bundled();
        ClipTokenizer openAi = ClipTokenizer.fromOpenAiVocab(Fixtures.file("bpe_simple_vocab_16e6.txt.gz"));
        ClipTokenizer hf = huggingFaceFromFixture();
        Random rnd = new Random(1234);
        String[] pieces = {"a", "dog", "Photo", "é", "ü", "ß", "ñ", "çà", "日本", "語", "ไทย", "Ωμέγα", "д", "🙂",
            "👍🏽", "0", "42", "²", "½", "'s", "'LL", "’", "!", "?!", ".", ",", "-", "(", ")", "&amp;", "&lt;",
            "&#39;", " ", "  ", "\t", "\n", "\u00A0", "\u3000", "<|endoftext|>", "x-ray", "COVID", "ﬁ", "\u0301"};
        for (int i = 0; i < 300; i++) {
            StringBuilder sb = new StringBuilder();
            int n = 1 + rnd.nextInt(12);
            for (int k = 0; k < n; k++) {
                sb.append(pieces[rnd.nextInt(pieces.length)]);
            }
            String s = sb.toString();
            int[] a = bundled.encode(s);
            assertArrayEquals(a, openAi.encode(s), () -> "openai vs bundled on \"" + s + "\"");
            assertArrayEquals(a, hf.encode(s), () -> "hf vs bundled on \"" + s + "\"");
        }
    }

    /** Writes vocab.json (keys shuffled, so ids must come from the values) and merges.txt. */
    private ClipTokenizer huggingFaceFromFixture() throws IOException {
        List<String> lines;
        try (InputStream in = new GZIPInputStream(Files.newInputStream(Fixtures.file("bpe_simple_vocab_16e6.txt.gz")))) {
            lines = Arrays.asList(new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n"));
        }
        List<String> merges = lines.subList(1, 49152 - 256 - 2 + 1);
        List<String> vocab = new ArrayList<>();
        List<String> alphabet = byteAlphabet();
        vocab.addAll(alphabet);
        for (String c : alphabet) {
            vocab.add(c + "</w>");
        }
        for (String m : merges) {
            vocab.add(m.replace(" ", ""));
        }
        vocab.add("<|startoftext|>");
        vocab.add("<|endoftext|>");
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < vocab.size(); i++) {
            order.add(i);
        }
        Collections.shuffle(order, new Random(7));
        Map<String, Integer> json = new LinkedHashMap<>();
        for (int i : order) {
            json.put(vocab.get(i), i);
        }
        Path vocabJson = tmp.resolve("vocab.json");
        Path mergesTxt = tmp.resolve("merges.txt");
        Files.writeString(vocabJson, new Gson().toJson(json), StandardCharsets.UTF_8);
        Files.writeString(mergesTxt, "#version: 0.2\n" + String.join("\n", merges) + "\n", StandardCharsets.UTF_8);
        return ClipTokenizer.fromHuggingFace(vocabJson, mergesTxt);
    }

    /** GPT-2's printable stand-ins for the 256 bytes, in vocabulary order (written out independently). */
    private static List<String> byteAlphabet() {
        List<Integer> bs = new ArrayList<>();
        for (int b = '!'; b <= '~'; b++) bs.add(b);
        for (int b = 0xA1; b <= 0xAC; b++) bs.add(b);
        for (int b = 0xAE; b <= 0xFF; b++) bs.add(b);
        List<String> cs = new ArrayList<>();
        for (int b : bs) cs.add(String.valueOf((char) b));
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (!bs.contains(b)) {
                cs.add(String.valueOf((char) (256 + n++)));
            }
        }
        return cs;
    }

    // ------------------------------------------------------------------ context length

    /** "a" repeated k times is k tokens ("a" is one token, spaces separate words). */
    private static String words(int k) {
        return String.join(" ", Collections.nCopies(k, "a"));
    }

    @Test
    void longestTextThatFitsIsNotTruncated() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        int a = tok.encode("a")[0];
        assertEquals(75, tok.encode(words(75)).length);
        int[] row = tok.tokenize(List.of(words(75)), false)[0];
        assertEquals(ClipTokenizer.START_TOKEN, row[0]);
        for (int i = 1; i <= 75; i++) {
            assertEquals(a, row[i]);
        }
        assertEquals(ClipTokenizer.END_TOKEN, row[76]);
    }

    @Test
    void truncationKeepsTheEndTokenLast() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        int a = tok.encode("a")[0];
        String text = words(76) + " dog";
        int[] row = tok.tokenize(List.of(text), true)[0];
        assertEquals(77, row.length);
        assertEquals(ClipTokenizer.START_TOKEN, row[0]);
        for (int i = 1; i <= 75; i++) {
            assertEquals(a, row[i], "position " + i);
        }
        assertEquals(ClipTokenizer.END_TOKEN, row[76]);
    }

    @Test
    void tooLongWithoutTruncationNamesTheText() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        String text = words(76);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tok.tokenize(List.of("dog", text), false));
        assertTrue(e.getMessage().contains(text), e.getMessage());
        assertTrue(e.getMessage().contains("text 1"), e.getMessage());
        assertTrue(e.getMessage().contains("77"), e.getMessage());
    }

    @Test
    void otherContextLengths() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        int[][] rows = tok.tokenize(List.of("a a a a"), 4, true);
        int a = tok.encode("a")[0];
        assertArrayEquals(new int[] {49406, a, a, 49407}, rows[0]);
        assertThrows(IllegalArgumentException.class, () -> tok.tokenize(List.of("a"), 1, true));
    }

    // ------------------------------------------------------------------ cleanup rules

    @Test
    void htmlIsUnescapedBeforeTokenising() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        assertArrayEquals(tok.encode("<dog> & cat"), tok.encode("&lt;dog&gt; &amp; cat"));
        assertArrayEquals(tok.encode("it's"), tok.encode("it&#39;s"));
        assertArrayEquals(tok.encode("caf\u00E9"), tok.encode("caf&eacute"));
        // ftfy unescapes until nothing changes...
        assertArrayEquals(tok.encode("rock & roll"), tok.encode("rock &amp;amp;amp; roll"));
        // ...but not in text with a '<'; there only html.unescape's two levels apply, leaving the
        // text "&amp;", whose regex words are "&", "amp", ";" (spacing does not change CLIP tokens:
        // every regex match is its own word).
        assertArrayEquals(tok.encode("<b> & amp ;"), tok.encode("<b> &amp;amp;amp;"));
    }

    @Test
    void ftfyStepsApplyBeforeTokenising() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        assertArrayEquals(tok.encode("the dog's toy"), tok.encode("the dog\u2019s toy"));
        assertArrayEquals(tok.encode("fish"), tok.encode("\uFB01sh"));
        assertArrayEquals(tok.encode("dog"), tok.encode("\uFF24\uFF2F\uFF27"));
        assertArrayEquals(tok.encode("caf\u00E9"), tok.encode("cafe\u0301"));
        assertArrayEquals(tok.encode("p\u00E9rez"), tok.encode("P&EACUTE;REZ"));
        assertArrayEquals(tok.encode("catdog"), tok.encode("cat\u001Cdog"));
    }

    @Test
    void whitespaceAndCaseAreNormalised() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        int[] plain = tok.encode("a photo of the cat");
        assertArrayEquals(plain, tok.encode("  A\tPHOTO\n\nof\u00A0the\u3000Cat \u2028"));
        assertArrayEquals(plain, tok.encode("\u2003a photo of\u205Fthe cat\u3000"));
        // Final sigma follows Python's rule (Java's toLowerCase decides it differently).
        assertArrayEquals(tok.encode("\u03C3\u03B1\u03C2 \u2460"), tok.encode("\u03A3\u0391\u03A3 \u2460"));
        assertEquals("\u03C3\u03B1\u03C2\u2460", ClipTokenizer.pythonLower("\u03A3\u0391\u03A3\u2460"));
        assertEquals("\u03C3\u03B1\u03C3\u03B1", ClipTokenizer.pythonLower("\u03A3\u0391\u03A3\u0391"));
        assertEquals("\u03C3", ClipTokenizer.pythonLower("\u03A3"));
        assertEquals("i\u0307", ClipTokenizer.pythonLower("\u0130"));
    }

    @Test
    void contractionsAndDigitsSplitAsOfficially() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        // Each digit is its own word; "'s" is split off.
        int[] digits = tok.encode("2024");
        assertEquals(4, digits.length);
        assertArrayEquals(tok.encode("dog 's"), tok.encode("dog's"));
    }

    @Test
    void loneSurrogatesDoNotBreakEncoding() {
        ClipTokenizer tok = ClipTokenizer.bundled();
        assertArrayEquals(tok.encode("a \uFFFD b"), tok.encode("a \uD800 b"));
        assertArrayEquals(tok.encode("a \uFFFD"), tok.encode("a \uDC00"));
    }

    // ------------------------------------------------------------------ cache

    @Test
    void cacheIsSharedSafelyBetweenThreads() throws Exception {
        ClipTokenizer tok = ClipTokenizer.fromOpenAiVocab(Fixtures.file("bpe_simple_vocab_16e6.txt.gz"));
        ClipTokenizer fresh = ClipTokenizer.fromOpenAiVocab(Fixtures.file("bpe_simple_vocab_16e6.txt.gz"));
        List<String> texts = new ArrayList<>();
        Random rnd = new Random(99);
        for (int i = 0; i < 400; i++) {
            StringBuilder sb = new StringBuilder();
            for (int k = 0; k < 6; k++) {
                sb.append((char) ('a' + rnd.nextInt(26))).append((char) ('a' + rnd.nextInt(26)))
                        .append((char) ('a' + rnd.nextInt(5))).append(' ');
            }
            texts.add(sb.toString());
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<int[][]>> futures = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                futures.add(pool.submit(() -> tok.tokenize(texts, false)));
            }
            int[][] expected = fresh.tokenize(texts, false);
            for (Future<int[][]> f : futures) {
                int[][] got = f.get();
                for (int i = 0; i < texts.size(); i++) {
                    assertArrayEquals(expected[i], got[i]);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(tok.cacheSize() > 100, "cache holds " + tok.cacheSize());
    }

    // ------------------------------------------------------------------ bad vocabulary files

    @Test
    void badOpenAiVocabulariesAreClearErrors() throws IOException {
        Path notGzip = tmp.resolve("plain.txt");
        Files.writeString(notGzip, "#version\na b\n");
        IOException e = assertThrows(IOException.class, () -> ClipTokenizer.fromOpenAiVocab(notGzip));
        assertTrue(e.getMessage().contains("plain.txt") && e.getMessage().contains("gzip"), e.getMessage());

        Path shortFile = tmp.resolve("short.txt.gz");
        writeGz(shortFile, "#version: 0.2\ni n\nt h\n");
        e = assertThrows(IOException.class, () -> ClipTokenizer.fromOpenAiVocab(shortFile));
        assertTrue(e.getMessage().contains("short.txt.gz") && e.getMessage().contains("48894"), e.getMessage());

        // The real file with line 101 damaged.
        String text;
        try (InputStream in = new GZIPInputStream(Files.newInputStream(Fixtures.file("bpe_simple_vocab_16e6.txt.gz")))) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        String[] lines = text.split("\n", -1);
        lines[100] = "abc";
        Path damaged = tmp.resolve("damaged.txt.gz");
        writeGz(damaged, String.join("\n", lines));
        e = assertThrows(IOException.class, () -> ClipTokenizer.fromOpenAiVocab(damaged));
        assertTrue(e.getMessage().contains("damaged.txt.gz") && e.getMessage().contains("line 101"), e.getMessage());

        Path missing = tmp.resolve("missing.gz");
        assertThrows(IOException.class, () -> ClipTokenizer.fromOpenAiVocab(missing));
    }

    @Test
    void badHuggingFaceVocabulariesAreClearErrors() throws IOException {
        Path vocab = tmp.resolve("vocab.json");
        Path merges = tmp.resolve("merges.txt");
        Files.writeString(merges, "#version: 0.2\ni n\n");
        Files.writeString(vocab, "[1, 2]");
        IOException e = assertThrows(IOException.class, () -> ClipTokenizer.fromHuggingFace(vocab, merges));
        assertTrue(e.getMessage().contains("vocab.json"), e.getMessage());

        Files.writeString(vocab, "{\"a\": \"x\"}");
        e = assertThrows(IOException.class, () -> ClipTokenizer.fromHuggingFace(vocab, merges));
        assertTrue(e.getMessage().contains("not a number"), e.getMessage());

        Files.writeString(vocab, "{\"a\": 1");
        assertThrows(IOException.class, () -> ClipTokenizer.fromHuggingFace(vocab, merges));

        // A vocabulary without the byte alphabet cannot encode every word.
        Files.writeString(vocab, "{\"a\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}");
        e = assertThrows(IOException.class, () -> ClipTokenizer.fromHuggingFace(vocab, merges));
        assertTrue(e.getMessage().contains("missing"), e.getMessage());

        Files.writeString(merges, "#version: 0.2\ni n\nbad line here\n");
        e = assertThrows(IOException.class, () -> ClipTokenizer.fromHuggingFace(vocab, merges));
        assertTrue(e.getMessage().contains("merges.txt") && e.getMessage().contains("line 3"), e.getMessage());
    }

    private static void writeGz(Path file, String text) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (OutputStream gz = new GZIPOutputStream(bytes)) {
            gz.write(text.getBytes(StandardCharsets.UTF_8));
        }
        Files.write(file, bytes.toByteArray());
    }
}

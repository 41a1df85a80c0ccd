package org.clipsurgery.text;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * CLIP's byte-level BPE tokenizer, reproducing OpenAI's {@code simple_tokenizer.py} and
 * {@code clip.tokenize}: ftfy-style text fixing and HTML unescape, whitespace cleanup, lower
 * case, the official pre-tokenisation regex, UTF-8 bytes mapped to printable characters, BPE with
 * the first 48,894 merges, then start (49406) and end (49407) tokens and zero padding to the
 * context length (77).
 *
 * <p>Example:
 * <pre>{@code
 * ClipTokenizer tok = ClipTokenizer.bundled();
 * int[][] ids = tok.tokenize(List.of("a photo of a dog."), false);   // [1][77]
 * int[] bpe = tok.encode("a photo of a dog.");                         // [320, 1125, 539, 320, 1929, 269]
 * }</pre>
 *
 * <p>Vocabularies: {@link #bundled()} uses OpenAI's {@code bpe_simple_vocab_16e6.txt.gz}, packaged
 * with the library (byte-identical, SHA-256 pinned in the build and its tests);
 * {@link #fromOpenAiVocab(Path)} reads that file from a path; {@link #fromHuggingFace(Path, Path)} reads a
 * Hugging Face {@code vocab.json} and {@code merges.txt}. The three give the same tokens.
 *
 * <p>The official cleanup starts with {@code ftfy.fix_text}; {@link TextFixer} reproduces its
 * deterministic steps (its own HTML unescape, C1 controls, Latin ligatures, character width, curly
 * quotes, line breaks, surrogates, terminal escapes, control characters, NFC) but not its mojibake
 * repair: text such as "cafÃ©" that ftfy would re-decode to "café" is tokenised as it is. Text that
 * is not mojibake, as labels are, tokenises as the official code does. Letter and digit classes
 * follow the Unicode version of the running JVM (Java 17: Unicode 13), so characters added to
 * Unicode later may split differently from a newer Python {@code regex} module.
 *
 * <p>Instances are immutable apart from a bounded, thread-safe cache of BPE results per word, so
 * one instance may be shared by any number of threads.
 */
public final class ClipTokenizer {
    /** Context length of every released CLIP text model. */
    public static final int CONTEXT_LENGTH = 77;
    /** Id of {@code <|startoftext|>} in CLIP's vocabulary. */
    public static final int START_TOKEN = 49406;
    /** Id of {@code <|endoftext|>} in CLIP's vocabulary. */
    public static final int END_TOKEN = 49407;

    /** Number of merges CLIP uses: vocabulary 49152 = 256 bytes + merges + 2 specials (+ 256 end-of-word bytes). */
    static final int MERGES_USED = 49152 - 256 - 2;
    static final String START_TEXT = "<|startoftext|>";
    static final String END_TEXT = "<|endoftext|>";
    private static final String END_OF_WORD = "</w>";
    /** OpenAI's vocabulary file, committed under src/main/resources (see NOTICE for its licence). */
    static final String BUNDLED_RESOURCE = "bpe_simple_vocab_16e6.txt.gz";
    /** The cache is cleared when it grows past this many words, so free text cannot exhaust memory. */
    private static final int CACHE_LIMIT = 1 << 16;

    /**
     * Python's {@code regex} module's {@code \s}: the Unicode White_Space property. Spelled out
     * because Java's {@code \s} is ASCII-only without UNICODE_CHARACTER_CLASS, and that flag would
     * also change {@code \p{L}} handling under case-insensitivity.
     */
    private static final String WS_CLASS =
            "\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
    private static final Pattern WHITESPACE_RUN = Pattern.compile("[" + WS_CLASS + "]+");
    /** The official pre-tokenisation pattern, with {@code \s} spelled as above. */
    private static final Pattern TOKEN_PATTERN = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^"
                    + WS_CLASS + "\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);

    /** GPT-2's byte-to-character table: byte b is shown as BYTE_CHARS[b]. */
    private static final char[] BYTE_CHARS = new char[256];
    /** Bytes in the order that gives their vocabulary ids (printable ones first, as Python builds it). */
    private static final int[] BYTES_IN_VOCAB_ORDER = new int[256];

    static {
        boolean[] printable = new boolean[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
                printable[b] = true;
                BYTE_CHARS[b] = (char) b;
                BYTES_IN_VOCAB_ORDER[n++] = b;
            }
        }
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            if (!printable[b]) {
                BYTE_CHARS[b] = (char) (256 + extra++);
                BYTES_IN_VOCAB_ORDER[n++] = b;
            }
        }
    }

    private final Map<String, Integer> encoder;
    /** Merge rank keyed by "left right" (symbols never contain a space: byte 0x20 is shown as U+0120). */
    private final Map<String, Integer> ranks;
    private final int startToken;
    private final int endToken;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    private ClipTokenizer(Map<String, Integer> encoder, Map<String, Integer> ranks, String source) {
        this.encoder = encoder;
        this.ranks = ranks;
        Integer sot = encoder.get(START_TEXT);
        Integer eot = encoder.get(END_TEXT);
        if (sot == null || eot == null) {
            throw new IllegalArgumentException(source + ": vocabulary lacks " + START_TEXT + " or " + END_TEXT);
        }
        this.startToken = sot;
        this.endToken = eot;
    }

    // ------------------------------------------------------------------ construction

    private static final class Bundled {
        static final ClipTokenizer INSTANCE = loadBundled();
    }

    /**
     * The tokenizer over the vocabulary packaged with this library (OpenAI's
     * {@code bpe_simple_vocab_16e6.txt.gz}). Loaded once, shared.
     *
     * @throws IllegalStateException if the resource is missing (a repackaged jar that dropped it)
     *     or unreadable
     */
    public static ClipTokenizer bundled() {
        return Bundled.INSTANCE;
    }

    private static ClipTokenizer loadBundled() {
        String where = "classpath:org/clipsurgery/text/" + BUNDLED_RESOURCE;
        try (InputStream in = ClipTokenizer.class.getResourceAsStream(BUNDLED_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(where + " is missing from the class path (it ships in "
                        + "the library's jar); use fromOpenAiVocab or fromHuggingFace to point at a "
                        + "vocabulary file instead");
            }
            return fromOpenAiVocab(in, where);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + where + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads OpenAI's {@code bpe_simple_vocab_16e6.txt.gz}: gzip, UTF-8, one header line, then
     * merges "left right", of which the first 48,894 are used.
     *
     * @throws IOException if the file cannot be read, is not gzip or UTF-8, or a used line is not a merge
     */
    public static ClipTokenizer fromOpenAiVocab(Path bpeGz) throws IOException {
        Objects.requireNonNull(bpeGz, "bpeGz");
        try (InputStream in = Files.newInputStream(bpeGz)) {
            return fromOpenAiVocab(in, bpeGz.toString());
        }
    }

    private static ClipTokenizer fromOpenAiVocab(InputStream raw, String source) throws IOException {
        String text;
        try (GZIPInputStream gz = new GZIPInputStream(raw)) {
            text = decodeUtf8(readAll(gz, 64 << 20, source), source);
        } catch (java.util.zip.ZipException e) {
            throw new IOException(source + ": not a gzip file (" + e.getMessage() + ")", e);
        }
        String[] lines = text.split("\n", MERGES_USED + 2);
        if (lines.length < MERGES_USED + 1) {
            throw new IOException(source + ": has " + Math.max(0, lines.length - 1)
                    + " merge lines, CLIP needs " + MERGES_USED);
        }
        List<String[]> merges = parseMerges(Arrays.asList(lines).subList(1, MERGES_USED + 1), 2, source);
        // Ids are positions in the list Python builds; dict(zip(vocab, range)) keeps the last
        // position of a repeated entry (the official file repeats none).
        Map<String, Integer> encoder = new HashMap<>(2 * (512 + MERGES_USED + 2));
        int id = 0;
        for (int b : BYTES_IN_VOCAB_ORDER) {
            encoder.put(String.valueOf(BYTE_CHARS[b]), id++);
        }
        for (int b : BYTES_IN_VOCAB_ORDER) {
            encoder.put(BYTE_CHARS[b] + END_OF_WORD, id++);
        }
        for (String[] merge : merges) {
            encoder.put(merge[0] + merge[1], id++);
        }
        encoder.put(START_TEXT, id++);
        encoder.put(END_TEXT, id);
        return new ClipTokenizer(encoder, ranksOf(merges), source);
    }

    /**
     * Reads a Hugging Face CLIP tokenizer: {@code vocab.json} (token to id) and {@code merges.txt}
     * (an optional "#version" line, then "left right" per line; the first 48,894 are used, as
     * Hugging Face's CLIPTokenizer does).
     *
     * @throws IOException if a file cannot be read or parsed, or the vocabulary lacks a token that the
     *     merges or the byte alphabet produce
     */
    public static ClipTokenizer fromHuggingFace(Path vocabJson, Path mergesTxt) throws IOException {
        Objects.requireNonNull(vocabJson, "vocabJson");
        Objects.requireNonNull(mergesTxt, "mergesTxt");
        Map<String, Integer> encoder = new HashMap<>();
        JsonObject obj;
        try (Reader r = Files.newBufferedReader(vocabJson, StandardCharsets.UTF_8)) {
            JsonElement root = JsonParser.parseReader(r);
            if (!root.isJsonObject()) {
                throw new IOException(vocabJson + ": expected a JSON object of token -> id");
            }
            obj = root.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new IOException(vocabJson + ": invalid JSON: " + e.getMessage(), e);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new IOException(vocabJson + ": not UTF-8", e);
        }
        for (Map.Entry<String, JsonElement> e : obj.entrySet()) {
            JsonElement v = e.getValue();
            if (!v.isJsonPrimitive() || !((JsonPrimitive) v).isNumber()) {
                throw new IOException(vocabJson + ": id of token '" + e.getKey() + "' is not a number");
            }
            double d = v.getAsDouble();
            if (d != Math.rint(d) || d < 0 || d > Integer.MAX_VALUE) {
                throw new IOException(vocabJson + ": id of token '" + e.getKey() + "' is not a valid id: " + v);
            }
            encoder.put(e.getKey(), (int) d);
        }

        String text = decodeUtf8(Files.readAllBytes(mergesTxt), mergesTxt.toString());
        List<String> lines = new ArrayList<>(Arrays.asList(text.split("\r?\n")));
        int firstLine = 1;
        if (!lines.isEmpty() && lines.get(0).startsWith("#version")) {
            lines.remove(0);
            firstLine = 2;
        }
        while (!lines.isEmpty() && lines.get(lines.size() - 1).isEmpty()) {
            lines.remove(lines.size() - 1);
        }
        if (lines.size() > MERGES_USED) {
            lines = lines.subList(0, MERGES_USED);
        }
        List<String[]> merges = parseMerges(lines, firstLine, mergesTxt.toString());

        // Every symbol BPE can produce must have an id, or encode() would fail later on some word.
        for (char c : BYTE_CHARS) {
            requireToken(encoder, String.valueOf(c), vocabJson);
            requireToken(encoder, c + END_OF_WORD, vocabJson);
        }
        for (String[] merge : merges) {
            requireToken(encoder, merge[0] + merge[1], vocabJson);
        }
        return new ClipTokenizer(encoder, ranksOf(merges), vocabJson.toString());
    }

    private static void requireToken(Map<String, Integer> encoder, String token, Path file) throws IOException {
        if (!encoder.containsKey(token)) {
            throw new IOException(file + ": token '" + token + "' (needed by the byte alphabet or a merge) is missing");
        }
    }

    private static List<String[]> parseMerges(List<String> lines, int firstLineNumber, String source)
            throws IOException {
        List<String[]> merges = new ArrayList<>(lines.size());
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            int sp = line.indexOf(' ');
            if (sp <= 0 || sp == line.length() - 1 || line.indexOf(' ', sp + 1) >= 0) {
                throw new IOException(source + ": line " + (firstLineNumber + i)
                        + " is not a merge 'left right': '" + line + "'");
            }
            merges.add(new String[] {line.substring(0, sp), line.substring(sp + 1)});
        }
        return merges;
    }

    private static Map<String, Integer> ranksOf(List<String[]> merges) {
        Map<String, Integer> ranks = new HashMap<>(2 * merges.size());
        for (int i = 0; i < merges.size(); i++) {
            // A repeated pair keeps its last rank, as Python's dict(zip(merges, range)) does.
            ranks.put(merges.get(i)[0] + " " + merges.get(i)[1], i);
        }
        return ranks;
    }

    private static byte[] readAll(InputStream in, int limit, String source) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(1 << 20);
        byte[] buf = new byte[1 << 16];
        int n;
        while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
            if (out.size() > limit) {
                throw new IOException(source + ": larger than " + (limit >> 20) + " MiB uncompressed");
            }
        }
        return out.toByteArray();
    }

    private static String decodeUtf8(byte[] bytes, String source) throws IOException {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new IOException(source + ": not UTF-8 text", e);
        }
    }

    // ------------------------------------------------------------------ tokenising

    /** Id of {@code <|startoftext|>} in this vocabulary (49406 for CLIP's). */
    public int startToken() {
        return startToken;
    }

    /** Id of {@code <|endoftext|>} in this vocabulary (49407 for CLIP's). */
    public int endToken() {
        return endToken;
    }

    /** Number of entries in the vocabulary (49408 for CLIP's). */
    public int vocabularySize() {
        return encoder.size();
    }

    /**
     * BPE ids of {@code text} without start and end tokens, after the official cleanup (ftfy's
     * fixes as in the class comment, HTML unescape twice, whitespace runs to one space, trim,
     * lower case).
     */
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text");
        String cleaned = pythonLower(whitespaceClean(basicClean(text)));
        int[] out = new int[Math.max(16, cleaned.length())];
        int n = 0;
        Matcher m = TOKEN_PATTERN.matcher(cleaned);
        while (m.find()) {
            int[] ids = bpeIds(byteEncode(m.group()));
            if (n + ids.length > out.length) {
                out = Arrays.copyOf(out, Math.max(2 * out.length, n + ids.length));
            }
            System.arraycopy(ids, 0, out, n, ids.length);
            n += ids.length;
        }
        return Arrays.copyOf(out, n);
    }

    /**
     * {@code clip.tokenize(texts, context_length=77, truncate)}: one row of 77 ids per text, start
     * token, BPE ids, end token, zeros.
     *
     * @param truncate if true, a text longer than the context keeps its first 76 ids and the end
     *     token; if false, such a text is an error
     * @throws IllegalArgumentException naming the text if it is too long and {@code truncate} is false
     */
    public int[][] tokenize(List<String> texts, boolean truncate) {
        return tokenize(texts, CONTEXT_LENGTH, truncate);
    }

    /** As {@link #tokenize(List, boolean)} with another context length (at least 2). */
    public int[][] tokenize(List<String> texts, int contextLength, boolean truncate) {
        Objects.requireNonNull(texts, "texts");
        if (contextLength < 2) {
            throw new IllegalArgumentException("context length must be at least 2, got " + contextLength);
        }
        int[][] result = new int[texts.size()][contextLength];
        for (int i = 0; i < texts.size(); i++) {
            String text = texts.get(i);
            int[] ids = encode(text);
            int[] row = result[i];
            if (ids.length + 2 > contextLength) {
                if (!truncate) {
                    throw new IllegalArgumentException("text " + i + " is too long for context length "
                            + contextLength + " (" + (ids.length + 2) + " tokens with start and end): \""
                            + text + "\"");
                }
                // Official: tokens = tokens[:context_length]; tokens[-1] = eot_token
                row[0] = startToken;
                System.arraycopy(ids, 0, row, 1, contextLength - 1);
                row[contextLength - 1] = endToken;
            } else {
                row[0] = startToken;
                System.arraycopy(ids, 0, row, 1, ids.length);
                row[ids.length + 1] = endToken;
            }
        }
        return result;
    }

    // ------------------------------------------------------------------ internals

    /** {@code basic_clean}: ftfy (without mojibake repair), HTML unescape twice, {@code str.strip()}. */
    static String basicClean(String text) {
        String s = TextFixer.fix(text);
        s = HtmlUnescape.unescape(HtmlUnescape.unescape(s));
        return pythonStrip(s);
    }

    /** {@code whitespace_clean}: every run of (Unicode) whitespace becomes one space, then strip. */
    static String whitespaceClean(String text) {
        return pythonStrip(WHITESPACE_RUN.matcher(text).replaceAll(" "));
    }

    /** Python's {@code str.isspace()} for one code point: White_Space plus U+001C..U+001F. */
    static boolean isPythonSpace(int cp) {
        switch (cp) {
            case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D:
            case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x20:
            case 0x85: case 0xA0: case 0x1680:
            case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
                return true;
            default:
                return cp >= 0x2000 && cp <= 0x200A;
        }
    }

    /**
     * Python's {@code str.lower()}: the full lower-case mapping, whose only unconditional
     * multi-character entry is U+0130 -> "i\u0307", and Unicode's Final_Sigma rule for U+03A3.
     * Java's {@code toLowerCase} decides final sigma by word boundaries instead, which differs
     * (e.g. before a digit-like symbol), so sigma is handled here.
     */
    static String pythonLower(String s) {
        if (s.indexOf('\u03A3') < 0) {
            return s.toLowerCase(Locale.ROOT);
        }
        StringBuilder sb = new StringBuilder(s.length() + 8);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            if (cp == 0x03A3) {
                sb.append(isFinalSigma(s, i) ? '\u03C2' : '\u03C3');
            } else if (cp == 0x0130) {
                sb.append("i\u0307");
            } else {
                sb.appendCodePoint(Character.toLowerCase(cp));
            }
            i += Character.charCount(cp);
        }
        return sb.toString();
    }

    /** Final_Sigma: cased, case-ignorable*, here, and not (case-ignorable*, cased) after. */
    private static boolean isFinalSigma(String s, int i) {
        int j = i;
        int before = -1;
        while (j > 0) {
            int c = s.codePointBefore(j);
            j -= Character.charCount(c);
            if (!isCaseIgnorable(c)) {
                before = c;
                break;
            }
        }
        if (before < 0 || !isCased(before)) {
            return false;
        }
        for (j = i + 1; j < s.length(); ) {
            int c = s.codePointAt(j);
            if (!isCaseIgnorable(c)) {
                return !isCased(c);
            }
            j += Character.charCount(c);
        }
        return true;
    }

    private static boolean isCased(int cp) {
        return Character.isLowerCase(cp) || Character.isUpperCase(cp) || Character.isTitleCase(cp);
    }

    /** Unicode Case_Ignorable: Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter/MidNumLet/Single_Quote. */
    private static boolean isCaseIgnorable(int cp) {
        switch (Character.getType(cp)) {
            case Character.NON_SPACING_MARK:
            case Character.ENCLOSING_MARK:
            case Character.FORMAT:
            case Character.MODIFIER_LETTER:
            case Character.MODIFIER_SYMBOL:
                return true;
            default:
                break;
        }
        switch (cp) {
            case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4:
            case 0x2018: case 0x2019: case 0x2024: case 0x2027:
            case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
                return true;
            default:
                return false;
        }
    }

    private static String pythonStrip(String s) {
        int start = 0;
        int end = s.length();
        // All Python whitespace is in the BMP, so char-wise trimming is code-point-correct.
        while (start < end && isPythonSpace(s.charAt(start))) {
            start++;
        }
        while (end > start && isPythonSpace(s.charAt(end - 1))) {
            end--;
        }
        return s.substring(start, end);
    }

    /** The UTF-8 bytes of {@code token}, each shown as its printable stand-in character. */
    private static String byteEncode(String token) {
        byte[] bytes = token.getBytes(StandardCharsets.UTF_8);
        char[] chars = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            chars[i] = BYTE_CHARS[bytes[i] & 0xFF];
        }
        return new String(chars);
    }

    private int[] bpeIds(String token) {
        if (token.equals(START_TEXT)) {
            return new int[] {startToken};
        }
        if (token.equals(END_TEXT)) {
            return new int[] {endToken};
        }
        int[] ids = cache.get(token);
        if (ids == null) {
            ids = bpe(token);
            if (cache.size() >= CACHE_LIMIT) {
                cache.clear();
            }
            cache.put(token, ids);
        }
        return ids;
    }

    /** Number of words in the BPE cache (for tests). */
    int cacheSize() {
        return cache.size();
    }

    /** The official {@code bpe()}: merge the lowest-ranked adjacent pair until none is known. */
    int[] bpe(String token) {
        int n = token.length();
        List<String> word = new ArrayList<>(n);
        for (int i = 0; i < n - 1; i++) {
            word.add(String.valueOf(token.charAt(i)));
        }
        word.add(token.charAt(n - 1) + END_OF_WORD);

        while (word.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String first = null;
            String second = null;
            for (int i = 0; i + 1 < word.size(); i++) {
                Integer r = ranks.get(word.get(i) + " " + word.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    first = word.get(i);
                    second = word.get(i + 1);
                }
            }
            if (first == null) {
                break;
            }
            List<String> merged = new ArrayList<>(word.size());
            for (int i = 0; i < word.size(); i++) {
                if (i + 1 < word.size() && word.get(i).equals(first) && word.get(i + 1).equals(second)) {
                    merged.add(first + second);
                    i++;
                } else {
                    merged.add(word.get(i));
                }
            }
            word = merged;
        }

        int[] ids = new int[word.size()];
        for (int i = 0; i < ids.length; i++) {
            Integer id = encoder.get(word.get(i));
            if (id == null) {
                // Only reachable with an inconsistent vocabulary; the loaders check for this.
                throw new IllegalStateException("BPE symbol '" + word.get(i) + "' has no id in the vocabulary");
            }
            ids[i] = id;
        }
        return ids;
    }
}

package org.clipsurgery.text;

import java.text.Normalizer;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The deterministic part of {@code ftfy.fix_text} (ftfy 6, default configuration), which CLIP's
 * tokenizer runs before anything else. Per line (a segment ends after each '\n'), repeated until
 * the text stops changing:
 * <ol>
 *   <li>ftfy's HTML unescape ({@code &name;} of the HTML5 names ending in ';', upper-cased
 *       variants of the lower-case ones such as {@code &EACUTE;}, numeric references), skipped
 *       from the first segment that contains '&lt;' on;</li>
 *   <li>C1 controls U+0080..U+009F read as windows-1252;</li>
 *   <li>Latin ligatures and digraphs split (ﬁ to fi, ǆ to dž, ...);</li>
 *   <li>full-width and half-width forms to their normal forms, U+3000 to a space;</li>
 *   <li>curly quotes straightened (U+02BC, U+2018..U+201B to ', U+201C..U+201F to ");</li>
 *   <li>line breaks to '\n'; lone surrogates to U+FFFD; ANSI terminal escapes removed;</li>
 *   <li>control characters removed (C0 except \t \n \f \r, DEL, U+206A..U+206F, BOM,
 *       U+FFF9..U+FFFC);</li>
 *   <li>NFC normalisation.</li>
 * </ol>
 * Not done: ftfy's mojibake repair ({@code fix_encoding}: re-decoding text such as "cafÃ©" that
 * was decoded with the wrong codec, with its heuristics {@code restore_byte_a0},
 * {@code replace_lossy_sequences}, {@code decode_inconsistent_utf8}). Text that ftfy does not judge
 * to be mojibake, which is all ordinary text, is unaffected by that step. ftfy's split of very
 * long lines (over a million code points) is not reproduced either.
 */
final class TextFixer {
    private TextFixer() {}

    /** ftfy's entity syntax: only complete references with a ';'. */
    private static final Pattern ENTITY = Pattern.compile("&#?[0-9A-Za-z]{1,24};");
    private static final Pattern ANSI_ESCAPE = Pattern.compile("\u001B\\[((?:\\p{Nd}|;)*)([a-zA-Z])");
    private static final Map<String, String> ENTITIES = buildEntities();
    private static final Map<Integer, String> LIGATURES = Map.ofEntries(
            Map.entry(0x0132, "IJ"), Map.entry(0x0133, "ij"), Map.entry(0x0149, "\u02BCn"),
            Map.entry(0x01F1, "DZ"), Map.entry(0x01F2, "Dz"), Map.entry(0x01F3, "dz"),
            Map.entry(0x01C4, "D\u017D"), Map.entry(0x01C5, "D\u017E"), Map.entry(0x01C6, "d\u017E"),
            Map.entry(0x01C7, "LJ"), Map.entry(0x01C8, "Lj"), Map.entry(0x01C9, "lj"),
            Map.entry(0x01CA, "NJ"), Map.entry(0x01CB, "Nj"), Map.entry(0x01CC, "nj"),
            Map.entry(0xFB00, "ff"), Map.entry(0xFB01, "fi"), Map.entry(0xFB02, "fl"),
            Map.entry(0xFB03, "ffi"), Map.entry(0xFB04, "ffl"), Map.entry(0xFB05, "\u017Ft"),
            Map.entry(0xFB06, "st"));
    /** windows-1252 for bytes 0x80..0x9F; the five undefined ones pass through ("sloppy"). */
    private static final int[] C1_AS_CP1252 = {
        0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x2C6, 0x2030, 0x160, 0x2039, 0x152, 0x8D, 0x17D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178,
    };

    /** {@code ftfy.fix_text(text)} without mojibake repair; see the class comment. */
    static String fix(String text) {
        StringBuilder out = new StringBuilder(text.length());
        boolean unescape = true;
        int pos = 0;
        while (pos < text.length()) {
            int nl = text.indexOf('\n', pos);
            int end = nl < 0 ? text.length() : nl + 1;
            String segment = text.substring(pos, end);
            // ftfy turns HTML unescaping off for this and every later segment once one has '<'.
            if (unescape && segment.indexOf('<') >= 0) {
                unescape = false;
            }
            out.append(fixSegment(segment, unescape));
            pos = end;
        }
        return out.toString();
    }

    private static String fixSegment(String text, boolean unescape) {
        while (true) {
            String orig = text;
            if (unescape) {
                text = unescapeHtml(text);
            }
            text = mapCodePoints(text);
            text = text.replace("\r\n", "\n").replace('\r', '\n').replace('\u2028', '\n')
                    .replace('\u2029', '\n').replace('\u0085', '\n');
            text = ANSI_ESCAPE.matcher(text).replaceAll("");
            text = removeControlChars(text);
            text = Normalizer.normalize(text, Normalizer.Form.NFC);
            if (text.equals(orig)) {
                return text;
            }
        }
    }

    /**
     * C1 controls, ligatures, widths, quotes and lone surrogates in one pass. ftfy applies them one
     * after the other; none produces a character that a later one of these maps (windows-1252
     * yields curly quotes, which are straightened later in the same order here), so one pass in
     * ftfy's order per character is equivalent.
     */
    private static String mapCodePoints(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            char c = s.charAt(i);
            int cp;
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                cp = Character.toCodePoint(c, s.charAt(i + 1));
                i += 2;
            } else {
                cp = Character.isSurrogate(c) ? 0xFFFD : c;
                i++;
            }
            if (cp >= 0x80 && cp <= 0x9F) {
                cp = C1_AS_CP1252[cp - 0x80];
            }
            String lig = LIGATURES.get(cp);
            if (lig != null) {
                sb.append(quotes(lig));   // U+0149 becomes U+02BC n, which uncurl_quotes then straightens
                continue;
            }
            if (cp == 0x3000) {
                sb.append(' ');
                continue;
            }
            if (cp >= 0xFF01 && cp <= 0xFFEF) {
                String s1 = new String(Character.toChars(cp));
                sb.append(quotes(Normalizer.normalize(s1, Normalizer.Form.NFKC)));
                continue;
            }
            sb.append(quotes(cp));
        }
        return sb.toString();
    }

    private static String quotes(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> sb.append(quotes(cp)));
        return sb.toString();
    }

    private static String quotes(int cp) {
        if (cp == 0x02BC || (cp >= 0x2018 && cp <= 0x201B)) {
            return "'";
        }
        if (cp >= 0x201C && cp <= 0x201F) {
            return "\"";
        }
        return new String(Character.toChars(cp));
    }

    private static String removeControlChars(String s) {
        StringBuilder sb = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean drop = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F
                    || (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
            if (drop && sb == null) {
                sb = new StringBuilder(s.length()).append(s, 0, i);
            }
            if (sb != null && !drop) {
                sb.append(c);
            }
        }
        return sb == null ? s : sb.toString();
    }

    static String unescapeHtml(String text) {
        if (text.indexOf('&') < 0) {
            return text;
        }
        Matcher m = ENTITY.matcher(text);
        StringBuilder out = new StringBuilder(text.length());
        while (m.find()) {
            String ref = m.group();
            String value = ENTITIES.get(ref);
            if (value == null) {
                value = ref;
                if (ref.startsWith("&#")) {
                    String unescaped = HtmlUnescape.unescape(ref);
                    // Only a reference decoded as a whole (its ';' consumed) counts.
                    if (unescaped.indexOf(';') < 0) {
                        value = unescaped;
                    }
                }
            }
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    /**
     * ftfy's table: every HTML5 name ending in ';', plus, for an all-lower-case name, its upper-case
     * spelling mapped to the upper-cased character when that spelling means nothing to
     * html.unescape ({@code &NTILDE;} to Ñ, {@code &SZLIG;} to SS).
     */
    private static Map<String, String> buildEntities() {
        Map<String, String> map = new HashMap<>(4096);
        for (Map.Entry<String, String> e : HtmlUnescape.named().entrySet()) {
            String name = e.getKey();
            if (!name.endsWith(";")) {
                continue;
            }
            map.put("&" + name, e.getValue());
        }
        for (Map.Entry<String, String> e : HtmlUnescape.named().entrySet()) {
            String name = e.getKey();
            if (!name.endsWith(";") || !name.equals(name.toLowerCase(Locale.ROOT))) {
                continue;
            }
            String upper = "&" + name.toUpperCase(Locale.ROOT);
            if (HtmlUnescape.unescape(upper).equals(upper)) {
                map.put(upper, e.getValue().toUpperCase(Locale.ROOT));
            }
        }
        return map;
    }
}

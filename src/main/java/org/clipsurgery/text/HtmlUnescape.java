package org.clipsurgery.text;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * HTML character-reference decoding with the rules of Python's {@code html.unescape}, which CLIP's
 * tokenizer applies (twice) to every text: all HTML5 named references (with the longest-prefix rule
 * for the legacy names that may omit ';'), decimal and hexadecimal numeric references, and the
 * standard's replacements for invalid numbers (C1 controls read as windows-1252, NUL, surrogates
 * and values past U+10FFFF become U+FFFD, non-characters and most controls are dropped).
 */
final class HtmlUnescape {
    private HtmlUnescape() {}

    /** The reference syntax Python matches; a name is 1 to 32 characters (code points). */
    private static final Pattern CHARREF =
            Pattern.compile("&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\\t\\n\\f <&#;]{1,32};?)");

    private static final String ENTITIES_RESOURCE = "html5-entities.txt";
    private static final Map<String, String> NAMED = java.util.Collections.unmodifiableMap(loadNamed());

    /** Numeric references 0x80..0x9F name windows-1252 characters; undefined ones stay as is. */
    private static final int[] C1_AS_CP1252 = {
        0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x2C6, 0x2030, 0x160, 0x2039, 0x152, 0x8D, 0x17D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178,
    };

    /** The HTML5 named references: name (with its ';' where it has one) to characters. */
    static Map<String, String> named() {
        return NAMED;
    }

    /** Decodes every character reference in {@code s}; text without '&' is returned as is. */
    static String unescape(String s) {
        if (s.indexOf('&') < 0) {
            return s;
        }
        Matcher m = CHARREF.matcher(s);
        StringBuilder out = new StringBuilder(s.length());
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(replace(m.group(1))));
        }
        m.appendTail(out);
        return out.toString();
    }

    private static String replace(String ref) {
        if (ref.charAt(0) == '#') {
            boolean hex = ref.charAt(1) == 'x' || ref.charAt(1) == 'X';
            String digits = ref.substring(hex ? 2 : 1);
            if (digits.endsWith(";")) {
                digits = digits.substring(0, digits.length() - 1);
            }
            return numeric(new BigInteger(digits, hex ? 16 : 10));
        }
        String value = NAMED.get(ref);
        if (value != null) {
            return value;
        }
        // Longest known prefix of at least two characters, the rest kept as text ("&ampx" -> "&x").
        // Names are ASCII, so prefixes are taken at code-point boundaries only.
        int[] cps = ref.codePoints().toArray();
        for (int x = cps.length - 1; x > 1; x--) {
            String prefix = new String(cps, 0, x);
            value = NAMED.get(prefix);
            if (value != null) {
                return value + new String(cps, x, cps.length - x);
            }
        }
        return "&" + ref;
    }

    private static String numeric(BigInteger number) {
        if (number.bitLength() > 31) {
            return "\uFFFD";
        }
        int cp = number.intValue();
        if (cp == 0) {
            return "\uFFFD";
        }
        if (cp == 0x0D) {
            return "\r";
        }
        if (cp >= 0x80 && cp <= 0x9F) {
            return new String(Character.toChars(C1_AS_CP1252[cp - 0x80]));
        }
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
            return "\uFFFD";
        }
        if (isDropped(cp)) {
            return "";
        }
        return new String(Character.toChars(cp));
    }

    /** Code points the standard calls invalid in a reference and Python's unescape removes. */
    private static boolean isDropped(int cp) {
        return (cp >= 0x01 && cp <= 0x08) || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F)
                || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0xFDD0 && cp <= 0xFDEF)
                || (cp & 0xFFFE) == 0xFFFE;
    }

    private static Map<String, String> loadNamed() {
        Map<String, String> map = new HashMap<>(4096);
        try (InputStream in = HtmlUnescape.class.getResourceAsStream(ENTITIES_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("classpath resource org/clipsurgery/text/"
                        + ENTITIES_RESOURCE + " is missing");
            }
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                int tab = line.indexOf('\t');
                StringBuilder value = new StringBuilder(2);
                for (String hex : line.substring(tab + 1).split(" ")) {
                    value.appendCodePoint(Integer.parseInt(hex, 16));
                }
                map.put(line.substring(0, tab), value.toString());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + ENTITIES_RESOURCE, e);
        }
        return map;
    }
}

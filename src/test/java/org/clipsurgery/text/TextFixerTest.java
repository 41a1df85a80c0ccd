package org.clipsurgery.text;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Expected values are ftfy 6.3's documented results for the same steps. */
class TextFixerTest {

    private static void check(String in, String expected) {
        assertEquals(expected, TextFixer.fix(in), () -> "fix(" + in + ")");
    }

    @Test
    void ftfyHtmlUnescape() {
        assertEquals("<tag>", TextFixer.unescapeHtml("&lt;tag&gt;"));
        assertEquals("\uD835\uDCA5ohn \u210Bancock", TextFixer.unescapeHtml("&Jscr;ohn &HilbertSpace;ancock"));
        assertEquals("\u2713", TextFixer.unescapeHtml("&checkmark;"));
        assertEquals("P\u00E9rez", TextFixer.unescapeHtml("P&eacute;rez"));
        assertEquals("P\u00C9REZ", TextFixer.unescapeHtml("P&EACUTE;REZ"));
        assertEquals("BUNDESSTRASSE", TextFixer.unescapeHtml("BUNDESSTRA&SZLIG;E"));
        assertEquals("\u00F1 \u00D1 \u00D1 &nTILDE;", TextFixer.unescapeHtml("&ntilde; &Ntilde; &NTILDE; &nTILDE;"));
        // Only complete references: no legacy names without ';' (html.unescape handles those later).
        assertEquals("&amp x", TextFixer.unescapeHtml("&amp x"));
        assertEquals("it's", TextFixer.unescapeHtml("it&#x27;s"));
        assertEquals("&#65a;", TextFixer.unescapeHtml("&#65a;"));
    }

    @Test
    void unescapingRepeatsUntilStableButNotInHtml() {
        check("&amp;amp;amp;", "&");
        check("<b>&amp;amp;</b>", "<b>&amp;amp;</b>");
        // The first line is fixed before ftfy sees a '<'; from then on entities stay.
        check("&amp;\n<b>\n&amp;", "&\n<b>\n&amp;");
    }

    @Test
    void widthLigaturesQuotes() {
        check("\uFF2C\uFF2F\uFF35\uFF24\u3000\uFF2E\uFF2F\uFF29\uFF33\uFF25\uFF33", "LOUD NOISES");
        check("\uFF35\uFF80\uFF70\uFF9D", "U\u30BF\u30FC\u30F3");
        check("\uFB02u\uFB03e\uFB06", "fluffiest");
        check("\u201Chere\u2019s a test\u201D", "\"here's a test\"");
        check("\u0149", "'n");
        check("\u01C6", "d\u017E");
    }

    @Test
    void c1ControlsAreReadAsWindows1252() {
        check("it\u0092s", "it's");
        check("\u0080", "\u20AC");
        check("a\u0081b", "a\u0081b");
    }

    @Test
    void escapesControlsLineBreaksSurrogatesAndNfc() {
        check("\u001B[36;44mI'm blue\u001B[0m", "I'm blue");
        check("\uFEFFParty", "Party");
        check("a\u0000b\u007Fc\u206Ad\uFFFCe", "abcde");
        check("a\tb\fc", "a\tb\fc");
        check("one\r\ntwo\rthree\u2028four\u2029five", "one\ntwo\nthree\nfour\nfive");
        // U+0085 is a C1 control, read as windows-1252 (an ellipsis) before line breaks are fixed.
        check("five\u0085six", "five\u2026six");
        check("x\uDC00y\uD800", "x\uFFFDy\uFFFD");
        check("\uD83D\uDE42", "\uD83D\uDE42");
        check("cafe\u0301", "caf\u00E9");
    }

    @Test
    void cleanTextIsUnchanged() {
        String s = "a photo of a dog. na\u00EFve caf\u00E9, 3 o'clock & 日本語 \uD83D\uDE42";
        assertEquals(s, TextFixer.fix(s));
    }
}

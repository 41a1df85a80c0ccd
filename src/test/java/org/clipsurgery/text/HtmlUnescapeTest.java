package org.clipsurgery.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

/** Expected values are what Python 3.11's html.unescape returns for the same input. */
class HtmlUnescapeTest {

    private static void check(String in, String expected) {
        assertEquals(expected, HtmlUnescape.unescape(in), () -> "unescape(" + in + ")");
    }

    @Test
    void namedReferences() {
        check("&amp;", "&");
        check("&lt;dog&gt;", "<dog>");
        check("&Eacute;", "\u00C9");
        check("&notin;", "\u2209");
        check("&nbsp;cat", "\u00A0cat");
        check("&NotEqualTilde;", "\u2242\u0338");
        check("&acE;", "\u223E\u0333");
        check("&EACUTE;", "&EACUTE;");
        check("&zzzz;", "&zzzz;");
        check("&;", "&;");
        check("a & b", "a & b");
    }

    @Test
    void legacyNamesWithoutSemicolonUseTheLongestPrefix() {
        check("&amp", "&");
        check("&eacute", "\u00E9");
        check("&ampx", "&x");
        check("&ampamp;", "&amp;");
        check("&notit;", "\u00ACit;");
    }

    @Test
    void numericReferences() {
        check("&#39;s", "'s");
        check("&#x27;t", "'t");
        check("&#X1F642;", "\uD83D\uDE42");
        check("&#13;", "\r");
        check("&#;", "&#;");
        check("&#x;", "&#x;");
    }

    @Test
    void invalidNumbersFollowTheStandard() {
        check("&#128;", "\u20AC");
        check("&#x81;", "\u0081");
        check("&#0;", "\uFFFD");
        check("&#xD800;", "\uFFFD");
        check("&#1114112;", "\uFFFD");
        check("&#99999999999999999999;", "\uFFFD");
        check("&#1;x", "x");
        check("&#127;", "");
        check("&#xFFFF;", "");
        check("&#x10FFFE;", "");
    }

    @Test
    void onlyOneLevelPerCall() {
        check("&amp;amp;", "&amp;");
        check(HtmlUnescape.unescape("&amp;amp;"), "&");
    }

    @Test
    void textWithoutAmpersandIsReturnedAsIs() {
        String s = "no references here";
        assertSame(s, HtmlUnescape.unescape(s));
    }
}

package org.clipsurgery.progress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class ProgressTest {

    private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8);
    private final AtomicLong clock = new AtomicLong(1_000_000_000L);

    private String text() {
        return buf.toString(StandardCharsets.UTF_8);
    }

    /** The last drawn line (after the last carriage return), without padding. */
    private String lastLine() {
        String t = text();
        return t.substring(t.lastIndexOf('\r') + 1).strip();
    }

    /** A reporter on a terminal wide enough for every part of the line. */
    private Progress wide() {
        return Progress.to(out, clock::get, 0, () -> 200);
    }

    @Test
    void bytesWithBarPercentRateAndEta() {
        Progress p = wide();
        try (Progress.Task t = p.start("ViT-B-16.pt", 100L << 20, Progress.Unit.BYTES)) {
            clock.addAndGet(2_000_000_000L);
            t.advance(25L << 20);
            assertEquals("ViT-B-16.pt [#####...............]  25%  25.0 MiB / 100.0 MiB  12.5 MiB/s  ETA 0:06",
                    lastLine());
            clock.addAndGet(6_000_000_000L);
            t.set(100L << 20);
        }
        assertTrue(text().endsWith("\n"), "closing ends the line");
        assertTrue(lastLine().startsWith("ViT-B-16.pt [####################] 100%  100.0 MiB / 100.0 MiB"),
                lastLine());
        assertFalse(lastLine().contains("ETA"));
    }

    @Test
    void itemsAndUnknownTotals() {
        Progress p = wide();
        try (Progress.Task t = p.start("images", 60, Progress.Unit.ITEMS)) {
            clock.addAndGet(4_000_000_000L);
            t.advance(12);
            assertEquals("images [####................]  20%  12 / 60  3.0 it/s  ETA 0:16", lastLine());
        }
        try (Progress.Task t = p.start("labels", -1, Progress.Unit.ITEMS)) {
            clock.addAndGet(1_000_000_000L);
            t.advance(7);
            assertEquals("labels  7  7.0 it/s", lastLine());
        }
    }

    @Test
    void resumedWorkIsNotCountedInTheRate() {
        Progress p = Progress.to(out, clock::get, 0);
        try (Progress.Task t = p.start("f", 2048, Progress.Unit.BYTES, 1024)) {
            assertTrue(lastLine().contains(" 50%"), lastLine());
            clock.addAndGet(1_000_000_000L);
            t.advance(512);
            assertTrue(lastLine().contains("512 B/s"), lastLine());
        }
    }

    @Test
    void redrawsAreThrottled() {
        Progress p = Progress.to(out, clock::get, 100_000_000L);
        try (Progress.Task t = p.start("x", 1000, Progress.Unit.ITEMS)) {
            for (int i = 0; i < 1000; i++) {
                t.advance(1); // the fake clock does not move: no redraw until close
            }
            assertEquals(1, text().chars().filter(c -> c == '\r').count());
        }
        assertEquals(2, text().chars().filter(c -> c == '\r').count());
        assertTrue(lastLine().contains("1000 / 1000"), lastLine());
    }

    @Test
    void shorterLinesOverwriteLongerOnes() {
        Progress p = Progress.to(out, clock::get, 0);
        try (Progress.Task t = p.start("x", -1, Progress.Unit.BYTES)) {
            t.set(5L << 30);
            int before = text().length();
            t.set(3);
            String last = text().substring(before);
            // "\r" + new line + spaces covering the rest of the old one.
            assertEquals(text().substring(text().lastIndexOf('\r', before - 1), before).length(), last.length());
        }
    }

    /** Every line the reporter drew: the text between carriage returns and newlines. */
    private List<String> drawnLines() {
        return Arrays.stream(text().split("[\\r\\n]")).filter(l -> !l.isEmpty()).toList();
    }

    @Test
    void linesFitTheTerminalAt40And80And200Columns() {
        long mib = 1L << 20;
        String longName = "ViT-L-14-336px-a-rather-long-checkpoint-file-name.pt";
        for (int columns : new int[] {40, 80, 200}) {
            for (String label : List.of("ViT-B-16.pt", "images", longName)) {
                for (Progress.Unit unit : Progress.Unit.values()) {
                    for (long total : new long[] {-1, 335 * mib, 60}) {
                        // Straight from the renderer, at several points of a task with a rate and ETA.
                        for (long done : new long[] {0, total / 3, total}) {
                            String line = Progress.render(label, Math.max(0, done), total, unit, 2_000_000_000L,
                                    Math.max(1, done), columns);
                            assertTrue(line.length() < columns, columns + " columns: " + line.length() + ": " + line);
                        }
                    }
                }
            }
            // And as drawn, padding included: no line reaches the last column.
            buf.reset();
            Progress p = Progress.to(out, clock::get, 0, () -> columns);
            try (Progress.Task t = p.start("ViT-B-16.pt", 335 * mib, Progress.Unit.BYTES)) {
                for (int i = 1; i <= 5; i++) {
                    clock.addAndGet(1_000_000_000L);
                    t.set(i * 60 * mib);
                }
            }
            for (String l : drawnLines()) assertTrue(l.length() < columns, columns + ": " + l);
            assertEquals(7, text().chars().filter(c -> c == '\r').count(), "redrawn in place");
            assertEquals(1, text().chars().filter(c -> c == '\n').count(), "one line in the end");
        }
    }

    @Test
    void narrowTerminalsDropTheRateThenTheAmountsThenTheBar() {
        long mib = 1L << 20;
        long twoSeconds = 2_000_000_000L;
        // The 84-character line, at 80 columns: the rate goes, the rest stays.
        assertEquals("ViT-B-16.pt [#####...............]  25%  25.0 MiB / 100.0 MiB  12.5 MiB/s  ETA 0:06",
                Progress.render("ViT-B-16.pt", 25 * mib, 100 * mib, Progress.Unit.BYTES, twoSeconds, 25 * mib, 200));
        assertEquals("ViT-B-16.pt [#####...............]  25%  25.0 MiB / 100.0 MiB  ETA 0:06",
                Progress.render("ViT-B-16.pt", 25 * mib, 100 * mib, Progress.Unit.BYTES, twoSeconds, 25 * mib, 80));
        // 50 columns: the amounts go and the bar shrinks.
        assertEquals("ViT-B-16.pt [#####...............]  25%  ETA 0:06",
                Progress.render("ViT-B-16.pt", 25 * mib, 100 * mib, Progress.Unit.BYTES, twoSeconds, 25 * mib, 50));
        assertEquals("ViT-B-16.pt [##........]  25%  ETA 0:06",
                Progress.render("ViT-B-16.pt", 25 * mib, 100 * mib, Progress.Unit.BYTES, twoSeconds, 25 * mib, 40));
        // Narrower: no bar, then a shortened label; never longer than the width.
        assertEquals("ViT-B-16.pt  25%  ETA 0:06",
                Progress.render("ViT-B-16.pt", 25 * mib, 100 * mib, Progress.Unit.BYTES, twoSeconds, 25 * mib, 30));
        assertEquals("ViT-B-...  25%  ETA 0:06",
                Progress.render("ViT-B-16.pt", 25 * mib, 100 * mib, Progress.Unit.BYTES, twoSeconds, 25 * mib, 25));
        // Unknown totals keep the amount; widths under 20 count as 20.
        assertEquals("label-set-one  7", Progress.render("label-set-one", 7, -1, Progress.Unit.ITEMS, twoSeconds, 7, 12));
        assertEquals("label-set-one  7  3.5 it/s",
                Progress.render("label-set-one", 7, -1, Progress.Unit.ITEMS, twoSeconds, 7, 80));
    }

    @Test
    void terminalWidthFromColumnsThenTheTerminalThenEighty() {
        assertEquals(132, Progress.terminalColumns(Map.of("COLUMNS", "132"), () -> 100));
        assertEquals(100, Progress.terminalColumns(Map.of(), () -> 100));
        assertEquals(100, Progress.terminalColumns(Map.of("COLUMNS", "wide"), () -> 100));
        assertEquals(100, Progress.terminalColumns(Map.of("COLUMNS", "0"), () -> 100));
        assertEquals(80, Progress.terminalColumns(Map.of(), () -> 0));
        assertEquals(Progress.DEFAULT_COLUMNS, Progress.terminalColumns(Map.of("COLUMNS", "-3"), () -> 0));
    }

    @Test
    void noneIsSilentAndStderrIsSilentWithoutATerminal() {
        Progress none = Progress.none();
        assertFalse(none.enabled());
        try (Progress.Task t = none.start("x", 10, Progress.Unit.ITEMS)) {
            t.advance(5);
        }
        // Tests run with redirected streams: no terminal, so stderr() must be the silent one.
        assertFalse(Progress.isTerminal());
        assertSame(Progress.none(), Progress.stderr());
    }

    @Test
    void byteSizes() {
        assertEquals("0 B", Progress.bytes(0));
        assertEquals("1023 B", Progress.bytes(1023));
        assertEquals("1.0 KiB", Progress.bytes(1024));
        assertEquals("1.5 GiB", Progress.bytes(1.5 * (1L << 30)));
    }
}

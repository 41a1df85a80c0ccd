package org.clipsurgery.progress;

import java.io.Console;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/**
 * Progress of long work (a download, encoding a large label set, many images), drawn as one
 * self-overwriting line on a terminal:
 *
 * <pre>
 * ViT-B-16.pt [##########..........]  51%  171.3 MiB / 335.4 MiB  42.1 MiB/s  ETA 0:04
 * images      [####................]  20%  12 / 60  3.1 it/s  ETA 0:15
 * </pre>
 *
 * <p>{@link #stderr()} draws on standard error only when the JVM runs on an interactive terminal
 * (it has a {@link System#console()}), so logs, pipes and tests stay clean; {@link #none()} never
 * draws (for library use); {@link #to(PrintStream)} always draws. A line is never wider than the
 * terminal less one column ({@link #terminalColumns()}: {@code $COLUMNS}, else {@code stty size} on
 * the controlling terminal, else 80): a line that wrapped would make every redraw start a new row.
 * When the full line does not fit, the rate goes first, then the amounts, then the bar shrinks from
 * 20 to 10 cells and goes; the percentage and the time left stay; last the label is shortened with
 * "..." (and on a terminal narrower than anything useful the line is cut). Lines for terminals
 * narrower than 20 columns are drawn as if for 20. Usage:
 *
 * <pre>{@code
 * try (Progress.Task task = Progress.stderr().start("images", paths.size(), Progress.Unit.ITEMS)) {
 *     for (Path p : paths) { process(p); task.advance(1); }
 * }
 * }</pre>
 *
 * <p>A task is meant to be advanced from one thread at a time: {@link Task} implementations here
 * are not thread-safe (advancing one from several threads needs the caller's own lock). Reporters
 * themselves may start tasks from any thread, but tasks drawn at the same time on one stream
 * overwrite each other's line.
 *
 * <p>To receive progress elsewhere (a GUI, a log), subclass this class: implement
 * {@link #start(String, long, Unit, long)} and {@link #enabled()}.
 */
public abstract class Progress {

    /** For subclasses: a reporter of their own, which implements both abstract methods. */
    public Progress() {}

    /** What a task counts: bytes are shown with binary prefixes, items as plain numbers. */
    public enum Unit {
        /** Bytes, shown as "512 B", "1.5 KiB", "335.4 MiB" (1024-based); the rate in such units per second. */
        BYTES,
        /** Things counted one by one (labels, images), shown as plain numbers; the rate in "it/s". */
        ITEMS
    }

    /**
     * One piece of work being reported. Closing it finishes the line; {@code close} declares no
     * exception, so try-with-resources needs no catch. The drawing tasks of {@code to(...)} reporters
     * are not thread-safe (those of {@link Progress#none()} do nothing and are). A drawing task
     * redraws on {@link #advance} and {@link #set} at most once per redraw interval (100 ms for
     * {@link Progress#to(PrintStream)}); the final state is always drawn on close.
     */
    public interface Task extends AutoCloseable {
        /**
         * Adds {@code n} to the amount done; ignored once the task is closed. An amount past the
         * total shows as 100%.
         *
         * @param n the amount done since the last call, in the task's {@link Unit}
         */
        void advance(long n);

        /**
         * Sets the amount done (for work that restarts or resumes part-way); ignored once the task is
         * closed. A value below the amount the task started from makes the rate count from it.
         *
         * @param done the total amount done so far, in the task's {@link Unit}
         */
        void set(long done);

        /**
         * Finishes the line: draws the final state and ends it with a line break. Later calls to
         * {@link #advance} and {@link #set} are ignored. Idempotent.
         */
        @Override
        void close();
    }

    private static final Task NO_TASK = new Task() {
        @Override public void advance(long n) {}
        @Override public void set(long done) {}
        @Override public void close() {}
    };

    private static final Progress NONE = new Progress() {
        @Override
        public Task start(String label, long total, Unit unit, long alreadyDone) {
            return NO_TASK;
        }

        @Override
        public boolean enabled() {
            return false;
        }
    };

    /**
     * Starts reporting a task from zero; same as
     * {@link #start(String, long, Unit, long) start(label, total, unit, 0)}.
     *
     * @param label shown at the start of the line (a file name, "labels", "images"); not null
     * @param total the amount that means done, or zero or a negative value when unknown (then no bar,
     *     percentage or time left: only the amount done and the rate)
     * @param unit  what is counted; not null
     * @return the task, to advance and then close (try-with-resources); a drawing reporter draws
     *     its first line before returning it
     */
    public Task start(String label, long total, Unit unit) {
        return start(label, total, unit, 0);
    }

    /**
     * Starts reporting a task that resumes part-way (a partial download): the rate and time left
     * count only the work done from now on.
     *
     * @param label shown at the start of the line (a file name, "labels", "images"); not null
     * @param total the amount that means done, or zero or a negative value when unknown (then no bar,
     *     percentage or time left: only the amount done and the rate)
     * @param unit what is counted; not null
     * @param alreadyDone the amount done before this task started; a negative value counts as 0
     * @return the task, to advance and then close (try-with-resources); a drawing reporter draws
     *     its first line before returning it
     */
    public abstract Task start(String label, long total, Unit unit, long alreadyDone);

    /**
     * Whether this reporter draws anything, so that callers can skip work done only for the report
     * (counting a total, say).
     *
     * @return false for {@link #none()} (and {@link #stderr()} without a terminal), true for the
     *     reporters of {@code to(...)}
     */
    public abstract boolean enabled();

    /**
     * A reporter that never draws, the default for library use.
     *
     * @return the one shared silent reporter, whose tasks do nothing; thread-safe
     */
    public static Progress none() {
        return NONE;
    }

    /**
     * A reporter drawing on standard error when standard error is an interactive terminal,
     * otherwise {@link #none()}; decided once, at this call. On Linux the test is where file
     * descriptor 2 points ({@code /proc/self/fd/2} is a {@code /dev/pts} or {@code /dev/tty}
     * device), so {@code 2> file} and {@code 2>&1 | tee} stop the drawing while {@code | less}
     * (standard output only) does not; elsewhere it is {@link System#console()} (on Java 22 and
     * later also {@code Console.isTerminal()}), which looks at standard input and output.
     *
     * @return {@code to(System.err)} on a terminal, else {@link #none()}
     */
    public static Progress stderr() {
        return isTerminal() ? to(System.err) : NONE;
    }

    /**
     * A reporter that always draws on {@code out}, terminal or not, redrawing at most every 100 ms,
     * with lines as wide as the terminal allows ({@link #terminalColumns()}, asked once per task, so a
     * resized window is followed from the next task on).
     *
     * @param out where lines are printed (each draw is flushed; the stream is never closed); not null
     * @return a drawing reporter; {@link #enabled()} is true
     * @throws NullPointerException when {@code out} is null
     */
    public static Progress to(PrintStream out) {
        return to(out, System::nanoTime, 100_000_000L, Progress::terminalColumns);
    }

    /**
     * A reporter that always draws on {@code out} as if on an 80-column terminal, with the clock and
     * redraw interval given (for tests: a fake clock makes rates and throttling deterministic).
     *
     * @param out where lines are printed (each draw is flushed; the stream is never closed); not null
     * @param nanoClock the time in nanoseconds, monotonic, as {@link System#nanoTime()}; not null
     * @param minRedrawNanos the least time in nanoseconds between two redraws by {@code advance} or
     *     {@code set}; 0 or less redraws on every call
     * @return a drawing reporter; {@link #enabled()} is true
     * @throws NullPointerException when {@code out} or {@code nanoClock} is null
     */
    public static Progress to(PrintStream out, LongSupplier nanoClock, long minRedrawNanos) {
        return to(out, nanoClock, minRedrawNanos, () -> DEFAULT_COLUMNS);
    }

    /**
     * A reporter that always draws on {@code out}, with the clock, redraw interval and terminal
     * width given; {@code columns} is asked when each task starts.
     *
     * @param out where lines are printed (each draw is flushed; the stream is never closed); not null
     * @param nanoClock the time in nanoseconds, monotonic, as {@link System#nanoTime()}; not null
     * @param minRedrawNanos the least time in nanoseconds between two redraws by {@code advance} or
     *     {@code set}; 0 or less redraws on every call
     * @param columns the terminal's width in columns, asked once as each task starts; a width under
     *     20 counts as 20; not null
     * @return a drawing reporter; {@link #enabled()} is true
     * @throws NullPointerException when {@code out}, {@code nanoClock} or {@code columns} is null
     */
    public static Progress to(PrintStream out, LongSupplier nanoClock, long minRedrawNanos, IntSupplier columns) {
        Objects.requireNonNull(out, "out");
        Objects.requireNonNull(nanoClock, "nanoClock");
        Objects.requireNonNull(columns, "columns");
        return new Progress() {
            @Override
            public Task start(String label, long total, Unit unit, long alreadyDone) {
                return new LineTask(out, nanoClock, minRedrawNanos, label, total, unit, alreadyDone,
                        columns.getAsInt());
            }

            @Override
            public boolean enabled() {
                return true;
            }
        };
    }

    /**
     * Whether standard error is an interactive terminal. Java has no isatty(2): on Linux the link
     * {@code /proc/self/fd/2} names the terminal device. Elsewhere {@code System.console()}, null
     * when stdin or stdout is redirected (from Java 22 it may be non-null without a terminal, so
     * {@code Console.isTerminal()} is asked where the running JVM has it).
     */
    static boolean isTerminal() {
        Path fd2 = Path.of("/proc/self/fd/2");
        if (Files.isSymbolicLink(fd2)) {
            try {
                String target = Files.readSymbolicLink(fd2).toString();
                return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
            } catch (IOException | RuntimeException e) {
                // fall through to the console test
            }
        }
        Console console = System.console();
        if (console == null) {
            return false;
        }
        try {
            Method m = Console.class.getMethod("isTerminal");
            return (Boolean) m.invoke(console);
        } catch (NoSuchMethodException e) {
            return true; // Java 17-21: a non-null console means a terminal
        } catch (ReflectiveOperationException | RuntimeException e) {
            return false;
        }
    }

    /** The width assumed when the terminal's is unknown. */
    public static final int DEFAULT_COLUMNS = 80;
    /** Narrower than this, lines are drawn as if the terminal had this many columns. */
    static final int MIN_COLUMNS = 20;

    private static volatile Integer sttyColumns;

    /**
     * The width of the terminal in columns: {@code $COLUMNS} when it holds a positive number (shells
     * set it, but export it only when asked, so it is usually absent for a child process), else
     * what {@code stty size} says for the controlling terminal {@code /dev/tty} (asked once per
     * process, at most half a second), else {@value #DEFAULT_COLUMNS}. The {@code stty} answer,
     * or its absence, is kept for the rest of the process; {@code $COLUMNS} is read on every call.
     * {@code stty} is not tried on Windows.
     *
     * @return the width in columns, positive
     */
    public static int terminalColumns() {
        return terminalColumns(System.getenv(), Progress::sttyColumns);
    }

    /** {@link #terminalColumns()} with the environment and the terminal query given (for tests). */
    static int terminalColumns(Map<String, String> env, IntSupplier query) {
        int fromEnv = positive(env.get("COLUMNS"));
        if (fromEnv > 0) return fromEnv;
        int asked = query.getAsInt();
        return asked > 0 ? asked : DEFAULT_COLUMNS;
    }

    /** A positive decimal number, or 0 for null, garbage or a non-positive value. */
    static int positive(String s) {
        if (s == null) return 0;
        try {
            int n = Integer.parseInt(s.strip());
            return Math.max(0, n);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** Columns of the controlling terminal from {@code stty size} ("rows cols"), 0 when unknown. */
    private static int sttyColumns() {
        Integer cached = sttyColumns;
        if (cached != null) return cached;
        int cols = 0;
        File tty = new File("/dev/tty");
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("windows") && tty.canRead()) {
            try {
                Process p = new ProcessBuilder("stty", "size").redirectInput(tty)
                        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
                try (InputStream in = p.getInputStream()) {
                    if (p.waitFor(500, TimeUnit.MILLISECONDS) && p.exitValue() == 0) {
                        String[] parts = new String(in.readAllBytes(), StandardCharsets.US_ASCII).strip().split("\\s+");
                        if (parts.length == 2) cols = positive(parts[1]);
                    } else {
                        p.destroy();
                    }
                }
            } catch (IOException | RuntimeException e) {
                cols = 0; // no stty, no terminal: the default
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        sttyColumns = cols;
        return cols;
    }

    /** Draws one task as a line that overwrites itself with {@code \r}. */
    private static final class LineTask implements Task {
        private static final int BAR = 20;
        private static final int MIN_BAR = 10;

        private final PrintStream out;
        private final LongSupplier clock;
        private final long minRedrawNanos;
        private final String label;
        private final long total;
        private final Unit unit;
        private final long startNanos;
        private long startDone;  // amount done when the task started (not counted in the rate)
        private long done;
        private final int columns;
        private long lastDraw = Long.MIN_VALUE;
        private int lastWidth;
        private boolean closed;

        LineTask(PrintStream out, LongSupplier clock, long minRedrawNanos, String label, long total,
                Unit unit, long alreadyDone, int columns) {
            this.columns = columns;
            this.out = out;
            this.clock = clock;
            this.minRedrawNanos = minRedrawNanos;
            this.label = label;
            this.total = total;
            this.unit = unit;
            this.startNanos = clock.getAsLong();
            this.startDone = Math.max(0, alreadyDone);
            this.done = this.startDone;
            draw(false);
        }

        @Override
        public void advance(long n) {
            set(done + n);
        }

        @Override
        public void set(long value) {
            if (closed) {
                return;
            }
            if (value < startDone) {
                // Work restarted below where it began (a download the server would not resume).
                startDone = value;
            }
            done = value;
            long now = clock.getAsLong();
            if (now - lastDraw >= minRedrawNanos) {
                draw(false);
            }
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            draw(true);
            closed = true;
        }

        private void draw(boolean last) {
            long now = clock.getAsLong();
            lastDraw = now;
            String line = render(label, done, total, unit, now - startNanos, done - startDone, columns);
            // Pad over the previous, possibly longer, line (both fit the width, so the padding does).
            int pad = Math.max(0, lastWidth - line.length());
            lastWidth = line.length();
            out.print("\r" + line + " ".repeat(pad) + (last ? "\n" : ""));
            out.flush();
        }
    }

    /**
     * The text of a progress line, at most {@code columns − 1} characters long (the last column is
     * left free: writing it makes some terminals wrap at once, and the next {@code \r} would then
     * return to a new row). Parts are dropped in this order until the line fits: the rate, the
     * amounts ("12 / 60"), then the bar shrinks from 20 to 10 cells and goes; the percentage and
     * the time left stay; last the label is shortened with "..." and, on a terminal narrower than
     * anything useful, the line is cut. {@code columns} below {@value #MIN_COLUMNS} count as
     * {@value #MIN_COLUMNS}.
     *
     * @param done          amount done
     * @param total         amount that means done, negative when unknown
     * @param elapsedNanos  time since the task started
     * @param doneSinceStart amount done since the task started (excludes resumed work), for the rate
     * @param columns       the terminal's width
     */
    static String render(String label, long done, long total, Unit unit, long elapsedNanos,
            long doneSinceStart, int columns) {
        int max = Math.max(MIN_COLUMNS, columns) - 1;
        String percent = null;
        double frac = 0;
        String amounts;
        if (total > 0) {
            frac = Math.min(1.0, Math.max(0.0, (double) done / total));
            percent = String.format(Locale.ROOT, "%3d%%", (int) Math.floor(frac * 100));
            amounts = amount(done, unit) + " / " + amount(total, unit);
        } else {
            amounts = amount(done, unit);
        }
        String rate = null;
        String eta = null;
        double seconds = elapsedNanos / 1e9;
        if (seconds > 0 && doneSinceStart > 0) {
            double perSecond = doneSinceStart / seconds;
            rate = unit == Unit.BYTES ? bytes(perSecond) + "/s" : String.format(Locale.ROOT, "%.1f it/s", perSecond);
            if (total > 0 && done < total) eta = "ETA " + duration((long) Math.ceil((total - done) / perSecond));
        }
        // Candidates from the fullest to the barest; the first that fits wins.
        List<String> candidates = new ArrayList<>();
        if (total > 0) {
            candidates.add(line(label, frac, LineTask.BAR, percent, amounts, rate, eta));
            candidates.add(line(label, frac, LineTask.BAR, percent, amounts, null, eta));
            for (int bar = LineTask.BAR; bar >= LineTask.MIN_BAR; bar--) {
                candidates.add(line(label, frac, bar, percent, null, null, eta));
            }
            candidates.add(line(label, frac, 0, percent, null, null, eta));
        } else {
            candidates.add(line(label, 0, 0, null, amounts, rate, null));
            candidates.add(line(label, 0, 0, null, amounts, null, null));
        }
        for (String c : candidates) {
            if (c.length() <= max) return c;
        }
        // Even the barest line is too long: shorten the label.
        String rest = candidates.get(candidates.size() - 1).substring(label.length());
        int room = max - rest.length();
        if (room >= 4) return label.substring(0, room - 3) + "..." + rest;
        String cut = candidates.get(candidates.size() - 1);
        return cut.substring(0, Math.min(cut.length(), max));
    }

    /** One line from its parts; a null part (or a bar of 0 cells) is left out. */
    private static String line(String label, double frac, int bar, String percent, String amounts, String rate,
            String eta) {
        StringBuilder sb = new StringBuilder(label);
        if (bar > 0) {
            int filled = (int) Math.floor(frac * bar);
            sb.append(" [").append("#".repeat(filled)).append(".".repeat(bar - filled)).append("]");
        }
        if (percent != null) sb.append(bar > 0 ? " " + percent : "  " + percent.strip());
        if (amounts != null) sb.append("  ").append(amounts);
        if (rate != null) sb.append("  ").append(rate);
        if (eta != null) sb.append("  ").append(eta);
        return sb.toString();
    }

    private static String amount(long n, Unit unit) {
        return unit == Unit.BYTES ? bytes(n) : Long.toString(n);
    }

    /** Binary-prefixed size: "512 B", "1.5 KiB", "335.4 MiB". */
    static String bytes(double n) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        int i = 0;
        while (n >= 1024 && i < units.length - 1) {
            n /= 1024;
            i++;
        }
        return i == 0 ? String.format(Locale.ROOT, "%d B", (long) n)
                : String.format(Locale.ROOT, "%.1f %s", n, units[i]);
    }

    private static String duration(long seconds) {
        long h = seconds / 3600, m = (seconds / 60) % 60, s = seconds % 60;
        return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, s)
                : String.format(Locale.ROOT, "%d:%02d", m, s);
    }
}

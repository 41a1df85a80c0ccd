package org.clipsurgery.progress;

import java.io.Console;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.util.Locale;
import java.util.Objects;
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
 * <p>{@link #stderr()} draws on standard error only when it is a terminal, so logs, pipes and
 * tests stay clean; {@link #none()} never draws (for library use). Usage:
 *
 * <pre>{@code
 * try (Progress.Task task = Progress.stderr().start("images", paths.size(), Progress.Unit.ITEMS)) {
 *     for (Path p : paths) { process(p); task.advance(1); }
 * }
 * }</pre>
 *
 * <p>A task is meant to be advanced from one thread at a time.
 */
public abstract class Progress {

    /** What a task counts: bytes are shown with binary prefixes, items as plain numbers. */
    public enum Unit { BYTES, ITEMS }

    /** One piece of work being reported. Closing it finishes the line. */
    public interface Task extends AutoCloseable {
        /** Adds {@code n} to the amount done. */
        void advance(long n);

        /** Sets the amount done (for work that restarts or resumes part-way). */
        void set(long done);

        /** Finishes the line. Idempotent. */
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
     * Starts reporting a task.
     *
     * @param label shown at the start of the line (a file name, "labels", "images")
     * @param total the amount that means done, or a negative value when unknown (no bar then)
     * @param unit  what is counted
     */
    public Task start(String label, long total, Unit unit) {
        return start(label, total, unit, 0);
    }

    /**
     * Starts reporting a task that resumes part-way (a partial download): the rate and time left
     * count only the work done from now on.
     *
     * @param alreadyDone the amount done before this task started
     */
    public abstract Task start(String label, long total, Unit unit, long alreadyDone);

    /** Whether this reporter draws anything. */
    public abstract boolean enabled();

    /** A reporter that never draws. */
    public static Progress none() {
        return NONE;
    }

    /** A reporter drawing on standard error when it is a terminal, otherwise {@link #none()}. */
    public static Progress stderr() {
        return isTerminal() ? to(System.err) : NONE;
    }

    /** A reporter that always draws on {@code out}, redrawing at most every 100 ms. */
    public static Progress to(PrintStream out) {
        return to(out, System::nanoTime, 100_000_000L);
    }

    /**
     * A reporter that always draws on {@code out}, with the clock and redraw interval given (for
     * tests: a fake clock makes rates and throttling deterministic).
     */
    public static Progress to(PrintStream out, LongSupplier nanoClock, long minRedrawNanos) {
        Objects.requireNonNull(out, "out");
        Objects.requireNonNull(nanoClock, "nanoClock");
        return new Progress() {
            @Override
            public Task start(String label, long total, Unit unit, long alreadyDone) {
                return new LineTask(out, nanoClock, minRedrawNanos, label, total, unit, alreadyDone);
            }

            @Override
            public boolean enabled() {
                return true;
            }
        };
    }

    /**
     * Whether standard error is an interactive terminal. {@code System.console()} is null when
     * stdin or stdout is redirected; from Java 22 it may be non-null without a terminal, so
     * {@code Console.isTerminal()} is asked where the running JVM has it.
     */
    static boolean isTerminal() {
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

    /** Draws one task as a line that overwrites itself with {@code \r}. */
    private static final class LineTask implements Task {
        private static final int BAR = 20;

        private final PrintStream out;
        private final LongSupplier clock;
        private final long minRedrawNanos;
        private final String label;
        private final long total;
        private final Unit unit;
        private final long startNanos;
        private long startDone;  // amount done when the task started (not counted in the rate)
        private long done;
        private long lastDraw = Long.MIN_VALUE;
        private int lastWidth;
        private boolean closed;

        LineTask(PrintStream out, LongSupplier clock, long minRedrawNanos, String label, long total,
                Unit unit, long alreadyDone) {
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
            String line = render(label, done, total, unit, now - startNanos, done - startDone);
            // Pad over the previous, possibly longer, line.
            int pad = Math.max(0, lastWidth - line.length());
            lastWidth = line.length();
            out.print("\r" + line + " ".repeat(pad) + (last ? "\n" : ""));
            out.flush();
        }
    }

    /**
     * The text of a progress line.
     *
     * @param done          amount done
     * @param total         amount that means done, negative when unknown
     * @param elapsedNanos  time since the task started
     * @param doneSinceStart amount done since the task started (excludes resumed work), for the rate
     */
    static String render(String label, long done, long total, Unit unit, long elapsedNanos,
            long doneSinceStart) {
        StringBuilder sb = new StringBuilder(label);
        if (total > 0) {
            double frac = Math.min(1.0, Math.max(0.0, (double) done / total));
            int filled = (int) Math.floor(frac * LineTask.BAR);
            sb.append(" [").append("#".repeat(filled)).append(".".repeat(LineTask.BAR - filled))
                    .append("] ").append(String.format(Locale.ROOT, "%3d%%", (int) Math.floor(frac * 100)));
            sb.append("  ").append(amount(done, unit)).append(" / ").append(amount(total, unit));
        } else {
            sb.append("  ").append(amount(done, unit));
        }
        double seconds = elapsedNanos / 1e9;
        if (seconds > 0 && doneSinceStart > 0) {
            double rate = doneSinceStart / seconds;
            sb.append("  ").append(unit == Unit.BYTES ? bytes(rate) + "/s"
                    : String.format(Locale.ROOT, "%.1f it/s", rate));
            if (total > 0 && done < total) {
                sb.append("  ETA ").append(duration((long) Math.ceil((total - done) / rate)));
            }
        }
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

package org.clipsurgery.cli;

import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code clip-surgery} command line: CLIP Surgery maps, label maps, SAM points and scores for
 * image files, plus model download, conversion and a benchmark.
 *
 * <pre>
 * ./clip-surgery explain --model ViT-B/16 --image photo.jpg --labels person,bench,sky --out maps/
 * </pre>
 *
 * <p>Errors: a mistake on the command line (an unknown option, a bad value, a missing input
 * file, an unknown model name or label, a resolution the model cannot take) prints one line
 * {@code clip-surgery: error: ...} on standard error and exits with 2; a failure while working (a
 * corrupt file, a download that fails) prints one such line and exits with 1. {@code --debug}
 * adds the stack trace.
 */
@Command(name = "clip-surgery",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "CLIP Surgery on OpenAI CLIP models: where in an image the model sees each label.",
            "Models are OpenAI's names (RN50, RN101, RN50x4, RN50x16, RN50x64, ViT-B/32, ViT-B/16, ViT-L/14,"
                    + " ViT-L/14@336px; a CS- prefix is accepted), downloaded once to ~/.cache/clip"
                    + " ($CLIP_SURGERY_CACHE), or a local checkpoint file (OpenAI TorchScript .pt,"
                    + " torch.save state dict, safetensors)."
        },
        subcommands = {
            ExplainCommand.class,
            SegmentCommand.class,
            PointsCommand.class,
            ClassifyCommand.class,
            CompareCommand.class,
            ConvertCommand.class,
            DownloadCommand.class,
            BenchCommand.class,
            CommandLine.HelpCommand.class
        },
        footer = {"", "Run 'clip-surgery COMMAND --help' for a command's options."})
public final class Main implements Runnable {
    /** Exit status for a wrong command line. */
    public static final int EXIT_USAGE = 2;
    /** Exit status for a failure while working. */
    public static final int EXIT_FAILURE = 1;

    static final String PROGRAM = "clip-surgery";

    @Spec
    CommandSpec spec;

    @Option(names = "--debug", scope = ScopeType.INHERIT,
            description = "Print the stack trace of an error (for bug reports).")
    boolean debug;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing command: one of "
                + String.join(", ", spec.subcommands().keySet().stream().filter(n -> !n.equals("help")).toList()));
    }

    /** Runs the command line and exits the JVM with its status. */
    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line with the given streams and returns the exit status (for tests and embedding). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        boolean debug = Arrays.asList(args).contains("--debug");
        CommandLine cl = commandLine(debug);
        cl.setOut(out);
        cl.setErr(err);
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            // picocli passes Errors through; a big model or image set can exhaust the heap.
            err.println(PROGRAM + ": error: out of memory (" + oneLine(e.getMessage())
                    + "); try fewer images per batch (--batch) or more heap (JAVA_OPTS=-Xmx...)");
            if (debug) e.printStackTrace(err);
            err.flush();
            return EXIT_FAILURE;
        } finally {
            out.flush();
            err.flush();
        }
    }

    /** The configured picocli command line: case-insensitive enums, one-line errors. */
    static CommandLine commandLine(boolean debug) {
        CommandLine cl = new CommandLine(new Main());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            String command = ex.getCommandLine().getCommandSpec().qualifiedName();
            err.println(PROGRAM + ": error: " + oneLine(ex.getMessage()) + " (see '" + command + " --help')");
            if (debug) ex.printStackTrace(err);
            err.flush();
            return EXIT_USAGE;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            err.println(PROGRAM + ": error: " + describe(ex, debug));
            if (debug) ex.printStackTrace(err);
            err.flush();
            return isUsage(ex) ? EXIT_USAGE : EXIT_FAILURE;
        });
        return cl;
    }

    /** Mistakes in what the user asked for, as opposed to failures while doing it. */
    static boolean isUsage(Throwable ex) {
        return ex instanceof UsageException || ex instanceof IllegalArgumentException;
    }

    /** One line saying what went wrong, without the exception's class name where the message says it all. */
    static String describe(Throwable ex, boolean debug) {
        String msg = oneLine(ex.getMessage());
        if (ex instanceof NoSuchFileException) return "no such file: " + msg;
        if (ex instanceof AccessDeniedException) return "permission denied: " + msg;
        if (ex instanceof FileAlreadyExistsException) return "already exists: " + msg;
        if (ex instanceof NotDirectoryException) return "not a directory: " + msg;
        if (ex instanceof UsageException || ex instanceof IllegalArgumentException
                || ex instanceof UnsupportedOperationException || ex instanceof java.io.IOException
                || ex instanceof IllegalStateException
                || ex instanceof org.clipsurgery.nativeapi.NativeException
                || ex instanceof org.clipsurgery.CudaException) {
            return msg.isEmpty() ? ex.getClass().getSimpleName() : msg;
        }
        // Anything else is a bug or a native failure: say what it was so it can be reported.
        return "internal error: " + ex.getClass().getName() + (msg.isEmpty() ? "" : ": " + msg)
                + (debug ? "" : " (run again with --debug for the stack trace)");
    }

    /** The first line of a message (LibTorch errors carry C++ backtraces), trimmed; "" for null. */
    static String oneLine(String message) {
        if (message == null) return "";
        String s = message.strip();
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }
}

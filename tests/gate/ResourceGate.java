// Resource gate: what ptxas gives every kernel (registers, spills, stack, static shared memory)
// for each target architecture, joined with the largest launches the SIMT emulation saw
// (tests/emu/runtime.cpp writes them with CS_EMU_LAUNCH_LOG), so that a kernel that would spill,
// or would not fit its block's registers or shared memory on a real GPU, fails on a machine
// without one. Java 17, no dependencies, run from the project root:
//
//   CS_EMU_LAUNCH_LOG=launches.tsv CS_EMU_QUIET=1 build/emu/bin/test-native-emu
//   java tests/gate/ResourceGate.java --launch-log launches.tsv [--out resources.md]
//
// Options: --sources DIR (cuda), --archs 80,86,87,89,90 (the product build's), --nvcc PATH (nvcc),
// --include DIR (repeatable; default include, native, cuda), --jobs N (2 compiles at once),
// --launch-log FILE or --no-launch-log (ptxas rules only), --out FILE (the table as markdown),
// --no-fma SOURCE:KERNEL (repeatable: a kernel whose arithmetic must equal its CPU twin's bit for
// bit, which is built without FMA contraction; its PTX may then hold no fused multiply-add).
// Exit status: 0 every kernel passes, 1 a rule failed, 2 a usage, compile or input error.
// Without nvcc, or without the launch log (CMake builds the emulation only where it finds CUDA's
// headers), the gate says so and passes; with CLIP_SURGERY_CI=1 (CI) either is an error.

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletionService;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

public class ResourceGate {

    static final String USAGE = """
            usage: java tests/gate/ResourceGate.java (--launch-log FILE | --no-launch-log) [--sources DIR]
                   [--archs 80,86,87,89,90] [--nvcc PATH] [--include DIR]... [--jobs N] [--out FILE]
                   [--no-fma SOURCE:KERNEL]...""";

    static final int DEFAULT_SHARED = 48 * 1024; // per block without the cudaFuncSetAttribute opt-in
    static final int REGISTER_FILE = 65536;      // registers a block may hold, sm_80 to sm_90
    static final int MAX_REGISTERS = 255;        // per thread
    static final int REGISTER_GRANULE = 256;     // registers are allocated per warp in units of 256

    // The largest dynamic shared memory a block may opt in to (CUDA C++ Programming Guide,
    // "Technical Specifications per Compute Capability"); an arch missing here has no rule 3.
    static final Map<Integer, Integer> OPT_IN_SHARED =
            Map.of(80, 163 * 1024, 86, 99 * 1024, 87, 163 * 1024, 89, 99 * 1024, 90, 227 * 1024);

    /** A setup problem (arguments, a failed compile, unreadable input): exit 2, not a verdict. */
    static final class GateError extends RuntimeException {
        GateError(String message) {
            super(message);
        }
    }

    record Options(Path sources, List<Integer> archs, String nvcc, List<String> includes, int jobs, Path launchLog,
                   Path out, List<String> noFma) {

        static Options parse(String[] args) {
            Path sources = Path.of("cuda"), launchLog = null, out = null;
            List<Integer> archs = List.of(80, 86, 87, 89, 90);
            String nvcc = "nvcc";
            List<String> includes = new ArrayList<>(), noFma = new ArrayList<>();
            int jobs = 2;
            boolean noLaunchLog = false;
            Iterator<String> it = Arrays.asList(args).iterator();
            while (it.hasNext()) {
                String option = it.next();
                Supplier<String> value = () -> {
                    if (!it.hasNext()) throw new GateError(option + " needs a value\n" + USAGE);
                    return it.next();
                };
                switch (option) {
                    case "--sources" -> sources = Path.of(value.get());
                    case "--archs" -> archs = parseArchs(value.get());
                    case "--nvcc" -> nvcc = value.get();
                    case "--include" -> includes.add(value.get());
                    case "--jobs" -> jobs = parsePositive(option, value.get());
                    case "--launch-log" -> launchLog = Path.of(value.get());
                    case "--no-launch-log" -> noLaunchLog = true;
                    case "--out" -> out = Path.of(value.get());
                    case "--no-fma" -> {
                        String v = value.get();
                        if (!v.matches("[^:]+\\.cu:\\w+")) throw new GateError("--no-fma: expected SOURCE.cu:KERNEL, got " + v);
                        noFma.add(v);
                    }
                    default -> throw new GateError("unknown option " + option + "\n" + USAGE);
                }
            }
            if ((launchLog == null) == !noLaunchLog)
                throw new GateError("give exactly one of --launch-log FILE and --no-launch-log\n" + USAGE);
            if (includes.isEmpty()) includes = List.of("include", "native", "cuda");
            return new Options(sources, archs, nvcc, includes, jobs, launchLog, out, noFma);
        }

        /** "80,86,90", "sm_90", or CMake's "80-real;86-real;90-real;90-virtual" (pom.xml's cuda.archs). */
        static List<Integer> parseArchs(String list) {
            List<Integer> archs = new ArrayList<>();
            for (String a : list.split("[,;]")) {
                int arch = parsePositive("--archs", a.trim().replaceFirst("^sm_", "").replaceFirst("-(real|virtual)$", ""));
                if (archs.contains(arch)) continue;
                if (!OPT_IN_SHARED.containsKey(arch))
                    throw new GateError("--archs: no shared-memory limits known for sm_" + arch + " (known: "
                            + new TreeMap<>(OPT_IN_SHARED).keySet() + ")");
                archs.add(arch);
            }
            return archs;
        }

        static int parsePositive(String option, String text) {
            try {
                int n = Integer.parseInt(text);
                if (n > 0) return n;
            } catch (NumberFormatException e) {
                // reported below, as for a number that is not positive
            }
            throw new GateError(option + ": expected a positive number, got '" + text + "'");
        }
    }

    // ---- compiling ------------------------------------------------------------------------------

    /** What ptxas reports for one entry function on one arch. */
    record Resources(String mangled, int registers, int stackFrame, int spillStores, int spillLoads, int staticShared) {
        boolean spills() {
            return spillStores > 0 || spillLoads > 0;
        }
    }

    record Compile(Path source, int arch) {
        List<String> command(Options o) {
            List<String> command = new ArrayList<>(List.of(o.nvcc(), "-cubin", "-arch=sm_" + arch, "-std=c++17", "-O3",
                    "-Xptxas", "-v"));
            o.includes().forEach(dir -> command.add("-I" + dir));
            command.addAll(List.of(source.toString(), "-o", "/dev/null"));
            return command;
        }

        String label() {
            return source.getFileName() + " sm_" + arch;
        }
    }

    record Compiled(Compile compile, List<Resources> kernels, double seconds) {}

    // Compiles still running when the gate exits early (a failed compile, Ctrl-C) are killed with
    // their children (cicc, ptxas) rather than left to finish unobserved.
    static final Set<Process> running = ConcurrentHashMap.newKeySet();

    static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }

    /** Runs a command and returns its output (stdout and stderr together: ptxas -v writes to stderr). */
    static String run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            running.add(p);
            try {
                p.getOutputStream().close();
                String output = new String(p.getInputStream().readAllBytes());
                int status = p.waitFor();
                if (status != 0)
                    throw new GateError(String.join(" ", command) + "\nfailed (exit status " + status + "):\n" + output);
                return output;
            } finally {
                running.remove(p);
            }
        } catch (IOException e) {
            throw new GateError("cannot run " + command.get(0) + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GateError("interrupted: " + String.join(" ", command));
        }
    }

    static final Pattern ENTRY = Pattern.compile("Compiling entry function '([^']+)' for 'sm_(\\d+)");
    static final Pattern PROPERTIES = Pattern.compile("Function properties for '?([^'\\s]+)");
    static final Pattern FRAME =
            Pattern.compile("(\\d+) bytes stack frame, (\\d+) bytes spill stores, (\\d+) bytes spill loads");
    static final Pattern USED = Pattern.compile("Used (\\d+) registers");
    static final Pattern SHARED = Pattern.compile("(\\d+) bytes smem"); // absent when 0

    /**
     * ptxas -v reports an entry function as "Compiling entry function", its "Function properties"
     * (stack frame, spills) and a "Used N registers" line. A non-inlined device function gets a
     * "Function properties" block of its own, before or after its callers: it belongs to no
     * entry, so only the block named after the entry being compiled counts.
     */
    static List<Resources> parsePtxas(Compile c, String output) {
        List<Resources> kernels = new ArrayList<>();
        String entry = null, properties = null;
        int[] frame = null;
        for (String line : output.split("\n")) {
            Matcher m;
            if ((m = ENTRY.matcher(line)).find()) {
                if (entry != null) throw parseError(c, "no \"Used N registers\" line for " + entry);
                if (Integer.parseInt(m.group(2)) != c.arch()) throw parseError(c, "compiled for sm_" + m.group(2));
                entry = m.group(1);
                frame = null;
            } else if ((m = PROPERTIES.matcher(line)).find()) {
                properties = m.group(1);
            } else if ((m = FRAME.matcher(line)).find()) {
                if (entry != null && entry.equals(properties))
                    frame = new int[] {number(m, 1), number(m, 2), number(m, 3)};
            } else if ((m = USED.matcher(line)).find() && entry != null) {
                if (frame == null) throw parseError(c, "no stack frame and spill line for " + entry);
                Matcher shared = SHARED.matcher(line);
                kernels.add(new Resources(entry, number(m, 1), frame[0], frame[1], frame[2],
                        shared.find() ? number(shared, 1) : 0));
                entry = null;
            }
        }
        if (entry != null) throw parseError(c, "no \"Used N registers\" line for " + entry);
        return kernels;
    }

    static int number(Matcher m, int group) {
        return Integer.parseInt(m.group(group));
    }

    static GateError parseError(Compile c, String problem) {
        return new GateError("ptxas output of " + c.label() + " not understood: " + problem);
    }

    /** Every source for every arch, `jobs` compiles at a time; the first failure ends the gate. */
    static List<Compiled> compileAll(Options o) throws InterruptedException {
        List<Path> sources;
        try (Stream<Path> files = Files.list(o.sources())) {
            // The largest sources first, so that the slowest compiles do not start last.
            sources = files.filter(f -> f.toString().endsWith(".cu"))
                    .sorted(Comparator.comparingLong(ResourceGate::size).reversed()).toList();
        } catch (IOException e) {
            throw new GateError("cannot list " + o.sources() + ": " + e);
        }
        if (sources.isEmpty()) throw new GateError("no .cu files in " + o.sources());
        List<Compile> compiles = new ArrayList<>();
        for (Path source : sources)
            for (int arch : o.archs()) compiles.add(new Compile(source, arch));

        ExecutorService pool = Executors.newFixedThreadPool(o.jobs(), task -> {
            Thread t = new Thread(task);
            t.setDaemon(true); // an early exit does not wait for compiles still running
            return t;
        });
        CompletionService<Compiled> done = new ExecutorCompletionService<>(pool);
        for (Compile c : compiles)
            done.submit(() -> {
                long start = System.nanoTime();
                List<Resources> kernels = parsePtxas(c, run(c.command(o)));
                return new Compiled(c, kernels, (System.nanoTime() - start) / 1e9);
            });
        List<Compiled> results = new ArrayList<>();
        try {
            for (int n = 1; n <= compiles.size(); n++) {
                Compiled r = done.take().get();
                results.add(r);
                System.err.printf("[%d/%d] %s: %d kernels, %.1f s%n", n, compiles.size(), r.compile().label(),
                        r.kernels().size(), r.seconds());
            }
        } catch (ExecutionException e) {
            throw e.getCause() instanceof GateError g ? g : new GateError(e.getCause().toString());
        } finally {
            pool.shutdownNow(); // after a failure, queued compiles must not start
        }
        return results;
    }

    static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0;
        }
    }

    // ---- the launch log -------------------------------------------------------------------------

    /** One kernel's launches in the emulated suite (a line of CS_EMU_LAUNCH_LOG). */
    record Launches(long launches, int maxThreads, long maxDynamic, long dynamicLimit, String name) {
        boolean optedIn() {
            return dynamicLimit > DEFAULT_SHARED;
        }
    }

    static final Pattern ANONYMOUS = Pattern.compile("(\\d{1,6})(?=_GLOBAL__N_)");
    static final String GXX_ANONYMOUS = "12_GLOBAL__N_1";

    /**
     * One spelling of a kernel's mangled name for g++ and nvcc. They differ only in the anonymous
     * namespace: g++ writes 12_GLOBAL__N_1, nvcc a name unique to the translation unit,
     * <len>_GLOBAL__N__<hash>_<n>_<file>_cu_<hash>. Its length prefix, not a pattern, says where it
     * ends: the hash runs into the next name's length (..._cu_b0743f4221attention_dual_kernel).
     */
    static String normalise(String mangled) {
        StringBuilder out = new StringBuilder();
        Matcher m = ANONYMOUS.matcher(mangled);
        int from = 0;
        while (m.find(from)) {
            int end = m.end() + Integer.parseInt(m.group(1));
            if (end > mangled.length()) break; // not a length prefix after all: keep the rest as it is
            out.append(mangled, from, m.start()).append(GXX_ANONYMOUS);
            from = end;
        }
        return out.append(mangled, from, mangled.length()).toString();
    }

    /** The launch log by normalised mangled name; kernels never launched (only opted in) are left out. */
    static Map<String, Launches> readLaunchLog(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new GateError("cannot read the launch log " + file + ": " + e);
        }
        Map<String, Launches> log = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank() || line.startsWith("#")) continue;
            String[] f = line.split("\t", -1);
            try {
                if (f.length != 7) throw new NumberFormatException(f.length + " columns, expected 7");
                Launches l = new Launches(Long.parseLong(f[1]), Integer.parseInt(f[2]), Long.parseLong(f[3]),
                        Long.parseLong(f[5]), f[6]);
                if (l.launches() > 0) log.put(normalise(f[0]), l);
            } catch (NumberFormatException e) {
                throw new GateError(file + ":" + (i + 1) + ": not a launch log line (" + e.getMessage() + "): " + line);
            }
        }
        return log;
    }

    // ---- the rules --------------------------------------------------------------------------------

    enum Rule {
        SPILLS("spills"),
        REGISTERS("registers"),
        SHARED("shared memory"),
        LAUNCH_BOUNDS("more threads than __launch_bounds__ allows (the launch fails on a GPU)"),
        NOT_LAUNCHED("not launched by the emulated suite: add a test that runs it");

        final String text;

        Rule(String text) {
            this.text = text;
        }

        String label() {
            return this == NOT_LAUNCHED ? "not launched" : text;
        }
    }

    /** A broken rule; `numbers` is empty where there are none (NOT_LAUNCHED). */
    record Failure(Rule rule, String numbers) {
        String message() {
            return numbers.isEmpty() ? rule.text : rule.text + ": " + numbers;
        }
    }

    /**
     * One kernel of one source: ptxas's resources per arch, its launches (null: none), and the
     * threads per block its __launch_bounds__ allow (0: no bound).
     */
    record Kernel(Path source, String name, Map<Integer, Resources> perArch, Launches launches, int launchBound) {}

    /** The rules for one kernel on one arch; `checkLaunches` is false with --no-launch-log. */
    static List<Failure> check(Resources r, Launches l, int launchBound, int arch, boolean checkLaunches) {
        List<Failure> failures = new ArrayList<>();
        if (r.spills())
            failures.add(new Failure(Rule.SPILLS, r.spillStores() + " bytes stored, " + r.spillLoads()
                    + " bytes loaded (" + r.registers() + " registers, stack frame " + r.stackFrame() + " bytes)"));
        if (!checkLaunches) return failures;
        if (l == null) {
            failures.add(new Failure(Rule.NOT_LAUNCHED, ""));
            return failures;
        }
        if (launchBound > 0 && l.maxThreads() > launchBound)
            failures.add(new Failure(Rule.LAUNCH_BOUNDS, l.maxThreads() + " threads > " + launchBound));
        long warps = (l.maxThreads() + 31) / 32;
        long perWarp = ceil(r.registers() * 32L, REGISTER_GRANULE);
        if (r.registers() > MAX_REGISTERS)
            failures.add(new Failure(Rule.REGISTERS, r.registers() + " per thread > " + MAX_REGISTERS));
        else if (warps * perWarp > REGISTER_FILE)
            failures.add(new Failure(Rule.REGISTERS, r.registers() + " per thread × " + l.maxThreads() + " threads = "
                    + warps + " warps × " + perWarp + " = " + warps * perWarp + " > " + REGISTER_FILE));
        long used = r.staticShared() + l.maxDynamic();
        if (!l.optedIn() && used > DEFAULT_SHARED)
            failures.add(new Failure(Rule.SHARED, r.staticShared() + " static + " + l.maxDynamic() + " dynamic = "
                    + used + " bytes > " + DEFAULT_SHARED + " (no cudaFuncSetAttribute opt-in)"));
        if (l.optedIn()) {
            int max = OPT_IN_SHARED.get(arch);
            long reserved = r.staticShared() + l.dynamicLimit();
            if (used > max)
                failures.add(new Failure(Rule.SHARED, r.staticShared() + " static + " + l.maxDynamic() + " dynamic = "
                        + used + " bytes > " + max + " (the opt-in maximum)"));
            else if (reserved > max)
                failures.add(new Failure(Rule.SHARED, r.staticShared() + " static + " + l.dynamicLimit() + " opted in = "
                        + reserved + " bytes > " + max + " (the opt-in maximum)"));
        }
        return failures;
    }

    static long ceil(long n, long unit) {
        return (n + unit - 1) / unit * unit;
    }

    // ---- names ------------------------------------------------------------------------------------

    /**
     * Display names: the launch log's demangled name, or c++filt's for kernels it lacks (the
     * mangled name where c++filt is missing), without the anonymous namespace, the return type and
     * the parameter list; kernels that would then read alike keep their parameters.
     */
    static Map<String, String> displayNames(Collection<String> keys, Map<String, Launches> log) {
        List<String> unnamed = keys.stream().filter(k -> !log.containsKey(k)).distinct().toList();
        Map<String, String> demangled = new TreeMap<>();
        if (!unnamed.isEmpty()) {
            List<String> lines = List.of();
            try {
                lines = run(Stream.concat(Stream.of("c++filt"), unnamed.stream()).toList()).lines().toList();
            } catch (GateError e) {
                System.err.println("WARN " + e.getMessage() + ": showing mangled names");
            }
            for (int i = 0; i < unnamed.size(); i++)
                demangled.put(unnamed.get(i), lines.size() == unnamed.size() ? lines.get(i) : unnamed.get(i));
        }
        Map<String, String> full = new LinkedHashMap<>();
        for (String k : keys)
            full.put(k, (log.containsKey(k) ? log.get(k).name() : demangled.get(k))
                    .replace("(anonymous namespace)::", "").replaceFirst("^void ", ""));
        Map<String, Long> alike = full.values().stream()
                .collect(Collectors.groupingBy(ResourceGate::withoutParameters, Collectors.counting()));
        Map<String, String> names = new LinkedHashMap<>();
        full.forEach((k, name) -> {
            String brief = withoutParameters(name);
            names.put(k, alike.get(brief) > 1 ? name : brief);
        });
        return names;
    }

    /** The name without its trailing, parenthesised parameter list. */
    static String withoutParameters(String name) {
        if (!name.endsWith(")")) return name;
        int depth = 0;
        for (int i = name.length() - 1; i >= 0; i--) {
            char c = name.charAt(i);
            if (c == ')') depth++;
            else if (c == '(' && --depth == 0) return name.substring(0, i);
        }
        return name;
    }

    // ---- output -----------------------------------------------------------------------------------

    /** A column's cell: one value when every arch agrees, else "80:40 86:40 ... 90:38" ("-": no kernel). */
    static String perArch(Kernel k, List<Integer> archs, Function<Resources, String> value) {
        List<String> values = archs.stream()
                .map(a -> k.perArch().containsKey(a) ? value.apply(k.perArch().get(a)) : "-").toList();
        if (values.stream().distinct().count() == 1) return values.get(0);
        List<String> cells = new ArrayList<>();
        for (int i = 0; i < archs.size(); i++) cells.add(archs.get(i) + ":" + values.get(i));
        return String.join(" ", cells);
    }

    /** An aligned table (markdown, which reads as it is in a log too); kernel names as code in markdown. */
    static String table(List<Kernel> kernels, Map<Kernel, List<Failure>> failures, List<Integer> archs,
                        boolean markdown) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"source", "kernel", "registers", "spill st/ld", "stack", "static smem", "max threads (bound)",
                "max dyn smem", "verdict"});
        for (Kernel k : kernels) {
            Launches l = k.launches();
            List<Failure> f = failures.get(k);
            String verdict = !f.isEmpty()
                    ? "FAIL " + f.stream().map(x -> x.rule().label()).distinct().collect(Collectors.joining(", "))
                    : k.perArch().values().stream().anyMatch(r -> r.stackFrame() > 0) ? "ok (stack)" : "ok";
            rows.add(new String[] {
                k.source().getFileName().toString(),
                markdown ? "`" + k.name() + "`" : k.name(),
                perArch(k, archs, r -> String.valueOf(r.registers())),
                perArch(k, archs, r -> r.spillStores() + "/" + r.spillLoads()),
                perArch(k, archs, r -> String.valueOf(r.stackFrame())),
                perArch(k, archs, r -> String.valueOf(r.staticShared())),
                (l == null ? "-" : String.valueOf(l.maxThreads())) + (k.launchBound() > 0 ? " (" + k.launchBound() + ")" : ""),
                l == null ? "-" : l.maxDynamic() + (l.optedIn() ? " (opt-in " + l.dynamicLimit() + ")" : ""),
                verdict});
        }
        int[] width = new int[rows.get(0).length];
        for (String[] row : rows)
            for (int i = 0; i < row.length; i++) width[i] = Math.max(width[i], row[i].length());
        StringBuilder out = new StringBuilder();
        for (int r = 0; r < rows.size(); r++) {
            out.append(line(rows.get(r), width));
            if (r == 0) out.append(line(Arrays.stream(width).mapToObj("-"::repeat).toArray(String[]::new), width));
        }
        return out.toString();
    }

    static String line(String[] cells, int[] width) {
        StringBuilder out = new StringBuilder("|");
        for (int i = 0; i < cells.length; i++)
            out.append(' ').append(cells[i]).append(" ".repeat(width[i] - cells[i].length())).append(" |");
        return out.append('\n').toString();
    }

    /** "sm_80/86/90": the archs on which one kernel reports one thing. */
    static String archList(List<Integer> archs) {
        return "sm_" + archs.stream().map(String::valueOf).collect(Collectors.joining("/"));
    }

    // ---- main -------------------------------------------------------------------------------------

    static final Pattern PTX_ENTRY = Pattern.compile("\\.entry\\s+(\\S+)\\(");
    static final Pattern PTX_FMA = Pattern.compile("\\bfma\\.rn\\.f(32|64)\\b");

    /**
     * --no-fma SOURCE:KERNEL: the PTX of every entry named KERNEL in SOURCE (first arch) must hold
     * no fma.rn.f32/f64. nvcc contracts a·b + c by default; where a kernel must round as its CPU
     * twin does, its source keeps every product separate (__fmul_rn, __dmul_rn, ...). Returns a
     * failure message, or null.
     */
    static String fusedMultiplyAdds(Options o, String spec) {
        String source = spec.substring(0, spec.indexOf(':')), kernel = spec.substring(spec.indexOf(':') + 1);
        List<String> command = new ArrayList<>(List.of(o.nvcc(), "-ptx", "-arch=sm_" + o.archs().get(0), "-std=c++17", "-O3"));
        o.includes().forEach(dir -> command.add("-I" + dir));
        command.addAll(List.of(o.sources().resolve(source).toString(), "-o", "-"));
        String ptx = run(command);
        int entries = 0, fmas = 0;
        String current = null;
        for (String line : ptx.split("\n")) {
            Matcher m = PTX_ENTRY.matcher(line);
            if (m.find()) {
                current = m.group(1).contains(kernel) ? m.group(1) : null;
                if (current != null) entries++;
            } else if (current != null && PTX_FMA.matcher(line).find()) {
                fmas++;
            }
        }
        if (entries == 0) throw new GateError("--no-fma " + spec + ": no kernel named " + kernel + " in the PTX of " + source);
        System.err.printf("resource gate: %s has %d fused multiply-adds in its PTX%n", spec, fmas);
        return fmas == 0 ? null : kernel + " (" + source + ", sm_" + o.archs().get(0) + "): " + fmas
                + " fused multiply-adds in its PTX, where it must round every product as its CPU twin does";
    }

    static final Pattern MAXNTID = Pattern.compile("\\.maxntid\\s+(\\d+)(?:,\\s*(\\d+))?(?:,\\s*(\\d+))?");

    /**
     * The threads per block each kernel of `source` allows by its __launch_bounds__, by normalised
     * name: PTX states them as `.maxntid x, y, z` after the entry's parameters (architecture-
     * independent, so one compile to PTX for the first arch). Kernels without a bound are absent.
     */
    static Map<String, Integer> launchBounds(Options o, Path source) {
        List<String> command = new ArrayList<>(List.of(o.nvcc(), "-ptx", "-arch=sm_" + o.archs().get(0), "-std=c++17", "-O3"));
        o.includes().forEach(dir -> command.add("-I" + dir));
        command.addAll(List.of(source.toString(), "-o", "-"));
        Map<String, Integer> bounds = new TreeMap<>();
        String entry = null;
        for (String line : run(command).split("\n")) {
            Matcher m = PTX_ENTRY.matcher(line);
            if (m.find()) {
                entry = normalise(m.group(1));
            } else if (entry != null && (m = MAXNTID.matcher(line)).find()) {
                int threads = 1;
                for (int g = 1; g <= 3; g++) if (m.group(g) != null) threads *= Integer.parseInt(m.group(g));
                bounds.put(entry, threads);
            } else if (line.startsWith("{")) {
                entry = null; // the body: directives of this entry are behind us
            }
        }
        return bounds;
    }

    static boolean nvccRuns(String nvcc) {
        try {
            Process p = new ProcessBuilder(nvcc, "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    public static void main(String[] args) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> running.forEach(ResourceGate::kill)));
        try {
            System.exit(gate(Options.parse(args)));
        } catch (GateError e) {
            System.err.println("resource gate: " + e.getMessage());
            System.exit(2);
        } catch (InterruptedException e) {
            System.exit(2);
        }
    }

    static int gate(Options o) throws InterruptedException {
        String missing = o.launchLog() != null && !Files.isRegularFile(o.launchLog())
                ? "no launch log at " + o.launchLog() + " (the emulated suite did not run: tests/emu/run-emulated-tests.sh)"
                : !nvccRuns(o.nvcc()) ? "cannot run " + o.nvcc() : null;
        if (missing != null) {
            if ("1".equals(System.getenv("CLIP_SURGERY_CI"))) throw new GateError(missing + "; CLIP_SURGERY_CI=1 requires the gate");
            System.out.println("resource gate skipped: " + missing);
            return 0;
        }
        long start = System.nanoTime();
        boolean checkLaunches = o.launchLog() != null;
        Map<String, Launches> log = checkLaunches ? readLaunchLog(o.launchLog()) : Map.of();
        List<Compiled> compiled = compileAll(o);
        Map<Path, Map<String, Integer>> bounds = new TreeMap<>();
        for (Path source : compiled.stream().map(c -> c.compile().source()).distinct().toList())
            bounds.put(source, launchBounds(o, source));

        // Kernels by source and normalised name: the same anonymous-namespace kernel in two sources
        // is two kernels that the launch log (which knows g++'s one spelling) cannot tell apart.
        Map<Path, Map<String, Map<Integer, Resources>>> bySource = new TreeMap<>();
        for (Compiled c : compiled)
            for (Resources r : c.kernels())
                bySource.computeIfAbsent(c.compile().source(), s -> new TreeMap<>())
                        .computeIfAbsent(normalise(r.mangled()), k -> new TreeMap<>()).put(c.compile().arch(), r);
        List<String> keys = bySource.values().stream().flatMap(m -> m.keySet().stream()).toList();
        Map<String, String> names = displayNames(Stream.concat(keys.stream(), log.keySet().stream()).toList(), log);
        List<Kernel> kernels = new ArrayList<>();
        bySource.forEach((source, byKey) -> byKey.forEach((key, perArch) ->
                kernels.add(new Kernel(source, names.get(key), perArch, log.get(key),
                        bounds.getOrDefault(source, Map.of()).getOrDefault(key, 0)))));
        kernels.sort(Comparator.comparing((Kernel k) -> k.source().getFileName().toString()).thenComparing(Kernel::name));

        List<String> messages = new ArrayList<>();
        Map<Kernel, List<Failure>> failures = new LinkedHashMap<>();
        for (Kernel k : kernels) {
            // One line per kernel and message, naming every arch it holds for.
            Map<String, List<Integer>> failed = new LinkedHashMap<>(), stacks = new LinkedHashMap<>();
            List<Failure> all = new ArrayList<>();
            k.perArch().forEach((arch, r) -> {
                for (Failure f : check(r, k.launches(), k.launchBound(), arch, checkLaunches)) {
                    all.add(f);
                    failed.computeIfAbsent(f.message(), m -> new ArrayList<>()).add(arch);
                }
                if (r.stackFrame() > 0 && !r.spills())
                    stacks.computeIfAbsent("stack frame " + r.stackFrame() + " bytes, no spills (a local array or a call)",
                            m -> new ArrayList<>()).add(arch);
            });
            failures.put(k, all);
            failed.forEach((m, archs) -> messages.add("FAIL " + k.name() + " " + archList(archs) + ": " + m));
            stacks.forEach((m, archs) -> messages.add("NOTE " + k.name() + " " + archList(archs) + ": " + m));
        }
        if (checkLaunches) {
            Set<String> compiledKeys = Set.copyOf(keys);
            log.forEach((key, l) -> {
                if (!compiledKeys.contains(key))
                    messages.add("WARN " + names.get(key) + ": in the launch log, but ptxas compiled no such kernel in "
                            + o.sources() + " (a stale log?)");
            });
            keys.stream().filter(key -> keys.indexOf(key) != keys.lastIndexOf(key)).distinct().forEach(key ->
                    messages.add("WARN " + names.get(key) + ": in several sources; their launches cannot be told apart"));
        }

        int fmaFailures = 0;
        for (String spec : o.noFma()) {
            String message = fusedMultiplyAdds(o, spec);
            if (message != null) {
                messages.add("FAIL " + message);
                fmaFailures++;
            }
        }
        long failedKernels = failures.values().stream().filter(f -> !f.isEmpty()).count() + fmaFailures;
        String summary = "resource gate: " + kernels.size() + " kernels × " + o.archs().size() + " archs checked, "
                + failedKernels + " failed";
        System.out.print(table(kernels, failures, o.archs(), false));
        System.out.println();
        messages.forEach(System.out::println);
        System.out.println(summary);
        System.err.printf("resource gate: %d compiles in %.0f s%n", compiled.size(), (System.nanoTime() - start) / 1e9);
        if (o.out() != null) {
            // The messages as a code block: a kernel name's <float> would read as an HTML tag.
            String markdown = table(kernels, failures, o.archs(), true) + "\n```\n"
                    + messages.stream().map(m -> m + "\n").collect(Collectors.joining()) + summary + "\n```\n";
            try {
                Files.writeString(o.out(), markdown);
            } catch (IOException e) {
                throw new GateError("cannot write " + o.out() + ": " + e);
            }
        }
        return failedKernels > 0 ? 1 : 0;
    }
}

package org.clipsurgery.models;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.clipsurgery.progress.Progress;

/**
 * Turns a model name or a file path into a local checkpoint file, downloading named models into a
 * cache folder.
 *
 * <ul>
 *   <li>A path to an existing file is returned as it is, without any network access.</li>
 *   <li>A name from the {@link ModelRegistry} ("ViT-B/16", "CS-RN50") resolves to
 *       {@code <cache>/<file name in the URL>}: the cached file when its SHA-256 matches the one in
 *       the URL (checked once, then remembered in a {@code .verified} note beside it), otherwise a
 *       fresh download.</li>
 *   <li>Downloads go to {@code <file>.part}. An interrupted download is resumed with an HTTP
 *       {@code Range} request, automatically up to {@code maxAttempts} times and otherwise on the
 *       next call. The finished file's SHA-256 is checked before it is renamed into place; a file
 *       that fails the check is deleted, never left in the cache.</li>
 * </ul>
 *
 * <p>Environment: {@code CLIP_SURGERY_CACHE} (cache folder, default {@code ~/.cache/clip}, the one
 * OpenAI's Python package uses) and {@code CLIP_SURGERY_MIRROR} (e.g.
 * {@code http://mirror.local:8080}: replaces the scheme, host and port of OpenAI's URLs, paths
 * unchanged; a path in the mirror URL is put in front of them). The builder overrides both.
 *
 * <pre>{@code
 * Path weights = new ModelDownloader().resolve("ViT-B/16");          // from the environment
 * Path same = ModelDownloader.builder().cacheDir(dir).progress(Progress.stderr()).build()
 *         .resolve("CS-ViT-B/16");
 * }</pre>
 *
 * <p>Several threads or processes may resolve the same model at once: a lock file beside the
 * cached file ({@code <file>.lock}, deleted when done) makes them take turns, and the later ones
 * find the file the first one downloaded.
 */
public final class ModelDownloader {

    /** Environment variable naming the cache folder. */
    public static final String CACHE_ENV = "CLIP_SURGERY_CACHE";
    /** Environment variable naming a mirror of OpenAI's download host. */
    public static final String MIRROR_ENV = "CLIP_SURGERY_MIRROR";

    private static final System.Logger LOG = System.getLogger(ModelDownloader.class.getName());
    private static final Pattern CONTENT_RANGE =
            Pattern.compile("bytes\\s+(?:(\\d+)-(\\d+)|\\*)/(\\d+|\\*)", Pattern.CASE_INSENSITIVE);
    private static final int BUFFER = 1 << 16;

    /** Threads in this JVM take turns per file before taking the (process-wide) file lock. */
    private static final Map<Path, Object> JVM_LOCKS = new ConcurrentHashMap<>();

    /** Checks downloads for stalls; one daemon thread for all downloaders. */
    private static final class Watchdog {
        static final ScheduledExecutorService EXECUTOR = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "clip-surgery-download-watchdog");
            t.setDaemon(true);
            return t;
        });
    }

    private final Path cacheDir;
    private final URI mirror;
    private final ModelRegistry registry;
    private final Progress progress;
    private final Duration connectTimeout;
    private final Duration readTimeout;
    private final int maxAttempts;
    private final Duration retryDelay;
    private volatile HttpClient client;

    /** A downloader configured from the environment, with the official registry and no progress. */
    public ModelDownloader() {
        this(builder());
    }

    private ModelDownloader(Builder b) {
        this.cacheDir = b.cacheDir;
        this.mirror = b.mirror;
        this.registry = b.registry;
        this.progress = b.progress;
        this.connectTimeout = b.connectTimeout;
        this.readTimeout = b.readTimeout;
        this.maxAttempts = b.maxAttempts;
        this.retryDelay = b.retryDelay;
    }

    /** A builder starting from the environment's settings. */
    public static Builder builder() {
        return builder(System.getenv());
    }

    /** A builder starting from the settings in {@code env} (tests: an environment of their own). */
    static Builder builder(Map<String, String> env) {
        return new Builder(env);
    }

    /** Settings for a {@link ModelDownloader}; required settings are all defaulted. */
    public static final class Builder {
        private Path cacheDir;
        private URI mirror;
        private ModelRegistry registry = ModelRegistry.official();
        private Progress progress = Progress.none();
        private Duration connectTimeout = Duration.ofSeconds(30);
        private Duration readTimeout = Duration.ofSeconds(60);
        private int maxAttempts = 5;
        private Duration retryDelay = Duration.ofSeconds(2);

        private Builder(Map<String, String> env) {
            cacheDir = defaultCacheDir(env, System.getProperty("user.home"));
            String m = env.get(MIRROR_ENV);
            mirror = m == null || m.isBlank() ? null : parseMirror(m, MIRROR_ENV);
        }

        /** The cache folder (instead of {@code $CLIP_SURGERY_CACHE} or {@code ~/.cache/clip}). */
        public Builder cacheDir(Path dir) {
            this.cacheDir = Objects.requireNonNull(dir, "cacheDir");
            return this;
        }

        /**
         * The mirror (instead of {@code $CLIP_SURGERY_MIRROR}); null or blank for OpenAI's host.
         *
         * @throws IllegalArgumentException when it is not an http(s) URL with a host
         */
        public Builder mirror(String mirrorUrl) {
            this.mirror = mirrorUrl == null || mirrorUrl.isBlank() ? null : parseMirror(mirrorUrl, "mirror");
            return this;
        }

        /** The names known (default: {@link ModelRegistry#official()}). */
        public Builder registry(ModelRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /** Where download and checksum progress goes (default: {@link Progress#none()}). */
        public Builder progress(Progress progress) {
            this.progress = Objects.requireNonNull(progress, "progress");
            return this;
        }

        /** Time allowed to open a connection (default 30 s). */
        public Builder connectTimeout(Duration d) {
            this.connectTimeout = positive(d, "connectTimeout");
            return this;
        }

        /** Time allowed without any data, for the response headers and within the body (default 60 s). */
        public Builder readTimeout(Duration d) {
            this.readTimeout = positive(d, "readTimeout");
            return this;
        }

        /**
         * How many times one call tries a download, each try resuming the last (default 5); 1
         * means no automatic retry.
         */
        public Builder maxAttempts(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1, got " + n);
            }
            this.maxAttempts = n;
            return this;
        }

        /** Pause before the n-th retry is n times this (default 2 s). */
        public Builder retryDelay(Duration d) {
            Objects.requireNonNull(d, "retryDelay");
            if (d.isNegative()) {
                throw new IllegalArgumentException("retryDelay must not be negative");
            }
            this.retryDelay = d;
            return this;
        }

        public ModelDownloader build() {
            return new ModelDownloader(this);
        }

        private static Duration positive(Duration d, String what) {
            Objects.requireNonNull(d, what);
            if (d.isZero() || d.isNegative()) {
                throw new IllegalArgumentException(what + " must be positive, got " + d);
            }
            return d;
        }
    }

    /** {@code $CLIP_SURGERY_CACHE} when set and not blank, else {@code <home>/.cache/clip}. */
    static Path defaultCacheDir(Map<String, String> env, String userHome) {
        String c = env.get(CACHE_ENV);
        if (c != null && !c.isBlank()) {
            return Path.of(c);
        }
        return Path.of(userHome, ".cache", "clip");
    }

    private static URI parseMirror(String text, String what) {
        URI u;
        try {
            u = new URI(text.trim());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalArgumentException(what + " '" + text + "' is not a URL: " + e.getMessage(), e);
        }
        String scheme = u.getScheme();
        if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))
                || u.getRawAuthority() == null || u.getHost() == null
                || u.getRawQuery() != null || u.getRawFragment() != null) {
            throw new IllegalArgumentException(what + " '" + text
                    + "' must be an http(s) URL like https://host[:port][/path]");
        }
        // java.net.URI takes any number as a port; the HTTP client would refuse it later without
        // saying where it came from.
        if (u.getPort() == 0 || u.getPort() > 65535) {
            throw new IllegalArgumentException(what + " '" + text + "' has port " + u.getPort()
                    + "; a port is 1 to 65535");
        }
        return u;
    }

    /** The cache folder. */
    public Path cacheDir() {
        return cacheDir;
    }

    /** The registry names are looked up in. */
    public ModelRegistry registry() {
        return registry;
    }

    /** Where a model is cached: the cache folder and the URL's file name. */
    public Path cacheFile(ModelRegistry.Entry entry) {
        return cacheDir.resolve(entry.fileName());
    }

    /** Where a model is downloaded from: its URL, or the same path on the mirror. */
    public URI sourceUrl(ModelRegistry.Entry entry) {
        if (mirror == null) {
            return entry.url();
        }
        String prefix = mirror.getRawPath() == null ? "" : mirror.getRawPath();
        while (prefix.endsWith("/")) {
            prefix = prefix.substring(0, prefix.length() - 1);
        }
        String path = entry.url().getRawPath() == null ? "" : entry.url().getRawPath();
        String query = entry.url().getRawQuery() == null ? "" : "?" + entry.url().getRawQuery();
        return URI.create(mirror.getScheme() + "://" + mirror.getRawAuthority() + prefix + path + query);
    }

    /**
     * A local checkpoint for a path or a model name.
     *
     * <p>An existing file is returned without network access, whatever its name. Otherwise a name
     * from the registry is fetched ({@link #fetch}).
     *
     * @throws IllegalArgumentException when it is neither an existing file nor a known name (the
     *                                  message lists the known names)
     * @throws IOException              when a download fails or the cache cannot be written
     */
    public Path resolve(String nameOrPath) throws IOException {
        Objects.requireNonNull(nameOrPath, "nameOrPath");
        if (nameOrPath.isBlank()) {
            throw new IllegalArgumentException("model name or path is empty; available models: "
                    + String.join(", ", registry.names()));
        }
        Path local = null;
        try {
            local = Path.of(nameOrPath);
        } catch (InvalidPathException e) {
            // Not a usable path: it can only be a name.
        }
        if (local != null && Files.isRegularFile(local)) {
            return local;
        }
        Optional<ModelRegistry.Entry> entry = registry.find(nameOrPath);
        if (entry.isPresent()) {
            return fetch(entry.get());
        }
        if (local != null && Files.exists(local)) {
            throw new IllegalArgumentException("'" + nameOrPath + "' is not a model file (it is a directory"
                    + " or special file)");
        }
        throw new IllegalArgumentException("'" + nameOrPath + "' is neither a model file nor a known"
                + " model name; available models: " + String.join(", ", registry.names())
                + " (a " + ModelRegistry.SURGERY_PREFIX + " prefix is also accepted)");
    }

    /**
     * The cached file of an entry when it is present and its SHA-256 matches, without network
     * access; a cached file that does not match is deleted.
     */
    public Optional<Path> cached(ModelRegistry.Entry entry) throws IOException {
        Path target = cacheFile(entry);
        if (!Files.exists(target)) {
            return Optional.empty();
        }
        return withLock(target, () -> Optional.ofNullable(verifiedCacheHit(entry, target)));
    }

    /**
     * The entry's file: from the cache when present and intact, otherwise downloaded (resuming a
     * partial download) and checked.
     *
     * @throws IOException naming the URL on HTTP errors, the expected and actual SHA-256 on a
     *                     checksum mismatch (the file is deleted), or the partial file kept when
     *                     the connection failed on every attempt
     */
    public Path fetch(ModelRegistry.Entry entry) throws IOException {
        Objects.requireNonNull(entry, "entry");
        Path target = cacheFile(entry);
        try {
            Files.createDirectories(cacheDir);
        } catch (IOException e) {
            throw new IOException("cannot create the model cache folder " + cacheDir + " (set " + CACHE_ENV
                    + " to another folder): " + describe(e), e);
        }
        return withLock(target, () -> {
            Path hit = verifiedCacheHit(entry, target);
            return hit != null ? hit : download(entry, target);
        });
    }

    private interface LockedAction<T> {
        T run() throws IOException;
    }

    /**
     * Runs {@code action} holding this JVM's monitor and a file lock on {@code <target>.lock}, and
     * deletes the lock file before letting go of it, so no empty lock files pile up in the cache.
     *
     * <p>Deleting a lock file is safe only if a process that was waiting on it finds out that it
     * then holds a lock on a deleted file while another process may lock a new one under the same
     * name (the race that made filelock and dpkg keep their lock files). So each holder writes a
     * random token into the file it locked and reads the file at the lock path back: its own token
     * proves the path still names the file it holds; anything else (another token, no file) means
     * it holds a deleted one, and it tries again. The channel that reads the token back stays open
     * until the end, because closing any channel to a file drops this process's POSIX lock on it.
     */
    private <T> T withLock(Path target, LockedAction<T> action) throws IOException {
        Path key = target.toAbsolutePath().normalize();
        Object monitor = JVM_LOCKS.computeIfAbsent(key, k -> new Object());
        synchronized (monitor) {
            Path lockFile = key.resolveSibling(key.getFileName() + ".lock");
            while (true) {
                try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE);
                     FileLock lock = ch.lock()) {
                    byte[] token = UUID.randomUUID().toString().getBytes(StandardCharsets.US_ASCII);
                    ch.truncate(0).write(ByteBuffer.wrap(token), 0);
                    try (FileChannel check = openIfExists(lockFile)) {
                        if (check == null || !Arrays.equals(token, readPrefix(check, token.length))) {
                            continue; // this lock is on a file already deleted: take the current one
                        }
                        try {
                            return action.run();
                        } finally {
                            deleteLockFile(lockFile);
                        }
                    }
                }
            }
        }
    }

    private static FileChannel openIfExists(Path file) throws IOException {
        try {
            return FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private static byte[] readPrefix(FileChannel ch, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining() && ch.read(b, b.position()) > 0) {
            // until n bytes or the end of the file
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    private static void deleteLockFile(Path lockFile) {
        try {
            Files.deleteIfExists(lockFile);
        } catch (IOException e) {
            // Where open files cannot be deleted (Windows) the lock file stays: harmless, and reused.
            LOG.log(System.Logger.Level.DEBUG, "cannot delete {0}: {1}", lockFile, e.getMessage());
        }
    }

    /** The cached file if it exists and matches; a mismatching file is deleted (returns null). */
    private Path verifiedCacheHit(ModelRegistry.Entry entry, Path target) throws IOException {
        if (Files.exists(target) && !Files.isRegularFile(target)) {
            throw new IOException(target + " exists and is not a regular file; remove it to download "
                    + entry.name());
        }
        if (!Files.isRegularFile(target)) {
            return null;
        }
        if (markerMatches(target, entry.sha256())) {
            return target;
        }
        String actual;
        try (InputStream in = Files.newInputStream(target);
             Progress.Task task = progress.start("checking " + entry.fileName(), Files.size(target),
                     Progress.Unit.BYTES)) {
            actual = sha256(in, task);
        }
        if (actual.equals(entry.sha256())) {
            writeMarker(target, entry.sha256());
            return target;
        }
        LOG.log(System.Logger.Level.WARNING, "{0} has SHA-256 {1}, expected {2}; deleting it and"
                + " downloading again", target, actual, entry.sha256());
        Files.deleteIfExists(markerOf(target));
        Files.delete(target);
        return null;
    }

    /** Signals a failure worth another attempt (connection dropped, timeout, server error). */
    private static final class RetryableException extends IOException {
        RetryableException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private Path download(ModelRegistry.Entry entry, Path target) throws IOException {
        URI uri = sourceUrl(entry);
        Path part = target.resolveSibling(target.getFileName() + ".part");
        String actual = null;
        RetryableException last = null;
        for (int attempt = 1; attempt <= maxAttempts; attempt++) {
            if (attempt > 1) {
                pause(retryDelay.multipliedBy(attempt - 1));
            }
            try {
                actual = transfer(uri, part, entry.fileName());
                last = null;
                break;
            } catch (RetryableException e) {
                last = e;
                LOG.log(System.Logger.Level.DEBUG, "attempt {0} of {1} for {2} failed: {3}", attempt,
                        maxAttempts, uri, e.getMessage());
            }
        }
        if (last != null) {
            long kept = Files.exists(part) ? Files.size(part) : 0;
            throw new IOException("download of " + uri + " failed after " + maxAttempts
                    + (maxAttempts == 1 ? " attempt: " : " attempts: ") + last.getMessage()
                    + (kept > 0 ? "; the " + kept + " bytes received are kept in " + part
                            + " and the next try resumes from there" : ""), last);
        }
        if (!actual.equals(entry.sha256())) {
            Files.deleteIfExists(part);
            throw new IOException("SHA-256 mismatch for " + uri + ": expected " + entry.sha256()
                    + ", got " + actual + "; the downloaded file was deleted");
        }
        try {
            Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(part, target, StandardCopyOption.REPLACE_EXISTING);
        }
        writeMarker(target, entry.sha256());
        return target;
    }

    /**
     * One HTTP request bringing {@code part} up to the whole file.
     *
     * @return the SHA-256 of the whole {@code part} file when the body was received completely
     * @throws RetryableException when another attempt may succeed (the partial file is kept)
     * @throws IOException        when it will not (HTTP 4xx, a full disk)
     */
    private String transfer(URI uri, Path part, String label) throws IOException {
        long have = Files.exists(part) ? Files.size(part) : 0;
        HttpRequest.Builder rb = HttpRequest.newBuilder(uri).GET().timeout(readTimeout)
                .header("User-Agent", "clip-surgery-java");
        if (have > 0) {
            rb.header("Range", "bytes=" + have + "-");
        }
        HttpResponse<InputStream> resp;
        try {
            resp = client().send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("download of " + uri + " interrupted");
        } catch (ConnectException e) {
            // Refused or unknown host: being offline is not fixed by retrying within seconds.
            throw new IOException("cannot connect to " + uri.getHost() + " for " + uri + ": " + describe(e)
                    + " (offline? pass a local file path, or set " + MIRROR_ENV + ")", e);
        } catch (IOException e) {
            throw new RetryableException("no response: " + describe(e), e);
        }
        int status = resp.statusCode();
        try (InputStream body = resp.body()) {
            long offset;
            long total;
            if (status == 200) {
                // A full body: a fresh download, or a server that ignores Range (start over).
                offset = 0;
                total = resp.headers().firstValueAsLong("Content-Length").orElse(-1);
            } else if (status == 206) {
                long[] range = contentRange(resp);
                if (range == null || range[0] != have) {
                    Files.deleteIfExists(part);
                    throw new RetryableException("server answered bytes=" + have + "- with Content-Range '"
                            + resp.headers().firstValue("Content-Range").orElse("") + "'; starting over", null);
                }
                offset = have;
                total = range[2];
            } else if (status == 416) {
                // The partial file is at least as long as the remote one: complete, or not this file.
                long[] range = contentRange(resp);
                if (range != null && range[2] == have) {
                    try (InputStream in = Files.newInputStream(part)) {
                        return sha256(in, null);
                    }
                }
                Files.deleteIfExists(part);
                throw new RetryableException("server refused bytes=" + have + "- (HTTP 416); starting over",
                        null);
            } else if (status >= 500 || status == 408 || status == 429) {
                throw new RetryableException("HTTP " + status, null);
            } else {
                throw new IOException("HTTP " + status + " from " + uri
                        + (status == 404 ? " (not found: check the model name or the mirror)" : ""));
            }

            MessageDigest md = newSha256();
            if (offset > 0) {
                try (InputStream in = Files.newInputStream(part)) {
                    digestPrefix(in, md, offset);
                }
            }
            return receive(uri, body, part, offset, total, md, label);
        }
    }

    private String receive(URI uri, InputStream body, Path part, long offset, long total, MessageDigest md,
            String label) throws IOException {
        StandardOpenOption[] mode = offset > 0
                ? new StandardOpenOption[] {StandardOpenOption.WRITE, StandardOpenOption.APPEND}
                : new StandardOpenOption[] {StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING};
        AtomicLong lastData = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        long timeoutNanos = readTimeout.toNanos();
        long period = Math.max(10, Math.min(1000, readTimeout.toMillis() / 4));
        // The HttpClient has no read timeout for bodies: a watchdog closes a stream that has been
        // silent too long, which makes the blocked read fail.
        ScheduledFuture<?> watch = Watchdog.EXECUTOR.scheduleAtFixedRate(() -> {
            if (System.nanoTime() - lastData.get() > timeoutNanos && stalled.compareAndSet(false, true)) {
                try {
                    body.close();
                } catch (IOException | RuntimeException ignored) {
                    // The read fails either way.
                }
            }
        }, period, period, TimeUnit.MILLISECONDS);
        long received = 0;
        try (FileChannel out = FileChannel.open(part, mode);
             Progress.Task task = progress.start(label, total, Progress.Unit.BYTES, offset)) {
            byte[] buf = new byte[BUFFER];
            try {
                int n;
                while ((n = body.read(buf)) >= 0) {
                    lastData.set(System.nanoTime());
                    if (stalled.get()) {
                        break;
                    }
                    ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                    while (bb.hasRemaining()) {
                        out.write(bb);
                    }
                    md.update(buf, 0, n);
                    received += n;
                    task.set(offset + received);
                }
            } catch (IOException e) {
                if (Thread.currentThread().isInterrupted()) {
                    InterruptedIOException ie = new InterruptedIOException("download of " + uri + " interrupted");
                    ie.initCause(e);
                    throw ie;
                }
                if (!stalled.get()) {
                    throw new RetryableException("connection dropped after "
                            + (offset + received) + (total >= 0 ? " of " + total : "") + " bytes: "
                            + describe(e), e);
                }
            }
            if (stalled.get()) {
                throw new RetryableException("no data for " + readTimeout.toMillis()
                        + " ms after " + (offset + received) + (total >= 0 ? " of " + total : "")
                        + " bytes", null);
            }
            if (total >= 0 && offset + received != total) {
                throw new RetryableException("connection closed after " + (offset + received)
                        + " of " + total + " bytes", null);
            }
            out.force(true); // durable before the rename makes it look complete
        } finally {
            watch.cancel(false);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** {start, end, total} from a Content-Range header; start/end -1 for "*"; null when absent. */
    private static long[] contentRange(HttpResponse<?> resp) {
        Optional<String> h = resp.headers().firstValue("Content-Range");
        if (h.isEmpty()) {
            return null;
        }
        Matcher m = CONTENT_RANGE.matcher(h.get().trim());
        if (!m.matches()) {
            return null;
        }
        long start = m.group(1) == null ? -1 : Long.parseLong(m.group(1));
        long end = m.group(2) == null ? -1 : Long.parseLong(m.group(2));
        long total = m.group(3).equals("*") ? -1 : Long.parseLong(m.group(3));
        return new long[] {start, end, total};
    }

    private HttpClient client() {
        HttpClient c = client;
        if (c == null) {
            synchronized (this) {
                c = client;
                if (c == null) {
                    // HTTP/1.1: one plain stream per file, and mirrors that are simple file servers.
                    c = HttpClient.newBuilder().connectTimeout(connectTimeout)
                            .followRedirects(HttpClient.Redirect.NORMAL)
                            .version(HttpClient.Version.HTTP_1_1).build();
                    client = c;
                }
            }
        }
        return c;
    }

    // ---- the ".verified" note: remembers that a file of this size and time was checked ----

    private static Path markerOf(Path target) {
        return target.resolveSibling(target.getFileName() + ".verified");
    }

    private static String markerText(Path target, String sha256) throws IOException {
        return sha256 + " " + Files.size(target) + " " + Files.getLastModifiedTime(target).toMillis() + "\n";
    }

    private static boolean markerMatches(Path target, String sha256) {
        try {
            Path marker = markerOf(target);
            return Files.isRegularFile(marker)
                    && Files.readString(marker, StandardCharsets.US_ASCII).equals(markerText(target, sha256));
        } catch (IOException e) {
            return false; // unreadable note: check the file again
        }
    }

    private static void writeMarker(Path target, String sha256) {
        try {
            Files.writeString(markerOf(target), markerText(target, sha256), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            // Only an optimisation: without the note the next call checks the file again.
            LOG.log(System.Logger.Level.DEBUG, "cannot write {0}: {1}", markerOf(target), e.getMessage());
        }
    }

    // ---- hashing ----

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }

    /** Lower-case hex SHA-256 of a stream, reporting bytes read to {@code task} when not null. */
    static String sha256(InputStream in, Progress.Task task) throws IOException {
        MessageDigest md = newSha256();
        byte[] buf = new byte[BUFFER];
        long done = 0;
        int n;
        while ((n = in.read(buf)) >= 0) {
            md.update(buf, 0, n);
            done += n;
            if (task != null) {
                task.set(done);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void digestPrefix(InputStream in, MessageDigest md, long length) throws IOException {
        byte[] buf = new byte[BUFFER];
        long left = length;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new IOException("partial file shrank while resuming");
            }
            md.update(buf, 0, n);
            left -= n;
        }
    }

    /** The exception and its root cause in a few words ("IOException: closed; EOF reached ..."). */
    private static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder(e.getClass().getSimpleName());
        if (e.getMessage() != null && !e.getMessage().isBlank()) {
            sb.append(": ").append(e.getMessage());
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root != e && root.getMessage() != null && !root.getMessage().isBlank()) {
            sb.append("; ").append(root.getMessage());
        }
        return sb.toString();
    }

    private static void pause(Duration d) throws InterruptedIOException {
        if (d.isZero()) {
            return;
        }
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to retry a download");
        }
    }
}

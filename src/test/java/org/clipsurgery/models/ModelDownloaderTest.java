package org.clipsurgery.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;

import org.clipsurgery.progress.Progress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ModelDownloader} against a real HTTP server on 127.0.0.1. The served file is random bytes
 * (seeded, a few MiB so the body spans many reads); entries point at it with its true SHA-256, the
 * mechanism OpenAI's URLs use.
 */
@Timeout(30)
class ModelDownloaderTest {

    private static final int SIZE = 3 * 1024 * 1024 + 12345;

    @TempDir
    Path cache;

    private TestFileServer server;
    private byte[] content;
    private String sha;
    private String path;

    @BeforeEach
    void start() throws Exception {
        server = new TestFileServer();
        content = new byte[SIZE];
        new Random(20230411L).nextBytes(content);
        sha = sha256(content);
        path = "/clip/models/" + sha + "/RN50.pt";
        server.put(path, content);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private ModelRegistry.Entry entry() {
        return ModelRegistry.Entry.fromUrl("RN50", server.base() + path);
    }

    private ModelDownloader.Builder downloader() {
        return ModelDownloader.builder().cacheDir(cache).mirror(null)
                .registry(ModelRegistry.of(List.of(entry())))
                .connectTimeout(Duration.ofSeconds(5)).readTimeout(Duration.ofSeconds(5))
                .retryDelay(Duration.ZERO);
    }

    private Path part() {
        return cache.resolve("RN50.pt.part");
    }

    @Test
    void downloadsVerifiesAndThenServesFromCacheWithoutNetwork() throws Exception {
        ModelDownloader d = downloader().build();
        Path p = d.resolve("RN50");
        assertEquals(cache.resolve("RN50.pt"), p);
        assertArrayEquals(content, Files.readAllBytes(p));
        assertFalse(Files.exists(part()), ".part must be gone after success");
        assertEquals(1, server.requests().size());
        assertNull(server.requests().get(0).range(), "a fresh download asks for the whole file");

        server.close(); // nothing is listening any more: a network access would fail
        assertEquals(p, d.resolve("CS-RN50"));
        assertEquals(p, downloader().build().resolve("RN50"), "a new downloader finds the cache too");
        assertEquals(1, server.requests().size());
        assertEquals(List.of("RN50.pt", "RN50.pt.verified"), modelFiles(), "no lock file left");
    }

    @Test
    void aLockFileLeftByACrashIsTakenOverAndRemoved() throws Exception {
        Files.createDirectories(cache);
        Files.writeString(cache.resolve("RN50.pt.lock"), "token of a process that was killed");
        assertArrayEquals(content, Files.readAllBytes(downloader().build().resolve("RN50")));
        assertEquals(List.of("RN50.pt", "RN50.pt.verified"), modelFiles());
    }

    /**
     * Another process holds the lock, then deletes the lock file and lets go (as this class does):
     * a call that was waiting on the old file must notice that it is deleted and lock the current
     * one, or a third process could hold "the same" lock at once. The holder is a separate JVM
     * because one JVM cannot wait on its own file lock.
     */
    @Test
    void aCallWaitingOnALockFileThatIsThenDeletedTakesTheCurrentOne() throws Exception {
        Files.createDirectories(cache);
        Path lockFile = cache.resolve("RN50.pt.lock");
        Process holder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), LockHolder.class.getName(), lockFile.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            var said = new java.io.BufferedReader(new java.io.InputStreamReader(holder.getInputStream(),
                    StandardCharsets.US_ASCII));
            assertEquals("locked", said.readLine());
            // The download reports progress while it holds the lock: is there a lock file at the path then?
            java.util.concurrent.atomic.AtomicBoolean lockFileWhileDownloading = new java.util.concurrent.atomic.AtomicBoolean();
            Progress watch = new Progress() {
                @Override
                public Task start(String label, long total, Unit unit, long alreadyDone) {
                    lockFileWhileDownloading.set(Files.exists(lockFile));
                    return Progress.none().start(label, total, unit, alreadyDone);
                }

                @Override
                public boolean enabled() {
                    return false;
                }
            };
            Future<Path> call = pool.submit(() -> downloader().progress(watch).build().resolve("RN50"));
            Thread.sleep(500); // time for the call to open the lock file and wait on it
            assertFalse(call.isDone(), "the call waits for the other process");
            holder.getOutputStream().write('\n');
            holder.getOutputStream().flush();
            assertArrayEquals(content, Files.readAllBytes(call.get(20, java.util.concurrent.TimeUnit.SECONDS)));
            assertEquals(0, holder.waitFor());
            // Not so if it had kept the lock on the deleted file: then no file, and no lock, at the path.
            assertTrue(lockFileWhileDownloading.get(), "the download held the lock on the file at the lock path");
        } finally {
            pool.shutdownNow();
            holder.destroy();
        }
        assertEquals(List.of("RN50.pt", "RN50.pt.verified"), modelFiles());
    }

    /** The other process of the test above: locks the file, waits for a line, deletes it, exits. */
    static final class LockHolder {
        public static void main(String[] args) throws IOException {
            Path p = Path.of(args[0]);
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(p,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
                 java.nio.channels.FileLock lock = ch.lock()) {
                System.out.println("locked");
                System.out.flush();
                System.in.read();
                Files.delete(p);
            }
        }
    }

    @Test
    void cacheHitIsVerifiedOnceWhenNoNoteExists() throws Exception {
        Files.createDirectories(cache);
        Files.write(cache.resolve("RN50.pt"), content);  // e.g. put there by OpenAI's Python package
        server.close();
        ModelDownloader d = downloader().build();
        assertEquals(cache.resolve("RN50.pt"), d.resolve("RN50"));
        assertTrue(Files.exists(cache.resolve("RN50.pt.verified")));
        assertEquals(0, server.requests().size());
    }

    @Test
    void corruptedCacheFileIsReplaced() throws Exception {
        ModelDownloader d = downloader().build();
        Path p = d.resolve("RN50");
        // Same size, different bytes, newer time: the note no longer matches, the hash is checked.
        byte[] bad = content.clone();
        bad[SIZE / 2] ^= 1;
        Files.write(p, bad);
        Files.setLastModifiedTime(p, FileTime.fromMillis(Files.getLastModifiedTime(p).toMillis() + 5000));
        assertTrue(d.cached(entry()).isEmpty());
        assertFalse(Files.exists(p), "a cached file failing its checksum is deleted");
        assertArrayEquals(content, Files.readAllBytes(d.resolve("RN50")));
        assertEquals(2, server.requests().size());
    }

    @Test
    void wrongChecksumLeavesNothingInTheCache() throws Exception {
        String wrong = sha256("something else".getBytes(StandardCharsets.UTF_8));
        server.put("/clip/models/" + wrong + "/RN50.pt", content);
        ModelRegistry.Entry e = ModelRegistry.Entry.fromUrl("RN50", server.base() + "/clip/models/" + wrong
                + "/RN50.pt");
        ModelDownloader d = downloader().registry(ModelRegistry.of(List.of(e))).build();
        IOException ex = assertThrows(IOException.class, () -> d.resolve("RN50"));
        assertTrue(ex.getMessage().contains("expected " + wrong), ex.getMessage());
        assertTrue(ex.getMessage().contains("got " + sha), ex.getMessage());
        assertFalse(Files.exists(cache.resolve("RN50.pt")));
        assertFalse(Files.exists(part()));
        assertEquals(List.of(), modelFiles());
    }

    @Test
    void droppedConnectionKeepsPartialFileAndNextCallResumesWithRange() throws Exception {
        server.mode(TestFileServer.Mode.DROP_HALF_ONCE);
        ModelDownloader d = downloader().maxAttempts(1).build();
        IOException ex = assertThrows(IOException.class, () -> d.resolve("RN50"));
        assertTrue(ex.getMessage().contains("kept in"), ex.getMessage());
        // Seen as a dropped connection, not as a stall caught by the read timeout.
        assertTrue(ex.getMessage().contains("connection dropped after"), ex.getMessage());
        assertTrue(ex.getMessage().contains(server.base() + path), ex.getMessage());
        assertFalse(Files.exists(cache.resolve("RN50.pt")));
        long have = Files.size(part());
        assertTrue(have > 0 && have <= SIZE / 2, "partial file of " + have + " bytes");
        assertArrayEquals(Arrays.copyOf(content, (int) have), Files.readAllBytes(part()));

        Path p = d.resolve("RN50");
        assertArrayEquals(content, Files.readAllBytes(p));
        List<TestFileServer.Request> reqs = server.requests();
        assertEquals(2, reqs.size());
        assertEquals("bytes=" + have + "-", reqs.get(1).range());
        assertFalse(Files.exists(part()));
    }

    @Test
    void droppedConnectionIsResumedAutomaticallyWithinOneCall() throws Exception {
        server.mode(TestFileServer.Mode.DROP_HALF_ONCE);
        Path p = downloader().maxAttempts(3).build().resolve("RN50");
        assertArrayEquals(content, Files.readAllBytes(p));
        List<TestFileServer.Request> reqs = server.requests();
        assertEquals(2, reqs.size());
        assertNull(reqs.get(0).range());
        assertTrue(reqs.get(1).range() != null && reqs.get(1).range().startsWith("bytes="), reqs.toString());
    }

    @Test
    void attemptsAreBounded() throws Exception {
        server.mode(TestFileServer.Mode.DROP_HALF_ALWAYS);
        ModelDownloader d = downloader().maxAttempts(3).build();
        IOException ex = assertThrows(IOException.class, () -> d.resolve("RN50"));
        assertTrue(ex.getMessage().contains("after 3 attempts"), ex.getMessage());
        assertEquals(3, server.requests().size());
        // Each attempt resumed where the previous stopped: the partial file keeps growing.
        long have = Files.size(part());
        assertTrue(have > SIZE / 2, "kept " + have);
        server.mode(TestFileServer.Mode.NORMAL);
        assertArrayEquals(content, Files.readAllBytes(d.resolve("RN50")));
    }

    @Test
    void serverIgnoringRangeRestartsFromZero() throws Exception {
        Files.createDirectories(cache);
        // A partial file whose bytes are wrong: if it were appended to, the checksum would fail.
        byte[] junk = new byte[1000];
        Arrays.fill(junk, (byte) 7);
        Files.write(part(), junk);
        server.mode(TestFileServer.Mode.IGNORE_RANGE);
        Path p = downloader().maxAttempts(1).build().resolve("RN50");
        assertArrayEquals(content, Files.readAllBytes(p));
        assertEquals("bytes=1000-", server.requests().get(0).range());
        assertEquals(1, server.requests().size());
    }

    @Test
    void completePartialFileIsFinishedAfter416() throws Exception {
        Files.createDirectories(cache);
        Files.write(part(), content); // e.g. a crash between the last byte and the rename
        Path p = downloader().maxAttempts(1).build().resolve("RN50");
        assertArrayEquals(content, Files.readAllBytes(p));
        assertEquals("bytes=" + SIZE + "-", server.requests().get(0).range());
        assertFalse(Files.exists(part()));
    }

    @Test
    void oversizedPartialFileIsDiscardedAfter416() throws Exception {
        Files.createDirectories(cache);
        Files.write(part(), new byte[SIZE + 10]);
        Path p = downloader().maxAttempts(2).build().resolve("RN50");
        assertArrayEquals(content, Files.readAllBytes(p));
        List<TestFileServer.Request> reqs = server.requests();
        assertEquals(2, reqs.size());
        assertNull(reqs.get(1).range(), "after a 416 it starts over");
    }

    @Test
    void notFoundIsAClearErrorWithoutRetries() throws Exception {
        ModelRegistry.Entry e = ModelRegistry.Entry.fromUrl("RN50", server.base() + "/clip/models/" + sha
                + "/missing.pt");
        ModelDownloader d = downloader().registry(ModelRegistry.of(List.of(e))).maxAttempts(5).build();
        IOException ex = assertThrows(IOException.class, () -> d.resolve("RN50"));
        assertTrue(ex.getMessage().contains("404"), ex.getMessage());
        assertTrue(ex.getMessage().contains(server.base() + "/clip/models/" + sha + "/missing.pt"),
                ex.getMessage());
        assertEquals(1, server.requests().size(), "a 404 is not retried");
        assertEquals(List.of(), modelFiles());
    }

    @Test
    void serverErrorsAreRetriedThenReported() throws Exception {
        server.mode(TestFileServer.Mode.ERROR_500);
        ModelDownloader d = downloader().maxAttempts(2).build();
        IOException ex = assertThrows(IOException.class, () -> d.resolve("RN50"));
        assertTrue(ex.getMessage().contains("HTTP 500"), ex.getMessage());
        assertEquals(2, server.requests().size());
    }

    @Test
    void stalledBodyTimesOutAndKeepsPartialFile() throws Exception {
        server.mode(TestFileServer.Mode.STALL_HALF);
        ModelDownloader d = downloader().readTimeout(Duration.ofMillis(300)).maxAttempts(1).build();
        long t0 = System.nanoTime();
        IOException ex = assertThrows(IOException.class, () -> d.resolve("RN50"));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ex.getMessage().contains("no data"), ex.getMessage());
        assertTrue(ms < 5000, "timed out after " + ms + " ms");
        assertTrue(Files.size(part()) > 0);
    }

    @Test
    void connectionRefusedIsAnIOExceptionWithoutRetries() throws Exception {
        String base = server.base();
        server.close();
        ModelRegistry.Entry e = ModelRegistry.Entry.fromUrl("RN50", base + path);
        ModelDownloader d = downloader().registry(ModelRegistry.of(List.of(e))).maxAttempts(5)
                .retryDelay(Duration.ofSeconds(10)).build();
        long t0 = System.nanoTime();
        IOException ex = assertThrows(IOException.class, () -> d.resolve("RN50"));
        assertTrue(ex.getMessage().contains("cannot connect") && ex.getMessage().contains(base), ex.getMessage());
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "an offline machine is told at once");
        assertEquals(List.of(), modelFiles());
    }

    @Test
    void unwritableCacheFolderIsAClearError() throws Exception {
        Path file = cache.resolve("not-a-folder");
        Files.createDirectories(cache);
        Files.write(file, new byte[1]);
        ModelDownloader d = downloader().cacheDir(file.resolve("clip")).build();
        IOException ex = assertThrows(IOException.class, () -> d.resolve("RN50"));
        assertTrue(ex.getMessage().contains("cannot create the model cache folder"), ex.getMessage());
    }

    @Test
    void mirrorReplacesSchemeHostAndPortOfTheRegistryUrl() throws Exception {
        // The registry names OpenAI's host; only the mirror can serve it.
        ModelRegistry.Entry e = ModelRegistry.Entry.fromUrl("RN50",
                "https://openaipublic.azureedge.net" + path);
        ModelDownloader d = downloader().registry(ModelRegistry.of(List.of(e))).mirror(server.base()).build();
        assertEquals(server.url(path), d.sourceUrl(e));
        assertArrayEquals(content, Files.readAllBytes(d.resolve("RN50")));
        assertEquals(path, server.requests().get(0).path());
    }

    @Test
    void mirrorUrlsForTheOfficialRegistry() {
        ModelRegistry.Entry rn50 = ModelRegistry.official().get("RN50");
        ModelDownloader plain = ModelDownloader.builder().cacheDir(cache).mirror(null).build();
        assertEquals(rn50.url(), plain.sourceUrl(rn50));
        ModelDownloader m = ModelDownloader.builder().cacheDir(cache).mirror("http://mirror.local:8080/").build();
        assertEquals("http://mirror.local:8080/clip/models/"
                + "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
                m.sourceUrl(rn50).toString());
        ModelDownloader prefixed = ModelDownloader.builder().cacheDir(cache).mirror("https://h/base").build();
        assertEquals("https://h/base/clip/models/"
                + "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
                prefixed.sourceUrl(ModelRegistry.official().get("CS-ViT-B/16")).toString());
        assertThrows(IllegalArgumentException.class, () -> ModelDownloader.builder().mirror("ftp://x"));
        assertThrows(IllegalArgumentException.class, () -> ModelDownloader.builder().mirror("mirror.local"));
    }

    @Test
    void aBadMirrorInTheEnvironmentIsNamed() {
        for (String bad : List.of("http://127.0.0.1:99999", "http://127.0.0.1:0", "ftp://mirror.local")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ModelDownloader.builder(Map.of(ModelDownloader.MIRROR_ENV, bad)));
            assertTrue(e.getMessage().startsWith("CLIP_SURGERY_MIRROR '" + bad + "'"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelDownloader.builder(Map.of(ModelDownloader.MIRROR_ENV, "http://127.0.0.1:99999")));
        assertTrue(e.getMessage().contains("port 99999; a port is 1 to 65535"), e.getMessage());
        assertEquals("http://127.0.0.1:65535/clip/models/"
                + "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
                ModelDownloader.builder(Map.of(ModelDownloader.MIRROR_ENV, "http://127.0.0.1:65535")).cacheDir(cache)
                        .build().sourceUrl(ModelRegistry.official().get("RN50")).toString());
    }

    @Test
    void existingLocalPathIsUsedWithoutNetwork() throws Exception {
        server.close();
        Path local = cache.resolve("my-weights.pt");
        Files.createDirectories(cache);
        Files.write(local, new byte[] {1, 2, 3});
        ModelDownloader d = downloader().build();
        assertEquals(local, d.resolve(local.toString()));
        assertEquals(0, server.requests().size());
        // A file whose checksum means nothing is still the user's choice: not checked, not deleted.
        assertTrue(Files.exists(local));
    }

    @Test
    void unknownNamesAndMissingFilesAreClearErrors() throws Exception {
        ModelDownloader d = ModelDownloader.builder().cacheDir(cache).build();
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> d.resolve("ViT-H/14"));
        assertTrue(ex.getMessage().contains("ViT-B/16") && ex.getMessage().contains("RN50x64"), ex.getMessage());
        IllegalArgumentException ex2 = assertThrows(IllegalArgumentException.class,
                () -> d.resolve(cache.resolve("nope.pt").toString()));
        assertTrue(ex2.getMessage().contains("nope.pt"), ex2.getMessage());
        assertThrows(IllegalArgumentException.class, () -> d.resolve(cache.toString()));
        assertThrows(IllegalArgumentException.class, () -> d.resolve(" "));
    }

    @Test
    void cacheFolderComesFromTheEnvironmentOrHome() {
        assertEquals(Path.of("/data/clip"),
                ModelDownloader.defaultCacheDir(Map.of(ModelDownloader.CACHE_ENV, "/data/clip"), "/home/u"));
        assertEquals(Path.of("/home/u", ".cache", "clip"), ModelDownloader.defaultCacheDir(Map.of(), "/home/u"));
        assertEquals(Path.of("/home/u", ".cache", "clip"),
                ModelDownloader.defaultCacheDir(Map.of(ModelDownloader.CACHE_ENV, ""), "/home/u"));
    }

    @Test
    void concurrentCallsDownloadOnce() throws Exception {
        ModelDownloader d = downloader().build();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Path>> fs = pool.invokeAll(List.of(() -> d.resolve("RN50"), () -> d.resolve("RN50"),
                    () -> d.resolve("CS-RN50"), () -> d.resolve("RN50")));
            for (Future<Path> f : fs) {
                assertEquals(cache.resolve("RN50.pt"), f.get());
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, server.requests().size());
        assertArrayEquals(content, Files.readAllBytes(cache.resolve("RN50.pt")));
    }

    @Test
    void progressIsReportedInBytes() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8);
        downloader().progress(Progress.to(out, System::nanoTime, 0)).build().resolve("RN50");
        String text = buf.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("RN50.pt"), text);
        assertTrue(text.contains("100%"), text);
        assertTrue(text.contains("3.0 MiB / 3.0 MiB"), text);
        assertTrue(text.endsWith("\n"));
    }

    @Test
    void fixtureCheckpointRoundTrips() throws Exception {
        // A real checkpoint's bytes (skipped where the fixtures are absent).
        byte[] rn = Files.readAllBytes(org.clipsurgery.testing.Fixtures.file("rn.pt"));
        String rnSha = sha256(rn);
        server.put("/clip/models/" + rnSha + "/RN50.pt", rn);
        ModelRegistry.Entry e = ModelRegistry.Entry.fromUrl("RN50", server.base() + "/clip/models/" + rnSha
                + "/RN50.pt");
        ModelDownloader d = downloader().registry(ModelRegistry.of(List.of(e))).build();
        assertArrayEquals(rn, Files.readAllBytes(d.fetch(e)));
    }

    private List<String> modelFiles() throws IOException {
        if (!Files.isDirectory(cache)) {
            return List.of();
        }
        try (var s = Files.list(cache)) {
            return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}

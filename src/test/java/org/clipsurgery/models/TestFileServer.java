package org.clipsurgery.models;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A file server on 127.0.0.1 (ephemeral port) for download tests: serves byte arrays under paths,
 * honours single {@code bytes=N-} ranges like a CDN, and can misbehave on purpose (drop the
 * connection part-way, ignore Range, stall). Records every request's path and Range header.
 */
final class TestFileServer implements AutoCloseable {

    /** How the server answers; changeable between requests. */
    enum Mode { NORMAL, IGNORE_RANGE, DROP_HALF_ONCE, DROP_HALF_ALWAYS, STALL_HALF, ERROR_500 }

    /** One request as the server saw it. */
    record Request(String path, String range) {}

    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");
    /** Bounds the test: a downloader looping on retries cannot make more requests than this. */
    private static final int MAX_REQUESTS = 50;

    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "test-file-server");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, byte[]> files = new ConcurrentHashMap<>();
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger drops = new AtomicInteger();
    private volatile Mode mode = Mode.NORMAL;

    TestFileServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.setExecutor(executor);
        server.start();
    }

    void put(String path, byte[] content) {
        files.put(path, content);
    }

    void mode(Mode m) {
        mode = m;
    }

    List<Request> requests() {
        return List.copyOf(requests);
    }

    /** "http://127.0.0.1:PORT". */
    String base() {
        return "http://" + server.getAddress().getAddress().getHostAddress() + ":" + server.getAddress().getPort();
    }

    URI url(String path) {
        return URI.create(base() + path);
    }

    /** Thrown out of the handler: the server then closes the connection without finishing. */
    private static final class DropConnection extends RuntimeException {
        DropConnection() {
            super("dropping the connection on purpose", null, false, false);
        }
    }

    private void handle(HttpExchange ex) {
        try {
            String path = ex.getRequestURI().getPath();
            String range = ex.getRequestHeaders().getFirst("Range");
            requests.add(new Request(path, range));
            if (requests.size() > MAX_REQUESTS) {
                ex.sendResponseHeaders(503, -1);
                ex.close();
                return;
            }
            byte[] content = files.get(path);
            if (content == null) {
                ex.sendResponseHeaders(404, -1);
                ex.close();
                return;
            }
            Mode m = mode;
            if (m == Mode.ERROR_500) {
                ex.sendResponseHeaders(500, -1);
                ex.close();
                return;
            }
            long start = 0;
            Matcher rm = range == null ? null : RANGE.matcher(range.trim());
            if (m != Mode.IGNORE_RANGE && rm != null && rm.matches()) {
                start = Long.parseLong(rm.group(1));
                if (start >= content.length) {
                    ex.getResponseHeaders().set("Content-Range", "bytes */" + content.length);
                    ex.sendResponseHeaders(416, -1);
                    ex.close();
                    return;
                }
                ex.getResponseHeaders().set("Content-Range",
                        "bytes " + start + "-" + (content.length - 1) + "/" + content.length);
            }
            int length = content.length - (int) start;
            ex.sendResponseHeaders(start > 0 ? 206 : 200, length);
            OutputStream out = ex.getResponseBody();
            boolean drop = m == Mode.DROP_HALF_ALWAYS
                    || (m == Mode.DROP_HALF_ONCE && drops.getAndIncrement() == 0);
            if (drop || m == Mode.STALL_HALF) {
                // Half of what is left, then the connection goes away (or goes quiet).
                out.write(content, (int) start, length / 2);
                out.flush();
                if (m == Mode.STALL_HALF) {
                    try {
                        Thread.sleep(10_000);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                // An exception escaping the handler makes the server close the socket, which the
                // client sees as a connection dropped mid-body.
                throw new DropConnection();
            }
            out.write(content, (int) start, length);
            ex.close();
        } catch (IOException e) {
            // The client went away; nothing to answer.
            ex.close();
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

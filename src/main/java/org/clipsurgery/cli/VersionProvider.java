package org.clipsurgery.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import org.clipsurgery.nativeapi.NativeCalls;
import picocli.CommandLine;

/** {@code --version}: the project version, the native library's version and whether it has CUDA kernels. */
final class VersionProvider implements CommandLine.IVersionProvider {

    /** The project version from the filtered resource, or "unknown" outside a Maven build. */
    static String projectVersion() {
        try (InputStream in = VersionProvider.class.getResourceAsStream("version.properties")) {
            if (in == null) return "unknown";
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version", "unknown");
            return v.startsWith("${") ? "unknown" : v;
        } catch (IOException e) {
            return "unknown";
        }
    }

    @Override
    public String[] getVersion() {
        String lib;
        try {
            lib = "native library " + NativeCalls.version() + ", CUDA kernels "
                    + (NativeCalls.cudaBuilt() ? "built in" : "not built");
        } catch (RuntimeException | LinkageError e) {
            // --version should still answer when the native library cannot load; say why.
            lib = "native library not loadable: " + e.getMessage();
        }
        return new String[] {
            "clip-surgery " + projectVersion(),
            lib,
            "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"
        };
    }
}

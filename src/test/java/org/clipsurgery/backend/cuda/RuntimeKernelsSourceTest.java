package org.clipsurgery.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runtime kernels' source (compiled with NVRTC on the GPU) compiles with the build's nvcc for
 * sm_90 and defines every kernel the engine looks up; runs wherever nvcc is installed, GPU or not
 * (NVRTC itself needs the CUDA libraries and is exercised by the GPU tests).
 */
class RuntimeKernelsSourceTest {
    @Test
    void sourceCompilesForHopperAndDefinesEveryKernel(@TempDir Path dir) throws Exception {
        Path nvcc = Path.of("/usr/local/cuda/bin/nvcc");
        if (!Files.isExecutable(nvcc)) nvcc = Path.of("nvcc");
        Path src = dir.resolve("rt.cu"), cubin = dir.resolve("rt.cubin");
        Files.writeString(src, RuntimeKernels.SOURCE, StandardCharsets.UTF_8);
        Process p;
        try {
            p = new ProcessBuilder(nvcc.toString(), "-arch=sm_90", "-std=c++17", "-cubin", "-o", cubin.toString(), src.toString())
                    .redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            assumeTrue(false, "nvcc not installed: " + e.getMessage());
            return;
        }
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "nvcc failed:\n" + log);
        byte[] binary = Files.readAllBytes(cubin);
        String symbols = new String(binary, StandardCharsets.ISO_8859_1);
        for (String k : List.of("rt_convert", "rt_add", "rt_add_bias", "rt_patchify", "rt_gather_rows", "rt_attention",
                "rt_attention_small")) {
            assertTrue(symbols.contains(k + "\0"), "kernel " + k + " missing from the cubin");
        }
    }
}

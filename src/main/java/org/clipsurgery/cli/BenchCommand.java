package org.clipsurgery.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.clipsurgery.ClipSurgery;
import org.clipsurgery.Device;
import org.clipsurgery.Method;
import org.clipsurgery.Precision;
import org.clipsurgery.bench.CpuBenchmark;
import org.clipsurgery.bench.CudaBenchmark;
import org.clipsurgery.models.ModelDownloader;
import org.clipsurgery.progress.Progress;
import org.clipsurgery.weights.WeightStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code bench}: the CPU or the GPU benchmark, printed as a Markdown table. */
@Command(name = "bench", sortOptions = false, mixinStandardHelpOptions = true,
        header = "Benchmark the CPU or the CUDA pipeline; prints a Markdown table.",
        description = {
            "CPU: image -> 59 maps at 480x640 (preprocessing, image encoder, feature surgery, maps) per "
                    + "resolution and batch size, and the 59 x 85 prompt ensemble; median and minimum wall time "
                    + "after a warm-up, and peak resident memory growth.",
            "CUDA (--device cuda, GPU 0): the captured engine's replay at 224 and 512 px, batch 32 throughput "
                    + "against the cuBLAS GEMM rate, the prompt ensemble on the GPU, and 480x640 camera frames "
                    + "through the library's Session; CUDA-event and wall times (bench.CudaBenchmark).",
            "Default model: ViT-B/16-shaped random weights (generated, nothing downloaded)."
        })
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "NAME|PATH",
            description = "Benchmark this model instead (name or checkpoint file).")
    String model;

    @Option(names = "--resolutions", split = ",", paramLabel = "R",
            description = "Input sides (default: 224,512; with --model, the model's own).")
    int[] resolutions;

    @Option(names = "--batches", split = ",", defaultValue = "1,8", paramLabel = "B",
            description = "Batch sizes (default: ${DEFAULT-VALUE}).")
    int[] batches;

    @Option(names = "--iterations", defaultValue = "5", paramLabel = "N",
            description = "Timed runs per case after one warm-up (default: ${DEFAULT-VALUE}).")
    int iterations;

    @Option(names = "--threads", paramLabel = "N",
            description = "CPU threads for LibTorch (default: LibTorch's choice).")
    Integer threads;

    @Option(names = "--no-ensemble", description = "Skip the prompt-ensemble case.")
    boolean noEnsemble;

    @Option(names = "--profile",
            description = "Instead of the table of cases: where the time of one image -> 59 maps goes, stage by "
                    + "stage (mean ms, share, and GFLOP/s against this machine's measured fp32 GEMM peak).")
    boolean profile;

    @Option(names = "--methods", split = ",", defaultValue = "surgery", paramLabel = "M",
            description = "Methods to time, comma-separated, or 'all' (default: ${DEFAULT-VALUE}): one row per "
                    + "method, resolution and batch (--device cuda: per method and resolution, batch 1).")
    List<String> methods;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda",
            description = "Backend to benchmark (default: ${DEFAULT-VALUE}).")
    Device device;

    @Option(names = "--precision", paramLabel = "fp32|bf16|fp16",
            description = "The engine's arithmetic (default: fp32 on the CPU, fp16 with --device cuda). bf16 on the "
                    + "CPU needs bf16 dot products (AVX512-BF16, AMX, Arm BF16); fp16 is for CUDA.")
    Precision precision;

    @Override
    public Integer call() throws Exception {
        if (iterations < 1) throw new UsageException("--iterations must be at least 1, got " + iterations);
        List<Method> timed = Methods.parse(methods, "--methods");
        if (profile && !timed.equals(List.of(Method.SURGERY))) {
            throw new UsageException("--methods is for the benchmark's timing rows, not --profile");
        }
        if (device == Device.CUDA) {
            if (model != null || profile || resolutions != null) {
                throw new UsageException("--device cuda benchmarks the random ViT-B/16 at 224 and 512 px: "
                        + "--model, --profile and --resolutions are for the CPU");
            }
            print(CudaBenchmark.run(iterations, precision == null ? Precision.FP16 : precision, timed));
            return 0;
        }
        if (threads != null && threads < 1) throw new UsageException("--threads must be at least 1, got " + threads);
        for (int b : batches) if (b < 1) throw new UsageException("--batches must be at least 1, got " + b);
        if (resolutions != null) {
            for (int r : resolutions) if (r < 1) throw new UsageException("--resolutions must be positive, got " + r);
        }
        Precision cpu = precision == null ? Precision.FP32 : precision;
        ModelOptions.checkCpuPrecision(cpu);
        if (threads != null) ClipSurgery.setCpuThreads(threads);
        String table;
        if (profile && model == null) {
            table = CpuBenchmark.profile(resolutions == null ? new int[] {224, 512} : resolutions, batches, iterations, cpu);
        } else if (model == null) {
            table = CpuBenchmark.run(resolutions == null ? new int[] {224, 512} : resolutions, batches, iterations,
                    !noEnsemble, timed, cpu);
        } else {
            Path file = ModelDownloader.builder().progress(Progress.stderr()).build().resolve(model);
            int[] res = resolutions;
            if (res == null) {
                try (WeightStore s = WeightStore.load(file)) {
                    res = new int[] {s.config().imageResolution()};
                }
            }
            table = profile ? CpuBenchmark.profile(model, () -> WeightStore.load(file), res, batches, iterations, cpu)
                    : CpuBenchmark.run(model, () -> WeightStore.load(file), res, batches, iterations, !noEnsemble, timed, cpu);
        }
        print(table);
        return 0;
    }

    private void print(String table) {
        spec.commandLine().getOut().print(table);
        spec.commandLine().getOut().flush();
    }
}

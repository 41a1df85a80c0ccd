#!/bin/bash
# GPU tests (and the GPU benchmark) without Maven, for a machine that has CUDA 13 but no Java,
# no Maven and no network (../shared/device/README.md).
#
#   tests/gpu/run-gpu-tests.sh prepare      # here: build, fill .device/, check sizes, run the
#                                           # launcher locally (GPU tests must be found and skip),
#                                           # print the device command
#   tests/gpu/run-gpu-tests.sh run [bench]  # there: kernel tests and GPU tests (+ the engine, kernel
#                                           # and PyTorch benchmarks), logs under $OUT
#
# .device/ (ignored by git) holds: jre.tgz + java.sh (trimmed runtime with java.desktop for image
# decoding), lib/ (runtime + test jars without LibTorch/OpenBLAS, which the CUDA path does not use,
# plus junit-platform-console-standalone), fixtures/ (the few fixture files the GPU tests read).
# bin/ (test-native: every kernel against its CPU twin; bench-native: the kernel benchmark;
# stripped), emulated-coverage.txt (test-native's table of comparisons and worst errors per CUDA
# entry point from the SIMT emulation, made here: the device run prints the GPU's beside it, so
# one call tells whether the emulation and the hardware agree). target/classes and
# target/test-classes travel as carried paths (they hold the native library built with nvcc for
# sm_90 and its JNI glue, which bin/ uses too).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
mode=${1:-prepare}
console_version=1.14.1   # JUnit Platform of junit-jupiter 5.14.1 (pom.xml)
fixtures_src=${CLIP_SURGERY_FIXTURES:-$root/../shared/fixtures}
fixture_files="vit.pt image.png reference.json reference-vit.safetensors reference-methods.safetensors"  # not rn.pt and its reference: 15 MB more than the payload holds
limit=$((64 * 1024 * 1024))

classpath() {  # the console launcher jar is on the class path already (-jar)
    echo "target/classes:target/test-classes:$(ls .device/lib/*.jar | grep -v junit-platform-console-standalone | tr '\n' ':')"
}

launcher() {  # launcher JAVA [extra launcher args]
    local java=$1; shift
    "$java" -Xmx16g -Djava.awt.headless=true -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -Dorg.bytedeco.javacpp.maxBytes=0 \
        -Dorg.bytedeco.javacpp.cachedir=/tmp/javacpp-cache \
        -jar .device/lib/junit-platform-console-standalone-$console_version.jar execute \
        -cp "$(classpath)" --disable-banner --details=tree "$@"
}

case "$mode" in
prepare)
    command -v mvn >/dev/null || { echo "prepare runs on the build machine (needs mvn)"; exit 1; }
    # 1. classes, test classes, native library (sm_90 is what the H100/H200 need)
    mvn -B -o -q test-compile -Dcuda.archs=${CUDA_ARCHS:-90}
    # 2. runtime
    rm -rf .device && mkdir -p .device/lib .device/fixtures
    /work/shared/device/make-jre.sh .device java.desktop >/dev/null
    # 3. jars: everything the tests need but LibTorch / OpenBLAS
    mvn -B -o -q dependency:copy-dependencies -DincludeScope=test -DoutputDirectory=.device/lib
    rm -f .device/lib/pytorch-*.jar .device/lib/openblas-*.jar
    # the console launcher bundles JUnit (Jupiter, Platform, OpenTest4J, API Guardian)
    rm -f .device/lib/junit-*.jar .device/lib/opentest4j-*.jar .device/lib/apiguardian-*.jar
    # org.bytedeco:cuda's platform jar holds the JNI glue of every CUDA library (33 MB unpacked):
    # the engine uses the runtime's and cuBLAS's only
    zip -q -d .device/lib/cuda-*-linux-x86_64.jar 'org/bytedeco/cuda/linux-x86_64/*.so' \
        -x 'org/bytedeco/cuda/linux-x86_64/libjnicudart.so' 'org/bytedeco/cuda/linux-x86_64/libjnicublas.so'
    # the native test program and benchmark (they load the library in target/classes)
    mkdir -p .device/bin
    cmake --build target/native -j2 --target native-tests > /dev/null   # test-compile does not build them
    cp target/native/bin/test-native target/native/bin/bench-native .device/bin/ 2>/dev/null || true
    strip .device/bin/* 2>/dev/null || true
    # the same kernel-vs-twin comparisons on the SIMT emulation (same source and seeds as test-native)
    if cmake --build target/native -j2 --target test-native-emu > /dev/null 2>&1; then
        echo "--- the native tests on the SIMT emulation (the table the device run compares with) ---"
        CS_EMU_QUIET=1 target/native/emu/bin/test-native-emu > .device/emulated.log 2>&1 || true
        sed -n '/^kernel-vs-twin comparisons/,/^  total/p' .device/emulated.log | grep '^  ' > .device/emulated-coverage.txt
        tail -1 .device/emulated.log
        rm .device/emulated.log
    fi
    artifact=org.junit.platform:junit-platform-console-standalone:$console_version
    if ! mvn -B -o -q dependency:copy -Dartifact=$artifact -DoutputDirectory=.device/lib >/dev/null 2>&1; then
        mvn -B -q dependency:get -Dartifact=$artifact >/dev/null   # fetched once from Maven Central
        mvn -B -o -q dependency:copy -Dartifact=$artifact -DoutputDirectory=.device/lib
    fi
    # 4. fixtures
    for f in $fixture_files; do cp "$fixtures_src/$f" .device/fixtures/; done
    # 5. size: tracked tree + untracked-not-ignored + carried paths must stay under 64 MiB
    tracked=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
    carried=$(du -cb .device target/classes target/test-classes | tail -1 | cut -f1)
    total=$((tracked + carried))
    printf 'payload: tree %.1f MiB + .device %.1f MiB + target/classes %.1f MiB + target/test-classes %.1f MiB = %.1f MiB (limit 64)\n' \
        "$(echo "$tracked / 1048576" | bc -l)" "$(du -sb .device | cut -f1 | awk '{print $1/1048576}')" \
        "$(du -sb target/classes | cut -f1 | awk '{print $1/1048576}')" "$(du -sb target/test-classes | cut -f1 | awk '{print $1/1048576}')" \
        "$(echo "$total / 1048576" | bc -l)"
    if [ "$total" -ge "$limit" ]; then echo "too large for the device machine"; exit 1; fi
    # 6. local proof with the same runtime and class path as there: the GPU tests are discovered
    #    and skip (no device here); the no-device test exercises the facade without LibTorch jars.
    echo "--- local run, GPU-tagged tests (must be found and skipped here) ---"
    CLIP_SURGERY_FIXTURES=.device/fixtures launcher .device/java.sh --include-tag gpu --scan-classpath target/test-classes
    echo "--- local run, the no-device error through the facade, without LibTorch on the class path ---"
    launcher .device/java.sh --select-class org.clipsurgery.engine.cuda.CudaUnavailableTest
    cat <<MSG

Device tool call (one run: GPU tests, then the benchmark; results under \$OUT):
  command: bash tests/gpu/run-gpu-tests.sh run bench
  carry:   [".device", "target/classes", "target/test-classes"]
  kind:    nvidia-h100-x1 (or nvidia-h200), timeout_s 600
MSG
    ;;
run)
    [ -x .device/java.sh ] || { echo ".device/ is missing: run 'tests/gpu/run-gpu-tests.sh prepare' on the build machine and carry it"; exit 1; }
    out=${OUT:-/tmp/gpu-out}
    mkdir -p "$out"
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
        [ -d "$d" ] && export LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    done
    { nvidia-smi; ls /usr/local/cuda/lib64 2>/dev/null | grep -E 'cublas|cudart' ; } > "$out/device.txt" 2>&1 || true
    export CLIP_SURGERY_FIXTURES=$root/.device/fixtures
    status=0
    # the kernels against their CPU twins (the native test program finds the device by itself)
    native_lib=target/classes/org/clipsurgery/nativeapi/linux-x86_64
    if [ -x .device/bin/test-native ]; then
        LD_LIBRARY_PATH=$native_lib:${LD_LIBRARY_PATH:-} .device/bin/test-native > "$out/test-native.log" 2>&1 || status=$?
        grep '^FAIL' "$out/test-native.log" | head -20 || true
        tail -1 "$out/test-native.log"
        if [ -f .device/emulated-coverage.txt ]; then
            echo "--- kernel vs twin per CUDA entry point: comparisons and worst error / tolerance, GPU | SIMT emulation ---"
            sed -n '/^kernel-vs-twin comparisons/,/^  total/p' "$out/test-native.log" | grep '^  ' |
                awk 'NR == FNR { emu[$1] = $2 "  " $3; next }
                     { printf "  %-28s %6s  %-8s | %s%s\n", $1, $2, $3, emu[$1],
                              ($3 + 0 > 1 ? "   GPU above tolerance" : "") }' .device/emulated-coverage.txt - |
                tee "$out/gpu-vs-emulation.txt"
        fi
    fi
    # every gpu-tagged test: the engine's tests and the kernels' (nativeapi) tests
    launcher .device/java.sh --include-tag gpu --scan-classpath target/test-classes --reports-dir "$out/junit" \
        > "$out/gpu-tests.log" 2>&1 || status=$?
    tail -60 "$out/gpu-tests.log"
    if ! grep -qE '^\[ +[1-9][0-9]* tests successful' "$out/gpu-tests.log"; then
        echo "no GPU test ran: is there a CUDA device and a CUDA 13 driver? (see $out/device.txt)"
        [ "$status" = 0 ] && status=3
    fi
    if [ "${2:-}" = bench ]; then
        .device/java.sh -Xmx16g -Djava.awt.headless=true -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -Dorg.bytedeco.javacpp.maxBytes=0 \
            -Dorg.bytedeco.javacpp.cachedir=/tmp/javacpp-cache -cp "$(classpath)" \
            org.clipsurgery.cli.Main bench --device cuda --iterations 200 --methods all > "$out/bench.md" 2> "$out/bench.log" || status=$((status ? status : 2))
        cat "$out/bench.md"
        tail -30 "$out/bench.log"
        if [ -x .device/bin/bench-native ]; then
            LD_LIBRARY_PATH=$native_lib:${LD_LIBRARY_PATH:-} .device/bin/bench-native > "$out/bench-native.md" 2>&1 || true
            tail -40 "$out/bench-native.md"
        fi
        # the PyTorch anchors of the kernel benchmark (two SDPA calls, the official feature
        # surgery), same shapes, same device: the machine has PyTorch
        if python3 -c 'import torch' 2>/dev/null; then
            python3 tests/bench_torch.py 200 > "$out/bench-torch.md" 2>&1 || true
            cat "$out/bench-torch.md"
        fi
    fi
    exit $status
    ;;
*)
    echo "usage: $0 prepare | run [bench]"; exit 2 ;;
esac

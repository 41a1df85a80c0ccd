#!/bin/bash
# The emulated kernel suite: tests/test_native.cpp with every cs_*_cuda entry point running the
# real cuda/*.cu kernels on the CPU (the SIMT emulation, tests/emu) against the CPU twins, under
# three warp schedules, then once more with everything built with AddressSanitizer and UBSan.
#
#   tests/emu/run-emulated-tests.sh [BUILD_DIR]     (default: target/native, the Maven build's)
#
# Configures BUILD_DIR if needed, builds the emulation's targets, runs its self-test (kernels that
# break each rule it enforces must be stopped), then the four passes two at a time, and prints, per pass, its failures and the last lines of its report (comparisons per
# entry point, "N passed, M failed"), then one total line "N passed, M failed". Logs go to
# BUILD_DIR/emu/logs; the greedy pass writes the launch log the resource gate reads
# (BUILD_DIR/emu/launches.tsv, tests/gate/ResourceGate.java).
# Environment: CS_EMU_SEED (default 1) seeds the greedy passes; CLIP_SURGERY_CI=1 makes a missing
# emulation (no CUDA headers) a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-target/native}
seed=${CS_EMU_SEED:-1}

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
fi
targets=$(cmake --build "$build" --target help)
if ! grep -q 'test-native-emu-sanitized' <<< "$targets"; then
    echo "emulated kernel suite: not built (CMake found no CUDA headers, or -DCS_EMULATION=OFF)"
    [ "${CLIP_SURGERY_CI:-0}" = 1 ] && { echo "CLIP_SURGERY_CI=1: the emulated suite must run in CI"; exit 1; }
    exit 0
fi
cmake --build "$build" -j"${CS_JOBS:-2}" --target emu-selftest test-native-emu test-native-emu-sanitized > /dev/null

logs=$build/emu/logs
mkdir -p "$logs"
bin=$build/emu/bin

# First the emulation's own check: kernels that break its rules must be stopped, under each schedule.
echo "=== the emulation's self-test (tests/emu/selftest.cpp) ==="
for schedule in lockstep greedy reverse; do
    CS_EMU_QUIET=1 CS_EMU_SCHEDULE=$schedule "$bin/emu-selftest" > "$logs/selftest-$schedule.log" 2>&1 ||
        { grep -E '^FAIL' "$logs/selftest-$schedule.log"; echo "self-test failed ($schedule): the emulation itself is broken"; exit 1; }
done
tail -1 "$logs/selftest-greedy.log"

# name | environment | program. The sanitized pass is about four times slower: it starts first and
# has one core to itself while the other three take turns on the other.
passes=(
    "greedy, ASan+UBSan|CS_EMU_SCHEDULE=greedy CS_EMU_SEED=$((seed + 1)) ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1|$bin/test-native-emu-sanitized"
    "lockstep|CS_EMU_SCHEDULE=lockstep|$bin/test-native-emu"
    "greedy|CS_EMU_SCHEDULE=greedy CS_EMU_SEED=$seed CS_EMU_LAUNCH_LOG=$build/emu/launches.tsv|$bin/test-native-emu"
    "reverse|CS_EMU_SCHEDULE=reverse|$bin/test-native-emu"
)

start=$(date +%s)
running=0
for i in "${!passes[@]}"; do
    IFS='|' read -r name envs program <<< "${passes[$i]}"
    # two at a time (the CI machine has two cores)
    if [ $running -ge 2 ]; then wait -n || true; running=$((running - 1)); fi
    ( env $envs timeout 1200 "$program" > "$logs/pass$i.log" 2>&1; echo $? > "$logs/pass$i.rc" ) &
    running=$((running + 1))
done
wait

passed=0 failed=0 status=0
for i in "${!passes[@]}"; do
    IFS='|' read -r name envs program <<< "${passes[$i]}"
    log=$logs/pass$i.log rc=$(cat "$logs/pass$i.rc")
    echo "=== emulated kernels, schedule $name: $(basename "$program") (log: $log) ==="
    grep -E '^FAIL|cs-emu fault|ERROR: AddressSanitizer|runtime error:' "$log" | head -20 || true
    if [ "$i" = 2 ]; then sed -n '/^kernel-vs-twin comparisons/,/^  total/p' "$log"; fi
    grep -E '^cs-emu: schedule' "$log" || true
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
    if [ -z "$summary" ]; then
        echo "no summary: the program ended with status $rc (crash, sanitizer report or timeout); last lines:"
        tail -15 "$log"
        failed=$((failed + 1))
        status=1
        continue
    fi
    echo "$summary"
    passed=$((passed + ${summary%% *}))
    f=${summary#*, }
    failed=$((failed + ${f%% *}))
    [ "$rc" = 0 ] || status=1
done
echo "emulated kernel suite: 4 passes in $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
exit $status

#!/bin/bash
# Mutation check of the emulated kernel suite: plants one bug at a time in a scratch copy of the
# kernels, rebuilds test-native-emu there and runs the test groups that cover it under the three
# warp schedules. Every mutant must be caught (the suite is only as good as the bugs it finds).
# The last four undo fixes the emulated suite proved (each came with a test that failed before).
# Not part of CI (a rebuild per mutant, about 20 minutes in all); run it after changing a kernel
# or the emulation:
#
#   tests/emu/mutants.sh [SCRATCH_DIR]        (default /tmp/cs-mutants)
#   CS_MUTANTS='Gaussian|GEM' tests/emu/mutants.sh   (only the mutants whose name matches)
#
# Prints, per mutant, the schedules that caught it and the first failure the suite printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
scratch=${1:-/tmp/cs-mutants}
src=$scratch/src build=$scratch/build
mkdir -p "$scratch"
rm -rf "$src" && mkdir -p "$src"
cp -r CMakeLists.txt cuda native include tests "$src/"
cmake -S "$src" -B "$build" -DCS_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=Release > /dev/null

# name | file | perl substitution (applied once, must change the file) | test groups
mutants=(
  "A fragment registers 1 and 2 swapped (tensor-core attention)|cuda/attention.cu|s/qf\[kk\]\[1\] = ld\(row0 \+ g \+ 8, kk \* 16 \+ 2 \* q\);\n(\s*)qf\[kk\]\[2\] = ld\(row0 \+ g, kk \* 16 \+ 8 \+ 2 \* q\);/qf[kk][2] = ld(row0 + g + 8, kk * 16 + 2 * q);\n\$1qf[kk][1] = ld(row0 + g, kk * 16 + 8 + 2 * q);/|attention attention_awkward_shapes"
  "wrong fragment row: P.V's B operand one key row off (tensor-core attention)|cuda/attention.cu|s/const int key = kk \* 16 \+ 2 \* q;/const int key = kk * 16 + 2 * q + 1;/|attention attention_awkward_shapes"
  "__syncthreads before reusing the K/V tile deleted (tensor-core attention)|cuda/attention.cu|s/(k0 \+= kMmaKeys\) \{\n\s*)__syncthreads\(\);/\$1/|attention attention_awkward_shapes"
  "off by one on the token tail: key n not masked (tensor-core attention)|cuda/attention.cu|s/s\[nt\]\[e\] = key < n \?/s[nt][e] = key <= n ?/|attention attention_awkward_shapes"
  "wrong shuffle offset in the quad max (4 instead of 2: crosses quads)|cuda/attention.cu|s/mx0 = fmaxf\(mx0, __shfl_xor_sync\(0xffffffffu, mx0, 2\)\);/mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 4));/|attention attention_awkward_shapes"
  "causal mask one key too far (short single-path attention)|cuda/attention.cu|s/const int keys = causal \? i \+ 1 : tokens;\n(\s*)\/\/ The butterfly/const int keys = causal ? min(i + 2, tokens) : tokens;\n\$1\/\/ The butterfly/|single_attention attention_awkward_shapes"
  "first barrier of block_reduce deleted (scratch reused too early)|cuda/common.cuh|s/(const int warp = threadIdx.x \/ 32, lane = threadIdx.x % 32, warps = blockDim.x \/ 32;\n\s*)__syncthreads\(\);/\$1/|feature_surgery map_upsample map_points engine_ops"
  "feature surgery: the barrier between the label scores and their use deleted|cuda/feature_surgery.cu|s/__syncthreads\(\); \/\/ every warp's label scores are written//|feature_surgery"
  "online softmax: the accumulator not rescaled when the running max grows (the SIMT kernels' shared loop)|cuda/attention.cu|s/for \(int e = 0; e < E; e\+\+\) acc\[e\] \*= corr;//|attention self_attention"
  # the training-free methods' modes (cs_self_attention_cuda)
  "NACLIP's Gaussian from token indices, not patch coordinates (the class token's offset lost)|cuda/attention.cu|s/const int dy = \(j - 1\) \/ grid - yi, dx = \(j - 1\) % grid - xi;/const int dy = j \/ grid - yi, dx = j % grid - xi;/|self_attention"
  "SCLIP's second softmax (k.kT) missing from the sum|cuda/attention.cu|s/if \(mode == CS_ATTN_QQ_PLUS_KK\) a.terms\[a.nterms\+\+\] = k;//|self_attention"
  "a later term's softmax not normalised (its weights not divided by their sum)|cuda/attention.cu|s/total\[e\] = fmaf\(acc\[e\], inv, total\[e\]\);/total[e] = fmaf(acc[e], t == 0 ? inv : 1.f, total[e]);/|self_attention"
  "GEM's iteration not renormalised|cuda/attention.cu|s/it.normalize = 1;/it.normalize = 0;/|self_attention"
  "GEM's temperature of image 0 for every image|cuda/attention.cu|s/a.image_scale \? a.image_scale\[b\]/a.image_scale ? a.image_scale[0]/|self_attention"
  # the fixes of the emulated-kernel issue, undone: each must fail again
  "the launch reports cudaGetLastError (an earlier call's error) instead of its own|cuda/common.cuh|s/const cudaError_t err = cudaLaunchKernelEx\(&config, kernel, std::forward<Args>\(args\)...\);/cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);\n    const cudaError_t err = cudaGetLastError();/|launch_reports_its_own_error"
  "feature surgery accepts channels + labels up to 12288 again (more shared memory than a block has)|cuda/feature_surgery.cu|s/constexpr int64_t kMaxChannelsPlusLabels = \(48 \* 1024 - 256\) \/ 4;/constexpr int64_t kMaxChannelsPlusLabels = 12288;/|feature_surgery_cuda_limits"
  "feature surgery launches one block row per image again (grid y past 65535)|cuda/feature_surgery.cu|s/std::min<int64_t>\(batch, kMaxGridY\)/batch/|feature_surgery_cuda_limits"
  "dual attention checks only pointer equality of the outputs again (partial overlaps pass)|native/attention.cpp|s/CS_CHECK_ARG\(\(!out_ori \x7c\x7c !cs::ranges_overlap.*?\n(\s*)\x22attention_dual: outputs/CS_CHECK_ARG(out_ori != qkv && out_vv != qkv && out_ori != out_vv,\n\$1\x22attention_dual: outputs/s|attention"
)

caught=0 tried=0
for m in "${mutants[@]}"; do
    IFS='|' read -r name file subst groups <<< "$m"
    # CS_MUTANTS=REGEX: only the mutants whose name matches (after changing one kernel)
    [ -n "${CS_MUTANTS:-}" ] && ! grep -qE "$CS_MUTANTS" <<< "$name" && continue
    tried=$((tried + 1))
    cp "$root/$file" "$src/$file"
    perl -0pi -e "$subst" "$src/$file"
    if cmp -s "$root/$file" "$src/$file"; then
        echo "MUTANT DOES NOT APPLY (the source changed; update tests/emu/mutants.sh): $name"
        exit 1
    fi
    if ! cmake --build "$build" -j2 --target test-native-emu > "$scratch/build.log" 2>&1; then
        echo "MUTANT DOES NOT COMPILE: $name"; tail -5 "$scratch/build.log"; exit 1
    fi
    found=()
    first=""
    for schedule in lockstep greedy reverse; do
        log=$scratch/$schedule.log
        CS_EMU_SCHEDULE=$schedule CS_EMU_QUIET=1 timeout 900 "$build/emu/bin/test-native-emu" $groups > "$log" 2>&1 || true
        if ! grep -qE '^0 failed$|^[0-9]+ passed, 0 failed$' "$log"; then
            found+=("$schedule")
            [ -z "$first" ] && first=$(grep -m1 -E '^FAIL|cs-emu fault|^[0-9]+ passed' "$log" || tail -1 "$log")
        fi
    done
    if [ ${#found[@]} -gt 0 ]; then
        caught=$((caught + 1))
        echo "caught ($(IFS=,; echo "${found[*]}")): $name"
        echo "    $first"
    else
        echo "NOT CAUGHT: $name"
    fi
    cp "$root/$file" "$src/$file" # restore for the next mutant
done
echo "$caught of $tried mutants caught"
[ "$caught" = "$tried" ]

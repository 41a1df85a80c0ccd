#!/usr/bin/env bash
# linux-arm64 readiness, checked from an x86-64 host: cross-compiles libclip_surgery (native/*.cpp,
# no CUDA) and the native tests (tests/test_native.cpp) with Debian's aarch64 toolchain
# (cmake/aarch64-linux-gnu.cmake), then runs the tests under qemu-user. Every CPU twin is checked
# against its plain reference as on x86-64 (the CUDA comparisons are not compiled in).
# Needs: apt-get install g++-aarch64-linux-gnu qemu-user
# Usage: tests/cross/arm64.sh [BUILD_DIR]   (default target/native-linux-arm64)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/target/native-linux-arm64}"
sysroot=/usr/aarch64-linux-gnu
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
    if ! command -v "$tool" > /dev/null; then
        echo "arm64.sh: $tool not found; install it with: apt-get install g++-aarch64-linux-gnu qemu-user" >&2
        exit 2
    fi
done
cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DCS_WITH_CUDA=OFF -DCS_EMULATION=OFF
cmake --build "$build" -j "${NATIVE_JOBS:-2}"
# The build must really be aarch64 code, or qemu below would prove nothing.
for f in "$build/lib/libclip_surgery.so" "$build/bin/test-native"; do
    machine=$(readelf -h "$f" | sed -n 's/^ *Machine: *//p')
    if [ "$machine" != "AArch64" ]; then
        echo "arm64.sh: $f is built for '$machine', not AArch64" >&2
        exit 1
    fi
done
# The library's dynamic dependencies: libstdc++, libm, libgcc_s and libc only (what a Jetson has).
readelf -d "$build/lib/libclip_surgery.so" | grep NEEDED
qemu-aarch64 -L "$sysroot" "$build/bin/test-native"

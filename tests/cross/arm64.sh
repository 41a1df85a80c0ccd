#!/usr/bin/env bash
# linux-arm64 readiness, checked from an x86-64 host: cross-compiles libclip_surgery (native/*.cpp,
# no CUDA) and the native tests (tests/test_native.cpp) with Debian's aarch64 toolchain
# (cmake/aarch64-linux-gnu.cmake), then runs the tests under qemu-user. Every CPU twin is checked
# against its plain reference as on x86-64 (the CUDA comparisons are not compiled in).
# Needs: apt-get install g++-aarch64-linux-gnu qemu-user
# Then, where the Java build has run (target/classes, target/lib: `mvn -B package`), the JNI glue is
# cross-compiled by JavaCPP's Builder and target/clip-surgery-<version>-linux-arm64.jar is made,
# laid out as the linux-x86_64 jar. It cannot be loaded here (that needs an arm64 JVM): what is
# checked is that it is aarch64 code exporting the same JNI functions as the x86-64 glue.
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
# The test program is not in the default build (CMakeLists.txt: native-tests).
cmake --build "$build" -j "${NATIVE_JOBS:-2}" --target all native-tests
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

# The linux-arm64 jar, where the Java build is there.
classes="$root/target/classes"
glue_x86="$classes/org/clipsurgery/nativeapi/linux-x86_64/libjniClipSurgeryNative.so"
javacpp=$(ls "$root"/target/lib/javacpp-[0-9]*.jar 2> /dev/null | grep -v -- '-linux-' | head -n 1 || true)
if [ ! -f "$classes/org/clipsurgery/nativeapi/ClipSurgeryNative.class" ] || [ ! -f "$glue_x86" ] || [ -z "$javacpp" ]; then
    echo "arm64.sh: no Java build in $root/target (mvn -B package -DskipTests): linux-arm64 jar not made"
    exit 0
fi
version=$(sed -n 's/^version=//p' "$root/target/maven-archiver/pom.properties")
stage="$build/jar"
out="$stage/org/clipsurgery/nativeapi/linux-arm64"
rm -rf "$stage"
# JavaCPP's linux-arm64 properties name g++; the cross compiler replaces it.
java -cp "$javacpp" org.bytedeco.javacpp.tools.Builder -properties linux-arm64 \
    -Dplatform.compiler=aarch64-linux-gnu-g++ -Dplatform.includepath="$root/include" \
    -Dplatform.linkpath="$build/lib" -copylibs -cp "$classes" -d "$out" org.clipsurgery.nativeapi.ClipSurgeryNative
jni_functions() { readelf --dyn-syms -W "$1" | awk '$NF ~ /^Java_/ { print $NF }' | sort; }
for f in "$out/libjniClipSurgeryNative.so" "$out/libclip_surgery.so"; do
    [ "$(readelf -h "$f" | sed -n 's/^ *Machine: *//p')" = AArch64 ] || { echo "arm64.sh: $f is not AArch64" >&2; exit 1; }
done
if [ "$(jni_functions "$glue_x86" | wc -l)" -eq 0 ]; then
    echo "arm64.sh: no JNI functions found in $glue_x86: nothing to compare" >&2
    exit 1
fi
if ! diff <(jni_functions "$glue_x86") <(jni_functions "$out/libjniClipSurgeryNative.so") > /dev/null; then
    echo "arm64.sh: the arm64 JNI glue does not export the x86-64 glue's functions" >&2
    exit 1
fi
echo "arm64.sh: $(jni_functions "$out/libjniClipSurgeryNative.so" | wc -l) JNI functions, as on x86-64"
jar --create --file "$root/target/clip-surgery-$version-linux-arm64.jar" -C "$stage" org
echo "arm64.sh: made $root/target/clip-surgery-$version-linux-arm64.jar"

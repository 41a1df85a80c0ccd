# CMake toolchain: linux-arm64 (aarch64, e.g. NVIDIA Jetson) from an x86-64 Debian/Ubuntu host with
# the distribution's cross compiler (apt-get install g++-aarch64-linux-gnu). Used by
# tests/cross/arm64.sh; builds the CPU library only (configure with -DCS_WITH_CUDA=OFF: the host's
# nvcc targets x86-64).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Libraries and headers from the target's sysroot only, programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# How the host runs the target's programs (apt-get install qemu-user).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)

// SIMT emulation: this header replaces CUDA's <cuda_runtime.h> for the kernel sources (cuda/*.cu
// compiled as C++ with -DCS_EMULATION and tests/emu/include first on the include path), so that
// the unmodified kernel bodies run on the CPU (tests/emu/runtime.cpp executes them).
//
// What a kernel sees:
//  - threadIdx / blockIdx / blockDim / gridDim / warpSize, set for the CUDA thread that runs;
//  - __shared__ variables: one instance per block (function-local statics, poisoned at the start
//    of every block; blocks run one at a time);
//    dynamic shared memory through CS_DYNAMIC_SHARED (cuda/common.cuh), poisoned likewise;
//  - __syncthreads, __syncwarp, __shfl*_sync, __ballot_sync / __any_sync / __all_sync: checked
//    collectives (tests/emu/runtime.cpp), each naming its source line in error messages;
//  - the _rn intrinsics as single IEEE operations the host compiler cannot fuse into an FMA
//    (nvcc never contracts them either; plain a * b + c may be contracted, as nvcc does);
//  - NVIDIA's own cuda_fp16.h / cuda_bf16.h for half and bfloat16 rounding;
//  - the host API the kernels' entry points call (cudaMallocAsync, cudaLaunchKernelEx, ...),
//    declared by NVIDIA's cuda_runtime_api.h and implemented by the emulation, device memory
//    being host memory.
#pragma once

#ifndef CS_EMULATION
#error "tests/emu/include/cuda_runtime.h is the SIMT emulation's header: compile with -DCS_EMULATION"
#endif

// Defined before NVIDIA's headers so that host_defines.h keeps them (it defines each only if absent).
#define __host__
#define __device__
#define __global__

#include <cuda_runtime_api.h> // cudaError_t, dim3, cudaLaunchConfig_t, the host API's declarations
#include <vector_functions.h> // make_uint4, make_float2, ...
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#undef __forceinline__
#define __forceinline__ inline
#define __launch_bounds__(...)
// One instance per block: a function-local static, which the emulation finds in the symbol table
// (tests/emu/kernel_symbols.cpp) and poisons at each block's start.
#undef __shared__
#define __shared__ static

using std::isfinite;
using std::isnan;
using std::max;
using std::min;

#define CS_EMU_API __attribute__((visibility("default")))

namespace cs_emu {

// Dynamic shared memory of the running block (CS_DYNAMIC_SHARED in cuda/common.cuh).
CS_EMU_API void *dynamic_shared_base();
template <typename T> T *dynamic_shared() { return static_cast<T *>(dynamic_shared_base()); }

// Element types of an emulated mma.sync.
enum class MmaType { F16, BF16 };

// A source position: the collectives below are called through it, so that an error names the
// line of the __syncthreads or shuffle where the threads disagreed.
struct CS_EMU_API Site {
    const char *file;
    int line;

    void syncthreads() const;
    void syncwarp(unsigned mask = 0xffffffffu) const;
    // kind: 0 idx, 1 up, 2 down, 3 xor (PTX shfl modes); `value` holds the 64-bit pattern.
    uint64_t shuffle(unsigned mask, uint64_t value, int kind, int arg, int width) const;
    unsigned vote(unsigned mask, bool predicate) const; // the ballot; any/all derive from it

    template <typename T> T shfl(unsigned mask, T v, int src, int width = 32) const { return shuffled(mask, v, 0, src, width); }
    template <typename T> T shfl_up(unsigned mask, T v, unsigned d, int width = 32) const { return shuffled(mask, v, 1, (int)d, width); }
    template <typename T> T shfl_down(unsigned mask, T v, unsigned d, int width = 32) const { return shuffled(mask, v, 2, (int)d, width); }
    template <typename T> T shfl_xor(unsigned mask, T v, int lane_mask, int width = 32) const { return shuffled(mask, v, 3, lane_mask, width); }
    unsigned ballot(unsigned mask, int predicate) const { return vote(mask, predicate != 0); }
    int any(unsigned mask, int predicate) const { return vote(mask, predicate != 0) != 0; }
    int all(unsigned mask, int predicate) const { return vote(mask, predicate != 0) == mask; }

    // mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32 for the calling warp:
    // c += a·b with the fragments of ../shared/docs/PTX-MMA.md (every lane passes its own).
    void mma_m16n8k16(float c[4], const uint32_t a[4], const uint32_t b[2], MmaType type) const;
    // ldmatrix.sync.aligned.m8n8.x{count}{.trans}.shared.b16: `row` is this lane's row address.
    void ldmatrix(uint32_t *regs, int count, bool trans, const void *row) const;

  private:
    template <typename T> T shuffled(unsigned mask, T v, int kind, int arg, int width) const {
        static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 64 bits");
        uint64_t u = 0;
        std::memcpy(&u, &v, sizeof(T));
        u = shuffle(mask, u, kind, arg, width);
        T r;
        std::memcpy(&r, &u, sizeof(T));
        return r;
    }
};

// Runs `body` (the kernel with its arguments bound) on every thread of the launch's grid, after
// checking the launch as a GPU does. `kernel` identifies the kernel (its address).
CS_EMU_API cudaError_t launch(const cudaLaunchConfig_t &config, const void *kernel, const std::function<void()> &body);

// Guards an _rn result against contraction with a neighbouring operation.
inline float opaque(float x) {
    __asm__("" : "+g"(x));
    return x;
}
inline double opaque(double x) {
    __asm__("" : "+g"(x));
    return x;
}

} // namespace cs_emu

#define CS_EMU_SITE (cs_emu::Site{__FILE__, __LINE__})
// The CUDA thread that runs (set by the scheduler before each switch into a thread).
extern CS_EMU_API uint3 threadIdx, blockIdx;
extern CS_EMU_API dim3 blockDim, gridDim;
constexpr int warpSize = 32;

#define __syncthreads CS_EMU_SITE.syncthreads
#define __syncwarp CS_EMU_SITE.syncwarp
#define __shfl_sync CS_EMU_SITE.shfl
#define __shfl_up_sync CS_EMU_SITE.shfl_up
#define __shfl_down_sync CS_EMU_SITE.shfl_down
#define __shfl_xor_sync CS_EMU_SITE.shfl_xor
#define __ballot_sync CS_EMU_SITE.ballot
#define __any_sync CS_EMU_SITE.any
#define __all_sync CS_EMU_SITE.all

// IEEE round-to-nearest operations that are never fused (nvcc keeps _rn intrinsics separate).
inline float __fadd_rn(float a, float b) { return cs_emu::opaque(cs_emu::opaque(a) + cs_emu::opaque(b)); }
inline float __fsub_rn(float a, float b) { return cs_emu::opaque(cs_emu::opaque(a) - cs_emu::opaque(b)); }
inline float __fmul_rn(float a, float b) { return cs_emu::opaque(cs_emu::opaque(a) * cs_emu::opaque(b)); }
inline float __fdiv_rn(float a, float b) { return cs_emu::opaque(cs_emu::opaque(a) / cs_emu::opaque(b)); }
inline float __fsqrt_rn(float a) { return cs_emu::opaque(std::sqrt(cs_emu::opaque(a))); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return cs_emu::opaque(cs_emu::opaque(a) + cs_emu::opaque(b)); }
inline double __dsub_rn(double a, double b) { return cs_emu::opaque(cs_emu::opaque(a) - cs_emu::opaque(b)); }
inline double __dmul_rn(double a, double b) { return cs_emu::opaque(cs_emu::opaque(a) * cs_emu::opaque(b)); }
inline double __ddiv_rn(double a, double b) { return cs_emu::opaque(cs_emu::opaque(a) / cs_emu::opaque(b)); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
// The GPU's rsqrtf is an approximation (2 ulp); the exact value is within it.
inline float rsqrtf(float a) { return 1.f / std::sqrt(a); }

// The real header's typed conveniences over the C API.
template <typename T> cudaError_t cudaMallocAsync(T **ptr, size_t size, cudaStream_t stream) {
    return ::cudaMallocAsync(reinterpret_cast<void **>(ptr), size, stream);
}
template <typename T> cudaError_t cudaMalloc(T **ptr, size_t size) {
    return ::cudaMalloc(reinterpret_cast<void **>(ptr), size);
}
template <typename T> cudaError_t cudaFuncSetAttribute(T *kernel, cudaFuncAttribute attr, int value) {
    return ::cudaFuncSetAttribute(reinterpret_cast<const void *>(kernel), attr, value);
}
// The type-safe launch (cuda_runtime.h): arguments converted to the kernel's parameter types,
// copied, then the kernel runs on every emulated thread.
template <typename... Params, typename... Args>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t *config, void (*kernel)(Params...), Args &&...args) {
    std::tuple<Params...> bound(std::forward<Args>(args)...);
    return cs_emu::launch(*config, reinterpret_cast<const void *>(kernel), [&] { std::apply(kernel, bound); });
}

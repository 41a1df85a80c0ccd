// Internal header of the CUDA kernels: not part of the public API.
#pragma once

#include "common.h"

#include <cuda_runtime.h> // first: under the SIMT emulation, tests/emu/include's replacement
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <utility>

// The block's dynamic shared memory as an array `name` of T (16-byte aligned): CUDA's
// `extern __shared__`, or the SIMT emulation's per-block buffer.
#ifdef CS_EMULATION
#define CS_DYNAMIC_SHARED(T, name) T *name = cs_emu::dynamic_shared<T>()
#else
#define CS_DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) T name[]
#endif

namespace cs {

// Turns a CUDA error into a status with the runtime's message; `what` names the call site.
inline int cuda_fail(cudaError_t err, const char *what) {
    return fail(err == cudaErrorMemoryAllocation ? CS_ERR_OUT_OF_MEMORY : CS_ERR_CUDA,
                std::string(what) + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

// Launches kernel<<<grid, block, shared_bytes, stream>>>(args...) and returns CS_OK or the status
// of this launch's own error: cudaLaunchKernelEx returns it (configuration, resources), where
// cudaGetLastError after <<<>>> could report an earlier call's error as this launch's. Execution
// errors surface on the stream later. `what` names the entry point in messages. Every kernel is
// launched here: the SIMT emulation (tests/emu) implements cudaLaunchKernelEx to run it on the CPU.
template <typename... Params, typename... Args>
int launch(const char *what, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
           cudaStream_t stream, Args &&...args) {
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = shared_bytes;
    config.stream = stream;
    const cudaError_t err = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
    if (err == cudaSuccess) return CS_OK;
    cudaGetLastError(); // the runtime records the error as the thread's last one too: leave none behind
    return cuda_fail(err, what);
}

// Reads one element of a tensor of dtype T as float.
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

// Writes a float as T (round to nearest even).
template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_min(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide reductions for a block of a multiple of 32 threads (at most 1024); every thread
// gets the result. `scratch` holds 32 floats; the call begins with a barrier so it can be reused.
enum class Reduce { Sum, Min, Max };
template <Reduce op> __device__ float block_reduce(float v, float *scratch) {
    auto combine = [](float a, float b) {
        return op == Reduce::Sum ? a + b : op == Reduce::Min ? fminf(a, b) : fmaxf(a, b);
    };
    v = op == Reduce::Sum ? warp_sum(v) : op == Reduce::Min ? warp_min(v) : warp_max(v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = scratch[0];
    for (int w = 1; w < warps; w++) r = combine(r, scratch[w]);
    return r;
}

// torch's bilinear source index (align_corners=False), as cs::bilinear_source in common.h.
__device__ __forceinline__ void bilinear_source_dev(int dst, int in, int out, int *i0, int *i1,
                                                    float *w1) {
    const float scale = __fdiv_rn((float)in, (float)out);
    float src = __fsub_rn(__fmul_rn(scale, __fadd_rn((float)dst, 0.5f)), 0.5f);
    if (src < 0.f) src = 0.f;
    int lo = (int)src;
    if (lo > in - 1) lo = in - 1;
    *i0 = lo;
    *i1 = lo < in - 1 ? lo + 1 : lo;
    *w1 = __fsub_rn(src, (float)lo);
}

// Bilinear blend of four taps without FMA contraction, so it rounds as the CPU twin does.
__device__ __forceinline__ float bilinear_blend(float a, float b, float c, float d, float wy,
                                                float wx) {
    const float top = __fadd_rn(__fmul_rn(a, __fsub_rn(1.f, wx)), __fmul_rn(b, wx));
    const float bot = __fadd_rn(__fmul_rn(c, __fsub_rn(1.f, wx)), __fmul_rn(d, wx));
    return __fadd_rn(__fmul_rn(top, __fsub_rn(1.f, wy)), __fmul_rn(bot, wy));
}

// Calls f(T{}) with T the element type of `dtype` (already checked to be f32, f16 or bf16).
template <typename F> void dispatch(int dtype, F f) {
    switch (dtype) {
    case CS_F16: f(__half{}); break;
    case CS_BF16: f(__nv_bfloat16{}); break;
    default: f(float{}); break;
    }
}

// Blocks for a grid-stride loop over `total` elements with `threads` per block.
inline unsigned grid_for(int64_t total, int threads) {
    int64_t blocks = (total + threads - 1) / threads;
    return (unsigned)(blocks < 65535 * 8 ? (blocks < 1 ? 1 : blocks) : 65535 * 8);
}

} // namespace cs

// Internal header of the CUDA kernels: not part of the public API.
#pragma once

#include "common.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace cs {

// Turns a CUDA error into a status with the runtime's message; `what` names the call site.
inline int cuda_fail(cudaError_t err, const char *what) {
    return fail(err == cudaErrorMemoryAllocation ? CS_ERR_OUT_OF_MEMORY : CS_ERR_CUDA,
                std::string(what) + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

// Checks a launch: configuration errors surface at once, execution errors on the stream later.
inline int check_launch(const char *what) {
    cudaError_t err = cudaGetLastError();
    return err == cudaSuccess ? CS_OK : cuda_fail(err, what);
}

// Reads one element of a tensor of dtype T as float.
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

} // namespace cs

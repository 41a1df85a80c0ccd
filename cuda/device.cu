// Device queries of a library built with CUDA.
#include "common.cuh"

extern "C" {

int cs_cuda_built(void) { return 1; }

int cs_cuda_device_count(int *count) {
    cs::clear_error();
    CS_CHECK_ARG(count, "cuda_device_count: count must not be NULL");
    *count = 0;
    cudaError_t err = cudaGetDeviceCount(count);
    if (err != cudaSuccess) {
        *count = 0;
        cudaGetLastError(); // clear the sticky-free error so later calls start clean
        return cs::cuda_fail(err, "cudaGetDeviceCount");
    }
    return CS_OK;
}

} // extern "C"

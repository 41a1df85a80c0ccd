// The CUDA entry points of a library built without nvcc: each returns CS_ERR_NO_CUDA.
// (Excluded from the build when the CUDA kernels in cuda/ are compiled.)
#include "common.h"

#define CS_NO_CUDA(name) return cs::fail(CS_ERR_NO_CUDA, #name ": this library was built without CUDA")

extern "C" {

int cs_cuda_built(void) { return 0; }

int cs_cuda_device_count(int *count) {
    if (count) *count = 0;
    CS_NO_CUDA(cs_cuda_device_count);
}

int cs_feature_surgery_cuda(const void *, int, int64_t, int64_t, int64_t, const float *, int64_t,
                            const float *, float *, cs_stream) {
    CS_NO_CUDA(cs_feature_surgery_cuda);
}

} // extern "C"

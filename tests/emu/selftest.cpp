// Self-test of the SIMT emulation: small kernels that break each rule it enforces must be
// stopped with the matching message, and legal ones must run. The emulated kernel suite is only
// worth what the emulation catches; this is the check that it catches what it claims.
// Built with the emulation's cuda_runtime.h, like the kernels (CMake target emu-selftest).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static int failures = 0, checks = 0;

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                                       \
            std::printf(__VA_ARGS__);                                                              \
            std::printf("\n");                                                                     \
        }                                                                                          \
    } while (0)

template <typename... P, typename... A>
static cudaError_t launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, A... args) {
    cudaLaunchConfig_t c = {};
    c.gridDim = grid;
    c.blockDim = block;
    c.dynamicSmemBytes = smem;
    return cudaLaunchKernelEx(&c, kernel, args...);
}

// A launch that must fault: the error is a launch failure whose message names `what`; the device
// is then reset (the fault is sticky, as on a GPU, and a reset frees device memory).
static void expect_fault(const char *what, void (*kernel)(float *), dim3 grid, dim3 block) {
    float *out = nullptr;
    cudaMalloc(&out, 1024 * sizeof(float));
    const cudaError_t e = launch(kernel, grid, block, 0, out);
    const std::string message = cudaGetErrorString(e);
    EXPECT(e == cudaErrorLaunchFailure && message.find(what) != std::string::npos, "expected a fault with \"%s\", got %s: %s",
           what, cudaGetErrorName(e), message.c_str());
    EXPECT(cudaDeviceSynchronize() == cudaErrorLaunchFailure, "a fault must be sticky");
    cudaDeviceReset();
    cudaGetLastError();
}

// ---- kernels breaking a rule ----

__global__ void shuffle_after_lane_exited(float *out) {
    if (threadIdx.x == 3) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}
__global__ void barrier_in_divergent_code(float *out) {
    if (threadIdx.x < 64) __syncthreads();
    out[threadIdx.x] = 1.f;
}
__global__ void barriers_at_different_lines(float *out) {
    if (threadIdx.x < 32) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1.f;
}
__global__ void collective_while_lane_waits_at_barrier(float *out) {
    if (threadIdx.x % 32 == 0) __syncthreads();
    else out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}
__global__ void different_collectives(float *out) {
    float v = 1.f;
    if (threadIdx.x % 2) v = __shfl_xor_sync(0xffffffffu, v, 1);
    else v = __shfl_down_sync(0xffffffffu, v, 1);
    out[threadIdx.x] = v;
}
__global__ void mask_without_the_caller(float *out) { out[threadIdx.x] = __shfl_xor_sync(0x1u, 1.f, 1); }
__global__ void shuffle_from_outside_the_mask(float *out) {
    if (threadIdx.x < 16) out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, 1.f, 16, 32);
}

// ---- legal kernels whose results are known ----

// Partial masks: two half-warps shuffle independently; width 8 segments.
__global__ void half_warp_shuffles(int *out) {
    const int lane = threadIdx.x % 32;
    const unsigned mask = lane < 16 ? 0x0000ffffu : 0xffff0000u;
    out[threadIdx.x] = __shfl_xor_sync(mask, lane, 1) + 100 * __shfl_down_sync(0xffffffffu, lane, 3, 8) +
                       10000 * (int)(__ballot_sync(0xffffffffu, lane % 3 == 0) % 7);
}
// A block reduction whose scratch is reused: correct only with both barriers.
__global__ void block_sum(const float *in, float *out) {
    __shared__ float scratch[32];
    float v = in[blockIdx.x * blockDim.x + threadIdx.x];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
    __syncthreads();
    float total = 0.f;
    for (unsigned w = 0; w < blockDim.x / 32; w++) total += scratch[w];
    if (threadIdx.x == 0) out[blockIdx.x] = total;
}
// (Shared variables that no thread writes, or that no thread reads, may be folded away by the
// host compiler as the statics they are under the emulation: these kernels use theirs.)
__global__ void read_fresh_shared(float *out) {
    __shared__ float fresh[4];
    out[threadIdx.x] = fresh[threadIdx.x]; // before any thread of the block wrote it
    __syncthreads();
    fresh[threadIdx.x % 4] = (float)threadIdx.x;
    __syncthreads();
    out[blockDim.x + threadIdx.x] = fresh[(threadIdx.x + 1) % 4];
}
__global__ void dynamic_shared_kernel(float *out) {
    float *buf = cs_emu::dynamic_shared<float>();
    out[threadIdx.x] = buf[threadIdx.x];
}
__global__ void big_static_shared(float *out) {
    __shared__ float big[10240]; // 40 KiB
    big[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = big[(threadIdx.x + 1) % blockDim.x];
}
// One mma.m16n8k16 per warp on fragments built from row-major A (16×16) and B (16×8).
__global__ void mma_kernel(const __half *a, const __half *b, float *d) {
    const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    auto pack = [](__half lo, __half hi) {
        uint16_t l, h;
        std::memcpy(&l, &lo, 2);
        std::memcpy(&h, &hi, 2);
        return (uint32_t)l | (uint32_t)h << 16;
    };
    const uint32_t af[4] = {pack(a[g * 16 + 2 * t], a[g * 16 + 2 * t + 1]), pack(a[(g + 8) * 16 + 2 * t], a[(g + 8) * 16 + 2 * t + 1]),
                            pack(a[g * 16 + 2 * t + 8], a[g * 16 + 2 * t + 9]),
                            pack(a[(g + 8) * 16 + 2 * t + 8], a[(g + 8) * 16 + 2 * t + 9])};
    const uint32_t bf[2] = {pack(b[(2 * t) * 8 + g], b[(2 * t + 1) * 8 + g]), pack(b[(2 * t + 8) * 8 + g], b[(2 * t + 9) * 8 + g])};
    float c[4] = {0, 0, 0, 0};
    CS_EMU_SITE.mma_m16n8k16(c, af, bf, cs_emu::MmaType::F16);
    d[g * 8 + 2 * t] = c[0];
    d[g * 8 + 2 * t + 1] = c[1];
    d[(g + 8) * 8 + 2 * t] = c[2];
    d[(g + 8) * 8 + 2 * t + 1] = c[3];
}
// ldmatrix .x4 and .x4.trans of four 8×8 matrices of 16-bit values m·64 + row·8 + col.
__global__ void ldmatrix_kernel(const uint16_t *m, uint32_t *plain, uint32_t *trans) {
    const int lane = threadIdx.x;
    const uint16_t *row = m + (lane / 8) * 64 + (lane % 8) * 8; // lanes 8j..8j+7: rows of matrix j
    CS_EMU_SITE.ldmatrix(plain + lane * 4, 4, false, row);
    CS_EMU_SITE.ldmatrix(trans + lane * 4, 4, true, row);
}

int main() {
    // faults, each with its message
    expect_fault("has exited", shuffle_after_lane_exited, 1, 32);
    expect_fault("reached by 64 of 128 threads", barrier_in_divergent_code, 1, 128);
    expect_fault("different __syncthreads", barriers_at_different_lines, 1, 64);
    expect_fault("waits at __syncthreads", collective_while_lane_waits_at_barrier, 1, 32);
    expect_fault("different collectives", different_collectives, 1, 32);
    expect_fault("does not include the calling lane", mask_without_the_caller, 1, 32);
    expect_fault("outside its mask", shuffle_from_outside_the_mask, 1, 32);

    float *out;
    int *iout;
    cudaMalloc(&out, 1024 * sizeof(float));
    cudaMalloc(&iout, 1024 * sizeof(int));

    // launch checks, as a GPU makes them (errors returned, not sticky)
    EXPECT(launch(read_fresh_shared, 1, 1025, 0, out) == cudaErrorInvalidConfiguration, "1025 threads must be refused");
    EXPECT(launch(read_fresh_shared, dim3(1, 65536), 1, 0, out) == cudaErrorInvalidConfiguration, "grid y 65536 must be refused");
    EXPECT(launch(read_fresh_shared, dim3(1, 1, 65536), 1, 0, out) == cudaErrorInvalidConfiguration, "grid z 65536 must be refused");
    EXPECT(launch(dynamic_shared_kernel, 1, 32, 48 * 1024 + 4, out) == cudaErrorInvalidValue, "48 KiB + 4 dynamic without opt-in");
    EXPECT(launch(dynamic_shared_kernel, 1, 32, 48 * 1024, out) == cudaSuccess, "48 KiB dynamic without opt-in");
    EXPECT(launch(big_static_shared, 1, 32, 8 * 1024 + 4, out) == cudaErrorInvalidValue, "40 KiB static + 8 KiB + 4 dynamic");
    EXPECT(cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024) == cudaSuccess,
           "opt-in to 64 KiB");
    EXPECT(launch(dynamic_shared_kernel, 1, 32, 64 * 1024, out) == cudaSuccess, "64 KiB after the opt-in");
    EXPECT(launch(dynamic_shared_kernel, 1, 32, 64 * 1024 + 4, out) == cudaErrorInvalidValue, "past the opt-in");
    EXPECT(cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 1 << 20) == cudaErrorInvalidValue,
           "an opt-in past the architecture's limit");
    cudaGetLastError();

    // legal collectives give the right values
    std::vector<int> ih(32);
    EXPECT(launch(half_warp_shuffles, 1, 32, 0, iout) == cudaSuccess, "half-warp shuffles");
    cudaMemcpy(ih.data(), iout, 32 * sizeof(int), cudaMemcpyDeviceToHost);
    unsigned ballot = 0;
    for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
    int bad = 0;
    for (int l = 0; l < 32; l++) {
        const int down = l % 8 + 3 < 8 ? l + 3 : l; // within the lane's segment of 8, else its own value
        bad += ih[l] != (l ^ 1) + 100 * down + 10000 * (int)(ballot % 7);
    }
    EXPECT(bad == 0, "half-warp shuffles: %d lanes wrong", bad);

    std::vector<float> in(4 * 256), sums(4);
    for (size_t i = 0; i < in.size(); i++) in[i] = (float)(i % 17);
    float *din;
    cudaMalloc(&din, in.size() * sizeof(float));
    cudaMemcpy(din, in.data(), in.size() * sizeof(float), cudaMemcpyHostToDevice);
    EXPECT(launch(block_sum, 4, 256, 0, din, out) == cudaSuccess, "block sum");
    cudaMemcpy(sums.data(), out, 4 * sizeof(float), cudaMemcpyDeviceToHost);
    for (int b = 0; b < 4; b++) {
        double want = 0;
        for (int i = 0; i < 256; i++) want += in[b * 256 + i];
        EXPECT(sums[b] == (float)want, "block sum %d: %g, want %g", b, sums[b], want);
    }

    // fresh shared memory and device memory hold NaN bytes
    std::vector<float> fh(32);
    EXPECT(launch(read_fresh_shared, 1, 4, 0, out) == cudaSuccess, "fresh shared");
    cudaMemcpy(fh.data(), out, 4 * sizeof(float), cudaMemcpyDeviceToHost);
    EXPECT(std::isnan(fh[0]) && std::isnan(fh[3]), "static shared memory must start as NaN");
    EXPECT(launch(dynamic_shared_kernel, 1, 32, 128, out) == cudaSuccess, "fresh dynamic shared");
    cudaMemcpy(fh.data(), out, 32 * sizeof(float), cudaMemcpyDeviceToHost);
    EXPECT(std::isnan(fh[0]) && std::isnan(fh[31]), "dynamic shared memory must start as NaN");
    float *fresh;
    cudaMalloc(&fresh, 16);
    cudaMemcpy(fh.data(), fresh, 16, cudaMemcpyDeviceToHost);
    EXPECT(std::isnan(fh[0]) && std::isnan(fh[3]), "cudaMalloc'd memory must start as NaN");

    // mma.m16n8k16 against a plain product (inputs exact in f16, products exact in f32)
    std::vector<__half> a(256), b(128);
    std::vector<float> af(256), bf(128), d(128);
    for (int i = 0; i < 256; i++) af[i] = (float)((i * 7) % 13 - 6) / 4, a[i] = __float2half_rn(af[i]);
    for (int i = 0; i < 128; i++) bf[i] = (float)((i * 5) % 11 - 5) / 8, b[i] = __float2half_rn(bf[i]);
    __half *da, *db;
    float *dd;
    cudaMalloc(&da, 512);
    cudaMalloc(&db, 256);
    cudaMalloc(&dd, 512);
    cudaMemcpy(da, a.data(), 512, cudaMemcpyHostToDevice);
    cudaMemcpy(db, b.data(), 256, cudaMemcpyHostToDevice);
    EXPECT(launch(mma_kernel, 1, 32, 0, da, db, dd) == cudaSuccess, "mma");
    cudaMemcpy(d.data(), dd, 512, cudaMemcpyDeviceToHost);
    bad = 0;
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 8; n++) {
            double s = 0;
            for (int k = 0; k < 16; k++) s += (double)af[m * 16 + k] * bf[k * 8 + n];
            bad += d[m * 8 + n] != (float)s;
        }
    EXPECT(bad == 0, "mma: %d of 128 results differ from A·B", bad);

    // ldmatrix: lane l, matrix j gets row l/4, columns 2(l%4), 2(l%4)+1 (transposed with .trans)
    std::vector<uint16_t> mh(256);
    for (int i = 0; i < 256; i++) mh[i] = (uint16_t)i;
    uint16_t *dm;
    uint32_t *dp, *dt;
    cudaMalloc(&dm, 512);
    cudaMalloc(&dp, 512);
    cudaMalloc(&dt, 512);
    cudaMemcpy(dm, mh.data(), 512, cudaMemcpyHostToDevice);
    EXPECT(launch(ldmatrix_kernel, 1, 32, 0, dm, dp, dt) == cudaSuccess, "ldmatrix");
    std::vector<uint32_t> ph(128), th(128);
    cudaMemcpy(ph.data(), dp, 512, cudaMemcpyDeviceToHost);
    cudaMemcpy(th.data(), dt, 512, cudaMemcpyDeviceToHost);
    bad = 0;
    for (int l = 0; l < 32; l++)
        for (int j = 0; j < 4; j++) {
            const int r = l / 4, c = 2 * (l % 4);
            bad += ph[l * 4 + j] != ((uint32_t)(j * 64 + r * 8 + c) | (uint32_t)(j * 64 + r * 8 + c + 1) << 16);
            bad += th[l * 4 + j] != ((uint32_t)(j * 64 + c * 8 + r) | (uint32_t)(j * 64 + (c + 1) * 8 + r) << 16);
        }
    EXPECT(bad == 0, "ldmatrix: %d registers wrong", bad);

    std::printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}

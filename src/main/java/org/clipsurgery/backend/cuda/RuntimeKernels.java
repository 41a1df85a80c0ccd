package org.clipsurgery.backend.cuda;

import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * Kernels the engine needs that the project library (include/clip_surgery.h) does not have:
 * dtype conversion, broadcast add, in-place bias, patch extraction for the ViT's stride = kernel
 * convolution, row gather (token embedding, end-token pooling) and a general multi-head attention
 * with a causal option (the text encoder). They are small and not on the hot path of the image
 * forward except {@code rt_add} and {@code rt_patchify}. Compiled once per engine with NVRTC for
 * the device's own architecture and launched with the driver API (cuLaunchKernel), which CUDA
 * graph capture records like any other launch.
 *
 * <p>Candidates to move into cuda/ (as cs_* entry points with CPU twins) once the kernels owner
 * agrees; until then the GPU tests compare them against plain Java references.
 */
final class RuntimeKernels implements AutoCloseable {
    static final String SOURCE = """
// Small kernels the engine needs around cuBLAS that the project library does not provide
// (compiled at run time with NVRTC, so they are built for the device that runs them).
// dtype codes are cs_dtype's: 0 f32, 1 f16, 2 bf16, 4 i32. No CUDA headers: NVRTC may not
// find them, so half/bf16 conversions are written with PTX and bit operations.
typedef unsigned short u16;
typedef long long i64;

__device__ __forceinline__ float h2f(u16 h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ u16 f2h(float f) { u16 h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float b2f(u16 b) { return __uint_as_float(((unsigned)b) << 16); }
__device__ __forceinline__ u16 f2b(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7f800000u) == 0x7f800000u) return (u16)((u >> 16) | ((u & 0xffffu) ? 0x40u : 0u)); // inf / nan
    u += 0x7fffu + ((u >> 16) & 1u); // round to nearest even
    return (u16)(u >> 16);
}
__device__ __forceinline__ float ld(const void *p, i64 i, int t) {
    return t == 0 ? ((const float *)p)[i] : t == 1 ? h2f(((const u16 *)p)[i]) : b2f(((const u16 *)p)[i]);
}
__device__ __forceinline__ void st(void *p, i64 i, int t, float v) {
    if (t == 0) ((float *)p)[i] = v; else if (t == 1) ((u16 *)p)[i] = f2h(v); else ((u16 *)p)[i] = f2b(v);
}

// out[i] = in[i] converted between float types.
extern "C" __global__ void rt_convert(const void *in, int tin, void *out, int tout, i64 n) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x)
        st(out, i, tout, ld(in, i, tin));
}

// out[i] = a[i] + b[i % nb] (+ bias_a[i % cols]) (+ bias_b[i % cols]); biases fp32 or NULL.
extern "C" __global__ void rt_add(const void *a, const void *b, i64 nb, const float *bias_a, const float *bias_b,
                                  i64 cols, void *out, int t, i64 n) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
        float v = ld(a, i, t) + ld(b, i % nb, t);
        if (bias_a) v += bias_a[i % cols];
        if (bias_b) v += bias_b[i % cols];
        st(out, i, t, v);
    }
}

// x[r, c] += bias[c] in place, x (rows, cols).
extern "C" __global__ void rt_add_bias(void *x, const float *bias, i64 cols, int t, i64 n) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x)
        st(x, i, t, ld(x, i, t) + bias[i % cols]);
}

// Patches of a stride = kernel convolution: pixels (batch, ch, side, side) fp32 →
// out (batch·g·g, ch·p·p) of type t, g = side / p; row = one patch, columns in (c, ky, kx) order
// (the order of a conv weight (out, ch, p, p) flattened), so the convolution is one GEMM.
extern "C" __global__ void rt_patchify(const float *pix, void *out, int t, i64 batch, i64 ch, i64 side, i64 p) {
    i64 g = side / p, cols = ch * p * p, n = batch * g * g * cols;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
        i64 col = i % cols, row = i / cols;
        i64 kx = col % p, ky = (col / p) % p, c = col / (p * p);
        i64 gx = row % g, gy = (row / g) % g, b = row / (g * g);
        st(out, i, t, pix[((b * ch + c) * side + gy * p + ky) * side + gx * p + kx]);
    }
}

// out[r, :] = table[index[r], :], rows of `width` 16-bit units (every engine tensor row is an
// even number of bytes). index is int32, checked against `table_rows` (out of range → zeros).
extern "C" __global__ void rt_gather_rows(const u16 *table, i64 table_rows, const int *index, u16 *out, i64 rows, i64 width) {
    i64 n = rows * width;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
        i64 r = i / width, c = i % width;
        int src = index[r];
        out[i] = (src >= 0 && src < table_rows) ? table[(i64)src * width + c] : (u16)0;
    }
}

// Multi-head attention, one warp per (image, head, query): out = softmax(scale · q·kᵀ) · v with
// fp32 softmax and accumulation; causal: query i sees keys 0..i. q, k, v rows are `stride` elements
// apart (3C for a packed qkv, C for a plain tensor); out is (batch, tokens, C) of type t.
// Dynamic shared memory: warps_per_block · tokens floats (the scores of each warp's query).
extern "C" __global__ void rt_attention(const void *q, const void *k, const void *v, i64 stride, void *out, int t,
                                        i64 batch, i64 tokens, i64 channels, i64 heads, float scale, int causal) {
    extern __shared__ float scores[];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const i64 d = channels / heads;
    i64 item = (i64)blockIdx.x * warps + warp; // (b, h, i) flattened
    if (item >= batch * heads * tokens) return;
    const i64 i = item % tokens, h = (item / tokens) % heads, b = item / (tokens * heads);
    float *s = scores + (i64)warp * tokens;
    const i64 keys = causal ? i + 1 : tokens;
    const i64 qrow = (b * tokens + i) * stride + h * d;
    float mx = -3.0e38f;
    for (i64 j = lane; j < keys; j += 32) {
        const i64 krow = (b * tokens + j) * stride + h * d;
        float dot = 0.f;
        for (i64 e = 0; e < d; e++) dot += ld(q, qrow + e, t) * ld(k, krow + e, t);
        dot *= scale;
        s[j] = dot;
        mx = fmaxf(mx, dot);
    }
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float sum = 0.f;
    for (i64 j = lane; j < keys; j += 32) {
        float e = __expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    __syncwarp();
    const float inv = 1.f / sum;
    for (i64 e = lane; e < d; e += 32) {
        float acc = 0.f;
        for (i64 j = 0; j < keys; j++) acc += s[j] * ld(v, (b * tokens + j) * stride + h * d + e, t);
        st(out, (b * tokens + i) * channels + h * d + e, t, acc * inv);
    }
}

// The same attention for short sequences (the text encoder: ≤ 77 tokens): one block per
// (image, head) holds that head's K and V in shared memory as fp32, a warp per query splits the
// head dimension across lanes (q in registers, head dim ≤ 128) and reduces each q·k with shuffles.
// Dynamic shared memory: (2·tokens·d + warps·tokens) floats.
extern "C" __global__ void rt_attention_small(const void *q, const void *k, const void *v, i64 stride, void *out, int t,
                                              i64 tokens, i64 channels, i64 heads, float scale, int causal) {
    extern __shared__ float sm[];
    const i64 d = channels / heads;
    float *ks = sm, *vs = sm + tokens * d, *scores = vs + tokens * d;
    const i64 h = blockIdx.x % heads, b = blockIdx.x / heads;
    for (i64 idx = threadIdx.x; idx < tokens * d; idx += blockDim.x) {
        const i64 j = idx / d, e = idx % d, src = (b * tokens + j) * stride + h * d + e;
        ks[idx] = ld(k, src, t);
        vs[idx] = ld(v, src, t);
    }
    __syncthreads();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    float *s = scores + (i64)warp * tokens;
    for (i64 i = warp; i < tokens; i += warps) {
        const i64 qrow = (b * tokens + i) * stride + h * d;
        float qr[4];
        for (int u = 0; u < 4; u++) qr[u] = lane + 32 * u < d ? ld(q, qrow + lane + 32 * u, t) : 0.f;
        const i64 keys = causal ? i + 1 : tokens;
        float mx = -3.0e38f;
        for (i64 j = 0; j < keys; j++) {
            float part = 0.f;
            for (int u = 0; u < 4; u++) if (lane + 32 * u < d) part += qr[u] * ks[j * d + lane + 32 * u];
            for (int o = 16; o > 0; o >>= 1) part += __shfl_xor_sync(0xffffffffu, part, o);
            part *= scale;
            if (lane == 0) s[j] = part;
            mx = fmaxf(mx, part);
        }
        __syncwarp();
        float sum = 0.f;
        for (i64 j = lane; j < keys; j += 32) {
            float e = __expf(s[j] - mx);
            s[j] = e;
            sum += e;
        }
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        __syncwarp();
        const float inv = 1.f / sum;
        for (i64 e = lane; e < d; e += 32) {
            float acc = 0.f;
            for (i64 j = 0; j < keys; j++) acc += s[j] * vs[j * d + e];
            st(out, (b * tokens + i) * channels + h * d + e, t, acc * inv);
        }
        __syncwarp();
    }
}
""";

    private final CUmod_st module = new CUmod_st();
    final CUfunc_st convert, add, addBias, patchify, gatherRows, attention, attentionSmall;

    RuntimeKernels(int major, int minor) {
        byte[] cubin = compile(major, minor);
        try (BytePointer image = new BytePointer(cubin)) {
            CudaRuntime.checkDriver(cudart.cuModuleLoadData(module, image), "cuModuleLoadData (runtime kernels)");
        }
        convert = function("rt_convert");
        add = function("rt_add");
        addBias = function("rt_add_bias");
        patchify = function("rt_patchify");
        gatherRows = function("rt_gather_rows");
        attention = function("rt_attention");
        attentionSmall = function("rt_attention_small");
    }

    private CUfunc_st function(String name) {
        CUfunc_st f = new CUfunc_st();
        CudaRuntime.checkDriver(cudart.cuModuleGetFunction(f, module, name), "cuModuleGetFunction " + name);
        return f;
    }

    /** NVRTC: SOURCE → a cubin for sm_{major}{minor}. */
    static byte[] compile(int major, int minor) {
        _nvrtcProgram prog = new _nvrtcProgram();
        checkNvrtc(nvrtc.nvrtcCreateProgram(prog, new BytePointer(SOURCE), new BytePointer("clip_surgery_runtime.cu"), 0,
                (PointerPointer) null, (PointerPointer) null), "nvrtcCreateProgram", null);
        try {
            String[] options = {"--gpu-architecture=sm_" + major + minor, "--std=c++17"};
            PointerPointer<BytePointer> opts = new PointerPointer<>(options.length);
            for (int i = 0; i < options.length; i++) opts.put(i, new BytePointer(options[i]));
            int rc = nvrtc.nvrtcCompileProgram(prog, options.length, opts);
            checkNvrtc(rc, "nvrtcCompileProgram", prog);
            SizeTPointer size = new SizeTPointer(1);
            checkNvrtc(nvrtc.nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize", prog);
            byte[] cubin = new byte[(int) size.get()];
            checkNvrtc(nvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN", prog);
            return cubin;
        } finally {
            nvrtc.nvrtcDestroyProgram(prog);
        }
    }

    private static void checkNvrtc(int rc, String what, _nvrtcProgram prog) {
        if (rc == nvrtc.NVRTC_SUCCESS) return;
        String log = "";
        if (prog != null) {
            SizeTPointer n = new SizeTPointer(1);
            if (nvrtc.nvrtcGetProgramLogSize(prog, n) == 0 && n.get() > 1) {
                byte[] b = new byte[(int) n.get()];
                nvrtc.nvrtcGetProgramLog(prog, b);
                log = "\n" + new String(b, 0, b.length - 1, java.nio.charset.StandardCharsets.UTF_8);
            }
        }
        throw new CudaException(CudaException.Kind.CUDA_ERROR, what + " failed: "
                + nvrtc.nvrtcGetErrorString(rc).getString() + log);
    }

    /** Kernel arguments: each value in its own 8-byte slot, as cuLaunchKernel reads them. */
    static final class Args {
        private final LongPointer values;
        private final PointerPointer<Pointer> pointers;
        private int n;

        Args(int capacity) {
            values = new LongPointer(capacity);
            pointers = new PointerPointer<>(capacity);
        }

        Args ptr(long address) {
            return i64(address);
        }

        Args i64(long v) {
            values.put(n, v);
            pointers.put(n, DevicePointer.of(values.address() + 8L * n)); // a host address here
            n++;
            return this;
        }

        Args i32(int v) {
            // little-endian: the int is the low half of its 8-byte slot
            return i64(v & 0xffffffffL);
        }

        Args f32(float v) {
            return i32(Float.floatToRawIntBits(v));
        }
    }

    /** Launches a 1-D grid-stride kernel over n elements. */
    void launch1d(CUfunc_st f, long n, CUstream_st stream, Args args, String what) {
        if (n == 0) return;
        long blocks = Math.min((n + 255) / 256, 65535L * 8);
        launch(f, (int) blocks, 256, 0, stream, args, what);
    }

    void launch(CUfunc_st f, int blocks, int threads, int sharedBytes, CUstream_st stream, Args args, String what) {
        CudaRuntime.checkDriver(cudart.cuLaunchKernel(f, blocks, 1, 1, threads, 1, 1, sharedBytes, stream,
                args.pointers, (PointerPointer) null), what);
    }

    @Override
    public void close() {
        cudart.cuModuleUnload(module);
    }
}

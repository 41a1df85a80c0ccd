// Internal header of the CUDA kernels: not part of the public API.
// Warp-level tensor-core instructions behind small device functions: inline PTX on the GPU, the
// SIMT emulation's warp collectives (tests/emu, written from the PTX ISA's fragment tables) on the
// CPU. Fragment layouts: ../shared/docs/PTX-MMA.md (lane = 4·g + t: A (16×16, row-major)
// a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 8+2t..), a3 = (g+8, 8+2t..); B (16×8, k×n)
// b0 = (k 2t..2t+1, n g), b1 = (k 8+2t.., n g); C (16×8) c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, ..)).
#pragma once

#include "common.cuh"

#include <cstdint>

namespace cs {

// c += a·b: mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32, the element type
// chosen by the last argument's type.
__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], const uint32_t b[2], __half) {
#ifdef CS_EMULATION
    CS_EMU_SITE.mma_m16n8k16(c, a, b, cs_emu::MmaType::F16);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], const uint32_t b[2], __nv_bfloat16) {
#ifdef CS_EMULATION
    CS_EMU_SITE.mma_m16n8k16(c, a, b, cs_emu::MmaType::BF16);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

} // namespace cs

// Version, status strings, the per-thread last-error message and dtype conversions.
#include "common.h"

#include <cstring>

namespace {
thread_local std::string last_error;
}

namespace cs {

int fail(int status, const std::string &message) {
    last_error = message;
    return status;
}

void clear_error() { last_error.clear(); }

size_t dtype_size(int dtype) {
    switch (dtype) {
    case CS_F32: return 4;
    case CS_F16: return 2;
    case CS_BF16: return 2;
    default: return 0;
    }
}

float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: renormalise
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while ((mant & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t float_to_half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); // rounds to >= 65520: inf
    if (absx < 0x38800000u) {                                  // subnormal or zero in half
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; // 14 + (113 - e) ... distance to half subnormal position
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = absx - 0x38000000u; // rebias exponent 127 -> 15
    uint32_t out = r >> 13;
    uint32_t rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (out & 1))) out++;
    return (uint16_t)(sign | out);
}

float bf16_to_float(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t float_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); // quiet NaN
    uint32_t lsb = (x >> 16) & 1;
    x += 0x7fff + lsb;
    return (uint16_t)(x >> 16);
}

} // namespace cs

extern "C" {

const char *cs_version(void) {
#define CS_STR2(x) #x
#define CS_STR(x) CS_STR2(x)
    return CS_STR(CS_VERSION_MAJOR) "." CS_STR(CS_VERSION_MINOR) "." CS_STR(CS_VERSION_PATCH);
}

const char *cs_status_string(int status) {
    switch (status) {
    case CS_OK: return "ok";
    case CS_ERR_INVALID_ARGUMENT: return "invalid argument";
    case CS_ERR_NO_CUDA: return "built without CUDA";
    case CS_ERR_CUDA: return "CUDA error";
    case CS_ERR_OUT_OF_MEMORY: return "out of memory";
    case CS_ERR_UNSUPPORTED: return "unsupported";
    case CS_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

const char *cs_last_error(void) { return last_error.c_str(); }

} // extern "C"

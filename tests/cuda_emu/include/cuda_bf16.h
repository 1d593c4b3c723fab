/* bf16 for the CUDA emulator (tests/cuda_emu): the upper 16 bits of an IEEE float, rounded
 * to nearest even on the way in, as the device's __float2bfloat16_rn. */
#ifndef LLM_CUDA_EMU_CUDA_BF16_H
#define LLM_CUDA_EMU_CUDA_BF16_H

#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
    uint16_t bits;

    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : bits(round(f)) {}
    operator float() const
    {
        uint32_t u = (uint32_t)bits << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }

    static uint16_t round(float f)
    {
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        if ((u & 0x7fffffffu) > 0x7f800000u)
            return (uint16_t)((u >> 16) | 0x40);    /* NaN stays a (quiet) NaN */
        return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
};

static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
static inline float __bfloat162float(__nv_bfloat16 b) { return (float)b; }

#endif

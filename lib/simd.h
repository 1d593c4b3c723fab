/* The byte-scanning vector: 32 bytes with AVX2 (the Makefile builds for x86-64-v3 where the
 * CPU has it), 16 with SSE2 (every x86-64), none elsewhere. Scanners written once against
 * these few operations run at either width; LLM_VEC_BYTES tells which, and code without
 * LLM_SIMD keeps a scalar loop. Masks are one bit a byte, byte 0 in bit 0. */
#ifndef LLM_SIMD_H
#define LLM_SIMD_H

#include <stdint.h>

#if defined(__AVX2__)
#include <immintrin.h>
#define LLM_SIMD 1
#define LLM_VEC_BYTES 32
typedef __m256i llm_vec;
static inline llm_vec llm_vec_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline llm_vec llm_vec_splat(unsigned char c) { return _mm256_set1_epi8((char)c); }
static inline llm_vec llm_vec_eq(llm_vec a, llm_vec b) { return _mm256_cmpeq_epi8(a, b); }
static inline llm_vec llm_vec_or(llm_vec a, llm_vec b) { return _mm256_or_si256(a, b); }
static inline llm_vec llm_vec_and(llm_vec a, llm_vec b) { return _mm256_and_si256(a, b); }
static inline llm_vec llm_vec_andnot(llm_vec a, llm_vec b) { return _mm256_andnot_si256(a, b); }
static inline llm_vec llm_vec_min_u8(llm_vec a, llm_vec b) { return _mm256_min_epu8(a, b); }
static inline llm_vec llm_vec_sub(llm_vec a, llm_vec b) { return _mm256_sub_epi8(a, b); }
static inline uint64_t llm_vec_mask(llm_vec v) { return (uint32_t)_mm256_movemask_epi8(v); }
static inline void llm_vec_store(void *p, llm_vec v) { _mm256_storeu_si256((__m256i *)p, v); }
#elif defined(__SSE2__)
#include <emmintrin.h>
#define LLM_SIMD 1
#define LLM_VEC_BYTES 16
typedef __m128i llm_vec;
static inline llm_vec llm_vec_load(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline llm_vec llm_vec_splat(unsigned char c) { return _mm_set1_epi8((char)c); }
static inline llm_vec llm_vec_eq(llm_vec a, llm_vec b) { return _mm_cmpeq_epi8(a, b); }
static inline llm_vec llm_vec_or(llm_vec a, llm_vec b) { return _mm_or_si128(a, b); }
static inline llm_vec llm_vec_and(llm_vec a, llm_vec b) { return _mm_and_si128(a, b); }
static inline llm_vec llm_vec_andnot(llm_vec a, llm_vec b) { return _mm_andnot_si128(a, b); }
static inline llm_vec llm_vec_min_u8(llm_vec a, llm_vec b) { return _mm_min_epu8(a, b); }
static inline llm_vec llm_vec_sub(llm_vec a, llm_vec b) { return _mm_sub_epi8(a, b); }
static inline uint64_t llm_vec_mask(llm_vec v) { return (uint32_t)_mm_movemask_epi8(v); }
static inline void llm_vec_store(void *p, llm_vec v) { _mm_storeu_si128((__m128i *)p, v); }
#endif

#ifdef LLM_SIMD
/* Bytes equal to c; bytes <= c (unsigned). */
static inline llm_vec llm_vec_eq_byte(llm_vec v, unsigned char c) { return llm_vec_eq(v, llm_vec_splat(c)); }
static inline llm_vec llm_vec_le_u8(llm_vec v, unsigned char c)
{
    return llm_vec_eq(llm_vec_min_u8(v, llm_vec_splat(c)), v);
}
/* Bytes in lo..hi (unsigned). */
static inline llm_vec llm_vec_in_range(llm_vec v, unsigned char lo, unsigned char hi)
{
    return llm_vec_le_u8(llm_vec_sub(v, llm_vec_splat(lo)), (unsigned char)(hi - lo));
}
#define LLM_VEC_ALL ((LLM_VEC_BYTES == 32) ? 0xFFFFFFFFull : 0xFFFFull)
#endif

#endif

/* A small, fast, seedable random generator (xoshiro256**, seeded through splitmix64) whose
 * whole state is four words, so a run can save it and continue the same sequence. The
 * same seed gives the same numbers on every machine. */
#ifndef LLM_RNG_H
#define LLM_RNG_H

#include <stdint.h>

#ifdef __CUDACC__    /* the mixer serves GPU kernels too (lib/noise.h) */
#define LLM_RNG_HOST_DEVICE __host__ __device__
#else
#define LLM_RNG_HOST_DEVICE
#endif

typedef struct llm_rng {
    uint64_t s[4];
} llm_rng;

#define LLM_GOLDEN_GAMMA 0x9e3779b97f4a7c15u    /* splitmix64's step */

/* splitmix64's output function: a 64-bit word mixed into one that looks random. */
static inline LLM_RNG_HOST_DEVICE uint64_t llm_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static inline uint64_t llm_splitmix64(uint64_t *x) { return llm_mix64(*x += LLM_GOLDEN_GAMMA); }

static inline void llm_rng_seed(llm_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = llm_splitmix64(&seed);
}

static inline uint64_t llm_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t llm_rng_next(llm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = llm_rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = llm_rng_rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n), n > 0, without modulo bias (Lemire's multiply-and-reject). */
static inline uint64_t llm_rng_below(llm_rng *r, uint64_t n)
{
    for (;;) {
        unsigned __int128 m = (unsigned __int128)llm_rng_next(r) * n;
        uint64_t low = (uint64_t)m;
        if (low >= n || low >= (0 - n) % n)
            return (uint64_t)(m >> 64);
    }
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double llm_rng_double(llm_rng *r) { return (double)(llm_rng_next(r) >> 11) * 0x1p-53; }

#endif

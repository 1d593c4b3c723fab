/* NEFTune's noise (Jain et al., 2023; Trainer's neftune_noise_alpha): during training, each
 * embedding element of a pass gets alpha / sqrt(T x C) x a uniform number in [-1, 1), T the
 * width of the batch and C the embedding's. The numbers come from a counter-based hash of
 * (key, element), not from a stream, so that the CPU and the GPU add the same numbers in any
 * thread order, and a run resumed at a step adds what it would have added. Used from C and
 * from CUDA (lib/cuda/layers.cu). */
#ifndef LLM_NOISE_H
#define LLM_NOISE_H

#include <math.h>
#include <stdint.h>

#include "rng.h"

/* The hash of element i under key: the (i+1)-th number of splitmix64 seeded with key. */
static inline LLM_RNG_HOST_DEVICE uint64_t llm_noise_mix(uint64_t key, uint64_t i)
{
    return llm_mix64(key + (i + 1) * LLM_GOLDEN_GAMMA);
}

/* Element i's number in [-1, 1): the top 24 bits of its hash, a multiple of 2^-23, exact in
 * a float. */
static inline LLM_RNG_HOST_DEVICE float llm_noise_unit(uint64_t key, uint64_t i)
{
    return (float)((int32_t)(llm_noise_mix(key, i) >> 40) - (1 << 23)) * (1.0f / 8388608.0f);
}

/* The noise's bound for a batch T wide of C-wide embeddings, in float32 as Trainer's hook
 * computes it: alpha / torch.sqrt(torch.tensor(T * C)). */
static inline float llm_noise_scale(double alpha, int T, int C)
{
    return (float)alpha / sqrtf((float)((int64_t)T * C));
}

/* The key of pass `pass` of optimizer step `step` of a run seeded `seed`: never 0, which
 * means no noise. */
static inline uint64_t llm_noise_key(uint64_t seed, uint64_t step, uint64_t pass)
{
    uint64_t k = llm_noise_mix(llm_noise_mix(seed, step), pass);
    return k ? k : 1;
}

#endif

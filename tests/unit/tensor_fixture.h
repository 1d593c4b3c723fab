/* Test fixtures shared by the checkpoint tests: a tiny GPT-2's tensor list in the Hugging Face
 * layout, buffers of awkward floats, and scratch folders. */
#ifndef LLM_TENSOR_FIXTURE_H
#define LLM_TENSOR_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "tensor.h"

static inline void fixture_add(llm_tensor_desc *t, int *n, size_t *at, const char *name, int decay, int64_t d0,
                        int64_t d1)
{
    llm_tensor_desc *d = &t[(*n)++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->ndim = d1 ? 2 : 1;
    d->shape[0] = d0;
    d->shape[1] = d1;
    d->offset = *at;
    d->decay = decay;
    *at += (size_t)d0 * (size_t)(d1 ? d1 : 1);
}

/* GPT-2's parameters for L layers, C channels, vocabulary V, context T, in the order and
 * shapes of Hugging Face's GPT2LMHeadModel (Conv1D weights are [in, out]). t needs
 * 4 + 12 * L entries. Returns the count; *total gets the number of floats. */
static inline int fixture_gpt2(llm_tensor_desc *t, int L, int64_t C, int64_t V, int64_t T, size_t *total)
{
    int n = 0;
    size_t at = 0;
    char name[64];
    fixture_add(t, &n, &at, "transformer.wte.weight", 1, V, C);
    fixture_add(t, &n, &at, "transformer.wpe.weight", 1, T, C);
    for (int l = 0; l < L; l++) {
        static const struct {
            const char *suffix;
            int decay, in, out;    /* in/out in units of C; out 0 for a vector */
        } parts[] = {
            {"ln_1.weight", 0, 1, 0},       {"ln_1.bias", 0, 1, 0},
            {"attn.c_attn.weight", 1, 1, 3}, {"attn.c_attn.bias", 0, 3, 0},
            {"attn.c_proj.weight", 1, 1, 1}, {"attn.c_proj.bias", 0, 1, 0},
            {"ln_2.weight", 0, 1, 0},       {"ln_2.bias", 0, 1, 0},
            {"mlp.c_fc.weight", 1, 1, 4},   {"mlp.c_fc.bias", 0, 4, 0},
            {"mlp.c_proj.weight", 1, 4, 1}, {"mlp.c_proj.bias", 0, 1, 0},
        };
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            snprintf(name, sizeof name, "transformer.h.%d.%s", l, parts[k].suffix);
            fixture_add(t, &n, &at, name, parts[k].decay, parts[k].in * C, parts[k].out * C);
        }
    }
    fixture_add(t, &n, &at, "transformer.ln_f.weight", 0, C, 0);
    fixture_add(t, &n, &at, "transformer.ln_f.bias", 0, C, 0);
    *total = at;
    return n;
}

/* Random floats with the awkward ones mixed in: signed zeros, subnormals, infinities, NaNs
 * with payloads, the extremes. Bit patterns, so a round trip must keep every bit. */
static inline void fixture_fill(float *x, size_t n, uint64_t seed)
{
    static const uint32_t special[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x7f800000u,
                                       0xff800000u, 0x7fc00000u, 0x7fa00001u, 0xffc12345u, 0x7f7fffffu,
                                       0x00800000u, 0x3f800000u};
    llm_rng r;
    llm_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        if (i < sizeof special / sizeof special[0])
            u = special[i];
        else if (llm_rng_below(&r, 4) == 0)
            u = (uint32_t)llm_rng_next(&r);   /* any bits at all */
        else {
            float f = (float)(llm_rng_double(&r) * 2 - 1);
            memcpy(&u, &f, sizeof u);
        }
        memcpy(&x[i], &u, sizeof u);
    }
}

static inline int fixture_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* rm -rf */
static inline void fixture_remove(const char *path) { nftw(path, fixture_rm, 16, FTW_DEPTH | FTW_PHYS); }

/* A fresh scratch folder under TMPDIR (or /tmp) named after the test; path gets its name. */
static inline void fixture_tmpdir(char *path, size_t size, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, size, "%s/llm-%s.XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(path)) {
        perror(path);
        exit(1);
    }
}

#endif

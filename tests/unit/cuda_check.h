/* What the GPU tests share: the skip where there is no GPU, random inputs, bf16 rounding on
 * the host, and the error measure ||out - ref|| / ||ref||, over a whole tensor (CHECK_CLOSE)
 * and row by row (CHECK_ROWS_CLOSE, which one wrong row cannot hide in), with its tolerances:
 *   TOL_F32  fp32 on both sides, only the order of the additions differs;
 *   TOL_BF16 a bf16 output, or a chain of bf16 products (8 bits of mantissa: 2^-8 = 4e-3
 *            per rounding, a few of them). */
#ifndef LLM_CUDA_CHECK_H
#define LLM_CUDA_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "model_cuda.h"
#include "rng.h"

#define TOL_F32 1e-5
#define TOL_BF16 1e-2

/* Prints the one skip line and returns 1 when no GPU is usable: main returns 0 then. */
static inline int cuda_skip(void)
{
    llm_error why;
    char name[128];
    if (llm_cuda_available(name, sizeof name, &why))
        return 0;
    printf("skipped: no GPU: %s\n", why.msg);
    return 1;
}

static llm_rng cuda_rng __attribute__((unused));

/* Uniform in [-scale, scale): never zeros. */
static inline void cuda_fill(float *p, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((llm_rng_double(&cuda_rng) * 2.0 - 1.0) * scale);
}

/* x rounded to bf16 (nearest, ties to even) and back: what the device sees of a bf16 input. */
static inline float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

static inline void bf16_round_all(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = bf16_round(p[i]);
}

/* ||out - ref|| / ||ref|| over n values (NaN counts as an infinite error). */
static inline double rel_err(const float *out, const float *ref, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)out[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
        if (isnan(out[i]))
            return INFINITY;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* The largest error of the n / width rows of width values each: ||out - ref|| of a row over
 * its ||ref||, or over a tenth of the rows' root-mean-square norm where that is more (a row
 * whose reference is near zero, as dQ of a document's first query, counts by its absolute
 * error). rel_err spreads one wrong row over all of them; this one does not. */
static inline double max_row_err(const float *out, const float *ref, size_t n, size_t width)
{
    double total = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++)
        total += (double)ref[i] * ref[i];
    double floor2 = 0.01 * total / (double)(n / width);
    for (size_t r = 0; r + width <= n; r += width) {
        double num = 0.0, den = 0.0;
        for (size_t i = r; i < r + width; i++) {
            double d = (double)out[i] - ref[i];
            num += d * d;
            den += (double)ref[i] * ref[i];
            if (isnan(out[i]))
                return INFINITY;
        }
        worst = fmax(worst, sqrt(num / fmax(den, floor2)));
    }
    return worst;
}

#define CHECK_CLOSE(what, out, ref, n, tol)                                                  \
    do {                                                                                     \
        double e_ = rel_err(out, ref, n);                                                    \
        CHECKF(e_ <= (tol), "%s: relative error %.3g above %.3g", what, e_, (double)(tol)); \
    } while (0)

#define CHECK_ROWS_CLOSE(what, out, ref, n, width, tol)                                                 \
    do {                                                                                                \
        double e_ = max_row_err(out, ref, n, width);                                                    \
        CHECKF(e_ <= (tol), "%s: relative error of a row %.3g above %.3g", what, e_, (double)(tol)); \
    } while (0)

#endif

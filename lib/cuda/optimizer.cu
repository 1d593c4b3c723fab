/* The optimizer step on the device (lib/ops_cuda.h): the gradient norm in a fixed order
 * (the same sum on every run), then AdamW with the clipping factor applied as each
 * gradient is read, so clipping costs no pass of its own. Twins of lib/adamw.c. */
#include <math.h>

#include "cuda_common.cuh"
#include "ops_cuda.h"

enum { NORM_PARTS = 1024, NORM_THREADS = 256 };

int llm_cuda_norm_parts(void) { return NORM_PARTS; }

/* Block k sums the squares of its contiguous chunk in double. */
__global__ static void sumsq_parts_kernel(double *partial, const float *g, size_t n)
{
    __shared__ double sh[NORM_THREADS];
    size_t chunk = (n + gridDim.x - 1) / gridDim.x, lo = blockIdx.x * chunk;
    size_t hi = lo + chunk < n ? lo + chunk : n;
    double s = 0.0;
    for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x)
        s += (double)g[i] * g[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w)
            sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        partial[blockIdx.x] = sh[0];
}

__global__ static void sumsq_total_kernel(double *sumsq, const double *partial, int parts)
{
    double s = 0.0;
    for (int k = 0; k < parts; k++)
        s += partial[k];
    *sumsq = s;
}

int llm_cuda_grad_sumsq(double *sumsq, double *partial, const float *g, size_t n, llm_cu_stream s,
                        llm_error *err)
{
    sumsq_parts_kernel<<<NORM_PARTS, NORM_THREADS, 0, s>>>(partial, g, n);
    CU_LAUNCHED();
    sumsq_total_kernel<<<1, 1, 0, s>>>(sumsq, partial, NORM_PARTS);
    CU_LAUNCHED();
    return 0;
}

/* The tensor of element i: the last range starting at or before it (a binary search over
 * a few hundred offsets, which stay in the cache). */
__device__ __forceinline__ int range_of(const uint64_t *ranges, int n_ranges, uint64_t i)
{
    int lo = 0, hi = n_ranges - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ranges[mid] <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

__global__ static void adamw_kernel(float *p, bf16 *p_bf16, const float *g, float *m, float *v, const uint64_t *ranges,
                                    const uint8_t *decays, int n_ranges, const double *sumsq, float max_norm, float b1,
                                    float b2, float eps, float decay, float step_size, float bc2_sqrt)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < ranges[0] || i >= ranges[n_ranges])
        return;    /* outside the table: left alone, as on the CPU */
    float clip = 1.0f;
    if (max_norm > 0.0f) {    /* torch's clip_grad_norm_: scale only when the factor is below 1 */
        double coef = (double)max_norm / (sqrt(*sumsq) + 1e-6);
        if (coef < 1.0)
            clip = (float)coef;
    }
    float d = decays[range_of(ranges, n_ranges, i)] ? decay : 1.0f;
    float gi = g[i] * clip;
    float mi = m[i] * b1 + gi * (1.0f - b1);
    float vi = v[i] * b2 + gi * gi * (1.0f - b2);
    m[i] = mi;
    v[i] = vi;
    float pi = p[i] * d - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    p[i] = pi;
    if (p_bf16)
        p_bf16[i] = to_bf(pi);
}

int llm_cuda_adamw(float *p, llm_bf16 *p_bf16, const float *g, float *m, float *v, size_t n, const uint64_t *ranges,
                   const uint8_t *decays, int n_ranges, const double *sumsq, float max_norm, float b1, float b2,
                   float eps, float decay, float step_size, float bc2_sqrt, llm_cu_stream s, llm_error *err)
{
    if (n == 0 || n_ranges == 0)
        return 0;
    adamw_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(p, p_bf16, g, m, v, ranges, decays, n_ranges, sumsq, max_norm, b1,
                                                     b2, eps, decay, step_size, bc2_sqrt);
    CU_LAUNCHED();
    return 0;
}

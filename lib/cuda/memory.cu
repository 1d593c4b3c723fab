/* Device memory, host copies and the small elementwise kernels of lib/ops_cuda.h. */
#include <stdio.h>
#include <stdlib.h>

#include "cuda_common.cuh"
#include "ops_cuda.h"

int cu_fail(llm_error *err, cudaError_t e, const char *what, const char *file, int line)
{
    const char *base = strrchr(file, '/');
    return llm_error_set(err, "%s:%d: %s: %s", base ? base + 1 : file, line, what, cudaGetErrorString(e));
}

void *llm_cu_alloc(size_t n, llm_error *err)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, n ? n : 1);
    if (e != cudaSuccess) {
        llm_error_set(err, "out of device memory for %.1f MiB (%s)", (double)n / (1 << 20), cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

void llm_cu_free(void *p)
{
    if (p)
        cudaFree(p);
}

int llm_cu_put_f32(float *dev, const float *host, size_t n, llm_error *err)
{
    CU_CHECK(cudaMemcpy(dev, host, n * sizeof(float), cudaMemcpyHostToDevice));
    return 0;
}

int llm_cu_get_f32(float *host, const float *dev, size_t n, llm_error *err)
{
    CU_CHECK(cudaMemcpy(host, dev, n * sizeof(float), cudaMemcpyDeviceToHost));
    return 0;
}

int llm_cu_put_bytes(void *dev, const void *host, size_t n, llm_error *err)
{
    CU_CHECK(cudaMemcpy(dev, host, n, cudaMemcpyHostToDevice));
    return 0;
}

int llm_cu_get_bytes(void *host, const void *dev, size_t n, llm_error *err)
{
    CU_CHECK(cudaMemcpy(host, dev, n, cudaMemcpyDeviceToHost));
    return 0;
}

/* Host <-> bf16 goes through an fp32 staging buffer on the device, in pieces of at most 16M
 * floats: piece(stage, at, k) moves floats [at, at + k). */
static const size_t STAGE = (size_t)1 << 24;

template <typename F> static int staged(size_t n, llm_error *err, F piece)
{
    float *stage = (float *)llm_cu_alloc((n < STAGE ? n : STAGE) * sizeof(float), err);
    if (!stage)
        return -1;
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += STAGE)
        rc = piece(stage, at, n - at < STAGE ? n - at : STAGE);
    if (rc == 0)
        rc = llm_cu_sync(err);
    llm_cu_free(stage);
    return rc;
}

int llm_cu_put_bf16(llm_bf16 *dev, const float *host, size_t n, llm_error *err)
{
    return staged(n, err, [&](float *stage, size_t at, size_t k) {
        if (llm_cu_put_f32(stage, host + at, k, err) < 0)
            return -1;
        return llm_cuda_to_bf16(dev + at, stage, 1.0f, k, NULL, err);
    });
}

__global__ static void bf16_to_f32_kernel(float *out, const bf16 *in, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = bf(in[i]);
}

int llm_cu_get_bf16(float *host, const llm_bf16 *dev, size_t n, llm_error *err)
{
    return staged(n, err, [&](float *stage, size_t at, size_t k) {
        bf16_to_f32_kernel<<<cu_blocks(k, 256), 256>>>(stage, dev + at, k);
        CU_LAUNCHED();
        return llm_cu_get_f32(host + at, stage, k, err);
    });
}

int llm_cu_sync(llm_error *err)
{
    CU_CHECK(cudaDeviceSynchronize());
    CU_CHECK(cudaGetLastError());
    llm_cu_prof_collect();    /* every stage recorded so far has finished */
    return 0;
}

__global__ static void to_bf16_kernel(bf16 *out, const float *in, float scale, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = to_bf(in[i] * scale);
}

int llm_cuda_to_bf16(llm_bf16 *out, const float *in, float scale, size_t n, llm_cu_stream s, llm_error *err)
{
    if (n == 0)
        return 0;
    to_bf16_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, in, scale, n);
    CU_LAUNCHED();
    return 0;
}

__global__ static void axpy_kernel(float *y, float a, const float *x, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] += a * x[i];
}

int llm_cuda_axpy(float *y, float a, const float *x, size_t n, llm_cu_stream s, llm_error *err)
{
    if (n == 0)
        return 0;
    axpy_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(y, a, x, n);
    CU_LAUNCHED();
    return 0;
}

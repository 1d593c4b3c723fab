/* The elementwise and row-wise layers of lib/ops_cuda.h, each the twin of its CPU reference
 * in lib/ops_cpu.c: embeddings, LayerNorm, GELU, bias gradients, cross-entropy. */
#include <math.h>

#include "cuda_common.cuh"
#include "ops_cuda.h"

/* ---- embeddings ------------------------------------------------------------------------ */

__global__ static void embed_forward_kernel(float *out, const int32_t *tokens, const int32_t *pos,
                                            const float *wte, const float *wpe, int N, int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * C)
        return;
    int n = (int)(i / C), c = (int)(i % C);
    out[i] = wte[(size_t)tokens[n] * C + c] + wpe[(size_t)pos[n] * C + c];
}

int llm_cuda_embed_forward(float *out, const int32_t *tokens, const int32_t *pos, const float *wte,
                           const float *wpe, int N, int C, llm_cu_stream s, llm_error *err)
{
    embed_forward_kernel<<<cu_blocks((size_t)N * C, 256), 256, 0, s>>>(out, tokens, pos, wte, wpe, N, C);
    CU_LAUNCHED();
    return 0;
}

__global__ static void embed_backward_kernel(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                                             const int32_t *pos, int N, int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * C)
        return;
    int n = (int)(i / C), c = (int)(i % C);
    float d = dout[i];
    /* rows share tokens and positions: atomics, whose order is not fixed */
    atomicAdd(&dwte[(size_t)tokens[n] * C + c], d);
    atomicAdd(&dwpe[(size_t)pos[n] * C + c], d);
}

int llm_cuda_embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                            const int32_t *pos, int N, int C, llm_cu_stream s, llm_error *err)
{
    embed_backward_kernel<<<cu_blocks((size_t)N * C, 256), 256, 0, s>>>(dwte, dwpe, dout, tokens, pos, N, C);
    CU_LAUNCHED();
    return 0;
}

/* ---- LayerNorm ------------------------------------------------------------------------- */

/* One warp a row: mean, then the variance around it (two passes, as the CPU), in fp32. */
__global__ static void layernorm_forward_kernel(bf16 *out, float *mean, float *rstd, const float *inp,
                                                const float *w, const float *b, int N, int C, float eps)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N)
        return;
    const float *x = inp + (size_t)row * C;
    float m = 0.0f, v = 0.0f;
    for (int c = lane; c < C; c += 32)
        m += x[c];
    m = warp_sum(m) / (float)C;
    for (int c = lane; c < C; c += 32)
        v += (x[c] - m) * (x[c] - m);
    float s = rsqrtf(warp_sum(v) / (float)C + eps);
    bf16 *o = out + (size_t)row * C;
    for (int c = lane; c < C; c += 32)
        o[c] = to_bf((x[c] - m) * s * w[c] + b[c]);
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = s;
    }
}

int llm_cuda_layernorm_forward(llm_bf16 *out, float *mean, float *rstd, const float *inp, const float *w,
                               const float *b, int N, int C, float eps, llm_cu_stream s, llm_error *err)
{
    layernorm_forward_kernel<<<cu_blocks((size_t)N, 8), 256, 0, s>>>(out, mean, rstd, inp, w, b, N, C, eps);
    CU_LAUNCHED();
    return 0;
}

__global__ static void layernorm_apply_kernel(bf16 *out, const float *mean, const float *rstd, const float *inp,
                                              const float *w, const float *b, int N, int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * C)
        return;
    int n = (int)(i / C), c = (int)(i % C);
    out[i] = to_bf((inp[i] - mean[n]) * rstd[n] * w[c] + b[c]);
}

int llm_cuda_layernorm_apply(llm_bf16 *out, const float *mean, const float *rstd, const float *inp,
                             const float *w, const float *b, int N, int C, llm_cu_stream s, llm_error *err)
{
    layernorm_apply_kernel<<<cu_blocks((size_t)N * C, 256), 256, 0, s>>>(out, mean, rstd, inp, w, b, N, C);
    CU_LAUNCHED();
    return 0;
}

/* Each warp takes rows in turn; the block adds the weight and bias gradients of its rows in
 * shared memory (2 C floats) and then into the global sums. */
__global__ static void layernorm_backward_kernel(float *dinp, float *dw, float *db, const float *dout, float scale,
                                                 const float *inp, const float *mean, const float *rstd,
                                                 const float *w, int N, int C)
{
    extern __shared__ float sh[];
    float *sdw = sh, *sdb = sh + C;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        sdw[c] = sdb[c] = 0.0f;
    __syncthreads();
    int lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (int row = blockIdx.x * warps + threadIdx.x / 32; row < N; row += gridDim.x * warps) {
        const float *x = inp + (size_t)row * C, *d = dout + (size_t)row * C;
        float *dx = dinp + (size_t)row * C;
        float m = mean[row], s = rstd[row], g_mean = 0.0f, gx_mean = 0.0f;
        for (int c = lane; c < C; c += 32) {
            float g = d[c] * scale * w[c];
            g_mean += g;
            gx_mean += g * (x[c] - m) * s;
        }
        g_mean = warp_sum(g_mean) / (float)C;
        gx_mean = warp_sum(gx_mean) / (float)C;
        for (int c = lane; c < C; c += 32) {
            float dd = d[c] * scale, xhat = (x[c] - m) * s;
            dx[c] += s * (dd * w[c] - g_mean - xhat * gx_mean);
            atomicAdd(&sdw[c], dd * xhat);
            atomicAdd(&sdb[c], dd);
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        atomicAdd(&dw[c], sdw[c]);
        atomicAdd(&db[c], sdb[c]);
    }
}

int llm_cuda_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, float scale,
                                const float *inp, const float *mean, const float *rstd, const float *w,
                                int N, int C, llm_cu_stream s, llm_error *err)
{
    size_t shared = 2 * (size_t)C * sizeof(float);
    if (shared > 48 * 1024)
        return llm_error_set(err, "LayerNorm backward: width %d above 6144", C);
    unsigned blocks = cu_blocks((size_t)N, 8);
    if (blocks > 512)    /* enough to fill a chip; fewer blocks, fewer global atomics */
        blocks = 512;
    layernorm_backward_kernel<<<blocks, 256, shared, s>>>(dinp, dw, db, dout, scale, inp, mean, rstd, w, N, C);
    CU_LAUNCHED();
    return 0;
}

/* ---- GELU ------------------------------------------------------------------------------ */

#define GELU_K 0.7978845608028654f    /* sqrt(2 / pi) */

__global__ static void gelu_forward_kernel(bf16 *out, const bf16 *inp, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = bf(inp[i]);
    out[i] = to_bf(0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x))));
}

int llm_cuda_gelu_forward(llm_bf16 *out, const llm_bf16 *inp, size_t n, llm_cu_stream s, llm_error *err)
{
    gelu_forward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, inp, n);
    CU_LAUNCHED();
    return 0;
}

__global__ static void gelu_backward_kernel(bf16 *dinp, const bf16 *inp, const bf16 *dout, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = bf(inp[i]);
    float t = tanhf(GELU_K * (x + 0.044715f * x * x * x));
    float dt = (1.0f - t * t) * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = to_bf(bf(dout[i]) * (0.5f * (1.0f + t) + 0.5f * x * dt));
}

int llm_cuda_gelu_backward(llm_bf16 *dinp, const llm_bf16 *inp, const llm_bf16 *dout, size_t n,
                           llm_cu_stream s, llm_error *err)
{
    gelu_backward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(dinp, inp, dout, n);
    CU_LAUNCHED();
    return 0;
}

/* ---- bias gradients -------------------------------------------------------------------- */

/* Blocks of 32 columns x 8 row lanes; each block sums its share of the rows, then adds. */
template <typename T> __device__ __forceinline__ float as_float(T x);
template <> __device__ __forceinline__ float as_float<float>(float x) { return x; }
template <> __device__ __forceinline__ float as_float<bf16>(bf16 x) { return bf(x); }

template <typename T>
__global__ static void bias_backward_kernel(float *db, const T *dout, int N, int OC)
{
    __shared__ float part[8][33];
    int col = blockIdx.x * 32 + threadIdx.x;
    float sum = 0.0f;
    if (col < OC)
        for (int r = blockIdx.y * 8 + threadIdx.y; r < N; r += gridDim.y * 8)
            sum += as_float<T>(dout[(size_t)r * OC + col]);
    part[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && col < OC) {
        for (int k = 1; k < 8; k++)
            sum += part[k][threadIdx.x];
        atomicAdd(&db[col], sum);
    }
}

template <typename T> static int bias_backward(float *db, const T *dout, int N, int OC, cudaStream_t s, llm_error *err)
{
    unsigned row_blocks = cu_blocks((size_t)N, 8 * 16);    /* about 128 rows a block */
    if (row_blocks > 64)
        row_blocks = 64;
    dim3 grid(cu_blocks((size_t)OC, 32), row_blocks), block(32, 8);
    bias_backward_kernel<T><<<grid, block, 0, s>>>(db, dout, N, OC);
    CU_LAUNCHED();
    return 0;
}

int llm_cuda_bias_backward(float *db, const llm_bf16 *dout, int N, int OC, llm_cu_stream s, llm_error *err)
{
    return bias_backward<bf16>(db, dout, N, OC, s, err);
}

int llm_cuda_bias_backward_f32(float *db, const float *dout, int N, int OC, llm_cu_stream s, llm_error *err)
{
    return bias_backward<float>(db, dout, N, OC, s, err);
}

/* ---- cross-entropy --------------------------------------------------------------------- */

enum { CE_THREADS = 512 };

/* One block a row: the maximum and its first index, the sum of the exponentials, then the
 * loss and, when asked, softmax - onehot. */
__global__ static void crossentropy_kernel(float *losses, float *lse, uint8_t *correct, bf16 *dlogits,
                                           const float *logits, const int32_t *targets, int V, int ld)
{
    __shared__ float smax[32];
    __shared__ int sarg[32];
    __shared__ float scratch[32];
    int row = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const float *l = logits + (size_t)row * ld;
    float mx = -INFINITY;
    int arg = V;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        if (l[v] > mx) {    /* strictly greater: each thread keeps its first maximum */
            mx = l[v];
            arg = v;
        }
    for (int o = 16; o > 0; o >>= 1) {
        float om = __shfl_xor_sync(0xffffffffu, mx, o);
        int oa = __shfl_xor_sync(0xffffffffu, arg, o);
        if (om > mx || (om == mx && oa < arg)) {
            mx = om;
            arg = oa;
        }
    }
    if (lane == 0) {
        smax[warp] = mx;
        sarg[warp] = arg;
    }
    __syncthreads();
    mx = smax[0];
    arg = sarg[0];
    for (int k = 1; k < (int)blockDim.x / 32; k++)
        if (smax[k] > mx || (smax[k] == mx && sarg[k] < arg)) {
            mx = smax[k];
            arg = sarg[k];
        }
    float sum = 0.0f;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        sum += expf(l[v] - mx);
    sum = block_sum(sum, scratch);
    float row_lse = mx + logf(sum);
    int y = targets[row];
    if (threadIdx.x == 0) {
        lse[row] = row_lse;
        losses[row] = y >= 0 ? row_lse - l[y] : 0.0f;
        correct[row] = y >= 0 && arg == y;
    }
    if (!dlogits)
        return;
    bf16 *d = dlogits + (size_t)row * ld;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        d[v] = to_bf(y < 0 ? 0.0f : expf(l[v] - row_lse) - (v == y ? 1.0f : 0.0f));
}

int llm_cuda_crossentropy(float *losses, float *lse, uint8_t *correct, llm_bf16 *dlogits, const float *logits,
                          const int32_t *targets, int N, int V, int ld, llm_cu_stream s, llm_error *err)
{
    if (N == 0)
        return 0;
    crossentropy_kernel<<<N, CE_THREADS, 0, s>>>(losses, lse, correct, dlogits, logits, targets, V, ld);
    CU_LAUNCHED();
    return 0;
}

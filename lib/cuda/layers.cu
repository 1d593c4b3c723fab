/* The elementwise and row-wise layers of lib/ops_cuda.h, each the twin of its CPU reference
 * in lib/ops_cpu.c: embeddings, LayerNorm, GELU, bias gradients, cross-entropy. */
#include <math.h>
#include <string.h>

#include "cuda_common.cuh"
#include "noise.h"
#include "ops_cuda.h"

/* ---- embeddings ------------------------------------------------------------------------ */

__global__ static void embed_forward_kernel(float *out, const int32_t *tokens, const int32_t *pos,
                                            const float *wte, const float *wpe, int N, int C, float noise_scale,
                                            uint64_t noise_key)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * C)
        return;
    int n = (int)(i / C), c = (int)(i % C);
    float e = wte[(size_t)tokens[n] * C + c];
    if (noise_scale != 0)    /* __fmul_rn: no fused multiply-add, so the CPU's bits */
        e += __fmul_rn(noise_scale, llm_noise_unit(noise_key, i));
    out[i] = e + wpe[(size_t)pos[n] * C + c];
}

int llm_cuda_embed_forward(float *out, const int32_t *tokens, const int32_t *pos, const float *wte,
                           const float *wpe, int N, int C, float noise_scale, uint64_t noise_key, llm_cu_stream s,
                           llm_error *err)
{
    embed_forward_kernel<<<cu_blocks((size_t)N * C, 256), 256, 0, s>>>(out, tokens, pos, wte, wpe, N, C, noise_scale,
                                                                       noise_key);
    CU_LAUNCHED();
    return 0;
}

extern "C" void llm_cuda_group_rows(const int32_t *index, int N, int n_index, int32_t *count, int32_t *rows,
                                    int32_t *start, int32_t *id, int *n_groups)
{
    memset(count, 0, ((size_t)n_index + 1) * sizeof *count);
    for (int n = 0; n < N; n++)
        count[index[n]]++;
    int g = 0, at = 0;
    for (int v = 0; v < n_index; v++)
        if (count[v]) {
            id[g] = v;
            start[g] = at;
            at += count[v];
            count[v] = start[g];    /* from here on: where the next row of v goes */
            g++;
        }
    start[g] = at;
    *n_groups = g;
    for (int n = 0; n < N; n++)    /* ascending rows within each group */
        rows[count[index[n]]++] = n;
}

/* A block a group, a thread a column (blockIdx.y picks 256 of them). */
__global__ static void embed_backward_kernel(float *dw, const float *dout, const int32_t *rows, const int32_t *start,
                                             const int32_t *id, int C)
{
    int g = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    float sum = 0.0f;
    for (int r = start[g]; r < start[g + 1]; r++)
        sum += dout[(size_t)rows[r] * C + c];
    dw[(size_t)id[g] * C + c] += sum;
}

int llm_cuda_embed_backward(float *dw, const float *dout, const int32_t *rows, const int32_t *start,
                            const int32_t *id, int n_groups, int C, llm_cu_stream s, llm_error *err)
{
    if (n_groups == 0)
        return 0;
    dim3 grid(n_groups, cu_blocks((size_t)C, 256));
    embed_backward_kernel<<<grid, 256, 0, s>>>(dw, dout, rows, start, id, C);
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

/* dx: a warp a row, rows in turn; with dinp_bf, its bf16 copy too (the operand of the
 * products that come next), which saves a pass over dx. */
__global__ static void layernorm_backward_kernel(float *dinp, bf16 *dinp_bf, const float *dout, float scale,
                                                 const float *inp, const float *mean, const float *rstd,
                                                 const float *w, int N, int C)
{
    int lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (int row = blockIdx.x * warps + threadIdx.x / 32; row < N; row += gridDim.x * warps) {
        const float *x = inp + (size_t)row * C, *d = dout + (size_t)row * C;
        float *dx = dinp + (size_t)row * C;
        bf16 *dx_bf = dinp_bf ? dinp_bf + (size_t)row * C : NULL;
        float m = mean[row], s = rstd[row], g_mean = 0.0f, gx_mean = 0.0f;
        for (int c = lane; c < C; c += 32) {
            float g = d[c] * scale * w[c];
            g_mean += g;
            gx_mean += g * (x[c] - m) * s;
        }
        g_mean = warp_sum(g_mean) / (float)C;
        gx_mean = warp_sum(gx_mean) / (float)C;
        for (int c = lane; c < C; c += 32) {
            float xhat = (x[c] - m) * s;
            float v = dx[c] + s * (d[c] * scale * w[c] - g_mean - xhat * gx_mean);
            dx[c] = v;
            if (dx_bf)
                dx_bf[c] = to_bf(v);
        }
    }
}

/* ---- column sums: the bias and LayerNorm parameter gradients ----------------------------- */

/* A gradient of a bias or a LayerNorm parameter sums a column over all N rows. A block for
 * each 32 columns would leave most of a large chip idle (24 blocks for 768 columns), so the
 * rows are cut into slabs of COLSUM_ROWS: a block sums 32 columns of one slab into scratch,
 * then one thread a column adds the slabs in order. No atomics: the same sums every run, on
 * any device (the slabs depend on N only). */
enum { COLSUM_ROWS = 256, COLSUM_LANES = 8 };

static int colsum_slabs(int N) { return (N + COLSUM_ROWS - 1) / COLSUM_ROWS; }

size_t llm_cuda_colsum_scratch(int N, int OC) { return (size_t)colsum_slabs(N) * (size_t)OC; }

/* The COLSUM_LANES row lanes of a block's column added in order, by lane 0; others get 0. */
__device__ __forceinline__ float colsum_lanes(float (*part)[33], float v)
{
    part[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    if (threadIdx.y != 0)
        return 0.0f;
    for (int k = 1; k < COLSUM_LANES; k++)
        v += part[k][threadIdx.x];
    return v;
}

/* dst[col] += the slabs' sums of column col of parts (slabs x width, row-major), with
 * columns from split on going to dst2[col - split]. */
__global__ static void colsum_finish_kernel(float *dst, float *dst2, int split, const float *parts, int slabs,
                                            int width)
{
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= width)
        return;
    float sum = 0.0f;
    for (int k = 0; k < slabs; k++)
        sum += parts[(size_t)k * width + col];
    if (col < split)
        dst[col] += sum;
    else
        dst2[col - split] += sum;
}

static int colsum_finish(float *dst, float *dst2, int split, const float *parts, int N, int width,
                         cudaStream_t s, llm_error *err)
{
    colsum_finish_kernel<<<cu_blocks((size_t)width, 256), 256, 0, s>>>(dst, dst2, split, parts, colsum_slabs(N),
                                                                     width);
    CU_LAUNCHED();
    return 0;
}

static dim3 colsum_grid(int N, int OC) { return dim3(cu_blocks((size_t)OC, 32), (unsigned)colsum_slabs(N)); }

/* The rows of the block's slab that row lane threadIdx.y visits: r0, r0 + LANES, ... < r1. */
#define FOR_SLAB_ROWS(r, N)                                                                      \
    for (int r = blockIdx.y * COLSUM_ROWS + threadIdx.y,                                         \
             r_end_ = min((N), (int)(blockIdx.y + 1) * COLSUM_ROWS); r < r_end_; r += COLSUM_LANES)

/* parts (slabs, 2C): the slab's sums of dout * scale * xhat (dw), then of dout * scale (db). */
__global__ static void layernorm_param_parts_kernel(float *parts, const float *dout, float scale, const float *inp,
                                                    const float *mean, const float *rstd, int N, int C)
{
    __shared__ float pw[COLSUM_LANES][33], pb[COLSUM_LANES][33];
    int col = blockIdx.x * 32 + threadIdx.x;
    float sw = 0.0f, sb = 0.0f;
    if (col < C)
        FOR_SLAB_ROWS(r, N) {
            float d = dout[(size_t)r * C + col] * scale;
            sw += d * (inp[(size_t)r * C + col] - mean[r]) * rstd[r];
            sb += d;
        }
    sw = colsum_lanes(pw, sw);
    sb = colsum_lanes(pb, sb);
    if (threadIdx.y == 0 && col < C) {
        float *p = parts + (size_t)blockIdx.y * 2 * C;
        p[col] = sw;
        p[C + col] = sb;
    }
}

int llm_cuda_layernorm_backward(float *dinp, llm_bf16 *dinp_bf, float *dw, float *db, const float *dout, float scale,
                                const float *inp, const float *mean, const float *rstd, const float *w, int N,
                                int C, float *scratch, llm_cu_stream s, llm_error *err)
{
    if (N == 0)
        return 0;
    unsigned blocks = cu_blocks((size_t)N, 8);
    if (blocks > 1024)    /* enough to fill a chip; the warps take rows in turn */
        blocks = 1024;
    layernorm_backward_kernel<<<blocks, 256, 0, s>>>(dinp, dinp_bf, dout, scale, inp, mean, rstd, w, N, C);
    CU_LAUNCHED();
    layernorm_param_parts_kernel<<<colsum_grid(N, C), dim3(32, COLSUM_LANES), 0, s>>>(scratch, dout, scale, inp,
                                                                                      mean, rstd, N, C);
    CU_LAUNCHED();
    return colsum_finish(dw, db, C, scratch, N, 2 * C, s, err);
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

template <typename T> __device__ __forceinline__ float as_float(T x);
template <> __device__ __forceinline__ float as_float<float>(float x) { return x; }
template <> __device__ __forceinline__ float as_float<bf16>(bf16 x) { return bf(x); }

/* parts (slabs, OC): the slab's sums of dout's columns. */
template <typename T> __global__ static void bias_parts_kernel(float *parts, const T *dout, int N, int OC)
{
    __shared__ float part[COLSUM_LANES][33];
    int col = blockIdx.x * 32 + threadIdx.x;
    float sum = 0.0f;
    if (col < OC)
        FOR_SLAB_ROWS(r, N)
            sum += as_float<T>(dout[(size_t)r * OC + col]);
    sum = colsum_lanes(part, sum);
    if (threadIdx.y == 0 && col < OC)
        parts[(size_t)blockIdx.y * OC + col] = sum;
}

template <typename T>
static int bias_backward(float *db, const T *dout, int N, int OC, float *scratch, cudaStream_t s, llm_error *err)
{
    if (N == 0)
        return 0;
    bias_parts_kernel<T><<<colsum_grid(N, OC), dim3(32, COLSUM_LANES), 0, s>>>(scratch, dout, N, OC);
    CU_LAUNCHED();
    return colsum_finish(db, NULL, OC, scratch, N, OC, s, err);
}

int llm_cuda_bias_backward(float *db, const llm_bf16 *dout, int N, int OC, float *scratch, llm_cu_stream s,
                           llm_error *err)
{
    return bias_backward<bf16>(db, dout, N, OC, scratch, s, err);
}

int llm_cuda_bias_backward_f32(float *db, const float *dout, int N, int OC, float *scratch, llm_cu_stream s,
                               llm_error *err)
{
    return bias_backward<float>(db, dout, N, OC, scratch, s, err);
}

/* ---- cross-entropy --------------------------------------------------------------------- */

enum { CE_THREADS = 512 };

/* Softmax statistics of part of a row, gathered online: the maximum m with its first
 * index, and the sum s of exp(x - m), rescaled whenever m grows. One read of the row gives
 * what a pass for the maximum and a pass for the sum would. */
struct ce_stats {
    float m, s;
    int arg;
    float sum;    /* of the logits, for label smoothing's mean of -log p */
};

__device__ __forceinline__ void ce_add(ce_stats &a, float x, int v)
{
    a.sum += x;
    if (x > a.m) {    /* strictly greater: the first maximum stays */
        a.s = a.s * expf(a.m - x) + 1.0f;
        a.m = x;
        a.arg = v;
    } else {
        a.s += expf(x - a.m);
    }
}

/* Merges b into a; an empty part (m = -inf, nothing added) leaves the other as it is. */
__device__ __forceinline__ void ce_merge(ce_stats &a, ce_stats b)
{
    if (b.m == -INFINITY)
        return;
    if (a.m == -INFINITY) {
        a = b;
        return;
    }
    float m = fmaxf(a.m, b.m);
    a.s = a.s * expf(a.m - m) + b.s * expf(b.m - m);
    if (b.m > a.m || (b.m == a.m && b.arg < a.arg))
        a.arg = b.arg;
    a.m = m;
    a.sum += b.sum;
}

/* One block a row of bf16 logits: the statistics in one read, then the loss and, when
 * asked, softmax - (1 - e) onehot - e / V written over the row in a second. */
__global__ static void crossentropy_kernel(float *losses, float *lse, uint8_t *correct, bf16 *logits,
                                           int gradient, const int32_t *targets, float smoothing, int V, int ld)
{
    __shared__ ce_stats part[32];
    int row = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    bf16 *l = logits + (size_t)row * ld;
    ce_stats st = {-INFINITY, 0.0f, V, 0.0f};
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        ce_add(st, bf(l[v]), v);
    for (int o = 16; o > 0; o >>= 1) {
        ce_stats other = {__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o),
                          __shfl_xor_sync(0xffffffffu, st.arg, o), __shfl_xor_sync(0xffffffffu, st.sum, o)};
        ce_merge(st, other);
    }
    if (lane == 0)
        part[warp] = st;
    __syncthreads();
    st = part[0];    /* every thread merges the warps in the same order: the same result */
    for (int k = 1; k < (int)blockDim.x / 32; k++)
        ce_merge(st, part[k]);
    float row_lse = st.m + logf(st.s);
    int y = targets[row];
    if (threadIdx.x == 0) {
        float loss = y >= 0 ? row_lse - bf(l[y]) : 0.0f;
        if (y >= 0 && smoothing > 0.0f)
            loss = (1.0f - smoothing) * loss + smoothing * (row_lse - st.sum / (float)V);
        lse[row] = row_lse;
        losses[row] = loss;
        correct[row] = y >= 0 && st.arg == y;
    }
    if (!gradient)
        return;
    __syncthreads();    /* l[y] is read before the row is overwritten */
    float uniform = smoothing / (float)V, hit = 1.0f - smoothing;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        l[v] = to_bf(y < 0 ? 0.0f : expf(bf(l[v]) - row_lse) - uniform - (v == y ? hit : 0.0f));
}

int llm_cuda_crossentropy(float *losses, float *lse, uint8_t *correct, llm_bf16 *logits, int gradient,
                          const int32_t *targets, float smoothing, int N, int V, int ld, llm_cu_stream s,
                          llm_error *err)
{
    if (N == 0)
        return 0;
    crossentropy_kernel<<<N, CE_THREADS, 0, s>>>(losses, lse, correct, (bf16 *)logits, gradient, targets,
                                                 smoothing, V, ld);
    CU_LAUNCHED();
    return 0;
}

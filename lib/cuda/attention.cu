/* Attention without the (T, T) matrix (lib/ops_cuda.h), in the manner of FlashAttention:
 * the forward streams key tiles through shared memory with a running max and sum per query
 * (the online softmax) and keeps each query's log-sum-exp; the backward recomputes the
 * probabilities from it, once for dQ (one warp a query, over its keys) and once for dK and
 * dV (one warp a key, over the queries that see it), so no gradient needs atomics.
 * Query t sees keys start(t) .. t, start(t) = t - pos[t] (its document's first position);
 * start only grows along a row, which bounds the tiles each block visits.
 * Scores, softmax and sums are fp32 from bf16 inputs; a warp's lanes take 32 keys (or
 * queries) of a tile at once, then each lane owns hs / 32 of the output's dimensions. */
#include <math.h>

#include "cuda_common.cuh"
#include "ops_cuda.h"

/* WARPS queries (or keys) a block share each tile they load: 8 keeps the shared memory of
 * head size 128 under the 48 KB a block gets without asking. */
enum { MAX_HS = 128, DIMS = MAX_HS / 32, TILE = 32, WARPS = 8 };

/* Rows of a tile in shared memory are hs + 1 floats apart: lane j reading row j's element
 * d then hits 32 different banks. */
__device__ __forceinline__ void load_rows(float *dst, const bf16 *qkv, int b, int first, int T, int C3,
                                          int offset, int hs)
{
    for (int i = threadIdx.x; i < TILE * hs; i += blockDim.x) {
        int r = i / hs, d = i % hs, t = first + r;
        dst[r * (hs + 1) + d] = t < T ? bf(qkv[((size_t)b * T + t) * C3 + offset + d]) : 0.0f;
    }
}

__device__ __forceinline__ int doc_start(const int32_t *pos, int b, int T, int t) { return t - pos[(size_t)b * T + t]; }

/* ---- forward --------------------------------------------------------------------------- */

/* Queries q_first .. T - 1 (all of them but in generation, where the earlier rows of qkv
 * are the cache); out and lse hold the rows of those queries only. */
__global__ static void attention_forward_kernel(bf16 *out, float *lse, const bf16 *qkv, const int32_t *pos, int T,
                                                int q_first, int C, int NH)
{
    extern __shared__ float sh[];
    int hs = C / NH, C3 = 3 * C, b = blockIdx.z, h = blockIdx.y, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float *ks = sh, *vs = ks + TILE * (hs + 1), *qs = vs + TILE * (hs + 1);
    int t0 = q_first + blockIdx.x * WARPS, t = t0 + warp, t_last = min(t0 + WARPS, T) - 1, Tq = T - q_first;
    float scale = 1.0f / sqrtf((float)hs);    /* as the CPU */
    float *q = qs + warp * hs;
    for (int d = lane; d < hs; d += 32)
        q[d] = t < T ? bf(qkv[((size_t)b * T + t) * C3 + h * hs + d]) : 0.0f;
    int lo = t < T ? doc_start(pos, b, T, t) : 0;
    float m = -INFINITY, l = 0.0f, o[DIMS] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k0 = doc_start(pos, b, T, t0); k0 <= t_last; k0 += TILE) {
        __syncthreads();    /* the previous tile is consumed (and q written) */
        load_rows(ks, qkv, b, k0, T, C3, C + h * hs, hs);
        load_rows(vs, qkv, b, k0, T, C3, 2 * C + h * hs, hs);
        __syncthreads();
        if (t >= T)
            continue;
        int s = k0 + lane;
        float score = -INFINITY;
        if (s >= lo && s <= t) {
            const float *kr = ks + lane * (hs + 1);
            float dot = 0.0f;
            for (int d = 0; d < hs; d++)
                dot += q[d] * kr[d];
            score = dot * scale;
        }
        float m_new = fmaxf(m, warp_max(score));
        if (m_new == -INFINITY)
            continue;    /* no key of this tile for this query */
        float p = score == -INFINITY ? 0.0f : expf(score - m_new), corr = expf(m - m_new);
        l = l * corr + warp_sum(p);
        m = m_new;
#pragma unroll
        for (int i = 0; i < DIMS; i++)
            o[i] *= corr;
        for (int j = 0; j < TILE; j++) {
            float pj = __shfl_sync(0xffffffffu, p, j);
            if (pj == 0.0f)
                continue;
            const float *vr = vs + j * (hs + 1);
#pragma unroll
            for (int i = 0; i < DIMS; i++)
                if (lane + 32 * i < hs)
                    o[i] += pj * vr[lane + 32 * i];
        }
    }
    if (t >= T)
        return;
    bf16 *orow = out + ((size_t)b * Tq + t - q_first) * C + h * hs;
#pragma unroll
    for (int i = 0; i < DIMS; i++)
        if (lane + 32 * i < hs)
            orow[lane + 32 * i] = to_bf(o[i] / l);
    if (lane == 0)
        lse[((size_t)b * NH + h) * Tq + t - q_first] = m + logf(l);
}

static int check_heads(int C, int NH, llm_error *err)
{
    if (C % NH || C / NH > MAX_HS)
        return llm_error_set(err, "attention on the GPU: head size %d (width %d, %d heads) above %d", C / NH, C,
                             NH, MAX_HS);
    return 0;
}

static int launch_forward(bf16 *out, float *lse, const bf16 *qkv, const int32_t *pos, int B, int T, int q_first,
                          int C, int NH, cudaStream_t s, llm_error *err)
{
    int hs = C / NH;
    size_t shared = (2 * TILE * (hs + 1) + WARPS * hs) * sizeof(float);
    dim3 grid(cu_blocks((size_t)(T - q_first), WARPS), NH, B);
    attention_forward_kernel<<<grid, WARPS * 32, shared, s>>>(out, lse, qkv, pos, T, q_first, C, NH);
    CU_LAUNCHED();
    return 0;
}

int llm_cuda_attention_forward(llm_bf16 *out, float *lse, const llm_bf16 *qkv, const int32_t *pos, int B,
                               int T, int C, int NH, llm_cu_stream s, llm_error *err)
{
    if (check_heads(C, NH, err) < 0)
        return -1;
    int hs = C / NH;
    if (llm_cuda_attention_mma_wanted(hs))
        return llm_cuda_attention_forward_mma(out, lse, qkv, pos, B, T, C, NH, s, err);
    return launch_forward(out, lse, qkv, pos, B, T, 0, C, NH, s, err);
}

int llm_cuda_attention_queries(llm_bf16 *out, float *lse, const llm_bf16 *qkv, const int32_t *pos, int T,
                               int q_first, int C, int NH, llm_cu_stream s, llm_error *err)
{
    if (check_heads(C, NH, err) < 0)
        return -1;
    if (q_first < 0 || q_first >= T)
        return llm_error_set(err, "attention: queries from %d of %d", q_first, T);
    return launch_forward(out, lse, qkv, pos, 1, T, q_first, C, NH, s, err);
}

/* ---- backward -------------------------------------------------------------------------- */

/* delta (B, NH, T) = rowsum(dO * O) per head: a warp a (row, head). */
__global__ static void attention_delta_kernel(float *delta, const bf16 *dout, const bf16 *out, int B, int T,
                                              int C, int NH)
{
    int w = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32, hs = C / NH;
    if (w >= B * T * NH)
        return;
    int h = w % NH, bt = w / NH, b = bt / T, t = bt % T;
    const bf16 *dor = dout + (size_t)bt * C + h * hs, *orow = out + (size_t)bt * C + h * hs;
    float s = 0.0f;
    for (int d = lane; d < hs; d += 32)
        s += bf(dor[d]) * bf(orow[d]);
    s = warp_sum(s);
    if (lane == 0)
        delta[((size_t)b * NH + h) * T + t] = s;
}

/* dQ: a warp a query, over its keys, as the forward. */
__global__ static void attention_dq_kernel(bf16 *dqkv, const float *delta, const bf16 *dout, const float *lse,
                                           const bf16 *qkv, const int32_t *pos, int T, int C, int NH)
{
    extern __shared__ float sh[];
    int hs = C / NH, C3 = 3 * C, b = blockIdx.z, h = blockIdx.y, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float *ks = sh, *vs = ks + TILE * (hs + 1), *qs = vs + TILE * (hs + 1), *dos = qs + WARPS * hs;
    int t0 = blockIdx.x * WARPS, t = t0 + warp, t_last = min(t0 + WARPS, T) - 1;
    float scale = 1.0f / sqrtf((float)hs);    /* as the CPU */
    float *q = qs + warp * hs, *dq_out = dos + warp * hs;
    for (int d = lane; d < hs; d += 32) {
        q[d] = t < T ? bf(qkv[((size_t)b * T + t) * C3 + h * hs + d]) : 0.0f;
        dq_out[d] = t < T ? bf(dout[((size_t)b * T + t) * C + h * hs + d]) : 0.0f;
    }
    size_t bh = ((size_t)b * NH + h) * T;
    int lo = t < T ? doc_start(pos, b, T, t) : 0;
    float row_lse = t < T ? lse[bh + t] : 0.0f, row_delta = t < T ? delta[bh + t] : 0.0f;
    float dq[DIMS] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k0 = doc_start(pos, b, T, t0); k0 <= t_last; k0 += TILE) {
        __syncthreads();
        load_rows(ks, qkv, b, k0, T, C3, C + h * hs, hs);
        load_rows(vs, qkv, b, k0, T, C3, 2 * C + h * hs, hs);
        __syncthreads();
        if (t >= T)
            continue;
        int s = k0 + lane;
        float ds = 0.0f;
        if (s >= lo && s <= t) {
            const float *kr = ks + lane * (hs + 1), *vr = vs + lane * (hs + 1);
            float dot = 0.0f, dp = 0.0f;
            for (int d = 0; d < hs; d++) {
                dot += q[d] * kr[d];
                dp += dq_out[d] * vr[d];
            }
            float p = expf(dot * scale - row_lse);
            ds = p * (dp - row_delta) * scale;
        }
        for (int j = 0; j < TILE; j++) {
            float dsj = __shfl_sync(0xffffffffu, ds, j);
            if (dsj == 0.0f)
                continue;
            const float *kr = ks + j * (hs + 1);
#pragma unroll
            for (int i = 0; i < DIMS; i++)
                if (lane + 32 * i < hs)
                    dq[i] += dsj * kr[lane + 32 * i];
        }
    }
    if (t >= T)
        return;
    bf16 *dqr = dqkv + ((size_t)b * T + t) * C3 + h * hs;
#pragma unroll
    for (int i = 0; i < DIMS; i++)
        if (lane + 32 * i < hs)
            dqr[lane + 32 * i] = to_bf(dq[i]);
}

/* dK and dV: a warp a key s, over the query tiles from s on; it stops at the first tile
 * whose first query's document starts after the block's last key. */
__global__ static void attention_dkv_kernel(bf16 *dqkv, const float *delta, const bf16 *dout, const float *lse,
                                            const bf16 *qkv, const int32_t *pos, int T, int C, int NH)
{
    extern __shared__ float sh[];
    int hs = C / NH, C3 = 3 * C, b = blockIdx.z, h = blockIdx.y, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float *qt = sh, *dot_ = qt + TILE * (hs + 1), *kw = dot_ + TILE * (hs + 1), *vw = kw + WARPS * hs;
    float *lse_t = vw + WARPS * hs, *delta_t = lse_t + TILE;
    int s0 = blockIdx.x * WARPS, s = s0 + warp, s_last = min(s0 + WARPS, T) - 1;
    float scale = 1.0f / sqrtf((float)hs);    /* as the CPU */
    float *k = kw + warp * hs, *v = vw + warp * hs;
    for (int d = lane; d < hs; d += 32) {
        k[d] = s < T ? bf(qkv[((size_t)b * T + s) * C3 + C + h * hs + d]) : 0.0f;
        v[d] = s < T ? bf(qkv[((size_t)b * T + s) * C3 + 2 * C + h * hs + d]) : 0.0f;
    }
    size_t bh = ((size_t)b * NH + h) * T;
    float dk[DIMS] = {0.0f, 0.0f, 0.0f, 0.0f}, dv[DIMS] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int q0 = s0; q0 < T && doc_start(pos, b, T, q0) <= s_last; q0 += TILE) {
        __syncthreads();
        load_rows(qt, qkv, b, q0, T, C3, h * hs, hs);
        for (int i = threadIdx.x; i < TILE * hs; i += blockDim.x) {
            int r = i / hs, d = i % hs, t = q0 + r;
            dot_[r * (hs + 1) + d] = t < T ? bf(dout[((size_t)b * T + t) * C + h * hs + d]) : 0.0f;
        }
        for (int r = threadIdx.x; r < TILE; r += blockDim.x) {
            lse_t[r] = q0 + r < T ? lse[bh + q0 + r] : 0.0f;
            delta_t[r] = q0 + r < T ? delta[bh + q0 + r] : 0.0f;
        }
        __syncthreads();
        if (s >= T)
            continue;
        int t = q0 + lane;
        float p = 0.0f, ds = 0.0f;
        if (t < T && t >= s && doc_start(pos, b, T, t) <= s) {
            const float *qr = qt + lane * (hs + 1), *dor = dot_ + lane * (hs + 1);
            float dot = 0.0f, dp = 0.0f;
            for (int d = 0; d < hs; d++) {
                dot += qr[d] * k[d];
                dp += dor[d] * v[d];
            }
            p = expf(dot * scale - lse_t[lane]);
            ds = p * (dp - delta_t[lane]) * scale;
        }
        for (int j = 0; j < TILE; j++) {
            float pj = __shfl_sync(0xffffffffu, p, j), dsj = __shfl_sync(0xffffffffu, ds, j);
            if (pj == 0.0f && dsj == 0.0f)
                continue;
            const float *qr = qt + j * (hs + 1), *dor = dot_ + j * (hs + 1);
#pragma unroll
            for (int i = 0; i < DIMS; i++)
                if (lane + 32 * i < hs) {
                    dv[i] += pj * dor[lane + 32 * i];
                    dk[i] += dsj * qr[lane + 32 * i];
                }
        }
    }
    if (s >= T)
        return;
    bf16 *dkr = dqkv + ((size_t)b * T + s) * C3 + C + h * hs, *dvr = dkr + C;
#pragma unroll
    for (int i = 0; i < DIMS; i++)
        if (lane + 32 * i < hs) {
            dkr[lane + 32 * i] = to_bf(dk[i]);
            dvr[lane + 32 * i] = to_bf(dv[i]);
        }
}

int llm_cuda_attention_backward(llm_bf16 *dqkv, float *delta, const llm_bf16 *dout, const llm_bf16 *out,
                                const float *lse, const llm_bf16 *qkv, const int32_t *pos, int B, int T,
                                int C, int NH, llm_cu_stream s, llm_error *err)
{
    if (check_heads(C, NH, err) < 0)
        return -1;
    int hs = C / NH;
    attention_delta_kernel<<<cu_blocks((size_t)B * T * NH, 8), 256, 0, s>>>(delta, dout, out, B, T, C, NH);
    CU_LAUNCHED();
    if (llm_cuda_attention_mma_wanted(hs))
        return llm_cuda_attention_backward_mma(dqkv, delta, dout, lse, qkv, pos, B, T, C, NH, s, err);
    dim3 grid(cu_blocks((size_t)T, WARPS), NH, B);
    size_t shared = (2 * TILE * (hs + 1) + 2 * WARPS * hs) * sizeof(float);
    attention_dq_kernel<<<grid, WARPS * 32, shared, s>>>(dqkv, delta, dout, lse, qkv, pos, T, C, NH);
    CU_LAUNCHED();
    shared += 2 * TILE * sizeof(float);
    attention_dkv_kernel<<<grid, WARPS * 32, shared, s>>>(dqkv, delta, dout, lse, qkv, pos, T, C, NH);
    CU_LAUNCHED();
    return 0;
}

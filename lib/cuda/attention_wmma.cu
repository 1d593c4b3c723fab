/* The attention forward on the tensor cores (WMMA, bf16 in, fp32 accumulators): the same
 * function as attention_forward_kernel in attention.cu, which stays the reference
 * (tests/unit/test_cuda_ops.c runs both against the CPU) and runs where these cannot: head
 * sizes that are not a multiple of 16 up to 128, a device whose shared memory is too
 * small, or LLM_CUDA_ATTENTION=fp32. Its backward (dQ, dK, dV) is at the end of the file,
 * behind the same switch.
 *
 * A block takes 64 queries of one (row, head), a warp 16 of them; key tiles of 64 go
 * through shared memory: S = Q K^T on the tensor cores into shared fp32, the online softmax
 * row by row (fp32, the document mask applied there), P rounded to bf16, O += P V on the
 * tensor cores with O kept in shared fp32 (a WMMA accumulator's layout is opaque, so its
 * rows cannot be rescaled in registers). The log-sum-exp it leaves is the one the
 * backward of attention.cu reads. */
#include <math.h>
#include <mma.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "ops_cuda.h"

using namespace nvcuda;

enum { BQ = 64, BK = 64, QWARPS = BQ / 16, MAX_HS_WMMA = 128 };
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

/* Shared memory layout, in elements: rows padded so that WMMA's ldm stays a multiple of 8
 * (bf16) or 4 (fp32) and rows start on different banks. */
struct wmma_layout {
    int ldh, lds, ldp, ldo;    /* Q/K/V rows, S rows, P rows, O rows */
    size_t q, k, v, s, p, o, m, l, bytes;
};

__host__ __device__ static wmma_layout layout_for(int hs)
{
    wmma_layout L;
    L.ldh = hs + 8;
    L.lds = BK + 4;
    L.ldp = BK + 8;
    L.ldo = hs + 4;
    size_t at = 0;
    L.q = at, at += (size_t)BQ * L.ldh * sizeof(bf16);
    L.k = at, at += (size_t)BK * L.ldh * sizeof(bf16);
    L.v = at, at += (size_t)BK * L.ldh * sizeof(bf16);
    L.s = at, at += (size_t)BQ * L.lds * sizeof(float);
    L.p = at, at += (size_t)BQ * L.ldp * sizeof(bf16);
    L.o = at, at += (size_t)BQ * L.ldo * sizeof(float);
    L.m = at, at += BQ * sizeof(float);
    L.l = at, at += BQ * sizeof(float);
    L.bytes = at;
    return L;
}

/* rows first .. first + n of one head's q, k or v (offset within the 3C) into dst, 0 past
 * T, 8 elements a load: hs, ld, C3 and offset are multiples of 8 (hs of 16, the rows
 * of dst 8 elements longer), so every access is 16-byte aligned */
__device__ static void load_tile(bf16 *dst, int ld, const bf16 *qkv, int b, int first, int n, int T, int C3, int offset,
                                 int hs)
{
    int per_row = hs / 8;
    for (int i = threadIdx.x; i < n * per_row; i += blockDim.x) {
        int r = i / per_row, d = i % per_row * 8, t = first + r;
        store8(dst + r * ld + d, t < T ? load8(qkv + ((size_t)b * T + t) * C3 + offset + d) : make_uint4(0, 0, 0, 0));
    }
}

/* rows first .. first + n of one head's output (offset within the row of ld) from shared
 * fp32 (ldo apart), each row times inv[row] when inv is not NULL; 8 elements a store */
__device__ static void store_rows(bf16 *dst, int ld, const float *src, int ldo, const float *inv, int b, int first,
                                  int n, int T, int offset, int hs)
{
    int per_row = hs / 8;
    for (int i = threadIdx.x; i < n * per_row; i += blockDim.x) {
        int r = i / per_row, d = i % per_row * 8, t = first + r;
        if (t >= T)
            continue;
        float x[8], f = inv ? inv[r] : 1.0f;
        for (int j = 0; j < 8; j++)
            x[j] = src[r * ldo + d + j] * f;
        store8(dst + ((size_t)b * T + t) * ld + offset + d, pack8(x));
    }
}

/* A warp's products, for the forward and the backward. */

/* dst (16 x cols, fp32) = a (16 x hs) b^T, b the cols rows of a tile (hs wide) */
__device__ static void warp_abt(float *dst, int ldd, const bf16 *a, const bf16 *b, int ld, int hs, int cols)
{
    for (int n = 0; n < cols / 16; n++) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::fill_fragment(acc, 0.0f);
        for (int k = 0; k < hs / 16; k++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb;
            wmma::load_matrix_sync(fa, a + k * 16, ld);
            wmma::load_matrix_sync(fb, b + n * 16 * ld + k * 16, ld);
            wmma::mma_sync(acc, fa, fb, acc);
        }
        wmma::store_matrix_sync(dst + n * 16, acc, ldd, wmma::mem_row_major);
    }
}

/* acc (16 x hs, fp32 in shared memory) += a (16 x inner) b (inner x hs) */
__device__ static void warp_acc_ab(float *acc_s, int ldo, const bf16 *a, int lda, const bf16 *b, int ldb, int hs,
                                   int inner)
{
    for (int j = 0; j < hs / 16; j++) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::load_matrix_sync(acc, acc_s + j * 16, ldo, wmma::mem_row_major);
        for (int k = 0; k < inner / 16; k++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
            wmma::load_matrix_sync(fa, a + k * 16, lda);
            wmma::load_matrix_sync(fb, b + k * 16 * ldb + j * 16, ldb);
            wmma::mma_sync(acc, fa, fb, acc);
        }
        wmma::store_matrix_sync(acc_s + j * 16, acc, ldo, wmma::mem_row_major);
    }
}

__global__ static void attention_forward_wmma_kernel(bf16 *out, float *lse, const bf16 *qkv, const int32_t *pos,
                                                     int T, int C, int NH)
{
    extern __shared__ __align__(128) unsigned char smem[];
    int hs = C / NH, C3 = 3 * C, b = blockIdx.z, h = blockIdx.y, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    wmma_layout L = layout_for(hs);
    bf16 *qs = (bf16 *)(smem + L.q), *ks = (bf16 *)(smem + L.k), *vs = (bf16 *)(smem + L.v);
    float *S = (float *)(smem + L.s), *O = (float *)(smem + L.o), *ms = (float *)(smem + L.m), *ls = (float *)(smem + L.l);
    bf16 *P = (bf16 *)(smem + L.p);
    int q0 = blockIdx.x * BQ, q_last = min(q0 + BQ, T) - 1;
    float scale2 = 1.0f / sqrtf((float)hs) * LOG2E;    /* scores to base 2 */
    const int32_t *prow = pos + (size_t)b * T;

    load_tile(qs, L.ldh, qkv, b, q0, BQ, T, C3, h * hs, hs);
    for (int i = threadIdx.x; i < BQ * L.ldo; i += blockDim.x)
        O[i] = 0.0f;
    for (int i = threadIdx.x; i < BQ; i += blockDim.x) {
        ms[i] = -INFINITY;
        ls[i] = 0.0f;
    }
    for (int k0 = q0 - prow[q0]; k0 <= q_last; k0 += BK) {
        __syncthreads();    /* Q, O, m, l ready; the previous tile consumed */
        load_tile(ks, L.ldh, qkv, b, k0, BK, T, C3, C + h * hs, hs);
        load_tile(vs, L.ldh, qkv, b, k0, BK, T, C3, 2 * C + h * hs, hs);
        __syncthreads();

        /* S (16 rows of this warp, 64 keys) = Q K^T */
        warp_abt(S + warp * 16 * L.lds, L.lds, qs + warp * 16 * L.ldh, ks, L.ldh, hs, BK);
        __syncwarp();

        /* the online softmax of the warp's 16 rows, two lanes a row, 32 keys each: one
         * shuffle joins a row's halves, where a lane a key took ten. In base 2 (scores
         * times log2 e, then exp2: one instruction, as FlashAttention does). Each lane
         * starts its walk at its own key so that the 32 lanes read 32 different banks. */
        {
            int r = lane / 2, half = lane % 2, row = warp * 16 + r, t = q0 + row;
            const float *srow = S + row * L.lds + half * 32;
            bf16 *prow_p = P + row * L.ldp + half * 32;
            int c0 = k0 + half * 32, j_lo = 0, j_hi = -1, rot = half + 2 * (r / 8);
            if (t < T) {    /* the keys c0 + j this row sees: j_lo <= j <= j_hi */
                j_lo = max(t - prow[t] - c0, 0);
                j_hi = min(t - c0, 31);
            }
            float mx = -INFINITY;
            for (int i = 0; i < 32; i++) {
                int j = (i + rot) & 31;
                if (j >= j_lo && j <= j_hi)
                    mx = fmaxf(mx, srow[j]);
            }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1)) * scale2;
            float m_old = ms[row], m_new = fmaxf(m_old, mx);
            float corr = m_new == -INFINITY ? 1.0f : exp2f(m_old - m_new), sum = 0.0f;
            for (int i = 0; i < 32; i++) {
                int j = (i + rot) & 31;
                float p = j >= j_lo && j <= j_hi ? exp2f(srow[j] * scale2 - m_new) : 0.0f;
                sum += p;
                prow_p[j] = __float2bfloat16_rn(p);
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);    /* both lanes have read ms[row] */
            if (half == 0) {
                ms[row] = m_new;
                ls[row] = ls[row] * corr + sum;
            }
            /* O's rows times their corrections, a row across the lanes at a time */
            for (int k = 0; k < 16; k++) {
                float c = __shfl_sync(0xffffffffu, corr, 2 * k);
                float *orow = O + (warp * 16 + k) * L.ldo;
                for (int d = lane; d < hs; d += 32)
                    orow[d] *= c;
            }
        }
        __syncwarp();

        /* O (16 rows, hs) += P V */
        warp_acc_ab(O + warp * 16 * L.ldo, L.ldo, P + warp * 16 * L.ldp, L.ldp, vs, L.ldh, hs, BK);
    }
    __syncthreads();
    for (int row = threadIdx.x; row < BQ; row += blockDim.x) {
        if (q0 + row < T)
            lse[((size_t)b * NH + h) * T + q0 + row] = (ms[row] + log2f(ls[row])) * LN2;    /* base e again */
        ls[row] = 1.0f / ls[row];    /* the rows are scaled by a product, not a division */
    }
    __syncthreads();
    store_rows(out, C, O, L.ldo, ls, b, q0, BQ, T, h * hs, hs);
}

/* -1: not decided yet (LLM_CUDA_ATTENTION is read at the next call). */
static int use_wmma = -1;

void llm_cuda_attention_use_wmma(int on) { use_wmma = on < 0 ? -1 : on ? 1 : 0; }

static size_t wmma_shared_bytes(int hs);

/* Whether the kernels' shared memory for head size hs fits what the device lets a block
 * have (227 KB on sm_90, 163 KB on sm_80, 99 KB on sm_86 and sm_89). */
static int wmma_fits(int hs)
{
    static int optin = -1;
    if (optin < 0) {
        int dev = 0, v = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
            v = 0;
        optin = v;
    }
    return wmma_shared_bytes(hs) <= (size_t)optin;
}

int llm_cuda_attention_wmma_wanted(int hs)
{
    if (use_wmma < 0) {
        const char *e = getenv("LLM_CUDA_ATTENTION");
        use_wmma = !(e && strcmp(e, "fp32") == 0);
    }
    return use_wmma == 1 && hs % 16 == 0 && hs <= MAX_HS_WMMA && wmma_fits(hs);
}

/* The head sizes the kernels take, and the 16-byte alignment of their loads and stores. */
static int wmma_args_ok(int C, int NH, const void *a, const void *b, const void *c, llm_error *err)
{
    int hs = C / NH;
    if (C % NH || hs % 16 || hs > MAX_HS_WMMA)
        return llm_error_set(err, "tensor-core attention: head size %d is not a multiple of 16 up to %d", hs,
                             MAX_HS_WMMA);
    if (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) % 16)
        return llm_error_set(err, "tensor-core attention: its bf16 tensors must start on 16-byte boundaries");
    return 0;
}

int llm_cuda_attention_forward_wmma(llm_bf16 *out, float *lse, const llm_bf16 *qkv, const int32_t *pos, int B, int T,
                                    int C, int NH, llm_cu_stream s, llm_error *err)
{
    if (wmma_args_ok(C, NH, out, qkv, qkv, err) < 0)
        return -1;
    int hs = C / NH;
    size_t shared = layout_for(hs).bytes;
    CU_CHECK(cudaFuncSetAttribute(attention_forward_wmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)shared));
    dim3 grid(cu_blocks((size_t)T, BQ), NH, B);
    attention_forward_wmma_kernel<<<grid, QWARPS * 32, shared, s>>>(out, lse, qkv, pos, T, C, NH);
    CU_LAUNCHED();
    return 0;
}

/* ---- backward ---------------------------------------------------------------------------
 * The same split as attention.cu, so no gradient needs atomics: one kernel owns 64 queries
 * and streams the keys they see for dQ, the other owns 64 keys and streams the queries that
 * see them for dK and dV. Per tile of 32 streamed rows a warp recomputes its 16 rows of
 * scores and of dO V^T on the tensor cores, turns them into P and dS = P (dP - delta) with
 * the forward's log-sum-exp (fp32, one lane a column, the mask applied there), rounds them
 * to bf16 and multiplies them back on the tensor cores. The gradients accumulate in shared
 * fp32: with the head size known only at run time, an array of accumulator fragments would
 * not stay in registers. */

enum { BR = 64, BN = 32, RWARPS = BR / 16 };

struct wmma_bwd_layout {
    int ldh, lds, ldp, ldo;    /* bf16 tile rows, fp32 score rows, bf16 P/dS rows, fp32 gradient rows */
    size_t own, stream, s, dp, p, ds, acc, lse, delta, bytes;
};

/* own: the block's two BR x hs operands (Q and dO, or K and V); stream: the two BN x hs
 * operands of the current tile (the dQ kernel leaves p unused); accs: 1 (dQ) or 2 (dK, dV) gradients. */
__host__ __device__ static wmma_bwd_layout bwd_layout_for(int hs, int accs)
{
    wmma_bwd_layout L;
    L.ldh = hs + 8;
    L.lds = BN + 4;
    L.ldp = BN + 8;
    L.ldo = hs + 4;
    size_t at = 0;
    L.own = at, at += (size_t)2 * BR * L.ldh * sizeof(bf16);
    L.stream = at, at += (size_t)2 * BN * L.ldh * sizeof(bf16);
    L.s = at, at += (size_t)BR * L.lds * sizeof(float);
    L.dp = at, at += (size_t)BR * L.lds * sizeof(float);
    L.p = at, at += (size_t)BR * L.ldp * sizeof(bf16);
    L.ds = at, at += (size_t)BR * L.ldp * sizeof(bf16);
    L.acc = at, at += (size_t)accs * BR * L.ldo * sizeof(float);
    L.lse = at, at += BR * sizeof(float);
    L.delta = at, at += BR * sizeof(float);
    L.bytes = at;
    return L;
}

/* The most shared memory a block of the forward or the backward kernels takes. */
static size_t wmma_shared_bytes(int hs)
{
    size_t f = layout_for(hs).bytes, b = bwd_layout_for(hs, 2).bytes;
    return f > b ? f : b;
}

/* lse (in base 2) and delta of rows first .. first + n (0 past T) */
__device__ static void load_stats(float *lse_s, float *delta_s, const float *lse, const float *delta, size_t bh,
                                  int first, int n, int T)
{
    for (int r = threadIdx.x; r < n; r += blockDim.x) {
        lse_s[r] = first + r < T ? lse[bh + first + r] * LOG2E : 0.0f;    /* base 2, as the scores */
        delta_s[r] = first + r < T ? delta[bh + first + r] : 0.0f;
    }
}

__global__ static void attention_dq_wmma_kernel(bf16 *dqkv, const float *delta, const bf16 *dout, const float *lse,
                                                const bf16 *qkv, const int32_t *pos, int T, int C, int NH)
{
    extern __shared__ __align__(128) unsigned char smem[];
    int hs = C / NH, C3 = 3 * C, b = blockIdx.z, h = blockIdx.y, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    wmma_bwd_layout L = bwd_layout_for(hs, 1);
    bf16 *qs = (bf16 *)(smem + L.own), *dos = qs + BR * L.ldh, *ks = (bf16 *)(smem + L.stream), *vs = ks + BN * L.ldh;
    float *S = (float *)(smem + L.s), *DP = (float *)(smem + L.dp), *dQ = (float *)(smem + L.acc);
    float *lse_s = (float *)(smem + L.lse), *delta_s = (float *)(smem + L.delta);
    bf16 *dS = (bf16 *)(smem + L.ds);
    int q0 = blockIdx.x * BR, q_last = min(q0 + BR, T) - 1;
    float scale = 1.0f / sqrtf((float)hs), scale2 = scale * LOG2E;
    const int32_t *prow = pos + (size_t)b * T;

    load_tile(qs, L.ldh, qkv, b, q0, BR, T, C3, h * hs, hs);
    load_tile(dos, L.ldh, dout, b, q0, BR, T, C, h * hs, hs);
    load_stats(lse_s, delta_s, lse, delta, ((size_t)b * NH + h) * T, q0, BR, T);
    for (int i = threadIdx.x; i < BR * L.ldo; i += blockDim.x)
        dQ[i] = 0.0f;
    /* start only grows along a row: no query of the block sees a key before q0's start */
    for (int k0 = q0 - prow[q0]; k0 <= q_last; k0 += BN) {
        __syncthreads();    /* the block's rows ready; the previous tile consumed */
        load_tile(ks, L.ldh, qkv, b, k0, BN, T, C3, C + h * hs, hs);
        load_tile(vs, L.ldh, qkv, b, k0, BN, T, C3, 2 * C + h * hs, hs);
        __syncthreads();
        int r0 = warp * 16;
        warp_abt(S + r0 * L.lds, L.lds, qs + r0 * L.ldh, ks, L.ldh, hs, BN);
        warp_abt(DP + r0 * L.lds, L.lds, dos + r0 * L.ldh, vs, L.ldh, hs, BN);
        __syncwarp();
        for (int r = r0; r < r0 + 16; r++) {
            int t = q0 + r, s = k0 + lane;
            float ds = 0.0f;
            if (t < T && s >= t - prow[t] && s <= t) {
                float p = exp2f(S[r * L.lds + lane] * scale2 - lse_s[r]);
                ds = p * (DP[r * L.lds + lane] - delta_s[r]) * scale;
            }
            dS[r * L.ldp + lane] = __float2bfloat16_rn(ds);
        }
        __syncwarp();
        warp_acc_ab(dQ + r0 * L.ldo, L.ldo, dS + r0 * L.ldp, L.ldp, ks, L.ldh, hs, BN);
    }
    __syncthreads();
    store_rows(dqkv, C3, dQ, L.ldo, NULL, b, q0, BR, T, h * hs, hs);
}

__global__ static void attention_dkv_wmma_kernel(bf16 *dqkv, const float *delta, const bf16 *dout, const float *lse,
                                                 const bf16 *qkv, const int32_t *pos, int T, int C, int NH)
{
    extern __shared__ __align__(128) unsigned char smem[];
    int hs = C / NH, C3 = 3 * C, b = blockIdx.z, h = blockIdx.y, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    wmma_bwd_layout L = bwd_layout_for(hs, 2);
    bf16 *ks = (bf16 *)(smem + L.own), *vs = ks + BR * L.ldh, *qs = (bf16 *)(smem + L.stream), *dos = qs + BN * L.ldh;
    float *S = (float *)(smem + L.s), *DP = (float *)(smem + L.dp), *dK = (float *)(smem + L.acc), *dV = dK + BR * L.ldo;
    float *lse_s = (float *)(smem + L.lse), *delta_s = (float *)(smem + L.delta);
    bf16 *P = (bf16 *)(smem + L.p), *dS = (bf16 *)(smem + L.ds);
    int s0 = blockIdx.x * BR, s_last = min(s0 + BR, T) - 1;
    float scale = 1.0f / sqrtf((float)hs), scale2 = scale * LOG2E;
    const int32_t *prow = pos + (size_t)b * T;
    size_t bh = ((size_t)b * NH + h) * T;

    load_tile(ks, L.ldh, qkv, b, s0, BR, T, C3, C + h * hs, hs);
    load_tile(vs, L.ldh, qkv, b, s0, BR, T, C3, 2 * C + h * hs, hs);
    for (int i = threadIdx.x; i < 2 * BR * L.ldo; i += blockDim.x)
        dK[i] = 0.0f;
    /* queries before s0 see none of the block's keys; once a query's document starts after
     * the block's last key, so do all later ones' */
    for (int q0 = s0; q0 < T && q0 - prow[q0] <= s_last; q0 += BN) {
        __syncthreads();
        load_tile(qs, L.ldh, qkv, b, q0, BN, T, C3, h * hs, hs);
        load_tile(dos, L.ldh, dout, b, q0, BN, T, C, h * hs, hs);
        load_stats(lse_s, delta_s, lse, delta, bh, q0, BN, T);
        __syncthreads();
        int r0 = warp * 16;
        /* S^T and dP^T: the warp's 16 keys against the tile's queries */
        warp_abt(S + r0 * L.lds, L.lds, ks + r0 * L.ldh, qs, L.ldh, hs, BN);
        warp_abt(DP + r0 * L.lds, L.lds, vs + r0 * L.ldh, dos, L.ldh, hs, BN);
        __syncwarp();
        int t = q0 + lane, lo = t < T ? t - prow[t] : T;
        for (int r = r0; r < r0 + 16; r++) {
            int s = s0 + r;
            float p = 0.0f, ds = 0.0f;
            if (t < T && s <= t && s >= lo) {
                p = exp2f(S[r * L.lds + lane] * scale2 - lse_s[lane]);
                ds = p * (DP[r * L.lds + lane] - delta_s[lane]) * scale;
            }
            P[r * L.ldp + lane] = __float2bfloat16_rn(p);
            dS[r * L.ldp + lane] = __float2bfloat16_rn(ds);
        }
        __syncwarp();
        warp_acc_ab(dV + r0 * L.ldo, L.ldo, P + r0 * L.ldp, L.ldp, dos, L.ldh, hs, BN);
        warp_acc_ab(dK + r0 * L.ldo, L.ldo, dS + r0 * L.ldp, L.ldp, qs, L.ldh, hs, BN);
    }
    __syncthreads();
    store_rows(dqkv, C3, dK, L.ldo, NULL, b, s0, BR, T, C + h * hs, hs);
    store_rows(dqkv, C3, dV, L.ldo, NULL, b, s0, BR, T, 2 * C + h * hs, hs);
}

/* One launch of a backward kernel with the shared memory its layout asks for (above the
 * 48 KB a block gets without asking from head size 32 on). */
static int launch_bwd(void (*kernel)(bf16 *, const float *, const bf16 *, const float *, const bf16 *,
                                     const int32_t *, int, int, int),
                      int accs, bf16 *dqkv, const float *delta, const bf16 *dout, const float *lse, const bf16 *qkv,
                      const int32_t *pos, int B, int T, int C, int NH, cudaStream_t s, llm_error *err)
{
    size_t shared = bwd_layout_for(C / NH, accs).bytes;
    CU_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared));
    dim3 grid(cu_blocks((size_t)T, BR), NH, B);
    kernel<<<grid, RWARPS * 32, shared, s>>>(dqkv, delta, dout, lse, qkv, pos, T, C, NH);
    CU_LAUNCHED();
    return 0;
}

int llm_cuda_attention_backward_wmma(llm_bf16 *dqkv, const float *delta, const llm_bf16 *dout, const float *lse,
                                     const llm_bf16 *qkv, const int32_t *pos, int B, int T, int C, int NH,
                                     llm_cu_stream s, llm_error *err)
{
    if (wmma_args_ok(C, NH, dqkv, dout, qkv, err) < 0)
        return -1;
    if (launch_bwd(attention_dq_wmma_kernel, 1, dqkv, delta, dout, lse, qkv, pos, B, T, C, NH, s, err) < 0)
        return -1;
    return launch_bwd(attention_dkv_wmma_kernel, 2, dqkv, delta, dout, lse, qkv, pos, B, T, C, NH, s, err);
}

/* Attention on the tensor cores, forward and backward, as FlashAttention-2 does it: mma.sync
 * m16n8k16 (bf16 operands, fp32 accumulators) with every accumulator in registers, whose
 * layout the PTX ISA fixes (cuda_common.cuh, mma_m16n8k16). That is what lets a warp rescale
 * its output rows in the online softmax and hand P (or dS) from one product's accumulators
 * to the next product as an operand, with no trip through shared memory. The CUDA-core
 * kernels of attention.cu stay the reference (tests/unit/test_cuda_ops.c runs both against
 * the CPU) and run where these cannot: head sizes that are not a multiple of 16 up to 128,
 * or LLM_CUDA_ATTENTION=fp32.
 *
 * A block is 4 warps, each owning 32 rows (queries, or keys for dK and dV) up to head size
 * 64 and 16 above. The tiles it streams come into shared memory by cp.async, two tiles in
 * turn, so that the next tile's copies run while the warps work on this one. Tiles sit in
 * shared memory as they are in the tensor; ldmatrix reads the operands, transposing where a
 * product runs across a tile's rows (V in P V, K in dS K, Q and dO in dK and dV). Head
 * sizes are template parameters so that the accumulator arrays are registers. The backward
 * splits as attention.cu does, so that no gradient needs atomics and the sums do not depend
 * on scheduling: one kernel owns queries and streams keys for dQ, the other owns keys and
 * streams queries for dK and dV. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>

#include "cuda_common.cuh"
#include "ops_cuda.h"

enum { WARPS = 4, FWD_TILE = 64, BWD_TILE = 32, MAX_HS_MMA = 128 };
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

/* Rows are padded by 8 elements (16 bytes): the 8 rows of 16 bytes an ldmatrix phase reads
 * then fall in 32 different banks, and every row starts on a 16-byte boundary. */
__host__ __device__ constexpr int padded(int n) { return n + 8; }

/* Up to head size 64 a warp owns 32 rows, two m16 tiles that share every fragment of the
 * streamed tile they read: half the shared-memory reads a product, which bound a warp of
 * 16 rows. Above 64 the accumulators of 32 rows would not fit the registers. */
__host__ __device__ constexpr int mtiles(int hs) { return hs <= 64 ? 2 : 1; }
__host__ __device__ constexpr int block_rows(int hs) { return WARPS * 16 * mtiles(hs); }

/* The tiles streamed are 64 keys in the forward, and 32 rows (keys for dQ, queries for dK
 * and dV) in the backward, whose gradients take most of a warp's registers. Shared memory
 * of each kernel, in bytes: the rows the block owns, then two of each streamed tile. */
__host__ __device__ constexpr size_t tile_bytes(int rows, int hs) { return (size_t)rows * padded(hs) * sizeof(bf16); }
__host__ __device__ constexpr size_t forward_bytes(int hs)    /* Q; K, V twice */
{
    return tile_bytes(block_rows(hs), hs) + 4 * tile_bytes(FWD_TILE, hs);
}
__host__ __device__ constexpr size_t dq_bytes(int hs)    /* Q, dO; K, V twice */
{
    return 2 * tile_bytes(block_rows(hs), hs) + 4 * tile_bytes(BWD_TILE, hs);
}
__host__ __device__ constexpr size_t dkv_bytes(int hs)    /* K, V; Q, dO and lse, delta, pos twice */
{
    return dq_bytes(hs) + 2 * 3 * (size_t)BWD_TILE * sizeof(float);
}

/* ---- tiles and fragments ---------------------------------------------------------------- */

/* Two bf16 of shared memory as one 32-bit word (p 4-byte aligned). */
__device__ __forceinline__ void store2(bf16 *p, uint32_t v) { *(uint32_t *)p = v; }
/* Two floats rounded to bf16 in one register, lo in the lower half. */
__device__ __forceinline__ uint32_t pack2(float lo, float hi)
{
    union {
        bf16 h[2];
        uint32_t u;
    } v;
    v.h[0] = to_bf(lo);
    v.h[1] = to_bf(hi);
    return v.u;
}

/* Starts the copies of rows first .. first + n - 1 of one head's slice (at offset, hs wide)
 * of a (B, T, ld) tensor into dst (rows lds apart), 16 bytes a cp.async; rows past T
 * become zeros (their copies name row 0, which is there to read). */
__device__ static void copy_rows_async(bf16 *dst, int lds, const bf16 *src, int ld, int b, int first, int n, int T,
                                       int offset, int hs)
{
    int per_row = hs / 8;
    for (int i = threadIdx.x; i < n * per_row; i += blockDim.x) {
        int r = i / per_row, d = i % per_row * 8, t = first + r;
        copy_async16(dst + r * lds + d, src + ((size_t)b * T + (t < T ? t : 0)) * ld + offset + d, t < T);
    }
}

/* The same for the keys and values of head h: K at dst, V n rows after it. */
__device__ static void copy_kv_async(bf16 *dst, int lds, const bf16 *qkv, int C, int b, int first, int n, int T, int h,
                                     int hs)
{
    copy_rows_async(dst, lds, qkv, 3 * C, b, first, n, T, C + h * hs, hs);
    copy_rows_async(dst + n * lds, lds, qkv, 3 * C, b, first, n, T, 2 * C + h * hs, hs);
}

/* The a operand (16 x 16) at p, rows ld apart. */
__device__ __forceinline__ void load_a(uint32_t a[4], const bf16 *p, int ld)
{
    int lane = threadIdx.x % 32;
    ldmatrix_x4(a, p + (lane % 16) * ld + lane / 16 * 8);
}

/* The b operands (16 x 8) of two neighbouring column tiles, b[0..1] and b[2..3], whose
 * column n is row n of p (16 elements of it): K for Q K^T, V for dO V^T, Q and dO for
 * K Q^T and V dO^T. */
__device__ __forceinline__ void load_b_pair(uint32_t b[4], const bf16 *p, int ld)
{
    int lane = threadIdx.x % 32;
    ldmatrix_x4(b, p + (lane / 16 * 8 + lane % 8) * ld + lane / 8 % 2 * 8);
}

/* The same read across p's rows: the b operands of two column tiles whose column n is
 * column n of p's 16 rows. V for P V, K for dS K, dO and Q for P^T dO and dS^T Q. */
__device__ __forceinline__ void load_b_pair_trans(uint32_t b[4], const bf16 *p, int ld)
{
    int lane = threadIdx.x % 32;
    ldmatrix_x4_trans(b, p + (lane % 16) * ld + lane / 16 * 8);
}

/* Two accumulators side by side (columns 0-7 and 8-15 of a 16 x 16) are, rounded to bf16,
 * exactly the a operand of a product over those 16 columns: P and dS go from one product
 * into the next without leaving the registers. */
__device__ __forceinline__ void acc_to_a(uint32_t a[4], const float lo[4], const float hi[4])
{
    a[0] = pack2(lo[0], lo[1]);
    a[1] = pack2(lo[2], lo[3]);
    a[2] = pack2(hi[0], hi[1]);
    a[3] = pack2(hi[2], hi[3]);
}

/* acc[mt][2 j] and acc[mt][2 j + 1] += a[mt] b for each of a warp's MT m16 tiles: b, the
 * fragments of two neighbouring column tiles, read once for all of them. */
template <int MT, int NC>
__device__ __forceinline__ void mma_tiles(float (*acc)[NC][4], int j, const uint32_t (*a)[4], const uint32_t b[4])
{
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        mma_m16n8k16(acc[mt][2 * j], a[mt], b);
        mma_m16n8k16(acc[mt][2 * j + 1], a[mt], b + 2);
    }
}

/* acc (MT x 16 x HS) += a (MT x 16 x N) b (N x HS): a from N / 8 accumulators an m16 tile
 * (P or dS), b the tile's N rows as they are in shared memory (ld apart), each of its
 * fragments read once for the MT row tiles. */
template <int HS, int N, int MT>
__device__ __forceinline__ void warp_acc_ab(float (*acc)[HS / 8][4], const float (*a)[N / 8][4], const bf16 *b,
                                            int ld)
{
#pragma unroll
    for (int k = 0; k < N / 16; k++) {
        uint32_t fa[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
            acc_to_a(fa[mt], a[mt][2 * k], a[mt][2 * k + 1]);
#pragma unroll
        for (int n = 0; n < HS / 16; n++) {
            uint32_t fb[4];
            load_b_pair_trans(fb, b + k * 16 * ld + n * 16, ld);
            mma_tiles<MT>(acc, n, fa, fb);
        }
    }
}

/* x = a1 b1^T and y = a2 b2^T (MT x 16 x N each) over the head: a1 and a2 the warp's 16 MT
 * rows, b1 and b2 the tile's N rows, all ld apart. The scores and dP both backward kernels
 * recompute. */
template <int HS, int N, int MT>
__device__ __forceinline__ void warp_abt_pair(float (*x)[N / 8][4], float (*y)[N / 8][4], const bf16 *a1,
                                              const bf16 *a2, const bf16 *b1, const bf16 *b2, int ld)
{
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int j = 0; j < N / 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                x[mt][j][e] = y[mt][j][e] = 0.0f;
#pragma unroll
    for (int k = 0; k < HS / 16; k++) {
        uint32_t f1[MT][4], f2[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            load_a(f1[mt], a1 + mt * 16 * ld + k * 16, ld);
            load_a(f2[mt], a2 + mt * 16 * ld + k * 16, ld);
        }
#pragma unroll
        for (int j = 0; j < N / 16; j++) {
            uint32_t g1[4], g2[4];
            load_b_pair(g1, b1 + j * 16 * ld + k * 16, ld);
            load_b_pair(g2, b2 + j * 16 * ld + k * 16, ld);
            mma_tiles<MT>(x, j, f1, g1);
            mma_tiles<MT>(y, j, f2, g2);
        }
    }
}

/* A warp's 16 MT x HS accumulators rounded to bf16 into the warp's own 16 MT rows of
 * stage, then out to rows first .. first + 16 MT - 1 of dst (only those before T) 8
 * elements a store. */
template <int HS, int MT>
__device__ __forceinline__ void warp_store(bf16 *dst, int ld, int b, int first, int T, int offset,
                                           const float (*acc)[HS / 8][4], bf16 *stage, int lds)
{
    int lane = threadIdx.x % 32, g = lane / 4, c = lane % 4 * 2;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int n = 0; n < HS / 8; n++) {
            store2(stage + (mt * 16 + g) * lds + n * 8 + c, pack2(acc[mt][n][0], acc[mt][n][1]));
            store2(stage + (mt * 16 + g + 8) * lds + n * 8 + c, pack2(acc[mt][n][2], acc[mt][n][3]));
        }
    __syncwarp();
    for (int i = lane; i < 16 * MT * (HS / 8); i += 32) {
        int r = i / (HS / 8), d = i % (HS / 8) * 8;
        if (first + r < T)
            store8(dst + ((size_t)b * T + first + r) * ld + offset + d, load8(stage + r * lds + d));
    }
}

/* The rows of this lane's accumulators in a warp whose rows start at w0: rows g and g + 8
 * (r = 0, 1) of each m16 tile mt. */
__device__ __forceinline__ int lane_row(int w0, int mt, int r) { return w0 + mt * 16 + r * 8 + threadIdx.x % 32 / 4; }

/* Where the rows of a sequence start their documents: key s is seen by query t when
 * start(t) <= s <= t, start(t) = t - pos[t], which only grows along a row. INT_MAX past
 * T, so that nothing is seen there. */
__device__ __forceinline__ int doc_start(const int32_t *prow, int t, int T) { return t < T ? t - prow[t] : INT_MAX; }

/* Which block of queries this one owns. Blocks start in the order of their index, x
 * first, and a block's work under the causal mask grows with its first query: taken last
 * to first, the heaviest start first and the lightest fill the grid's tail. (The key
 * blocks of dK and dV are heaviest first as they are.) */
__device__ __forceinline__ int query_block(void) { return gridDim.x - 1 - blockIdx.x; }

/* The streamed tiles take turns in two buffers. A round begins by starting the copies of
 * the next tile, if there is one, into the buffer the last round used, then waits for all
 * groups but that newest one (empty where there is no next tile, so that the wait is
 * always the same): the current tile is in, the next in flight while the warps compute. */
template <typename F> __device__ __forceinline__ void begin_round(bool more, F fetch_next)
{
    __syncthreads();    /* the last round's buffer consumed by every warp */
    if (more)
        fetch_next();
    copy_async_commit();
    copy_async_wait<1>();
    __syncthreads();    /* every thread's copies of the current tile in */
}

/* ---- forward ------------------------------------------------------------------------------ */

/* One m16 tile's step of the online softmax over a 64-key tile from key k0: s (its scores,
 * unscaled) becomes P, the running maxima m (unscaled too) and this lane's shares of the row
 * sums l move on, and the output rows o are rescaled. A row's scores are spread over the 4
 * lanes of its group; row and lo are this lane's two rows (g and g + 8) and their documents'
 * first keys. MASKED where some row of the m16 tile does not see some key of the tile (the
 * diagonal, a document's start); the other tiles, most of a long sequence's, skip those
 * comparisons. The scale and the maximum meet the score in one fma in the exponent, as in
 * FlashAttention-2: an element then costs a max, an fma, an ex2, an add and half a
 * conversion to bf16, instructions that share the issue slots with the tensor cores'. */
template <int HS, bool MASKED>
__device__ __forceinline__ void online_softmax(float (*s)[4], float m[2], float l[2], float (*o)[4], const int row[2],
                                               const int lo[2], int k0, float scale2)
{
    int lane = threadIdx.x % 32;
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int j = 0; j < FWD_TILE / 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int r = e / 2;
            if (MASKED) {
                int key = k0 + j * 8 + lane % 4 * 2 + e % 2;
                if (key < lo[r] || key > row[r])
                    s[j][e] = -INFINITY;
            }
            mx[r] = fmaxf(mx[r], s[j][e]);
        }
    float base[2]; /* the new maxima, scaled; 0 while a row has seen no key, whose exponents then stay -inf */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        base[r] = mx[r] == -INFINITY ? 0.0f : mx[r] * scale2;
        float corr = exp2_fast(fmaf(m[r], scale2, -base[r]));
        m[r] = mx[r];
        l[r] *= corr;    /* a lane's share of the row sum; the shares join at the end */
#pragma unroll
        for (int n = 0; n < HS / 8; n++)
            o[n][2 * r] *= corr, o[n][2 * r + 1] *= corr;
    }
#pragma unroll
    for (int j = 0; j < FWD_TILE / 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float p = exp2_fast(fmaf(s[j][e], scale2, -base[e / 2]));
            l[e / 2] += p;
            s[j][e] = p;
        }
}

/* The first key that every row of the m16 tile from row f sees: its last row's document
 * start (rows past T aside, whose results nobody stores). The keys from there to f are seen
 * by all 16 rows, so a tile of them needs no mask. */
__device__ __forceinline__ int all_rows_see_from(const int32_t *prow, int f, int T)
{
    return doc_start(prow, min(f + 15, T - 1), T);
}

template <int HS>
__global__ static void __launch_bounds__(WARPS * 32)
    attention_forward_mma_kernel(bf16 *out, float *lse, const bf16 *qkv, const int32_t *pos, int T, int C, int NH)
{
    constexpr int MT = mtiles(HS), QROWS = block_rows(HS), BN = FWD_TILE, LDH = padded(HS), TILE = BN * LDH;
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *qs = (bf16 *)smem, *kv = qs + QROWS * LDH;    /* buffer i: K at kv + 2 i TILE, V after it */
    int C3 = 3 * C, b = blockIdx.z, h = blockIdx.y, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    int q0 = query_block() * QROWS, q_last = min(q0 + QROWS, T) - 1, w0 = q0 + warp * 16 * MT;
    bf16 *wq = qs + warp * 16 * MT * LDH;    /* the warp's rows of qs */
    const int32_t *prow = pos + (size_t)b * T;
    int k_first = q0 - prow[q0];
    const float scale2 = 1.0f / sqrtf((float)HS) * LOG2E; /* scores to base 2: ex2 is one instruction */
    auto fetch = [&](int k0, int buf) { copy_kv_async(kv + 2 * buf * TILE, LDH, qkv, C, b, k0, BN, T, h, HS); };

    copy_rows_async(qs, LDH, qkv, C3, b, q0, QROWS, T, h * HS, HS);
    copy_async_commit();
    fetch(k_first, 0);
    copy_async_commit();
    copy_async_wait<1>();    /* the queries; the first keys may still be on their way */
    __syncthreads();
    uint32_t qa[HS / 16][MT][4];    /* the warp's queries stay in registers, by head step */
    /* this lane's two rows of each m16 tile, g and g + 8, and their documents' first keys */
    int row[MT][2], lo[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int k = 0; k < HS / 16; k++)
            load_a(qa[k][mt], wq + mt * 16 * LDH + k * 16, LDH);
#pragma unroll
        for (int r = 0; r < 2; r++) {
            row[mt][r] = lane_row(w0, mt, r);
            lo[mt][r] = doc_start(prow, row[mt][r], T);
        }
    }
    /* the keys the warp's rows see lie between these; each m16 tile's rows all see keys
     * from all_lo[mt] to its first row */
    int w_lo = doc_start(prow, w0, T), w_hi = min(w0 + 16 * MT - 1, T - 1), all_lo[MT];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
        all_lo[mt] = all_rows_see_from(prow, w0 + mt * 16, T);
    float o[MT][HS / 8][4] = {}, m[MT][2], l[MT][2] = {};
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
        m[mt][0] = m[mt][1] = -INFINITY;

    for (int k0 = k_first, buf = 0; k0 <= q_last; k0 += BN, buf ^= 1) {
        begin_round(k0 + BN <= q_last, [&] { fetch(k0 + BN, buf ^ 1); });
        if (k0 > w_hi || k0 + BN - 1 < w_lo)
            continue;    /* none of the warp's rows sees a key of this tile */
        const bf16 *ks = kv + 2 * buf * TILE, *vs = ks + TILE;

        float s[MT][BN / 8][4] = {};    /* S = Q K^T, 16 x 64 an m16 tile */
#pragma unroll
        for (int k = 0; k < HS / 16; k++)
#pragma unroll
            for (int j = 0; j < BN / 16; j++) {
                uint32_t kb[4];
                load_b_pair(kb, ks + j * 16 * LDH + k * 16, LDH);
                mma_tiles<MT>(s, j, qa[k], kb);
            }
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
            if (k0 >= all_lo[mt] && k0 + BN - 1 <= w0 + mt * 16)
                online_softmax<HS, false>(s[mt], m[mt], l[mt], o[mt], row[mt], lo[mt], k0, scale2);
            else
                online_softmax<HS, true>(s[mt], m[mt], l[mt], o[mt], row[mt], lo[mt], k0, scale2);
        warp_acc_ab<HS, BN, MT>(o, s, vs, LDH);    /* O += P V, P in bf16 straight from the scores' registers */
    }

    size_t bh = ((size_t)b * NH + h) * T;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float sum = l[mt][r];
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            if (lane % 4 == 0 && row[mt][r] < T)
                lse[bh + row[mt][r]] = (m[mt][r] * scale2 + log2f(sum)) * LN2;    /* base e again */
            float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma unroll
            for (int n = 0; n < HS / 8; n++)
                o[mt][n][2 * r] *= inv, o[mt][n][2 * r + 1] *= inv;
        }
    /* the warp's rows of qs are free: its queries have been in registers since the start */
    warp_store<HS, MT>(out, C, b, w0, T, h * HS, o, wq, LDH);
}

/* ---- backward: dQ ------------------------------------------------------------------------- */

/* dS = P (dP - delta) of one m16 tile over a tile of N keys from k0, into s (the scores,
 * unscaled), P from the forward's log-sum-exp (lse2, in base 2, as exp2 takes it). row, lo
 * and dl are this lane's two rows, their documents' first keys and their delta; MASKED as
 * in online_softmax. The softmax's scale, which dS also carries, is left to the sum dQ. */
template <int N, bool MASKED>
__device__ __forceinline__ void ds_rows(float (*s)[4], const float (*dp)[4], const int row[2], const int lo[2],
                                        const float lse2[2], const float dl[2], int k0, float scale2)
{
    int lane = threadIdx.x % 32;
#pragma unroll
    for (int j = 0; j < N / 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int r = e / 2, key = k0 + j * 8 + lane % 4 * 2 + e % 2;
            float x = MASKED && (key < lo[r] || key > row[r]) ? -INFINITY : s[j][e];
            s[j][e] = exp2_fast(fmaf(x, scale2, -lse2[r])) * (dp[j][e] - dl[r]);
        }
}

/* acc *= f: the scale of the scores, applied to a gradient once at the end instead of to
 * every dS. */
template <int HS, int MT> __device__ __forceinline__ void scale_acc(float (*acc)[HS / 8][4], float f)
{
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int n = 0; n < HS / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[mt][n][e] *= f;
}

template <int HS>
__global__ static void __launch_bounds__(WARPS * 32)
    attention_dq_mma_kernel(bf16 *dqkv, const float *delta, const bf16 *dout, const float *lse, const bf16 *qkv,
                            const int32_t *pos, int T, int C, int NH)
{
    constexpr int MT = mtiles(HS), QROWS = block_rows(HS), BN = BWD_TILE, LDH = padded(HS), TILE = BN * LDH;
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *qs = (bf16 *)smem, *dos = qs + QROWS * LDH, *kv = dos + QROWS * LDH;    /* buffer i: K, V at kv + 2 i TILE */
    int C3 = 3 * C, b = blockIdx.z, h = blockIdx.y, warp = threadIdx.x / 32;
    int q0 = query_block() * QROWS, q_last = min(q0 + QROWS, T) - 1, w0 = q0 + warp * 16 * MT;
    bf16 *wq = qs + warp * 16 * MT * LDH, *wdo = dos + warp * 16 * MT * LDH;    /* the warp's rows */
    const int32_t *prow = pos + (size_t)b * T;
    const float scale = 1.0f / sqrtf((float)HS), scale2 = scale * LOG2E;
    size_t bh = ((size_t)b * NH + h) * T;
    auto fetch = [&](int k0, int buf) { copy_kv_async(kv + 2 * buf * TILE, LDH, qkv, C, b, k0, BN, T, h, HS); };

    int k_first = q0 - prow[q0];
    copy_rows_async(qs, LDH, qkv, C3, b, q0, QROWS, T, h * HS, HS);
    copy_rows_async(dos, LDH, dout, C, b, q0, QROWS, T, h * HS, HS);
    fetch(k_first, 0);    /* one group with the block's rows */
    copy_async_commit();
    /* this lane's rows, their documents' first keys, their log-sum-exp in base 2 (as the
     * scores) and delta */
    int row[MT][2], lo[MT][2];
    float lse2[MT][2], dl[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            int t = row[mt][r] = lane_row(w0, mt, r);
            lo[mt][r] = doc_start(prow, t, T);
            lse2[mt][r] = t < T ? lse[bh + t] * LOG2E : 0.0f;
            dl[mt][r] = t < T ? delta[bh + t] : 0.0f;
        }
    int w_lo = doc_start(prow, w0, T), w_hi = min(w0 + 16 * MT - 1, T - 1), all_lo[MT];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
        all_lo[mt] = all_rows_see_from(prow, w0 + mt * 16, T);
    float dq[MT][HS / 8][4] = {};

    for (int k0 = k_first, buf = 0; k0 <= q_last; k0 += BN, buf ^= 1) {
        begin_round(k0 + BN <= q_last, [&] { fetch(k0 + BN, buf ^ 1); });
        if (k0 > w_hi || k0 + BN - 1 < w_lo)
            continue;
        const bf16 *ks = kv + 2 * buf * TILE, *vs = ks + TILE;

        float s[MT][BN / 8][4], dp[MT][BN / 8][4];    /* S = Q K^T, dP = dO V^T */
        warp_abt_pair<HS, BN, MT>(s, dp, wq, wdo, ks, vs, LDH);
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
            if (k0 >= all_lo[mt] && k0 + BN - 1 <= w0 + mt * 16)
                ds_rows<BN, false>(s[mt], dp[mt], row[mt], lo[mt], lse2[mt], dl[mt], k0, scale2);
            else
                ds_rows<BN, true>(s[mt], dp[mt], row[mt], lo[mt], lse2[mt], dl[mt], k0, scale2);
        warp_acc_ab<HS, BN, MT>(dq, s, ks, LDH);    /* dQ += dS K */
    }
    scale_acc<HS, MT>(dq, scale);
    /* only this warp reads its rows of qs */
    warp_store<HS, MT>(dqkv, C3, b, w0, T, h * HS, dq, wq, LDH);
}

/* ---- backward: dK and dV ------------------------------------------------------------------- */

/* P^T into st and dS^T = P^T (dP^T - delta) into dpt, for one m16 tile of keys (rows, from
 * key f) over a tile of N queries from q0 (columns), whose log-sum-exp, delta and positions
 * are in lse_s, delta_s and pos_s; MASKED where some key of the m16 tile is hidden from some
 * query of the tile. As in ds_rows, the scale is left to dK. */
template <int N, bool MASKED>
__device__ __forceinline__ void pt_dst_cols(float (*st)[4], float (*dpt)[4], const float *lse_s, const float *delta_s,
                                            const int32_t *pos_s, int q0, int f, int T, float scale2)
{
    int lane = threadIdx.x % 32;
#pragma unroll
    for (int j = 0; j < N / 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int i = j * 8 + lane % 4 * 2 + e % 2, t = q0 + i, key = lane_row(f, 0, e / 2);
            float x = MASKED && !(t < T && key >= t - pos_s[i] && key <= t) ? -INFINITY : st[j][e];
            float p = exp2_fast(fmaf(x, scale2, -lse_s[i] * LOG2E));
            st[j][e] = p;
            dpt[j][e] = p * (dpt[j][e] - delta_s[i]);
        }
}

template <int HS>
__global__ static void __launch_bounds__(WARPS * 32)
    attention_dkv_mma_kernel(bf16 *dqkv, const float *delta, const bf16 *dout, const float *lse, const bf16 *qkv,
                             const int32_t *pos, int T, int C, int NH)
{
    constexpr int MT = mtiles(HS), KROWS = block_rows(HS), BN = BWD_TILE, LDH = padded(HS), TILE = BN * LDH;
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *ks = (bf16 *)smem, *vs = ks + KROWS * LDH, *qd = vs + KROWS * LDH;    /* buffer i: Q, dO at qd + 2 i TILE */
    float *stats = (float *)(qd + 4 * TILE);    /* buffer i: lse, delta, pos of the tile's queries at stats + 3 i BN */
    int C3 = 3 * C, b = blockIdx.z, h = blockIdx.y, warp = threadIdx.x / 32;
    int s0 = blockIdx.x * KROWS, s_last = min(s0 + KROWS, T) - 1, w0 = s0 + warp * 16 * MT;
    bf16 *wk = ks + warp * 16 * MT * LDH, *wv = vs + warp * 16 * MT * LDH;    /* the warp's rows */
    const int32_t *prow = pos + (size_t)b * T;
    const float scale = 1.0f / sqrtf((float)HS), scale2 = scale * LOG2E;
    size_t bh = ((size_t)b * NH + h) * T;
    auto fetch = [&](int q0, int buf) {
        copy_rows_async(qd + 2 * buf * TILE, LDH, qkv, C3, b, q0, BN, T, h * HS, HS);
        copy_rows_async(qd + (2 * buf + 1) * TILE, LDH, dout, C, b, q0, BN, T, h * HS, HS);
        float *st = stats + 3 * buf * BN;
        for (int i = threadIdx.x; i < BN; i += blockDim.x) {
            int t = q0 + i < T ? q0 + i : 0;
            copy_async4(st + i, lse + bh + t, q0 + i < T);
            copy_async4(st + BN + i, delta + bh + t, q0 + i < T);
            copy_async4(st + 2 * BN + i, prow + t, q0 + i < T);
        }
    };
    /* queries before s0 see none of the block's keys; once a query's document starts after
     * the block's last key, so do all later ones' */
    auto sees_block = [&](int q0) { return q0 < T && q0 - prow[q0] <= s_last; };

    copy_kv_async(ks, LDH, qkv, C, b, s0, KROWS, T, h, HS);    /* vs follows ks */
    fetch(s0, 0);    /* one group with the block's rows */
    copy_async_commit();
    int w_hi = min(w0 + 16 * MT - 1, T - 1);
    float dk[MT][HS / 8][4] = {}, dv[MT][HS / 8][4] = {};

    for (int q0 = s0, buf = 0; sees_block(q0); q0 += BN, buf ^= 1) {
        begin_round(sees_block(q0 + BN), [&] { fetch(q0 + BN, buf ^ 1); });
        const bf16 *qs = qd + 2 * buf * TILE, *dos = qs + TILE;
        const float *lse_s = stats + 3 * buf * BN, *delta_s = lse_s + BN;
        const int32_t *pos_s = (const int32_t *)(delta_s + BN);
        if (w0 >= T || q0 + BN - 1 < w0 || q0 - pos_s[0] > w_hi)
            continue;    /* the tile's queries all come before the warp's keys, or all after their documents */

        float st[MT][BN / 8][4], dpt[MT][BN / 8][4];    /* S^T = K Q^T, dP^T = V dO^T: keys x queries */
        warp_abt_pair<HS, BN, MT>(st, dpt, wk, wv, qs, dos, LDH);
        /* every query of the tile sees every key of an m16 tile from f when the tile lies
         * within T, starts after f's last key and its last query's document starts by f */
        bool tile_in = q0 + BN - 1 < T;
        int last_start = tile_in ? q0 + BN - 1 - pos_s[BN - 1] : INT_MAX;
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            int f = w0 + mt * 16;
            if (q0 >= f + 15 && last_start <= f)
                pt_dst_cols<BN, false>(st[mt], dpt[mt], lse_s, delta_s, pos_s, q0, f, T, scale2);
            else
                pt_dst_cols<BN, true>(st[mt], dpt[mt], lse_s, delta_s, pos_s, q0, f, T, scale2);
        }
        warp_acc_ab<HS, BN, MT>(dv, st, dos, LDH);    /* dV += P^T dO */
        warp_acc_ab<HS, BN, MT>(dk, dpt, qs, LDH);    /* dK += dS^T Q */
    }
    scale_acc<HS, MT>(dk, scale);
    /* only this warp reads its rows of ks and vs */
    warp_store<HS, MT>(dqkv, C3, b, w0, T, C + h * HS, dk, wk, LDH);
    warp_store<HS, MT>(dqkv, C3, b, w0, T, 2 * C + h * HS, dv, wv, LDH);
}

/* ---- the host side -------------------------------------------------------------------------- */

/* -1: not decided yet (LLM_CUDA_ATTENTION is read at the next call). */
static int use_mma = -1;

void llm_cuda_attention_use_mma(int on) { use_mma = on < 0 ? -1 : on ? 1 : 0; }

static size_t max_shared_bytes(int hs) { return std::max({forward_bytes(hs), dq_bytes(hs), dkv_bytes(hs)}); }

/* Whether the kernels' shared memory for head size hs fits what the device lets a block
 * have (227 KB on sm_90, 163 KB on sm_80, 99 KB on sm_86 and sm_89: at most 88 KB here). */
static int mma_fits(int hs)
{
    static int optin = -1;
    if (optin < 0) {
        int dev = 0, v = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
            v = 0;
        optin = v;
    }
    return max_shared_bytes(hs) <= (size_t)optin;
}

int llm_cuda_attention_mma_wanted(int hs)
{
    if (use_mma < 0) {
        const char *e = getenv("LLM_CUDA_ATTENTION");
        use_mma = !(e && strcmp(e, "fp32") == 0);
    }
    return use_mma == 1 && hs % 16 == 0 && hs > 0 && hs <= MAX_HS_MMA && mma_fits(hs);
}

/* Lets kernel have more than the 48 KB of shared memory a block gets without asking. */
template <typename K> static int allow_shared(K kernel, size_t bytes, llm_error *err)
{
    CU_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return 0;
}

template <int HS>
static int forward_hs(bf16 *out, float *lse, const bf16 *qkv, const int32_t *pos, int B, int T, int C, int NH,
                      cudaStream_t s, llm_error *err)
{
    if (allow_shared(attention_forward_mma_kernel<HS>, forward_bytes(HS), err) < 0)
        return -1;
    dim3 grid(cu_blocks((size_t)T, block_rows(HS)), NH, B);
    attention_forward_mma_kernel<HS><<<grid, WARPS * 32, forward_bytes(HS), s>>>(out, lse, qkv, pos, T, C, NH);
    CU_LAUNCHED();
    return 0;
}

template <int HS>
static int backward_hs(bf16 *dqkv, const float *delta, const bf16 *dout, const float *lse, const bf16 *qkv,
                       const int32_t *pos, int B, int T, int C, int NH, cudaStream_t s, llm_error *err)
{
    if (allow_shared(attention_dq_mma_kernel<HS>, dq_bytes(HS), err) < 0 ||
        allow_shared(attention_dkv_mma_kernel<HS>, dkv_bytes(HS), err) < 0)
        return -1;
    dim3 grid(cu_blocks((size_t)T, block_rows(HS)), NH, B);
    attention_dq_mma_kernel<HS><<<grid, WARPS * 32, dq_bytes(HS), s>>>(dqkv, delta, dout, lse, qkv, pos, T, C, NH);
    CU_LAUNCHED();
    attention_dkv_mma_kernel<HS><<<grid, WARPS * 32, dkv_bytes(HS), s>>>(dqkv, delta, dout, lse, qkv, pos, T, C, NH);
    CU_LAUNCHED();
    return 0;
}

/* The instances for head sizes 16, 32, ..., 128, in that order. */
#define EACH_HEAD_SIZE(f) f<16>, f<32>, f<48>, f<64>, f<80>, f<96>, f<112>, f<128>

/* Which instance serves C / NH (hs / 16 - 1), after checking the head size and the 16-byte
 * alignment of the bf16 tensors the kernels read and write 8 elements at a time; -1 with
 * err set if they cannot. */
static int instance_for(int C, int NH, const void *a, const void *b, const void *c, llm_error *err)
{
    int hs = C / NH;
    if (C % NH || hs % 16 || hs <= 0 || hs > MAX_HS_MMA)
        return llm_error_set(err, "tensor-core attention: head size %d is not a multiple of 16 up to %d", hs,
                             MAX_HS_MMA);
    if (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) % 16)
        return llm_error_set(err, "tensor-core attention: its bf16 tensors must start on 16-byte boundaries");
    return hs / 16 - 1;
}

int llm_cuda_attention_forward_mma(llm_bf16 *out, float *lse, const llm_bf16 *qkv, const int32_t *pos, int B, int T,
                                   int C, int NH, llm_cu_stream s, llm_error *err)
{
    static decltype(&forward_hs<16>) const by_head_size[] = {EACH_HEAD_SIZE(forward_hs)};
    int i = instance_for(C, NH, out, qkv, qkv, err);
    return i < 0 ? -1 : by_head_size[i](out, lse, qkv, pos, B, T, C, NH, s, err);
}

int llm_cuda_attention_backward_mma(llm_bf16 *dqkv, const float *delta, const llm_bf16 *dout, const float *lse,
                                    const llm_bf16 *qkv, const int32_t *pos, int B, int T, int C, int NH,
                                    llm_cu_stream s, llm_error *err)
{
    static decltype(&backward_hs<16>) const by_head_size[] = {EACH_HEAD_SIZE(backward_hs)};
    int i = instance_for(C, NH, dqkv, dout, qkv, err);
    return i < 0 ? -1 : by_head_size[i](dqkv, delta, dout, lse, qkv, pos, B, T, C, NH, s, err);
}

/* The transformer layers on a CUDA device, each the twin of its CPU reference in ops_cpu.h
 * (tests/unit/test_cuda_ops.c checks one against the other): the pieces lib/cuda/gpt2.cu
 * builds the model's passes from. Pointers are device memory; each call is queued on
 * `stream` and returns 0, or -1 with err set when the launch fails (errors of the kernel
 * itself show at the next synchronisation). N = B * T rows, row-major.
 *
 * Types: fp32 where the CPU twin is fp32 and precision matters (residual stream,
 * LayerNorm statistics, gradients, optimizer state); bf16 (llm_bf16, the upper 16 bits
 * of a float) for the operands of matrix products and the activations kept for them. */
#ifndef LLM_OPS_CUDA_H
#define LLM_OPS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __CUDACC__
#include <cuda_bf16.h>
typedef __nv_bfloat16 llm_bf16;
#else
typedef uint16_t llm_bf16;
#endif
typedef struct CUstream_st *llm_cu_stream;

/* ---- memory and conversions, for the backend and the tests ---- */

/* Device memory of n bytes (NULL with err set); free is NULL-safe. */
void *llm_cu_alloc(size_t n, llm_error *err);
void llm_cu_free(void *p);
/* Synchronous copies of n floats between host fp32 and device fp32 or bf16 (rounded to
 * nearest even on the way in). */
int llm_cu_put_f32(float *dev, const float *host, size_t n, llm_error *err);
int llm_cu_get_f32(float *host, const float *dev, size_t n, llm_error *err);
int llm_cu_put_bf16(llm_bf16 *dev, const float *host, size_t n, llm_error *err);
int llm_cu_get_bf16(float *host, const llm_bf16 *dev, size_t n, llm_error *err);
/* Plain copies of n bytes (ids, flags, counters). */
int llm_cu_put_bytes(void *dev, const void *host, size_t n, llm_error *err);
int llm_cu_get_bytes(void *host, const void *dev, size_t n, llm_error *err);
/* Waits for the device and reports any error a kernel left. */
int llm_cu_sync(llm_error *err);
/* out[i] = bf16(in[i] * scale), n of them. */
int llm_cuda_to_bf16(llm_bf16 *out, const float *in, float scale, size_t n, llm_cu_stream s, llm_error *err);
/* y[i] += a * x[i]. */
int llm_cuda_axpy(float *y, float a, const float *x, size_t n, llm_cu_stream s, llm_error *err);

/* ---- matrix products (cuBLASLt, bf16 operands, fp32 accumulation) ---- */

/* What a product's epilogue does with the GELU that follows (or precedes) it. */
enum {
    LLM_CU_GELU_NONE,
    LLM_CU_GELU_FORWARD,     /* aux = op(A) op(B) + bias, D = gelu(aux) */
    LLM_CU_GELU_BACKWARD,    /* D = op(A) op(B) * gelu'(aux), no bias */
};

/* Row-major D (M, N) = op(A) (M, K) op(B) (K, N) [+ bias (N)] [+ beta C], the twin of
 * llm_gemm with the linear layers' bias, and the GELU after them, fused in. */
typedef struct llm_cu_gemm {
    int M, N, K;
    int trans_a, trans_b;
    const llm_bf16 *A, *B;
    int lda, ldb;
    void *D;              /* float * when d_fp32, else llm_bf16 * */
    int ldd, d_fp32;
    const float *C;       /* fp32, ldd apart, added times beta (may be D); NULL: none */
    float beta;
    const void *bias;     /* N values of D's type, or NULL */
    int gelu;             /* LLM_CU_GELU_*: needs a bf16 D with ldd == N */
    llm_bf16 *aux;        /* with gelu: GELU's input (M, N), written forward, read backward */
} llm_cu_gemm;

/* Loads libcublasLt.so (dlopen) and makes a handle with a workspace: 0, or -1 with err set
 * when the library or the device is missing. Idempotent; llm_cuda_blas_close undoes it. */
int llm_cuda_blas_open(llm_error *err);
void llm_cuda_blas_close(void);
/* 0, or with err set -1 (or LLM_CU_NO_ALGORITHM: cuBLASLt has none for this product). */
#define LLM_CU_NO_ALGORITHM (-2)
int llm_cuda_matmul(const llm_cu_gemm *g, llm_cu_stream s, llm_error *err);
/* GELU in cuBLASLt's epilogue (on by default), or the product and then the GELU kernel
 * (off, or LLM_CUDA_GELU=kernel in the environment). Where cuBLASLt cannot fuse it (no
 * algorithm, or N not a multiple of 8), llm_cuda_matmul uses the kernel by itself. */
void llm_cuda_gelu_fusion(int on);

/* ---- the layers ---- */

/* out (N, C) = wte[tokens] + wpe[pos] (pos: (N) offsets, never NULL here), with NEFTune's
 * noise added to the token embedding when noise_scale is not 0, as llm_embed_forward. */
int llm_cuda_embed_forward(float *out, const int32_t *tokens, const int32_t *pos, const float *wte,
                           const float *wpe, int N, int C, float noise_scale, uint64_t noise_key, llm_cu_stream s,
                           llm_error *err);
/* The embeddings' backward without atomics, so that a GPU run repeats itself bit for bit:
 * the rows are grouped by their index (token id or position) on the host, and each group
 * is summed in row order. Group g holds rows[start[g] .. start[g + 1]) (ascending) of index
 * id[g]; count is n_index + 1 ints of scratch; rows, id: N ints, start: N + 1. */
void llm_cuda_group_rows(const int32_t *index, int N, int n_index, int32_t *count, int32_t *rows,
                         int32_t *start, int32_t *id, int *n_groups);
/* dw (n_index, C) += the sum of each group's rows of dout (N, C). */
int llm_cuda_embed_backward(float *dw, const float *dout, const int32_t *rows, const int32_t *start,
                            const int32_t *id, int n_groups, int C, llm_cu_stream s, llm_error *err);

/* LayerNorm of the fp32 rows into bf16, statistics in fp32 (mean and rstd kept). */
int llm_cuda_layernorm_forward(llm_bf16 *out, float *mean, float *rstd, const float *inp, const float *w,
                               const float *b, int N, int C, float eps, llm_cu_stream s, llm_error *err);
/* The same output from the kept statistics (--recompute). */
int llm_cuda_layernorm_apply(llm_bf16 *out, const float *mean, const float *rstd, const float *inp,
                             const float *w, const float *b, int N, int C, llm_cu_stream s, llm_error *err);
/* dinp += ..., dw += ..., db += ... as llm_layernorm_backward_acc, for dout * scale; with
 * dinp_bf (may be NULL), the new dinp rounded to bf16 too. The weight and bias sums run
 * down the columns in a fixed order (no atomics) through scratch, which holds
 * llm_cuda_colsum_scratch(N, 2 * C) floats. */
int llm_cuda_layernorm_backward(float *dinp, llm_bf16 *dinp_bf, float *dw, float *db, const float *dout, float scale,
                                const float *inp, const float *mean, const float *rstd, const float *w, int N,
                                int C, float *scratch, llm_cu_stream s, llm_error *err);

/* GELU (tanh) and its backward (dinp may be dout). */
int llm_cuda_gelu_forward(llm_bf16 *out, const llm_bf16 *inp, size_t n, llm_cu_stream s, llm_error *err);
int llm_cuda_gelu_backward(llm_bf16 *dinp, const llm_bf16 *inp, const llm_bf16 *dout, size_t n,
                           llm_cu_stream s, llm_error *err);

/* Floats of scratch for summing the columns of N rows of OC (bias and LayerNorm gradients):
 * the rows go in slabs to spread the sums over the chip, the slabs then added in order. */
size_t llm_cuda_colsum_scratch(int N, int OC);
/* db (OC) += the sum of dout's N rows, in a fixed order; scratch as above. */
int llm_cuda_bias_backward(float *db, const llm_bf16 *dout, int N, int OC, float *scratch, llm_cu_stream s,
                           llm_error *err);
int llm_cuda_bias_backward_f32(float *db, const float *dout, int N, int OC, float *scratch, llm_cu_stream s,
                               llm_error *err);

/* Causal attention inside documents from the packed qkv (B, T, 3C), as
 * llm_attention_forward, without the (T, T) probabilities: out (B, T, C) and each query's
 * log-sum-exp lse (B, NH, T), which the backward recomputes the probabilities from.
 * Head size at most 128. */
int llm_cuda_attention_forward(llm_bf16 *out, float *lse, const llm_bf16 *qkv, const int32_t *pos, int B,
                               int T, int C, int NH, llm_cu_stream s, llm_error *err);
/* Generation's attention, one sequence: the queries q_first .. T - 1 of qkv (T, 3C), whose
 * rows before q_first are the cache of earlier positions, over keys as above; out
 * (T - q_first, C) and lse (NH, T - q_first) hold those queries' rows. */
int llm_cuda_attention_queries(llm_bf16 *out, float *lse, const llm_bf16 *qkv, const int32_t *pos, int T,
                               int q_first, int C, int NH, llm_cu_stream s, llm_error *err);
/* The same forward on the tensor cores (lib/cuda/attention_mma.cu; head size a multiple of
 * 16 up to 128, a device that gives a block the shared memory it needs, and bf16 tensors
 * on 16-byte boundaries, as llm_cu_alloc and the plan give them), which
 * llm_cuda_attention_forward takes where it can unless LLM_CUDA_ATTENTION=fp32 is in the
 * environment or llm_cuda_attention_use_mma(0) was called (1 turns it back on, -1 leaves
 * it to the environment again); llm_cuda_attention_mma_wanted says whether it will for
 * head size hs. */
int llm_cuda_attention_forward_mma(llm_bf16 *out, float *lse, const llm_bf16 *qkv, const int32_t *pos, int B,
                                   int T, int C, int NH, llm_cu_stream s, llm_error *err);
void llm_cuda_attention_use_mma(int on);
int llm_cuda_attention_mma_wanted(int hs);
/* dqkv (B, T, 3C) overwritten; delta: B * NH * T floats of scratch. With the tensor cores wanted
 * (llm_cuda_attention_mma_wanted) dQ, dK and dV come from llm_cuda_attention_backward_mma. */
int llm_cuda_attention_backward(llm_bf16 *dqkv, float *delta, const llm_bf16 *dout, const llm_bf16 *out,
                                const float *lse, const llm_bf16 *qkv, const int32_t *pos, int B, int T,
                                int C, int NH, llm_cu_stream s, llm_error *err);
/* dQ, dK and dV on the tensor cores (same head sizes as the forward), from delta (B, NH, T)
 * = rowsum(dO * O) per head, which llm_cuda_attention_backward computes first. */
int llm_cuda_attention_backward_mma(llm_bf16 *dqkv, const float *delta, const llm_bf16 *dout, const float *lse,
                                    const llm_bf16 *qkv, const int32_t *pos, int B, int T, int C, int NH,
                                    llm_cu_stream s, llm_error *err);

/* Cross-entropy of bf16 logits (N, V; rows ld apart) as llm_crossentropy_forward, the
 * softmax in fp32; with gradient nonzero, the gradient for a unit scale, softmax - (1 - e)
 * onehot - e / V (0 in rows with no target), then replaces the logits in place. correct as
 * 0/1 bytes. */
int llm_cuda_crossentropy(float *losses, float *lse, uint8_t *correct, llm_bf16 *logits, int gradient,
                          const int32_t *targets, float smoothing, int N, int V, int ld, llm_cu_stream s,
                          llm_error *err);

/* ---- the optimizer ---- */

/* sumsq[0] = the sum of the squares of g's n values (double, in a fixed order); partial
 * holds llm_cuda_norm_parts() doubles of scratch. */
int llm_cuda_norm_parts(void);
int llm_cuda_grad_sumsq(double *sumsq, double *partial, const float *g, size_t n, llm_cu_stream s,
                        llm_error *err);
/* AdamW over all n parameters in one launch, as llm_adamw_step: ranges[r] .. ranges[r + 1]
 * (n_ranges + 1 ascending offsets on the device, the last one n) is tensor r, decayed when
 * decays[r] is 1
 * (p *= decay first; decay = 1 - lr * weight_decay). The gradient is scaled first by
 * min(1, max_norm / (sqrt(*sumsq) + 1e-6)) when max_norm > 0 (clipping, read on the
 * device); the bf16 copy of the parameters (may be NULL) is rewritten. */
int llm_cuda_adamw(float *p, llm_bf16 *p_bf16, const float *g, float *m, float *v, size_t n, const uint64_t *ranges,
                   const uint8_t *decays, int n_ranges, const double *sumsq, float max_norm, float b1, float b2,
                   float eps, float decay, float step_size, float bc2_sqrt, llm_cu_stream s, llm_error *err);

#ifdef __cplusplus
}
#endif
#endif

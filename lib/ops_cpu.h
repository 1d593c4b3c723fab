/* The layers of a transformer on the CPU, each forward beside its backward: the reference
 * answers a GPU kernel is tested against. N = B * T rows; shapes are row-major. Every op
 * runs on the OpenMP threads of the caller's setting (omp_set_num_threads); the results
 * depend on the thread count only where a matrix product is split across threads.
 * Backward conventions: gradients of parameters are accumulated (+=), the gradient of an
 * input is overwritten unless the name says _acc (added, for the residual stream). */
#ifndef LLM_OPS_CPU_H
#define LLM_OPS_CPU_H

#include <stdint.h>

/* C (M, N) = op(A) op(B) + beta C, row-major, op = transpose when the flag is set, split
 * across the threads by rows or columns of C (OpenBLAS single-threaded inside). */
void llm_gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* out (N, C) = wte[tokens] + wpe[pos]; pos NULL means t within each row of T. With a
 * noise_scale other than 0, element i's token embedding first gets noise_scale x
 * llm_noise_unit(noise_key, i) (NEFTune, lib/noise.h), as Trainer's hook adds it to the
 * embedding layer's output. */
void llm_embed_forward(float *out, const int32_t *tokens, const int32_t *pos, const float *wte,
                       const float *wpe, int N, int T, int C, float noise_scale, uint64_t noise_key);
void llm_embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                        const int32_t *pos, int N, int T, int C);

/* LayerNorm over the last dim (biased variance, eps inside the root), keeping each row's
 * mean and 1/std (N) for the backward. */
void llm_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps);
/* dinp += ..., dw += ..., db += ... */
void llm_layernorm_backward_acc(float *dinp, float *dw, float *db, const float *dout,
                                const float *inp, const float *mean, const float *rstd,
                                const float *w, int N, int C);

/* Hugging Face Conv1D: out (N, OC) = inp (N, IC) @ w (IC, OC) + b (b may be NULL). */
void llm_linear_forward(float *out, const float *inp, const float *w, const float *b, int N,
                        int IC, int OC);
/* out = res + inp @ w + b: a projection added to the residual stream (out may be res). */
void llm_residual_linear_forward(float *out, const float *res, const float *inp, const float *w,
                                 const float *b, int N, int IC, int OC);
/* dinp (N, IC) = dout @ w^T (skipped when dinp is NULL); dw += inp^T @ dout; db += sum of
 * dout's rows (skipped when db is NULL). */
void llm_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, int N, int IC, int OC);

/* GELU, tanh approximation (gelu_new / gelu_pytorch_tanh). */
void llm_gelu_forward(float *out, const float *inp, int n);
/* dinp = dout * gelu'(inp); dinp may be dout. */
void llm_gelu_backward(float *dinp, const float *inp, const float *dout, int n);

/* Multi-head causal self-attention from the packed qkv (B, T, 3C) (q, k, v, each split in
 * NH heads of C / NH): out (B, T, C). Position t of row b attends to t - pos[b,t] .. t (pos
 * NULL: 0 .. t). att (B, NH, T, T) keeps the probabilities for the backward; with att NULL
 * they are not kept and scratch (llm_attention_scratch floats) holds them in passing. */
void llm_attention_forward(float *out, float *att, float *scratch, const float *qkv,
                           const int32_t *pos, int B, int T, int C, int NH);
/* dqkv (B, T, 3C) overwritten; scratch: threads * T * T floats. */
void llm_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                            float *scratch, int B, int T, int C, int NH);
/* Floats of scratch the attention backward needs for `threads` threads. */
static inline long llm_attention_scratch(int T, int threads) { return (long)threads * T * T; }

/* Attention of n new queries of one sequence, at positions start .. start + n - 1, over the
 * cached keys and values of positions 0 .. start + n - 1 (generation): q (n, C) with rows
 * ldq apart, k and v (start + n, C); out (n, C). scratch: threads * n * (start + n) floats. */
void llm_attention_cached(float *out, const float *q, int ldq, const float *k, const float *v,
                          int n, int start, int C, int NH, float *scratch);

/* Cross-entropy of the logits (N, V) against targets (-1: not counted): losses[n] (0 where
 * not counted), lse[n] = log-sum-exp of the row, correct[n] = argmax == target (first
 * maximum on ties). With label smoothing e > 0 the loss is Trainer's LabelSmoother's per
 * label: (1 - e) * -log p[target] + e * mean over the vocabulary of -log p. */
void llm_crossentropy_forward(float *losses, float *lse, uint8_t *correct, const float *logits,
                              const int32_t *targets, float smoothing, int N, int V);
/* Turns logits into d(scale * sum of counted losses)/d(logits), in place:
 * scale * (softmax - (1 - e) * onehot - e / V) in counted rows. */
void llm_crossentropy_backward(float *logits, const float *lse, const int32_t *targets, float smoothing,
                               float scale, int N, int V);

#endif

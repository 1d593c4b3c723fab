/* Every kernel of lib/ops_cuda.h against its CPU twin of lib/ops_cpu.h (or lib/adamw.c), on
 * random inputs, with the tolerances of cuda_check.h. Inputs the device reads as bf16 are
 * rounded to bf16 on the host first, so the reference computes on the very same numbers
 * and only the device's own roundings remain. Without a GPU: one "skipped: no GPU" line. */
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#if LLM_CUDA
#include "adamw.h"
#include "ops_cpu.h"
#include "ops_cuda.h"

static llm_error err;

/* Device copies of host arrays, freed by the case. */
static float *dev_f32(const float *h, size_t n)
{
    float *d = llm_cu_alloc(n * sizeof *d, &err);
    if (d && llm_cu_put_f32(d, h, n, &err) < 0)
        return NULL;
    return d;
}

static llm_bf16 *dev_bf16(const float *h, size_t n)
{
    llm_bf16 *d = llm_cu_alloc(n * sizeof *d, &err);
    if (d && llm_cu_put_bf16(d, h, n, &err) < 0)
        return NULL;
    return d;
}

static int32_t *dev_i32(const int32_t *h, size_t n)
{
    int32_t *d = llm_cu_alloc(n * sizeof *d, &err);
    if (d && llm_cu_put_bytes(d, h, n * sizeof *d, &err) < 0)
        return NULL;
    return d;
}

#define OK(call) CHECKF((call) == 0, "%s", err.msg)

/* Fills n bytes of device memory with ones: NaN as bf16 and as fp32, so that an output a
 * kernel fails to write shows as an infinite error, not as the previous case's result. */
static void poison(void *dev, size_t n)
{
    unsigned char *ones = malloc(n);
    memset(ones, 0xff, n);
    OK(llm_cu_put_bytes(dev, ones, n, &err));
    free(ones);
}

/* ---- matrix products ---- */

static void matmul_case(int ta, int tb, int d_fp32, int with_bias, int with_c)
{
    int M = 37, N = 48, K = 64;    /* M odd: rows need no alignment */
    size_t na = (size_t)M * K, nb = (size_t)K * N, nd = (size_t)M * N;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *bias = malloc(N * sizeof *bias);
    float *ref = malloc(nd * sizeof *ref), *out = malloc(nd * sizeof *out);
    cuda_fill(A, na, 1.0);
    cuda_fill(B, nb, 1.0);
    cuda_fill(bias, N, 1.0);
    cuda_fill(ref, nd, 1.0);    /* the C that is added */
    bf16_round_all(A, na);
    bf16_round_all(B, nb);
    if (!d_fp32)
        bf16_round_all(bias, N);
    float *dA = (float *)dev_bf16(A, na), *dB = (float *)dev_bf16(B, nb);
    void *dbias = with_bias ? (d_fp32 ? (void *)dev_f32(bias, N) : (void *)dev_bf16(bias, N)) : NULL;
    float *dC = with_c ? dev_f32(ref, nd) : NULL;
    void *dD = llm_cu_alloc(nd * 4, &err);
    llm_cu_gemm g = {.M = M, .N = N, .K = K, .trans_a = ta, .trans_b = tb, .A = (llm_bf16 *)dA,
                     .B = (llm_bf16 *)dB, .lda = ta ? M : K, .ldb = tb ? K : N, .D = dD, .ldd = N,
                     .d_fp32 = d_fp32, .C = dC, .beta = 1.0f, .bias = dbias};
    CHECK(llm_cuda_blas_open(&err) == 0);
    OK(llm_cuda_matmul(&g, NULL, &err));
    OK(llm_cu_sync(&err));
    if (d_fp32)
        OK(llm_cu_get_f32(out, dD, nd, &err));
    else
        OK(llm_cu_get_bf16(out, dD, nd, &err));
    /* reference: ref = op(A) op(B) + C + bias */
    if (!with_c)
        memset(ref, 0, nd * sizeof *ref);
    llm_gemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 1.0f, ref, N);
    if (with_bias)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                ref[(size_t)i * N + j] += bias[j];
    CHECK_CLOSE("matmul", out, ref, nd, d_fp32 ? TOL_F32 * 10 : TOL_BF16);
    CHECK_ROWS_CLOSE("matmul", out, ref, nd, N, d_fp32 ? TOL_F32 * 10 : TOL_BF16);
    llm_cu_free(dA), llm_cu_free(dB), llm_cu_free(dbias), llm_cu_free(dC), llm_cu_free(dD);
    free(A), free(B), free(bias), free(ref), free(out);
}

static void matmul_plain(void) { matmul_case(0, 0, 1, 0, 0); }
static void matmul_transposes(void)
{
    matmul_case(1, 0, 1, 0, 0);
    matmul_case(0, 1, 1, 0, 0);
    matmul_case(1, 1, 1, 0, 0);
}
static void matmul_bias_bf16(void) { matmul_case(0, 0, 0, 1, 0); }
static void matmul_bias_residual(void) { matmul_case(0, 0, 1, 1, 1); }

/* The MLP's products with GELU in the epilogue (fused) or after it (the kernel), against
 * the CPU's product and GELU: forward D = gelu(A B + bias) keeping aux = A B + bias, twice,
 * the second time with a bias less aligned than the first (a plan is chosen for the
 * alignment the heuristic saw); backward D = A B * gelu'(aux). N: D's columns. */
static void matmul_gelu_case(int fused, int N)
{
    int M = 37, K = 64;
    size_t na = (size_t)M * K, nb = (size_t)K * N, nd = (size_t)M * N;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *bias = malloc((N + 1) * sizeof *bias);
    float *pre = malloc(nd * sizeof *pre), *ref = malloc(nd * sizeof *ref), *out = malloc(nd * sizeof *out);
    float *aux = malloc(nd * sizeof *aux);
    cuda_fill(A, na, 1.0);
    cuda_fill(B, nb, 1.0);
    cuda_fill(bias, N + 1, 1.0);
    cuda_fill(aux, nd, 3.0);
    bf16_round_all(A, na);
    bf16_round_all(B, nb);
    bf16_round_all(bias, N + 1);
    bf16_round_all(aux, nd);
    llm_cuda_gelu_fusion(fused);
    llm_bf16 *dA = dev_bf16(A, na), *dB = dev_bf16(B, nb), *dbias = dev_bf16(bias, N + 1);
    llm_bf16 *dD = llm_cu_alloc(nd * 2, &err), *daux = llm_cu_alloc(nd * 2, &err);
    CHECK(llm_cuda_blas_open(&err) == 0);
    for (int shift = 0; shift < 2; shift++) {
        llm_cu_gemm g = {.M = M, .N = N, .K = K, .A = dA, .B = dB, .lda = K, .ldb = N, .D = dD, .ldd = N,
                         .bias = dbias + shift, .gelu = LLM_CU_GELU_FORWARD, .aux = daux};
        OK(llm_cuda_matmul(&g, NULL, &err));
        OK(llm_cu_get_bf16(out, dD, nd, &err));
        memset(pre, 0, nd * sizeof *pre);
        llm_gemm(0, 0, M, N, K, A, K, B, N, 1.0f, pre, N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                pre[(size_t)i * N + j] += bias[shift + j];
        llm_gelu_forward(ref, pre, (int)nd);
        CHECK_CLOSE("matmul gelu forward", out, ref, nd, TOL_BF16);
        CHECK_ROWS_CLOSE("matmul gelu forward", out, ref, nd, N, TOL_BF16);
        OK(llm_cu_get_bf16(out, daux, nd, &err));
        CHECK_CLOSE("matmul gelu forward aux", out, pre, nd, TOL_BF16);
    }
    OK(llm_cu_put_bf16(daux, aux, nd, &err));
    llm_cu_gemm g = {.M = M, .N = N, .K = K, .A = dA, .B = dB, .lda = K, .ldb = N, .D = dD, .ldd = N,
                     .gelu = LLM_CU_GELU_BACKWARD, .aux = daux};
    OK(llm_cuda_matmul(&g, NULL, &err));
    OK(llm_cu_get_bf16(out, dD, nd, &err));
    memset(pre, 0, nd * sizeof *pre);
    llm_gemm(0, 0, M, N, K, A, K, B, N, 1.0f, pre, N);
    llm_gelu_backward(ref, aux, pre, (int)nd);
    CHECK_CLOSE("matmul gelu backward", out, ref, nd, TOL_BF16);
    CHECK_ROWS_CLOSE("matmul gelu backward", out, ref, nd, N, TOL_BF16);
    llm_cuda_gelu_fusion(1);
    llm_cu_free(dA), llm_cu_free(dB), llm_cu_free(dbias), llm_cu_free(dD), llm_cu_free(daux);
    free(A), free(B), free(bias), free(pre), free(ref), free(out), free(aux);
}

static void matmul_gelu_fused(void) { matmul_gelu_case(1, 48); }
static void matmul_gelu_kernel(void) { matmul_gelu_case(0, 48); }
/* rows of 44: too short for cuBLASLt's aux matrix (a multiple of 8), the kernel then */
static void matmul_gelu_odd_width(void) { matmul_gelu_case(1, 44); }

/* ---- embeddings ---- */

static void embed(void)
{
    int N = 24, T = 8, C = 40, V = 11;
    float *wte = malloc((size_t)V * C * 4), *wpe = malloc((size_t)T * C * 4), *out = malloc((size_t)N * C * 4);
    float *ref = malloc((size_t)N * C * 4), *dout = malloc((size_t)N * C * 4);
    float *dwte = calloc((size_t)V * C, 4), *dwpe = calloc((size_t)T * C, 4);
    float *gwte = malloc((size_t)V * C * 4), *gwpe = malloc((size_t)T * C * 4);
    int32_t tok[24], pos[24];
    for (int n = 0; n < N; n++) {
        tok[n] = (int32_t)llm_rng_below(&cuda_rng, (uint64_t)V);
        pos[n] = n % T < 5 ? n % T : n % T - 5;    /* a second document at 5 */
    }
    cuda_fill(wte, (size_t)V * C, 1.0);
    cuda_fill(wpe, (size_t)T * C, 1.0);
    cuda_fill(dout, (size_t)N * C, 1.0);
    float *d_wte = dev_f32(wte, (size_t)V * C), *d_wpe = dev_f32(wpe, (size_t)T * C);
    float *d_out = llm_cu_alloc((size_t)N * C * 4, &err), *d_dout = dev_f32(dout, (size_t)N * C);
    int32_t *d_tok = dev_i32(tok, N), *d_pos = dev_i32(pos, N);
    OK(llm_cuda_embed_forward(d_out, d_tok, d_pos, d_wte, d_wpe, N, C, 0, 0, NULL, &err));
    OK(llm_cu_get_f32(out, d_out, (size_t)N * C, &err));
    llm_embed_forward(ref, tok, pos, wte, wpe, N, T, C, 0, 0);
    CHECK_CLOSE("embed forward", out, ref, (size_t)N * C, TOL_F32);
    /* NEFTune's noise: the same numbers, added the same way, so the same bits */
    OK(llm_cuda_embed_forward(d_out, d_tok, d_pos, d_wte, d_wpe, N, C, 0.03f, 991, NULL, &err));
    OK(llm_cu_get_f32(out, d_out, (size_t)N * C, &err));
    llm_embed_forward(ref, tok, pos, wte, wpe, N, T, C, 0.03f, 991);
    CHECK(memcmp(out, ref, (size_t)N * C * sizeof *out) == 0);
    llm_embed_forward(ref, tok, pos, wte, wpe, N, T, C, 0, 0);
    CHECK(memcmp(out, ref, (size_t)N * C * sizeof *out) != 0);
    /* the backward accumulates: start both from the same non-zero gradients */
    cuda_fill(dwte, (size_t)V * C, 1.0);
    cuda_fill(dwpe, (size_t)T * C, 1.0);
    OK(llm_cu_put_f32(d_wte, dwte, (size_t)V * C, &err));
    OK(llm_cu_put_f32(d_wpe, dwpe, (size_t)T * C, &err));
    /* the rows grouped on the host, as lib/cuda/gpt2.cu does */
    int32_t count[64], rows[24], start[25], id[24], *d_rows, *d_start, *d_id;
    int groups;
    llm_cuda_group_rows(tok, N, V, count, rows, start, id, &groups);
    CHECK(groups >= 1 && groups <= V && start[groups] == N);
    for (int g = 0; g < groups; g++)
        for (int r = start[g]; r < start[g + 1]; r++)
            CHECK(tok[rows[r]] == id[g] && (r == start[g] || rows[r] > rows[r - 1]));
    d_rows = dev_i32(rows, N), d_start = dev_i32(start, (size_t)groups + 1), d_id = dev_i32(id, groups);
    OK(llm_cuda_embed_backward(d_wte, d_dout, d_rows, d_start, d_id, groups, C, NULL, &err));
    llm_cu_free(d_rows), llm_cu_free(d_start), llm_cu_free(d_id);
    llm_cuda_group_rows(pos, N, T, count, rows, start, id, &groups);
    d_rows = dev_i32(rows, N), d_start = dev_i32(start, (size_t)groups + 1), d_id = dev_i32(id, groups);
    OK(llm_cuda_embed_backward(d_wpe, d_dout, d_rows, d_start, d_id, groups, C, NULL, &err));
    llm_cu_free(d_rows), llm_cu_free(d_start), llm_cu_free(d_id);
    OK(llm_cu_get_f32(gwte, d_wte, (size_t)V * C, &err));
    OK(llm_cu_get_f32(gwpe, d_wpe, (size_t)T * C, &err));
    llm_embed_backward(dwte, dwpe, dout, tok, pos, N, T, C);
    CHECK_CLOSE("embed backward wte", gwte, dwte, (size_t)V * C, TOL_F32);
    CHECK_CLOSE("embed backward wpe", gwpe, dwpe, (size_t)T * C, TOL_F32);
    llm_cu_free(d_wte), llm_cu_free(d_wpe), llm_cu_free(d_out), llm_cu_free(d_dout), llm_cu_free(d_tok);
    llm_cu_free(d_pos);
    free(wte), free(wpe), free(out), free(ref), free(dout), free(dwte), free(dwpe), free(gwte), free(gwpe);
}

/* The host half of the embeddings' backward (runs without a GPU): every row in exactly one
 * group, of its own index, groups in ascending index order, rows ascending inside. */
static void group_rows(void)
{
    enum { N = 500, V = 37 };
    int32_t index[N], count[V + 1], rows[N], start[N + 1], id[N], seen[N] = {0};
    int groups;
    for (int n = 0; n < N; n++)
        index[n] = (int32_t)llm_rng_below(&cuda_rng, n % 3 ? V : 5);    /* some indices often, some never */
    llm_cuda_group_rows(index, N, V, count, rows, start, id, &groups);
    CHECK(groups >= 1 && groups <= V && start[0] == 0 && start[groups] == N);
    for (int g = 0; g < groups; g++) {
        CHECK(start[g + 1] > start[g] && (g == 0 || id[g] > id[g - 1]));
        for (int r = start[g]; r < start[g + 1]; r++) {
            CHECK(index[rows[r]] == id[g] && (r == start[g] || rows[r] > rows[r - 1]));
            seen[rows[r]]++;
        }
    }
    for (int n = 0; n < N; n++)
        CHECK(seen[n] == 1);
}

/* ---- LayerNorm ---- */

static void layernorm(void)
{
    enum { N = 600, C = 72 };    /* N: the column sums' slabs, the last one partial */
    size_t nc = (size_t)N * C;
    float *x = malloc(nc * 4), *w = malloc(C * 4), *b = malloc(C * 4), *ref = malloc(nc * 4), *out = malloc(nc * 4);
    float mean[N], rstd[N], gmean[N], grstd[N];
    float *dout = malloc(nc * 4), *dx = malloc(nc * 4), *gdx = malloc(nc * 4);
    float dw[C], db[C], gdw[C], gdb[C];
    cuda_fill(x, nc, 2.0);
    for (size_t i = 0; i < nc; i++)
        x[i] += 0.5f;    /* a mean away from 0 */
    cuda_fill(w, C, 1.0);
    cuda_fill(b, C, 1.0);
    cuda_fill(dout, nc, 1.0);
    cuda_fill(dx, nc, 1.0);
    cuda_fill(dw, C, 1.0);
    cuda_fill(db, C, 1.0);
    float *d_x = dev_f32(x, nc), *d_w = dev_f32(w, C), *d_b = dev_f32(b, C);
    float *d_mean = llm_cu_alloc(N * 4, &err), *d_rstd = llm_cu_alloc(N * 4, &err);
    llm_bf16 *d_out = llm_cu_alloc(nc * 2, &err);
    OK(llm_cuda_layernorm_forward(d_out, d_mean, d_rstd, d_x, d_w, d_b, N, C, 1e-5f, NULL, &err));
    OK(llm_cu_get_bf16(out, d_out, nc, &err));
    OK(llm_cu_get_f32(gmean, d_mean, N, &err));
    OK(llm_cu_get_f32(grstd, d_rstd, N, &err));
    llm_layernorm_forward(ref, mean, rstd, x, w, b, N, C, 1e-5f);
    CHECK_CLOSE("layernorm out", out, ref, nc, TOL_BF16);
    CHECK_ROWS_CLOSE("layernorm out", out, ref, nc, C, TOL_BF16);
    CHECK_CLOSE("layernorm mean", gmean, mean, N, TOL_F32);
    CHECK_CLOSE("layernorm rstd", grstd, rstd, N, TOL_F32);
    /* recompute from the statistics gives the same output */
    OK(llm_cuda_layernorm_apply(d_out, d_mean, d_rstd, d_x, d_w, d_b, N, C, NULL, &err));
    OK(llm_cu_get_bf16(out, d_out, nc, &err));
    CHECK_CLOSE("layernorm apply", out, ref, nc, TOL_BF16);
    /* backward, with a scale of 0.5 on dout */
    float *d_dout = dev_f32(dout, nc), *d_dx = dev_f32(dx, nc), *d_dw = dev_f32(dw, C), *d_db = dev_f32(db, C);
    float *d_scratch = llm_cu_alloc(llm_cuda_colsum_scratch(N, 2 * C) * 4, &err);
    llm_bf16 *d_dx_bf = llm_cu_alloc(nc * 2, &err);
    OK(llm_cuda_layernorm_backward(d_dx, d_dx_bf, d_dw, d_db, d_dout, 0.5f, d_x, d_mean, d_rstd, d_w, N, C, d_scratch,
                                   NULL, &err));
    OK(llm_cu_get_f32(gdx, d_dx, nc, &err));
    OK(llm_cu_get_bf16(out, d_dx_bf, nc, &err));
    OK(llm_cu_get_f32(gdw, d_dw, C, &err));
    OK(llm_cu_get_f32(gdb, d_db, C, &err));
    for (size_t i = 0; i < nc; i++)
        dout[i] *= 0.5f;
    llm_layernorm_backward_acc(dx, dw, db, dout, x, mean, rstd, w, N, C);
    CHECK_CLOSE("layernorm dx", gdx, dx, nc, 1e-4);
    CHECK_ROWS_CLOSE("layernorm dx", gdx, dx, nc, C, 1e-4);
    CHECK_CLOSE("layernorm dx in bf16", out, dx, nc, TOL_BF16);
    CHECK_CLOSE("layernorm dw", gdw, dw, C, 1e-4);
    CHECK_CLOSE("layernorm db", gdb, db, C, 1e-4);
    llm_cu_free(d_x), llm_cu_free(d_w), llm_cu_free(d_b), llm_cu_free(d_mean), llm_cu_free(d_rstd);
    llm_cu_free(d_out), llm_cu_free(d_dout), llm_cu_free(d_dx), llm_cu_free(d_dw), llm_cu_free(d_db);
    llm_cu_free(d_scratch), llm_cu_free(d_dx_bf);
    free(x), free(w), free(b), free(ref), free(out), free(dout), free(dx), free(gdx);
}

/* ---- GELU and bias gradients ---- */

static void gelu(void)
{
    size_t n = 3000;
    float *x = malloc(n * 4), *d = malloc(n * 4), *ref = malloc(n * 4), *out = malloc(n * 4);
    cuda_fill(x, n, 4.0);
    cuda_fill(d, n, 1.0);
    bf16_round_all(x, n);
    bf16_round_all(d, n);
    llm_bf16 *d_x = dev_bf16(x, n), *d_d = dev_bf16(d, n), *d_out = llm_cu_alloc(n * 2, &err);
    OK(llm_cuda_gelu_forward(d_out, d_x, n, NULL, &err));
    OK(llm_cu_get_bf16(out, d_out, n, &err));
    llm_gelu_forward(ref, x, (int)n);
    CHECK_CLOSE("gelu forward", out, ref, n, TOL_BF16);
    OK(llm_cuda_gelu_backward(d_out, d_x, d_d, n, NULL, &err));
    OK(llm_cu_get_bf16(out, d_out, n, &err));
    llm_gelu_backward(ref, x, d, (int)n);
    CHECK_CLOSE("gelu backward", out, ref, n, TOL_BF16);
    llm_cu_free(d_x), llm_cu_free(d_d), llm_cu_free(d_out);
    free(x), free(d), free(ref), free(out);
}

static void bias_backward(void)
{
    enum { N = 600, OC = 70 };    /* N: three slabs, the last one partial */
    size_t n = (size_t)N * OC;
    float *d = malloc(n * 4), db[OC], gdb[OC], gdb32[OC];
    cuda_fill(d, n, 1.0);
    bf16_round_all(d, n);
    cuda_fill(db, OC, 1.0);
    llm_bf16 *d_d = dev_bf16(d, n);
    float *d_d32 = dev_f32(d, n), *d_db = dev_f32(db, OC), *d_db32 = dev_f32(db, OC);
    float *d_scratch = llm_cu_alloc(llm_cuda_colsum_scratch(N, OC) * 4, &err);
    OK(llm_cuda_bias_backward(d_db, d_d, N, OC, d_scratch, NULL, &err));
    OK(llm_cuda_bias_backward_f32(d_db32, d_d32, N, OC, d_scratch, NULL, &err));
    OK(llm_cu_get_f32(gdb, d_db, OC, &err));
    OK(llm_cu_get_f32(gdb32, d_db32, OC, &err));
    for (int r = 0; r < N; r++)
        for (int o = 0; o < OC; o++)
            db[o] += d[(size_t)r * OC + o];
    CHECK_CLOSE("bias backward (bf16 rows)", gdb, db, OC, 1e-5);
    CHECK_CLOSE("bias backward (fp32 rows)", gdb32, db, OC, 1e-5);
    llm_cu_free(d_d), llm_cu_free(d_d32), llm_cu_free(d_db), llm_cu_free(d_db32), llm_cu_free(d_scratch);
    free(d);
}

/* ---- attention ---- */

/* The device's attention, forward and backward, against the CPU's, for documents at the
 * positions pos (B x T) gives. */
static void attention_check(int B, int T, int C, int NH, const int32_t *pos)
{
    size_t n3 = (size_t)B * T * 3 * C, nc = (size_t)B * T * C;
    float *qkv = malloc(n3 * 4), *dout = malloc(nc * 4), *ref = malloc(nc * 4), *out = malloc(nc * 4);
    float *att = malloc((size_t)B * NH * T * T * 4), *scratch = malloc((size_t)llm_attention_scratch(T, 64) * 4);
    float *dref = malloc(n3 * 4), *dgot = malloc(n3 * 4), *dfp32 = malloc(n3 * 4);
    cuda_fill(qkv, n3, 2.0);
    cuda_fill(dout, nc, 1.0);
    bf16_round_all(qkv, n3);
    bf16_round_all(dout, nc);
    llm_bf16 *d_qkv = dev_bf16(qkv, n3), *d_out = llm_cu_alloc(nc * 2, &err), *d_dout = dev_bf16(dout, nc);
    llm_bf16 *d_dqkv = llm_cu_alloc(n3 * 2, &err);
    float *d_lse = llm_cu_alloc((size_t)B * NH * T * 4, &err), *d_delta = llm_cu_alloc((size_t)B * NH * T * 4, &err);
    int32_t *d_pos = dev_i32(pos, (size_t)B * T);
    llm_attention_forward(ref, att, scratch, qkv, pos, B, T, C, NH);
    llm_attention_backward(dref, dout, qkv, att, scratch, B, T, C, NH);
    /* the CUDA-core forward and backward, then the tensor-core ones where the head size allows */
    for (int mma = 0; mma <= ((C / NH) % 16 == 0); mma++) {
        const char *fwd = mma ? "attention forward (tensor cores)" : "attention forward";
        const char *bwd = mma ? "attention backward (tensor cores)" : "attention backward";
        llm_cuda_attention_use_mma(mma);
        CHECK(llm_cuda_attention_mma_wanted(C / NH) == mma);
        poison(d_out, nc * 2), poison(d_lse, (size_t)B * NH * T * 4), poison(d_dqkv, n3 * 2);
        OK(llm_cuda_attention_forward(d_out, d_lse, d_qkv, d_pos, B, T, C, NH, NULL, &err));
        OK(llm_cu_get_bf16(out, d_out, nc, &err));
        CHECK_CLOSE(fwd, out, ref, nc, TOL_BF16);
        /* and head by head, row by row: a key a row sees in error weighs on that row */
        CHECK_ROWS_CLOSE(fwd, out, ref, nc, C / NH, TOL_BF16);
        /* the backward from the device's own (bf16) output and log-sum-exp, as in training */
        OK(llm_cuda_attention_backward(d_dqkv, d_delta, d_dout, d_out, d_lse, d_qkv, d_pos, B, T, C, NH, NULL,
                                       &err));
        OK(llm_cu_get_bf16(dgot, d_dqkv, n3, &err));
        CHECK_CLOSE(bwd, dgot, dref, n3, 2 * TOL_BF16);
        if (mma) {
            /* Row by row against the CPU, the gradients differ by up to 0.14 where a row's
             * terms cancel (through delta, from the device's bf16 output); against the
             * CUDA-core backward of the same inputs by 6e-3 at most, which leaves a key
             * seen or hidden in error nowhere to hide. */
            llm_cuda_attention_use_mma(0);
            poison(d_dqkv, n3 * 2);
            OK(llm_cuda_attention_backward(d_dqkv, d_delta, d_dout, d_out, d_lse, d_qkv, d_pos, B, T, C, NH, NULL,
                                           &err));
            OK(llm_cu_get_bf16(dfp32, d_dqkv, n3, &err));
            CHECK_ROWS_CLOSE(bwd, dgot, dfp32, n3, C / NH, 2 * TOL_BF16);
        }
    }
    /* Back to the default: the tensor cores where the head size allows, unless the
     * environment asks for the reference. */
    llm_cuda_attention_use_mma(-1);
    if (!getenv("LLM_CUDA_ATTENTION"))
        CHECK(llm_cuda_attention_mma_wanted(64) && !llm_cuda_attention_mma_wanted(24) &&
              !llm_cuda_attention_mma_wanted(144));
    llm_cu_free(d_qkv), llm_cu_free(d_out), llm_cu_free(d_dout), llm_cu_free(d_dqkv), llm_cu_free(d_lse);
    llm_cu_free(d_delta), llm_cu_free(d_pos);
    free(qkv), free(dout), free(ref), free(out), free(att), free(scratch), free(dref), free(dgot), free(dfp32);
}

/* documents: 0 one document a row, else a new one starts at each position with chance 1 / documents */
static void attention_case(int B, int T, int C, int NH, int documents)
{
    int32_t *pos = malloc((size_t)B * T * 4);
    for (int b = 0; b < B; b++)
        for (int t = 0, p = 0; t < T; t++, p++) {
            if (documents && t > 0 && llm_rng_below(&cuda_rng, documents) == 0)
                p = 0;    /* a new document */
            pos[b * T + t] = p;
        }
    attention_check(B, T, C, NH, pos);
    free(pos);
}

static void attention_causal(void) { attention_case(2, 70, 64, 4, 0); }          /* head size 16 */
static void attention_documents(void) { attention_case(3, 100, 128, 2, 9); }    /* head size 64 */
static void attention_wide_heads(void) { attention_case(1, 40, 256, 2, 9); }    /* head size 128 */
static void attention_odd_heads(void) { attention_case(2, 150, 120, 5, 9); }    /* head size 24: no tensor cores */
/* several blocks and tiles of the tensor-core kernels, T a multiple of neither:
 * short documents (many boundaries inside a tile, some of one position), then
 * long ones (a key block's queries run over several tiles and stop at a boundary) */
static void attention_short_documents(void) { attention_case(2, 333, 128, 2, 3); }    /* head size 64 */
static void attention_long_documents(void) { attention_case(1, 301, 192, 6, 80); }    /* head size 32 */
/* an odd number of 16-wide steps along the head: head size 80 (16 rows a warp, over three
 * blocks), then 48 (32 rows a warp, two blocks a row, B = 2) */
static void attention_odd_head_steps(void)
{
    attention_case(1, 150, 160, 2, 20);
    attention_case(2, 170, 96, 2, 13);
}
/* one document a row, long enough for a block to stream five tiles or more: each tile's
 * buffer is refilled while the next is in use (head size 64, 32 rows a warp, then 128, 16) */
static void attention_many_tiles(void)
{
    attention_case(1, 280, 128, 2, 0);
    attention_case(1, 200, 256, 2, 0);
}
/* Documents placed where the tensor-core kernels' test for a tile that needs no mask is
 * one key or one row from wrong (head size 64: blocks of 128 rows, m16 tiles of 16 rows, key
 * tiles of 64 in the forward and 32 for dQ, query tiles of 32 for dK and dV).
 * - Documents from 0, 2 and 259: the block from 128 streams keys from 2, so key tiles end
 *   at 193, one past the first row of the m16 tile from 192; the block from 256 streams
 *   keys from 2 too, so a tile starts at 258, one before the document of the m16 tiles
 *   from 336.
 * - From 0, 17 and 207: row 207 is the last of the m16 tile from 192, whose other rows
 *   see keys from 17; the query tile from 32 lies in the document from 17, one after the
 *   m16 tile of keys from 16.
 * - From 0 and 127: the last query of the tile from 96 starts a document, the others see
 *   the keys from 64. */
static void attention_mask_edges(void)
{
    enum { B = 3, T = 400 };
    static const int starts[B][4] = {{0, 2, 259, T}, {0, 17, 207, T}, {0, 127, T, T}};
    int32_t pos[B * T];
    for (int b = 0; b < B; b++)
        for (int t = 0, d = 0; t < T; t++) {
            if (t == starts[b][d + 1])
                d++;
            pos[b * T + t] = t - starts[b][d];
        }
    attention_check(B, T, 128, 2, pos);
}

/* ---- cross-entropy ---- */

static void crossentropy_case(float smoothing)
{
    /* Rows longer than the block's 512 threads, so that each thread's statistics grow over
     * several elements; ties between maxima (the first index wins) in some rows. */
    int N = 20, V = 5000, ld = 5056;
    float *logits = malloc((size_t)N * ld * 4), *ref = malloc((size_t)N * V * 4), *dl = malloc((size_t)N * ld * 4);
    float losses[20], lse[20], glosses[20], glse[20];
    uint8_t correct[20], gcorrect[20];
    int32_t targets[20];
    cuda_fill(logits, (size_t)N * ld, 5.0);
    bf16_round_all(logits, (size_t)N * ld);    /* the device's logits are bf16 */
    for (int n = 0; n < N; n++) {
        float *row = logits + (size_t)n * ld;
        targets[n] = n % 7 == 3 ? -1 : (int32_t)llm_rng_below(&cuda_rng, (uint64_t)V);
        if (n % 5 == 0 && targets[n] >= 0)
            row[targets[n]] = 9.0f;    /* some right answers */
        if (n % 4 == 1) {    /* a tie: the target loses to an earlier maximum, or wins */
            row[n * 13] = 9.0f;
            row[n * 13 + 1 + n % 3] = 9.0f;
            targets[n] = n * 13 + (n % 8 == 1 ? 0 : 1 + n % 3);
        }
        memcpy(ref + (size_t)n * V, row, (size_t)V * 4);
    }
    llm_bf16 *d_logits = dev_bf16(logits, (size_t)N * ld);
    float *d_losses = llm_cu_alloc(N * 4, &err), *d_lse = llm_cu_alloc(N * 4, &err);
    uint8_t *d_correct = llm_cu_alloc(N, &err);
    int32_t *d_targets = dev_i32(targets, N);
    llm_crossentropy_forward(losses, lse, correct, ref, targets, smoothing, N, V);
    /* Without the gradient the logits stay; with it, it replaces them. */
    for (int gradient = 0; gradient <= 1; gradient++) {
        OK(llm_cuda_crossentropy(d_losses, d_lse, d_correct, d_logits, gradient, d_targets, smoothing, N, V, ld,
                                 NULL, &err));
        OK(llm_cu_get_f32(glosses, d_losses, N, &err));
        OK(llm_cu_get_f32(glse, d_lse, N, &err));
        OK(llm_cu_get_bf16(dl, d_logits, (size_t)N * ld, &err));
        OK(llm_cu_sync(&err));
        OK(llm_cu_get_bytes(gcorrect, d_correct, N, &err));
        CHECK_CLOSE("cross-entropy losses", glosses, losses, N, TOL_F32);
        CHECK_CLOSE("cross-entropy lse", glse, lse, N, TOL_F32);
        CHECK(memcmp(gcorrect, correct, N) == 0);
        if (!gradient)
            CHECK(memcmp(dl, logits, (size_t)N * ld * 4) == 0);
    }
    CHECK(correct[1] == 1 && correct[5] == 0);    /* the ties went both ways */
    llm_crossentropy_backward(ref, lse, targets, smoothing, 1.0f, N, V);
    for (int n = 0; n < N; n++)    /* compact the device's rows */
        memmove(dl + (size_t)n * V, dl + (size_t)n * ld, (size_t)V * 4);
    CHECK_CLOSE("cross-entropy gradient", dl, ref, (size_t)N * V, TOL_BF16);
    CHECK_ROWS_CLOSE("cross-entropy gradient", dl, ref, (size_t)N * V, V, TOL_BF16);
    llm_cu_free(d_logits), llm_cu_free(d_losses), llm_cu_free(d_lse), llm_cu_free(d_correct);
    llm_cu_free(d_targets);
    free(logits), free(ref), free(dl);
}

static void crossentropy(void) { crossentropy_case(0.0f); }
static void crossentropy_label_smoothing(void) { crossentropy_case(0.1f); }

/* ---- the optimizer ---- */

static void adamw_clip(void)
{
    size_t n = 100000;
    llm_adamw_config cfg = {0.9f, 0.95f, 1e-8f, 0.1f};
    llm_adamw *o = llm_adamw_new(&cfg, n, &err);
    float *p = malloc(n * 4), *g = malloc(n * 4), *gp = malloc(n * 4), *gm = malloc(n * 4), *gv = malloc(n * 4);
    cuda_fill(p, n, 1.0);
    cuda_fill(g, n, 0.1);
    cuda_fill(o->m, n, 0.01);
    for (size_t i = 0; i < n; i++)
        o->v[i] = (float)(llm_rng_double(&cuda_rng) * 1e-3 + 1e-6);
    o->step = 4;
    float *d_p = dev_f32(p, n), *d_g = dev_f32(g, n), *d_m = dev_f32(o->m, n), *d_v = dev_f32(o->v, n);
    llm_bf16 *d_pb = llm_cu_alloc(n * 2, &err);
    double *d_sumsq = llm_cu_alloc(8, &err), *d_parts = llm_cu_alloc((size_t)llm_cuda_norm_parts() * 8, &err);
    OK(llm_cuda_grad_sumsq(d_sumsq, d_parts, d_g, n, NULL, &err));
    double lr = 1e-3, max_norm = 1.0, sumsq = 0;
    OK(llm_cu_sync(&err));
    OK(llm_cu_get_bytes(&sumsq, d_sumsq, sizeof sumsq, &err));
    /* the factors as llm_adamw_step computes them */
    int64_t step = o->step + 1;
    double bc1 = 1.0 - pow(cfg.beta1, (double)step), bc2 = 1.0 - pow(cfg.beta2, (double)step);
    /* two tensors: the first decayed, the second not */
    llm_tensor_desc t[2] = {{.name = "w", .ndim = 1, .shape = {(int64_t)n / 3, 0}, .offset = 0, .decay = 1},
                            {.name = "b", .ndim = 1, .shape = {(int64_t)(n - n / 3), 0}, .offset = n / 3}};
    uint64_t ranges[3] = {0, n / 3, n};
    uint8_t decays[2] = {1, 0};
    uint64_t *d_ranges = llm_cu_alloc(sizeof ranges, &err);
    uint8_t *d_decays = llm_cu_alloc(sizeof decays, &err);
    OK(llm_cu_put_bytes(d_ranges, ranges, sizeof ranges, &err));
    OK(llm_cu_put_bytes(d_decays, decays, sizeof decays, &err));
    OK(llm_cuda_adamw(d_p, d_pb, d_g, d_m, d_v, n, d_ranges, d_decays, 2, d_sumsq, (float)max_norm, cfg.beta1,
                      cfg.beta2, cfg.eps, (float)(1.0 - lr * cfg.weight_decay), (float)(lr / bc1), (float)sqrt(bc2),
                      NULL, &err));
    llm_cu_free(d_ranges), llm_cu_free(d_decays);
    OK(llm_cu_get_f32(gp, d_p, n, &err));
    OK(llm_cu_get_f32(gm, d_m, n, &err));
    OK(llm_cu_get_f32(gv, d_v, n, &err));
    double norm = llm_clip_grad_norm(g, n, max_norm);
    CHECKF(fabs(sqrt(sumsq) - norm) <= 1e-9 * norm, "norm %.17g on the GPU, %.17g on the CPU", sqrt(sumsq), norm);
    llm_adamw_step(o, p, g, t, 2, lr);
    CHECK_CLOSE("adamw params", gp, p, n, 1e-6);
    CHECK_CLOSE("adamw m", gm, o->m, n, 1e-6);
    CHECK_CLOSE("adamw v", gv, o->v, n, 1e-6);
    float *pb = malloc(n * 4);
    OK(llm_cu_get_bf16(pb, d_pb, n, &err));
    CHECK_CLOSE("adamw bf16 copy", pb, p, n, TOL_BF16);
    llm_cu_free(d_p), llm_cu_free(d_g), llm_cu_free(d_m), llm_cu_free(d_v), llm_cu_free(d_pb);
    llm_cu_free(d_sumsq), llm_cu_free(d_parts);
    llm_adamw_free(o);
    free(p), free(g), free(gp), free(gm), free(gv), free(pb);
}

#endif

int main(void)
{
#if LLM_CUDA
    llm_rng_seed(&cuda_rng, 1234);
    RUN(group_rows);
#endif
    if (cuda_skip())
        CHECK_EXIT();
#if LLM_CUDA
    RUN(matmul_plain);
    RUN(matmul_transposes);
    RUN(matmul_bias_bf16);
    RUN(matmul_bias_residual);
    RUN(matmul_gelu_fused);
    RUN(matmul_gelu_kernel);
    RUN(matmul_gelu_odd_width);
    RUN(embed);
    RUN(layernorm);
    RUN(gelu);
    RUN(bias_backward);
    RUN(attention_causal);
    RUN(attention_documents);
    RUN(attention_wide_heads);
    RUN(attention_odd_heads);
    RUN(attention_short_documents);
    RUN(attention_long_documents);
    RUN(attention_odd_head_steps);
    RUN(attention_many_tiles);
    RUN(attention_mask_edges);
    RUN(crossentropy);
    RUN(crossentropy_label_smoothing);
    RUN(adamw_clip);
#endif
    CHECK_EXIT();
}

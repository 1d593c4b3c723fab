/* The transformer layers on the CPU (see ops_cpu.h): matrix products through OpenBLAS, the
 * rest as plain loops over rows or columns on OpenMP threads. Sums over rows (bias and norm
 * weight gradients, embedding gradients) are split by columns, so each one is added in row
 * order on one thread and the bits do not depend on the thread count. */
#include "ops_cpu.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "noise.h"

/* ---- exp and tanh on vectors ------------------------------------------------------------ */

/* e^x within about 2 ulp for x in [-87, 88] (clamped there; below, softmax's terms are 0
 * anyway): 2^k times a polynomial on the remainder (Cody-Waite split of ln 2, Cephes's
 * coefficients). Branch-free and built from vectorizable operations, so the `omp simd`
 * loops below run 8 at a time where libm's expf would go one by one. */
static inline float vexpf(float x)
{
    /* k comes from a clamp that takes NaN to -87, so that it is always a small integer (a
     * NaN or an out-of-range k would make the exponent's conversion and shift undefined);
     * r keeps a NaN, so that NaN in gives NaN out, which the loss checks rely on. */
    float clamped = fminf(fmaxf(x, -87.0f), 88.0f);
    x = isnan(x) ? x : clamped;
    float k = floorf(clamped * 1.44269504088896341f + 0.5f);
    float r = x - k * 0.693359375f - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh through e^2u: exact to a few 1e-7 absolute, which is what GELU needs. */
static inline float vtanhf(float u) { return 1.0f - 2.0f / (vexpf(2.0f * u) + 1.0f); }

/* ---- matrix product ------------------------------------------------------------------- */

/* OpenBLAS threads of its own would fight ours: every product runs single-threaded inside
 * the caller's OpenMP threads. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }
static void blas_init(void) { pthread_once(&blas_once, blas_single_thread); }

static void sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

/* [lo, hi) of part `i` of `parts` over n, cut at multiples of 16 so vectors stay whole. */
static void split(int n, int parts, int i, int *lo, int *hi)
{
    int chunk = ((n + parts - 1) / parts + 15) & ~15;
    *lo = i * chunk < n ? i * chunk : n;
    *hi = *lo + chunk < n ? *lo + chunk : n;
}

void llm_gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    blas_init();
    int threads = omp_get_max_threads();
    if (threads == 1 || (double)M * N * K < 1e6 || omp_in_parallel()) {
        sgemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), lo, hi;
        if (M >= N) {    /* rows of C: rows of op(A) */
            split(M, nt, omp_get_thread_num(), &lo, &hi);
            const float *a = trans_a ? A + lo : A + (size_t)lo * lda;
            if (hi > lo)
                sgemm(trans_a, trans_b, hi - lo, N, K, a, lda, B, ldb, beta, C + (size_t)lo * ldc, ldc);
        } else {         /* columns of C: columns of op(B) */
            split(N, nt, omp_get_thread_num(), &lo, &hi);
            const float *b = trans_b ? B + (size_t)lo * ldb : B + lo;
            if (hi > lo)
                sgemm(trans_a, trans_b, M, hi - lo, K, A, lda, b, ldb, beta, C + lo, ldc);
        }
    }
}

/* ---- embeddings ------------------------------------------------------------------------ */

void llm_embed_forward(float *out, const int32_t *tokens, const int32_t *pos, const float *wte,
                       const float *wpe, int N, int T, int C, float noise_scale, uint64_t noise_key)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *e = wte + (size_t)tokens[n] * C;
        const float *p = wpe + (size_t)(pos ? pos[n] : n % T) * C;
        float *o = out + (size_t)n * C;
        if (noise_scale != 0)
            for (int c = 0; c < C; c++)
                o[c] = (e[c] + noise_scale * llm_noise_unit(noise_key, (uint64_t)n * C + c)) + p[c];
        else
            for (int c = 0; c < C; c++)
                o[c] = e[c] + p[c];
    }
}

void llm_embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                        const int32_t *pos, int N, int T, int C)
{
    /* Rows may share a token: each thread owns a band of columns and goes through the rows
     * in order. */
#pragma omp parallel
    {
        int lo, hi;
        split(C, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * C;
            float *e = dwte + (size_t)tokens[n] * C;
            float *p = dwpe + (size_t)(pos ? pos[n] : n % T) * C;
            for (int c = lo; c < hi; c++) {
                e[c] += d[c];
                p[c] += d[c];
            }
        }
    }
}

/* ---- layer norm ------------------------------------------------------------------------ */

void llm_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float m = 0.0f, v = 0.0f;
        for (int c = 0; c < C; c++)
            m += x[c];
        m /= (float)C;
        for (int c = 0; c < C; c++)
            v += (x[c] - m) * (x[c] - m);
        float s = 1.0f / sqrtf(v / (float)C + eps);
        for (int c = 0; c < C; c++)
            o[c] = (x[c] - m) * s * w[c] + b[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

void llm_layernorm_backward_acc(float *dinp, float *dw, float *db, const float *dout,
                                const float *inp, const float *mean, const float *rstd,
                                const float *w, int N, int C)
{
    /* dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * w */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n], g_mean = 0.0f, gx_mean = 0.0f;
        for (int c = 0; c < C; c++) {
            float g = d[c] * w[c];
            g_mean += g;
            gx_mean += g * (x[c] - m) * s;
        }
        g_mean /= (float)C;
        gx_mean /= (float)C;
        for (int c = 0; c < C; c++)
            dx[c] += s * (d[c] * w[c] - g_mean - (x[c] - m) * s * gx_mean);
    }
#pragma omp parallel
    {
        int lo, hi;
        split(C, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
            float m = mean[n], s = rstd[n];
            for (int c = lo; c < hi; c++) {
                dw[c] += d[c] * (x[c] - m) * s;
                db[c] += d[c];
            }
        }
    }
}

/* ---- linear (Conv1D) ------------------------------------------------------------------- */

/* out = base + inp @ w + b (base, b may be NULL; base may be out): each thread fills its band
 * of rows and multiplies into it, one parallel region for the whole layer. */
static void linear_rows(float *out, const float *base, const float *inp, const float *w,
                        const float *b, int N, int IC, int OC)
{
    blas_init();
#pragma omp parallel
    {
        int lo, hi;
        split(N, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int n = lo; n < hi; n++) {
            float *o = out + (size_t)n * OC;
            const float *r = base ? base + (size_t)n * OC : NULL;
            for (int j = 0; j < OC; j++)
                o[j] = (r ? r[j] : 0.0f) + (b ? b[j] : 0.0f);
        }
        if (hi > lo)
            sgemm(0, 0, hi - lo, OC, IC, inp + (size_t)lo * IC, IC, w, OC, 1.0f, out + (size_t)lo * OC, OC);
    }
}

void llm_linear_forward(float *out, const float *inp, const float *w, const float *b, int N,
                        int IC, int OC)
{
    linear_rows(out, NULL, inp, w, b, N, IC, OC);
}

void llm_residual_linear_forward(float *out, const float *res, const float *inp, const float *w,
                                 const float *b, int N, int IC, int OC)
{
    linear_rows(out, res, inp, w, b, N, IC, OC);
}

static void sum_rows_acc(float *db, const float *dout, int N, int OC)
{
#pragma omp parallel
    {
        int lo, hi;
        split(OC, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * OC;
            for (int o = lo; o < hi; o++)
                db[o] += d[o];
        }
    }
}

void llm_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, int N, int IC, int OC)
{
    if (dinp)
        llm_gemm(0, 1, N, IC, OC, dout, OC, w, OC, 0.0f, dinp, IC);
    llm_gemm(1, 0, IC, OC, N, inp, IC, dout, OC, 1.0f, dw, OC);
    if (db)
        sum_rows_acc(db, dout, N, OC);
}

/* ---- GELU ------------------------------------------------------------------------------ */

#define GELU_K 0.7978845608028654f    /* sqrt(2 / pi) */

void llm_gelu_forward(float *out, const float *inp, int n)
{
#pragma omp parallel for simd schedule(static)
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + vtanhf(GELU_K * (x + 0.044715f * x * x * x)));
    }
}

void llm_gelu_backward(float *dinp, const float *inp, const float *dout, int n)
{
#pragma omp parallel for simd schedule(static)
    for (int i = 0; i < n; i++) {
        float x = inp[i];
        float t = vtanhf(GELU_K * (x + 0.044715f * x * x * x));
        float dt = (1.0f - t * t) * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * x * dt);
    }
}

/* ---- attention ------------------------------------------------------------------------- */

/* Softmax of row t of the scores over its keys lo..t; the other entries become 0. */
static void causal_softmax_row(float *row, int lo, int t, int T)
{
    float mx = -INFINITY, sum = 0.0f;
    for (int s = lo; s <= t; s++)
        mx = row[s] > mx ? row[s] : mx;
#pragma omp simd reduction(+ : sum)
    for (int s = lo; s <= t; s++) {
        row[s] = vexpf(row[s] - mx);
        sum += row[s];
    }
    float inv = 1.0f / sum;
    for (int s = lo; s <= t; s++)
        row[s] *= inv;
    memset(row, 0, (size_t)lo * sizeof *row);
    memset(row + t + 1, 0, (size_t)(T - t - 1) * sizeof *row);
}

void llm_attention_forward(float *out, float *att, float *scratch, const float *qkv,
                           const int32_t *pos, int B, int T, int C, int NH)
{
    blas_init();
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    /* One (batch, head) per task: the products are small and run whole on one thread; the
     * upper triangle is computed and then zeroed, which costs less than many small calls. */
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
        float *a = att ? att + (size_t)bh * T * T : scratch + (size_t)omp_get_thread_num() * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, C3, k, C3,
                    0.0f, a, T);
        for (int t = 0; t < T; t++)
            causal_softmax_row(a + (size_t)t * T, pos ? t - pos[b * T + t] : 0, t, T);
        sgemm(0, 0, T, hs, T, a, T, v, C3, 0.0f, out + (size_t)b * T * C + h * hs, C);
    }
}

void llm_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                            float *scratch, int B, int T, int C, int NH)
{
    blas_init();
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
        const float *p = att + (size_t)bh * T * T, *dout_bh = dout + (size_t)b * T * C + h * hs;
        float *dq = dqkv + (size_t)b * T * C3 + h * hs, *dk = dq + C, *dv = dq + 2 * C;
        float *ds = scratch + (size_t)omp_get_thread_num() * T * T;
        sgemm(0, 1, T, T, hs, dout_bh, C, v, C3, 0.0f, ds, T);      /* dP = dO V^T */
        sgemm(1, 0, T, hs, T, p, T, dout_bh, C, 0.0f, dv, C3);      /* dV = P^T dO */
        /* softmax backward: dS = P * (dP - sum(P * dP)), zero where P is */
        for (int t = 0; t < T; t++) {
            const float *pr = p + (size_t)t * T;
            float *dr = ds + (size_t)t * T, dot = 0.0f;
            for (int s = 0; s <= t; s++)
                dot += pr[s] * dr[s];
            for (int s = 0; s <= t; s++)
                dr[s] = pr[s] * (dr[s] - dot) * scale;
            memset(dr + t + 1, 0, (size_t)(T - t - 1) * sizeof *dr);
        }
        sgemm(0, 0, T, hs, T, ds, T, k, C3, 0.0f, dq, C3);          /* dQ = dS K */
        sgemm(1, 0, T, hs, T, ds, T, q, C3, 0.0f, dk, C3);          /* dK = dS^T Q */
    }
}

void llm_attention_cached(float *out, const float *q, int ldq, const float *k, const float *v,
                          int n, int start, int C, int NH, float *scratch)
{
    blas_init();
    int hs = C / NH, keys = start + n;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for schedule(static)
    for (int h = 0; h < NH; h++) {
        float *a = scratch + (size_t)omp_get_thread_num() * n * keys;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, keys, hs, scale, q + h * hs, ldq,
                    k + h * hs, C, 0.0f, a, keys);
        for (int i = 0; i < n; i++)
            causal_softmax_row(a + (size_t)i * keys, 0, start + i, keys);
        sgemm(0, 0, n, hs, keys, a, keys, v + h * hs, C, 0.0f, out + h * hs, C);
    }
}

/* ---- cross-entropy --------------------------------------------------------------------- */

/* The largest of x[0..n): eight running maxima, which compilers keep in one vector
 * register (a max is exact, so the order does not matter). */
static float row_max(const float *x, int n)
{
    float m[8], mx;
    for (int j = 0; j < 8; j++)
        m[j] = -INFINITY;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    mx = m[0];
    for (int j = 1; j < 8; j++)
        mx = m[j] > mx ? m[j] : mx;
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    return mx;
}

void llm_crossentropy_forward(float *losses, float *lse, uint8_t *correct, const float *logits,
                              const int32_t *targets, float smoothing, int N, int V)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * V;
        float mx = row_max(l, V), sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++)
            sum += vexpf(l[v] - mx);
        int arg = 0;
        while (arg < V - 1 && l[arg] != mx)    /* the first maximum, as torch.argmax */
            arg++;
        lse[n] = mx + logf(sum);
        int y = targets[n];
        losses[n] = y >= 0 ? lse[n] - l[y] : 0.0f;
        correct[n] = y >= 0 && arg == y;
        if (y >= 0 && smoothing > 0.0f) {
            /* mean of -log p over the row = lse - mean of the logits */
            double total = 0.0;
#pragma omp simd reduction(+ : total)
            for (int v = 0; v < V; v++)
                total += l[v];
            losses[n] = (1.0f - smoothing) * losses[n] + smoothing * (lse[n] - (float)(total / V));
        }
    }
}

void llm_crossentropy_backward(float *logits, const float *lse, const int32_t *targets, float smoothing,
                               float scale, int N, int V)
{
    float uniform = scale * smoothing / (float)V;    /* the smoothing's share of each logit */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *l = logits + (size_t)n * V;
        int y = targets[n];
        if (y < 0) {
            memset(l, 0, (size_t)V * sizeof *l);
            continue;
        }
        float m = lse[n];
#pragma omp simd
        for (int v = 0; v < V; v++)
            l[v] = scale * vexpf(l[v] - m) - uniform;
        l[y] -= scale * (1.0f - smoothing);
    }
}

/* Every layer's backward (lib/ops_cpu.c) against central finite differences of its forward,
 * on small random inputs: the loss is sum(out * R) for a fixed random R, summed in double.
 * With h = 1e-3 in float, rounding costs about 1e-4 absolute in a difference quotient, so a
 * gradient passes when |analytic - numeric| <= 5e-4 + 2e-3 * max|analytic| (seen: 2.3e-4 at
 * most, on gradients near 1). Plus the matrix product's thread split against a plain
 * double product. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "noise.h"
#include "ops_cpu.h"
#include "rng.h"

static llm_rng rng;

static void fill(float *p, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((llm_rng_double(&rng) * 2.0 - 1.0) * scale);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* The forward under test: returns sum(out * R) for the current inputs. */
typedef double (*loss_fn)(void *ctx);

/* Compares grad (n values for x) with central differences of f; returns 1 when close. */
static int grad_ok(const char *what, float *x, const float *grad, size_t n, loss_fn f, void *ctx)
{
    const float h = 1e-3f;
    double worst = 0.0, gmax = 0.0;
    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(grad[i]));
    for (size_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double up = f(ctx);
        x[i] = keep - h;
        double down = f(ctx);
        x[i] = keep;
        double num = (up - down) / (2.0 * h);
        worst = fmax(worst, fabs(num - grad[i]));
    }
    int ok = worst <= 5e-4 + 2e-3 * gmax;
    if (!ok || getenv("GRAD_VERBOSE"))
        fprintf(stderr, "%s: worst |analytic - numeric| %.3g, max |grad| %.3g\n", what, worst, gmax);
    return ok;
}

/* ---- layer norm ---- */

enum { LN_N = 5, LN_C = 8 };
typedef struct { float x[LN_N * LN_C], w[LN_C], b[LN_C], r[LN_N * LN_C], out[LN_N * LN_C], mean[LN_N], rstd[LN_N]; } ln_ctx;

static double ln_loss(void *p)
{
    ln_ctx *c = p;
    llm_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, LN_N, LN_C, 1e-5f);
    return dot(c->out, c->r, LN_N * LN_C);
}

static void test_layernorm_backward(void)
{
    ln_ctx c;
    fill(c.x, LN_N * LN_C, 2.0);
    fill(c.w, LN_C, 1.0);
    fill(c.b, LN_C, 1.0);
    fill(c.r, LN_N * LN_C, 1.0);
    ln_loss(&c);
    float dx[LN_N * LN_C], dw[LN_C], db[LN_C];
    for (size_t i = 0; i < LN_N * LN_C; i++)
        dx[i] = 0.5f;    /* accumulates: subtracted below */
    memset(dw, 0, sizeof dw);
    memset(db, 0, sizeof db);
    llm_layernorm_backward_acc(dx, dw, db, c.r, c.x, c.mean, c.rstd, c.w, LN_N, LN_C);
    for (size_t i = 0; i < LN_N * LN_C; i++)
        dx[i] -= 0.5f;
    CHECK(grad_ok("layernorm dx", c.x, dx, LN_N * LN_C, ln_loss, &c));
    CHECK(grad_ok("layernorm dw", c.w, dw, LN_C, ln_loss, &c));
    CHECK(grad_ok("layernorm db", c.b, db, LN_C, ln_loss, &c));
}

/* ---- linear (Conv1D) ---- */

enum { LI_N = 4, LI_I = 6, LI_O = 5 };
typedef struct { float x[LI_N * LI_I], w[LI_I * LI_O], b[LI_O], r[LI_N * LI_O], out[LI_N * LI_O]; } li_ctx;

static double li_loss(void *p)
{
    li_ctx *c = p;
    llm_linear_forward(c->out, c->x, c->w, c->b, LI_N, LI_I, LI_O);
    return dot(c->out, c->r, LI_N * LI_O);
}

static void test_linear_backward(void)
{
    li_ctx c;
    fill(c.x, sizeof c.x / 4, 1.0);
    fill(c.w, sizeof c.w / 4, 1.0);
    fill(c.b, sizeof c.b / 4, 1.0);
    fill(c.r, sizeof c.r / 4, 1.0);
    li_loss(&c);
    /* y = x @ w + b, w stored (in, out) */
    for (int n = 0; n < LI_N; n++)
        for (int o = 0; o < LI_O; o++) {
            double s = c.b[o];
            for (int i = 0; i < LI_I; i++)
                s += (double)c.x[n * LI_I + i] * c.w[i * LI_O + o];
            CHECK(fabs(s - c.out[n * LI_O + o]) < 1e-5);
        }
    float dx[LI_N * LI_I], dw[LI_I * LI_O] = {0}, db[LI_O] = {0};
    llm_linear_backward(dx, dw, db, c.r, c.x, c.w, LI_N, LI_I, LI_O);
    CHECK(grad_ok("linear dx", c.x, dx, LI_N * LI_I, li_loss, &c));
    CHECK(grad_ok("linear dw", c.w, dw, LI_I * LI_O, li_loss, &c));
    CHECK(grad_ok("linear db", c.b, db, LI_O, li_loss, &c));
    float dw2[LI_I * LI_O], db2[LI_O];
    memcpy(dw2, dw, sizeof dw);
    memcpy(db2, db, sizeof db);
    llm_linear_backward(NULL, dw2, db2, c.r, c.x, c.w, LI_N, LI_I, LI_O);    /* accumulates */
    for (int i = 0; i < LI_I * LI_O; i++)
        CHECK(fabsf(dw2[i] - 2.0f * dw[i]) <= 1e-6f * (1.0f + fabsf(dw[i])));
    for (int i = 0; i < LI_O; i++)
        CHECK(fabsf(db2[i] - 2.0f * db[i]) <= 1e-6f * (1.0f + fabsf(db[i])));
}

/* ---- GELU ---- */

enum { GE_N = 64 };
typedef struct { float x[GE_N], r[GE_N], out[GE_N]; } ge_ctx;

static double ge_loss(void *p)
{
    ge_ctx *c = p;
    llm_gelu_forward(c->out, c->x, GE_N);
    return dot(c->out, c->r, GE_N);
}

static void test_gelu(void)
{
    ge_ctx c;
    fill(c.x, GE_N, 5.0);
    c.x[0] = 0.0f;
    c.x[1] = -12.0f;
    c.x[2] = 12.0f;
    fill(c.r, GE_N, 1.0);
    ge_loss(&c);
    for (int i = 0; i < GE_N; i++) {    /* the tanh formula in double */
        double x = c.x[i], y = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        CHECKF(fabs(y - c.out[i]) <= 1e-6 * (1.0 + fabs(y)), "gelu(%g) = %g, want %g", x, c.out[i], y);
    }
    float dx[GE_N];
    llm_gelu_backward(dx, c.x, c.r, GE_N);
    CHECK(grad_ok("gelu dx", c.x, dx, GE_N, ge_loss, &c));
}

/* ---- attention with document boundaries ---- */

enum { AT_B = 2, AT_T = 7, AT_C = 8, AT_NH = 2 };
typedef struct {
    float qkv[AT_B * AT_T * 3 * AT_C], r[AT_B * AT_T * AT_C], out[AT_B * AT_T * AT_C];
    float att[AT_B * AT_NH * AT_T * AT_T];
    int32_t pos[AT_B * AT_T];
    const int32_t *posp;
} at_ctx;

static double at_loss(void *p)
{
    at_ctx *c = p;
    llm_attention_forward(c->out, c->att, NULL, c->qkv, c->posp, AT_B, AT_T, AT_C, AT_NH);
    return dot(c->out, c->r, AT_B * AT_T * AT_C);
}

static void attention_case(int docs)
{
    at_ctx c;
    fill(c.qkv, sizeof c.qkv / 4, 1.5);
    fill(c.r, sizeof c.r / 4, 1.0);
    uint32_t bounds[2] = {3, 5};
    llm_positions_from_bounds(c.pos, AT_T, NULL, 0);
    llm_positions_from_bounds(c.pos + AT_T, AT_T, bounds, 2);    /* row 1: documents 0-2, 3-4, 5-6 */
    c.posp = docs ? c.pos : NULL;
    at_loss(&c);
    /* probabilities: rows sum to 1, zero after t and before the document's start */
    for (int bh = 0; bh < AT_B * AT_NH; bh++)
        for (int t = 0; t < AT_T; t++) {
            const float *a = c.att + ((size_t)bh * AT_T + t) * AT_T;
            int lo = docs ? t - c.pos[(bh / AT_NH) * AT_T + t] : 0;
            double s = 0.0;
            for (int u = 0; u < AT_T; u++) {
                s += a[u];
                if (u < lo || u > t)
                    CHECK(a[u] == 0.0f);
            }
            CHECK(fabs(s - 1.0) < 1e-5);
        }
    float dqkv[sizeof c.qkv / 4], scratch[AT_T * AT_T * 4], out2[sizeof c.out / 4];
    omp_set_num_threads(2);
    /* without keeping the probabilities (inference): the same output */
    llm_attention_forward(out2, NULL, scratch, c.qkv, c.posp, AT_B, AT_T, AT_C, AT_NH);
    CHECK(memcmp(out2, c.out, sizeof out2) == 0);
    llm_attention_backward(dqkv, c.r, c.qkv, c.att, scratch, AT_B, AT_T, AT_C, AT_NH);
    CHECK(grad_ok(docs ? "attention with documents dqkv" : "attention dqkv", c.qkv, dqkv,
                  sizeof c.qkv / 4, at_loss, &c));
    if (docs) {    /* row 1's last document never sees the keys and values of the earlier ones */
        float before[AT_T * AT_C];
        at_loss(&c);    /* grad_ok's last run had one input moved */
        memcpy(before, c.out + AT_T * AT_C, sizeof before);
        for (int k = 0; k < 3 * AT_C; k++)
            c.qkv[(AT_T + 1) * 3 * AT_C + k] += 1.0f;    /* row 1, position 1: first document */
        at_loss(&c);
        for (int t = 3; t < AT_T; t++)
            for (int k = 0; k < AT_C; k++)
                CHECKF(c.out[(AT_T + t) * AT_C + k] == before[t * AT_C + k], "t %d k %d: %.9g vs %.9g", t, k, c.out[(AT_T + t) * AT_C + k], before[t * AT_C + k]);
    }
}

static void test_attention_backward(void) { attention_case(0); }
static void test_attention_documents(void) { attention_case(1); }

/* ---- cross-entropy with masked labels ---- */

enum { CE_N = 6, CE_V = 9 };
typedef struct {
    float logits[CE_N * CE_V], losses[CE_N], lse[CE_N], smoothing;
    uint8_t correct[CE_N];
    int32_t y[CE_N];
} ce_ctx;

static double ce_loss(void *p)
{
    ce_ctx *c = p;
    llm_crossentropy_forward(c->losses, c->lse, c->correct, c->logits, c->y, c->smoothing, CE_N, CE_V);
    double s = 0.0;
    for (int n = 0; n < CE_N; n++)
        s += c->losses[n];
    return 0.25 * s;
}

/* Plain (e = 0) and label-smoothed (e = 0.1, LabelSmoother's formula written out) against
 * the sums in double, and the gradient of either against finite differences. */
static void crossentropy_case(float smoothing)
{
    ce_ctx c;
    fill(c.logits, sizeof c.logits / 4, 4.0);
    int32_t y[CE_N] = {3, -1, 0, 8, -1, 5};
    memcpy(c.y, y, sizeof y);
    c.smoothing = smoothing;
    c.logits[2 * CE_V + 0] = 9.0f;    /* row 2: argmax is the target */
    ce_loss(&c);
    for (int n = 0; n < CE_N; n++) {
        const float *l = c.logits + n * CE_V;
        double s = 0.0, neg_logp_sum = 0.0;
        int arg = 0;
        for (int v = 0; v < CE_V; v++) {
            s += exp((double)l[v]);
            arg = l[v] > l[arg] ? v : arg;
        }
        for (int v = 0; v < CE_V; v++)
            neg_logp_sum += log(s) - l[v];
        CHECK(fabs(log(s) - c.lse[n]) < 1e-5);
        double want = y[n] >= 0 ? (1 - smoothing) * (log(s) - l[y[n]]) + smoothing * neg_logp_sum / CE_V : 0.0;
        CHECKF(fabs(want - c.losses[n]) < 1e-5, "e %g row %d loss %g want %g", smoothing, n, c.losses[n], want);
        CHECK(c.correct[n] == (y[n] >= 0 && arg == y[n]));
    }
    CHECK(c.correct[2] == 1);
    float d[CE_N * CE_V];
    memcpy(d, c.logits, sizeof d);
    llm_crossentropy_backward(d, c.lse, c.y, smoothing, 0.25f, CE_N, CE_V);
    CHECK(grad_ok("cross-entropy dlogits", c.logits, d, CE_N * CE_V, ce_loss, &c));
    for (int v = 0; v < CE_V; v++)
        CHECK(d[1 * CE_V + v] == 0.0f && d[4 * CE_V + v] == 0.0f);    /* masked rows */
}

static void test_crossentropy(void) { crossentropy_case(0.0f); }
static void test_crossentropy_label_smoothing(void) { crossentropy_case(0.1f); }

/* ---- embeddings ---- */

/* NEFTune's numbers: uniform on [-1, 1) in steps of 2^-23 (mean 0, variance 1/3), the bound
 * as Trainer computes it, keys never 0. */
static void test_noise(void)
{
    enum { N = 1 << 20 };
    double sum = 0, sq = 0;
    float lo = 1, hi = -1;
    int off_grid = 0, bins[8] = {0};
    for (uint64_t i = 0; i < N; i++) {
        float u = llm_noise_unit(12345, i);
        sum += u;
        sq += (double)u * u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        off_grid += u * 8388608.0f != floorf(u * 8388608.0f);
        bins[(int)((u + 1) * 4)]++;
    }
    CHECKF(fabs(sum / N) < 2e-3 && fabs(sq / N - 1.0 / 3) < 2e-3, "mean %g, variance %g", sum / N, sq / N);
    CHECK(lo >= -1 && lo < -0.9999 && hi < 1 && hi > 0.9999 && !off_grid);
    for (int b = 0; b < 8; b++)
        CHECKF(abs(bins[b] - N / 8) < N / 8 / 50, "bin %d holds %d", b, bins[b]);
    CHECK(llm_noise_unit(1, 0) != llm_noise_unit(2, 0) && llm_noise_unit(1, 0) != llm_noise_unit(1, 1));
    /* alpha / sqrt(T x C) in float32: 5 / sqrt(1024 x 768) */
    CHECK(llm_noise_scale(5.0, 1024, 768) == 5.0f / sqrtf(786432.0f));
    CHECK(llm_noise_key(1, 2, 3) != 0 && llm_noise_key(1, 2, 3) != llm_noise_key(1, 3, 2) &&
          llm_noise_key(1, 2, 3) == llm_noise_key(1, 2, 3));
}

static void test_embed(void)
{
    enum { N = 6, T = 3, C = 5, V = 4 };
    float wte[V * C], wpe[T * C], out[N * C], r[N * C];
    fill(wte, V * C, 1.0);
    fill(wpe, T * C, 1.0);
    fill(r, N * C, 1.0);
    int32_t tok[N] = {1, 1, 3, 0, 1, 2}, pos[N] = {0, 1, 0, 0, 0, 1};
    llm_embed_forward(out, tok, pos, wte, wpe, N, T, C, 0, 77);    /* scale 0: no noise */
    CHECK(out[4 * C + 2] == wte[1 * C + 2] + wpe[0 * C + 2]);
    llm_embed_forward(out, tok, NULL, wte, wpe, N, T, C, 0, 0);    /* positions t within rows of T */
    CHECK(out[4 * C + 2] == wte[1 * C + 2] + wpe[1 * C + 2]);
    /* NEFTune: element i's token embedding gets scale x unit(key, i) before the position's */
    float noisy[N * C], again[N * C];
    llm_embed_forward(noisy, tok, pos, wte, wpe, N, T, C, 0.25f, 77);
    int moved = 0;
    for (int i = 0; i < N * C; i++) {
        float e = wte[tok[i / C] * C + i % C], p = wpe[pos[i / C] * C + i % C];
        CHECKF(noisy[i] == (e + 0.25f * llm_noise_unit(77, (uint64_t)i)) + p, "element %d", i);
        moved += noisy[i] != e + p;
    }
    CHECK(moved > N * C * 9 / 10);
    llm_embed_forward(again, tok, pos, wte, wpe, N, T, C, 0.25f, 77);
    CHECK(memcmp(noisy, again, sizeof noisy) == 0);
    llm_embed_forward(again, tok, pos, wte, wpe, N, T, C, 0.25f, 78);
    CHECK(memcmp(noisy, again, sizeof noisy) != 0);
    float dwte[V * C] = {0}, dwpe[T * C] = {0};
    llm_embed_backward(dwte, dwpe, r, tok, pos, N, T, C);
    for (int c = 0; c < C; c++) {
        CHECK(fabsf(dwte[1 * C + c] - (r[0 * C + c] + r[1 * C + c] + r[4 * C + c])) < 1e-6f);
        CHECK(dwte[2 * C + c] == r[5 * C + c]);
        CHECK(fabsf(dwpe[0 * C + c] - (r[0 * C + c] + r[2 * C + c] + r[3 * C + c] + r[4 * C + c])) < 1e-6f);
        CHECK(dwpe[2 * C + c] == 0.0f);
    }
}

/* ---- the matrix product's thread split ---- */

static void gemm_case(int ta, int tb, int M, int N, int K, int threads)
{
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C = malloc(sizeof(float) * M * N), *C0 = malloc(sizeof(float) * M * N);
    fill(A, (size_t)M * K, 1.0);
    fill(B, (size_t)K * N, 1.0);
    fill(C0, (size_t)M * N, 1.0);
    memcpy(C, C0, sizeof(float) * M * N);
    omp_set_num_threads(threads);
    llm_gemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 1.0f, C, N);    /* C += op(A) op(B) */
    double worst = 0.0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = C0[(size_t)i * N + j];
            for (int k = 0; k < K; k++)
                s += (double)(ta ? A[(size_t)k * M + i] : A[(size_t)i * K + k]) *
                     (tb ? B[(size_t)j * K + k] : B[(size_t)k * N + j]);
            worst = fmax(worst, fabs(s - C[(size_t)i * N + j]));
        }
    CHECKF(worst < 1e-4, "gemm ta %d tb %d %dx%dx%d on %d threads: error %g", ta, tb, M, N, K, threads, worst);
    free(A);
    free(B);
    free(C);
    free(C0);
}

static void test_gemm_split(void)
{
    /* large enough to be split; M >= N splits rows, else columns */
    for (int threads = 1; threads <= 3; threads++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                gemm_case(ta, tb, 301, 97, 64, threads);
                gemm_case(ta, tb, 45, 333, 80, threads);
            }
}

int main(void)
{
    llm_rng_seed(&rng, 2024);
    RUN(test_layernorm_backward);
    RUN(test_linear_backward);
    RUN(test_gelu);
    RUN(test_attention_backward);
    RUN(test_attention_documents);
    RUN(test_crossentropy);
    RUN(test_crossentropy_label_smoothing);
    RUN(test_noise);
    RUN(test_embed);
    RUN(test_gemm_split);
    CHECK_EXIT();
}

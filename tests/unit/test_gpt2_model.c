/* The GPT-2 model of lib/model.h as a whole: the Hugging Face tensor table and parameter
 * counts of the presets, init, the whole backward against finite differences of the mean
 * loss (documents, masked labels, padding), what padding and document boundaries may not
 * change, gradient accumulation, inference plans, cached generation, vocabulary growth and
 * refused input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "rng.h"

static const llm_model_config TINY = {LLM_FAMILY_GPT2, 2, 2, 8, 8, 11};
enum { B = 2, T = 6 };

/* tokens, targets and positions of a batch with two documents in row 1, a masked prompt in
 * row 0 and padding (token 10) at the end of row 1 */
static int32_t tok[B * T] = {1, 4, 2, 7, 3, 3,    5, 9, 0, 6, 10, 10};
static int32_t tgt[B * T] = {-1, -1, 7, 3, 3, -1, 9, -1, 6, -1, -1, -1};
static int32_t pos[B * T];

static llm_model *tiny_model(int train)
{
    llm_error err;
    llm_model *m = llm_model_new(&TINY, &err);
    CHECKF(m != NULL, "%s", err.msg);
    if (!m)
        return NULL;
    llm_model_init(m, 5);
    llm_rng r;    /* biases and norm weights away from 0 and 1, so they matter */
    llm_rng_seed(&r, 6);
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].ndim == 1)
            for (size_t j = 0; j < llm_tensor_numel(&m->tensors[i]); j++)
                m->params[m->tensors[i].offset + j] += (float)(llm_rng_double(&r) - 0.5) * 0.4f;
    /* larger weights than init's 0.02, so every layer's gradient is well above rounding */
    for (size_t j = 0; j < m->n_params; j++)
        m->params[j] *= 8.0f;
    int rc = llm_model_plan(m, B, T, train, &err);
    CHECKF(rc == 0, "%s", err.msg);
    uint32_t bounds[1] = {2};
    llm_positions_from_bounds(pos, T, NULL, 0);
    llm_positions_from_bounds(pos + T, T, bounds, 1);
    return m;
}

static double mean_loss(llm_model *m, const llm_batch *b)
{
    llm_loss_stats st;
    llm_error err;
    CHECK(llm_model_forward(m, b, &st, &err) == 0);
    return st.loss_sum / (double)st.count;
}

static void test_tensor_table(void)
{
    llm_model_config c;
    CHECK(llm_model_preset("gpt2", &c) == 0 && c.n_layer == 12 && c.vocab_size == 50257);
    CHECK(llm_model_param_count(&c) == 124439808);    /* transformers' GPT2LMHeadModel */
    CHECK(llm_model_preset("gpt2-medium", &c) == 0 && llm_model_param_count(&c) == 354823168);
    CHECK(llm_model_preset("gpt2-large", &c) == 0 && llm_model_param_count(&c) == 774030080);
    CHECK(llm_model_preset("gpt2-xl", &c) == 0 && llm_model_param_count(&c) == 1557611200);
    CHECK(llm_model_preset("gpt3", &c) == -1);
    llm_model_preset("gpt2", &c);
    size_t n = llm_model_tensors(&c, NULL);
    CHECK(n == 2 + 12 * 12 + 2);
    llm_tensor_desc *t = calloc(n, sizeof *t);
    llm_model_tensors(&c, t);
    CHECK(strcmp(t[0].name, "transformer.wte.weight") == 0 && t[0].shape[0] == 50257 && t[0].shape[1] == 768);
    CHECK(strcmp(t[1].name, "transformer.wpe.weight") == 0 && t[1].shape[0] == 1024);
    CHECK(strcmp(t[4].name, "transformer.h.0.attn.c_attn.weight") == 0 && t[4].shape[0] == 768 &&
          t[4].shape[1] == 2304 && t[4].decay == 1);
    CHECK(strcmp(t[5].name, "transformer.h.0.attn.c_attn.bias") == 0 && t[5].ndim == 1 &&
          t[5].shape[0] == 2304 && t[5].decay == 0);
    CHECK(strcmp(t[12].name, "transformer.h.0.mlp.c_proj.weight") == 0 && t[12].shape[0] == 3072);
    CHECK(strcmp(t[2 + 11 * 12].name, "transformer.h.11.ln_1.weight") == 0 && t[2 + 11 * 12].decay == 0);
    CHECK(strcmp(t[n - 1].name, "transformer.ln_f.bias") == 0);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {    /* consecutive, and decay exactly on the matrices */
        CHECK(t[i].offset == off);
        CHECK(t[i].decay == (t[i].ndim == 2));
        off += llm_tensor_numel(&t[i]);
    }
    free(t);
    llm_error err;
    llm_model_config bad = TINY;
    bad.n_head = 3;
    CHECK(llm_model_new(&bad, &err) == NULL && strstr(err.msg, "heads"));
}

static void test_init(void)
{
    llm_model *m = tiny_model(0), *m2 = NULL;
    if (!m)
        return;
    llm_model_config big = {LLM_FAMILY_GPT2, 4, 4, 64, 32, 500};
    llm_error err;
    m2 = llm_model_new(&big, &err);
    llm_model_init(m2, 1);
    for (size_t i = 0; i < m2->n_tensors; i++) {
        const llm_tensor_desc *t = &m2->tensors[i];
        const float *p = m2->params + t->offset;
        size_t k = llm_tensor_numel(t);
        double s = 0, ss = 0;
        for (size_t j = 0; j < k; j++) {
            s += p[j];
            ss += (double)p[j] * p[j];
        }
        double mean = s / (double)k, sd = sqrt(ss / (double)k - mean * mean);
        if (strstr(t->name, ".bias"))
            CHECK(ss == 0.0);
        else if (t->ndim == 1)
            CHECK(mean == 1.0 && sd == 0.0);
        else {
            double want = strstr(t->name, "c_proj.weight") ? 0.02 / sqrt(8.0) : 0.02;
            CHECKF(fabs(sd - want) < 0.1 * want && fabs(mean) < 0.2 * want, "%s: sd %g want %g",
                   t->name, sd, want);
        }
    }
    float first = m2->params[0];
    llm_model_init(m2, 1);
    CHECK(m2->params[0] == first);
    llm_model_init(m2, 2);
    CHECK(m2->params[0] != first);
    llm_model_free(m2);
    llm_model_free(m);
}

/* d(mean loss)/d(param) by central differences on a few entries of every tensor. The loss is
 * near 2.5 with float rounding near 1e-7 relative, so h = 1e-3 leaves about 2e-4 of noise:
 * |analytic - numeric| <= 1e-3 + 2e-2 * |analytic| per entry. */
static void test_backward_finite_differences(void)
{
    llm_model *m = tiny_model(1);
    if (!m)
        return;
    llm_batch b = {B, T, tok, tgt, pos, 0};
    llm_loss_stats st;
    llm_error err;
    llm_model_zero_grad(m);
    CHECK(llm_model_forward(m, &b, &st, &err) == 0);
    CHECK(st.count == 5);
    CHECK(llm_model_backward(m, (double)st.count, &err) == 0);
    float *g = malloc(m->n_params * sizeof *g);
    memcpy(g, m->grads, m->n_params * sizeof *g);
    const float h = 1e-3f;
    int checked = 0, large = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const llm_tensor_desc *t = &m->tensors[i];
        size_t k = llm_tensor_numel(t);
        for (size_t s = 0; s < 4; s++) {
            size_t j = t->offset + (s * 7919 + i) % k;
            float keep = m->params[j];
            m->params[j] = keep + h;
            double up = mean_loss(m, &b);
            m->params[j] = keep - h;
            double down = mean_loss(m, &b);
            m->params[j] = keep;
            double num = (up - down) / (2.0 * h);
            CHECKF(fabs(num - g[j]) <= 1e-3 + 2e-2 * fabs(g[j]), "%s[%zu]: analytic %g numeric %g",
                   t->name, j - t->offset, g[j], num);
            checked++;
            large += fabs(g[j]) > 1e-2;
        }
    }
    CHECK(checked == 4 * (int)m->n_tensors && large > checked / 2);
    free(g);
    llm_model_free(m);
}

/* What must not matter: padded tokens, and tokens of other documents. */
static void test_padding_and_documents(void)
{
    llm_model *m = tiny_model(1);
    if (!m)
        return;
    llm_error err;
    llm_loss_stats st1, st2;
    size_t V = (size_t)TINY.vocab_size;
    llm_batch b = {B, T, tok, tgt, pos, 0};
    float *g1 = malloc(m->n_params * sizeof *g1), *l1 = malloc(B * T * V * sizeof *l1);
    llm_model_zero_grad(m);
    llm_model_forward(m, &b, &st1, &err);
    memcpy(l1, llm_model_logits(m), B * T * V * sizeof *l1);
    llm_model_backward(m, (double)st1.count, &err);
    memcpy(g1, m->grads, m->n_params * sizeof *g1);

    /* other padding ids: the same loss and gradients */
    int32_t tok2[B * T];
    memcpy(tok2, tok, sizeof tok2);
    tok2[T + 4] = 3;
    tok2[T + 5] = 1;
    llm_batch b2 = {B, T, tok2, tgt, pos, 0};
    llm_model_zero_grad(m);
    llm_model_forward(m, &b2, &st2, &err);
    llm_model_backward(m, (double)st2.count, &err);
    CHECK(st2.loss_sum == st1.loss_sum && st2.count == st1.count && st2.correct == st1.correct);
    double worst = 0, gmax = 0;
    for (size_t j = 0; j < m->n_params; j++) {
        worst = fmax(worst, fabs(m->grads[j] - g1[j]));
        gmax = fmax(gmax, fabs(g1[j]));
    }
    CHECKF(worst <= 1e-7 * gmax, "padding changed the gradients by %g", worst);

    /* row 1's first document changed: row 0 and row 1's second document do not see it */
    tok2[T + 0] = 2;
    llm_model_forward(m, &b2, &st2, &err);
    const float *l2 = llm_model_logits(m);
    int changed = 0;
    for (size_t i = 0; i < B * T * V; i++) {
        size_t row = i / V;
        if (row < (size_t)T || row == (size_t)T + 2 || row == (size_t)T + 3)
            CHECKF(l1[i] == l2[i], "logit %zu changed: %g vs %g", i, l1[i], l2[i]);
        else if (row < (size_t)T + 2)
            changed += l1[i] != l2[i];
    }
    CHECK(changed > 0);
    llm_model_free(m);
    free(g1);
    free(l1);
}

static void test_grad_accumulation(void)
{
    llm_model *m = tiny_model(1);
    if (!m)
        return;
    llm_error err;
    llm_loss_stats st, s0, s1;
    llm_batch whole = {B, T, tok, tgt, pos, 0};
    llm_model_zero_grad(m);
    llm_model_forward(m, &whole, &st, &err);
    llm_model_backward(m, (double)st.count, &err);
    float *g = malloc(m->n_params * sizeof *g);
    memcpy(g, m->grads, m->n_params * sizeof *g);
    /* the same batch as two micro-batches of one row, normalised by the total count */
    llm_batch r0 = {1, T, tok, tgt, pos, 0}, r1 = {1, T, tok + T, tgt + T, pos + T, 0};
    int64_t total = llm_batch_count(&r0) + llm_batch_count(&r1);
    CHECK(total == st.count);
    llm_model_zero_grad(m);
    CHECK(llm_model_forward(m, &r0, &s0, &err) == 0 && llm_model_backward(m, (double)total, &err) == 0);
    CHECK(llm_model_forward(m, &r1, &s1, &err) == 0 && llm_model_backward(m, (double)total, &err) == 0);
    CHECK(fabs((s0.loss_sum + s1.loss_sum) - st.loss_sum) < 1e-5);
    CHECK(s0.count + s1.count == st.count && s0.correct + s1.correct == st.correct);
    double worst = 0, gmax = 0;
    for (size_t j = 0; j < m->n_params; j++) {
        worst = fmax(worst, fabs(m->grads[j] - g[j]));
        gmax = fmax(gmax, fabs(g[j]));
    }
    CHECKF(worst <= 1e-6 * gmax, "accumulated gradients differ by %g (max %g)", worst, gmax);
    /* without zero_grad the gradients add up */
    llm_model_zero_grad(m);
    llm_model_forward(m, &whole, &st, &err);
    llm_model_backward(m, (double)st.count, &err);
    llm_model_forward(m, &whole, &st, &err);
    llm_model_backward(m, (double)st.count, &err);
    for (size_t j = 0; j < m->n_params; j++)
        worst = fmax(worst, fabs(m->grads[j] - 2.0f * g[j]));
    CHECK(worst <= 1e-6 * gmax);
    free(g);
    llm_model_free(m);
}

static void test_inference_plan(void)
{
    llm_model *tr = tiny_model(1), *ev = tiny_model(0);
    if (!tr || !ev)
        return;
    llm_error err;
    llm_loss_stats a, b;
    size_t V = (size_t)TINY.vocab_size;
    llm_batch with = {B, T, tok, tgt, pos, 0}, without = {B, T, tok, NULL, pos, 0};
    CHECK(llm_model_forward(tr, &with, &a, &err) == 0);
    CHECK(llm_model_forward(ev, &without, NULL, &err) == 0);
    CHECK(memcmp(llm_model_logits(tr), llm_model_logits(ev), B * T * V * sizeof(float)) == 0);
    CHECK(llm_model_forward(ev, &with, &b, &err) == 0);
    CHECK(a.loss_sum == b.loss_sum && a.count == b.count && a.correct == b.correct);
    /* an inference plan has no backward; a smaller batch fits a plan */
    CHECK(llm_model_backward(ev, 1.0, &err) == -1);
    llm_batch small = {1, 3, tok, tgt, NULL, 0};
    CHECK(llm_model_forward(ev, &small, &b, &err) == 0 && b.count == 1);
    llm_model_free(tr);
    llm_model_free(ev);
}

static void test_resize_vocab(void)
{
    llm_model *m = tiny_model(1);
    if (!m)
        return;
    llm_error err;
    size_t V = (size_t)TINY.vocab_size, C = (size_t)TINY.n_embd;
    float *old = malloc(m->n_params * sizeof *old), *l1 = malloc(B * T * V * sizeof *l1);
    memcpy(old, m->params, m->n_params * sizeof *old);
    size_t old_n = m->n_params;
    llm_batch b = {B, T, tok, NULL, pos, 0};
    llm_model_forward(m, &b, NULL, &err);
    memcpy(l1, llm_model_logits(m), B * T * V * sizeof *l1);

    CHECK(llm_model_resize_vocab(m, 9, &err) == -1);
    CHECK(llm_model_resize_vocab(m, 14, &err) == 0);
    CHECK(m->cfg.vocab_size == 14 && m->n_params == old_n + 3 * C && m->grads == NULL);
    CHECK(m->tensors[0].shape[0] == 14 && m->tensors[1].offset == 14 * C);
    CHECK(memcmp(m->params, old, V * C * sizeof(float)) == 0);
    CHECK(memcmp(m->params + 14 * C, old + V * C, (old_n - V * C) * sizeof(float)) == 0);
    for (size_t c = 0; c < C; c++) {
        double s = 0;
        for (size_t r = 0; r < V; r++)
            s += old[r * C + c];
        for (size_t r = V; r < 14; r++)
            CHECK(fabs(m->params[r * C + c] - s / (double)V) < 1e-6);
    }
    CHECK(llm_model_forward(m, &b, NULL, &err) == -1);    /* the plan is gone */
    CHECK(llm_model_plan(m, B, T, 1, &err) == 0 && llm_model_forward(m, &b, NULL, &err) == 0);
    const float *l2 = llm_model_logits(m);
    for (size_t n = 0; n < B * T; n++)
        for (size_t v = 0; v < V; v++)
            CHECK(l2[n * 14 + v] == l1[n * V + v]);
    free(old);
    free(l1);
    llm_model_free(m);
}

static void test_refused_input(void)
{
    llm_model *m = tiny_model(1);
    if (!m)
        return;
    llm_error err;
    int32_t bad[B * T];
    memcpy(bad, tok, sizeof bad);
    bad[3] = 11;
    llm_batch b = {B, T, bad, tgt, pos, 0};
    CHECK(llm_model_forward(m, &b, NULL, &err) == -1 && strstr(err.msg, "token 11"));
    int32_t badt[B * T];
    memcpy(badt, tgt, sizeof badt);
    badt[0] = -100;    /* the caller turns -100 into -1 */
    llm_batch b2 = {B, T, tok, badt, pos, 0};
    CHECK(llm_model_forward(m, &b2, NULL, &err) == -1 && strstr(err.msg, "target -100"));
    int32_t badp[B * T];
    memcpy(badp, pos, sizeof badp);
    badp[4] = 7;
    llm_batch b3 = {B, T, tok, tgt, badp, 0};
    CHECK(llm_model_forward(m, &b3, NULL, &err) == -1 && strstr(err.msg, "position id 7"));
    llm_batch big = {B + 1, T, tok, tgt, NULL, 0};
    CHECK(llm_model_forward(m, &big, NULL, &err) == -1);
    CHECK(llm_model_plan(m, 1, TINY.block_size + 1, 1, &err) == -1);
    llm_model_free(m);
    /* a backward needs a forward with targets first */
    m = tiny_model(1);
    CHECK(llm_model_backward(m, 1.0, &err) == -1);
    llm_batch none = {B, T, tok, NULL, NULL, 0};
    llm_model_forward(m, &none, NULL, &err);
    CHECK(llm_model_backward(m, 1.0, &err) == -1);
    llm_batch ok = {B, T, tok, tgt, NULL, 0};
    llm_model_forward(m, &ok, NULL, &err);
    CHECK(llm_model_backward(m, 0.0, &err) == -1);
    CHECK(llm_model_backward(m, 5.0, &err) == 0);
    CHECK(llm_model_backward(m, 5.0, &err) == -1);    /* the logits are gradients now */
    llm_model_free(m);
    llm_model_free(NULL);
}

/* The cached generation gives the logits of a full forward at every position. */
static void test_decode(void)
{
    llm_model *m = tiny_model(0);
    if (!m)
        return;
    llm_error err;
    size_t V = (size_t)TINY.vocab_size;
    int32_t seq[8] = {3, 1, 4, 1, 5, 9, 2, 6};
    llm_batch full = {1, 6, seq, NULL, NULL, 0};
    CHECK(llm_model_forward(m, &full, NULL, &err) == 0);
    const float *ref = llm_model_logits(m);
    float out[11];
    double worst = 0, lmax = 0;
    CHECK(llm_model_decode(m, seq, 1, 1, out, &err) == -1);    /* nothing cached yet */
    CHECK(llm_model_decode(m, seq, 3, 0, out, &err) == 0);     /* a prompt of 3 */
    for (size_t v = 0; v < V; v++) {
        worst = fmax(worst, fabs(out[v] - ref[2 * V + v]));
        lmax = fmax(lmax, fabs(ref[2 * V + v]));
    }
    for (int t = 3; t < 6; t++) {    /* then one token at a time */
        CHECK(llm_model_decode(m, seq + t, 1, t, out, &err) == 0);
        for (size_t v = 0; v < V; v++)
            worst = fmax(worst, fabs(out[v] - ref[t * V + v]));
    }
    CHECKF(worst <= 1e-5 * lmax, "decode differs from the forward by %g (logits up to %g)", worst, lmax);
    CHECK(llm_model_decode(m, seq + 4, 1, 4, out, &err) == 0);    /* back one position */
    for (size_t v = 0; v < V; v++)
        CHECK(fabs(out[v] - ref[4 * V + v]) <= 1e-5 * lmax);
    CHECK(llm_model_decode(m, seq, 3, 6, out, &err) == -1);     /* past the block */
    int32_t bad = 11;
    CHECK(llm_model_decode(m, &bad, 1, 5, out, &err) == -1);
    llm_model_free(m);
}

static void test_positions_from_bounds(void)
{
    int32_t p[8];
    uint32_t b1[3] = {0, 3, 4};
    llm_positions_from_bounds(p, 8, b1, 3);
    int32_t want1[8] = {0, 1, 2, 0, 0, 1, 2, 3};
    CHECK(memcmp(p, want1, sizeof p) == 0);
    uint32_t b2[1] = {5};    /* a block that starts inside a document */
    llm_positions_from_bounds(p, 8, b2, 1);
    int32_t want2[8] = {0, 1, 2, 3, 4, 0, 1, 2};
    CHECK(memcmp(p, want2, sizeof p) == 0);
}

int main(void)
{
    RUN(test_tensor_table);
    RUN(test_init);
    RUN(test_backward_finite_differences);
    RUN(test_padding_and_documents);
    RUN(test_grad_accumulation);
    RUN(test_inference_plan);
    RUN(test_resize_vocab);
    RUN(test_refused_input);
    RUN(test_decode);
    RUN(test_positions_from_bounds);
    CHECK_EXIT();
}

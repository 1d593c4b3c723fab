/* Greedy and sampled next tokens (see sample.h). */
#include "sample.h"

#include <math.h>
#include <stdlib.h>

struct llm_sample_cand {
    double z;    /* logit / temperature; -inf for a NaN logit */
    int id;
};
typedef struct llm_sample_cand cand;

int llm_sample_argmax(const float *logits, int n)
{
    int best = 0;
    while (best < n - 1 && isnan(logits[best]))
        best++;
    for (int i = best + 1; i < n; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

int llm_sample_is_greedy(const llm_sample_config *cfg)
{
    return !(cfg->temperature > 0) || cfg->top_k == 1;
}

int llm_sample_init(llm_sample_state *s, int n_vocab, const llm_sample_config *cfg, llm_error *err)
{
    s->cand = NULL;
    s->cfg = *cfg;
    s->n_vocab = n_vocab;
    if (n_vocab <= 0)
        return llm_error_set(err, "a vocabulary of %d tokens", n_vocab);
    if (!isfinite(cfg->temperature) || cfg->temperature < 0)
        return llm_error_set(err, "temperature %g: expected a number 0 or above", cfg->temperature);
    if (cfg->top_k < 0)
        return llm_error_set(err, "top-k %d: expected 0 (all) or more", cfg->top_k);
    if (!(cfg->top_p > 0 && cfg->top_p <= 1))
        return llm_error_set(err, "top-p %g: expected a number above 0, at most 1", cfg->top_p);
    if (llm_sample_is_greedy(cfg))
        return 0;
    if (!(s->cand = malloc((size_t)n_vocab * sizeof *s->cand)))
        return llm_error_set(err, "out of memory");
    return 0;
}

void llm_sample_free(llm_sample_state *s)
{
    free(s->cand);
    s->cand = NULL;
}

/* The order of top-k and top-p: more likely first, the lower id first among equals. */
static int better(const cand *a, const cand *b)
{
    return a->z > b->z || (a->z == b->z && a->id < b->id);
}

static int cmp_better(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* Min-heap on `better`: the root is the worst kept candidate. */
static void sift_down(cand *h, int n, int i)
{
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(&h[w], &h[l]))
            w = l;
        if (r < n && better(&h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void sift_up(cand *h, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!better(&h[p], &h[i]))
            return;
        cand t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

int llm_sample_next(llm_sample_state *s, const float *logits, llm_rng *rng)
{
    const llm_sample_config *c = &s->cfg;
    int V = s->n_vocab;
    if (llm_sample_is_greedy(c))
        return llm_sample_argmax(logits, V);
    cand *cd = s->cand;
    int n = 0, sorted = 0;
    if (c->top_k > 0 && c->top_k < V) {
        /* The k best in O(V log k), then in order. */
        for (int i = 0; i < V; i++) {
            cand x = {isnan(logits[i]) ? -INFINITY : logits[i] / c->temperature, i};
            if (n < c->top_k) {
                cd[n] = x;
                sift_up(cd, n++);
            } else if (better(&x, &cd[0])) {
                cd[0] = x;
                sift_down(cd, n, 0);
            }
        }
        qsort(cd, (size_t)n, sizeof *cd, cmp_better);
        sorted = 1;
    } else {
        for (int i = 0; i < V; i++)
            cd[n++] = (cand){isnan(logits[i]) ? -INFINITY : logits[i] / c->temperature, i};
        if (c->top_p < 1) {
            qsort(cd, (size_t)n, sizeof *cd, cmp_better);
            sorted = 1;
        }
    }
    double max = cd[0].z;
    if (!sorted)
        for (int i = 1; i < n; i++)
            if (cd[i].z > max)
                max = cd[i].z;
    if (max == -INFINITY)    /* nothing is possible: the argmax's rule */
        return llm_sample_argmax(logits, V);
    /* Probabilities in place of the scaled logits. */
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += cd[i].z = exp(cd[i].z - max);
    if (c->top_p < 1) {
        double cum = 0, need = c->top_p * sum;
        int m = 0;
        while (m < n) {
            cum += cd[m++].z;
            if (cum >= need)
                break;
        }
        n = m;
        sum = cum;
    }
    double u = llm_rng_double(rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += cd[i].z;
        if (u < acc && cd[i].z > 0)
            return cd[i].id;
    }
    /* Rounding left u at the very top: the last token with any probability. */
    for (int i = n - 1; i > 0; i--)
        if (cd[i].z > 0)
            return cd[i].id;
    return cd[0].id;
}

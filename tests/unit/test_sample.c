/* lib/sample: the argmax and its ties, greedy settings, top-k and top-p keep exactly the
 * tokens they should, the draws follow softmax(logits / T) (a chi-square bound), and the
 * same seed gives the same tokens. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "sample.h"

static void test_argmax(void)
{
    float a[] = {0.5f, 2.0f, -1.0f, 2.0f};
    CHECK(llm_sample_argmax(a, 4) == 1);                 /* the lower id of a tie */
    float b[] = {NAN, -3.0f, NAN, -2.0f};
    CHECK(llm_sample_argmax(b, 4) == 3);                 /* NaN never wins */
    float c[] = {-INFINITY, -INFINITY};
    CHECK(llm_sample_argmax(c, 2) == 0);
}

static void test_greedy_settings(void)
{
    float l[] = {0.1f, 0.3f, 3.0f, 0.2f, 2.9f};
    llm_sample_config cfgs[] = {{0, 0, 1.0}, {0, 50, 0.5}, {5.0, 1, 1.0}};
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        llm_sample_state s;
        llm_error err;
        CHECK(llm_sample_is_greedy(&cfgs[i]));
        CHECK(llm_sample_init(&s, 5, &cfgs[i], &err) == 0);
        llm_rng r, before;
        llm_rng_seed(&r, 1);
        before = r;
        for (int k = 0; k < 10; k++)
            CHECK(llm_sample_next(&s, l, &r) == 2);
        CHECK(memcmp(&r, &before, sizeof r) == 0);      /* greedy draws nothing */
        llm_sample_free(&s);
    }
    /* A top-p small enough keeps the most likely token only. */
    llm_sample_config tiny = {1.0, 0, 1e-9};
    llm_sample_state s;
    llm_error err;
    CHECK(llm_sample_init(&s, 5, &tiny, &err) == 0);
    llm_rng r;
    llm_rng_seed(&r, 2);
    for (int k = 0; k < 100; k++)
        CHECK(llm_sample_next(&s, l, &r) == 2);
    llm_sample_free(&s);
}

static void test_bad_config(void)
{
    llm_sample_state s;
    llm_error err;
    llm_sample_config bad[] = {{-1, 0, 1}, {NAN, 0, 1}, {1, -2, 1}, {1, 0, 0}, {1, 0, 1.5}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(llm_sample_init(&s, 5, &bad[i], &err) < 0);
        llm_sample_free(&s);
    }
}

/* Draws n tokens from l[0..V) with cfg; counts[V]. */
static void draw(const float *l, int V, llm_sample_config cfg, uint64_t seed, int n, int *counts)
{
    llm_sample_state s;
    llm_error err;
    CHECK(llm_sample_init(&s, V, &cfg, &err) == 0);
    llm_rng r;
    llm_rng_seed(&r, seed);
    memset(counts, 0, (size_t)V * sizeof *counts);
    for (int i = 0; i < n; i++) {
        int t = llm_sample_next(&s, l, &r);
        CHECK(t >= 0 && t < V);
        if (t >= 0 && t < V)
            counts[t]++;
    }
    llm_sample_free(&s);
}

/* Pearson's chi-square of counts against probabilities p (those with p > 0). */
static double chi2(const int *counts, const double *p, int V, int n)
{
    double x = 0;
    for (int i = 0; i < V; i++)
        if (p[i] > 0)
            x += (counts[i] - n * p[i]) * (counts[i] - n * p[i]) / (n * p[i]);
    return x;
}

static void test_distributions(void)
{
    enum { V = 6, N = 60000 };
    float l[V] = {1.0f, 0.0f, 2.0f, -1.0f, 1.5f, 0.5f};
    int counts[V];
    double p[V], sum;
    /* temperature 2, all tokens: softmax(l / 2). 5 degrees of freedom: 20.5 is p = 0.001. */
    sum = 0;
    for (int i = 0; i < V; i++)
        sum += p[i] = exp(l[i] / 2.0);
    for (int i = 0; i < V; i++)
        p[i] /= sum;
    draw(l, V, (llm_sample_config){2.0, 0, 1.0}, 7, N, counts);
    CHECKF(chi2(counts, p, V, N) < 20.5, "chi2 %.1f", chi2(counts, p, V, N));

    /* top-k 3 at temperature 1: only ids 2, 4, 0, renormalised (2 degrees: 13.8). */
    draw(l, V, (llm_sample_config){1.0, 3, 1.0}, 8, N, counts);
    CHECK(counts[1] == 0 && counts[3] == 0 && counts[5] == 0);
    sum = exp(1.0) + exp(2.0) + exp(1.5);
    double pk[V] = {exp(1.0) / sum, 0, exp(2.0) / sum, 0, exp(1.5) / sum, 0};
    CHECKF(chi2(counts, pk, V, N) < 13.8, "chi2 %.1f", chi2(counts, pk, V, N));

    /* top-p: the probabilities in order are 0.39 (id 2), 0.24 (4), 0.14 (0), ...: p = 0.6
     * needs the first two, p = 0.39 the first one alone, p = 0.64 three. */
    sum = 0;
    double q[V];
    for (int i = 0; i < V; i++)
        sum += q[i] = exp(l[i]);
    for (int i = 0; i < V; i++)
        q[i] /= sum;
    draw(l, V, (llm_sample_config){1.0, 0, 0.6}, 9, N, counts);
    CHECK(counts[2] > 0 && counts[4] > 0 && counts[2] + counts[4] == N);
    double p2[V] = {0, 0, q[2] / (q[2] + q[4]), 0, q[4] / (q[2] + q[4]), 0};
    CHECKF(chi2(counts, p2, V, N) < 10.8, "chi2 %.1f", chi2(counts, p2, V, N));
    draw(l, V, (llm_sample_config){1.0, 0, q[2] * 0.999}, 9, 1000, counts);
    CHECK(counts[2] == 1000);
    draw(l, V, (llm_sample_config){1.0, 0, q[2] + q[4] + q[0] * 0.5}, 9, N, counts);
    CHECK(counts[0] > 0 && counts[0] + counts[2] + counts[4] == N);

    /* top-k then top-p, as generate applies them: k = 2 leaves 2 and 4; p = 0.5 of those
     * (0.62 and 0.38) keeps 2. */
    draw(l, V, (llm_sample_config){1.0, 2, 0.5}, 10, 1000, counts);
    CHECK(counts[2] == 1000);

    /* -inf (a masked token) is never drawn, NaN neither. */
    float m[V] = {1.0f, -INFINITY, 1.0f, NAN, 1.0f, -INFINITY};
    draw(m, V, (llm_sample_config){1.0, 0, 1.0}, 11, 3000, counts);
    CHECK(counts[1] == 0 && counts[3] == 0 && counts[5] == 0);
    CHECK(counts[0] > 800 && counts[2] > 800 && counts[4] > 800);
}

static void test_same_seed_same_tokens(void)
{
    enum { V = 1000 };
    static float l[V];
    llm_rng g;
    llm_rng_seed(&g, 3);
    for (int i = 0; i < V; i++)
        l[i] = (float)(4 * llm_rng_double(&g));
    llm_sample_config cfgs[] = {{0.8, 0, 1.0}, {1.0, 40, 1.0}, {1.2, 0, 0.9}, {0.7, 100, 0.8}};
    for (size_t c = 0; c < sizeof cfgs / sizeof *cfgs; c++) {
        int a[64], b[64], d[64];
        for (int rep = 0; rep < 3; rep++) {
            llm_sample_state s;
            llm_error err;
            CHECK(llm_sample_init(&s, V, &cfgs[c], &err) == 0);
            llm_rng r;
            llm_rng_seed(&r, rep == 2 ? 43 : 42);
            for (int i = 0; i < 64; i++)
                (rep == 0 ? a : rep == 1 ? b : d)[i] = llm_sample_next(&s, l, &r);
            llm_sample_free(&s);
        }
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK(memcmp(a, d, sizeof a) != 0);
    }
}

int main(void)
{
    RUN(test_argmax);
    RUN(test_greedy_settings);
    RUN(test_bad_config);
    RUN(test_distributions);
    RUN(test_same_seed_same_tokens);
    CHECK_EXIT();
}

/* lib/adamw: AdamW against torch.optim.AdamW's update written out in double, weight decay
 * only where the table says, gradient-norm clipping as torch.nn.utils.clip_grad_norm_, and
 * the learning-rate schedules at the steps where transformers' formulas have known values. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "adamw.h"
#include "check.h"

static int near(double a, double b, double tol) { return fabs(a - b) <= tol * (1.0 + fabs(b)); }

static void test_adamw_matches_formula(void)
{
    /* two tensors: a matrix (decay) and a bias (no decay) */
    llm_tensor_desc t[2] = {{"w", 2, {3, 4}, 0, 1}, {"b", 1, {5, 0}, 12, 0}};
    enum { N = 17 };
    float p[N], g[N];
    double rp[N], rm[N] = {0}, rv[N] = {0};
    for (int i = 0; i < N; i++) {
        p[i] = (float)(0.1 * (i - 8));
        rp[i] = p[i];
    }
    llm_adamw_config c = {0.9f, 0.95f, 1e-8f, 0.1f};
    llm_error err;
    llm_adamw *o = llm_adamw_new(&c, N, &err);
    CHECK(o != NULL);
    if (!o)
        return;
    for (int s = 1; s <= 3; s++) {
        double lr = 1e-2 * s;
        for (int i = 0; i < N; i++)
            g[i] = (float)(0.05 * ((i * 7 + s * 3) % 11) - 0.25);
        llm_adamw_step(o, p, g, t, 2, lr);
        for (int i = 0; i < N; i++) {
            double wd = i < 12 ? 0.1 : 0.0;
            rp[i] *= 1.0 - lr * wd;
            rm[i] = 0.9f * rm[i] + (1.0 - 0.9f) * g[i];
            rv[i] = 0.95f * rv[i] + (1.0 - 0.95f) * (double)g[i] * g[i];
            double mh = rm[i] / (1.0 - pow(0.9f, s)), vh = rv[i] / (1.0 - pow(0.95f, s));
            rp[i] -= lr * mh / (sqrt(vh) + 1e-8f);
        }
    }
    CHECK(o->step == 3);
    for (int i = 0; i < N; i++) {
        CHECKF(near(p[i], rp[i], 1e-5), "param %d: %.8g, want %.8g", i, p[i], rp[i]);
        CHECK(near(o->m[i], rm[i], 1e-5) && near(o->v[i], rv[i], 1e-5));
    }
    /* no weight decay on the bias: with a zero gradient from the start it never moves */
    llm_adamw *o2 = llm_adamw_new(&c, N, &err);
    float q[N], zero[N] = {0};
    for (int i = 0; i < N; i++)
        q[i] = 1.0f;
    llm_adamw_step(o2, q, zero, t, 2, 0.5);
    CHECK(q[0] == 1.0f - 0.5f * 0.1f && q[12] == 1.0f && q[16] == 1.0f);
    llm_adamw_free(o2);
    llm_adamw_free(o);
    llm_adamw_free(NULL);
}

static void test_clip_grad_norm(void)
{
    enum { N = 300000 };    /* several chunks of the norm's fixed split */
    float *g = malloc(N * sizeof *g), *h = malloc(N * sizeof *h);
    double ss = 0;
    for (int i = 0; i < N; i++) {
        g[i] = (float)(((i * 37) % 101) - 50) * 1e-3f;
        ss += (double)g[i] * g[i];
    }
    memcpy(h, g, N * sizeof *h);
    double norm = sqrt(ss);
    omp_set_num_threads(1);
    CHECK(near(llm_clip_grad_norm(g, N, 0.0), norm, 1e-12));    /* norm only */
    CHECK(memcmp(g, h, N * sizeof *g) == 0);
    CHECK(near(llm_clip_grad_norm(g, N, norm * 2), norm, 1e-12));    /* below: unchanged */
    CHECK(memcmp(g, h, N * sizeof *g) == 0);
    double n1 = llm_clip_grad_norm(g, N, 1.0);
    CHECK(near(n1, norm, 1e-12) && norm > 1.0);
    double coef = 1.0 / (norm + 1e-6), after = 0;
    for (int i = 0; i < N; i++) {
        CHECK(g[i] == (float)(h[i] * (float)coef));
        after += (double)g[i] * g[i];
    }
    CHECK(near(sqrt(after), 1.0, 1e-5));
    omp_set_num_threads(2);    /* the same bits on more threads */
    memcpy(g, h, N * sizeof *g);
    CHECK(llm_clip_grad_norm(g, N, 0.0) == n1);
    free(g);
    free(h);
}

static void test_lr_schedules(void)
{
    llm_lr_schedule cs = {.kind = LLM_LR_COSINE, .peak = 1e-3, .warmup_steps = 10, .total_steps = 110};
    CHECK(llm_lr_at(&cs, 0) == 0.0);                       /* the first step of a warmup */
    CHECK(near(llm_lr_at(&cs, 5), 5e-4, 1e-12));
    CHECK(near(llm_lr_at(&cs, 10), 1e-3, 1e-12));
    CHECK(near(llm_lr_at(&cs, 60), 5e-4, 1e-12));          /* half way: cos(pi/2) */
    CHECK(near(llm_lr_at(&cs, 35), 1e-3 * 0.5 * (1 + cos(M_PI * 0.25)), 1e-12));
    CHECK(fabs(llm_lr_at(&cs, 110)) < 1e-15);
    cs.min_lr = 1e-4;                                      /* the floor */
    CHECK(near(llm_lr_at(&cs, 60), 1e-4 + 0.9e-3 * 0.5, 1e-12));
    CHECK(near(llm_lr_at(&cs, 110), 1e-4, 1e-12));
    CHECK(near(llm_lr_at(&cs, 5), 5e-4, 1e-12));          /* warmup starts from 0 */

    llm_lr_schedule lin = {.kind = LLM_LR_LINEAR, .peak = 2e-3, .warmup_steps = 4, .total_steps = 20};
    CHECK(near(llm_lr_at(&lin, 2), 1e-3, 1e-12));
    CHECK(near(llm_lr_at(&lin, 4), 2e-3, 1e-12));
    CHECK(near(llm_lr_at(&lin, 12), 1e-3, 1e-12));
    CHECK(llm_lr_at(&lin, 20) == 0.0 && llm_lr_at(&lin, 25) == 0.0);

    llm_lr_schedule con = {.kind = LLM_LR_CONSTANT_WITH_WARMUP, .peak = 3e-4, .warmup_steps = 3, .total_steps = 100};
    CHECK(near(llm_lr_at(&con, 1), 1e-4, 1e-12) && llm_lr_at(&con, 3) == 3e-4 && llm_lr_at(&con, 99) == 3e-4);
    con.warmup_steps = 0;
    CHECK(llm_lr_at(&con, 0) == 3e-4);
    CHECK(llm_ratio_steps(0.1, 95) == 10 && llm_ratio_steps(0.0, 95) == 0 && llm_ratio_steps(0.1, 100) == 10);
}

static void test_lr_schedules_of_kwargs(void)
{
    llm_lr_schedule hr = llm_lr_schedule_of(LLM_LR_COSINE_WITH_RESTARTS);
    hr.peak = 1e-3, hr.warmup_steps = 10, hr.total_steps = 110, hr.cycles = 2;
    CHECK(near(llm_lr_at(&hr, 5), 5e-4, 1e-12) && near(llm_lr_at(&hr, 10), 1e-3, 1e-12));
    CHECK(near(llm_lr_at(&hr, 35), 5e-4, 1e-12));           /* a quarter: half way down the first cycle */
    CHECK(near(llm_lr_at(&hr, 60), 1e-3, 1e-12));           /* the restart */
    CHECK(near(llm_lr_at(&hr, 85), 5e-4, 1e-12) && llm_lr_at(&hr, 110) == 0.0);

    llm_lr_schedule poly = llm_lr_schedule_of(LLM_LR_POLYNOMIAL);
    poly.peak = 1e-3, poly.min_lr = 1e-7, poly.total_steps = 100, poly.power = 2;
    CHECK(llm_lr_at(&poly, 0) == 1e-3);
    CHECK(near(llm_lr_at(&poly, 50), (1e-3 - 1e-7) * 0.25 + 1e-7, 1e-12));
    CHECK(near(llm_lr_at(&poly, 100), 1e-7, 1e-12) && near(llm_lr_at(&poly, 150), 1e-7, 1e-12));

    llm_lr_schedule isq = llm_lr_schedule_of(LLM_LR_INVERSE_SQRT);
    isq.peak = 1e-3, isq.warmup_steps = 4, isq.total_steps = 100;     /* the timescale: the warmup's 4 */
    CHECK(near(llm_lr_at(&isq, 2), 5e-4, 1e-12) && near(llm_lr_at(&isq, 4), 1e-3, 1e-12));
    CHECK(near(llm_lr_at(&isq, 12), 1e-3 / sqrt(3.0), 1e-12));
    isq.warmup_steps = 0;                                   /* and with no warmup, 10000 */
    CHECK(llm_lr_at(&isq, 0) == 1e-3 && near(llm_lr_at(&isq, 30000), 5e-4, 1e-12));
    isq.timescale = 100;
    CHECK(near(llm_lr_at(&isq, 300), 5e-4, 1e-12));

    llm_lr_schedule wsd = llm_lr_schedule_of(LLM_LR_WARMUP_STABLE_DECAY);
    wsd.peak = 1e-3, wsd.min_lr = 1e-4, wsd.warmup_steps = 10, wsd.total_steps = 100, wsd.decay_steps = 20;
    CHECK(near(llm_lr_at(&wsd, 0), 1e-4, 1e-12));           /* its warmup starts from min_lr */
    CHECK(near(llm_lr_at(&wsd, 5), 1e-4 + 0.9e-3 * 0.5, 1e-12));
    CHECK(llm_lr_at(&wsd, 10) == 1e-3 && llm_lr_at(&wsd, 79) == 1e-3 && llm_lr_at(&wsd, 80) == 1e-3);
    CHECK(near(llm_lr_at(&wsd, 90), 1e-4 + 0.9e-3 * 0.5, 1e-12));
    CHECK(near(llm_lr_at(&wsd, 100), 1e-4, 1e-12) && near(llm_lr_at(&wsd, 120), 1e-4, 1e-12));
    wsd.warmup_shape = LLM_SHAPE_1_SQRT, wsd.decay_shape = LLM_SHAPE_1_SQRT;
    CHECK(near(llm_lr_at(&wsd, 5), 1e-4 + 0.9e-3 * (1 - sqrt(0.5)), 1e-12));
    CHECK(near(llm_lr_at(&wsd, 85), 1e-4 + 0.9e-3 * 0.5, 1e-12));
    wsd.warmup_shape = LLM_SHAPE_COSINE, wsd.decay_shape = LLM_SHAPE_LINEAR;
    CHECK(near(llm_lr_at(&wsd, 5), 1e-4 + 0.9e-3 * 0.5, 1e-12));
    CHECK(near(llm_lr_at(&wsd, 95), 1e-4 + 0.9e-3 * 0.25, 1e-12));

    /* ReduceLROnPlateau, stepped by hand as torch steps it (factor 0.5, patience 1,
     * threshold 10%, cooldown 1, floor 0.2) */
    llm_lr_schedule pl = llm_lr_schedule_of(LLM_LR_REDUCE_LR_ON_PLATEAU);
    pl.peak = 1.0, pl.min_lr = 0.2, pl.plateau_factor = 0.5, pl.plateau_patience = 1;
    pl.plateau_threshold = 0.1, pl.plateau_cooldown = 1;
    CHECK(llm_lr_at(&pl, 50) == 1.0);
    llm_plateau p = llm_plateau_start(&pl);
    static const double losses[] = {1.0, 0.95, 0.95, 0.95, 0.95, 0.95, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, NAN, NAN};
    static const double rates[] = {1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2};
    for (size_t i = 0; i < sizeof losses / sizeof losses[0]; i++) {
        llm_plateau_step(&p, &pl, losses[i]);
        CHECKF(p.lr == rates[i], "after loss %zu: lr %g, want %g", i, p.lr, rates[i]);
    }
    CHECK(p.best == 0.5 && p.bad_evals == 1);    /* the second NaN counted as no improvement */

    /* GreedyLR, stepped by hand as transformers' steps it (factor 0.5, patience 1, absolute
     * threshold 0.05, warmup 1, cooldown 1, rates 0.25 to 2, reset after 2 reductions at
     * the floor) */
    llm_lr_schedule gs = llm_lr_schedule_of(LLM_LR_GREEDY);
    gs.peak = 1.0, gs.min_lr = 0.25, gs.max_lr = 2.0, gs.greedy_factor = 0.5, gs.greedy_patience = 1;
    gs.greedy_threshold = 0.05, gs.greedy_warmup = 1, gs.greedy_cooldown = 1, gs.greedy_reset = 2;
    CHECK(llm_lr_at(&gs, 50) == 1.0);
    llm_greedy g;
    llm_greedy_start(&g, &gs);
    /* good, good: rise to 2; one left out (warmup); good, good: 2 is the ceiling; left out;
     * bad, bad: 1; left out (cooldown); bad, bad: 0.5; left out; bad, bad: 0.25, the floor
     * (one reduction there); left out; bad, bad: a second at the floor: start over at 1 */
    static const double g_losses[] = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6,
                                      0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6};
    static const double g_rates[] = {1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.5, 0.5,
                                     0.5, 0.25, 0.25, 0.25, 1.0, 1.0, 1.0};
    for (size_t i = 0; i < sizeof g_losses / sizeof g_losses[0]; i++) {
        llm_greedy_step(&g, &gs, g_losses[i]);
        CHECKF(g.lr == g_rates[i], "after loss %zu: lr %g, want %g", i, g.lr, g_rates[i]);
    }
    CHECK(g.best == 0.6 && g.reset_left == 2);    /* started over: the best is the last loss's */
    /* smoothing over 3: the mean of the last three, kept as a running sum; saved and loaded
     * it goes on the same */
    gs.greedy_window = 3;
    llm_lr_state rs, back;
    llm_lr_state_start(&rs, &gs);
    static const double s_losses[] = {3.0, 1.0, 2.0, 6.0, 0.5};
    for (size_t i = 0; i < 4; i++)
        llm_lr_state_evaluated(&rs, &gs, s_losses[i]);
    CHECK(rs.greedy.n_window == 3 && rs.greedy.sum == 9.0 && rs.greedy.best == 2.0);
    uint64_t w[LLM_LR_STATE_WORDS];
    int n = llm_lr_state_save(&rs, &gs, w);
    CHECK(n == 12 && llm_lr_state_load(&back, &gs, w, n) == 0);
    llm_lr_state_evaluated(&rs, &gs, s_losses[4]);
    llm_lr_state_evaluated(&back, &gs, s_losses[4]);
    CHECK(rs.greedy.sum == back.greedy.sum && rs.greedy.lr == back.greedy.lr &&
          rs.greedy.best == back.greedy.best && rs.greedy.sum == 8.5);
    CHECK(llm_lr_state_rate(&back, &gs, 0) == back.greedy.lr);
    gs.greedy_window = 2;
    CHECK(llm_lr_state_load(&back, &gs, w, n) < 0);    /* a window the run does not have */

    llm_lr_schedule flat = llm_lr_schedule_of(LLM_LR_CONSTANT);    /* get_constant_schedule: no warmup */
    flat.peak = 3e-4, flat.warmup_steps = 3, flat.total_steps = 100;
    CHECK(llm_lr_at(&flat, 0) == 3e-4 && llm_lr_at(&flat, 99) == 3e-4);
}

int main(void)
{
    RUN(test_adamw_matches_formula);
    RUN(test_clip_grad_norm);
    RUN(test_lr_schedules);
    RUN(test_lr_schedules_of_kwargs);
    CHECK_EXIT();
}

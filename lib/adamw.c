/* AdamW, gradient clipping and learning-rate schedules (see adamw.h). Each element is
 * updated on its own, so the threads change nothing in the results. */
#include "adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

llm_adamw *llm_adamw_new(const llm_adamw_config *cfg, size_t n, llm_error *err)
{
    llm_adamw *o = calloc(1, sizeof *o);
    if (o) {
        o->cfg = *cfg;
        o->n = n;
        o->m = calloc(n ? n : 1, sizeof *o->m);
        o->v = calloc(n ? n : 1, sizeof *o->v);
    }
    if (!o || !o->m || !o->v) {
        llm_adamw_free(o);
        llm_error_set(err, "out of memory for the optimizer state of %zu parameters", n);
        return NULL;
    }
    return o;
}

void llm_adamw_free(llm_adamw *o)
{
    if (!o)
        return;
    free(o->m);
    free(o->v);
    free(o);
}

void llm_adamw_step(llm_adamw *o, float *params, const float *grads, const llm_tensor_desc *tensors,
                    size_t n_tensors, double lr)
{
    const llm_adamw_config *c = &o->cfg;
    o->step++;
    /* torch computes the corrections in double, then applies them to float tensors */
    double bc1 = 1.0 - pow(c->beta1, (double)o->step), bc2 = 1.0 - pow(c->beta2, (double)o->step);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    /* one parallel region: each thread takes its share of every tensor, no barrier between */
#pragma omp parallel
    for (size_t i = 0; i < n_tensors; i++) {
        const llm_tensor_desc *t = &tensors[i];
        float decay = t->decay ? (float)(1.0 - lr * c->weight_decay) : 1.0f;
        long lo = (long)t->offset, hi = lo + (long)llm_tensor_numel(t);
#pragma omp for simd schedule(static) nowait
        for (long j = lo; j < hi; j++) {
            float g = grads[j];
            float m = o->m[j] * b1 + g * (1.0f - b1);
            float v = o->v[j] * b2 + g * g * (1.0f - b2);
            o->m[j] = m;
            o->v[j] = v;
            params[j] = params[j] * decay - step_size * (m / (sqrtf(v) / bc2_sqrt + eps));
        }
    }
}

double llm_clip_grad_norm(float *grads, size_t n, double max_norm)
{
    /* a fixed split into PARTS chunks, each summed in order and then added in order: the norm
     * does not depend on the threads, and nothing is allocated per step */
    enum { PARTS = 256 };
    double part[PARTS], sum = 0.0;
    size_t chunk = (n + PARTS - 1) / PARTS;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < PARTS; k++) {
        size_t lo = (size_t)k * chunk < n ? (size_t)k * chunk : n, hi = lo + chunk < n ? lo + chunk : n;
        double s = 0.0;
        for (size_t j = lo; j < hi; j++)
            s += (double)grads[j] * grads[j];
        part[k] = s;
    }
    for (int k = 0; k < PARTS; k++)
        sum += part[k];
    double norm = sqrt(sum);
    double coef = max_norm / (norm + 1e-6);
    if (max_norm > 0 && coef < 1.0) {    /* torch clamps coef at 1 and scales by it */
#pragma omp parallel for simd schedule(static)
        for (long j = 0; j < (long)n; j++)
            grads[j] *= (float)coef;
    }
    return norm;
}

const char *const llm_lr_kind_names[LLM_LR_KINDS] = {
    "constant", "linear", "cosine", "constant_with_warmup", "cosine_with_restarts", "polynomial",
    "inverse_sqrt", "warmup_stable_decay", "reduce_lr_on_plateau", "greedy",
};
const char *const llm_lr_shape_names[LLM_SHAPES] = {"linear", "cosine", "1-sqrt"};
const char *const llm_threshold_mode_names[2] = {"abs", "rel"};

llm_lr_schedule llm_lr_schedule_of(llm_lr_kind kind)
{
    return (llm_lr_schedule){.kind = kind, .cycles = 1, .power = 1.0, .decay_shape = LLM_SHAPE_COSINE,
                             .plateau_factor = 0.1, .plateau_threshold = 1e-4, .plateau_patience = 10,
                             .greedy_factor = 0.95, .greedy_threshold = 1e-6, .greedy_patience = 10,
                             .max_lr = 1.0, .greedy_reset = 500};
}

int llm_lr_follows_evals(llm_lr_kind kind)
{
    return kind == LLM_LR_REDUCE_LR_ON_PLATEAU || kind == LLM_LR_GREEDY;
}

llm_plateau llm_plateau_start(const llm_lr_schedule *s)
{
    return (llm_plateau){.lr = s->peak, .best = INFINITY};
}

void llm_plateau_step(llm_plateau *p, const llm_lr_schedule *s, double loss)
{
    if (loss < p->best * (1.0 - s->plateau_threshold)) {
        p->best = loss;
        p->bad_evals = 0;
    } else {
        p->bad_evals++;
    }
    if (p->cooldown_left > 0) {
        p->cooldown_left--;
        p->bad_evals = 0;
    }
    if (p->bad_evals > s->plateau_patience) {
        double lower = fmax(p->lr * s->plateau_factor, s->min_lr);
        if (p->lr - lower > 1e-8)    /* torch's eps: smaller changes are not made */
            p->lr = lower;
        p->cooldown_left = s->plateau_cooldown;
        p->bad_evals = 0;
    }
}

void llm_greedy_start(llm_greedy *g, const llm_lr_schedule *s)
{
    memset(g, 0, sizeof *g);
    g->lr = s->peak;
    g->best = INFINITY;
    g->reset_left = s->greedy_reset;
}

/* StreamingAverage.streamavg: the value added to the sum, then the oldest taken out, as
 * Python does it, so that the sums round alike. */
static double streaming_average(llm_greedy *g, int64_t window, double loss)
{
    g->sum += loss;
    if (g->n_window < window) {
        g->window[(g->first + g->n_window++) % window] = loss;
    } else {
        double removed = g->window[g->first];
        g->window[g->first] = loss;
        g->first = (g->first + 1) % window;
        g->sum -= removed;
    }
    return g->sum / (double)g->n_window;
}

static int greedy_better(const llm_lr_schedule *s, double loss, double best)
{
    return s->greedy_relative ? loss < best * (1.0 - s->greedy_threshold) : loss < best - s->greedy_threshold;
}

static void greedy_reduce(llm_greedy *g, const llm_lr_schedule *s)
{
    double lower = fmax(g->lr * s->greedy_factor, s->min_lr);
    if (g->lr - lower > 1e-8)
        g->lr = lower;
    if (g->lr > s->min_lr || --g->reset_left > 0)
        return;
    llm_greedy_start(g, s);    /* _reset: long enough at the floor; start over */
}

static void greedy_raise(llm_greedy *g, const llm_lr_schedule *s)
{
    double higher = fmin(g->lr / s->greedy_factor, s->max_lr);
    if (higher - g->lr > 1e-8)
        g->lr = higher;
    g->reset_left = s->greedy_reset;
}

void llm_greedy_step(llm_greedy *g, const llm_lr_schedule *s, double loss)
{
    if (s->greedy_window > 0)
        loss = streaming_average(g, s->greedy_window, loss);
    if (g->cooldown_left > 0) {
        g->cooldown_left--;
        g->bad_evals = g->good_evals = 0;
        return;
    }
    if (g->warmup_left > 0) {
        g->warmup_left--;
        g->bad_evals = g->good_evals = 0;
        return;
    }
    if (greedy_better(s, loss, g->best)) {
        g->best = loss;
        g->bad_evals = 0;
        g->good_evals++;
    } else {
        g->bad_evals++;
        g->good_evals = 0;
    }
    if (g->good_evals > s->greedy_patience) {
        greedy_raise(g, s);
        g->warmup_left = s->greedy_warmup;
        g->good_evals = 0;
    } else if (g->bad_evals > s->greedy_patience) {
        greedy_reduce(g, s);
        g->cooldown_left = s->greedy_cooldown;
        g->bad_evals = 0;
    }
}

static int greedy_save(const llm_greedy *g, uint64_t *w)
{
    memcpy(&w[0], &g->lr, 8);
    memcpy(&w[1], &g->best, 8);
    memcpy(&w[2], &g->sum, 8);
    int64_t counts[6] = {g->bad_evals, g->good_evals, g->cooldown_left, g->warmup_left, g->reset_left, g->n_window};
    for (int i = 0; i < 6; i++)
        w[3 + i] = (uint64_t)counts[i];
    /* the window oldest first (a full ring starts at `first`), so that it loads at 0 */
    for (int64_t i = 0; i < g->n_window; i++)
        memcpy(&w[9 + i], &g->window[(g->first + i) % g->n_window], 8);
    return 9 + (int)g->n_window;
}

static int greedy_load(llm_greedy *g, const llm_lr_schedule *s, const uint64_t *w, int n)
{
    if (n < 9 || (int64_t)w[8] < 0 || (int64_t)w[8] > s->greedy_window || n != 9 + (int)w[8])
        return -1;
    memset(g, 0, sizeof *g);
    memcpy(&g->lr, &w[0], 8);
    memcpy(&g->best, &w[1], 8);
    memcpy(&g->sum, &w[2], 8);
    g->bad_evals = (int64_t)w[3];
    g->good_evals = (int64_t)w[4];
    g->cooldown_left = (int64_t)w[5];
    g->warmup_left = (int64_t)w[6];
    g->reset_left = (int64_t)w[7];
    g->n_window = (int64_t)w[8];
    for (int64_t i = 0; i < g->n_window; i++)
        memcpy(&g->window[i], &w[9 + i], 8);
    return 0;
}

void llm_lr_state_start(llm_lr_state *r, const llm_lr_schedule *s)
{
    r->plateau = llm_plateau_start(s);
    llm_greedy_start(&r->greedy, s);
}

double llm_lr_state_rate(const llm_lr_state *r, const llm_lr_schedule *s, int64_t step)
{
    return s->kind == LLM_LR_REDUCE_LR_ON_PLATEAU ? r->plateau.lr
           : s->kind == LLM_LR_GREEDY             ? r->greedy.lr
                                                  : llm_lr_at(s, step);
}

void llm_lr_state_evaluated(llm_lr_state *r, const llm_lr_schedule *s, double loss)
{
    if (s->kind == LLM_LR_REDUCE_LR_ON_PLATEAU)
        llm_plateau_step(&r->plateau, s, loss);
    else if (s->kind == LLM_LR_GREEDY)
        llm_greedy_step(&r->greedy, s, loss);
}

/* reduce_lr_on_plateau's words: the bits of lr and best, bad_evals, cooldown_left. */
int llm_lr_state_save(const llm_lr_state *r, const llm_lr_schedule *s, uint64_t w[LLM_LR_STATE_WORDS])
{
    if (s->kind == LLM_LR_GREEDY)
        return greedy_save(&r->greedy, w);
    if (s->kind != LLM_LR_REDUCE_LR_ON_PLATEAU)
        return 0;
    memcpy(&w[0], &r->plateau.lr, 8);
    memcpy(&w[1], &r->plateau.best, 8);
    w[2] = (uint64_t)r->plateau.bad_evals;
    w[3] = (uint64_t)r->plateau.cooldown_left;
    return 4;
}

int llm_lr_state_load(llm_lr_state *r, const llm_lr_schedule *s, const uint64_t *w, int n)
{
    if (s->kind == LLM_LR_GREEDY)
        return greedy_load(&r->greedy, s, w, n);
    if (s->kind != LLM_LR_REDUCE_LR_ON_PLATEAU)
        return n == 0 ? 0 : -1;
    if (n != 4)
        return -1;
    memcpy(&r->plateau.lr, &w[0], 8);
    memcpy(&r->plateau.best, &w[1], 8);
    r->plateau.bad_evals = (int64_t)w[2];
    r->plateau.cooldown_left = (int64_t)w[3];
    return 0;
}

/* A share of the way through a phase of n steps, as transformers divides: by max(1, n). */
static double progress(int64_t done, int64_t n)
{
    return (double)done / (double)(n > 1 ? n : 1);
}

/* warmup_stable_decay's curves: rising over its warmup, falling over its decay. */
static double rising(llm_lr_shape shape, double p)
{
    return shape == LLM_SHAPE_LINEAR ? p : shape == LLM_SHAPE_COSINE ? 0.5 * (1.0 - cos(M_PI * p))
                                                                     : 1.0 - sqrt(1.0 - p);
}

static double falling(llm_lr_shape shape, double p)
{
    return shape == LLM_SHAPE_LINEAR ? 1.0 - p : shape == LLM_SHAPE_COSINE ? 0.5 * (1.0 + cos(M_PI * p))
                                                                           : 1.0 - sqrt(p);
}

/* The share of the way from min_lr to peak at a step of warmup_stable_decay, whose warmup
 * starts from min_lr, not 0. */
static double wsd_factor(const llm_lr_schedule *s, int64_t step)
{
    int64_t stable_end = s->total_steps - s->decay_steps;
    if (step < s->warmup_steps)
        return rising(s->warmup_shape, progress(step, s->warmup_steps));
    if (step < stable_end)
        return 1.0;
    if (step < s->total_steps)
        return falling(s->decay_shape, progress(step - stable_end, s->decay_steps));
    return 0.0;
}

/* The share of the way from min_lr to peak after the warmup, p of the way through the decay. */
static double decay_factor(const llm_lr_schedule *s, double p)
{
    switch (s->kind) {
    case LLM_LR_LINEAR:
        return 1.0 - p;
    case LLM_LR_COSINE:
        return 0.5 * (1.0 + cos(M_PI * p));
    case LLM_LR_COSINE_WITH_RESTARTS:
        return p >= 1.0 ? 0.0 : 0.5 * (1.0 + cos(M_PI * fmod((double)s->cycles * p, 1.0)));
    case LLM_LR_POLYNOMIAL:
        return p > 1.0 ? 0.0 : pow(1.0 - p, s->power);
    default:
        return 1.0;
    }
}

double llm_lr_at(const llm_lr_schedule *s, int64_t step)
{
    if (s->kind == LLM_LR_CONSTANT || llm_lr_follows_evals(s->kind))
        return s->peak;
    if (s->kind == LLM_LR_WARMUP_STABLE_DECAY) {
        double f = wsd_factor(s, step);
        return s->min_lr + (s->peak - s->min_lr) * (f > 0.0 ? f : 0.0);
    }
    if (step < s->warmup_steps)
        return s->peak * progress(step, s->warmup_steps);
    if (s->kind == LLM_LR_INVERSE_SQRT) {
        double timescale = (double)(s->timescale ? s->timescale : s->warmup_steps ? s->warmup_steps : 10000);
        return s->peak / sqrt(((double)step + timescale - (double)s->warmup_steps) / timescale);
    }
    double f = decay_factor(s, progress(step - s->warmup_steps, s->total_steps - s->warmup_steps));
    return s->min_lr + (s->peak - s->min_lr) * (f > 0.0 ? f : 0.0);
}

int64_t llm_ratio_steps(double ratio, int64_t total_steps)
{
    return (int64_t)ceil(ratio * (double)total_steps);
}

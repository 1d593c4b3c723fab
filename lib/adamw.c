/* AdamW, gradient clipping and learning-rate schedules (see adamw.h). Each element is
 * updated on its own, so the threads change nothing in the results. */
#include "adamw.h"

#include <math.h>
#include <stdlib.h>

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

double llm_lr_at(const llm_lr_schedule *s, int64_t step)
{
    if (step < s->warmup_steps)
        return s->peak * (double)step / (double)(s->warmup_steps > 1 ? s->warmup_steps : 1);
    if (s->kind == LLM_LR_CONSTANT)
        return s->peak;
    int64_t span = s->total_steps - s->warmup_steps;
    double p = (double)(step - s->warmup_steps) / (double)(span > 1 ? span : 1), f;
    if (s->kind == LLM_LR_LINEAR)
        f = 1.0 - p;
    else
        f = 0.5 * (1.0 + cos(M_PI * p));
    if (f < 0.0)
        f = 0.0;
    return s->min_lr + (s->peak - s->min_lr) * f;
}

int64_t llm_warmup_steps(double ratio, int64_t total_steps)
{
    return (int64_t)ceil(ratio * (double)total_steps);
}

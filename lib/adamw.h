/* The optimizer side of training, as PyTorch and Hugging Face Trainer do it: AdamW with
 * decoupled weight decay (torch.optim.AdamW), gradient-norm clipping
 * (torch.nn.utils.clip_grad_norm_) and the learning-rate schedules of transformers
 * (get_{constant,linear,cosine}_schedule_with_warmup), with a floor for the cosine and
 * linear decays. */
#ifndef LLM_ADAMW_H
#define LLM_ADAMW_H

#include "common.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm_adamw_config {
    float beta1, beta2, eps, weight_decay;    /* Trainer's defaults: 0.9, 0.999, 1e-8, 0.0 */
} llm_adamw_config;

/* The whole state in plain buffers the checkpoint code can save and load: m and v have
 * n floats each, in the parameter buffer's layout (so the tensor table describes them
 * too), and step counts the steps taken. */
typedef struct llm_adamw {
    llm_adamw_config cfg;
    size_t n;
    float *m, *v;        /* owned, zeroed by llm_adamw_new */
    int64_t step;
} llm_adamw;

/* State for n parameters. NULL with err set when out of memory. */
llm_adamw *llm_adamw_new(const llm_adamw_config *cfg, size_t n, llm_error *err);
void llm_adamw_free(llm_adamw *o);    /* NULL-safe */

/* One step at learning rate lr over the tensors of the table (n_tensors of them): weight
 * decay (p -= lr * wd * p, before the Adam update) on the tensors marked `decay` only, and
 * bias-corrected moments, as torch.optim.AdamW. Parameters outside the table are left
 * alone. */
void llm_adamw_step(llm_adamw *o, float *params, const float *grads, const llm_tensor_desc *tensors,
                    size_t n_tensors, double lr);

/* The L2 norm of all n gradients together (summed in double, in a fixed order: the same
 * for any thread count); the gradients are scaled by max_norm / (norm + 1e-6) when that is
 * below 1, as torch.nn.utils.clip_grad_norm_ does. Returns the norm before clipping. max_norm <= 0: norm only. */
double llm_clip_grad_norm(float *grads, size_t n, double max_norm);

typedef enum llm_lr_kind {
    LLM_LR_CONSTANT = 0,    /* constant_with_warmup (plain constant with 0 warmup steps) */
    LLM_LR_LINEAR,
    LLM_LR_COSINE,
} llm_lr_kind;

typedef struct llm_lr_schedule {
    llm_lr_kind kind;
    double peak;             /* the learning rate after warmup */
    double min_lr;           /* floor of the decay (0: as transformers) */
    int64_t warmup_steps;
    int64_t total_steps;     /* optimizer steps of the whole run */
} llm_lr_schedule;

/* The learning rate of the optimizer step that follows `step` steps taken (0 for the first:
 * transformers' LambdaLR at that count), so the first step of a warmup has lr 0:
 *   warmup (step < warmup):  peak * step / max(1, warmup)
 *   progress p = (step - warmup) / max(1, total - warmup)
 *   constant: peak
 *   linear:   min_lr + (peak - min_lr) * max(0, 1 - p)
 *   cosine:   min_lr + (peak - min_lr) * max(0, 0.5 * (1 + cos(pi * p)))
 * With min_lr = 0 these are transformers' formulas; with min_lr > 0 the cosine one is
 * get_cosine_with_min_lr_schedule_with_warmup's. */
double llm_lr_at(const llm_lr_schedule *s, int64_t step);

/* Warmup steps of a warmup ratio, as Trainer counts them: ceil(ratio * total). */
int64_t llm_warmup_steps(double ratio, int64_t total_steps);

#ifdef __cplusplus
}
#endif
#endif

/* The optimizer side of training, as PyTorch and Hugging Face Trainer do it: AdamW with
 * decoupled weight decay (torch.optim.AdamW), gradient-norm clipping
 * (torch.nn.utils.clip_grad_norm_) and the learning-rate schedules of transformers'
 * get_scheduler, with a floor for the linear and cosine decays. */
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

/* transformers' SchedulerType values, by the names --schedule takes (llm_lr_kind_names). */
typedef enum llm_lr_kind {
    LLM_LR_CONSTANT = 0,         /* get_constant_schedule: no warmup */
    LLM_LR_LINEAR,
    LLM_LR_COSINE,
    LLM_LR_CONSTANT_WITH_WARMUP,
    LLM_LR_COSINE_WITH_RESTARTS,
    LLM_LR_POLYNOMIAL,
    LLM_LR_INVERSE_SQRT,
    LLM_LR_WARMUP_STABLE_DECAY,
    LLM_LR_REDUCE_LR_ON_PLATEAU, /* its rate follows the evaluations: llm_plateau */
    LLM_LR_GREEDY,               /* GreedyLR: its rate follows the evaluations too: llm_greedy */
    LLM_LR_KINDS
} llm_lr_kind;

/* The curves of warmup_stable_decay's warmup and decay (warmup_type, decay_type). */
typedef enum llm_lr_shape { LLM_SHAPE_LINEAR = 0, LLM_SHAPE_COSINE, LLM_SHAPE_1_SQRT, LLM_SHAPES } llm_lr_shape;

extern const char *const llm_lr_kind_names[LLM_LR_KINDS];
extern const char *const llm_lr_shape_names[LLM_SHAPES];
/* GreedyLR's threshold_mode, by llm_lr_schedule.greedy_relative: "abs", "rel". */
extern const char *const llm_threshold_mode_names[2];

typedef struct llm_lr_schedule {
    llm_lr_kind kind;
    double peak;             /* the learning rate after warmup */
    double min_lr;           /* floor of the decay; polynomial's lr_end */
    int64_t warmup_steps;
    int64_t total_steps;     /* optimizer steps of the whole run */
    /* Each kind's own settings (transformers' scheduler_specific_kwargs): */
    int64_t cycles;          /* cosine_with_restarts: num_cycles */
    double power;            /* polynomial */
    int64_t timescale;       /* inverse_sqrt */
    int64_t decay_steps;     /* warmup_stable_decay: num_decay_steps */
    llm_lr_shape warmup_shape, decay_shape;    /* warmup_stable_decay */
    double plateau_factor, plateau_threshold;  /* reduce_lr_on_plateau: factor, threshold */
    int64_t plateau_patience, plateau_cooldown;    /* and patience, cooldown */
    /* greedy: GreedyLR's factor, threshold (absolute, or relative when greedy_relative),
     * patience, cooldown, warmup, max_lr, window_size when smooth (0: smooth=False) and
     * reset_start; its min_lr is min_lr */
    double greedy_factor, greedy_threshold, max_lr;
    int greedy_relative;
    int64_t greedy_patience, greedy_cooldown, greedy_warmup, greedy_window, greedy_reset;
} llm_lr_schedule;

/* A schedule of kind with the defaults of its settings (cycles 1, power 1, timescale
 * 0: the warmup's steps or 10000, linear warmup, cosine decay; ReduceLROnPlateau's factor
 * 0.1, threshold 1e-4, patience 10, cooldown 0; GreedyLR's factor 0.95, absolute threshold
 * 1e-6, patience 10, cooldown and warmup 0, max_lr 1, no smoothing, reset_start 500; its
 * min_lr of 1e-3 is the caller's). */
llm_lr_schedule llm_lr_schedule_of(llm_lr_kind kind);
/* 1 for the kinds whose rate follows the evaluations (reduce_lr_on_plateau, greedy). */
int llm_lr_follows_evals(llm_lr_kind kind);

/* The learning rate of the optimizer step that follows `step` steps taken (0 for the first:
 * transformers' LambdaLR at that count), so the first step of a warmup has lr 0. With
 * W warmup steps, T in all and progress p = (step - W) / max(1, T - W), after the warmup:
 *   constant, constant_with_warmup: peak
 *   linear:     min_lr + (peak - min_lr) * max(0, 1 - p)
 *   cosine:     min_lr + (peak - min_lr) * 0.5 * (1 + cos(pi * p))
 *   cosine_with_restarts: the same over each of `cycles` parts of the decay (0 at p >= 1)
 *   polynomial: min_lr + (peak - min_lr) * (1 - p)^power
 *   inverse_sqrt: peak / sqrt((step + timescale - W) / timescale)
 *   warmup_stable_decay: its warmup from min_lr, peak until the last decay_steps steps,
 *               then its decay to min_lr
 *   reduce_lr_on_plateau, greedy: peak, the rate before any evaluation moves it
 *               (llm_lr_state follows them)
 * With min_lr = 0 (polynomial: 1e-7) these are transformers' formulas; with min_lr > 0 the
 * cosine one is get_cosine_with_min_lr_schedule_with_warmup's. */
double llm_lr_at(const llm_lr_schedule *s, int64_t step);

/* Where a reduce_lr_on_plateau run stands: the rate of its next steps, the best loss so far,
 * the evaluations since, and those left to cool down after a reduction. */
typedef struct llm_plateau {
    double lr, best;
    int64_t bad_evals, cooldown_left;
} llm_plateau;

/* The start: the peak rate, no loss seen. */
llm_plateau llm_plateau_start(const llm_lr_schedule *s);
/* torch.optim.lr_scheduler.ReduceLROnPlateau.step(loss) in mode "min" with a relative
 * threshold and eps 1e-8, as Trainer calls it after each evaluation with the eval loss: a
 * loss below best * (1 - threshold) is an improvement; after more than patience
 * evaluations without one, the rate is multiplied by factor (not below min_lr) and
 * cooldown evaluations pass uncounted. A NaN loss is no improvement. */
void llm_plateau_step(llm_plateau *p, const llm_lr_schedule *s, double loss);

/* Where a greedy run stands: GreedyLR's rate, best, counters, and its StreamingAverage (the
 * last losses, oldest at `first` of a ring of greedy_window, and their running sum). */
#define LLM_GREEDY_MAX_WINDOW 256
typedef struct llm_greedy {
    double lr, best, sum;
    int64_t bad_evals, good_evals, cooldown_left, warmup_left, reset_left;
    int64_t n_window, first;
    double window[LLM_GREEDY_MAX_WINDOW];
} llm_greedy;

/* The start: the peak rate, no loss seen. */
void llm_greedy_start(llm_greedy *g, const llm_lr_schedule *s);
/* transformers' GreedyLR.step(loss) in mode "min", as Trainer calls it after each evaluation
 * with the eval loss: the loss (averaged over the last greedy_window when smoothing) that
 * beats the best by the threshold is good, else bad; after more than patience good ones in
 * a row the rate is divided by factor (up to max_lr) and warmup evaluations pass
 * uncounted, after more than patience bad ones it is multiplied by factor (down to min_lr)
 * and cooldown evaluations pass uncounted; changes of 1e-8 or less are not made. After
 * reset_start reductions at min_lr with no rise between, it starts over from the peak. */
void llm_greedy_step(llm_greedy *g, const llm_lr_schedule *s, double loss);

/* The learning rate of a run as it goes, for every kind: the schedule's formula, or where
 * the scheduler of a kind that follows the evaluations stands. */
typedef struct llm_lr_state {
    llm_plateau plateau;
    llm_greedy greedy;
} llm_lr_state;

void llm_lr_state_start(llm_lr_state *r, const llm_lr_schedule *s);
/* The rate of the step that follows `step` steps taken. */
double llm_lr_state_rate(const llm_lr_state *r, const llm_lr_schedule *s, int64_t step);
/* An evaluation's loss, as Trainer steps the schedulers that follow it (nothing for the
 * others). */
void llm_lr_state_evaluated(llm_lr_state *r, const llm_lr_schedule *s, double loss);
/* Where the scheduler stands as words to save: n (0 for the kinds that keep nothing), and
 * back: 0, or -1 when the words do not fit s. */
#define LLM_LR_STATE_WORDS (9 + LLM_GREEDY_MAX_WINDOW)
int llm_lr_state_save(const llm_lr_state *r, const llm_lr_schedule *s, uint64_t words[LLM_LR_STATE_WORDS]);
int llm_lr_state_load(llm_lr_state *r, const llm_lr_schedule *s, const uint64_t *words, int n);

/* The steps of a share of the run, as Trainer counts warmup_ratio's: ceil(ratio * total). */
int64_t llm_ratio_steps(double ratio, int64_t total_steps);

#ifdef __cplusplus
}
#endif
#endif

/* llm-train's internals: the options (main.c) and the run (run.c): data, model and
 * optimizer set up fresh, from --init or from a checkpoint to --resume, then the loop of
 * optimizer steps with its evaluations, checkpoints and log. */
#ifndef LLM_TRAIN_H
#define LLM_TRAIN_H

#include "adamw.h"
#include "model_cuda.h"

#include <stdint.h>

typedef enum train_doc_attention { TRAIN_DOC_AUTO = -1, TRAIN_DOC_OFF = 0, TRAIN_DOC_ON = 1 } train_doc_attention;

/* --eval-every epoch, --save-every epoch: at the end of each epoch, as Trainer's "epoch"
 * strategies. */
#define TRAIN_EACH_EPOCH (-1)

typedef struct train_opts {
    const char *data, *val, *out;
    const char *init;             /* --init DIR, or NULL */
    int resume;

    /* The model, when neither --init nor --resume gives it: the preset, then the sizes
     * given (0: the preset's). With --init or --resume, what is given must match. */
    const char *preset;
    int preset_given;
    int n_layer, n_head, n_embd, block_size;

    uint64_t seed;
    double epochs;                /* used when max_steps is 0 */
    int64_t max_steps;

    double lr, min_lr, beta1, beta2, eps, weight_decay, max_grad_norm;    /* min_lr -1: the kind's */
    double label_smoothing;       /* Trainer's label_smoothing_factor */
    double neftune_alpha;         /* Trainer's neftune_noise_alpha */
    /* The kind and its own settings; its rates and steps are filled in when the run is planned. */
    llm_lr_schedule schedule;
    int64_t warmup_steps;         /* -1: from warmup_ratio */
    double warmup_ratio;
    int64_t decay_steps;          /* warmup_stable_decay's; -1: from decay_ratio */
    double decay_ratio;

    int micro_batch;              /* rows a forward; 0: --micro-batch auto */
    int grad_accum;               /* forwards a step; 0: from batch_tokens (else 1) */
    uint64_t batch_tokens;
    int group_by_length;          /* Trainer's group_by_length: steps of like lengths */

    int64_t eval_every;           /* steps; 0: only at the end (with --val); or TRAIN_EACH_EPOCH */
    int eval_batch;               /* records a batch of an evaluation (0 while parsing: not given) */
    uint64_t eval_batches;        /* batches an evaluation; 0: the whole --val */
    int64_t patience;             /* evaluations without a lower val loss that stop the run; 0: never */
    double min_delta;             /* how much lower counts */
    int64_t save_every;           /* steps; 0: only at the end; or TRAIN_EACH_EPOCH */
    int keep;                     /* checkpoints kept; 0: all */
    double max_drop;              /* --max-drop: most of the data's ledger lost, percent; -1: any */
    int64_t log_every;            /* steps between progress lines; 0: about 20 a run */
    train_doc_attention doc_attention;

    llm_device device;            /* --device */
    int recompute;                /* --recompute: fewer activations kept on the GPU */
    unsigned threads;
    int quiet;
    int argc;                     /* the command line, for trainer_state.json */
    char **argv;
} train_opts;

/* The model sizes the options give: --model's preset, each size given replacing its own. */
void train_given_sizes(const train_opts *o, llm_model_config *cfg);
/* Runs the training. Returns the exit status. */
int train_run(const train_opts *o);

#endif

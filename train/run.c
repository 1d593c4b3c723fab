/* llm-train's run: set up (fresh, --init or --resume), the loop of optimizer steps, and
 * its evaluations, checkpoints, log and progress lines.
 *
 * A step is grad_accum forward and backward passes of micro_batch rows, normalised by the
 * counted labels of the whole step (Trainer's num_items_in_batch), then clipping and one
 * AdamW update at the schedule's rate for that step. Everything that decides the next
 * step (weights, moments, step, data position) is in a checkpoint, and nothing else feeds
 * it, so a resumed run computes the very same numbers as one that never stopped. */
#include "train.h"

#include "checkpoint.h"
#include "cli.h"
#include "dataset.h"
#include "model_io.h"
#include "noise.h"
#include "trainlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct run {
    const train_opts *o;
    llm_dataset *data, *val;
    llm_sampler *sampler;
    llm_model *m;
    llm_adamw *opt;
    llm_hf_config hf;             /* the model's config.json, with the data's tokenizer */
    llm_train_state st;
    llm_lr_state rate;            /* the steps' learning rate; evaluate moves it for the kinds that follow it */
    llm_batcher *micro;           /* grad_accum of them */
    llm_batch *batches;           /* the step's, one per micro-batcher */
    llm_batcher eval_rows;
    llm_trainlog *log;
    char *ledger;                 /* {"data": [...], "val": [...]}: the data's history, for ledger.json */
    int grad_accum, max_T, doc_attention;
    int micro_batch;              /* --micro-batch, or what auto chose */
    int on_gpu;                   /* the passes and the optimizer run on the GPU */
    char gpu_name[128];
    llm_error no_gpu;             /* why --device auto took the CPU */
    int64_t total_steps, last_saved, log_every, first_step;
    int64_t eval_every, save_every;    /* in steps: the options', an epoch's resolved */
    double start, window_start;
    uint64_t window_tokens;
    uint64_t steps_uncounted;     /* steps whose every label was masked: no loss */
    int cut_noted;                /* the first record cut to the context was reported */
    uint64_t val_cut, val_cut_tokens;    /* --val's records cut to the context an evaluation */
    int val_uncounted;            /* --val has no label to count: every val_loss is null */
    uint64_t val_batches, val_batches_uncounted;    /* an evaluation's batches; those left out */
    uint64_t eval_step;           /* the step of the last evaluation, and its loss */
    double eval_loss;
    uint64_t evals_since_best;    /* evaluations since the val loss last fell by more than --min-delta */
    uint64_t with_bounds;         /* records taken that carry document starts */
    uint64_t positions, row_tokens;    /* this run's passes: rows x width, and the rows' tokens */
    llm_error err;
} run;

static volatile sig_atomic_t stop_requested;

static void request_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* SIGINT and SIGTERM end the run after the current step, with a checkpoint; a second one
 * ends it at once. */
static void catch_stops(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = request_stop;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(run *r)
{
    llm_msg("%s", r->err.msg);
    return LLM_EXIT_FAILURE;
}

/* ---- the model ------------------------------------------------------------------------- */

void train_given_sizes(const train_opts *o, llm_model_config *cfg)
{
    llm_model_preset(o->preset, cfg);
    if (o->n_layer) cfg->n_layer = o->n_layer;
    if (o->n_head) cfg->n_head = o->n_head;
    if (o->n_embd) cfg->n_embd = o->n_embd;
    if (o->block_size) cfg->block_size = o->block_size;
}

/* With --init or --resume the model is the folder's; sizes given as well must be its own. */
static int same_sizes(run *r, const char *from)
{
    const train_opts *o = r->o;
    const llm_model_config *c = &r->m->cfg;
    llm_model_config g;
    train_given_sizes(o, &g);
    struct { const char *name; int given, was, is; } f[] = {
        {"--n-layer", o->n_layer, g.n_layer, c->n_layer},
        {"--n-head", o->n_head, g.n_head, c->n_head},
        {"--n-embd", o->n_embd, g.n_embd, c->n_embd},
        {"--block-size", o->block_size, g.block_size, c->block_size},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if ((!f[i].given && !o->preset_given) || f[i].was == f[i].is)
            continue;
        if (f[i].given)
            return llm_error_set(&r->err, "%s %d, but the model of %s has %d (leave the sizes out: they come "
                                 "from the folder)", f[i].name, f[i].was, from, f[i].is);
        /* the size came from --model's preset: name what was typed */
        return llm_error_set(&r->err, "--model %s has %s %d, but the model of %s has %d (leave --model out: "
                             "the sizes come from the folder)", o->preset, f[i].name, f[i].was, from, f[i].is);
    }
    return 0;
}

static int new_model(run *r, const llm_header *h)
{
    const train_opts *o = r->o;
    llm_model_config cfg;
    train_given_sizes(o, &cfg);
    cfg.vocab_size = (int)h->vocab_size;
    if (!(r->m = llm_model_new(&cfg, &r->err)))
        return -1;
    llm_model_init(r->m, o->seed);
    return 0;
}

/* --init: the folder's model, its vocabulary grown to the data's (new rows at the mean). */
static int init_model(run *r, const llm_header *h)
{
    llm_hf_config hf;
    if (!(r->m = llm_model_load(r->o->init, &hf, NULL, &r->err)))
        return -1;
    if (h->vocab_size <= (uint32_t)hf.vocab_size)
        return llm_model_check_data(&hf, h, r->o->data, &r->err);
    if (llm_model_check_growth(&hf, h, r->o->data, &r->err) < 0)
        return -1;
    if (!r->o->quiet)
        llm_msg("growing the vocabulary from %d to %u tokens (new rows start at the mean)", hf.vocab_size,
                h->vocab_size);
    return llm_model_resize_vocab(r->m, (int)h->vocab_size, &r->err);
}

/* ---- resuming -------------------------------------------------------------------------- */

/* --micro-batch auto looks no further: larger batches only add accumulation steps' worth. */
#define AUTO_BATCH_CAP 256

#define SLOT_DATA "data"       /* the sampler's words, then the data's records and tokens */
#define SLOT_BATCH "batch"     /* micro_batch, grad_accum, max_T */
#define SLOT_ATTENTION "doc_attention"    /* 1 when rows attend inside their documents */
#define SLOT_GROUPING "group_by_length"   /* 1 when the sampler groups records by length */
#define SLOT_PATIENCE "patience"    /* evals_since_best, as EarlyStoppingCallback's counter */
#define SLOT_PLATEAU "plateau"      /* reduce_lr_on_plateau: llm_lr_state_save's words */
#define SLOT_GREEDY "greedy"        /* greedy: the same */

/* The slot of the schedulers that follow the evaluations (llm_lr_state_save's words); NULL
 * for the kinds that keep nothing. */
static const char *rate_slot(llm_lr_kind kind)
{
    return kind == LLM_LR_REDUCE_LR_ON_PLATEAU ? SLOT_PLATEAU : kind == LLM_LR_GREEDY ? SLOT_GREEDY : NULL;
}

static void put_rate(run *r)
{
    uint64_t w[LLM_LR_STATE_WORDS];
    const char *slot = rate_slot(r->st.sched.kind);
    if (slot)
        llm_train_state_put(&r->st, slot, w, llm_lr_state_save(&r->rate, &r->st.sched, w));
}

static int get_rate(run *r, const llm_train_state *saved)
{
    uint64_t w[LLM_LR_STATE_WORDS];
    const char *slot = rate_slot(r->st.sched.kind);
    if (!slot)
        return 0;
    int n = llm_train_state_words(saved, slot);
    if (n < 0 || n > LLM_LR_STATE_WORDS || llm_train_state_get(saved, slot, w, n) < 0)
        return -1;
    return llm_lr_state_load(&r->rate, &r->st.sched, w, n);
}

/* Says which setting of the schedule differs between the checkpoint's (was) and now: 1, or 0
 * when none does. */
static int name_schedule_change(const llm_lr_schedule *was, const llm_lr_schedule *is, char *out, size_t size)
{
    /* "<before><now><after> now but <then> in the checkpoint" */
    struct { const char *before, *after; double was, is; const char *const *names; } f[] = {
        {"--schedule is ", "", was->kind, is->kind, llm_lr_kind_names},
        {"the run has ", " steps", (double)was->total_steps, (double)is->total_steps, NULL},
        {"--lr is ", "", was->peak, is->peak, NULL},
        {"--min-lr is ", "", was->min_lr, is->min_lr, NULL},
        {"the warmup has ", " steps", (double)was->warmup_steps, (double)is->warmup_steps, NULL},
        {"--cycles is ", "", (double)was->cycles, (double)is->cycles, NULL},
        {"--power is ", "", was->power, is->power, NULL},
        {"--timescale is ", "", (double)was->timescale, (double)is->timescale, NULL},
        {"the decay has ", " steps", (double)was->decay_steps, (double)is->decay_steps, NULL},
        {"--warmup-type is ", "", was->warmup_shape, is->warmup_shape, llm_lr_shape_names},
        {"--decay-type is ", "", was->decay_shape, is->decay_shape, llm_lr_shape_names},
        {"--plateau-factor is ", "", was->plateau_factor, is->plateau_factor, NULL},
        {"--plateau-threshold is ", "", was->plateau_threshold, is->plateau_threshold, NULL},
        {"--plateau-patience is ", "", (double)was->plateau_patience, (double)is->plateau_patience, NULL},
        {"--plateau-cooldown is ", "", (double)was->plateau_cooldown, (double)is->plateau_cooldown, NULL},
        {"--greedy-factor is ", "", was->greedy_factor, is->greedy_factor, NULL},
        {"--greedy-threshold is ", "", was->greedy_threshold, is->greedy_threshold, NULL},
        {"--greedy-threshold-mode is ", "", was->greedy_relative, is->greedy_relative,
         llm_threshold_mode_names},
        {"--greedy-patience is ", "", (double)was->greedy_patience, (double)is->greedy_patience, NULL},
        {"--greedy-cooldown is ", "", (double)was->greedy_cooldown, (double)is->greedy_cooldown, NULL},
        {"--greedy-warmup is ", "", (double)was->greedy_warmup, (double)is->greedy_warmup, NULL},
        {"--max-lr is ", "", was->max_lr, is->max_lr, NULL},
        {"--greedy-smooth is ", "", (double)was->greedy_window, (double)is->greedy_window, NULL},
        {"--greedy-reset is ", "", (double)was->greedy_reset, (double)is->greedy_reset, NULL},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (f[i].was == f[i].is)
            continue;
        if (f[i].names)
            snprintf(out, size, "%s%s%s now but %s in the checkpoint", f[i].before, f[i].names[(int)f[i].is],
                     f[i].after, f[i].names[(int)f[i].was]);
        else
            snprintf(out, size, "%s%.9g%s now but %.9g in the checkpoint", f[i].before, f[i].is, f[i].after,
                     f[i].was);
        return 1;
    }
    return 0;
}

/* The schedule may change on --resume (a longer run, a later decay) only where every step
 * taken so far keeps its learning rate: then the resumed run is the one that would have run
 * with the new settings from the start. */
static int same_past_rates(run *r, const llm_train_state *saved)
{
    const llm_lr_schedule *was = &saved->sched, *is = &r->st.sched;
    if (llm_lr_follows_evals(was->kind) || llm_lr_follows_evals(is->kind)) {
        /* its rates follow the evaluations, not the steps: any length, the same settings */
        llm_lr_schedule then = *was, now = *is;
        then.total_steps = now.total_steps;
        char change[160];
        if (name_schedule_change(&then, &now, change, sizeof change))
            return llm_error_set(&r->err, "--resume: %s, and the rates of the steps taken followed the "
                                 "checkpoint's; resume with the run's own settings", change);
    }
    for (int64_t k = 0; k < (int64_t)saved->step; k++) {
        double a = llm_lr_at(was, k), b = llm_lr_at(is, k);
        if (fabs(a - b) > 1e-12 * fmax(fabs(a), fabs(b))) {
            char change[160] = "the schedule differs";
            name_schedule_change(was, is, change, sizeof change);
            return llm_error_set(&r->err, "--resume: %s, which changes the learning rate of step %" PRId64 ", taken "
                                 "already, from %.9g to %.9g; resume with the run's own settings (--init from the run "
                                 "starts a new one)", change, k + 1, a, b);
        }
    }
    if (saved->sched.total_steps != r->st.sched.total_steps && r->st.sched.total_steps <= (int64_t)saved->step)
        return llm_error_set(&r->err, "--resume: the checkpoint is at step %" PRIu64 ", so a run of %" PRId64
                             " steps has nothing left to do", saved->step, r->st.sched.total_steps);
    return 0;
}

/* The settings a checkpoint was made with must be the ones given now: anything else would
 * not continue the same run. */
static int same_settings(run *r, const llm_train_state *s)
{
    const llm_train_state *cur = &r->st;
    struct { const char *name; double was, is; } f[] = {
        {"--beta1", s->beta1, cur->beta1}, {"--beta2", s->beta2, cur->beta2}, {"--eps", s->eps, cur->eps},
        {"--weight-decay", s->weight_decay, cur->weight_decay}, {"--max-grad-norm", s->grad_clip, cur->grad_clip},
        {"--label-smoothing", s->label_smoothing, cur->label_smoothing},
        {"--neftune-alpha", s->neftune_alpha, cur->neftune_alpha},
        {"--seed", (double)s->seed, (double)cur->seed},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].was != f[i].is)
            return llm_error_set(&r->err, "--resume: %s is %.9g now but %.9g in the checkpoint; resume with the "
                                 "run's own settings", f[i].name, f[i].is, f[i].was);
    if (same_past_rates(r, s) < 0)
        return -1;
    uint64_t batch[3], want[3] = {(uint64_t)r->micro_batch, (uint64_t)r->grad_accum, (uint64_t)r->max_T};
    if (llm_train_state_get(s, SLOT_BATCH, batch, 3) < 0 || memcmp(batch, want, sizeof batch) != 0)
        return llm_error_set(&r->err, "--resume: the batch (--micro-batch, --grad-accum or --batch-tokens) "
                             "differs from the checkpoint's");
    uint64_t attention;    /* checkpoints before 2026-11-24 do not say */
    if (llm_train_state_get(s, SLOT_ATTENTION, &attention, 1) == 0 && attention != (uint64_t)r->doc_attention)
        return llm_error_set(&r->err, "--resume: --doc-attention is %s now but %s in the checkpoint",
                             r->doc_attention ? "on" : "off", attention ? "on" : "off");
    /* the saved data position counts records in the group's order, which grouping changes */
    uint64_t grouping = 0;    /* checkpoints before 2026-11-25 do not say: they had none */
    llm_train_state_get(s, SLOT_GROUPING, &grouping, 1);
    if (grouping != (uint64_t)r->o->group_by_length)
        return llm_error_set(&r->err, "--resume: the checkpoint's run was %s --group-by-length; resume it %s",
                             grouping ? "made with" : "made without", grouping ? "with it" : "without it");
    return 0;
}

static int resume(run *r, const char *dir)
{
    llm_train_state saved;
    int rc = -1;
    if (llm_checkpoint_load_train(dir, r->m->tensors, (int)r->m->n_tensors, r->opt->m, r->opt->v, &saved,
                                  &r->err) < 0)
        return -1;
    uint64_t words[LLM_SAMPLER_WORDS + 2];
    if (same_settings(r, &saved) < 0)
        goto out;
    if (llm_train_state_get(&saved, SLOT_DATA, words, LLM_SAMPLER_WORDS + 2) < 0 ||
        words[LLM_SAMPLER_WORDS] != llm_dataset_records(r->data) ||
        words[LLM_SAMPLER_WORDS + 1] != llm_dataset_tokens(r->data)) {
        llm_error_set(&r->err, "--resume: %s is not the data this run was trained on (records or tokens differ)",
                      r->o->data);
        goto out;
    }
    if (llm_sampler_seek(r->sampler, words, &r->err) < 0)
        goto out;
    r->st.step = saved.step;
    r->st.tokens_seen = saved.tokens_seen;
    r->st.epoch = saved.epoch;
    r->st.best_val_loss = saved.best_val_loss;
    r->st.best_step = saved.best_step;
    r->st.best_step_val_loss = saved.best_step_val_loss;
    r->opt->step = (int64_t)saved.step;
    r->last_saved = (int64_t)saved.step;
    uint64_t since;    /* checkpoints before 2026-11-25 do not say */
    if (llm_train_state_get(&saved, SLOT_PATIENCE, &since, 1) == 0)
        r->evals_since_best = since;
    if (get_rate(r, &saved) < 0) {
        llm_error_set(&r->err, "--resume: the checkpoint does not say where its %s rate stands",
                      llm_lr_kind_names[r->st.sched.kind]);
        goto out;
    }
    rc = 0;
out:
    llm_train_state_free(&saved);
    return rc;
}

/* ---- set up ---------------------------------------------------------------------------- */

/* The longest row of a data set the model can take. */
static int data_width(run *r, const llm_header *h, const char *name)
{
    int block = r->m->cfg.block_size;
    if (h->block_size > (uint32_t)block) {
        llm_error_set(&r->err, "%s: blocks of %u tokens, longer than the model's %d positions", name,
                      h->block_size, block);
        return -1;
    }
    return h->block_size ? (int)h->block_size : block;
}

/* As Trainer's set_initial_training_values counts them: an epoch's last step takes the
 * micro-batches left, fewer when they do not divide (fill_micro). */
static int64_t steps_per_epoch(const run *r)
{
    uint64_t forwards = (llm_dataset_records(r->data) + (uint64_t)r->micro_batch - 1) / (uint64_t)r->micro_batch;
    return (int64_t)((forwards + (uint64_t)r->grad_accum - 1) / (uint64_t)r->grad_accum);
}

static int64_t plan_steps(const run *r)
{
    return r->o->max_steps ? r->o->max_steps : (int64_t)ceil(r->o->epochs * (double)steps_per_epoch(r));
}

/* --eval-every and --save-every in steps (TRAIN_EACH_EPOCH: an epoch's), and Trainer's rule
 * for load_best_model_at_end, which its early stopping needs: a checkpoint competes for best
 * only when evaluated at its step, so each must be. */
static int plan_every(run *r)
{
    const train_opts *o = r->o;
    r->eval_every = o->eval_every == TRAIN_EACH_EPOCH ? steps_per_epoch(r) : o->eval_every;
    r->save_every = o->save_every == TRAIN_EACH_EPOCH ? steps_per_epoch(r) : o->save_every;
    if (o->patience && r->save_every % r->eval_every)
        return llm_error_set(&r->err, "--patience: --save-every %" PRId64 " is not a multiple of --eval-every %"
                             PRId64 " (steps), so some checkpoints would have no evaluation to compete for best "
                             "with", r->save_every, r->eval_every);
    return 0;
}

/* The schedule of the options over the run's steps, into the state the checkpoints keep; its
 * warmup and decay counted from their ratios as Trainer counts warmup (llm_ratio_steps). */
static int plan_schedule(run *r)
{
    const train_opts *o = r->o;
    llm_lr_schedule *s = &r->st.sched;
    *s = o->schedule;
    s->peak = o->lr;
    s->min_lr = o->min_lr;
    s->total_steps = r->total_steps;
    s->warmup_steps = o->warmup_steps >= 0 ? o->warmup_steps : llm_ratio_steps(o->warmup_ratio, r->total_steps);
    if (s->kind != LLM_LR_WARMUP_STABLE_DECAY)
        return 0;
    s->decay_steps = o->decay_steps >= 0 ? o->decay_steps : llm_ratio_steps(o->decay_ratio, r->total_steps);
    if (s->warmup_steps + s->decay_steps > s->total_steps)
        return llm_error_set(&r->err, "--schedule warmup_stable_decay: a warmup of %" PRId64 " steps and a decay "
                             "of %" PRId64 " are more than the run's %" PRId64, s->warmup_steps, s->decay_steps,
                             s->total_steps);
    return 0;
}

static void fill_state(run *r)
{
    const train_opts *o = r->o;
    llm_train_state *s = &r->st;
    llm_train_state_init(s);
    s->beta1 = (float)o->beta1;
    s->beta2 = (float)o->beta2;
    s->eps = (float)o->eps;
    s->weight_decay = (float)o->weight_decay;
    s->grad_clip = o->max_grad_norm;
    s->label_smoothing = o->label_smoothing;
    s->neftune_alpha = o->neftune_alpha;
    s->seed = o->seed;
    s->argc = o->argc;
    s->argv = o->argv;
}

static int open_data(run *r)
{
    const train_opts *o = r->o;
    if (!(r->data = llm_dataset_open(o->data, &r->err)))
        return -1;
    if (o->val && !(r->val = llm_dataset_open(o->val, &r->err)))
        return -1;
    if (r->val) {
        char why[256];
        const llm_header *a = llm_dataset_header(r->data), *b = llm_dataset_header(r->val);
        if (strcmp(a->tokenizer_hash, b->tokenizer_hash) != 0 || a->vocab_size != b->vocab_size) {
            llm_header_compatible(a, b, why, sizeof why);
            return llm_error_set(&r->err, "%s does not match %s: %s", o->val, o->data, why);
        }
    }
    return 0;
}

/* The ledger of a data file; *found is 0 when it carries none. */
static int read_ledger(run *r, const char *path, llm_ledger *l, int *found)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return llm_error_set(&r->err, "%s: %s", path, strerror(errno));
    uint64_t unaccounted = 0;
    int rc = llm_stream_ledger(fd, path, l, &unaccounted, &r->err);
    close(fd);
    *found = l->len > 0;
    if (rc == 0 && unaccounted && l->len && !r->o->quiet)
        llm_msg("note: %s: %" PRIu64 " of the streams concatenated in it carry no ledger", path, unaccounted);
    return rc;
}

/* Prints the history of the data (and validation data), keeps it for ledger.json, and
 * applies --max-drop to the whole history of the training data. */
static int take_ledgers(run *r)
{
    const train_opts *o = r->o;
    llm_ledger data, val;
    llm_ledger_init(&data);
    llm_ledger_init(&val);
    int has_data = 0, has_val = 0, rc = read_ledger(r, o->data, &data, &has_data);
    if (rc == 0 && o->val)
        rc = read_ledger(r, o->val, &val, &has_val);
    if (rc == 0 && !o->quiet) {
        llm_ledger_print_summary(&data, o->data, stderr);
        if (o->val)
            llm_ledger_print_summary(&val, o->val, stderr);
    }
    if (rc == 0 && (has_data || has_val)) {
        llm_buf b;
        llm_buf_init(&b);
        llm_buf_puts(&b, "{\"data\":");
        llm_ledger_to_json(&data, &b);
        if (o->val) {
            llm_buf_puts(&b, ",\"val\":");
            llm_ledger_to_json(&val, &b);
        }
        llm_buf_puts(&b, "}\n");
        llm_buf_putc(&b, '\0');
        if (llm_buf_failed(&b)) {
            llm_buf_free(&b);
            rc = llm_error_set(&r->err, "out of memory");
        } else {
            r->ledger = b.data;
        }
    }
    double lost = 100.0 * llm_ledger_drop_share(&data);
    /* a limit that cannot be checked must not pass as met */
    if (rc == 0 && o->max_drop >= 0 && !has_data)
        rc = llm_error_set(&r->err, "--max-drop: %s carries no ledger, so what was dropped on the way is "
                                    "unknown (leave --max-drop out to train on it)", o->data);
    if (rc == 0 && o->max_drop >= 0 && lost > o->max_drop)
        rc = llm_error_set(&r->err, "%s: its ledger says %.2f%% of the data was dropped on the way here, more "
                                    "than --max-drop %g%% (llm-cat --ledger %s shows where)", o->data, lost,
                           o->max_drop, o->data);
    llm_ledger_free(&data);
    llm_ledger_free(&val);
    return rc;
}

/* The run folder: a fresh run refuses one that holds a run already. */
static int open_out(run *r, char **resume_dir)
{
    const char *out = r->o->out;
    *resume_dir = NULL;
    int rc = llm_run_latest(out, resume_dir, &r->err);
    if (rc < 0)
        return -1;
    /* out is a model folder itself: a run there would nest in it, its log starting over */
    if (rc == 0 && strcmp(*resume_dir, out) == 0) {
        free(*resume_dir);
        *resume_dir = NULL;
        return llm_error_set(&r->err, "%s is a checkpoint, not a run folder: --out is the folder that holds "
                             "checkpoint-<step>/ (--init %s starts a new run from it)", out, out);
    }
    if (r->o->resume && rc == 1)
        return llm_error_set(&r->err, "--resume: %s holds no checkpoint to resume", out);
    if (!r->o->resume && rc == 0) {
        free(*resume_dir);
        *resume_dir = NULL;
        return llm_error_set(&r->err, "%s holds a run already: --resume continues it, or choose another --out", out);
    }
    if (mkdir(out, 0777) < 0 && errno != EEXIST)
        return llm_error_set(&r->err, "%s: %s", out, strerror(errno));
    return 0;
}

/* --device and --micro-batch auto: moves the model to the GPU when it is used and picks
 * the micro-batch (auto on the CPU: 8, the default). */
static int choose_device(run *r, int plan_T)
{
    const train_opts *o = r->o;
    llm_device dev;
    if (llm_device_resolve(o->device, &dev, &r->no_gpu, &r->err) < 0)
        return -1;
    r->micro_batch = o->micro_batch ? o->micro_batch : 8;
    if (dev != LLM_DEVICE_CUDA)
        return 0;
    llm_cuda_available(r->gpu_name, sizeof r->gpu_name, NULL);
    if (llm_model_cuda_attach(r->m, o->recompute, &r->err) < 0)
        return -1;
    r->on_gpu = 1;
    if (!o->micro_batch &&
        !(r->micro_batch = llm_model_cuda_max_batch(r->m, plan_T, 1, AUTO_BATCH_CAP, &r->err)))
        return -1;
    return 0;
}

static int setup(run *r)
{
    const train_opts *o = r->o;
    char *resume_dir = NULL;
    int rc = -1;
    if (open_data(r) < 0 || take_ledgers(r) < 0 || open_out(r, &resume_dir) < 0)
        goto out;
    const llm_header *h = llm_dataset_header(r->data);
    if (llm_dataset_tokens(r->data) == 0) {
        llm_error_set(&r->err, "%s: no tokens to train on", o->data);
        goto out;
    }
    if (r->val && llm_dataset_tokens(r->val) == 0) {    /* every evaluation would be null */
        llm_error_set(&r->err, "%s: no tokens to evaluate on", o->val);
        goto out;
    }
    if (resume_dir) {
        llm_hf_config hf;
        if (!(r->m = llm_model_load(resume_dir, &hf, NULL, &r->err)) ||
            llm_model_check_data(&hf, h, o->data, &r->err) < 0)
            goto out;
    } else if (o->init ? init_model(r, h) < 0 : new_model(r, h) < 0) {
        goto out;
    }
    if ((resume_dir || o->init) && same_sizes(r, resume_dir ? resume_dir : o->init) < 0)
        goto out;
    llm_model_config_to_hf(&r->m->cfg, h, &r->hf);

    int train_T = data_width(r, h, o->data), val_T = 0;
    if (train_T < 0 || (r->val && (val_T = data_width(r, llm_dataset_header(r->val), o->val)) < 0))
        goto out;
    r->max_T = train_T;
    if (choose_device(r, train_T > val_T ? train_T : val_T) < 0)
        goto out;
    r->grad_accum = o->grad_accum ? o->grad_accum : 1;
    if (o->batch_tokens) {
        uint64_t per_pass = (uint64_t)r->micro_batch * (uint64_t)r->max_T;
        uint64_t passes = (o->batch_tokens + per_pass - 1) / per_pass;
        if (passes > 1u << 20) {
            llm_error_set(&r->err, "--batch-tokens %" PRIu64 " is %" PRIu64 " passes of %d x %d tokens a step; "
                          "at most %u", o->batch_tokens, passes, r->micro_batch, r->max_T, 1u << 20);
            goto out;
        }
        r->grad_accum = (int)passes;
    }
    r->total_steps = plan_steps(r);
    if (plan_every(r) < 0)
        goto out;
    fill_state(r);
    if (plan_schedule(r) < 0)
        goto out;
    if (r->st.sched.kind == LLM_LR_GREEDY && r->st.sched.min_lr >= r->st.sched.peak && !o->quiet)
        llm_msg("greedy: --min-lr %g (GreedyLR's floor, 1e-3 unless given) is not below --lr %g: the rate may "
                "rise, never fall below where it starts", r->st.sched.min_lr, r->st.sched.peak);
    llm_lr_state_start(&r->rate, &r->st.sched);
    uint64_t batch[3] = {(uint64_t)r->micro_batch, (uint64_t)r->grad_accum, (uint64_t)r->max_T};
    llm_train_state_put(&r->st, SLOT_BATCH, batch, 3);

    /* No document attention: bounds are ignored. On or auto: rows with bounds use them. */
    r->doc_attention = o->doc_attention != TRAIN_DOC_OFF;
    uint64_t attention = (uint64_t)r->doc_attention;
    llm_train_state_put(&r->st, SLOT_ATTENTION, &attention, 1);
    uint64_t grouping = (uint64_t)o->group_by_length;
    llm_train_state_put(&r->st, SLOT_GROUPING, &grouping, 1);
    int32_t pad = h->pad_id >= 0 ? (int32_t)h->pad_id : h->eos_id >= 0 ? (int32_t)h->eos_id : 0;
    if (!(r->micro = calloc((size_t)r->grad_accum, sizeof *r->micro)) ||
        !(r->batches = calloc((size_t)r->grad_accum, sizeof *r->batches)))
        goto oom;
    for (int i = 0; i < r->grad_accum; i++)
        if (llm_batcher_init(&r->micro[i], r->micro_batch, r->max_T, pad, r->doc_attention, &r->err) < 0)
            goto out;
    if (r->val && llm_batcher_init(&r->eval_rows, r->micro_batch, val_T, pad, r->doc_attention, &r->err) < 0)
        goto out;
    llm_model_set_threads(r->m, (int)o->threads);
    r->m->label_smoothing = (float)o->label_smoothing;    /* in evaluations too, as Trainer's */
    r->m->neftune_alpha = (float)o->neftune_alpha;        /* in training passes only (step) */
    /* a micro-batch holds no more rows than the data has records (fill_micro, evaluate) */
    int plan_T = train_T > val_T ? train_T : val_T;
    uint64_t most_records = llm_dataset_records(r->data);
    if (r->val && llm_dataset_records(r->val) > most_records)
        most_records = llm_dataset_records(r->val);
    int plan_B = most_records < (uint64_t)r->micro_batch ? (int)most_records : r->micro_batch;
    if (plan_B > llm_model_max_rows(r->m, plan_T)) {
        llm_error_set(&r->err, "--micro-batch %d: on the CPU a pass takes at most %d rows of %d tokens (its logits "
                      "are indexed in 32 bits); a smaller one with --grad-accum makes the same step",
                      r->micro_batch, llm_model_max_rows(r->m, plan_T), plan_T);
        goto out;
    }
    if (llm_model_plan(r->m, plan_B, plan_T, 1, &r->err) < 0)
        goto out;

    llm_adamw_config ac = {(float)o->beta1, (float)o->beta2, (float)o->eps, (float)o->weight_decay};
    if (!(r->opt = llm_adamw_new(&ac, r->m->n_params, &r->err)) ||
        !(r->sampler = llm_sampler_new(r->data, o->seed, 0, &r->err)))
        goto out;
    if (o->group_by_length)    /* as Trainer: the batch of a step, all its passes */
        llm_sampler_group_by_length(r->sampler, (size_t)r->micro_batch * (size_t)r->grad_accum);
    if (resume_dir && resume(r, resume_dir) < 0)
        goto out;
    /* the checkpoint's moments (its weights went with the model) */
    if (resume_dir && r->on_gpu && llm_model_cuda_upload(r->m, r->opt, &r->err) < 0)
        goto out;
    if (!(r->log = llm_trainlog_open(o->out, resume_dir != NULL, r->st.step, &r->err)))
        goto out;
    rc = 0;
    goto out;
oom:
    llm_error_set(&r->err, "out of memory");
out:
    free(resume_dir);
    return rc;
}

static void teardown(run *r)
{
    if (r->micro)
        for (int i = 0; i < r->grad_accum; i++)
            llm_batcher_free(&r->micro[i]);
    free(r->micro);
    free(r->batches);
    if (r->eval_rows.tokens)
        llm_batcher_free(&r->eval_rows);
    llm_trainlog_close(r->log);
    llm_sampler_free(r->sampler);
    llm_adamw_free(r->opt);
    llm_model_free(r->m);
    llm_dataset_free(r->data);
    llm_dataset_free(r->val);
    free(r->ledger);
    r->st.argv = NULL;            /* borrowed from main */
    r->st.argc = 0;
}

/* ---- the loop -------------------------------------------------------------------------- */

static void fmt_duration(char *out, size_t n, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
}

/* Fills the step's micro-batches from the sampler as Trainer's loop cuts an epoch: each
 * takes --micro-batch records, but none goes past the epoch's last record, so the epoch's
 * last micro-batch may be short and its last step have fewer micro-batches (the rest stay
 * empty). */
static int fill_micro(run *r)
{
    int epoch_done = 0;
    for (int i = 0; i < r->grad_accum; i++) {
        llm_batcher *b = &r->micro[i];
        llm_batcher_clear(b);
        for (int taken = 0; taken < r->micro_batch && !epoch_done; taken++) {
            llm_record rec;
            if (llm_sampler_next(r->sampler, &rec, &r->err) < 0)
                return -1;
            llm_batcher_add(b, &rec);
            r->with_bounds += rec.n_bounds > 0;
            epoch_done = llm_sampler_epoch_done(r->sampler);
        }
    }
    return 0;
}

/* One optimizer step: returns 0 with the step's loss (NAN when no label counted, *counted
 * 0) and gradient norm. */
static int step(run *r, double lr, float *loss, float *grad_norm, int64_t *counted)
{
    llm_batch *mb = r->batches;
    int64_t total = 0;
    uint64_t tokens_before = 0, tokens_after = 0;
    for (int i = 0; i < r->grad_accum; i++)
        tokens_before += r->micro[i].tokens_added;
    if (fill_micro(r) < 0)
        return -1;
    for (int i = 0; i < r->grad_accum; i++) {
        llm_batcher_build(&r->micro[i], &mb[i]);
        /* NEFTune's numbers follow the seed, the step and the pass: a resumed run adds the same */
        mb[i].noise_key = llm_noise_key(r->st.seed, r->st.step, (uint64_t)i);
        total += llm_batch_count(&mb[i]);
        tokens_after += r->micro[i].tokens_added;
        r->positions += (uint64_t)mb[i].B * (uint64_t)mb[i].T;
    }
    uint64_t taken = tokens_after - tokens_before;
    r->row_tokens += taken;
    llm_model_zero_grad(r->m);
    double loss_sum = 0;
    for (int i = 0; i < r->grad_accum; i++) {
        llm_loss_stats st;
        if (mb[i].B == 0)
            continue;    /* past the epoch's end, or only empty records */
        if (llm_model_forward(r->m, &mb[i], &st, &r->err) < 0)
            return -1;
        loss_sum += st.loss_sum;
        if (st.count && llm_model_backward(r->m, (double)total, &r->err) < 0)
            return -1;
    }
    *loss = total ? (float)(loss_sum / (double)total) : NAN;
    *counted = total;
    if (r->on_gpu) {
        if (llm_model_cuda_step(r->m, r->opt, lr, r->o->max_grad_norm, grad_norm, &r->err) < 0)
            return -1;
    } else {
        *grad_norm = (float)llm_clip_grad_norm(r->m->grads, r->m->n_params, r->o->max_grad_norm);
        llm_adamw_step(r->opt, r->m->params, r->m->grads, r->m->tensors, r->m->n_tensors, lr);
    }
    r->st.step++;
    r->st.tokens_seen += taken;
    r->window_tokens += taken;
    r->st.epoch = llm_sampler_epoch(r->sampler);
    return 0;
}

static int evaluate(run *r)
{
    llm_eval_opts eo = {.batch_records = (uint64_t)r->o->eval_batch, .max_batches = r->o->eval_batches};
    llm_eval_sums sums;
    if (llm_dataset_evaluate(r->val, r->m, &r->eval_rows, &eo, &sums, &r->err) < 0)
        return -1;
    const llm_loss_stats st = sums.stats;
    r->val_cut = sums.truncated;
    r->val_cut_tokens = sums.tokens_cut;
    r->val_uncounted = st.count == 0;
    r->val_batches = sums.batches;
    r->val_batches_uncounted = sums.batches_uncounted;
    double loss = sums.trainer_loss;    /* what early stopping, best and the plateau follow, as Trainer's */
    llm_log_eval e = {
        .step = r->st.step, .epoch = r->st.epoch, .tokens = r->st.tokens_seen, .val_loss = (float)loss,
        .val_accuracy = st.count ? (float)((double)st.correct / (double)st.count) : NAN,
        .val_tokens = (uint64_t)st.count, .elapsed_s = now() - r->start,
    };
    /* As EarlyStoppingCallback: against the best before this evaluation, by more than the
     * threshold (false for a null loss, as for the first one against INFINITY: true). */
    if (r->st.best_val_loss - loss > r->o->min_delta)
        r->evals_since_best = 0;
    else
        r->evals_since_best++;
    if (loss < r->st.best_val_loss)
        r->st.best_val_loss = loss;
    llm_lr_state_evaluated(&r->rate, &r->st.sched, loss);    /* as Trainer, after each evaluation */
    r->eval_step = r->st.step;
    r->eval_loss = loss;
    if (!r->o->quiet)
        llm_msg("step %" PRIu64 ": val loss %.4f, perplexity %.2f, accuracy %.4f (%" PRId64 " tokens)", r->st.step,
                loss, exp(loss), (double)e.val_accuracy, st.count);
    return llm_trainlog_eval(r->log, &e, &r->err);
}

static int save(run *r)
{
    uint64_t words[LLM_SAMPLER_WORDS + 2];
    llm_sampler_tell(r->sampler, words);
    words[LLM_SAMPLER_WORDS] = llm_dataset_records(r->data);
    words[LLM_SAMPLER_WORDS + 1] = llm_dataset_tokens(r->data);
    llm_train_state_put(&r->st, SLOT_DATA, words, LLM_SAMPLER_WORDS + 2);
    llm_train_state_put(&r->st, SLOT_PATIENCE, &r->evals_since_best, 1);
    put_rate(r);
    /* As Trainer's best_model_checkpoint: only a checkpoint evaluated at its own step competes. */
    if (r->eval_step == r->st.step && r->eval_loss < r->st.best_step_val_loss) {
        r->st.best_step = r->st.step;
        r->st.best_step_val_loss = r->eval_loss;
    }
    /* the fp32 masters and moments of the GPU into the host buffers the checkpoint writes */
    if (r->on_gpu && llm_model_cuda_download(r->m, r->opt, &r->err) < 0)
        return -1;
    llm_checkpoint c = {
        .config = &r->hf, .tensors = r->m->tensors, .n_tensors = (int)r->m->n_tensors, .params = r->m->params,
        .m = r->opt->m, .v = r->opt->v, .state = &r->st, .ledger = r->ledger,
    };
    char *saved = NULL;
    /* The chart too: a run without --val has no evaluation to redraw it. */
    if (llm_run_save(r->o->out, &c, r->o->keep, &saved, &r->err) < 0 || llm_trainlog_write_svg(r->log, &r->err) < 0)
        return -1;
    r->last_saved = (int64_t)r->st.step;
    if (!r->o->quiet)
        llm_msg("saved %s", saved);
    free(saved);
    /* A test hook: time to kill the run between two checkpoints. */
    const char *pause = getenv("LLM_TRAIN_TEST_PAUSE_AFTER_SAVE");
    if (pause && *pause)
        usleep((useconds_t)(atof(pause) * 1e6));
    return 0;
}

static void progress(run *r, float loss, double lr, float grad_norm, double tokens_per_s)
{
    char elapsed[32], eta[32];
    double spent = now() - r->start;
    int64_t left = r->total_steps - (int64_t)r->st.step;
    fmt_duration(elapsed, sizeof elapsed, spent);
    double per_step = spent / (double)((int64_t)r->st.step - r->first_step);
    fmt_duration(eta, sizeof eta, per_step * (double)left);
    llm_msg("step %" PRIu64 "/%" PRId64 "  epoch %.2f  loss %.4f  lr %.3g  grad norm %.3g  %.0f tok/s  %s, eta %s",
            r->st.step, r->total_steps, r->st.epoch, (double)loss, lr, (double)grad_norm, tokens_per_s, elapsed, eta);
}

/* Model flops utilisation on the GPU: 6 N + 12 L T C flops a token (forward and backward,
 * attention included, as PaLM counts them) over the chip's dense bf16 rate; NaN (left out of
 * the log) on the CPU or an unknown GPU. */
static double mfu(const run *r, double tokens_per_s)
{
    double peak = r->on_gpu ? llm_model_cuda_peak_flops(r->m) : 0.0;
    if (!(peak > 0))
        return NAN;
    const llm_model_config *c = &r->m->cfg;
    double per_token = 6.0 * (double)r->m->n_params + 12.0 * c->n_layer * (double)r->max_T * c->n_embd;
    return tokens_per_s * per_token / peak;
}

/* Records cut to the context so far, and their tokens past it. */
static uint64_t cut_records(const run *r, uint64_t *tokens)
{
    uint64_t records = 0;
    *tokens = 0;
    for (int i = 0; i < r->grad_accum; i++) {
        records += r->micro[i].truncated;
        *tokens += r->micro[i].tokens_cut;
    }
    return records;
}

/* After a step: a non-finite loss or gradient ends the run (nothing it trains from then on
 * means anything, and a cron job should not spend hours finding out); a step without a
 * counted label is counted; the first record cut to the context is said at once. */
static int check_step(run *r, float loss, float grad_norm, int64_t counted)
{
    int bad_loss = counted && !isfinite(loss);
    if (bad_loss || !isfinite(grad_norm))
        return llm_error_set(&r->err, "step %" PRIu64 ": the %s is %g, so training stops (a lower --lr or "
                             "--max-grad-norm may help)", r->st.step, bad_loss ? "loss" : "gradient norm",
                             bad_loss ? (double)loss : (double)grad_norm);
    r->steps_uncounted += !counted;
    uint64_t tokens;
    if (!r->cut_noted && cut_records(r, &tokens)) {
        r->cut_noted = 1;
        if (!r->o->quiet)
            llm_msg("note: records longer than the model's context of %d tokens are cut to it (the first in step "
                    "%" PRIu64 "); the count comes at the end", r->max_T, r->st.step);
    }
    return 0;
}

/* --patience has run out: in this run, or in the one a resumed run continues (which then stays
 * stopped under the same --patience; a larger one goes on). */
static int out_of_patience(const run *r)
{
    return r->o->patience && r->evals_since_best >= (uint64_t)r->o->patience;
}

static int loop(run *r)
{
    const train_opts *o = r->o;
    r->start = r->window_start = now();
    r->first_step = (int64_t)r->st.step;
    while ((int64_t)r->st.step < r->total_steps && !stop_requested && !out_of_patience(r)) {
        double lr = llm_lr_state_rate(&r->rate, &r->st.sched, (int64_t)r->st.step);
        float loss, grad_norm;
        int64_t counted;
        if (step(r, lr, &loss, &grad_norm, &counted) < 0)
            return -1;
        double t = now();
        double tokens_per_s = r->window_tokens / (t - r->window_start > 1e-9 ? t - r->window_start : 1e-9);
        llm_log_step ls = {
            .step = r->st.step, .epoch = r->st.epoch, .tokens = r->st.tokens_seen, .loss = loss, .lr = (float)lr,
            .grad_norm = grad_norm, .tokens_per_s = tokens_per_s, .elapsed_s = t - r->start,
            .mfu = mfu(r, tokens_per_s),
        };
        if (llm_trainlog_step(r->log, &ls, &r->err) < 0 || check_step(r, loss, grad_norm, counted) < 0)
            return -1;
        int64_t s = (int64_t)r->st.step;
        int last = s == r->total_steps;
        if (!o->quiet && (s % r->log_every == 0 || last || s == r->first_step + 1)) {
            progress(r, loss, lr, grad_norm, tokens_per_s);
            r->window_start = t;
            r->window_tokens = 0;
        }
        int evaluating = r->val && ((r->eval_every && s % r->eval_every == 0) || last);
        if (evaluating && evaluate(r) < 0)
            return -1;
        int saving = (r->save_every && s % r->save_every == 0) || last || out_of_patience(r);
        if (saving && save(r) < 0)
            return -1;
        if (evaluating || saving) {   /* tokens/s counts training time only */
            r->window_start = now();
            r->window_tokens = 0;
        }
    }
    if (stop_requested && r->last_saved != (int64_t)r->st.step && save(r) < 0)
        return -1;
    return 0;
}

static void announce(const run *r)
{
    const llm_model_config *c = &r->m->cfg;
    const train_opts *o = r->o;
    llm_msg("model: GPT-2, %d layers, %d heads, width %d, %d positions, vocabulary %d: %.1fM parameters",
            c->n_layer, c->n_head, c->n_embd, c->block_size, c->vocab_size, (double)r->m->n_params / 1e6);
    llm_msg("data: %s, %" PRIu64 " records, %" PRIu64 " tokens%s", o->data, llm_dataset_records(r->data),
            llm_dataset_tokens(r->data), r->doc_attention ? "" : " (no document attention)");
    if (r->on_gpu)
        llm_msg("device: GPU %s, bf16 mixed precision%s", r->gpu_name, o->recompute ? ", recomputing activations" : "");
    else if (o->device == LLM_DEVICE_AUTO && r->no_gpu.msg[0])
        llm_msg("device: CPU (%s)", r->no_gpu.msg);
    if (!r->on_gpu && o->recompute)    /* taken, so that one command serves either device */
        llm_msg("note: --recompute is for the GPU: the CPU keeps every activation");
    if ((int64_t)r->st.step >= r->total_steps) {
        llm_msg("%s: the run ended at step %" PRIu64 " already: nothing to do", o->out, r->st.step);
        return;
    }
    if (out_of_patience(r)) {
        llm_msg("%s: --patience %" PRId64 " stopped the run at step %" PRIu64 " already: nothing to do (a larger "
                "--patience goes on)", o->out, o->patience, r->st.step);
        return;
    }
    llm_msg("steps %" PRIu64 " to %" PRId64 ": %d rows x %d tokens x %d passes a step; %s lr %g, warmup %" PRId64
            ", %u threads", r->st.step, r->total_steps, r->micro_batch, r->max_T, r->grad_accum,
            llm_lr_kind_names[r->st.sched.kind],
            o->lr, r->st.sched.warmup_steps, o->threads);
}

/* Rows are padded to the longest of their pass: say how much of the work that was, when
 * it was some. */
static void report_padding(const run *r)
{
    if (r->o->quiet || r->positions <= r->row_tokens)
        return;
    double share = 100.0 * (double)(r->positions - r->row_tokens) / (double)r->positions;
    llm_msg("padding: %.1f%% of the %" PRIu64 " positions the passes computed (rows are padded to the longest of "
            "their pass)%s", share, r->positions,
            r->o->group_by_length || share < 10 ? "" : "; --group-by-length takes records of like lengths together");
}

/* What this run left out of the loss: records cut to the context (of --data and of
 * --val), and steps that had no label to count (their loss is null in the log); and a
 * --doc-attention=on that had nothing to apply to. */
static void report_skips(const run *r)
{
    uint64_t tokens, records = cut_records(r, &tokens);
    if (records)
        llm_msg("%" PRIu64 " records taken were longer than the model's context of %d tokens and cut to it: "
                "%" PRIu64 " tokens not trained on", records, r->max_T, tokens);
    if (r->val_cut)
        llm_msg("%s: %" PRIu64 " records longer than the model's context of %d tokens were cut to it in each "
                "evaluation: %" PRIu64 " tokens not evaluated", r->o->val, r->val_cut, r->eval_rows.max_T,
                r->val_cut_tokens);
    if (r->val_uncounted)
        llm_msg("%s: no label counts in the loss in the records evaluated (every one masked): val_loss is null", r->o->val);
    else if (r->val_batches_uncounted)
        llm_msg("%s: %" PRIu64 " of the %" PRIu64 " batches of an evaluation count no label (every one masked): "
                "val_loss leaves them out, where Trainer's eval_loss would be NaN", r->o->val,
                r->val_batches_uncounted, r->val_batches);
    /* on is auto, but asked for: say when it found nothing to apply to, as llm-eval does */
    if (r->o->doc_attention == TRAIN_DOC_ON && !r->with_bounds && r->st.step > (uint64_t)r->first_step && !r->o->quiet)
        llm_msg("--doc-attention=on: no record taken recorded document starts; each was one sequence");
    if (r->steps_uncounted)
        llm_msg("%" PRIu64 " of %" PRIu64 " steps had no counted label (every one masked): no loss", r->steps_uncounted,
                r->st.step - (uint64_t)r->first_step);
}

int train_run(const train_opts *o)
{
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.last_saved = -1;
    r.eval_loss = NAN;
    int status = LLM_EXIT_OK;
    if (setup(&r) < 0) {
        status = fail(&r);
        goto out;
    }
    r.log_every = o->log_every ? o->log_every : (r.total_steps + 19) / 20;
    if (!o->quiet)
        announce(&r);
    catch_stops();
    if (loop(&r) < 0) {
        status = fail(&r);
        goto out;
    }
    if (r.on_gpu && !o->quiet)
        llm_msg("GPU memory: %.2f GiB at most (weights, gradients, moments and activations)",
                (double)llm_model_cuda_peak_bytes(r.m) / (1 << 30));
    report_padding(&r);
    report_skips(&r);
    if (out_of_patience(&r) && (int64_t)r.st.step > r.first_step && (int64_t)r.st.step < r.total_steps)
        llm_msg("early stop at step %" PRIu64 " of %" PRId64 ": %" PRIu64 " evaluations in a row did not lower the "
                "best val loss by more than %g (it is %.4f; --patience %" PRId64 ")", r.st.step, r.total_steps,
                r.evals_since_best, o->min_delta, r.st.best_val_loss, o->patience);
    if (r.st.best_step && !o->quiet)
        llm_msg("best: %s/best is checkpoint-%" PRIu64 " (val loss %.4f)", o->out, r.st.best_step,
                r.st.best_step_val_loss);
    if (stop_requested) {
        llm_msg("stopped at step %" PRIu64 "; --resume continues", r.st.step);
        status = 130;
    }
out:
    teardown(&r);
    return status;
}

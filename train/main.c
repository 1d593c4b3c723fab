/* llm-train: a GPT trained on a blocks stream, with the options and defaults of Hugging Face
 * Trainer. Options here; the run is run.c. */
#include "cli.h"
#include "model.h"
#include "train.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: llm-train --data FILE --out DIR [OPTION]...\n"
    "Train a GPT-2 model on a blocks stream (from llm-pack or llm-collate) on a GPU or the\n"
    "CPU, with Hugging Face Trainer's defaults, and write Hugging Face checkpoints to DIR.\n"
    "\n"
    "Data and run:\n"
    "      --data=FILE         training blocks (a file: it is read in a random order)\n"
    "      --val=FILE          validation blocks, evaluated at --eval-every and at the end\n"
    "      --out=DIR           the run folder: checkpoint-<step>/, latest, log.jsonl, loss.svg\n"
    "      --resume            continue the run in --out from its latest checkpoint, exactly\n"
    "      --init=DIR          start from a model folder (a checkpoint of ours or a Hugging\n"
    "                          Face GPT-2 one) instead of random weights\n"
    "      --seed=S            initialisation and data order (default 42)\n"
    "      --max-drop=PCT      refuse to start when the ledger of --data says more than PCT\n"
    "                          percent of it was dropped on the way (all stages together),\n"
    "                          or when it carries no ledger\n"
    "\n"
    "Model (a new one; --init and --resume take theirs):\n"
    "      --model=NAME        gpt2 (default, 124M), gpt2-medium, gpt2-large, gpt2-xl\n"
    "      --n-layer=N, --n-head=N, --n-embd=N, --block-size=N\n"
    "                          override the preset's sizes; the vocabulary is the data's\n"
    "      --doc-attention=auto|on|off\n"
    "                          attend only inside each document of a block and restart\n"
    "                          positions there (auto, default: when blocks record where\n"
    "                          documents start; on: the same, with a note when none does)\n"
    "\n"
    "Length:\n"
    "      --epochs=F          passes over the data (default 3)\n"
    "      --max-steps=N       optimizer steps; overrides --epochs\n"
    "      --micro-batch=N|auto  rows a forward pass (default 8); auto: the most that fit\n"
    "                          the GPU's memory (8 on the CPU)\n"
    "      --grad-accum=N      forward passes an optimizer step (default 1)\n"
    "      --batch-tokens=N    or: tokens an optimizer step, rounded up to whole passes\n"
    "      --group-by-length   steps of records of like lengths, as Trainer's\n"
    "                          group_by_length: less padding where lengths vary\n"
    "\n"
    "Optimizer (AdamW, no weight decay on biases and norm weights):\n"
    "      --lr=F              peak learning rate (default 5e-5)\n"
    "      --schedule=KIND     transformers' lr_scheduler_type: linear (default), cosine,\n"
    "                          cosine_with_restarts, polynomial, constant,\n"
    "                          constant_with_warmup, inverse_sqrt, warmup_stable_decay,\n"
    "                          reduce_lr_on_plateau, greedy\n"
    "      --warmup-steps=N    a linear warmup from 0 (default 0; warmup_stable_decay's\n"
    "                          from --min-lr, of --warmup-type)\n"
    "      --warmup-ratio=F    or: this share of the steps\n"
    "      --min-lr=F          where the decay ends (default 0; polynomial: 1e-7;\n"
    "                          greedy: 1e-3, GreedyLR's floor)\n"
    "      --cycles=N          cosine_with_restarts: cosine decays in the run (default 1)\n"
    "      --power=F           polynomial: the decay's power (default 1)\n"
    "      --timescale=N       inverse_sqrt: its timescale (default: the warmup steps,\n"
    "                          or 10000)\n"
    "      --decay-steps=N     warmup_stable_decay: the decay's steps, at the end (required)\n"
    "      --decay-ratio=F     or: this share of the steps\n"
    "      --warmup-type=T, --decay-type=T   warmup_stable_decay: linear, cosine or 1-sqrt\n"
    "                          (default linear warmup, cosine decay)\n"
    "      --plateau-factor=F, --plateau-patience=N, --plateau-threshold=F,\n"
    "      --plateau-cooldown=N  reduce_lr_on_plateau: after more than N evaluations\n"
    "                          without a val loss below best x (1-threshold), multiply\n"
    "                          the rate by F (default 0.1, 10, 1e-4, cooldown 0)\n"
    "      --greedy-factor=F, --greedy-patience=N, --greedy-threshold=F,\n"
    "      --greedy-threshold-mode=abs|rel, --greedy-cooldown=N, --greedy-warmup=N\n"
    "                          greedy (GreedyLR): after more than N evaluations in a\n"
    "                          row that beat the best val loss by the threshold, divide\n"
    "                          the rate by F (to --max-lr at most), after more than N\n"
    "                          that do not, multiply it by F (to --min-lr at least);\n"
    "                          then leave out the next warmup or cooldown evaluations\n"
    "                          (default 0.95, 10, 1e-6, abs, 0, 0)\n"
    "      --max-lr=F          greedy: the highest rate (default 1)\n"
    "      --greedy-smooth=N   greedy: follow the mean of the last N val losses\n"
    "      --greedy-reset=N    greedy: start over after N reductions at --min-lr\n"
    "                          (default 500)\n"
    "      --beta1=F, --beta2=F, --eps=F   (default 0.9, 0.999, 1e-8)\n"
    "      --weight-decay=F    (default 0)\n"
    "      --max-grad-norm=F   clip the gradient norm to F; 0: no clipping (default 1.0)\n"
    "      --label-smoothing=F Trainer's label_smoothing_factor: each label's loss is\n"
    "                          (1-F) x its cross-entropy + F x the mean -log p over\n"
    "                          the vocabulary, val loss included (default 0)\n"
    "      --neftune-alpha=F   Trainer's neftune_noise_alpha: training passes add\n"
    "                          uniform noise of F / sqrt(width x n-embd) at most to\n"
    "                          the token embeddings (NEFTune; default 0: none)\n"
    "\n"
    "Evaluation, checkpoints and log:\n"
    "      --eval-every=N|epoch  evaluate --val every N steps or each epoch's end\n"
    "                          (default 0: at the end only)\n"
    "      --eval-batch=N      records a batch of an evaluation, Trainer's\n"
    "                          per_device_eval_batch_size (default 8): the val loss is\n"
    "                          the mean of the batches' losses, as Trainer's eval_loss\n"
    "      --eval-batches=N    batches an evaluation (default 0: all of --val)\n"
    "      --patience=N        stop when N evaluations in a row have not lowered the best\n"
    "                          val loss, as EarlyStoppingCallback (default 0: never)\n"
    "      --min-delta=F       lowered means by more than F (default 0)\n"
    "      --save-every=N|epoch  save a checkpoint every N steps (default 500) or each\n"
    "                          epoch's end, and at the end\n"
    "      --keep=N            keep the newest N checkpoints (default 0: all) and the best:\n"
    "                          DIR/best links to the one of the lowest val loss\n"
    "      --log-every=N       a progress line every N steps (default: about 20 a run)\n"
    "\n"
    "Device:\n"
    "      --device=WHERE      auto (default: the GPU when one is usable, else the CPU, said\n"
    "                          on stderr), cpu or cuda (bf16 mixed precision on the GPU)\n"
    "      --recompute         on the GPU, keep fewer activations and recompute them in the\n"
    "                          backward pass: less memory, a little more time\n"
    "  -j, --threads=N         threads (default: all cores); the same numbers for the same N\n"
    "  -q, --quiet             no progress lines\n"
    "  -h, --help              print this help and exit\n"
    "      --version           print the version and exit\n"
    "\n"
    "The ledgers of --data and --val (the account of every stage that made them) are\n"
    "summarised at the start and copied into each checkpoint as ledger.json.\n"
    "Every step and evaluation is a JSON line in DIR/log.jsonl; DIR/loss.svg charts the loss.\n"
    "SIGINT or SIGTERM saves a checkpoint after the current step and stops (status 130).\n"
    "Exit status: 0 ok, 1 bad input or I/O error, 2 usage error. See llm-train(1).\n";

enum {
    OPT_DATA = 256, OPT_VAL, OPT_OUT, OPT_RESUME, OPT_INIT, OPT_SEED, OPT_MODEL, OPT_N_LAYER, OPT_N_HEAD,
    OPT_N_EMBD, OPT_BLOCK_SIZE, OPT_DOC_ATTENTION, OPT_EPOCHS, OPT_MAX_STEPS, OPT_MICRO_BATCH, OPT_GRAD_ACCUM,
    OPT_BATCH_TOKENS, OPT_GROUP_BY_LENGTH, OPT_LR, OPT_SCHEDULE, OPT_WARMUP_STEPS, OPT_WARMUP_RATIO, OPT_MIN_LR,
    OPT_CYCLES,
    OPT_POWER, OPT_TIMESCALE, OPT_DECAY_STEPS, OPT_DECAY_RATIO, OPT_WARMUP_TYPE, OPT_DECAY_TYPE, OPT_PLATEAU_FACTOR,
    OPT_PLATEAU_PATIENCE, OPT_PLATEAU_THRESHOLD, OPT_PLATEAU_COOLDOWN, OPT_GREEDY_FACTOR, OPT_GREEDY_PATIENCE,
    OPT_GREEDY_THRESHOLD, OPT_GREEDY_THRESHOLD_MODE, OPT_GREEDY_COOLDOWN, OPT_GREEDY_WARMUP, OPT_MAX_LR,
    OPT_GREEDY_SMOOTH, OPT_GREEDY_RESET, OPT_BETA1,
    OPT_BETA2, OPT_EPS, OPT_WEIGHT_DECAY, OPT_MAX_GRAD_NORM, OPT_LABEL_SMOOTHING, OPT_NEFTUNE_ALPHA,
    OPT_EVAL_EVERY, OPT_EVAL_BATCH, OPT_EVAL_BATCHES,
    OPT_SAVE_EVERY, OPT_KEEP, OPT_PATIENCE, OPT_MIN_DELTA, OPT_LOG_EVERY, OPT_MAX_DROP, OPT_DEVICE, OPT_RECOMPUTE,
    OPT_VERSION
};

static const struct option long_options[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"val", required_argument, NULL, OPT_VAL},
    {"out", required_argument, NULL, OPT_OUT},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"init", required_argument, NULL, OPT_INIT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"model", required_argument, NULL, OPT_MODEL},
    {"n-layer", required_argument, NULL, OPT_N_LAYER},
    {"n-head", required_argument, NULL, OPT_N_HEAD},
    {"n-embd", required_argument, NULL, OPT_N_EMBD},
    {"block-size", required_argument, NULL, OPT_BLOCK_SIZE},
    {"doc-attention", required_argument, NULL, OPT_DOC_ATTENTION},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"max-steps", required_argument, NULL, OPT_MAX_STEPS},
    {"micro-batch", required_argument, NULL, OPT_MICRO_BATCH},
    {"grad-accum", required_argument, NULL, OPT_GRAD_ACCUM},
    {"batch-tokens", required_argument, NULL, OPT_BATCH_TOKENS},
    {"group-by-length", no_argument, NULL, OPT_GROUP_BY_LENGTH},
    {"lr", required_argument, NULL, OPT_LR},
    {"schedule", required_argument, NULL, OPT_SCHEDULE},
    {"warmup-steps", required_argument, NULL, OPT_WARMUP_STEPS},
    {"warmup-ratio", required_argument, NULL, OPT_WARMUP_RATIO},
    {"min-lr", required_argument, NULL, OPT_MIN_LR},
    {"cycles", required_argument, NULL, OPT_CYCLES},
    {"power", required_argument, NULL, OPT_POWER},
    {"timescale", required_argument, NULL, OPT_TIMESCALE},
    {"decay-steps", required_argument, NULL, OPT_DECAY_STEPS},
    {"decay-ratio", required_argument, NULL, OPT_DECAY_RATIO},
    {"warmup-type", required_argument, NULL, OPT_WARMUP_TYPE},
    {"decay-type", required_argument, NULL, OPT_DECAY_TYPE},
    {"plateau-factor", required_argument, NULL, OPT_PLATEAU_FACTOR},
    {"plateau-patience", required_argument, NULL, OPT_PLATEAU_PATIENCE},
    {"plateau-threshold", required_argument, NULL, OPT_PLATEAU_THRESHOLD},
    {"plateau-cooldown", required_argument, NULL, OPT_PLATEAU_COOLDOWN},
    {"greedy-factor", required_argument, NULL, OPT_GREEDY_FACTOR},
    {"greedy-patience", required_argument, NULL, OPT_GREEDY_PATIENCE},
    {"greedy-threshold", required_argument, NULL, OPT_GREEDY_THRESHOLD},
    {"greedy-threshold-mode", required_argument, NULL, OPT_GREEDY_THRESHOLD_MODE},
    {"greedy-cooldown", required_argument, NULL, OPT_GREEDY_COOLDOWN},
    {"greedy-warmup", required_argument, NULL, OPT_GREEDY_WARMUP},
    {"max-lr", required_argument, NULL, OPT_MAX_LR},
    {"greedy-smooth", required_argument, NULL, OPT_GREEDY_SMOOTH},
    {"greedy-reset", required_argument, NULL, OPT_GREEDY_RESET},
    {"beta1", required_argument, NULL, OPT_BETA1},
    {"beta2", required_argument, NULL, OPT_BETA2},
    {"eps", required_argument, NULL, OPT_EPS},
    {"weight-decay", required_argument, NULL, OPT_WEIGHT_DECAY},
    {"max-grad-norm", required_argument, NULL, OPT_MAX_GRAD_NORM},
    {"label-smoothing", required_argument, NULL, OPT_LABEL_SMOOTHING},
    {"neftune-alpha", required_argument, NULL, OPT_NEFTUNE_ALPHA},
    {"eval-every", required_argument, NULL, OPT_EVAL_EVERY},
    {"eval-batch", required_argument, NULL, OPT_EVAL_BATCH},
    {"eval-batches", required_argument, NULL, OPT_EVAL_BATCHES},
    {"patience", required_argument, NULL, OPT_PATIENCE},
    {"min-delta", required_argument, NULL, OPT_MIN_DELTA},
    {"save-every", required_argument, NULL, OPT_SAVE_EVERY},
    {"keep", required_argument, NULL, OPT_KEEP},
    {"max-drop", required_argument, NULL, OPT_MAX_DROP},
    {"log-every", required_argument, NULL, OPT_LOG_EVERY},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"recompute", no_argument, NULL, OPT_RECOMPUTE},
    {"threads", required_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* A size of the model: 1 to max. */
static int size_option(const char *name, const char *arg, int max, int *out)
{
    int64_t v;
    if (llm_parse_i64(arg, 1, max, &v) < 0)
        return llm_usage_error("--%s: expected 1 to %d, got '%s'", name, max, arg);
    *out = (int)v;
    return -1;
}

static int count_option(const char *name, const char *arg, int64_t *out)
{
    if (llm_parse_i64(arg, 0, INT64_MAX / 2, out) < 0)
        return llm_usage_error("--%s: expected a count, got '%s'", name, arg);
    return -1;
}

/* --eval-every, --save-every: a count of steps, or "epoch". */
static int every_option(const char *name, const char *arg, int64_t *out)
{
    if (strcmp(arg, "epoch") == 0) {
        *out = TRAIN_EACH_EPOCH;
        return -1;
    }
    if (llm_parse_i64(arg, 0, INT64_MAX / 2, out) < 0)
        return llm_usage_error("--%s: expected a count of steps or epoch, got '%s'", name, arg);
    return -1;
}

static int real_option(const char *name, const char *arg, double min, double max, double *out)
{
    if (llm_parse_double(arg, min, max, out) < 0)
        return llm_usage_error("--%s: expected a number from %g to %g, got '%s'", name, min, max, arg);
    return -1;
}

/* The schedule kind whose own setting option c is, or -1. */
static int setting_kind(int c)
{
    switch (c) {
    case OPT_CYCLES: return LLM_LR_COSINE_WITH_RESTARTS;
    case OPT_POWER: return LLM_LR_POLYNOMIAL;
    case OPT_TIMESCALE: return LLM_LR_INVERSE_SQRT;
    case OPT_DECAY_STEPS: case OPT_DECAY_RATIO: case OPT_WARMUP_TYPE: case OPT_DECAY_TYPE:
        return LLM_LR_WARMUP_STABLE_DECAY;
    case OPT_PLATEAU_FACTOR: case OPT_PLATEAU_THRESHOLD: case OPT_PLATEAU_PATIENCE: case OPT_PLATEAU_COOLDOWN:
        return LLM_LR_REDUCE_LR_ON_PLATEAU;
    case OPT_GREEDY_FACTOR: case OPT_GREEDY_PATIENCE: case OPT_GREEDY_THRESHOLD: case OPT_GREEDY_THRESHOLD_MODE:
    case OPT_GREEDY_COOLDOWN: case OPT_GREEDY_WARMUP: case OPT_MAX_LR: case OPT_GREEDY_SMOOTH: case OPT_GREEDY_RESET:
        return LLM_LR_GREEDY;
    default: return -1;
    }
}

static const char *option_name(int c)
{
    const struct option *l = long_options;
    while (l->name && l->val != c)
        l++;
    return l->name ? l->name : "?";
}

static int check_schedule(const train_opts *o)
{
    llm_lr_kind kind = o->schedule.kind;
    const char *name = llm_lr_kind_names[kind];
    if (kind == LLM_LR_CONSTANT && (o->warmup_steps > 0 || o->warmup_ratio > 0))
        return llm_usage_error("--schedule constant has no warmup, as transformers' get_constant_schedule has "
                               "none; --schedule constant_with_warmup has one");
    if (llm_lr_follows_evals(kind) && (o->warmup_steps > 0 || o->warmup_ratio > 0))
        return llm_usage_error("--schedule %s has no warmup (transformers' get_scheduler gives it none)", name);
    if (llm_lr_follows_evals(kind) && !o->eval_every)
        return llm_usage_error("--schedule %s moves the rate after evaluations: it needs --val FILE and "
                               "--eval-every N", name);
    if (o->min_lr > 0 && (kind == LLM_LR_CONSTANT || kind == LLM_LR_CONSTANT_WITH_WARMUP ||
                          kind == LLM_LR_INVERSE_SQRT))
        return llm_usage_error("--min-lr is where a decay ends; --schedule %s has none", name);
    /* GreedyLR's floor of 1e-3 is above most rates; it then only rises, as in transformers */
    if (kind != LLM_LR_GREEDY && (o->min_lr > o->lr || (kind == LLM_LR_POLYNOMIAL && o->min_lr == o->lr)))
        return llm_usage_error("--min-lr %g is not below --lr %g", o->min_lr, o->lr);
    if (kind == LLM_LR_WARMUP_STABLE_DECAY && o->decay_steps < 0 && !(o->decay_ratio > 0))
        return llm_usage_error("--schedule warmup_stable_decay needs --decay-steps N or --decay-ratio F: "
                               "how long its decay at the end is");
    if (o->decay_steps >= 0 && o->decay_ratio > 0)
        return llm_usage_error("give --decay-steps or --decay-ratio, not both");
    return -1;
}

static int check_args(const train_opts *o)
{
    if (!o->data)
        return llm_usage_error("--data FILE is required (a blocks stream from llm-pack or llm-collate)");
    if (!o->out)
        return llm_usage_error("--out DIR is required (where checkpoints and the log go)");
    if (o->resume && o->init)
        return llm_usage_error("--resume continues --out's own run; --init starts a new one: not both");
    if (o->grad_accum && o->batch_tokens)
        return llm_usage_error("give --grad-accum or --batch-tokens, not both");
    if (o->warmup_steps >= 0 && o->warmup_ratio > 0)
        return llm_usage_error("give --warmup-steps or --warmup-ratio, not both");
    int status = check_schedule(o);
    if (status >= 0)
        return status;
    if (!o->val && (o->eval_every || o->eval_batch || o->eval_batches))
        return llm_usage_error("--eval-every, --eval-batch and --eval-batches evaluate --val FILE, which is not "
                               "given");
    if (o->patience && !o->eval_every)
        return llm_usage_error("--patience counts evaluations during the run: it needs --val FILE and --eval-every N");
    if (o->min_delta > 0 && !o->patience)
        return llm_usage_error("--min-delta is --patience's threshold: give --patience N too");
    if (!o->resume && !o->init) {    /* the new model's sizes are the options' alone */
        llm_model_config cfg;
        llm_error err;
        train_given_sizes(o, &cfg);
        if (llm_model_config_check(&cfg, &err) < 0)
            return llm_usage_error("--model, --n-layer, --n-head, --n-embd: %s", err.msg);
    }
    if (o->max_steps == 0 && !(o->epochs > 0))
        return llm_usage_error("--epochs must be above 0 (or give --max-steps)");
    return -1;
}

/* Parses argv into o. Returns -1 to go on, else the exit status to return at once. */
static int parse_args(train_opts *o, int argc, char **argv)
{
    static const char *const doc_names[] = {"off", "on", "auto"};
    static const char *const device_names[] = {"auto", "cpu", "cuda"};    /* llm_device's order */
    int c, k, status;
    int64_t v;
    uint64_t u;
    int setting_of[LLM_LR_KINDS] = {0};    /* an option given that is a setting of that kind */
    /* LLM_DEVICE is --device's default (the CPU tests pin it to cpu); the option wins */
    const char *env_device = getenv("LLM_DEVICE");
    if (env_device && *env_device) {
        if ((status = llm_choice_option("device (LLM_DEVICE)", env_device, device_names, 3, &k)) >= 0)
            return status;
        o->device = (llm_device)k;
    }
    opterr = 0;
    while ((c = getopt_long(argc, argv, "j:qh", long_options, NULL)) != -1) {
        status = -1;
        switch (c) {
        case OPT_DATA: o->data = optarg; break;
        case OPT_VAL: o->val = optarg; break;
        case OPT_OUT: o->out = optarg; break;
        case OPT_RESUME: o->resume = 1; break;
        case OPT_INIT: o->init = optarg; break;
        case OPT_SEED:
            if (llm_parse_u64(optarg, 0, UINT64_MAX, &o->seed) < 0)
                return llm_usage_error("--seed: expected a number, got '%s'", optarg);
            break;
        case OPT_MODEL: {
            llm_model_config cfg;
            if (llm_model_preset(optarg, &cfg) < 0)
                return llm_usage_error("--model: expected gpt2, gpt2-medium, gpt2-large or gpt2-xl, got '%s'", optarg);
            o->preset = optarg;
            o->preset_given = 1;
            break;
        }
        case OPT_N_LAYER: status = size_option("n-layer", optarg, 1024, &o->n_layer); break;
        case OPT_N_HEAD: status = size_option("n-head", optarg, 1024, &o->n_head); break;
        case OPT_N_EMBD: status = size_option("n-embd", optarg, 1 << 16, &o->n_embd); break;
        case OPT_BLOCK_SIZE: status = size_option("block-size", optarg, 1 << 20, &o->block_size); break;
        case OPT_DOC_ATTENTION:
            status = llm_choice_option("doc-attention", optarg, doc_names, 3, &k);
            o->doc_attention = k == 2 ? TRAIN_DOC_AUTO : (train_doc_attention)k;
            break;
        case OPT_EPOCHS: status = real_option("epochs", optarg, 0, 1e9, &o->epochs); break;
        case OPT_MAX_STEPS: status = count_option("max-steps", optarg, &o->max_steps); break;
        case OPT_MICRO_BATCH:
            if (strcmp(optarg, "auto") == 0)
                o->micro_batch = 0;
            else
                status = size_option("micro-batch", optarg, 1 << 16, &o->micro_batch);
            break;
        case OPT_GRAD_ACCUM: status = size_option("grad-accum", optarg, 1 << 20, &o->grad_accum); break;
        case OPT_BATCH_TOKENS:
            if (llm_parse_size(optarg, 1, UINT64_MAX >> 8, &u) < 0)
                return llm_usage_error("--batch-tokens: expected a number of tokens, got '%s'", optarg);
            o->batch_tokens = u;
            break;
        case OPT_LR: status = real_option("lr", optarg, 0, 10, &o->lr); break;
        case OPT_SCHEDULE:
            status = llm_choice_option("schedule", optarg, llm_lr_kind_names, LLM_LR_KINDS, &k);
            o->schedule.kind = (llm_lr_kind)k;
            break;
        case OPT_WARMUP_STEPS: status = count_option("warmup-steps", optarg, &o->warmup_steps); break;
        case OPT_WARMUP_RATIO: status = real_option("warmup-ratio", optarg, 0, 1, &o->warmup_ratio); break;
        case OPT_MIN_LR: status = real_option("min-lr", optarg, 0, 10, &o->min_lr); break;
        case OPT_CYCLES:
            status = size_option("cycles", optarg, 1 << 20, &k);
            o->schedule.cycles = k;
            break;
        case OPT_POWER: status = real_option("power", optarg, 0, 1000, &o->schedule.power); break;
        case OPT_TIMESCALE:
            status = size_option("timescale", optarg, INT32_MAX, &k);
            o->schedule.timescale = k;
            break;
        case OPT_DECAY_STEPS: status = count_option("decay-steps", optarg, &o->decay_steps); break;
        case OPT_DECAY_RATIO: status = real_option("decay-ratio", optarg, 0, 1, &o->decay_ratio); break;
        case OPT_WARMUP_TYPE:
            status = llm_choice_option("warmup-type", optarg, llm_lr_shape_names, LLM_SHAPES, &k);
            o->schedule.warmup_shape = (llm_lr_shape)k;
            break;
        case OPT_DECAY_TYPE:
            status = llm_choice_option("decay-type", optarg, llm_lr_shape_names, LLM_SHAPES, &k);
            o->schedule.decay_shape = (llm_lr_shape)k;
            break;
        case OPT_PLATEAU_FACTOR:
            status = real_option("plateau-factor", optarg, 1e-9, 0.999999, &o->schedule.plateau_factor);
            break;
        case OPT_PLATEAU_THRESHOLD:
            status = real_option("plateau-threshold", optarg, 0, 1, &o->schedule.plateau_threshold);
            break;
        case OPT_PLATEAU_PATIENCE:
            status = count_option("plateau-patience", optarg, &o->schedule.plateau_patience);
            break;
        case OPT_PLATEAU_COOLDOWN:
            status = count_option("plateau-cooldown", optarg, &o->schedule.plateau_cooldown);
            break;
        case OPT_GREEDY_FACTOR:
            status = real_option("greedy-factor", optarg, 1e-9, 0.999999, &o->schedule.greedy_factor);
            break;
        case OPT_GREEDY_THRESHOLD:
            status = real_option("greedy-threshold", optarg, 0, 1e30, &o->schedule.greedy_threshold);
            break;
        case OPT_GREEDY_THRESHOLD_MODE:
            status = llm_choice_option("greedy-threshold-mode", optarg, llm_threshold_mode_names, 2, &k);
            o->schedule.greedy_relative = k;
            break;
        case OPT_GREEDY_PATIENCE: status = count_option("greedy-patience", optarg, &o->schedule.greedy_patience); break;
        case OPT_GREEDY_COOLDOWN: status = count_option("greedy-cooldown", optarg, &o->schedule.greedy_cooldown); break;
        case OPT_GREEDY_WARMUP: status = count_option("greedy-warmup", optarg, &o->schedule.greedy_warmup); break;
        case OPT_MAX_LR: status = real_option("max-lr", optarg, 1e-30, 1e30, &o->schedule.max_lr); break;
        case OPT_GREEDY_SMOOTH:
            status = size_option("greedy-smooth", optarg, LLM_GREEDY_MAX_WINDOW, &k);
            o->schedule.greedy_window = k;
            break;
        case OPT_GREEDY_RESET:
            status = size_option("greedy-reset", optarg, INT32_MAX, &k);
            o->schedule.greedy_reset = k;
            break;
        case OPT_BETA1: status = real_option("beta1", optarg, 0, 0.999999, &o->beta1); break;
        case OPT_BETA2: status = real_option("beta2", optarg, 0, 0.999999999, &o->beta2); break;
        case OPT_EPS: status = real_option("eps", optarg, 1e-30, 1, &o->eps); break;
        case OPT_WEIGHT_DECAY: status = real_option("weight-decay", optarg, 0, 10, &o->weight_decay); break;
        case OPT_MAX_GRAD_NORM: status = real_option("max-grad-norm", optarg, 0, 1e30, &o->max_grad_norm); break;
        case OPT_LABEL_SMOOTHING: status = real_option("label-smoothing", optarg, 0, 0.999, &o->label_smoothing); break;
        case OPT_NEFTUNE_ALPHA: status = real_option("neftune-alpha", optarg, 0, 1e6, &o->neftune_alpha); break;
        case OPT_EVAL_EVERY: status = every_option("eval-every", optarg, &o->eval_every); break;
        case OPT_EVAL_BATCH: status = size_option("eval-batch", optarg, 1 << 20, &o->eval_batch); break;
        case OPT_EVAL_BATCHES:
            status = count_option("eval-batches", optarg, &v);
            o->eval_batches = (uint64_t)v;
            break;
        case OPT_PATIENCE: status = count_option("patience", optarg, &o->patience); break;
        case OPT_MIN_DELTA: status = real_option("min-delta", optarg, 0, 1e30, &o->min_delta); break;
        case OPT_SAVE_EVERY: status = every_option("save-every", optarg, &o->save_every); break;
        case OPT_MAX_DROP: status = llm_max_drop_option(optarg, &o->max_drop); break;
        case OPT_KEEP:
            status = count_option("keep", optarg, &v);
            o->keep = v > 1 << 30 ? 1 << 30 : (int)v;
            break;
        case OPT_LOG_EVERY: status = count_option("log-every", optarg, &o->log_every); break;
        case OPT_DEVICE:
            status = llm_choice_option("device", optarg, device_names, 3, &k);
            o->device = (llm_device)k;
            break;
        case OPT_RECOMPUTE: o->recompute = 1; break;
        case OPT_GROUP_BY_LENGTH: o->group_by_length = 1; break;
        case 'j': status = llm_threads_option(optarg, &o->threads); break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage, stdout); return llm_flush_stdout();
        case OPT_VERSION: puts("llm-train (llm-tools) " LLM_VERSION); return llm_flush_stdout();
        default: return llm_bad_option_error(argc, argv);
        }
        if (status >= 0)
            return status;
        if ((k = setting_kind(c)) >= 0)
            setting_of[k] = c;
    }
    if (optind < argc)
        return llm_usage_error("unexpected argument '%s' (the data is --data FILE)", argv[optind]);
    for (k = 0; k < LLM_LR_KINDS; k++)
        if (setting_of[k] && k != (int)o->schedule.kind)
            return llm_usage_error("--%s is a setting of --schedule %s", option_name(setting_of[k]),
                                   llm_lr_kind_names[k]);
    if (o->min_lr < 0)    /* transformers' lr_end of the polynomial decay is 1e-7, GreedyLR's min_lr 1e-3 */
        o->min_lr = o->schedule.kind == LLM_LR_POLYNOMIAL ? 1e-7 : o->schedule.kind == LLM_LR_GREEDY ? 1e-3 : 0;
    status = check_args(o);
    if (!o->eval_batch)    /* Trainer's per_device_eval_batch_size, whatever the micro-batch */
        o->eval_batch = 8;
    return status;
}

int main(int argc, char **argv)
{
    llm_cli_init("llm-train");
    train_opts o = {
        .preset = "gpt2", .seed = 42, .epochs = 3, .lr = 5e-5, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
        .max_grad_norm = 1.0, .min_lr = -1, .schedule = llm_lr_schedule_of(LLM_LR_LINEAR), .warmup_steps = -1,
        .decay_steps = -1, .micro_batch = 8,
        .save_every = 500, .doc_attention = TRAIN_DOC_AUTO, .max_drop = -1,
    };
    o.threads = llm_default_threads();
    o.argc = argc;
    /* trainer_state.json keeps the command as typed: copy it before getopt permutes argv. */
    char **typed = malloc(((size_t)argc + 1) * sizeof *typed);
    if (!typed) {
        llm_msg("out of memory");
        return LLM_EXIT_FAILURE;
    }
    memcpy(typed, argv, ((size_t)argc + 1) * sizeof *typed);
    o.argv = typed;
    int status = parse_args(&o, argc, argv);
    if (status < 0)
        status = train_run(&o);
    free(typed);
    return status;
}

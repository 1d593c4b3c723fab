/* Unit tests for lib/checkpoint.c: config.json and trainer_state.json round trips (every bit of
 * every double and word), a Hugging Face hub config, refusals, whole checkpoints saved and
 * loaded bit-exact, corrupt checkpoints refused by name, the run folder (latest, keep, the
 * fallback scan), and crashes at every stage of a save leaving a loadable checkpoint. */
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint.h"
#include "safetensors.h"
#include "tensor_fixture.h"

static char tmp[256];

/* "a/b", kept until the end of the test program (so nested calls are safe). */
static char *paths[4096];
static int n_paths;

static char *path_in(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    if (n_paths < 4096)
        paths[n_paths++] = p;
    return p;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- config.json ------------------------------------------------------------------------ */

static void test_config_round_trip(void)
{
    llm_hf_config c, back;
    llm_hf_config_init(&c);
    c.n_layer = 3;
    c.n_head = 4;
    c.n_embd = 64;
    c.n_positions = 256;
    c.vocab_size = 50304;
    c.layer_norm_eps = 1e-6;
    c.bos_id = 1;
    c.eos_id = 50256;
    c.pad_id = 50257;
    snprintf(c.tokenizer_name, sizeof c.tokenizer_name, "gpt2");
    snprintf(c.tokenizer_hash, sizeof c.tokenizer_hash, "xxh64:0123456789abcdef");
    llm_buf b;
    llm_buf_init(&b);
    llm_hf_config_to_json(&c, &b);
    llm_error err = {""};
    CHECKF(llm_hf_config_from_json(&back, b.data, b.len, &err) == 0, "%s", err.msg);
    CHECK(strcmp(back.family, "gpt2") == 0 && back.n_layer == 3 && back.n_head == 4 && back.n_embd == 64 &&
          back.n_positions == 256 && back.vocab_size == 50304 && same_double(back.layer_norm_eps, 1e-6) &&
          back.bos_id == 1 && back.eos_id == 50256 && back.pad_id == 50257 &&
          strcmp(back.tokenizer_name, "gpt2") == 0 && strcmp(back.tokenizer_hash, c.tokenizer_hash) == 0);
    /* What transformers reads: the fields under their HF names. */
    CHECK(strstr(b.data, "\"model_type\": \"gpt2\"") && strstr(b.data, "\"GPT2LMHeadModel\"") &&
          strstr(b.data, "\"n_embd\": 64,") && strstr(b.data, "\"layer_norm_epsilon\": 1e-06,") &&
          strstr(b.data, "\"tie_word_embeddings\": true") && strstr(b.data, "\"n_inner\": null") &&
          strstr(b.data, "\"activation_function\": \"gelu_new\"") && strstr(b.data, "\"pad_token_id\": 50257"));
    /* No special ids: nulls, and none read back. */
    llm_hf_config_init(&c);
    llm_buf_clear(&b);
    llm_hf_config_to_json(&c, &b);
    CHECK(strstr(b.data, "\"bos_token_id\": null") && !strstr(b.data, "pad_token_id"));
    CHECK(llm_hf_config_from_json(&back, b.data, b.len, &err) == 0 && back.bos_id == -1 && back.pad_id == -1);
    llm_buf_free(&b);
}

/* gpt2's config.json as the Hugging Face hub has it. */
static const char hub_gpt2[] =
    "{\n  \"activation_function\": \"gelu_new\",\n  \"architectures\": [\n    \"GPT2LMHeadModel\"\n  ],\n"
    "  \"attn_pdrop\": 0.1,\n  \"bos_token_id\": 50256,\n  \"embd_pdrop\": 0.1,\n  \"eos_token_id\": 50256,\n"
    "  \"initializer_range\": 0.02,\n  \"layer_norm_epsilon\": 1e-05,\n  \"model_type\": \"gpt2\",\n"
    "  \"n_ctx\": 1024,\n  \"n_embd\": 768,\n  \"n_head\": 12,\n  \"n_layer\": 12,\n  \"n_positions\": 1024,\n"
    "  \"resid_pdrop\": 0.1,\n  \"summary_activation\": null,\n  \"summary_first_dropout\": 0.1,\n"
    "  \"summary_proj_to_labels\": true,\n  \"summary_type\": \"cls_index\",\n  \"summary_use_proj\": true,\n"
    "  \"task_specific_params\": {\n    \"text-generation\": {\n      \"do_sample\": true,\n"
    "      \"max_length\": 50\n    }\n  },\n  \"vocab_size\": 50257\n}\n";

static void test_config_hub(void)
{
    llm_hf_config c;
    llm_error err = {""};
    CHECKF(llm_hf_config_from_json(&c, hub_gpt2, strlen(hub_gpt2), &err) == 0, "%s", err.msg);
    CHECK(c.n_layer == 12 && c.n_head == 12 && c.n_embd == 768 && c.n_positions == 1024 && c.vocab_size == 50257 &&
          c.bos_id == 50256 && c.eos_id == 50256 && c.pad_id == -1 && c.layer_norm_eps == 1e-5 &&
          c.tokenizer_name[0] == '\0');
}

static void test_config_refusals(void)
{
    static const struct {
        const char *json, *why;
    } cases[] = {
        {"{\"model_type\": \"llama\"}", "model_type \"llama\" is not supported"},
        {"{\"n_layer\": 2}", "no \"model_type\""},
        {"{\"model_type\": \"gpt2\", \"activation_function\": \"relu\"}", "activation_function \"relu\""},
        {"{\"model_type\": \"gpt2\", \"n_inner\": 100}", "n_inner 100 is not supported"},
        {"{\"model_type\": \"gpt2\", \"tie_word_embeddings\": false}", "tie_word_embeddings must be true"},
        {"{\"model_type\": \"gpt2\", \"scale_attn_by_inverse_layer_idx\": true}", "must be false"},
        {"{\"model_type\": \"gpt2\", \"n_head\": 5}", "not a multiple of n_head 5"},
        {"{\"model_type\": \"gpt2\", \"n_layer\": 0}", "\"n_layer\" must be an integer"},
        {"{\"model_type\": \"gpt2\", \"n_embd\": \"768\"}", "\"n_embd\" must be an integer"},
        {"{\"model_type\": \"gpt2\", \"eos_token_id\": 50257}", "not below vocab_size"},
        {"{\"model_type\": \"gpt2\", \"llm_tools\": {\"tokenizer\": 3}}", "\"tokenizer\" must be a string"},
        {"{\"model_type\": \"gpt2\"", "invalid JSON"},
        {"[]", "expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llm_hf_config c;
        llm_error err = {""};
        CHECKF(llm_hf_config_from_json(&c, cases[i].json, strlen(cases[i].json), &err) == -1 &&
                   strstr(err.msg, cases[i].why),
               "%s: %s", cases[i].json, err.msg);
    }
}

/* ---- trainer_state.json ----------------------------------------------------------------- */

static double random_double(llm_rng *r)
{
    uint64_t u = llm_rng_next(r);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void fill_state(llm_train_state *s, uint64_t seed)
{
    llm_rng r;
    llm_rng_seed(&r, seed);
    llm_train_state_init(s);
    s->step = UINT64_MAX - seed;
    s->tokens_seen = llm_rng_next(&r);
    s->epoch = random_double(&r);
    s->best_val_loss = INFINITY;
    s->best_step = seed % 2 ? 0 : UINT64_MAX - 2 * seed;   /* never a fixture's step: no best link */
    s->best_step_val_loss = seed % 2 ? INFINITY : random_double(&r);
    /* Each kind in turn, with its own settings away from their defaults (the others are
     * not written, so they read back as the defaults). */
    llm_lr_kind kind = (llm_lr_kind)(seed % LLM_LR_KINDS);
    s->sched = llm_lr_schedule_of(kind);
    s->sched.peak = 6e-4;
    s->sched.min_lr = 0.1 * 6e-4;    /* not a short decimal */
    s->sched.warmup_steps = kind == LLM_LR_CONSTANT ? 0 : 700;
    s->sched.total_steps = 19073;
    if (kind == LLM_LR_COSINE_WITH_RESTARTS)
        s->sched.cycles = 3;
    if (kind == LLM_LR_POLYNOMIAL)
        s->sched.power = 0.3;
    if (kind == LLM_LR_INVERSE_SQRT)
        s->sched.timescale = 12345;
    if (kind == LLM_LR_REDUCE_LR_ON_PLATEAU) {
        s->sched.plateau_factor = 0.3;
        s->sched.plateau_threshold = 0.01;
        s->sched.plateau_patience = 3;
        s->sched.plateau_cooldown = 2;
    }
    if (kind == LLM_LR_GREEDY) {
        s->sched.greedy_factor = 0.7;
        s->sched.greedy_threshold = 0.1 * 0.03;
        s->sched.greedy_relative = (int)(seed / LLM_LR_KINDS % 2);
        s->sched.greedy_patience = 2;
        s->sched.greedy_cooldown = 3;
        s->sched.greedy_warmup = 4;
        s->sched.max_lr = 0.1 * 0.07;
        s->sched.greedy_window = (int64_t)(seed % 3 ? 17 : 0);
        s->sched.greedy_reset = 9;
    }
    if (kind == LLM_LR_WARMUP_STABLE_DECAY) {
        s->sched.decay_steps = 1907;
        s->sched.warmup_shape = (llm_lr_shape)(seed / LLM_LR_KINDS % LLM_SHAPES);
        s->sched.decay_shape = (llm_lr_shape)(seed / LLM_LR_KINDS / LLM_SHAPES % LLM_SHAPES);
    }
    s->beta1 = 0.9;
    s->beta2 = 0.95;
    s->eps = random_double(&r);
    s->weight_decay = -0.0;
    s->grad_clip = 1.0;
    s->label_smoothing = seed % 3 ? 0.1 : 0.0;
    s->seed = UINT64_MAX;
    uint64_t rng[4] = {0, UINT64_MAX, llm_rng_next(&r), 1ull << 63};
    uint64_t cursor[3] = {llm_rng_next(&r), 7, 9007199254740993ull};   /* 2^53 + 1: not a double */
    CHECK(llm_train_state_put(s, "rng", rng, 4) == 0);
    CHECK(llm_train_state_put(s, "data", cursor, 3) == 0);
    CHECK(llm_train_state_put(s, "empty", NULL, 0) == 0);
}

static int same_schedule(const llm_lr_schedule *a, const llm_lr_schedule *b)
{
    return a->kind == b->kind && same_double(a->peak, b->peak) && same_double(a->min_lr, b->min_lr) &&
           a->warmup_steps == b->warmup_steps && a->total_steps == b->total_steps && a->cycles == b->cycles &&
           same_double(a->power, b->power) && a->timescale == b->timescale && a->decay_steps == b->decay_steps &&
           a->warmup_shape == b->warmup_shape && a->decay_shape == b->decay_shape &&
           same_double(a->plateau_factor, b->plateau_factor) && same_double(a->plateau_threshold, b->plateau_threshold) &&
           a->plateau_patience == b->plateau_patience && a->plateau_cooldown == b->plateau_cooldown &&
           same_double(a->greedy_factor, b->greedy_factor) && same_double(a->greedy_threshold, b->greedy_threshold) &&
           a->greedy_relative == b->greedy_relative && a->greedy_patience == b->greedy_patience &&
           a->greedy_cooldown == b->greedy_cooldown && a->greedy_warmup == b->greedy_warmup &&
           same_double(a->max_lr, b->max_lr) && a->greedy_window == b->greedy_window &&
           a->greedy_reset == b->greedy_reset;
}

static int same_state(const llm_train_state *a, const llm_train_state *b)
{
    int ok = a->step == b->step && a->tokens_seen == b->tokens_seen && same_double(a->epoch, b->epoch) &&
             same_double(a->best_val_loss, b->best_val_loss) && a->best_step == b->best_step &&
             same_double(a->best_step_val_loss, b->best_step_val_loss) && same_schedule(&a->sched, &b->sched) &&
             same_double(a->beta1, b->beta1) && same_double(a->beta2, b->beta2) &&
             same_double(a->eps, b->eps) && same_double(a->weight_decay, b->weight_decay) &&
             same_double(a->grad_clip, b->grad_clip) && same_double(a->label_smoothing, b->label_smoothing) && a->seed == b->seed && a->n_slots == b->n_slots &&
             a->argc == b->argc;
    for (int i = 0; ok && i < a->n_slots; i++)
        ok = strcmp(a->slots[i].name, b->slots[i].name) == 0 && a->slots[i].n == b->slots[i].n &&
             memcmp(a->slots[i].w, b->slots[i].w, (size_t)a->slots[i].n * 8) == 0;
    for (int i = 0; ok && i < a->argc; i++)
        ok = strcmp(a->argv[i], b->argv[i]) == 0;
    return ok;
}

static void test_state_round_trip(void)
{
    char *argv[] = {"llm-train", "--data", "a \"b\".bin", "--lr=6e-4", "\xc3\xa9\t"};
    llm_buf b;
    llm_buf_init(&b);
    for (uint64_t seed = 0; seed < 200; seed++) {   /* NaNs, infinities, subnormals among them */
        llm_train_state s, back;
        fill_state(&s, seed);
        s.argc = seed % 2 ? 5 : 0;
        s.argv = s.argc ? argv : NULL;
        if (seed == 1)
            s.best_val_loss = 2.5;
        llm_buf_clear(&b);
        llm_train_state_to_json(&s, &b);
        llm_error err = {""};
        CHECKF(llm_train_state_from_json(&back, b.data, b.len, &err) == 0, "%s", err.msg);
        CHECKF(same_state(&s, &back), "seed %" PRIu64 ":\n%s", seed, b.data);
        uint64_t w[4];
        CHECK(llm_train_state_get(&back, "rng", w, 4) == 0 && w[1] == UINT64_MAX && w[3] == 1ull << 63);
        CHECK(llm_train_state_get(&back, "rng", w, 3) == -1 && llm_train_state_get(&back, "nope", w, 0) == -1);
        llm_train_state_free(&back);
        llm_train_state_free(&back);   /* twice is harmless */
    }
    llm_buf_free(&b);

    llm_train_state s;
    llm_train_state_init(&s);
    uint64_t w[LLM_STATE_WORDS + 1] = {0};
    CHECK(llm_train_state_put(&s, "x", w, LLM_STATE_WORDS + 1) == -1);
    CHECK(llm_train_state_put(&s, "a name that is far too long to fit", w, 1) == -1);
    for (int i = 0; i < LLM_STATE_SLOTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        CHECK(llm_train_state_put(&s, name, w, 1) == 0);
    }
    CHECK(llm_train_state_put(&s, "one more", w, 1) == -1);
    CHECK(llm_train_state_put(&s, "s3", w, 2) == 0 && s.n_slots == LLM_STATE_SLOTS);   /* replaced */
}

static void test_state_refusals(void)
{
    static const char head[] = "{\"format\": \"llm-tools trainer state\", \"version\": 1, \"global_step\": 5, "
                               "\"schedule\": {\"name\": \"linear\"}, \"optimizer\": {}";
    static const struct {
        const char *tail, *why;
    } cases[] = {
        {"}", NULL},
        {", \"words\": {\"rng\": [\"0x1\", \"0xffffffffffffffff\"]}}", NULL},
        {", \"words\": {\"rng\": [12]}}", "not a \"0x...\" word"},
        {", \"words\": {\"rng\": [\"0x\"]}}", "not a \"0x...\" word"},
        {", \"words\": {\"rng\": [\"0x-1\"]}}", "not a \"0x...\" word"},
        {", \"words\": {\"rng\": [\"0x1ffffffffffffffff\"]}}", "not a \"0x...\" word"},
        {", \"words\": {\"rng\": [\"0x12g\"]}}", "not a \"0x...\" word"},
        {", \"words\": {\"r\": [], \"r\": []}}", "given twice"},
        {", \"words\": []}", "must be an object"},
        {", \"argv\": [1]}", "array of strings"},
        {", \"epoch\": \"soon\"}", "\"epoch\" must be a number"},
        {", \"tokens_seen\": -1}", "\"tokens_seen\" must be a non-negative integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s", head, cases[i].tail);
        llm_train_state s;
        llm_error err = {""};
        int rc = llm_train_state_from_json(&s, text, strlen(text), &err);
        if (cases[i].why)
            CHECKF(rc == -1 && strstr(err.msg, cases[i].why), "%s: %s", cases[i].tail, err.msg);
        else
            CHECKF(rc == 0 && s.step == 5, "%s: %s", cases[i].tail, err.msg);
        llm_train_state_free(&s);
    }
    llm_train_state s;
    llm_error err;
    static const char other[] = "{\"format\": \"x\"}", v2[] = "{\"format\": \"llm-tools trainer state\", \"version\": 2}";
    CHECK(llm_train_state_from_json(&s, other, strlen(other), &err) == -1 && strstr(err.msg, "not an llm-tools"));
    CHECK(llm_train_state_from_json(&s, v2, strlen(v2), &err) == -1 && strstr(err.msg, "version 2 is not 1"));

    /* The schedule must be named, by a name this version knows; "constant" with a warmup is
     * what constant_with_warmup was called before it had a name of its own. */
    static const struct {
        const char *sched, *why;
        llm_lr_kind kind;
    } scheds[] = {
        {"{}", "\"name\" is \"\", which is not a name", 0},
        {"{\"name\": \"cosine_with_hard_restarts\"}", "\"cosine_with_hard_restarts\", which is not a name", 0},
        {"{\"name\": \"warmup_stable_decay\", \"decay_type\": \"square\"}", "\"decay_type\" is \"square\"", 0},
        {"{\"name\": \"cosine_with_restarts\", \"cycles\": 0}", "\"cycles\" must be an integer in [1,", 0},
        {"{\"name\": \"constant\", \"warmup_steps\": 3}", NULL, LLM_LR_CONSTANT_WITH_WARMUP},
        {"{\"name\": \"constant\"}", NULL, LLM_LR_CONSTANT},
        {"{\"name\": \"inverse_sqrt\", \"timescale\": 7}", NULL, LLM_LR_INVERSE_SQRT},
    };
    for (size_t i = 0; i < sizeof scheds / sizeof scheds[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"format\": \"llm-tools trainer state\", \"version\": 1, \"global_step\": 5, "
                 "\"schedule\": %s, \"optimizer\": {}}", scheds[i].sched);
        err.msg[0] = '\0';
        int rc = llm_train_state_from_json(&s, text, strlen(text), &err);
        if (scheds[i].why)
            CHECKF(rc == -1 && strstr(err.msg, scheds[i].why), "%s: %s", scheds[i].sched, err.msg);
        else
            CHECKF(rc == 0 && s.sched.kind == scheds[i].kind, "%s: %s", scheds[i].sched, err.msg);
        llm_train_state_free(&s);
    }
    CHECK(s.sched.timescale == 7);
}

/* ---- checkpoints ------------------------------------------------------------------------ */

static llm_tensor_desc descs[4 + 12 * 2];
static int n_descs;
static size_t n_params;
static llm_hf_config config;

/* A model's buffers: params, m, v filled from seed; state at step. */
typedef struct model {
    float *p, *m, *v;
    llm_train_state s;
    llm_checkpoint c;
} model;

static void model_make(model *x, uint64_t seed, uint64_t step)
{
    x->p = malloc(n_params * sizeof(float));
    x->m = malloc(n_params * sizeof(float));
    x->v = malloc(n_params * sizeof(float));
    fixture_fill(x->p, n_params, seed);
    fixture_fill(x->m, n_params, seed + 1000);
    fixture_fill(x->v, n_params, seed + 2000);
    fill_state(&x->s, seed);
    x->s.step = step;
    x->c = (llm_checkpoint){&config, descs, n_descs, x->p, x->m, x->v, &x->s, NULL};
}

static void model_free(model *x) { free(x->p), free(x->m), free(x->v); }

/* Loads dir whole; 1 when every buffer and the state equal x's, bit for bit. */
static int loads_as(const char *dir, const model *x)
{
    model y;
    model_make(&y, 999, 0);
    llm_error err = {""};
    llm_hf_config c;
    int ok = llm_checkpoint_read_config(dir, &c, &err) == 0 && c.n_layer == config.n_layer &&
             llm_checkpoint_load_model(dir, descs, n_descs, y.p, &err) == 0 &&
             llm_checkpoint_load_train(dir, descs, n_descs, y.m, y.v, &y.s, &err) == 0;
    if (!ok)
        fprintf(stderr, "loads_as: %s\n", err.msg);
    ok = ok && memcmp(x->p, y.p, n_params * 4) == 0 && memcmp(x->m, y.m, n_params * 4) == 0 &&
         memcmp(x->v, y.v, n_params * 4) == 0 && same_state(&x->s, &y.s);
    llm_train_state_free(&y.s);
    model_free(&y);
    return ok;
}

static void setup(void)
{
    n_descs = fixture_gpt2(descs, 2, 8, 37, 16, &n_params);
    llm_hf_config_init(&config);
    config.n_layer = 2;
    config.n_head = 2;
    config.n_embd = 8;
    config.vocab_size = 37;
    config.n_positions = 16;
    config.eos_id = 36;
}

/* Entries of a folder, "." and ".." aside. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_save_load(void)
{
    model x;
    model_make(&x, 7, 100);
    char *argv[] = {"llm-train", "--out", "x"};
    x.s.argc = 3;
    x.s.argv = argv;
    const char *dir = path_in(tmp, "ckpt");
    llm_error err = {""};
    CHECKF(llm_checkpoint_save(dir, &x.c, &err) == 0, "%s", err.msg);
    CHECK(exists(path_in(dir, "config.json")) && exists(path_in(dir, "model.safetensors")) &&
          exists(path_in(dir, "optimizer.safetensors")) && exists(path_in(dir, "trainer_state.json")));
    CHECK(count_entries(dir) == 4);
    CHECK(count_entries(tmp) == 1);   /* no temporary left beside it */
    CHECK(loads_as(dir, &x));

    /* Saving over it replaces it whole. */
    model y;
    model_make(&y, 8, 200);
    CHECKF(llm_checkpoint_save(dir, &y.c, &err) == 0, "%s", err.msg);
    CHECK(loads_as(dir, &y) && !loads_as(dir, &x));
    CHECK(count_entries(tmp) == 1);

    /* An export: model only; --resume from it is refused, naming the missing file. */
    const char *exp = path_in(tmp, "export/");
    llm_checkpoint c = {&config, descs, n_descs, x.p, NULL, NULL, NULL, NULL};
    CHECKF(llm_checkpoint_save(exp, &c, &err) == 0, "%s", err.msg);
    CHECK(count_entries(exp) == 2);
    float *back = malloc(n_params * 4);
    CHECK(llm_checkpoint_load_model(exp, descs, n_descs, back, &err) == 0 && memcmp(back, x.p, n_params * 4) == 0);
    llm_train_state s;
    CHECK(llm_checkpoint_load_train(exp, descs, n_descs, back, back, &s, &err) == -1);
    CHECKF(strstr(err.msg, "export//optimizer.safetensors: cannot open"), "%s", err.msg);

    /* A config that cannot be right is not written. */
    llm_hf_config bad = config;
    bad.n_head = 3;
    c.config = &bad;
    CHECK(llm_checkpoint_save(path_in(tmp, "bad"), &c, &err) == -1 && strstr(err.msg, "bad: n_embd 8"));
    CHECK(!exists(path_in(tmp, "bad")));
    free(back);
    model_free(&x);
    model_free(&y);
}

/* Copies src to dst with fn applied to the bytes. */
static void copy_file(const char *src, const char *dst, void (*fn)(unsigned char *, size_t *))
{
    FILE *f = fopen(src, "rb");
    static unsigned char buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    if (fn)
        fn(buf, &n);
    f = fopen(dst, "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n);
    if (f)
        fclose(f);
}

static void truncate_half(unsigned char *b, size_t *n) { (void)b, *n /= 2; }
static void break_header(unsigned char *b, size_t *n) { (void)n, b[8] = 'x'; }
static void bad_length(unsigned char *b, size_t *n) { (void)n, b[5] = 1; }
static void lose_a_byte(unsigned char *b, size_t *n) { (void)b, (*n)--; }

static void test_corrupt_checkpoints(void)
{
    model x;
    model_make(&x, 3, 5);
    const char *dir = path_in(tmp, "good"), *bad = path_in(tmp, "corrupt");
    llm_error err = {""};
    CHECK(llm_checkpoint_save(dir, &x.c, &err) == 0);
    CHECK(llm_checkpoint_save(bad, &x.c, &err) == 0);
    float *back = malloc(n_params * 4);
    static const struct {
        void (*fn)(unsigned char *, size_t *);
        const char *why;
    } damage[] = {
        {truncate_half, "truncated"},
        {break_header, "the header is not a JSON object"},
        {bad_length, "exceeds the file"},
        {lose_a_byte, "truncated?"},
    };
    for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
        copy_file(path_in(dir, "model.safetensors"), path_in(bad, "model.safetensors"), damage[i].fn);
        CHECK(llm_checkpoint_load_model(bad, descs, n_descs, back, &err) == -1);
        CHECKF(strstr(err.msg, "corrupt/model.safetensors: ") && strstr(err.msg, damage[i].why), "%zu: %s", i,
               err.msg);
    }
    copy_file(path_in(dir, "model.safetensors"), path_in(bad, "model.safetensors"), NULL);
    CHECK(loads_as(bad, &x));

    /* A tensor gone: written from a list without it. */
    llm_tensor_desc fewer[4 + 12 * 2];
    memcpy(fewer, descs, sizeof fewer);
    fewer[5] = fewer[n_descs - 1];
    llm_checkpoint c = x.c;
    c.tensors = fewer;
    c.n_tensors = n_descs - 1;
    CHECK(llm_checkpoint_save(bad, &c, &err) == 0);
    CHECK(llm_checkpoint_load_model(bad, descs, n_descs, back, &err) == -1);
    CHECKF(strstr(err.msg, "model.safetensors: missing tensor transformer.h.0.attn.c_attn.bias (1 in all)"), "%s",
           err.msg);
    llm_train_state s;
    CHECK(llm_checkpoint_load_train(bad, descs, n_descs, back, back, &s, &err) == -1);
    CHECKF(strstr(err.msg, "optimizer.safetensors: missing tensor m.transformer.h.0.attn.c_attn.bias"), "%s",
           err.msg);

    /* Wrong shapes: the model has another vocabulary. */
    llm_tensor_desc other[4 + 12 * 2];
    size_t total;
    int n = fixture_gpt2(other, 2, 8, 41, 16, &total);
    float *big = malloc(total * 4);
    CHECK(llm_checkpoint_load_model(dir, other, n, big, &err) == -1);
    CHECKF(strstr(err.msg, "good/model.safetensors: tensor transformer.wte.weight has shape [37, 8], the model wants [41, 8]"),
           "%s", err.msg);
    CHECK(llm_checkpoint_load_train(dir, other, n, big, big, &s, &err) == -1 && strstr(err.msg, "has shape"));
    free(big);

    /* The JSON files. */
    CHECK(llm_checkpoint_save(bad, &x.c, &err) == 0);
    copy_file(path_in(dir, "trainer_state.json"), path_in(bad, "trainer_state.json"), truncate_half);
    CHECK(llm_checkpoint_load_train(bad, descs, n_descs, back, back, &s, &err) == -1);
    CHECKF(strstr(err.msg, "corrupt/trainer_state.json: ") && strstr(err.msg, "JSON"), "%s", err.msg);
    copy_file(path_in(dir, "config.json"), path_in(bad, "config.json"), lose_a_byte);
    copy_file(path_in(bad, "config.json"), path_in(bad, "config.json"), lose_a_byte);
    llm_hf_config cfg;
    CHECK(llm_checkpoint_read_config(bad, &cfg, &err) == -1 && strstr(err.msg, "corrupt/config.json: "));
    remove(path_in(bad, "config.json"));
    CHECK(llm_checkpoint_read_config(bad, &cfg, &err) == -1 && strstr(err.msg, "config.json: cannot open"));
    remove(path_in(bad, "model.safetensors"));
    copy_file(path_in(dir, "config.json"), path_in(bad, "pytorch_model.bin"), NULL);
    CHECK(llm_checkpoint_load_model(bad, descs, n_descs, back, &err) == -1);
    CHECKF(strstr(err.msg, "only pytorch_model.bin"), "%s", err.msg);
    free(back);
    model_free(&x);
}

/* A folder as the hub has gpt2: its config.json, OpenAI's tensor names with mask buffers. */
static void test_hub_folder(void)
{
    const char *dir = path_in(tmp, "hub");
    mkdir(dir, 0777);
    FILE *f = fopen(path_in(dir, "config.json"), "w");
    CHECK(f && fputs(hub_gpt2, f) >= 0 && fclose(f) == 0);
    llm_tensor_desc alt[4 + 12 * 2 + 1];
    memcpy(alt, descs, sizeof descs);
    for (int i = 0; i < n_descs; i++)
        memmove(alt[i].name, alt[i].name + 12, strlen(alt[i].name + 12) + 1);
    int n = n_descs;
    size_t at = n_params;
    fixture_add(alt, &n, &at, "h.0.attn.bias", 0, 4, 4);
    float *p = calloc(at, 4), *back = malloc(n_params * 4);
    fixture_fill(p, n_params, 11);
    llm_safetensors_part part = {"", p};
    llm_error err = {""};
    CHECK(llm_safetensors_write(path_in(dir, "model.safetensors"), alt, n, &part, 1, LLM_DTYPE_F32, NULL, &err) == 0);
    llm_hf_config c;
    CHECK(llm_checkpoint_read_config(dir, &c, &err) == 0 && c.n_embd == 768);
    CHECKF(llm_checkpoint_load_model(dir, descs, n_descs, back, &err) == 0, "%s", err.msg);
    CHECK(memcmp(p, back, n_params * 4) == 0);
    char *found = NULL;
    CHECK(llm_run_latest(dir, &found, &err) == 0 && found && strcmp(found, dir) == 0);
    free(found);
    free(p);
    free(back);
}

/* ---- the run folder --------------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

static void test_run_folder(void)
{
    const char *run = path_in(tmp, "runs/exp1");   /* the parent is made too */
    llm_error err = {""};
    char *dir = NULL;
    CHECK(llm_run_latest(run, &dir, &err) == 1 && dir == NULL);   /* a fresh run */
    model x[4];
    for (int i = 0; i < 4; i++) {
        model_make(&x[i], 20 + (uint64_t)i, 10 * (uint64_t)(i + 1));
        char *saved = NULL;
        CHECKF(llm_run_save(run, &x[i].c, 2, &saved, &err) == 0, "%s", err.msg);
        CHECK(saved && strcmp(saved, path_in(run, i == 0 ? "checkpoint-10" : i == 1 ? "checkpoint-20" : i == 2 ? "checkpoint-30" : "checkpoint-40")) == 0);
        free(saved);
    }
    CHECK(!exists(path_in(run, "checkpoint-10")) && !exists(path_in(run, "checkpoint-20")));
    CHECK(exists(path_in(run, "checkpoint-30")) && exists(path_in(run, "checkpoint-40")));
    CHECK(count_entries(run) == 3);
    FILE *f = fopen(path_in(run, "latest"), "r");
    char line[64] = "";
    CHECK(f && fgets(line, sizeof line, f) && strcmp(line, "checkpoint-40\n") == 0);
    if (f)
        fclose(f);
    CHECK(llm_run_latest(run, &dir, &err) == 0 && strcmp(dir, path_in(run, "checkpoint-40")) == 0);
    CHECK(loads_as(dir, &x[3]));
    free(dir);

    /* latest naming an older checkpoint wins over the highest step... */
    write_text(path_in(run, "latest"), "checkpoint-30\n");
    CHECK(llm_run_latest(run, &dir, &err) == 0 && strcmp(dir, path_in(run, "checkpoint-30")) == 0);
    free(dir);
    /* ...and prune keeps it whatever keep says. */
    CHECK(llm_run_prune(run, 1, &err) == 0 && exists(path_in(run, "checkpoint-30")) &&
          exists(path_in(run, "checkpoint-40")));
    /* A pointer that is gone, garbled or points outside falls back to the highest complete one. */
    static const char *const pointers[] = {"checkpoint-99\n", "garbage", "checkpoint-40/../../x", ""};
    for (size_t i = 0; i < 4; i++) {
        write_text(path_in(run, "latest"), pointers[i]);
        CHECK(llm_run_latest(run, &dir, &err) == 0 && strcmp(dir, path_in(run, "checkpoint-40")) == 0);
        free(dir);
    }
    remove(path_in(run, "latest"));
    /* An incomplete checkpoint with a higher step, and a leftover temporary, are passed over. */
    mkdir(path_in(run, "checkpoint-50"), 0777);
    mkdir(path_in(run, "checkpoint-60.tmp-abcdef"), 0777);
    write_text(path_in(path_in(run, "checkpoint-50"), "config.json"), "{}");
    CHECK(llm_run_latest(run, &dir, &err) == 0 && strcmp(dir, path_in(run, "checkpoint-40")) == 0);
    free(dir);
    /* The next save removes the leftover and prunes to keep. */
    model_free(&x[0]);
    model_make(&x[0], 30, 70);
    CHECK(llm_run_save(run, &x[0].c, 2, NULL, &err) == 0);
    CHECK(!exists(path_in(run, "checkpoint-60.tmp-abcdef")) && !exists(path_in(run, "checkpoint-40")) &&
          exists(path_in(run, "checkpoint-50")) && exists(path_in(run, "checkpoint-70")));
    CHECK(llm_run_prune(run, 0, &err) == 0 && exists(path_in(run, "checkpoint-50")));   /* keep 0: all */
    CHECK(llm_run_latest(path_in(tmp, "hub/config.json"), &dir, &err) == -1 && strstr(err.msg, "not a checkpoint"));
    llm_checkpoint no_state = x[0].c;
    no_state.state = NULL;
    CHECK(llm_run_save(run, &no_state, 2, NULL, &err) == -1);
    for (int i = 0; i < 4; i++)
        model_free(&x[i]);
}

/* RUN/best links to the checkpoint whose state names its own step best_step, and prune
 * keeps it beside the newest ones until a better one replaces it. */
static void test_run_best(void)
{
    const char *run = path_in(tmp, "runs/best");
    llm_error err = {""};
    char link[64];
    model x[4];
    for (int i = 0; i < 4; i++) {
        model_make(&x[i], 40 + (uint64_t)i, 10 * (uint64_t)(i + 1));
        x[i].s.best_step = i < 3 ? 10 : 40;
        CHECKF(llm_run_save(run, &x[i].c, 1, NULL, &err) == 0, "%s", err.msg);
        ssize_t n = readlink(path_in(run, "best"), link, sizeof link - 1);
        CHECK(n > 0);
        link[n > 0 ? n : 0] = '\0';
        CHECKF(strcmp(link, i < 3 ? "checkpoint-10" : "checkpoint-40") == 0, "save %d: best -> %s", i, link);
        if (i == 2)    /* keep 1: the latest, and the best kept too */
            CHECK(exists(path_in(run, "checkpoint-10")) && !exists(path_in(run, "checkpoint-20")) &&
                  exists(path_in(run, "checkpoint-30")));
    }
    CHECK(!exists(path_in(run, "checkpoint-10")) && exists(path_in(run, "checkpoint-40")) &&
          !exists(path_in(run, "best.tmp")));
    char *dir = NULL;    /* the link is a checkpoint folder, as llm-eval --model RUN/best takes it */
    CHECK(llm_run_latest(path_in(run, "best"), &dir, &err) == 0 && loads_as(dir, &x[3]));
    free(dir);
    for (int i = 0; i < 4; i++)
        model_free(&x[i]);
}

/* ---- crashes ---------------------------------------------------------------------------- */

static const char *crash_at;

static void crash_hook(const char *stage)
{
    if (strcmp(stage, crash_at) == 0)
        raise(SIGKILL);    /* killed: no cleanup of any kind */
}

/* Runs a save of x in a child that is killed at stage; 1 when it died there. */
static int save_and_crash(const char *run, model *x, const char *stage)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        crash_at = stage;
        llm_checkpoint_set_fault_hook(crash_hook);
        llm_error err;
        llm_run_save(run, &x->c, 1, NULL, &err);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

static void test_crashes(void)
{
    /* Where the resumable checkpoint must be after a crash at each stage: the old one until
     * the new one is renamed into place, after which either is right (latest may lag). */
    static const struct {
        const char *stage;
        int same_step;   /* the save replaces a checkpoint of the same step */
        int want_new;    /* 0: the old, 1: the new, 2: either */
    } cases[] = {
        {"config", 0, 0},  {"model", 0, 0},   {"optimizer", 0, 0}, {"state", 0, 0},
        {"written", 0, 0}, {"renamed", 0, 2}, {"latest", 0, 1},    {"written", 1, 0},
        {"exchanged", 1, 1}, {"renamed", 1, 1}, {"latest", 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char run[600];
        snprintf(run, sizeof run, "%s/crash%zu", tmp, i);
        model old, neu;
        model_make(&old, 40, 100);
        model_make(&neu, 41, cases[i].same_step ? 100 : 200);
        llm_error err = {""};
        CHECK(llm_run_save(run, &old.c, 1, NULL, &err) == 0);
        CHECKF(save_and_crash(run, &neu, cases[i].stage), "no crash at %s", cases[i].stage);
        char *dir = NULL;
        CHECK(llm_run_latest(run, &dir, &err) == 0 && dir);
        if (dir) {
            int is_old = loads_as(dir, &old), is_new = loads_as(dir, &neu);
            CHECKF(cases[i].want_new == 0   ? is_old
                   : cases[i].want_new == 1 ? is_new
                                            : is_old || is_new,
                   "crash at %s (same step %d): %s loads as old %d, new %d", cases[i].stage, cases[i].same_step, dir,
                   is_old, is_new);
        }
        free(dir);
        /* The next save after the crash works and cleans up. */
        CHECKF(llm_run_save(run, &neu.c, 1, NULL, &err) == 0, "%s", err.msg);
        CHECK(count_entries(run) == 2);
        model_free(&old);
        model_free(&neu);
    }
    llm_checkpoint_set_fault_hook(NULL);
}

int main(void)
{
    fixture_tmpdir(tmp, sizeof tmp, "checkpoint");
    setup();
    RUN(test_config_round_trip);
    RUN(test_config_hub);
    RUN(test_config_refusals);
    RUN(test_state_round_trip);
    RUN(test_state_refusals);
    RUN(test_save_load);
    RUN(test_corrupt_checkpoints);
    RUN(test_hub_folder);
    RUN(test_run_folder);
    RUN(test_run_best);
    RUN(test_crashes);
    fixture_remove(tmp);
    while (n_paths > 0)
        free(paths[--n_paths]);
    CHECK_EXIT();
}

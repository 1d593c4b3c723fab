/* Checkpoint folders and the run folder of llm-train (see checkpoint.h for the layout). */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "safetensors.h"

#define STATE_FORMAT "llm-tools trainer state"
#define STATE_VERSION 1

/* ---- small helpers ---------------------------------------------------------------------- */

/* The shortest text that reads back as the same double; JSON has no inf or NaN, so those
 * are written as Python's json module writes them, as strings here to stay valid JSON. */
static void put_double(llm_buf *b, double d)
{
    if (isnan(d)) {
        llm_buf_puts(b, "\"NaN\"");
        return;
    }
    if (isinf(d)) {
        llm_buf_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    char s[40];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, d);
        if (strtod(s, NULL) == d)
            break;
    }
    /* A bare "1" would read back as an integer; JSON readers take it as a number anyway, but
     * HF writes floats with a point, so do we. */
    if (!strpbrk(s, ".eEn"))
        strcat(s, ".0");
    llm_buf_puts(b, s);
}

static int get_double(llm_json v, double *d)
{
    const char *s;
    size_t n;
    if (llm_json_get_double(v, d) == 0)
        return 0;
    if (llm_json_get_string(v, &s, &n) < 0)
        return -1;
    if (strcmp(s, "NaN") == 0)
        *d = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *d = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *d = -INFINITY;
    else
        return -1;
    return 0;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int fsync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return -1;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    int rc = fsync_path(slash ? dir : ".");
    free(dir);
    return rc;
}

int llm_write_file_durable(const char *path, const void *text, size_t len, llm_error *err)
{
    llm_output o;
    if (llm_output_open(&o, path, 0, 1, err) < 0)
        return -1;
    FILE *fp = llm_output_file(&o);
    if (!fp || fwrite(text, 1, len, fp) != len || fflush(fp) != 0 || (o.tmp && fsync(o.fd) != 0)) {
        llm_error_set(err, "%s: write error: %s", path, strerror(errno ? errno : EIO));
        llm_output_abort(&o);
        return -1;
    }
    return llm_output_commit(&o, err);
}

char *llm_read_file(const char *path, size_t *len, llm_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        llm_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    while (p) {
        n += fread(p + n, 1, cap - n - 1, fp);
        if (n < cap - 1 || ferror(fp))
            break;
        char *q = cap > (64u << 20) ? NULL : realloc(p, cap *= 2);
        if (!q) {
            free(p);
            p = NULL;
        }
        p = q;
    }
    int bad = !p || ferror(fp);
    fclose(fp);
    if (bad) {
        free(p);
        llm_error_set(err, "%s: cannot read (too large, or a read error)", path);
        return NULL;
    }
    p[n] = '\0';
    *len = n;
    return p;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *dir, const char *name)
{
    char *p = join(dir, name);
    struct stat st;
    int ok = p && stat(p, &st) == 0;
    free(p);
    return ok;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* rm -rf path; its contents are our own files, so no symlink is followed. */
static int remove_tree(const char *path)
{
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Parses one JSON document (copied), calling fn on its root. */
static int with_json(const char *text, size_t len, int (*fn)(void *, llm_json, llm_error *), void *ctx,
                     llm_error *err)
{
    llm_json_parser *p = llm_json_parser_new();
    if (!p)
        return llm_error_set(err, "out of memory");
    llm_json root;
    llm_error jerr;
    int rc;
    if (llm_json_parse(p, text, len, 0, &root, &jerr) < 0)
        rc = llm_error_set(err, "%s", jerr.msg);
    else if (llm_json_type_of(root) != LLM_JSON_OBJECT)
        rc = llm_error_set(err, "expected a JSON object");
    else
        rc = fn(ctx, root, err);
    llm_json_parser_free(p);
    return rc;
}

/* An integer field in [min, max]; dflt when absent (or when null and null_ok). */
static int int_field(llm_json obj, const char *key, int64_t dflt, int64_t min, int64_t max, int64_t *out,
                     llm_error *err)
{
    llm_json v;
    *out = dflt;
    if (!llm_json_field(obj, key, &v) || llm_json_type_of(v) == LLM_JSON_NULL)
        return 0;
    if (llm_json_get_int64(v, out) < 0 || *out < min || *out > max)
        return llm_error_set(err, "\"%s\" must be an integer in [%" PRId64 ", %" PRId64 "]", key, min, max);
    return 0;
}

static int u64_field(llm_json obj, const char *key, uint64_t *out, llm_error *err)
{
    llm_json v;
    *out = 0;
    if (llm_json_field(obj, key, &v) && llm_json_get_uint64(v, out) < 0)
        return llm_error_set(err, "\"%s\" must be a non-negative integer", key);
    return 0;
}

static int double_field(llm_json obj, const char *key, double dflt, double *out, llm_error *err)
{
    llm_json v;
    *out = dflt;
    if (llm_json_field(obj, key, &v) && get_double(v, out) < 0)
        return llm_error_set(err, "\"%s\" must be a number", key);
    return 0;
}

/* Copies a string field into out[0..size); dflt when absent. */
static int string_field(llm_json obj, const char *key, const char *dflt, char *out, size_t size, llm_error *err)
{
    llm_json v;
    const char *s = dflt;
    size_t n = strlen(dflt);
    if (llm_json_field(obj, key, &v) && llm_json_get_string(v, &s, &n) < 0)
        return llm_error_set(err, "\"%s\" must be a string", key);
    if (n >= size || memchr(s, '\0', n))
        return llm_error_set(err, "\"%s\" is too long (at most %zu bytes)", key, size - 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* ---- config.json ------------------------------------------------------------------------ */

void llm_hf_config_init(llm_hf_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->family, "gpt2");
    c->n_layer = 12;
    c->n_head = 12;
    c->n_embd = 768;
    c->n_positions = 1024;
    c->vocab_size = 50257;
    c->layer_norm_eps = 1e-5;
    c->bos_id = c->eos_id = c->pad_id = -1;
}

static void put_id(llm_buf *b, int64_t id)
{
    if (id < 0)
        llm_buf_puts(b, "null");
    else
        llm_buf_i64(b, id);
}

void llm_hf_config_to_json(const llm_hf_config *c, llm_buf *b)
{
    /* GPT2Config's fields in its to_json_string's sorted order. Dropout is 0: llm-train
     * has none, and fine-tuning with transformers should see the model as it was trained. */
    llm_buf_puts(b, "{\n  \"activation_function\": \"gelu_new\",\n"
                    "  \"architectures\": [\n    \"GPT2LMHeadModel\"\n  ],\n"
                    "  \"attn_pdrop\": 0.0,\n  \"bos_token_id\": ");
    put_id(b, c->bos_id);
    llm_buf_puts(b, ",\n  \"embd_pdrop\": 0.0,\n  \"eos_token_id\": ");
    put_id(b, c->eos_id);
    llm_buf_puts(b, ",\n  \"initializer_range\": 0.02,\n  \"layer_norm_epsilon\": ");
    put_double(b, c->layer_norm_eps);
    llm_buf_puts(b, ",\n  \"llm_tools\": {\n    \"bos_id\": ");
    put_id(b, c->bos_id);
    llm_buf_puts(b, ",\n    \"eos_id\": ");
    put_id(b, c->eos_id);
    llm_buf_puts(b, ",\n    \"family\": ");
    llm_buf_json_string(b, c->family, strlen(c->family));
    llm_buf_puts(b, ",\n    \"pad_id\": ");
    put_id(b, c->pad_id);
    llm_buf_puts(b, ",\n    \"tokenizer\": ");
    llm_buf_json_string(b, c->tokenizer_name, strlen(c->tokenizer_name));
    llm_buf_puts(b, ",\n    \"tokenizer_hash\": ");
    llm_buf_json_string(b, c->tokenizer_hash, strlen(c->tokenizer_hash));
    llm_buf_puts(b, ",\n    \"version\": \"" LLM_VERSION "\"\n  },\n  \"model_type\": ");
    llm_buf_json_string(b, c->family, strlen(c->family));
    llm_buf_printf(b,
                   ",\n  \"n_ctx\": %d,\n  \"n_embd\": %d,\n  \"n_head\": %d,\n  \"n_inner\": null,\n"
                   "  \"n_layer\": %d,\n  \"n_positions\": %d,\n",
                   c->n_positions, c->n_embd, c->n_head, c->n_layer, c->n_positions);
    if (c->pad_id >= 0)
        llm_buf_printf(b, "  \"pad_token_id\": %" PRId64 ",\n", c->pad_id);
    llm_buf_printf(b,
                   "  \"resid_pdrop\": 0.0,\n  \"scale_attn_by_inverse_layer_idx\": false,\n"
                   "  \"scale_attn_weights\": true,\n  \"tie_word_embeddings\": true,\n"
                   "  \"torch_dtype\": \"float32\",\n  \"use_cache\": true,\n  \"vocab_size\": %d\n}\n",
                   c->vocab_size);
}

int llm_hf_config_validate(const llm_hf_config *c, llm_error *err)
{
    if (strcmp(c->family, "gpt2") != 0)
        return llm_error_set(err, "model_type \"%s\" is not supported (this build knows gpt2)", c->family);
    if (c->n_layer < 1 || c->n_head < 1 || c->n_embd < 1 || c->n_positions < 1 || c->vocab_size < 1)
        return llm_error_set(err, "n_layer, n_head, n_embd, n_positions and vocab_size must be positive");
    if (c->n_embd % c->n_head != 0)
        return llm_error_set(err, "n_embd %d is not a multiple of n_head %d", c->n_embd, c->n_head);
    if (c->bos_id >= c->vocab_size || c->eos_id >= c->vocab_size || c->pad_id >= c->vocab_size)
        return llm_error_set(err, "a special token id is not below vocab_size %d", c->vocab_size);
    if (!(c->layer_norm_eps > 0 && c->layer_norm_eps < 1))
        return llm_error_set(err, "layer_norm_epsilon must be in (0, 1)");
    return 0;
}

/* A field that must have this value if present, because the math assumes it. */
static int require(llm_json root, const char *key, const char *want_str, int want_bool, llm_error *err)
{
    llm_json v;
    const char *s;
    size_t n;
    int b;
    if (!llm_json_field(root, key, &v) || llm_json_type_of(v) == LLM_JSON_NULL)
        return 0;
    if (want_str && llm_json_get_string(v, &s, &n) == 0) {
        for (const char *w = want_str; *w; w += strlen(w) + 1)
            if (strlen(w) == n && memcmp(w, s, n) == 0)
                return 0;
        return llm_error_set(err, "%s \"%.40s\" is not supported (only %s)", key, s, want_str);
    }
    if (!want_str && llm_json_get_bool(v, &b) == 0 && b == want_bool)
        return 0;
    return llm_error_set(err, "%s must be %s here", key, want_str ? want_str : want_bool ? "true" : "false");
}

static int config_from_root(void *ctx, llm_json root, llm_error *err)
{
    llm_hf_config *c = ctx;
    llm_json v, tools;
    int64_t x;
    llm_hf_config_init(c);
    if (!llm_json_field(root, "model_type", &v))
        return llm_error_set(err, "no \"model_type\"");
    if (string_field(root, "model_type", "", c->family, sizeof c->family, err) < 0)
        return -1;
    if (strcmp(c->family, "gpt2") != 0)
        return llm_error_set(err, "model_type \"%s\" is not supported (this build knows gpt2)", c->family);
    if (require(root, "activation_function", "gelu_new\0gelu_pytorch_tanh\0", 0, err) < 0 ||
        require(root, "tie_word_embeddings", NULL, 1, err) < 0 ||
        require(root, "scale_attn_weights", NULL, 1, err) < 0 ||
        require(root, "scale_attn_by_inverse_layer_idx", NULL, 0, err) < 0 ||
        require(root, "reorder_and_upcast_attn", NULL, 0, err) < 0)
        return -1;
    static const struct {
        const char *key;
        size_t at;
        int64_t max;
    } sizes[] = {
        {"n_layer", offsetof(llm_hf_config, n_layer), 1 << 10},
        {"n_head", offsetof(llm_hf_config, n_head), 1 << 10},
        {"n_embd", offsetof(llm_hf_config, n_embd), 1 << 16},
        {"n_positions", offsetof(llm_hf_config, n_positions), 1 << 24},
        {"vocab_size", offsetof(llm_hf_config, vocab_size), 1 << 24},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int *field = (int *)((char *)c + sizes[i].at);
        if (int_field(root, sizes[i].key, *field, 1, sizes[i].max, &x, err) < 0)
            return -1;
        *field = (int)x;
    }
    if (int_field(root, "n_inner", 4 * (int64_t)c->n_embd, 1, INT32_MAX, &x, err) < 0)
        return -1;
    if (x != 4 * (int64_t)c->n_embd)
        return llm_error_set(err, "n_inner %" PRId64 " is not supported (only null or 4 * n_embd)", x);
    if (double_field(root, "layer_norm_epsilon", 1e-5, &c->layer_norm_eps, err) < 0 ||
        int_field(root, "bos_token_id", -1, 0, INT32_MAX, &c->bos_id, err) < 0 ||
        int_field(root, "eos_token_id", -1, 0, INT32_MAX, &c->eos_id, err) < 0 ||
        int_field(root, "pad_token_id", -1, 0, INT32_MAX, &c->pad_id, err) < 0)
        return -1;
    /* Our own fields win: they are the stream's ids, the HF ones may be defaults. */
    if (llm_json_field(root, "llm_tools", &tools) &&
        (int_field(tools, "bos_id", c->bos_id, 0, INT32_MAX, &c->bos_id, err) < 0 ||
         int_field(tools, "eos_id", c->eos_id, 0, INT32_MAX, &c->eos_id, err) < 0 ||
         int_field(tools, "pad_id", c->pad_id, 0, INT32_MAX, &c->pad_id, err) < 0 ||
         string_field(tools, "tokenizer", "", c->tokenizer_name, sizeof c->tokenizer_name, err) < 0 ||
         string_field(tools, "tokenizer_hash", "", c->tokenizer_hash, sizeof c->tokenizer_hash, err) < 0))
        return -1;
    return llm_hf_config_validate(c, err);
}

int llm_hf_config_from_json(llm_hf_config *c, const char *text, size_t len, llm_error *err)
{
    return with_json(text, len, config_from_root, c, err);
}

/* ---- trainer_state.json ----------------------------------------------------------------- */

void llm_train_state_init(llm_train_state *s)
{
    memset(s, 0, sizeof *s);
    s->best_val_loss = s->best_step_val_loss = INFINITY;
}

void llm_train_state_free(llm_train_state *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->argc && s->argv; i++)
        free(s->argv[i]);
    free(s->argv);
    s->argv = NULL;
    s->argc = 0;
}

int llm_train_state_put(llm_train_state *s, const char *name, const uint64_t *w, int n)
{
    if (strlen(name) >= sizeof s->slots[0].name || n < 0 || n > LLM_STATE_WORDS)
        return -1;
    int i = 0;
    while (i < s->n_slots && strcmp(s->slots[i].name, name) != 0)
        i++;
    if (i == LLM_STATE_SLOTS)
        return -1;
    if (i == s->n_slots)
        s->n_slots++;
    strcpy(s->slots[i].name, name);
    s->slots[i].n = n;
    if (n > 0)
        memcpy(s->slots[i].w, w, (size_t)n * sizeof *w);
    return 0;
}

int llm_train_state_words(const llm_train_state *s, const char *name)
{
    for (int i = 0; i < s->n_slots; i++)
        if (strcmp(s->slots[i].name, name) == 0)
            return s->slots[i].n;
    return -1;
}

int llm_train_state_get(const llm_train_state *s, const char *name, uint64_t *w, int n)
{
    for (int i = 0; i < s->n_slots; i++)
        if (strcmp(s->slots[i].name, name) == 0 && s->slots[i].n == n) {
            memcpy(w, s->slots[i].w, (size_t)n * sizeof *w);
            return 0;
        }
    return -1;
}

static void put_key_double(llm_buf *b, const char *key, double d)
{
    llm_buf_printf(b, "\"%s\": ", key);
    put_double(b, d);
}

/* The schedule as transformers' get_scheduler takes it: the name, the rates, the steps, and
 * the settings of its kind only (scheduler_specific_kwargs). */
static void schedule_to_json(const llm_lr_schedule *s, llm_buf *b)
{
    llm_buf_printf(b, "\"schedule\": {\"name\": \"%s\", ", llm_lr_kind_names[s->kind]);
    put_key_double(b, "lr", s->peak);
    llm_buf_puts(b, ", ");
    put_key_double(b, "min_lr", s->min_lr);
    llm_buf_printf(b, ", \"warmup_steps\": %" PRId64 ", \"total_steps\": %" PRId64, s->warmup_steps,
                   s->total_steps);
    if (s->kind == LLM_LR_COSINE_WITH_RESTARTS)
        llm_buf_printf(b, ", \"cycles\": %" PRId64, s->cycles);
    if (s->kind == LLM_LR_POLYNOMIAL) {
        llm_buf_puts(b, ", ");
        put_key_double(b, "power", s->power);
    }
    if (s->kind == LLM_LR_INVERSE_SQRT)
        llm_buf_printf(b, ", \"timescale\": %" PRId64, s->timescale);
    if (s->kind == LLM_LR_WARMUP_STABLE_DECAY)
        llm_buf_printf(b, ", \"decay_steps\": %" PRId64 ", \"warmup_type\": \"%s\", \"decay_type\": \"%s\"",
                       s->decay_steps, llm_lr_shape_names[s->warmup_shape], llm_lr_shape_names[s->decay_shape]);
    if (s->kind == LLM_LR_REDUCE_LR_ON_PLATEAU) {
        llm_buf_puts(b, ", ");
        put_key_double(b, "factor", s->plateau_factor);
        llm_buf_puts(b, ", ");
        put_key_double(b, "threshold", s->plateau_threshold);
        llm_buf_printf(b, ", \"patience\": %" PRId64 ", \"cooldown\": %" PRId64, s->plateau_patience,
                       s->plateau_cooldown);
    }
    if (s->kind == LLM_LR_GREEDY) {    /* GreedyLR's kwargs by their names */
        llm_buf_puts(b, ", ");
        put_key_double(b, "factor", s->greedy_factor);
        llm_buf_puts(b, ", ");
        put_key_double(b, "threshold", s->greedy_threshold);
        llm_buf_printf(b, ", \"threshold_mode\": \"%s\", \"patience\": %" PRId64 ", \"cooldown\": %" PRId64
                       ", \"warmup\": %" PRId64 ", ", llm_threshold_mode_names[s->greedy_relative], s->greedy_patience,
                       s->greedy_cooldown, s->greedy_warmup);
        put_key_double(b, "max_lr", s->max_lr);
        llm_buf_printf(b, ", \"smooth\": %s, \"window_size\": %" PRId64 ", \"reset_start\": %" PRId64,
                       s->greedy_window ? "true" : "false", s->greedy_window, s->greedy_reset);
    }
    llm_buf_puts(b, "},\n");
}

/* A string field that must be one of names[0..n): its index in *out, dflt when absent. */
static int choice_field(llm_json obj, const char *key, const char *const *names, int n, int dflt, int *out,
                        llm_error *err)
{
    char name[32];
    if (string_field(obj, key, dflt >= 0 ? names[dflt] : "", name, sizeof name, err) < 0)
        return -1;
    for (*out = 0; *out < n; ++*out)
        if (strcmp(name, names[*out]) == 0)
            return 0;
    return llm_error_set(err, "\"%s\" is \"%s\", which is not a name this version knows", key, name);
}

/* The kwargs of the two kinds that follow the evaluations share their names. */
static int plateau_from_json(llm_json sched, llm_lr_schedule *s, llm_error *err)
{
    if (double_field(sched, "factor", s->plateau_factor, &s->plateau_factor, err) < 0 ||
        double_field(sched, "threshold", s->plateau_threshold, &s->plateau_threshold, err) < 0 ||
        int_field(sched, "patience", s->plateau_patience, 0, INT64_MAX, &s->plateau_patience, err) < 0 ||
        int_field(sched, "cooldown", s->plateau_cooldown, 0, INT64_MAX, &s->plateau_cooldown, err) < 0)
        return -1;
    return 0;
}

static int greedy_from_json(llm_json sched, llm_lr_schedule *s, llm_error *err)
{
    int relative;
    if (double_field(sched, "factor", s->greedy_factor, &s->greedy_factor, err) < 0 ||
        double_field(sched, "threshold", s->greedy_threshold, &s->greedy_threshold, err) < 0 ||
        choice_field(sched, "threshold_mode", llm_threshold_mode_names, 2, 0, &relative, err) < 0 ||
        int_field(sched, "patience", s->greedy_patience, 0, INT64_MAX, &s->greedy_patience, err) < 0 ||
        int_field(sched, "cooldown", s->greedy_cooldown, 0, INT64_MAX, &s->greedy_cooldown, err) < 0 ||
        int_field(sched, "warmup", s->greedy_warmup, 0, INT64_MAX, &s->greedy_warmup, err) < 0 ||
        double_field(sched, "max_lr", s->max_lr, &s->max_lr, err) < 0 ||
        int_field(sched, "window_size", 0, 0, LLM_GREEDY_MAX_WINDOW, &s->greedy_window, err) < 0 ||
        int_field(sched, "reset_start", s->greedy_reset, 1, INT64_MAX, &s->greedy_reset, err) < 0)
        return -1;
    s->greedy_relative = relative;
    return 0;
}

static int schedule_from_json(llm_json sched, llm_lr_schedule *s, llm_error *err)
{
    int kind, warmup_shape, decay_shape;
    if (choice_field(sched, "name", llm_lr_kind_names, LLM_LR_KINDS, -1, &kind, err) < 0)
        return -1;
    *s = llm_lr_schedule_of((llm_lr_kind)kind);
    if (double_field(sched, "lr", 0, &s->peak, err) < 0 || double_field(sched, "min_lr", 0, &s->min_lr, err) < 0 ||
        int_field(sched, "warmup_steps", 0, 0, INT64_MAX, &s->warmup_steps, err) < 0 ||
        int_field(sched, "total_steps", 0, 0, INT64_MAX, &s->total_steps, err) < 0 ||
        int_field(sched, "cycles", 1, 1, INT64_MAX, &s->cycles, err) < 0 ||
        double_field(sched, "power", 1.0, &s->power, err) < 0 ||
        int_field(sched, "timescale", 0, 0, INT64_MAX, &s->timescale, err) < 0 ||
        int_field(sched, "decay_steps", 0, 0, INT64_MAX, &s->decay_steps, err) < 0 ||
        choice_field(sched, "warmup_type", llm_lr_shape_names, LLM_SHAPES, LLM_SHAPE_LINEAR, &warmup_shape, err) < 0 ||
        choice_field(sched, "decay_type", llm_lr_shape_names, LLM_SHAPES, LLM_SHAPE_COSINE, &decay_shape, err) < 0 ||
        (s->kind == LLM_LR_GREEDY ? greedy_from_json(sched, s, err) : plateau_from_json(sched, s, err)) < 0)
        return -1;
    s->warmup_shape = (llm_lr_shape)warmup_shape;
    s->decay_shape = (llm_lr_shape)decay_shape;
    /* Before 2026-11-25 "constant" named constant_with_warmup too. */
    if (s->kind == LLM_LR_CONSTANT && s->warmup_steps > 0)
        s->kind = LLM_LR_CONSTANT_WITH_WARMUP;
    return 0;
}

void llm_train_state_to_json(const llm_train_state *s, llm_buf *b)
{
    llm_buf_puts(b, "{\n  \"format\": \"" STATE_FORMAT "\",\n");
    llm_buf_printf(b, "  \"version\": %d,\n  \"global_step\": %" PRIu64 ",\n  \"tokens_seen\": %" PRIu64 ",\n  ",
                   STATE_VERSION, s->step, s->tokens_seen);
    put_key_double(b, "epoch", s->epoch);
    llm_buf_puts(b, ",\n  ");
    put_key_double(b, "best_val_loss", s->best_val_loss);
    llm_buf_printf(b, ",\n  \"best_step\": %" PRIu64 ",\n  ", s->best_step);
    put_key_double(b, "best_step_val_loss", s->best_step_val_loss);
    llm_buf_puts(b, ",\n  ");
    schedule_to_json(&s->sched, b);
    llm_buf_puts(b, "  \"optimizer\": {\"name\": \"adamw\", ");
    put_key_double(b, "beta1", s->beta1);
    llm_buf_puts(b, ", ");
    put_key_double(b, "beta2", s->beta2);
    llm_buf_puts(b, ", ");
    put_key_double(b, "eps", s->eps);
    llm_buf_puts(b, ", ");
    put_key_double(b, "weight_decay", s->weight_decay);
    llm_buf_puts(b, ", ");
    put_key_double(b, "grad_clip", s->grad_clip);
    llm_buf_puts(b, "},\n  ");
    put_key_double(b, "label_smoothing_factor", s->label_smoothing);
    llm_buf_puts(b, ",\n  ");
    put_key_double(b, "neftune_noise_alpha", s->neftune_alpha);
    llm_buf_printf(b, ",\n  \"seed\": %" PRIu64 ",\n  \"words\": {", s->seed);
    for (int i = 0; i < s->n_slots; i++) {
        llm_buf_puts(b, i ? ",\n    " : "\n    ");
        llm_buf_json_string(b, s->slots[i].name, strlen(s->slots[i].name));
        llm_buf_puts(b, ": [");
        /* Hex strings: a JSON number above 2^53 turns into a double in many readers. */
        for (int k = 0; k < s->slots[i].n; k++)
            llm_buf_printf(b, "%s\"0x%016" PRIx64 "\"", k ? ", " : "", s->slots[i].w[k]);
        llm_buf_putc(b, ']');
    }
    llm_buf_puts(b, s->n_slots ? "\n  },\n  \"argv\": [" : "},\n  \"argv\": [");
    for (int i = 0; i < s->argc; i++) {
        llm_buf_puts(b, i ? ", " : "");
        llm_buf_json_string(b, s->argv[i], strlen(s->argv[i]));
    }
    llm_buf_puts(b, "]\n}\n");
}

static int parse_word(llm_json v, uint64_t *w)
{
    const char *s;
    size_t n;
    char *end;
    if (llm_json_get_string(v, &s, &n) < 0 || n < 3 || n > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return -1;
    errno = 0;
    *w = strtoull(s + 2, &end, 16);
    return errno || end != s + n || s[2] == '-' || s[2] == '+' || s[2] == ' ' ? -1 : 0;
}

static int words_from_json(llm_train_state *s, llm_json obj, llm_error *err)
{
    llm_json_iter it, ai;
    llm_json v, w;
    const char *key;
    size_t keylen;
    if (llm_json_type_of(obj) != LLM_JSON_OBJECT)
        return llm_error_set(err, "\"words\" must be an object");
    llm_json_object_begin(obj, &it);
    while (llm_json_object_next(&it, &key, &keylen, &v)) {
        uint64_t words[LLM_STATE_WORDS];
        int n = 0;
        char name[32];
        if (keylen >= sizeof name || memchr(key, '\0', keylen) || llm_json_type_of(v) != LLM_JSON_ARRAY ||
            llm_json_array_len(v) > LLM_STATE_WORDS)
            return llm_error_set(err, "\"words\": bad entry \"%.*s\"", (int)(keylen > 31 ? 31 : keylen), key);
        memcpy(name, key, keylen);
        name[keylen] = '\0';
        llm_json_array_begin(v, &ai);
        while (llm_json_array_next(&ai, &w))
            if (parse_word(w, &words[n++]) < 0)
                return llm_error_set(err, "\"words\": \"%s\" holds a value that is not a \"0x...\" word", name);
        for (int i = 0; i < s->n_slots; i++)
            if (strcmp(s->slots[i].name, name) == 0)
                return llm_error_set(err, "\"words\": \"%s\" given twice", name);
        if (llm_train_state_put(s, name, words, n) < 0)
            return llm_error_set(err, "\"words\": more than %d entries", LLM_STATE_SLOTS);
    }
    return 0;
}

static int argv_from_json(llm_train_state *s, llm_json arr, llm_error *err)
{
    llm_json_iter it;
    llm_json v;
    const char *str;
    size_t n;
    if (llm_json_type_of(arr) != LLM_JSON_ARRAY)
        return llm_error_set(err, "\"argv\" must be an array of strings");
    s->argv = calloc(llm_json_array_len(arr) + 1, sizeof *s->argv);
    if (!s->argv)
        return llm_error_set(err, "out of memory");
    llm_json_array_begin(arr, &it);
    while (llm_json_array_next(&it, &v)) {
        if (llm_json_get_string(v, &str, &n) < 0)
            return llm_error_set(err, "\"argv\" must be an array of strings");
        if (!(s->argv[s->argc] = strdup(str)))
            return llm_error_set(err, "out of memory");
        s->argc++;
    }
    return 0;
}

static int state_from_root(void *ctx, llm_json root, llm_error *err)
{
    llm_train_state *s = ctx;
    llm_json v, sched, opt;
    char format[64];
    int64_t version;
    if (string_field(root, "format", "", format, sizeof format, err) < 0 || strcmp(format, STATE_FORMAT) != 0)
        return llm_error_set(err, "not an llm-tools trainer state (\"format\" is not \"" STATE_FORMAT "\")");
    if (int_field(root, "version", 0, 0, INT32_MAX, &version, err) < 0 || version != STATE_VERSION)
        return llm_error_set(err, "trainer state version %" PRId64 " is not %d", version, STATE_VERSION);
    if (!llm_json_field(root, "global_step", &v) || !llm_json_field(root, "schedule", &sched) ||
        !llm_json_field(root, "optimizer", &opt))
        return llm_error_set(err, "\"global_step\", \"schedule\" or \"optimizer\" is missing");
    if (u64_field(root, "global_step", &s->step, err) < 0 || u64_field(root, "tokens_seen", &s->tokens_seen, err) < 0 ||
        double_field(root, "epoch", 0, &s->epoch, err) < 0 ||
        double_field(root, "best_val_loss", INFINITY, &s->best_val_loss, err) < 0 ||
        u64_field(root, "best_step", &s->best_step, err) < 0 ||
        double_field(root, "best_step_val_loss", INFINITY, &s->best_step_val_loss, err) < 0 ||
        u64_field(root, "seed", &s->seed, err) < 0 ||
        schedule_from_json(sched, &s->sched, err) < 0 ||
        double_field(opt, "beta1", 0, &s->beta1, err) < 0 || double_field(opt, "beta2", 0, &s->beta2, err) < 0 ||
        double_field(opt, "eps", 0, &s->eps, err) < 0 ||
        double_field(opt, "weight_decay", 0, &s->weight_decay, err) < 0 ||
        double_field(opt, "grad_clip", 0, &s->grad_clip, err) < 0 ||
        double_field(root, "label_smoothing_factor", 0, &s->label_smoothing, err) < 0 ||
        double_field(root, "neftune_noise_alpha", 0, &s->neftune_alpha, err) < 0)
        return -1;
    if (llm_json_field(root, "words", &v) && words_from_json(s, v, err) < 0)
        return -1;
    if (llm_json_field(root, "argv", &v) && argv_from_json(s, v, err) < 0)
        return -1;
    return 0;
}

int llm_train_state_from_json(llm_train_state *s, const char *text, size_t len, llm_error *err)
{
    llm_train_state_init(s);
    if (with_json(text, len, state_from_root, s, err) == 0)
        return 0;
    llm_train_state_free(s);
    return -1;
}

/* ---- a checkpoint folder ---------------------------------------------------------------- */

static void (*fault_hook)(const char *stage);

void llm_checkpoint_set_fault_hook(void (*hook)(const char *stage)) { fault_hook = hook; }

static void stage_done(const char *stage)
{
    if (fault_hook)
        fault_hook(stage);
}

/* Writes a JSON text built by fn into dir/name. */
static int write_json(const char *dir, const char *name, const llm_buf *text, llm_error *err)
{
    char *path = join(dir, name);
    if (!path || llm_buf_failed(text)) {
        free(path);
        return llm_error_set(err, "%s: out of memory", dir);
    }
    int rc = llm_write_file_durable(path, text->data, text->len, err);
    free(path);
    return rc;
}

static int write_safetensors(const char *dir, const char *name, const llm_checkpoint *c,
                             const llm_safetensors_part *parts, int n_parts, llm_error *err)
{
    static const char *const meta[] = {"producer", "llm-tools " LLM_VERSION, NULL};
    char *path = join(dir, name);
    if (!path)
        return llm_error_set(err, "%s: out of memory", dir);
    int rc = llm_safetensors_write(path, c->tensors, c->n_tensors, parts, n_parts, LLM_DTYPE_F32, meta, err);
    free(path);
    return rc;
}

/* Every file of the checkpoint into the (new, empty) folder tmp. */
static int write_contents(const char *tmp, const llm_checkpoint *c, llm_error *err)
{
    llm_buf text;
    llm_buf_init(&text);
    llm_hf_config_to_json(c->config, &text);
    int rc = write_json(tmp, "config.json", &text, err);
    stage_done("config");
    llm_safetensors_part model = {"", c->params};
    if (rc == 0)
        rc = write_safetensors(tmp, "model.safetensors", c, &model, 1, err);
    stage_done("model");
    if (rc == 0 && c->m && c->v) {
        llm_safetensors_part moments[2] = {{"m.", c->m}, {"v.", c->v}};
        rc = write_safetensors(tmp, "optimizer.safetensors", c, moments, 2, err);
        stage_done("optimizer");
    }
    if (rc == 0 && c->state) {
        llm_buf_clear(&text);
        llm_train_state_to_json(c->state, &text);
        rc = write_json(tmp, "trainer_state.json", &text, err);
        stage_done("state");
    }
    if (rc == 0 && c->ledger) {
        llm_buf_clear(&text);
        llm_buf_puts(&text, c->ledger);
        rc = write_json(tmp, "ledger.json", &text, err);
    }
    llm_buf_free(&text);
    if (rc == 0 && fsync_path(tmp) != 0)
        rc = llm_error_set(err, "%s: fsync: %s", tmp, strerror(errno));
    return rc;
}

/* Puts the finished folder tmp at dir. An existing dir is swapped out in one step where the
 * system can (renameat2's RENAME_EXCHANGE), else moved aside first; the old one is removed. */
static int move_into_place(const char *tmp, const char *dir, llm_error *err)
{
    if (rename(tmp, dir) == 0)
        return 0;
    if (errno != ENOTEMPTY && errno != EEXIST)
        return llm_error_set(err, "%s: cannot rename into place: %s", dir, strerror(errno));
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
        stage_done("exchanged");
        remove_tree(tmp);    /* now the old checkpoint */
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS)
        return llm_error_set(err, "%s: cannot replace: %s", dir, strerror(errno));
    size_t n = strlen(dir) + 16;
    char *old = malloc(n);
    if (!old)
        return llm_error_set(err, "%s: out of memory", dir);
    snprintf(old, n, "%s.old-XXXXXX", dir);
    int rc = 0;
    if (!mkdtemp(old) || rename(dir, old) != 0)
        rc = llm_error_set(err, "%s: cannot move the old checkpoint aside: %s", dir, strerror(errno));
    stage_done("moved");
    if (rc == 0 && rename(tmp, dir) != 0)
        rc = llm_error_set(err, "%s: cannot rename into place: %s", dir, strerror(errno));
    if (rc == 0)
        remove_tree(old);
    free(old);
    return rc;
}

/* Creates a new folder named after the first n bytes of dir into out. Not mkdtemp: its
 * 0700 would stay on the checkpoint, which other users' evaluation or serving jobs must
 * read; mkdir's mode follows the umask, as the rest of the run folder does. */
static int make_temp_dir(char *out, size_t size, const char *dir, int n)
{
    static unsigned counter;
    for (int tries = 0; tries < 100; tries++) {
        snprintf(out, size, "%.*s.tmp-%ld-%u", n, dir, (long)getpid(), counter++);
        if (mkdir(out, 0777) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

int llm_checkpoint_save(const char *dir, const llm_checkpoint *c, llm_error *err)
{
    llm_error cerr;
    if (llm_hf_config_validate(c->config, &cerr) < 0)
        return llm_error_set(err, "%s: %s", dir, cerr.msg);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    char *tmp = malloc(n + 32);
    if (!tmp)
        return llm_error_set(err, "%s: out of memory", dir);
    if (make_temp_dir(tmp, n + 32, dir, (int)n) < 0) {
        llm_error_set(err, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    int rc = write_contents(tmp, c, err);
    if (rc == 0)
        stage_done("written");
    if (rc == 0)
        rc = move_into_place(tmp, dir, err);
    if (rc == 0 && fsync_parent(dir) != 0)
        rc = llm_error_set(err, "%s: fsync of its folder: %s", dir, strerror(errno));
    if (rc < 0)
        remove_tree(tmp);
    else
        stage_done("renamed");
    free(tmp);
    return rc;
}

/* Opens dir/name as safetensors; an HF folder with only pytorch_model.bin gets a hint. */
static llm_safetensors *open_weights(const char *dir, const char *name, llm_error *err)
{
    char *path = join(dir, name);
    if (!path) {
        llm_error_set(err, "%s: out of memory", dir);
        return NULL;
    }
    llm_safetensors *f = llm_safetensors_open(path, err);
    if (!f && !exists(dir, name) && exists(dir, "pytorch_model.bin"))
        llm_error_set(err, "%s: no %s, only pytorch_model.bin, which is not read (save the model with "
                           "save_pretrained(safe_serialization=True))", dir, name);
    free(path);
    return f;
}

int llm_checkpoint_read_config(const char *dir, llm_hf_config *c, llm_error *err)
{
    char *path = join(dir, "config.json");
    size_t len;
    char *text = path ? llm_read_file(path, &len, err) : NULL;
    llm_error cerr;
    int rc = -1;
    if (!path)
        llm_error_set(err, "%s: out of memory", dir);
    else if (text && (rc = llm_hf_config_from_json(c, text, len, &cerr)) < 0)
        llm_error_set(err, "%s: %s", path, cerr.msg);
    free(text);
    free(path);
    return rc;
}

int llm_checkpoint_load_model(const char *dir, const llm_tensor_desc *t, int n, float *params, llm_error *err)
{
    llm_safetensors *f = open_weights(dir, "model.safetensors", err);
    if (!f)
        return -1;
    int rc = llm_safetensors_load(f, t, n, "", LLM_SAFETENSORS_HF_NAMES, params, err);
    llm_safetensors_close(f);
    return rc;
}

static int read_state(const char *dir, llm_train_state *s, llm_error *err)
{
    char *path = join(dir, "trainer_state.json");
    size_t len;
    char *text = path ? llm_read_file(path, &len, err) : NULL;
    llm_error serr;
    int rc = -1;
    if (!path)
        llm_error_set(err, "%s: out of memory", dir);
    else if (text && (rc = llm_train_state_from_json(s, text, len, &serr)) < 0)
        llm_error_set(err, "%s: %s", path, serr.msg);
    free(text);
    free(path);
    return rc;
}

int llm_checkpoint_load_train(const char *dir, const llm_tensor_desc *t, int n, float *m, float *v,
                              llm_train_state *s, llm_error *err)
{
    llm_train_state_init(s);
    llm_safetensors *f = open_weights(dir, "optimizer.safetensors", err);
    if (!f)
        return -1;
    /* Each prefix takes its half of the file; together they must take all of it. */
    int rc = llm_safetensors_load(f, t, n, "m.", LLM_SAFETENSORS_OTHERS, m, err);
    if (rc == 0)
        rc = llm_safetensors_load(f, t, n, "v.", LLM_SAFETENSORS_OTHERS, v, err);
    if (rc == 0 && llm_safetensors_count(f) != 2 * (size_t)n)
        rc = llm_error_set(err, "%s/optimizer.safetensors: %zu tensors, expected %d (m. and v. per parameter)",
                           dir, llm_safetensors_count(f), 2 * n);
    llm_safetensors_close(f);
    if (rc == 0)
        rc = read_state(dir, s, err);
    return rc;
}

/* ---- the run folder --------------------------------------------------------------------- */

#define CKPT_PREFIX "checkpoint-"

char *llm_run_checkpoint_dir(const char *run, uint64_t step)
{
    char name[48];
    snprintf(name, sizeof name, CKPT_PREFIX "%" PRIu64, step);
    return join(run, name);
}

/* The step of a name "checkpoint-<digits>" followed by rest (the end, ".tmp-", ".old-"):
 * the length of the "checkpoint-<digits>" part, or 0 when name is not one. */
static size_t parse_ckpt_name(const char *name, uint64_t *step)
{
    size_t k = sizeof CKPT_PREFIX - 1, d = k;
    if (strncmp(name, CKPT_PREFIX, k) != 0)
        return 0;
    uint64_t v = 0;
    while (name[d] >= '0' && name[d] <= '9' && d - k < 19)
        v = v * 10 + (uint64_t)(name[d++] - '0');
    if (d == k)
        return 0;
    *step = v;
    return d;
}

/* A checkpoint to resume from: the four files are there (their contents are checked when
 * they are loaded). */
static int complete(const char *dir)
{
    return exists(dir, "config.json") && exists(dir, "model.safetensors") &&
           exists(dir, "optimizer.safetensors") && exists(dir, "trainer_state.json");
}

/* The checkpoint RUN/best links to, when it is a link to a checkpoint's name. */
static int read_best(const char *run, char *name, size_t size)
{
    char *path = join(run, "best");
    ssize_t n = path ? readlink(path, name, size - 1) : -1;
    free(path);
    uint64_t step;
    if (n <= 0)
        return 0;
    name[n] = '\0';
    return parse_ckpt_name(name, &step) == (size_t)n;
}

/* Points RUN/best at checkpoint-<step>: a new link renamed over the old one, so a crash
 * leaves one or the other. */
static int link_best(const char *run, uint64_t step, llm_error *err)
{
    char target[48];
    snprintf(target, sizeof target, CKPT_PREFIX "%" PRIu64, step);
    char *best = join(run, "best"), *tmp = join(run, "best.tmp");
    int rc = !best || !tmp ? llm_error_set(err, "%s: out of memory", run) : 0;
    if (rc == 0 && (unlink(tmp) != 0 && errno != ENOENT))
        rc = llm_error_set(err, "%s: %s", tmp, strerror(errno));
    if (rc == 0 && symlink(target, tmp) != 0)
        rc = llm_error_set(err, "%s: cannot make the link: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, best) != 0)
        rc = llm_error_set(err, "%s: %s", best, strerror(errno));
    free(best);
    free(tmp);
    return rc;
}

/* The checkpoint name in RUN/latest, when the file holds one: "checkpoint-<step>\n". */
static int read_latest(const char *run, char *name, size_t size)
{
    char *path = join(run, "latest");
    size_t len;
    char *text = path ? llm_read_file(path, &len, NULL) : NULL;
    uint64_t step;
    int ok = 0;
    if (text) {
        text[strcspn(text, "\n")] = '\0';
        size_t n = parse_ckpt_name(text, &step);
        ok = n > 0 && text[n] == '\0' && n < size;
        if (ok)
            memcpy(name, text, n + 1);
    }
    free(text);
    free(path);
    return ok;
}

static int mkdir_p(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            rc = -1;
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return rc == 0 && is_dir(path) ? 0 : -1;
}

int llm_run_save(const char *run, const llm_checkpoint *c, int keep, char **saved, llm_error *err)
{
    if (!c->state)
        return llm_error_set(err, "%s: a run's checkpoint needs its training state", run);
    if (mkdir_p(run) < 0)
        return llm_error_set(err, "%s: cannot create the folder: %s", run, strerror(errno));
    char *dir = llm_run_checkpoint_dir(run, c->state->step);
    char *latest = join(run, "latest");
    char text[48];
    int rc = !dir || !latest ? llm_error_set(err, "%s: out of memory", run) : 0;
    if (rc == 0)
        rc = llm_checkpoint_save(dir, c, err);
    if (rc == 0) {
        snprintf(text, sizeof text, CKPT_PREFIX "%" PRIu64 "\n", c->state->step);
        rc = llm_write_file_durable(latest, text, strlen(text), err);
    }
    if (rc == 0 && c->state->best_step == c->state->step)
        rc = link_best(run, c->state->step, err);
    if (rc == 0 && fsync_path(run) != 0)
        rc = llm_error_set(err, "%s: fsync: %s", run, strerror(errno));
    if (rc == 0) {
        stage_done("latest");
        rc = llm_run_prune(run, keep, err);
    }
    if (rc == 0 && saved) {
        *saved = dir;
        dir = NULL;
    }
    free(dir);
    free(latest);
    return rc;
}

int llm_run_latest(const char *path, char **dir, llm_error *err)
{
    *dir = NULL;
    if (exists(path, "config.json")) {
        *dir = strdup(path);
        return *dir ? 0 : llm_error_set(err, "%s: out of memory", path);
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? 1 : llm_error_set(err, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return llm_error_set(err, "%s: not a checkpoint or run folder", path);
    char name[48];
    if (read_latest(path, name, sizeof name)) {
        char *p = join(path, name);
        if (p && complete(p)) {
            *dir = p;
            return 0;
        }
        free(p);
    }
    /* No usable pointer: the highest complete checkpoint, if any. */
    DIR *d = opendir(path);
    if (!d)
        return llm_error_set(err, "%s: %s", path, strerror(errno));
    struct dirent *e;
    uint64_t best = 0, step;
    int found = 0;
    while ((e = readdir(d))) {
        size_t n = parse_ckpt_name(e->d_name, &step);
        if (n == 0 || e->d_name[n] != '\0' || (found && step <= best))
            continue;
        char *p = join(path, e->d_name);
        if (p && complete(p)) {
            free(*dir);
            *dir = p;
            best = step;
            found = 1;
        } else {
            free(p);
        }
    }
    closedir(d);
    return found ? 0 : 1;
}

static int by_step_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Removes RUN/name, a checkpoint or the leftover of an interrupted save. */
static int remove_in(const char *run, const char *name, llm_error *err)
{
    char *p = join(run, name);
    int rc = p && remove_tree(p) == 0 ? 0 : llm_error_set(err, "%s/%s: cannot remove: %s", run, name, strerror(errno));
    free(p);
    return rc;
}

int llm_run_prune(const char *run, int keep, llm_error *err)
{
    char latest[48] = "", best[48] = "";
    read_latest(run, latest, sizeof latest);
    read_best(run, best, sizeof best);
    DIR *d = opendir(run);
    if (!d)
        return llm_error_set(err, "%s: %s", run, strerror(errno));
    uint64_t *steps = NULL, step;
    size_t n_steps = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        size_t n = parse_ckpt_name(e->d_name, &step);
        if (n == 0)
            continue;
        if (strncmp(e->d_name + n, ".tmp-", 5) == 0 || strncmp(e->d_name + n, ".old-", 5) == 0)
            rc = remove_in(run, e->d_name, err);
        else if (e->d_name[n] == '\0' && llm_grow(&steps, &cap, (n_steps + 1) * sizeof *steps) < 0)
            rc = llm_error_set(err, "%s: out of memory", run);
        else if (e->d_name[n] == '\0')
            steps[n_steps++] = step;
    }
    closedir(d);
    if (rc == 0 && keep > 0 && n_steps > (size_t)keep) {
        qsort(steps, n_steps, sizeof *steps, by_step_desc);
        for (size_t i = (size_t)keep; i < n_steps && rc == 0; i++) {
            char name[48];
            snprintf(name, sizeof name, CKPT_PREFIX "%" PRIu64, steps[i]);
            if (strcmp(name, latest) != 0 && strcmp(name, best) != 0)
                rc = remove_in(run, name, err);
        }
    }
    free(steps);
    return rc;
}

/* llm-eval --generate: prompts continued by the model over its key/value cache
 * (llm_model_decode), greedy or sampled (lib/sample.h), until the end-of-text token, an
 * end-of-turn token, --max-new-tokens or the model's context. */
#include "buf.h"
#include "cli.h"
#include "eval.h"
#include "json.h"
#include "lines.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The end-of-turn tokens of the chat templates: a generation stops at any the tokenizer has. */
static const char *const end_of_turn[] = {"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"};
enum { MAX_STOPS = 8 };

typedef enum stop_reason { STOP_EOS, STOP_END_OF_TURN, STOP_LENGTH, STOP_CONTEXT } stop_reason;
static const char *const stop_names[] = {"eos", "end_of_turn", "length", "context"};

typedef struct gen {
    const ev_opts *o;
    llm_model *m;
    llm_tokenizer *tok;
    llm_encoder *enc;
    llm_sample_state sampler;
    int n_vocab;                  /* ids that may be generated: those the tokenizer can decode */
    int64_t bos;                  /* put before a prompt that lacks it (the post-processor's) */
    int64_t start;                /* the whole context of an empty prompt */
    int64_t stops[MAX_STOPS];
    stop_reason stop_kind[MAX_STOPS];
    int n_stops;
    float *logits;                /* V */
    int32_t *ctx;                 /* block_size */
    llm_ids prompt, out;
    llm_buf text;
    uint64_t generated;           /* tokens, over every prompt */
} gen;

/* What generate_one did with a prompt. */
typedef struct gen_result {
    size_t prompt_tokens;         /* after the cut */
    size_t prompt_cut;            /* tokens cut from the front */
    stop_reason stop;
} gen_result;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int is_dir_with(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* --tokenizer, else the one config.json names, else the folder's tokenizer.json, else
 * GPT-2's when the model's vocabulary is GPT-2's size. NULL after a message. */
static llm_tokenizer *load_tokenizer(const ev_opts *o, const llm_hf_config *hf, const char *dir)
{
    llm_error err;
    llm_tokenizer *t = NULL;
    if (o->tokenizer) {
        if (!(t = llm_tokenizer_load_default(o->tokenizer, &err)))
            llm_msg("--tokenizer %s: %s", o->tokenizer, err.msg);
    } else if (hf->tokenizer_name[0]) {
        t = llm_tokenizer_load_default(hf->tokenizer_name, &err);
        if (!t && is_dir_with(dir, "tokenizer.json"))
            t = llm_tokenizer_load(dir, &err);
        if (!t)
            llm_msg("%s/config.json: the model's tokenizer %s cannot be loaded (%s): give --tokenizer", dir,
                    hf->tokenizer_name, err.msg);
    } else if (is_dir_with(dir, "tokenizer.json")) {
        if (!(t = llm_tokenizer_load(dir, &err)))
            llm_msg("%s", err.msg);
    } else if (hf->vocab_size == 50257) {
        if (!(t = llm_tokenizer_load_default(NULL, &err)))
            llm_msg("%s", err.msg);
    } else {
        llm_msg("%s: no tokenizer named in config.json and no tokenizer.json: give --tokenizer", dir);
    }
    if (!t)
        return NULL;
    char hash[22];
    llm_tokenizer_hash_string(t, hash);
    if (hf->tokenizer_hash[0] && strcmp(hash, hf->tokenizer_hash) != 0) {
        llm_msg("tokenizer %s (%s) is not the model's: %s/config.json names %s (%s)", llm_tokenizer_name(t), hash,
                dir, hf->tokenizer_name, hf->tokenizer_hash);
        llm_tokenizer_free(t);
        return NULL;
    }
    if (llm_tokenizer_vocab_size(t) > (uint32_t)hf->vocab_size) {
        llm_msg("tokenizer %s has %" PRIu32 " tokens, more than the model's vocabulary of %d",
                llm_tokenizer_name(t), llm_tokenizer_vocab_size(t), hf->vocab_size);
        llm_tokenizer_free(t);
        return NULL;
    }
    return t;
}

static void add_stop(gen *g, int64_t id, stop_reason why)
{
    if (id < 0 || id >= g->n_vocab || g->n_stops == MAX_STOPS)
        return;
    for (int i = 0; i < g->n_stops; i++)
        if (g->stops[i] == id)
            return;
    g->stops[g->n_stops] = id;
    g->stop_kind[g->n_stops++] = why;
}

static int gen_init(gen *g, const ev_opts *o, llm_model *m, const llm_hf_config *hf, const char *dir)
{
    llm_error err;
    memset(g, 0, sizeof *g);
    g->o = o;
    g->m = m;
    llm_buf_init(&g->text);
    if (!(g->tok = load_tokenizer(o, hf, dir)))
        return -1;
    g->n_vocab = (int)llm_tokenizer_vocab_size(g->tok);
    int64_t eos = -1;
    llm_tokenizer_template(g->tok, &g->bos, &eos);
    add_stop(g, hf->eos_id, STOP_EOS);
    add_stop(g, llm_tokenizer_eos(g->tok), STOP_EOS);
    for (size_t i = 0; i < sizeof end_of_turn / sizeof *end_of_turn; i++)
        add_stop(g, llm_tokenizer_special_id(g->tok, end_of_turn[i]), STOP_END_OF_TURN);
    g->start = hf->bos_id >= 0 ? hf->bos_id
               : llm_tokenizer_bos(g->tok) >= 0 ? llm_tokenizer_bos(g->tok)
               : hf->eos_id >= 0 ? hf->eos_id : llm_tokenizer_eos(g->tok);
    if (g->start >= g->n_vocab)
        g->start = -1;
    if (llm_sample_init(&g->sampler, g->n_vocab, &o->sample, &err) < 0) {
        llm_msg("%s", err.msg);
        return -1;
    }
    g->enc = llm_encoder_new(g->tok, 0);
    g->logits = malloc((size_t)m->cfg.vocab_size * sizeof *g->logits);
    g->ctx = malloc((size_t)m->cfg.block_size * sizeof *g->ctx);
    if (!g->enc || !g->logits || !g->ctx) {
        llm_msg("out of memory");
        return -1;
    }
    return 0;
}

static void gen_free(gen *g)
{
    llm_sample_free(&g->sampler);
    llm_encoder_free(g->enc);
    llm_tokenizer_free(g->tok);
    free(g->logits);
    free(g->ctx);
    llm_ids_free(&g->prompt);
    llm_ids_free(&g->out);
    llm_buf_free(&g->text);
}

/* Continues prompt[0..len) into g->out (ids) and g->text (their bytes). `where` names the
 * prompt in messages. 0, or -1 after a message. */
static int generate_one(gen *g, const char *prompt, size_t len, uint64_t index, const char *where,
                        gen_result *r)
{
    const ev_opts *o = g->o;
    llm_error err;
    int block = g->m->cfg.block_size;
    llm_ids_clear(&g->prompt);
    llm_ids_clear(&g->out);
    llm_buf_clear(&g->text);
    memset(r, 0, sizeof *r);
    if (g->bos >= 0 && llm_ids_push(&g->prompt, (uint32_t)g->bos) < 0)
        goto oom;
    if (llm_encode(g->enc, prompt, len, 1, &g->prompt, &err) < 0) {
        llm_msg("%s: %s", where, err.msg);
        return -1;
    }
    /* The prompt's own text may begin with the beginning-of-text token already. */
    size_t skip = g->bos >= 0 && g->prompt.len > 1 && g->prompt.data[1] == (uint32_t)g->bos;
    const uint32_t *ids = g->prompt.data + skip;
    size_t n = g->prompt.len - skip;
    if (n == 0) {
        if (g->start < 0) {
            llm_msg("%s: an empty prompt, and the tokenizer has no beginning- or end-of-text token to "
                    "start from", where);
            return -1;
        }
        if (llm_ids_push(&g->prompt, (uint32_t)g->start) < 0)
            goto oom;
        ids = g->prompt.data;
        n = 1;
    }
    /* Leave room for the new tokens, up to half the context; keep the prompt's end. */
    size_t room = (size_t)o->max_new_tokens < (size_t)block / 2 ? (size_t)o->max_new_tokens : (size_t)block / 2;
    if (room == 0)
        room = 1;
    if (n > (size_t)block - room) {
        r->prompt_cut = n - ((size_t)block - room);
        llm_msg("%s: %zu tokens, more than the model's context of %d leaves room for: kept the last %zu",
                where, n, block, n - r->prompt_cut);
        ids += r->prompt_cut;
        n -= r->prompt_cut;
    }
    r->prompt_tokens = n;
    r->stop = STOP_LENGTH;
    if (o->max_new_tokens == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        g->ctx[i] = (int32_t)ids[i];
    llm_rng rng;
    uint64_t s = o->seed, k = llm_splitmix64(&s) ^ index;
    llm_rng_seed(&rng, llm_splitmix64(&k));
    int pos = (int)n;
    if (llm_model_decode(g->m, g->ctx, pos, 0, g->logits, &err) < 0) {
        llm_msg("%s: %s", where, err.msg);
        return -1;
    }
    for (;;) {
        int id = llm_sample_next(&g->sampler, g->logits, &rng);
        int stop = -1;
        for (int i = 0; i < g->n_stops && stop < 0; i++)
            if (g->stops[i] == id)
                stop = i;
        if (stop >= 0) {
            r->stop = g->stop_kind[stop];
            break;
        }
        if (llm_ids_push(&g->out, (uint32_t)id) < 0)
            goto oom;
        g->generated++;
        if (g->out.len == (size_t)o->max_new_tokens)
            break;
        if (pos + 1 == block) {    /* the new token fills the context, as generate's max_length */
            r->stop = STOP_CONTEXT;
            llm_msg("%s: stopped at the model's context of %d tokens, after %zu new tokens", where, block,
                    g->out.len);
            break;
        }
        g->ctx[pos] = id;
        if (llm_model_decode(g->m, g->ctx + pos, 1, pos, g->logits, &err) < 0) {
            llm_msg("%s: %s", where, err.msg);
            return -1;
        }
        pos++;
    }
    if (llm_decode(g->tok, g->out.data, g->out.len, &g->text, &err) < 0) {
        llm_msg("%s: %s", where, err.msg);
        return -1;
    }
    return 0;
oom:
    llm_msg("out of memory");
    return -1;
}

/* The members an output record gets from us; the input's of the same names are left out. */
static const char *const our_members[] = {"completion", "completion_ids", "prompt_tokens", "completion_tokens",
                                          "stop"};

static int ours(const char *key, size_t len)
{
    for (size_t i = 0; i < sizeof our_members / sizeof *our_members; i++)
        if (strlen(our_members[i]) == len && memcmp(our_members[i], key, len) == 0)
            return 1;
    return 0;
}

/* The input record rec with the continuation's members added, one JSON line. */
static void record_json(const gen *g, llm_json rec, const gen_result *r, llm_buf *b)
{
    llm_json_iter it;
    llm_json v;
    const char *key;
    size_t klen;
    llm_buf_putc(b, '{');
    llm_json_object_begin(rec, &it);
    while (llm_json_object_next(&it, &key, &klen, &v)) {
        if (ours(key, klen))
            continue;
        llm_buf_json_string(b, key, klen);
        llm_buf_putc(b, ':');
        llm_json_minify(v, b);
        llm_buf_putc(b, ',');
    }
    llm_buf_puts(b, "\"completion\":");
    llm_buf_json_string(b, g->text.data ? g->text.data : "", g->text.len);
    llm_buf_puts(b, ",\"completion_ids\":[");
    for (size_t i = 0; i < g->out.len; i++) {
        if (i)
            llm_buf_putc(b, ',');
        llm_buf_u64(b, g->out.data[i]);
    }
    llm_buf_printf(b, "],\"prompt_tokens\":%zu,\"completion_tokens\":%zu,\"stop\":\"%s\"}\n", r->prompt_tokens,
                   g->out.len, stop_names[r->stop]);
}

/* --prompt TEXT...: each continuation as it is, on a line of its own. */
static int run_prompts(gen *g, FILE *fp)
{
    const ev_opts *o = g->o;
    char where[32];
    for (int i = 0; i < o->n_prompts; i++) {
        gen_result r;
        snprintf(where, sizeof where, "prompt %d", i + 1);
        if (generate_one(g, o->prompts[i], strlen(o->prompts[i]), (uint64_t)i, where, &r) < 0)
            return -1;
        if (g->text.len)
            fwrite(g->text.data, 1, g->text.len, fp);
        putc('\n', fp);
        if (ferror(fp))
            return 0;    /* the commit reports it */
    }
    return 0;
}

/* --prompts FILE: JSONL in, JSONL out. */
static int run_file(gen *g, FILE *fp, uint64_t *count)
{
    const char *name = g->o->prompts_file;
    int is_stdin = strcmp(name, "-") == 0;
    const char *shown = is_stdin ? "(stdin)" : name;
    int fd = is_stdin ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        llm_msg("%s: %s", name, strerror(errno));
        return -1;
    }
    llm_lines *lines = llm_lines_open(fd);
    llm_json_parser *parser = llm_json_parser_new();
    llm_buf b;
    llm_buf_init(&b);
    int rc = 0, got;
    const char *line;
    size_t len;
    llm_error err;
    if (!lines || !parser) {
        llm_msg("out of memory");
        rc = -1;
    }
    while (rc == 0 && (got = llm_lines_next(lines, &line, &len, &err)) != 0) {
        char where[4200];
        if (got < 0) {
            llm_msg("%s: %s", shown, err.msg);
            rc = -1;
            break;
        }
        snprintf(where, sizeof where, "%s:%" PRIu64, shown, llm_lines_number(lines));
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == len)
            continue;
        llm_json root, p;
        const char *text;
        size_t tlen;
        if (llm_json_parse(parser, line, len, 1, &root, &err) < 0) {
            llm_msg("%s: %s", where, err.msg);
            rc = -1;
        } else if (llm_json_type_of(root) != LLM_JSON_OBJECT || !llm_json_field(root, "prompt", &p) ||
                   llm_json_get_string(p, &text, &tlen) < 0) {
            llm_msg("%s: expected an object with a \"prompt\" string", where);
            rc = -1;
        } else {
            gen_result r;
            if ((rc = generate_one(g, text, tlen, *count, where, &r)) == 0) {
                llm_buf_clear(&b);
                record_json(g, root, &r, &b);
                if (llm_buf_failed(&b)) {
                    llm_msg("out of memory");
                    rc = -1;
                } else {
                    fwrite(b.data, 1, b.len, fp);
                    ++*count;
                }
            }
        }
        if (ferror(fp))
            break;    /* the commit reports it */
    }
    llm_buf_free(&b);
    llm_json_parser_free(parser);
    llm_lines_close(lines);
    if (!is_stdin)
        close(fd);
    return rc;
}

int ev_run_generate(const ev_opts *o)
{
    llm_error err;
    llm_hf_config hf;
    char *dir = NULL;
    gen g;
    int inited = 0, status = LLM_EXIT_FAILURE;
    llm_output out = {.fd = -1};
    double start = now_seconds();
    llm_model *m = ev_load_model(o, &hf, &dir);
    if (!m || ev_choose_device(o, m) < 0)
        goto done;
    inited = 1;
    if (gen_init(&g, o, m, &hf, dir) < 0)
        goto done;
    if (llm_output_open(&out, o->output, 0, 0, &err) < 0) {
        llm_msg("%s", err.msg);
        goto done;
    }
    FILE *fp = llm_output_file(&out);
    if (!fp) {
        llm_msg("out of memory");
        goto done;
    }
    uint64_t count = (uint64_t)o->n_prompts;
    if (o->prompts_file) {
        count = 0;
        if (run_file(&g, fp, &count) < 0)
            goto done;
    } else if (run_prompts(&g, fp) < 0) {
        goto done;
    }
    if (llm_output_commit(&out, &err) < 0) {
        llm_msg("%s", err.msg);
        goto done;
    }
    if (!o->quiet) {
        double s = now_seconds() - start;
        llm_msg("%" PRIu64 " prompts, %" PRIu64 " tokens generated in %.1f s (%.1f tokens/s)", count, g.generated,
                s, s > 0 ? (double)g.generated / s : 0.0);
    }
    status = LLM_EXIT_OK;
done:
    if (status != LLM_EXIT_OK)
        llm_output_abort(&out);
    if (inited)
        gen_free(&g);
    llm_model_free(m);
    free(dir);
    return status;
}

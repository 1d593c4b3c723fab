/* llm-tokenize's driver. The main thread reads documents into batches, the feed (lib/feed.h)
 * encodes them on worker threads, and finished batches come back in input order to be written
 * as stream records and counted, so the stream and the summary are the same bytes for any -j. */
#include "cli.h"
#include "feed.h"
#include "lines.h"
#include "tokenize.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WHOLE_CHUNK (1u << 20)

/* What a batch (lib/feed.h) carries for llm-tokenize: how to read its lines, and what became
 * of each. */
typedef struct tok_batch {
    const tok_plan *plan;
    int jsonl;                /* this input's format */
    tok_result *res;          /* one per line */
    size_t cap;
    int oom;                  /* res could not be made */
    llm_ids ids;              /* the records, one after another */
} tok_batch;

/* ---- the feed's side ---- */

static const tok_plan *feed_plan(void *ctx);

static void *batch_new(void *ctx)
{
    (void)ctx;
    tok_batch *u = calloc(1, sizeof *u);
    if (u)
        llm_ids_init(&u->ids);
    return u;
}

static void batch_reset(void *user)
{
    tok_batch *u = user;
    for (size_t i = 0; i < u->cap; i++) {
        free(u->res[i].error);
        u->res[i].error = NULL;
    }
    u->oom = 0;
    llm_ids_clear(&u->ids);
}

static void batch_free(void *user)
{
    tok_batch *u = user;
    batch_reset(u);
    llm_ids_free(&u->ids);
    free(u->res);
    free(u);
}

static void *worker_init(void *ctx)
{
    tok_worker *w = calloc(1, sizeof *w);
    if (w && tok_worker_init(w, feed_plan(ctx)) < 0) {
        free(w);
        w = NULL;
    }
    return w;
}

static void worker_run(void *state, llm_feed_batch *b)
{
    tok_batch *u = b->user;
    if (b->n > u->cap) {
        tok_result *r = realloc(u->res, b->n * sizeof *r);
        if (!r) {
            u->oom = 1;
            return;
        }
        memset(r + u->cap, 0, (b->n - u->cap) * sizeof *r);
        u->res = r;
        u->cap = b->n;
    }
    for (size_t i = 0; i < b->n; i++)
        tok_document(u->plan, state, u->jsonl, llm_feed_batch_text(b, i), b->lines[i].len, &u->ids, &u->res[i]);
}

static void worker_fini(void *state)
{
    tok_worker_free(state);
    free(state);
}

/* ---- reading ---- */

typedef struct reader {
    llm_lines *lines;
    const char *name;
    int fd;
    tok_in format;
    const char *held;         /* a line read ahead by the format detection */
    size_t held_len;
    uint64_t held_number;
    uint64_t whole_bytes;     /* --in=whole: bytes read */
    int done;                 /* --in=whole: the input was read */
} reader;

/* Next line without its '\n' and a '\r' before it. 1, 0 at the end, -1 on a read error. */
static int reader_next(reader *r, const char **line, size_t *len, uint64_t *number, llm_error *err)
{
    int got = llm_lines_next(r->lines, line, len, err);
    if (got <= 0)
        return got;
    *number = llm_lines_number(r->lines);
    if (*len && (*line)[*len - 1] == '\r')
        --*len;
    return 1;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\f\v", s[i]))
            return 0;
    return 1;
}

/* --in=auto: JSONL when the first line that is not blank is a JSON object (after a BOM),
 * or looks like one ({...}), else lines. The lines read on the way are held, not lost: only blank lines are read past,
 * and those are counted in *blank_before to become empty documents of text input. */
static int detect_format(reader *r, llm_json_parser **parser, uint64_t *blank_before, llm_error *err)
{
    const char *line;
    size_t len;
    uint64_t number;
    int got;
    *blank_before = 0;
    r->format = TOK_IN_LINES;
    while ((got = reader_next(r, &line, &len, &number, err)) == 1 && is_blank(line, len))
        ++*blank_before;
    if (got <= 0)
        return got;
    r->held = line;
    r->held_len = len;
    r->held_number = number;
    const char *p = line;
    size_t n = len;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0 && *blank_before == 0)
        p += 3, n -= 3;
    size_t i = 0;
    while (i < n && strchr(" \t", p[i]))
        i++;
    size_t end = n;
    while (end > i && strchr(" \t", p[end - 1]))
        end--;
    if (i < n && p[i] == '{') {
        /* A malformed first record (a lone surrogate escape, say) is still JSONL when it
         * looks like an object: it is reported as malformed rather than read as text. */
        llm_json root;
        if (!*parser && !(*parser = llm_json_parser_new()))
            return llm_error_set(err, "out of memory");
        if (p[end - 1] == '}' ||
            (llm_json_parse(*parser, p, n, 0, &root, NULL) == 0 && llm_json_type_of(root) == LLM_JSON_OBJECT)) {
            r->format = TOK_IN_JSONL;
            r->held = p;
            r->held_len = n;
        }
    }
    return 0;
}

/* Fills b with the documents of the next lines. 1 when b got some, 0 at the end, -1 error.
 * JSONL's ledger lines (llm-clean --ledger-inline) go to `ledger`, not to b. */
static int fill_lines(reader *r, llm_feed_batch *b, llm_ledger *ledger, llm_error *err)
{
    if (r->format != TOK_IN_JSONL)
        ledger = NULL;
    if (r->held) {
        int k = llm_feed_ledger_line(ledger, r->held, r->held_len, r->held_number, err);
        if (k < 0)
            return -1;
        if (!k && llm_feed_batch_add(b, r->held, r->held_len, r->held_number) < 0)
            return llm_error_set(err, "out of memory");
        r->held = NULL;
    }
    /* A BOM before JSON is not part of the record; in text it is the text's own. Blank lines
     * between records hold no document. */
    int flags = r->format == TOK_IN_JSONL ? LLM_FILL_SKIP_BLANK | LLM_FILL_STRIP_BOM : 0;
    return llm_feed_batch_fill(b, r->lines, flags, ledger, err);
}

/* --in=whole: the whole input is one document. */
static int fill_whole(reader *r, llm_feed_batch *b, llm_error *err)
{
    if (r->done)
        return 0;
    r->done = 1;
    if (llm_feed_batch_begin(b, 1) < 0)
        return llm_error_set(err, "out of memory");
    for (;;) {
        if (llm_buf_reserve(&b->text, WHOLE_CHUNK) < 0)
            return llm_error_set(err, "out of memory");
        ssize_t k = read(r->fd, b->text.data + b->text.len, WHOLE_CHUNK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return llm_error_set(err, "read error: %s", strerror(errno));
        if (k == 0)
            break;
        b->text.len += (size_t)k;
        b->lines[0].len += (size_t)k;
        r->whole_bytes += (uint64_t)k;
    }
    llm_feed_batch_seal(b);
    b->bytes_read = r->whole_bytes;
    return llm_buf_failed(&b->text) ? llm_error_set(err, "out of memory") : 1;
}

/* ---- the writer: records out, accounting ---- */

typedef struct writer {
    const tok_opts *opts;
    llm_output out;
    llm_writer *stream;
    uint64_t docs_in, written, empty, skipped, tokens_out, text_tokens;
    int failed;               /* a record stopped the run: neither written nor dropped */
    uint64_t bytes_before;    /* input bytes of the inputs already read */
    llm_progress progress;
    llm_ledger ledger;        /* of the stages before: --ledger FILE and ledger lines */
} writer;

static const char *input_name(const tok_opts *o, int input)
{
    return strcmp(o->inputs[input], "-") == 0 ? "(stdin)" : o->inputs[input];
}

/* Accounts for and writes a finished batch. Returns 0, or an exit status. */
static int write_batch(writer *wr, const llm_feed_batch *b)
{
    const tok_opts *o = wr->opts;
    const tok_batch *u = b->user;
    if (u->oom) {
        llm_msg("out of memory");
        return LLM_EXIT_FAILURE;
    }
    for (size_t i = 0; i < b->n; i++) {
        const tok_result *r = &u->res[i];
        /* Per record: the progress line reads the clock only every so many calls. */
        llm_progress_update(&wr->progress, wr->docs_in, wr->bytes_before + b->bytes_read);
        if (r->error) {
            if (!o->on_error_skip || r->fatal) {
                wr->docs_in++;
                wr->failed = 1;    /* read, so the summary counts it, as failed */
                llm_msg("%s:%" PRIu64 ": %s%s", input_name(o, b->input), b->lines[i].number, r->error,
                        r->fatal ? "" : " (--on-error=skip counts and skips such lines)");
                return LLM_EXIT_FAILURE;
            }
            wr->docs_in++;
            wr->skipped++;
            continue;
        }
        wr->docs_in++;
        if (r->n_text == 0) {
            wr->empty++;
            continue;
        }
        llm_record rec = {
            .n_tokens = (uint32_t)r->n_ids,
            .token_bytes = 4,
            .tokens = u->ids.data + r->ids_off,
        };
        if (llm_writer_put(wr->stream, &rec) < 0) {
            llm_msg("%s: %s", llm_output_name(&wr->out), llm_writer_error(wr->stream));
            return LLM_EXIT_FAILURE;
        }
        wr->written++;
        wr->tokens_out += r->n_ids;
        wr->text_tokens += r->n_text;
    }
    return 0;
}

static void print_summary(const writer *wr, const tok_plan *p, uint64_t bytes_in)
{
    char hash[22];
    llm_tokenizer_hash_string(p->tokenizer, hash);
    llm_msg("%" PRIu64 " in, %" PRIu64 " written, %" PRIu64 " empty, %" PRIu64 " skipped (malformed)%s",
            wr->docs_in, wr->written, wr->empty, wr->skipped, wr->failed ? ", 1 failed" : "");
    llm_msg("tokens: %" PRIu64 " out (%" PRIu64 " of text), bytes: %" PRIu64 " in; tokenizer %s (%s)",
            wr->tokens_out, wr->text_tokens, bytes_in, llm_tokenizer_name(p->tokenizer), hash);
}

/* This run's stage after the stages before it, for the end of the stream. */
static int account(writer *wr)
{
    const tok_opts *o = wr->opts;
    llm_stage *g = llm_ledger_add_stage(&wr->ledger, "llm-tokenize", "documents", o->argc, o->argv);
    if (!g || (wr->empty && llm_reasons_add(&g->dropped, "empty", wr->empty, LLM_NO_COUNT) < 0) ||
        (wr->skipped && llm_reasons_add(&g->dropped, "malformed", wr->skipped, LLM_NO_COUNT) < 0)) {
        llm_msg("out of memory");
        return -1;
    }
    g->in.records = wr->docs_in;
    g->out = (llm_tally){wr->written, wr->tokens_out};
    llm_writer_account(wr->stream, g);
    return 0;
}

/* ---- the run ---- */

typedef struct runner {
    const tok_opts *opts;
    const tok_plan *plan;
    writer wr;
    llm_feed *feed;
    llm_ledger ledger_lines;  /* with --ledger FILE: the input's ledger lines, set aside */
} runner;

static const tok_plan *feed_plan(void *ctx)
{
    return ((const runner *)ctx)->plan;
}

static int feed_write(void *ctx, llm_feed_batch *b)
{
    return write_batch(&((runner *)ctx)->wr, b);
}

/* The status of a feed call as an exit status, with a message for a worker that failed. */
static int feed_status(int status)
{
    if (status == LLM_FEED_WORKER_FAILED) {
        llm_msg("out of memory for a worker's encoder");
        return LLM_EXIT_FAILURE;
    }
    return status;
}

/* A new batch for this input's documents, or NULL after a message. */
static llm_feed_batch *new_batch(runner *rn, int input, int jsonl)
{
    llm_feed_batch *b = llm_feed_get_batch(rn->feed);
    if (!b) {
        llm_msg("out of memory");
        return NULL;
    }
    tok_batch *u = b->user;
    b->input = input;
    u->plan = rn->plan;
    u->jsonl = jsonl;
    return b;
}

/* Blank lines before the first text line of auto-detected text are its first documents. */
static int submit_blank(runner *rn, int input, uint64_t blank_before)
{
    llm_feed_batch *b = new_batch(rn, input, 0);
    if (!b)
        return LLM_EXIT_FAILURE;
    for (uint64_t k = 1; k <= blank_before; k++) {
        if (llm_feed_batch_add(b, "", 0, k) < 0) {
            llm_msg("out of memory");
            llm_feed_recycle(rn->feed, b);
            return LLM_EXIT_FAILURE;
        }
    }
    return feed_status(llm_feed_submit(rn->feed, b));
}

/* Reads one input to its end. Returns 0 or an exit status. */
static int run_input(runner *rn, int input, llm_json_parser **parser)
{
    const tok_opts *o = rn->opts;
    reader r = {.name = input_name(o, input), .format = o->in};
    llm_error err;
    if (strcmp(o->inputs[input], "-") == 0) {
        r.fd = STDIN_FILENO;
    } else if ((r.fd = open(o->inputs[input], O_RDONLY | O_CLOEXEC)) < 0) {
        llm_msg("%s: %s", r.name, strerror(errno));
        return LLM_EXIT_FAILURE;
    }
    int status = 0;
    uint64_t blank_before = 0;
    if (o->in != TOK_IN_WHOLE && !(r.lines = llm_lines_open(r.fd))) {
        llm_msg("out of memory");
        status = LLM_EXIT_FAILURE;
    } else if (o->in == TOK_IN_AUTO && detect_format(&r, parser, &blank_before, &err) < 0) {
        llm_msg("%s: %s", r.name, err.msg);
        status = LLM_EXIT_FAILURE;
    }
    if (status == 0 && blank_before && r.format == TOK_IN_LINES)
        status = submit_blank(rn, input, blank_before);
    while (status == 0) {
        llm_feed_batch *b = new_batch(rn, input, r.format == TOK_IN_JSONL);
        if (!b) {
            status = LLM_EXIT_FAILURE;
            break;
        }
        llm_ledger *ledger = llm_feed_ledger_target(rn->opts->ledger, &rn->wr.ledger, &rn->ledger_lines);
        int got = r.format == TOK_IN_WHOLE ? fill_whole(&r, b, &err) : fill_lines(&r, b, ledger, &err);
        if (got <= 0) {
            llm_feed_recycle(rn->feed, b);
            if (got < 0) {
                llm_msg("%s: %s", r.name, err.msg);
                status = LLM_EXIT_FAILURE;
            }
            break;
        }
        status = feed_status(llm_feed_submit(rn->feed, b));
    }
    /* The next input's batches count their bytes from here: write this one's out first. */
    if (status == 0)
        status = feed_status(llm_feed_drain(rn->feed));
    rn->wr.bytes_before += r.lines ? llm_lines_bytes(r.lines) : r.whole_bytes;
    llm_lines_close(r.lines);
    if (r.fd != STDIN_FILENO)
        close(r.fd);
    return status;
}

/* The stream's header: the tokenizer, its special ids and the command line. */
static int make_header(const tok_opts *o, const tok_plan *p, llm_header *h)
{
    char hash[22];
    llm_tokenizer_hash_string(p->tokenizer, hash);
    if (llm_header_init(h) < 0)
        return -1;
    h->kind = LLM_KIND_DOCS;
    h->vocab_size = llm_tokenizer_vocab_size(p->tokenizer);
    h->token_bytes = llm_token_bytes_for_vocab(h->vocab_size);
    h->eos_id = llm_tokenizer_eos(p->tokenizer) >= 0 ? llm_tokenizer_eos(p->tokenizer) : LLM_NO_TOKEN;
    int64_t bos = p->bos_id >= 0 ? p->bos_id : llm_tokenizer_bos(p->tokenizer);
    h->bos_id = bos >= 0 ? bos : LLM_NO_TOKEN;
    if (llm_header_set_tokenizer(h, llm_tokenizer_name(p->tokenizer), hash) < 0 ||
        llm_header_add_step(h, "llm-tokenize", o->argc, o->argv) < 0)
        return -1;
    return 0;
}

int tok_run(const tok_opts *o)
{
    llm_error err;
    llm_tokenizer *t = tok_tokenizer(o);
    if (!t)
        return LLM_EXIT_FAILURE;
    tok_plan plan = {.opts = o, .tokenizer = t, .bos_id = -1, .eos_id = -1};
    if (o->eos && (plan.eos_id = llm_tokenizer_eos(t)) < 0) {
        llm_msg("%s has no end-of-text token to append (use --no-eos)", llm_tokenizer_name(t));
        llm_tokenizer_free(t);
        return LLM_EXIT_FAILURE;
    }
    int64_t template_bos, template_eos;
    llm_tokenizer_template(t, &template_bos, &template_eos);
    if (o->bos < 0)
        plan.bos_id = template_bos;
    else if (o->bos && (plan.bos_id = tok_bos_id(t)) < 0) {
        llm_msg("%s has no beginning-of-text token for --bos", llm_tokenizer_name(t));
        llm_tokenizer_free(t);
        return LLM_EXIT_FAILURE;
    }

    runner rn;
    memset(&rn, 0, sizeof rn);
    rn.opts = o;
    rn.plan = &plan;
    rn.wr.opts = o;
    llm_ledger_init(&rn.wr.ledger);
    llm_ledger_init(&rn.ledger_lines);
    llm_header h;
    int status = 0, header_ok = make_header(o, &plan, &h) == 0;
    llm_writer_opts wopts = {.level = o->level, .frame_bytes = 0, .index = -1, .threads = o->threads};
    if (!header_ok) {
        llm_msg("out of memory");
        status = LLM_EXIT_FAILURE;
    } else if (llm_output_open(&rn.wr.out, o->output, 1, o->force, &err) < 0) {
        llm_msg("%s", err.msg);
        status = LLM_EXIT_FAILURE;
        rn.wr.out.fd = -1;
    } else if (!(rn.wr.stream = llm_writer_open(rn.wr.out.fd, &h, &wopts, &err))) {
        llm_msg("%s: %s", llm_output_name(&rn.wr.out), err.msg);
        status = LLM_EXIT_FAILURE;
    }
    if (status == 0 && o->ledger && llm_ledger_load_file(&rn.wr.ledger, o->ledger, &err) < 0) {
        llm_msg("--ledger %s", err.msg);
        status = LLM_EXIT_FAILURE;
    }
    llm_feed_fns fns = {worker_init, worker_run, worker_fini, batch_new, batch_reset, batch_free, feed_write};
    if (status == 0 && !(rn.feed = llm_feed_new(o->threads, &fns, &rn, &err))) {
        llm_msg("%s", err.msg);
        status = LLM_EXIT_FAILURE;
    }
    llm_progress_start(&rn.wr.progress, o->quiet, llm_inputs_size(o->inputs, o->n_inputs));
    llm_json_parser *parser = NULL;
    for (int i = 0; i < o->n_inputs && status == 0; i++)
        status = run_input(&rn, i, &parser);
    llm_progress_end(&rn.wr.progress);
    llm_feed_free(rn.feed);
    if (status == 0 && account(&rn.wr) < 0)
        status = LLM_EXIT_FAILURE;
    if (status == 0 && llm_writer_finish_ledger(rn.wr.stream, &rn.wr.ledger) < 0) {
        llm_msg("%s: %s", llm_output_name(&rn.wr.out), llm_writer_error(rn.wr.stream));
        status = LLM_EXIT_FAILURE;
    }
    llm_writer_free(rn.wr.stream);
    if (status == 0 && llm_output_commit(&rn.wr.out, &err) < 0) {
        llm_msg("%s", err.msg);
        status = LLM_EXIT_FAILURE;
    } else if (status != 0 && rn.wr.out.fd != STDOUT_FILENO) {
        llm_output_abort(&rn.wr.out);
    }
    if (!o->quiet && header_ok)
        print_summary(&rn.wr, &plan, rn.wr.bytes_before);
    if (status == 0 && llm_stage_max_drop(&rn.wr.ledger.stages[rn.wr.ledger.len - 1], o->max_drop))
        status = LLM_EXIT_FAILURE;
    if (!o->quiet)
        llm_feed_note_aside(&rn.ledger_lines, o->ledger);
    llm_ledger_free(&rn.wr.ledger);
    llm_ledger_free(&rn.ledger_lines);
    llm_json_parser_free(parser);
    if (header_ok)
        llm_header_free(&h);
    llm_tokenizer_free(t);
    return status;
}

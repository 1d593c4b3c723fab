/* llm-collate's driver. The main thread reads JSONL records into batches, the feed
 * (lib/feed.h) renders and encodes them on worker threads, and finished batches come back in
 * input order to be accounted for and written (sink.c), so the stream and the summary are the
 * same bytes for any -j. */
#include "cli.h"
#include "collate.h"
#include "feed.h"
#include "lines.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What is shared by every worker: read-only during the run. */
typedef struct col_plan {
    const col_opts *opts;
    const llm_tokenizer *tok;
    col_render_opts render;
} col_plan;

/* What became of one record. */
typedef struct col_result {
    col_reason reason;
    char *error;              /* the detail when reason is not COL_OK (malloc'd) */
    int fatal;                /* the worker failed (memory, the encoder's limits): stop */
    size_t off, n;            /* its ids and mask in the batch's; --render: its text */
    size_t spans_off, n_spans;   /* --render: its trained spans, as (start, end) pairs */
    uint32_t full_len;        /* tokens before truncation */
    int truncated;
} col_result;

/* What a batch carries for llm-collate. */
typedef struct col_batch {
    const col_plan *plan;
    col_result *res;          /* one per line */
    size_t cap;
    int oom;
    llm_ids ids;              /* the examples' ids, one after another */
    llm_buf mask;             /* a byte per id */
    llm_buf text, spans;      /* --render */
} col_batch;

typedef struct col_worker {
    llm_json_parser *parser;
    col_builder builder;
    col_example ex;
    char msg[320];
} col_worker;

/* ---- one record, on a worker ---- */

static void set_error(col_result *r, col_reason reason, const char *msg)
{
    r->reason = reason;
    r->error = strdup(msg);
    if (!r->error)
        r->fatal = 1;
}

/* Cuts an encoded example to --max-len, or drops it; packed, masks its first token. COL_OK
 * when something is left to write and to learn. */
static col_reason fit_length(const col_opts *o, col_batch *u, col_result *r, char *msg, size_t msglen)
{
    r->full_len = (uint32_t)r->n;
    /* Without --max-len, the stream's own limit: a record no longer than that. */
    if (!o->max_len && r->n > LLM_RECORD_MAX_TOKENS) {
        snprintf(msg, msglen, "%zu tokens, more than a stream record holds (%u): give --max-len to cut it", r->n,
                 (unsigned)LLM_RECORD_MAX_TOKENS);
        return COL_TOO_LONG;
    }
    if (o->max_len && r->n > o->max_len) {
        if (o->overflow == COL_OVERFLOW_DROP) {
            snprintf(msg, msglen, "%zu tokens, more than --max-len %" PRIu32, r->n, o->max_len);
            return COL_TOO_LONG;
        }
        r->n = o->max_len;
        r->truncated = 1;
    }
    uint8_t *mask = (uint8_t *)u->mask.data + r->off;
    /* Packed, an example's first token would be learnt from the one before it, which
     * belongs to another example. Masked before the check below, which it may fail. */
    if (o->layout == COL_LAYOUT_PACK && r->n)
        mask[0] = 0;
    for (size_t i = 0; i < r->n; i++)
        if (mask[i])
            return COL_OK;
    if (r->truncated)
        snprintf(msg, msglen, "cut to --max-len %" PRIu32 " tokens, no token of an answer is left", o->max_len);
    else
        snprintf(msg, msglen, "packed, its first token is masked, and no other token of an answer is left");
    return COL_NO_ANSWER_LEFT;
}

static void collate_record(const col_plan *p, col_worker *w, col_batch *u, const char *line, size_t len,
                           col_result *r)
{
    const col_opts *o = p->opts;
    llm_error err;
    llm_json root;
    memset(r, 0, sizeof *r);
    r->off = o->render ? u->text.len : u->ids.len;
    r->spans_off = u->spans.len;
    if (llm_json_parse(w->parser, line, len, 1, &root, &err) < 0) {
        set_error(r, COL_MALFORMED_JSON, err.msg);
        return;
    }
    col_reason why = col_read_record(root, o->schema, o->system, &w->ex, w->msg, sizeof w->msg);
    if (why == COL_OK) {
        col_builder_start(&w->builder, &u->ids, &u->mask, &u->text, &u->spans);
        why = col_render(&p->render, &w->ex, &w->builder, w->msg, sizeof w->msg, &err);
    }
    if (why == COL_REASON_COUNT) {
        set_error(r, why, err.msg);
        r->fatal = 1;
    } else if (why != COL_OK) {
        set_error(r, why, w->msg);
    } else if (o->render) {
        r->n = u->text.len - r->off;
        r->n_spans = (u->spans.len - r->spans_off) / (2 * sizeof(size_t));
        return;
    } else {
        r->n = u->ids.len - r->off;
        why = fit_length(o, u, r, w->msg, sizeof w->msg);
        if (why != COL_OK) {
            set_error(r, why, w->msg);
        } else {
            u->ids.len = r->off + r->n;
            u->mask.len = r->off + r->n;
            return;
        }
    }
    /* Nothing of a record that is not written stays in the batch. */
    if (o->render) {
        u->text.len = r->off;
        u->spans.len = r->spans_off;
    } else {
        u->ids.len = u->mask.len = r->off;
    }
}

/* ---- the feed's side ---- */

static const col_plan *feed_plan(void *ctx);

static void *batch_new(void *ctx)
{
    col_batch *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->plan = feed_plan(ctx);
    llm_ids_init(&u->ids);
    llm_buf_init(&u->mask);
    llm_buf_init(&u->text);
    llm_buf_init(&u->spans);
    return u;
}

static void batch_reset(void *user)
{
    col_batch *u = user;
    for (size_t i = 0; i < u->cap; i++) {
        free(u->res[i].error);
        u->res[i].error = NULL;
    }
    u->oom = 0;
    llm_ids_clear(&u->ids);
    llm_buf_clear(&u->mask);
    llm_buf_clear(&u->text);
    llm_buf_clear(&u->spans);
}

static void batch_free(void *user)
{
    col_batch *u = user;
    batch_reset(u);
    llm_ids_free(&u->ids);
    llm_buf_free(&u->mask);
    llm_buf_free(&u->text);
    llm_buf_free(&u->spans);
    free(u->res);
    free(u);
}

static void worker_fini(void *state)
{
    col_worker *w = state;
    if (!w)
        return;
    llm_json_parser_free(w->parser);
    col_builder_free(&w->builder);
    col_example_free(&w->ex);
    free(w);
}

static void *worker_init(void *ctx)
{
    const col_plan *p = feed_plan(ctx);
    col_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    if (!(w->parser = llm_json_parser_new()) || col_builder_init(&w->builder, p->tok, p->opts->render) < 0) {
        worker_fini(w);
        return NULL;
    }
    return w;
}

static void worker_run(void *state, llm_feed_batch *b)
{
    col_batch *u = b->user;
    if (b->n > u->cap) {
        col_result *r = realloc(u->res, b->n * sizeof *r);
        if (!r) {
            u->oom = 1;
            return;
        }
        memset(r + u->cap, 0, (b->n - u->cap) * sizeof *r);
        u->res = r;
        u->cap = b->n;
    }
    for (size_t i = 0; i < b->n; i++)
        collate_record(u->plan, state, u, llm_feed_batch_text(b, i), b->lines[i].len, &u->res[i]);
}

/* ---- the writer: accounting, rejects, records out ---- */

typedef struct writer {
    const col_opts *opts;
    llm_output out, rejects;
    FILE *rejects_fp;
    llm_writer *stream;       /* NULL with --render */
    FILE *render_fp;
    col_sink sink;
    llm_buf line;             /* a JSONL line being made */
    uint64_t in, written, truncated;
    int failed;               /* a record stopped the run: neither written nor dropped */
    uint64_t dropped[COL_REASON_COUNT];   /* by reason: faults skipped and length drops */
    uint64_t dropped_tokens[COL_REASON_COUNT];
    uint64_t tokens_in, tokens_out, tokens_cut;  /* rendered; written; cut by truncation */
    llm_ledger ledger;        /* of the stages before: --ledger FILE and ledger lines */
    col_lengths lengths;
    uint64_t bytes_before;
    llm_progress progress;
} writer;

static const char *input_name(const col_opts *o, int input)
{
    return strcmp(o->inputs[input], "-") == 0 ? "(stdin)" : o->inputs[input];
}

/* A record that was not written, with why, into the rejects file. 0, or an exit status. */
static int write_reject(writer *wr, const llm_feed_batch *b, size_t i, const col_result *r)
{
    if (!wr->rejects_fp)
        return 0;
    llm_buf *l = &wr->line;
    const char *text = llm_feed_batch_text(b, i);
    llm_buf_clear(l);
    llm_buf_reject_begin(l, col_reason_name(r->reason), wr->opts->inputs, wr->opts->n_inputs, b->input,
                         b->lines[i].number);
    llm_buf_puts(l, ",\"error\":");
    llm_buf_json_string(l, r->error, strlen(r->error));
    llm_buf_reject_line(l, text, b->lines[i].len, r->reason != COL_MALFORMED_JSON);    /* parsed: valid UTF-8 */
    llm_buf_puts(l, "}\n");
    if (llm_buf_failed(l) || fwrite(l->data, 1, l->len, wr->rejects_fp) != l->len) {
        llm_msg("%s: %s", llm_output_name(&wr->rejects), llm_buf_failed(l) ? "out of memory" : strerror(errno));
        return LLM_EXIT_FAILURE;
    }
    return 0;
}

/* --render: one JSONL line per example, its text and the byte spans that count in the loss. */
static int write_rendered(writer *wr, const col_batch *u, const col_result *r)
{
    llm_buf *l = &wr->line;
    llm_buf_clear(l);
    llm_buf_puts(l, "{\"text\":");
    llm_buf_json_string(l, u->text.data + r->off, r->n);
    llm_buf_puts(l, ",\"trained\":[");
    const size_t *span = (const size_t *)(u->spans.data + r->spans_off);
    for (size_t k = 0; k < r->n_spans; k++) {
        llm_buf_puts(l, k ? ",[" : "[");
        llm_buf_u64(l, span[2 * k] - r->off);
        llm_buf_putc(l, ',');
        llm_buf_u64(l, span[2 * k + 1] - r->off);
        llm_buf_putc(l, ']');
    }
    llm_buf_puts(l, "]}\n");
    if (llm_buf_failed(l) || fwrite(l->data, 1, l->len, wr->render_fp) != l->len) {
        llm_msg("%s: %s", llm_output_name(&wr->out), llm_buf_failed(l) ? "out of memory" : strerror(errno));
        return LLM_EXIT_FAILURE;
    }
    return 0;
}

/* Accounts for and writes a finished batch. Returns 0, or an exit status. */
static int write_batch(writer *wr, const llm_feed_batch *b)
{
    const col_opts *o = wr->opts;
    const col_batch *u = b->user;
    llm_error err;
    if (u->oom) {
        llm_msg("out of memory");
        return LLM_EXIT_FAILURE;
    }
    for (size_t i = 0; i < b->n; i++) {
        const col_result *r = &u->res[i];
        llm_progress_update(&wr->progress, wr->in, wr->bytes_before + b->bytes_read);
        wr->in++;
        if (r->reason != COL_OK && (r->fatal || (col_reason_is_error(r->reason) && !o->on_error_skip))) {
            wr->failed = 1;
            llm_msg("%s:%" PRIu64 ": %s%s", input_name(o, b->input), b->lines[i].number,
                    r->error ? r->error : "out of memory",
                    r->fatal ? "" : " (--on-error=skip counts and skips such records)");
            return LLM_EXIT_FAILURE;
        }
        int rendered = r->reason == COL_TOO_LONG || r->reason == COL_NO_ANSWER_LEFT || r->reason == COL_OK;
        if (rendered && !(r->reason == COL_OK && o->render))
            col_lengths_add(&wr->lengths, r->full_len);
        if (rendered && !o->render)
            wr->tokens_in += r->full_len;
        if (r->reason != COL_OK) {
            wr->dropped[r->reason]++;
            if (rendered && !o->render)
                wr->dropped_tokens[r->reason] += r->full_len;
            int status = write_reject(wr, b, i, r);
            if (status)
                return status;
            continue;
        }
        wr->written++;
        wr->truncated += (uint64_t)r->truncated;
        if (o->render) {
            int status = write_rendered(wr, u, r);
            if (status)
                return status;
            continue;
        }
        wr->tokens_out += r->n;
        wr->tokens_cut += r->full_len - r->n;
        if (col_sink_put(&wr->sink, u->ids.data + r->off, (const uint8_t *)u->mask.data + r->off, r->n, &err) < 0) {
            llm_msg("%s: %s", llm_output_name(&wr->out), err.msg);
            return LLM_EXIT_FAILURE;
        }
    }
    return 0;
}

static void print_summary(writer *wr)
{
    const col_opts *o = wr->opts;
    llm_buf l;
    llm_buf_init(&l);
    uint64_t faults = 0;
    for (int r = 1; r < COL_REASON_COUNT; r++)
        if (col_reason_is_error((col_reason)r))
            faults += wr->dropped[r];
    llm_buf_printf(&l, "%" PRIu64 " examples in, %" PRIu64 " written (%" PRIu64 " truncated), %" PRIu64
                       " dropped, %" PRIu64 " skipped (malformed)",
                   wr->in, wr->written, wr->truncated, wr->dropped[COL_TOO_LONG] + wr->dropped[COL_NO_ANSWER_LEFT],
                   faults);
    const char *sep = ": ";
    for (int r = 1; r < COL_REASON_COUNT; r++)
        if (wr->dropped[r]) {
            llm_buf_printf(&l, "%s%s %" PRIu64, sep, col_reason_name((col_reason)r), wr->dropped[r]);
            sep = ", ";
        }
    if (wr->failed)
        llm_buf_printf(&l, "; 1 failed");
    llm_msg("%s", l.data ? l.data : "");
    col_lengths *len = &wr->lengths;
    if (len->n) {
        llm_msg("lengths in tokens: min %" PRIu32 ", max %" PRIu32 ", mean %.1f, p50 %" PRIu32 ", p90 %" PRIu32
                ", p99 %" PRIu32 " (of %" PRIu64 " examples, before --max-len)",
                len->min, len->max, (double)len->sum / (double)len->n, col_lengths_percentile(len, 50),
                col_lengths_percentile(len, 90), col_lengths_percentile(len, 99), len->n);
    }
    if (!o->render) {
        const col_sink *s = &wr->sink;
        uint64_t total = s->tokens + s->padding;
        llm_msg("tokens: %" PRIu64 " written in %" PRIu64 " records, %" PRIu64 " counted in the loss (%.1f%%), %"
                PRIu64 " padding (%.1f%% of the records' tokens)",
                s->tokens, s->records, s->counted, s->tokens ? 100.0 * (double)s->counted / (double)s->tokens : 0.0,
                s->padding, total ? 100.0 * (double)s->padding / (double)total : 0.0);
    }
    llm_buf_free(&l);
}

/* ---- the run ---- */

typedef struct runner {
    const col_opts *opts;
    const col_plan *plan;
    writer wr;
    llm_feed *feed;
    llm_ledger ledger_lines;  /* with --ledger FILE: the input's ledger lines, set aside */
} runner;

static const col_plan *feed_plan(void *ctx)
{
    return ((const runner *)ctx)->plan;
}

static int feed_write(void *ctx, llm_feed_batch *b)
{
    return write_batch(&((runner *)ctx)->wr, b);
}

static int feed_status(int status)
{
    if (status == LLM_FEED_WORKER_FAILED) {
        llm_msg("out of memory for a worker");
        return LLM_EXIT_FAILURE;
    }
    return status;
}

/* Reads one input to its end. Returns 0 or an exit status. */
static int run_input(runner *rn, int input)
{
    const col_opts *o = rn->opts;
    const char *name = input_name(o, input);
    llm_error err;
    int fd = STDIN_FILENO;
    if (strcmp(o->inputs[input], "-") != 0 && (fd = open(o->inputs[input], O_RDONLY | O_CLOEXEC)) < 0) {
        llm_msg("%s: %s", name, strerror(errno));
        return LLM_EXIT_FAILURE;
    }
    int status = 0;
    llm_lines *lines = llm_lines_open(fd);
    if (!lines) {
        llm_msg("out of memory");
        status = LLM_EXIT_FAILURE;
    }
    while (status == 0) {
        llm_feed_batch *b = llm_feed_get_batch(rn->feed);
        if (!b) {
            llm_msg("out of memory");
            status = LLM_EXIT_FAILURE;
            break;
        }
        b->input = input;
        llm_ledger *ledger = llm_feed_ledger_target(rn->opts->ledger, &rn->wr.ledger, &rn->ledger_lines);
        int got = llm_feed_batch_fill(b, lines, LLM_FILL_SKIP_BLANK | LLM_FILL_STRIP_BOM, ledger, &err);
        if (got <= 0) {
            llm_feed_recycle(rn->feed, b);
            if (got < 0) {
                llm_msg("%s: %s", name, err.msg);
                status = LLM_EXIT_FAILURE;
            }
            break;
        }
        status = feed_status(llm_feed_submit(rn->feed, b));
    }
    if (status == 0)
        status = feed_status(llm_feed_drain(rn->feed));
    rn->wr.bytes_before += lines ? llm_lines_bytes(lines) : 0;
    llm_lines_close(lines);
    if (fd != STDIN_FILENO)
        close(fd);
    return status;
}

/* The pad id into *id: --pad-id, else the tokenizer's pad token, else its end-of-text token
 * (-1: none, fine for a layout that does not pad). 0, or a status with a message. */
static int pad_id(const col_opts *o, const llm_tokenizer *t, int64_t *id)
{
    *id = o->pad_id >= 0 ? o->pad_id : llm_tokenizer_pad(t);
    if (*id < 0)
        *id = llm_tokenizer_eos(t);
    if (*id >= (int64_t)llm_tokenizer_vocab_size(t)) {
        llm_msg("--pad-id %" PRId64 ": not below the vocabulary size %" PRIu32, *id, llm_tokenizer_vocab_size(t));
        return LLM_EXIT_FAILURE;
    }
    if (*id < 0 && o->layout != COL_LAYOUT_NONE) {
        llm_msg("%s has no pad or end-of-text token to pad with: give --pad-id", llm_tokenizer_name(t));
        return LLM_EXIT_FAILURE;
    }
    return 0;
}

/* A blocks stream: fixed-length records (--pad=max, --pack) or examples as they are. */
static int make_header(const col_opts *o, const llm_tokenizer *t, int64_t pad, llm_header *h)
{
    char hash[22];
    llm_tokenizer_hash_string(t, hash);
    int64_t eos = llm_tokenizer_eos(t), bos = llm_tokenizer_bos(t);
    if (llm_header_init(h) < 0)
        return -1;
    h->kind = LLM_KIND_BLOCKS;
    h->vocab_size = llm_tokenizer_vocab_size(t);
    h->token_bytes = llm_token_bytes_for_vocab(h->vocab_size);
    h->eos_id = eos >= 0 ? eos : LLM_NO_TOKEN;
    h->bos_id = bos >= 0 ? bos : LLM_NO_TOKEN;
    h->pad_id = pad >= 0 ? pad : LLM_NO_TOKEN;
    h->block_size = o->layout == COL_LAYOUT_NONE ? 0 : o->max_len;
    if (llm_header_set_tokenizer(h, llm_tokenizer_name(t), hash) < 0 ||
        llm_header_add_step(h, "llm-collate", o->argc, o->argv) < 0)
        return -1;
    return 0;
}

/* Opens the outputs: the stream (or the rendered text) and the rejects file. 0 or a status. */
static int open_outputs(runner *rn, const llm_tokenizer *t, int64_t pad, int *have_header, llm_header *h)
{
    const col_opts *o = rn->opts;
    writer *wr = &rn->wr;
    llm_error err;
    wr->out.fd = wr->rejects.fd = -1;
    if (o->rejects) {
        if (llm_output_open(&wr->rejects, o->rejects, 0, 1, &err) < 0) {
            wr->rejects.fd = -1;
            llm_msg("%s", err.msg);
            return LLM_EXIT_FAILURE;
        }
        if (!(wr->rejects_fp = llm_output_file(&wr->rejects))) {
            llm_msg("out of memory");
            return LLM_EXIT_FAILURE;
        }
    }
    if (llm_output_open(&wr->out, o->output, !o->render, o->force, &err) < 0) {
        wr->out.fd = -1;
        llm_msg("%s", err.msg);
        return LLM_EXIT_FAILURE;
    }
    if (o->render) {
        if (!(wr->render_fp = llm_output_file(&wr->out))) {
            llm_msg("out of memory");
            return LLM_EXIT_FAILURE;
        }
        return 0;
    }
    if (make_header(o, t, pad, h) < 0) {
        llm_msg("out of memory");
        return LLM_EXIT_FAILURE;
    }
    *have_header = 1;
    llm_writer_opts wopts = {.level = o->level, .frame_bytes = 0, .index = -1, .threads = o->threads};
    if (!(wr->stream = llm_writer_open(wr->out.fd, h, &wopts, &err))) {
        llm_msg("%s: %s", llm_output_name(&wr->out), err.msg);
        return LLM_EXIT_FAILURE;
    }
    if (col_sink_init(&wr->sink, o->layout, o->max_len, (uint32_t)(pad >= 0 ? pad : 0), wr->stream, &err) < 0) {
        llm_msg("%s", err.msg);
        return LLM_EXIT_FAILURE;
    }
    return 0;
}

/* This run's stage after those before it: examples in, written or dropped by reason; the
 * tokens cut by truncation are dropped tokens of examples kept. */
static int account(writer *wr, llm_error *err)
{
    const col_opts *o = wr->opts;
    llm_stage *g = llm_ledger_add_stage(&wr->ledger, "llm-collate", "examples", o->argc, o->argv);
    int rc = g ? 0 : -1;
    for (int r = 1; r < COL_REASON_COUNT && rc == 0; r++)
        if (wr->dropped[r])
            rc = llm_reasons_add(&g->dropped, col_reason_name((col_reason)r), wr->dropped[r], wr->dropped_tokens[r]);
    if (rc == 0 && wr->tokens_cut)
        rc = llm_reasons_add(&g->dropped, "truncated", 0, wr->tokens_cut);
    if (rc < 0)
        return llm_error_set(err, "out of memory");
    g->in = (llm_tally){wr->in, wr->tokens_in};
    g->out = (llm_tally){wr->written, wr->tokens_out};
    g->truncated = wr->truncated;
    llm_writer_account(wr->stream, g);
    g->padding = wr->sink.padding;
    return 0;
}

/* Finishes the outputs: the sink's last blocks, the ledger and the stream's index, the
 * renames. */
static int close_outputs(writer *wr, int status)
{
    llm_error err;
    if (status == 0 && wr->stream &&
        (col_sink_finish(&wr->sink, &err) < 0 || account(wr, &err) < 0 ||
         (llm_writer_finish_ledger(wr->stream, &wr->ledger) < 0 &&
          llm_error_set(&err, "%s", llm_writer_error(wr->stream)) < 0))) {
        llm_msg("%s: %s", llm_output_name(&wr->out), err.msg);
        status = LLM_EXIT_FAILURE;
    }
    llm_writer_free(wr->stream);
    wr->stream = NULL;
    llm_output *outs[] = {&wr->out, &wr->rejects};
    for (int i = 0; i < 2; i++) {
        if (outs[i]->fd < 0)
            continue;
        if (status == 0 && llm_output_commit(outs[i], &err) < 0) {
            llm_msg("%s", err.msg);
            status = LLM_EXIT_FAILURE;
        } else if (status != 0 && outs[i]->fd != STDOUT_FILENO) {
            llm_output_abort(outs[i]);
        }
    }
    return status;
}

/* The tokenizer and the template bound to it, or a message. */
static int load(const col_opts *o, llm_tokenizer **t, col_template **tmpl)
{
    llm_error err;
    if (!(*t = llm_tokenizer_load_default(o->tokenizer, &err)) ||
        !(*tmpl = col_template_load(o->template_arg ? o->template_arg : col_default_template(*t), &err)) ||
        col_template_bind(*tmpl, *t, &err) < 0) {
        llm_msg("%s", err.msg);
        return LLM_EXIT_FAILURE;
    }
    return 0;
}

int col_run(const col_opts *o)
{
    llm_tokenizer *t = NULL;
    col_template *tmpl = NULL;
    int64_t pad = -1;
    int status = load(o, &t, &tmpl);
    if (status == 0)
        status = pad_id(o, t, &pad);
    col_plan plan = {.opts = o, .tok = t, .render = {.tmpl = tmpl, .train_on_inputs = o->train_on_inputs,
                                                     .last_turn_only = o->last_turn_only}};
    runner rn;
    memset(&rn, 0, sizeof rn);
    rn.opts = o;
    rn.plan = &plan;
    rn.wr.opts = o;
    rn.wr.out.fd = rn.wr.rejects.fd = -1;
    llm_buf_init(&rn.wr.line);
    llm_ledger_init(&rn.wr.ledger);
    llm_ledger_init(&rn.ledger_lines);
    llm_header h;
    int have_header = 0;
    llm_error err;
    if (status == 0)
        status = open_outputs(&rn, t, pad, &have_header, &h);
    if (status == 0 && o->ledger && llm_ledger_load_file(&rn.wr.ledger, o->ledger, &err) < 0) {
        llm_msg("--ledger %s", err.msg);
        status = LLM_EXIT_FAILURE;
    }
    llm_feed_fns fns = {worker_init, worker_run, worker_fini, batch_new, batch_reset, batch_free, feed_write};
    if (status == 0 && !(rn.feed = llm_feed_new(o->threads, &fns, &rn, &err))) {
        llm_msg("%s", err.msg);
        status = LLM_EXIT_FAILURE;
    }
    int ran = status == 0;
    llm_progress_start(&rn.wr.progress, o->quiet, llm_inputs_size(o->inputs, o->n_inputs));
    for (int i = 0; i < o->n_inputs && status == 0; i++)
        status = run_input(&rn, i);
    llm_progress_end(&rn.wr.progress);
    llm_feed_free(rn.feed);
    status = close_outputs(&rn.wr, status);
    if (ran && !o->quiet)
        print_summary(&rn.wr);
    if (status == 0 && rn.wr.ledger.len && !o->render &&
        llm_stage_max_drop(&rn.wr.ledger.stages[rn.wr.ledger.len - 1], o->max_drop))
        status = LLM_EXIT_FAILURE;
    if (!o->quiet)
        llm_feed_note_aside(&rn.ledger_lines, o->ledger);
    llm_ledger_free(&rn.wr.ledger);
    llm_ledger_free(&rn.ledger_lines);
    col_sink_free(&rn.wr.sink);
    col_lengths_free(&rn.wr.lengths);
    llm_buf_free(&rn.wr.line);
    if (have_header)
        llm_header_free(&h);
    col_template_free(tmpl);
    llm_tokenizer_free(t);
    return status;
}

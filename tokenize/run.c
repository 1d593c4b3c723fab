/* llm-tokenize's driver. The main thread reads documents into batches, the pool encodes them
 * on worker threads, and finished batches come back in input order to be written as stream
 * records and counted, so the stream and the summary are the same bytes for any -j. */
#include "cli.h"
#include "lines.h"
#include "pool.h"
#include "tokenize.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A batch closes at this much input or this many documents; a longer document makes a batch
 * of its own. With 2 jobs per thread in flight this bounds the memory in use. */
#define BATCH_BYTES (1u << 20)
#define BATCH_DOCS 8192
#define WHOLE_CHUNK (1u << 20)

typedef struct tok_doc {
    size_t off, len;          /* in the batch's input buffer */
    uint64_t line;            /* its line in its input (1 for --in=whole) */
} tok_doc;

typedef struct batch {
    const tok_plan *plan;
    int input;                /* index into opts->inputs */
    int jsonl;                /* this input's format */
    llm_buf in;               /* documents, each followed by LLM_JSON_PADDING bytes */
    tok_doc *docs;
    tok_result *res;
    size_t n, cap;
    llm_ids ids;              /* the records, one after another */
    uint64_t bytes_read;      /* input bytes read when the batch closed, for the progress line */
    struct batch *next;       /* in the free list */
} batch;

/* ---- batches ---- */

static void batch_reset(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->res[i].error);
        b->res[i].error = NULL;
    }
    b->n = 0;
    llm_buf_clear(&b->in);
    llm_ids_clear(&b->ids);
}

static void batch_free(batch *b)
{
    if (!b)
        return;
    batch_reset(b);
    llm_buf_free(&b->in);
    llm_ids_free(&b->ids);
    free(b->docs);
    free(b->res);
    free(b);
}

/* Starts a document at the end of the input buffer. 0, or -1 when out of memory. */
static int batch_add(batch *b, uint64_t line)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        tok_doc *d = realloc(b->docs, cap * sizeof *d);
        if (d)
            b->docs = d;
        tok_result *r = realloc(b->res, cap * sizeof *r);
        if (r)
            b->res = r;
        if (!d || !r)
            return -1;
        b->cap = cap;
    }
    b->docs[b->n] = (tok_doc){.off = b->in.len, .len = 0, .line = line};
    b->res[b->n] = (tok_result){0};
    b->n++;
    return 0;
}

static void batch_append(batch *b, const char *p, size_t len)
{
    llm_buf_append(&b->in, p, len);
    b->docs[b->n - 1].len += len;
}

/* Ends the last document with the padding simdjson reads past the end. */
static void batch_seal(batch *b)
{
    static const char zeros[LLM_JSON_PADDING];
    llm_buf_append(&b->in, zeros, sizeof zeros);
}

/* ---- the pool's side ---- */

static void *worker_init(void *ctx)
{
    tok_worker *w = calloc(1, sizeof *w);
    if (w && tok_worker_init(w, ctx) < 0) {
        free(w);
        w = NULL;
    }
    return w;
}

static void worker_run(void *state, void *job)
{
    batch *b = job;
    for (size_t i = 0; i < b->n; i++)
        tok_document(b->plan, state, b->jsonl, b->in.data + b->docs[i].off, b->docs[i].len, &b->ids,
                     &b->res[i]);
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
    int at_start;             /* nothing returned yet: a BOM may come */
    const char *held;         /* a line read ahead by the format detection */
    size_t held_len;
    uint64_t held_number;
    uint64_t whole_bytes;     /* --in=whole: bytes read */
    int done;                 /* --in=whole: the input was read */
} reader;

/* Next line without its '\n' and a '\r' before it. 1, 0 at the end, -1 on a read error. */
static int reader_next(reader *r, const char **line, size_t *len, uint64_t *number, llm_error *err)
{
    if (r->held) {
        *line = r->held;
        *len = r->held_len;
        *number = r->held_number;
        r->held = NULL;
        return 1;
    }
    int got = llm_lines_next(r->lines, line, len, err);
    if (got <= 0)
        return got;
    *number = llm_lines_number(r->lines);
    if (*len && (*line)[*len - 1] == '\r')
        --*len;
    /* A BOM before JSON is not part of the record; in text it is the text's own. */
    if (r->at_start && r->format == TOK_IN_JSONL && *len >= 3 && memcmp(*line, "\xEF\xBB\xBF", 3) == 0) {
        *line += 3;
        *len -= 3;
    }
    r->at_start = 0;
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

/* Fills b with the documents of the next lines. 1 when b got some, 0 at the end, -1 error. */
static int fill_lines(reader *r, batch *b, llm_error *err)
{
    const char *line, *copied = NULL;
    size_t len;
    uint64_t number;
    while (b->in.len < BATCH_BYTES && b->n < BATCH_DOCS) {
        int got = reader_next(r, &line, &len, &number, err);
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        if (r->format == TOK_IN_JSONL && is_blank(line, len))
            continue;    /* blank lines between records hold no document */
        if (batch_add(b, number) < 0)
            return llm_error_set(err, "out of memory");
        batch_append(b, line, len);
        batch_seal(b);
        copied = line + len;
    }
    /* The batch holds copies: a mapped input's pages up to here can go, so that memory does
     * not grow with the input. */
    if (copied)
        llm_lines_release(r->lines, copied);
    b->bytes_read = llm_lines_bytes(r->lines);
    if (llm_buf_failed(&b->in))
        return llm_error_set(err, "out of memory");
    return b->n > 0;
}

/* --in=whole: the whole input is one document. */
static int fill_whole(reader *r, batch *b, llm_error *err)
{
    if (r->done)
        return 0;
    r->done = 1;
    if (batch_add(b, 1) < 0)
        return llm_error_set(err, "out of memory");
    for (;;) {
        if (llm_buf_reserve(&b->in, WHOLE_CHUNK) < 0)
            return llm_error_set(err, "out of memory");
        ssize_t k = read(r->fd, b->in.data + b->in.len, WHOLE_CHUNK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return llm_error_set(err, "read error: %s", strerror(errno));
        if (k == 0)
            break;
        b->in.len += (size_t)k;
        b->docs[0].len += (size_t)k;
        r->whole_bytes += (uint64_t)k;
    }
    batch_seal(b);
    b->bytes_read = r->whole_bytes;
    return llm_buf_failed(&b->in) ? llm_error_set(err, "out of memory") : 1;
}

/* ---- the writer: records out, accounting ---- */

typedef struct writer {
    const tok_opts *opts;
    llm_output out;
    llm_writer *stream;
    uint64_t docs_in, written, empty, skipped, tokens_out, text_tokens;
    uint64_t bytes_before;    /* input bytes of the inputs already read */
    llm_progress progress;
} writer;

static const char *input_name(const tok_opts *o, int input)
{
    return strcmp(o->inputs[input], "-") == 0 ? "(stdin)" : o->inputs[input];
}

/* Accounts for and writes a finished batch. Returns 0, or an exit status. */
static int write_batch(writer *wr, const batch *b)
{
    const tok_opts *o = wr->opts;
    for (size_t i = 0; i < b->n; i++) {
        const tok_result *r = &b->res[i];
        /* Per record: the progress line reads the clock only every so many calls. */
        llm_progress_update(&wr->progress, wr->docs_in, wr->bytes_before + b->bytes_read);
        if (r->error) {
            if (!o->on_error_skip || r->fatal) {
                llm_msg("%s:%" PRIu64 ": %s%s", input_name(o, b->input), b->docs[i].line, r->error,
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
            .tokens = b->ids.data + r->ids_off,
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
    llm_msg("%" PRIu64 " in, %" PRIu64 " written, %" PRIu64 " empty, %" PRIu64 " skipped (malformed)",
            wr->docs_in, wr->written, wr->empty, wr->skipped);
    llm_msg("tokens: %" PRIu64 " out (%" PRIu64 " of text), bytes: %" PRIu64 " in; tokenizer %s (%s)",
            wr->tokens_out, wr->text_tokens, bytes_in, llm_tokenizer_name(p->tokenizer), hash);
}

/* ---- the run ---- */

typedef struct runner {
    const tok_opts *opts;
    const tok_plan *plan;
    writer wr;
    llm_pool *pool;
    batch *free_list;
    size_t n_batches;         /* allocated, for the bound on memory */
} runner;

static batch *runner_batch(runner *rn)
{
    batch *b = rn->free_list;
    if (b) {
        rn->free_list = b->next;
        batch_reset(b);
        return b;
    }
    b = calloc(1, sizeof *b);
    if (b) {
        llm_buf_init(&b->in);
        llm_ids_init(&b->ids);
        rn->n_batches++;
    }
    return b;
}

static void runner_recycle(runner *rn, batch *b)
{
    b->next = rn->free_list;
    rn->free_list = b;
}

/* Writes a batch the pool handed back. Returns 0 or an exit status. */
static int runner_write(runner *rn, batch *b)
{
    int status = 0;
    if (llm_pool_failed(rn->pool)) {
        llm_msg("out of memory for a worker's encoder");
        status = LLM_EXIT_FAILURE;
    } else {
        status = write_batch(&rn->wr, b);
    }
    runner_recycle(rn, b);
    return status;
}

/* Hands b to the pool, writing what is finished first. Returns 0 or an exit status. */
static int runner_submit(runner *rn, batch *b)
{
    int status = 0;
    while (status == 0 && llm_pool_full(rn->pool))
        status = runner_write(rn, llm_pool_take(rn->pool, 1));
    if (status) {
        runner_recycle(rn, b);
        return status;
    }
    llm_pool_submit(rn->pool, b);
    batch *done;
    while (status == 0 && (done = llm_pool_take(rn->pool, 0)) != NULL)
        status = runner_write(rn, done);
    return status;
}

/* Reads one input to its end. Returns 0 or an exit status. */
static int run_input(runner *rn, int input, llm_json_parser **parser)
{
    const tok_opts *o = rn->opts;
    reader r = {.name = input_name(o, input), .at_start = 1, .format = o->in};
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
    /* Blank lines before the first text line of auto-detected text are its first documents. */
    if (status == 0 && blank_before && r.format == TOK_IN_LINES) {
        batch *b = runner_batch(rn);
        if (!b)
            status = LLM_EXIT_FAILURE;
        for (uint64_t k = 1; status == 0 && k <= blank_before; k++) {
            if (batch_add(b, k) < 0)
                status = LLM_EXIT_FAILURE;
            else
                batch_seal(b);
        }
        if (status) {
            llm_msg("out of memory");
            if (b)
                runner_recycle(rn, b);
        } else {
            b->plan = rn->plan;
            b->input = input;
            b->jsonl = 0;
            status = runner_submit(rn, b);
        }
    }
    while (status == 0) {
        batch *b = runner_batch(rn);
        if (!b) {
            llm_msg("out of memory");
            status = LLM_EXIT_FAILURE;
            break;
        }
        b->plan = rn->plan;
        b->input = input;
        b->jsonl = r.format == TOK_IN_JSONL;
        int got = r.format == TOK_IN_WHOLE ? fill_whole(&r, b, &err) : fill_lines(&r, b, &err);
        if (got <= 0) {
            runner_recycle(rn, b);
            if (got < 0) {
                llm_msg("%s: %s", r.name, err.msg);
                status = LLM_EXIT_FAILURE;
            }
            break;
        }
        status = runner_submit(rn, b);
    }
    /* The next input's batches count their bytes from here: write this one's out first. */
    batch *done;
    while (status == 0 && (done = llm_pool_take(rn->pool, 1)) != NULL)
        status = runner_write(rn, done);
    rn->wr.bytes_before += r.lines ? llm_lines_bytes(r.lines) : r.whole_bytes;
    llm_lines_close(r.lines);
    if (r.fd != STDIN_FILENO)
        close(r.fd);
    return status;
}

/* The total size when every input is a regular file, for the progress line's ETA. */
static uint64_t total_input_size(const tok_opts *o)
{
    uint64_t total = 0;
    struct stat st;
    for (int i = 0; i < o->n_inputs; i++) {
        if (strcmp(o->inputs[i], "-") == 0 || stat(o->inputs[i], &st) != 0 || !S_ISREG(st.st_mode))
            return 0;
        total += (uint64_t)st.st_size;
    }
    return total;
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
    llm_pool_fns fns = {worker_init, worker_run, worker_fini};
    if (status == 0 && !(rn.pool = llm_pool_new(o->threads, 2 * (size_t)o->threads + 2, &fns, &plan, &err))) {
        llm_msg("%s", err.msg);
        status = LLM_EXIT_FAILURE;
    }
    llm_progress_start(&rn.wr.progress, o->quiet, total_input_size(o));
    llm_json_parser *parser = NULL;
    for (int i = 0; i < o->n_inputs && status == 0; i++)
        status = run_input(&rn, i, &parser);
    llm_progress_end(&rn.wr.progress);
    if (rn.pool) {
        batch *b;
        while ((b = llm_pool_take(rn.pool, 1)) != NULL)    /* after an error: let them finish */
            runner_recycle(&rn, b);
        llm_pool_free(rn.pool);
    }
    if (status == 0 && llm_writer_finish(rn.wr.stream) < 0) {
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
    llm_json_parser_free(parser);
    while (rn.free_list) {
        batch *b = rn.free_list;
        rn.free_list = b->next;
        batch_free(b);
    }
    if (header_ok)
        llm_header_free(&h);
    llm_tokenizer_free(t);
    return status;
}

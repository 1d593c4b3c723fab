/* llm-clean's driver. The main thread cuts the input into batches of whole lines and
 * hands them to worker threads, which split them into documents and clean those; finished
 * batches are written strictly in input order, which is where deduplication, the rejects
 * file and the counts happen, so the output and the summary are the same bytes for any
 * thread count. The main thread touches only the bytes around each cut: with -j 2 its
 * share of the work would otherwise decide the speed. */
#include "clean.h"
#include "cli.h"
#include "ledger.h"
#include "lines.h"
#include "pool.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A batch closes at this much input; a longer document makes a batch of its own. */
#define BATCH_BYTES (1u << 20)
#define BATCH_DOCS 8192

typedef struct clean_doc {
    const char *mapped;   /* the text where it lies in place (the input's mapping or a */
                          /* chunk's copy), or NULL: */
    size_t off, len;      /* then it is in the batch's input buffer at off */
    uint64_t line;        /* first line of the document in its input */
} clean_doc;

typedef struct batch {
    const clean_opts *opts;   /* the options with this input's format */
    int input;                /* index into opts->inputs */
    llm_buf in;               /* documents, each followed by LLM_JSON_PADDING bytes */
    clean_doc *docs;
    clean_result *res;
    size_t n, cap;
    size_t bytes;             /* of the documents' text, copied or mapped */
    const char *mapped_end;   /* end of the last mapped document, or NULL */
    /* A stretch of whole lines for the worker to split (chunk_len 0: the main thread
     * filled docs itself): in the input's mapping when chunk_mapped, else copied to in.
     * Its lines are numbered from chunk_line + 1 without the lines of the stretches
     * before it, which the writer adds (see line_offset). */
    const char *chunk;
    size_t chunk_len;
    int chunk_mapped;
    uint64_t chunk_line, chunk_lines;
    int failed;               /* the worker ran out of memory splitting the chunk */
    llm_buf out;              /* output lines of the kept documents */
    struct batch *next;       /* in the free list */
} batch;

/* ---- batches ---- */

static batch *batch_new(void)
{
    batch *b = calloc(1, sizeof *b);
    if (b) {
        llm_buf_init(&b->in);
        llm_buf_init(&b->out);
    }
    return b;
}

static void batch_reset(batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->res[i].error);
    b->n = 0;
    b->bytes = 0;
    b->mapped_end = NULL;
    b->chunk = NULL;
    b->chunk_len = 0;
    b->chunk_lines = 0;
    b->failed = 0;
    llm_buf_clear(&b->in);
    llm_buf_clear(&b->out);
}

static void batch_free(batch *b)
{
    if (!b)
        return;
    batch_reset(b);
    llm_buf_free(&b->in);
    llm_buf_free(&b->out);
    free(b->docs);
    free(b->res);
    free(b);
}

/* Starts a document at the end of the input buffer. */
static int batch_add(batch *b, uint64_t line)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        clean_doc *d = realloc(b->docs, cap * sizeof *d);
        if (d)
            b->docs = d;
        clean_result *r = realloc(b->res, cap * sizeof *r);
        if (r)
            b->res = r;
        if (!d || !r)
            return -1;
        b->cap = cap;
    }
    b->docs[b->n].mapped = NULL;
    b->docs[b->n].off = b->in.len;
    b->docs[b->n].len = 0;
    b->docs[b->n].line = line;
    b->n++;
    return 0;
}

static void batch_append(batch *b, const char *p, size_t len)
{
    llm_buf_append(&b->in, p, len);
    b->docs[b->n - 1].len += len;
    b->bytes += len;
}

/* Makes the document just added the line at p, which stays where it is in the input's
 * mapping, with the padding JSON wants after it. */
static void batch_refer(batch *b, const char *p, size_t len)
{
    b->docs[b->n - 1].mapped = p;
    b->docs[b->n - 1].len = len;
    b->bytes += len;
    b->mapped_end = p + len;
}

static const char *doc_text(const batch *b, size_t i)
{
    return b->docs[i].mapped ? b->docs[i].mapped : b->in.data + b->docs[i].off;
}

/* Ends the last document: JSONL gets padding for simdjson, which reads a little past the
 * end; text is never read past its end. */
static void batch_seal(batch *b)
{
    static const char zeros[LLM_JSON_PADDING];
    if (b->opts->in == CLEAN_IN_JSONL)
        llm_buf_append(&b->in, zeros, sizeof zeros);
}

/* Whether every document of the batch is valid UTF-8, known with one validation of the
 * stretch of the input's mapping that holds them all in order (a long stretch validates
 * faster than its many short documents one by one): a piece of valid UTF-8 that starts
 * and ends at character boundaries (no continuation byte at either) is valid too. 0 when
 * the stretch is not valid, or the documents are not all mapped in order with little
 * between them (then each document is checked by itself). */
static int batch_valid_utf8(const batch *b)
{
    if (b->opts->in == CLEAN_IN_JSONL || b->n == 0 || !b->docs[0].mapped)
        return 0;
    const unsigned char *start = (const unsigned char *)b->docs[0].mapped, *end = start;
    for (size_t i = 0; i < b->n; i++) {
        const unsigned char *p = (const unsigned char *)b->docs[i].mapped;
        if (!p || p < end)
            return 0;
        end = p + b->docs[i].len;
    }
    if ((size_t)(end - start) > 2 * b->bytes + 4 * b->n)
        return 0;
    for (size_t i = 0; i < b->n; i++) {
        const unsigned char *p = (const unsigned char *)b->docs[i].mapped, *q = p + b->docs[i].len;
        if ((p < end && (*p & 0xC0) == 0x80) || (q < end && (*q & 0xC0) == 0x80))
            return 0;
    }
    return llm_utf8_valid((const char *)start, (size_t)(end - start));
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\f\v", s[i]))
            return 0;
    return 1;
}

/* Splits the chunk into documents, one a line as reader_next would return them: without
 * '\n' or a trailing '\r', and JSONL's blank lines skipped. -1 when out of memory. */
static int batch_split(batch *b)
{
    const char *p = b->chunk, *end = b->chunk + b->chunk_len;
    int jsonl = b->opts->in == CLEAN_IN_JSONL;
    uint64_t line = b->chunk_line;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(nl - p);
        line++;
        if (len && p[len - 1] == '\r')
            len--;
        if (!(jsonl && is_blank(p, len))) {
            if (batch_add(b, line) < 0)
                return -1;
            batch_refer(b, p, len);
        }
        p = nl + 1;
    }
    b->chunk_lines = line - b->chunk_line;
    if (!b->chunk_mapped)
        b->mapped_end = NULL;    /* the copy is the batch's own: nothing to release */
    return 0;
}

static void batch_process(batch *b, clean_worker *w)
{
    if (b->chunk_len && batch_split(b) < 0) {
        b->failed = 1;
        return;
    }
    int valid = batch_valid_utf8(b);
    for (size_t i = 0; i < b->n; i++)
        clean_document_utf8(b->opts, w, doc_text(b, i), b->docs[i].len, valid, &b->out, &b->res[i]);
}

/* ---- the workers (lib/pool.h runs them) ---- */

static void *worker_init(void *ctx)
{
    clean_worker *w = malloc(sizeof *w);
    if (w && clean_worker_init(w, ctx) < 0) {
        free(w);
        w = NULL;
    }
    return w;
}

static void worker_run(void *state, void *job)
{
    batch_process(job, state);
}

static void worker_fini(void *state)
{
    clean_worker_free(state);
    free(state);
}

/* ---- deduplication: a set of 128-bit hashes, open addressing ---- */

typedef struct hash_set {
    uint64_t (*slots)[2];    /* {0, 0} is empty; a real {0, 0} hash is kept aside */
    size_t cap, len;
    int has_zero;
} hash_set;

/* 1 when h was there already, 0 when it was added, -1 when out of memory. */
static int hash_set_add(hash_set *s, const uint64_t h[2])
{
    if (h[0] == 0 && h[1] == 0) {
        int seen = s->has_zero;
        s->has_zero = 1;
        return seen;
    }
    if ((s->len + 1) * 4 > s->cap * 3) {    /* grow at 3/4 full */
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t(*slots)[2] = calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slots[i][0] == 0 && s->slots[i][1] == 0)
                continue;
            size_t j = s->slots[i][0] & (cap - 1);
            while (slots[j][0] || slots[j][1])
                j = (j + 1) & (cap - 1);
            slots[j][0] = s->slots[i][0];
            slots[j][1] = s->slots[i][1];
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t j = h[0] & (s->cap - 1);
    while (s->slots[j][0] || s->slots[j][1]) {
        if (s->slots[j][0] == h[0] && s->slots[j][1] == h[1])
            return 1;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j][0] = h[0];
    s->slots[j][1] = h[1];
    s->len++;
    return 0;
}

/* ---- the writer: accounting, rejects, output ---- */

#define MAX_REASONS 64

typedef struct reason_count {
    const char *name;
    uint64_t docs, bytes;
} reason_count;

typedef struct writer {
    const clean_opts *opts;
    FILE *out, *rejects;
    llm_buf line;                 /* a rejects line being built */
    hash_set seen;
    uint64_t docs_in, kept, bytes_out;
    uint64_t failed;              /* the record that stopped the run: neither kept nor dropped */
    reason_count reasons[MAX_REASONS];
    size_t n_reasons;
    llm_progress progress;
    uint64_t bytes_read;
    uint64_t line_offset;         /* lines of this input's chunks written so far */
    llm_ledger carried;           /* the stages before, from the input's ledger lines */
} writer;

static void count_drop(writer *wr, const char *reason, size_t bytes)
{
    size_t i = 0;
    while (i < wr->n_reasons && strcmp(wr->reasons[i].name, reason) != 0)
        i++;
    if (i == wr->n_reasons) {
        if (i == MAX_REASONS)
            i--;    /* cannot happen: the reasons are a fixed, short list */
        else
            wr->n_reasons++;
        wr->reasons[i].name = reason;
    }
    wr->reasons[i].docs++;
    wr->reasons[i].bytes += bytes;
}

static const char *input_name(const clean_opts *o, int input)
{
    return strcmp(o->inputs[input], "-") == 0 ? "(stdin)" : o->inputs[input];
}

/* Writes one dropped document to the rejects file, whole, as JSON. */
static int write_reject(writer *wr, const batch *b, size_t i, const char *reason)
{
    const clean_doc *d = &b->docs[i];
    const clean_result *r = &b->res[i];
    const char *doc = doc_text(b, i);
    llm_buf *l = &wr->line;
    llm_buf_clear(l);
    llm_buf_reject_begin(l, reason, b->opts->inputs, b->opts->n_inputs, b->input, d->line + wr->line_offset);
    if (r->reason == reason && (strcmp(reason, "drop-if") == 0 || strcmp(reason, "keep-if") == 0 ||
                                strcmp(reason, "rule-error") == 0)) {
        llm_buf_puts(l, ",\"rule\":");
        llm_buf_u64(l, r->rule + 1);
    }
    if (r->error) {
        llm_buf_puts(l, ",\"error\":");
        llm_buf_json_string(l, r->error, strlen(r->error));
    }
    if (b->opts->in != CLEAN_IN_JSONL) {
        llm_buf_puts(l, ",\"text\":");
        llm_buf_json_string(l, doc, d->len);
    } else if (reason == CLEAN_REASON_MALFORMED || llm_utf8_valid(doc, d->len)) {
        llm_buf_reject_line(l, doc, d->len, reason != CLEAN_REASON_MALFORMED);
    } else {    /* repaired as it was parsed: the rejects file is JSONL too */
        llm_buf repaired;
        llm_buf_init(&repaired);
        clean_repair_utf8(doc, d->len, &repaired);
        llm_buf_reject_line(l, repaired.data, repaired.len, 1);
        l->failed |= repaired.failed;
        llm_buf_free(&repaired);
    }
    llm_buf_puts(l, "}\n");
    if (llm_buf_failed(l))
        return -1;
    return fwrite(l->data, 1, l->len, wr->rejects) == l->len ? 0 : -1;
}

/* Sums the ledger line of document i into the ledger carried from the input. 0, or an
 * exit status after a message. */
static int carry_ledger(writer *wr, const batch *b, size_t i)
{
    llm_error err;
    if (llm_ledger_from_line(&wr->carried, doc_text(b, i), b->docs[i].len, &err) < 0) {
        llm_msg("%s:%" PRIu64 ": a ledger line that does not parse: %s", input_name(b->opts, b->input),
                b->docs[i].line + wr->line_offset, err.msg);
        return LLM_EXIT_FAILURE;
    }
    return 0;
}

/* Writes out[from..to): the output lines of consecutive kept documents, in one call. */
static int write_span(writer *wr, const batch *b, size_t from, size_t to)
{
    if (to > from && fwrite(b->out.data + from, 1, to - from, wr->out) != to - from) {
        llm_msg("%s: write error: %s", wr->opts->output ? wr->opts->output : "(stdout)", strerror(errno));
        return -1;
    }
    return 0;
}

/* Accounts for and writes a finished batch. Returns 0, or an exit status. */
static int write_batch(writer *wr, const batch *b)
{
    const clean_opts *o = b->opts;
    size_t span = 0;        /* output of the kept documents since the last duplicate, unwritten */
    size_t kept_end = 0;    /* end of the last kept document's output */
    for (size_t i = 0; i < b->n; i++) {
        const clean_result *r = &b->res[i];
        const char *reason = r->reason;
        if (reason == CLEAN_REASON_LEDGER) {    /* not a document: neither in nor out */
            int status = carry_ledger(wr, b, i);
            if (status) {
                write_span(wr, b, span, kept_end);
                return status;
            }
            continue;
        }
        wr->docs_in++;
        if (r->error && (!o->on_error_skip || reason == CLEAN_REASON_NO_MEMORY)) {
            wr->failed++;    /* read, so the summary counts it, as failed */
            llm_msg("%s:%" PRIu64 ": %s: %s%s", input_name(o, b->input), b->docs[i].line + wr->line_offset,
                    reason == CLEAN_REASON_MALFORMED ? "malformed JSON" : reason, r->error,
                    o->on_error_skip ? "" : " (--on-error=skip counts and skips such lines)");
            write_span(wr, b, span, kept_end);    /* what came before the error is out */
            return LLM_EXIT_FAILURE;
        }
        if (!reason && o->dedup) {
            int seen = hash_set_add(&wr->seen, r->hash);
            if (seen < 0) {
                wr->failed++;
                llm_msg("out of memory for --dedup");
                return LLM_EXIT_FAILURE;
            }
            if (seen) {
                reason = "duplicate";
                if (write_span(wr, b, span, r->out_off) < 0)
                    return LLM_EXIT_FAILURE;
                span = r->out_off + r->out_len;
            }
        }
        if (reason) {
            count_drop(wr, reason, b->docs[i].len);
            if (wr->rejects && write_reject(wr, b, i, reason) < 0) {
                llm_msg("%s: write error: %s", o->rejects, strerror(errno));
                return LLM_EXIT_FAILURE;
            }
        } else {
            wr->kept++;
            wr->bytes_out += r->out_len;
            kept_end = r->out_off + r->out_len;
        }
        llm_progress_update(&wr->progress, wr->docs_in, wr->bytes_read);
    }
    wr->line_offset += b->chunk_lines;
    return write_span(wr, b, span, b->out.len) < 0 ? LLM_EXIT_FAILURE : 0;
}

static int compare_reasons(const void *a, const void *b)
{
    const reason_count *x = a, *y = b;
    if (x->docs != y->docs)
        return x->docs > y->docs ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void print_summary(writer *wr)
{
    uint64_t dropped = 0, dropped_bytes = 0;
    qsort(wr->reasons, wr->n_reasons, sizeof wr->reasons[0], compare_reasons);
    llm_buf s;
    llm_buf_init(&s);
    for (size_t i = 0; i < wr->n_reasons; i++) {
        dropped += wr->reasons[i].docs;
        dropped_bytes += wr->reasons[i].bytes;
        llm_buf_printf(&s, "%s%s %" PRIu64, i ? ", " : " (", wr->reasons[i].name, wr->reasons[i].docs);
    }
    if (wr->n_reasons)
        llm_buf_putc(&s, ')');
    if (wr->failed)
        llm_buf_printf(&s, ", %" PRIu64 " failed", wr->failed);
    llm_msg("%" PRIu64 " in, %" PRIu64 " kept, %" PRIu64 " dropped%s", wr->docs_in, wr->kept, dropped,
            s.data ? s.data : "");
    llm_msg("bytes: %" PRIu64 " in, %" PRIu64 " out, %" PRIu64 " in dropped documents", wr->bytes_read,
            wr->bytes_out, dropped_bytes);
    llm_buf_free(&s);
}

/* This run's stage, appended to the stages before it. */
static int account(const writer *wr, llm_ledger *l)
{
    const clean_opts *o = wr->opts;
    llm_stage *g = llm_ledger_add_stage(l, "llm-clean", "documents", o->argc, o->argv);
    if (!g)
        return -1;
    g->in.records = wr->docs_in;
    g->out.records = wr->kept;
    for (size_t i = 0; i < wr->n_reasons; i++)
        if (llm_reasons_add(&g->dropped, wr->reasons[i].name, wr->reasons[i].docs, LLM_NO_COUNT) < 0)
            return -1;
    return 0;
}

/* Whether the output ends with a ledger line: with --ledger-inline, and for JSONL output
 * of an input that carried one, so that its history goes on down the pipeline as
 * llm-tokenize and llm-collate carry it. */
static int ledger_inline(const writer *wr)
{
    return wr->opts->ledger_inline || (wr->carried.len && wr->opts->out == CLEAN_OUT_JSONL);
}

/* Appends this run's stage to the ledger carried from the input and writes it: the last
 * line of the output (ledger_inline) and --ledger FILE. 0, or an exit status after a
 * message. */
static int write_ledger(writer *wr)
{
    const clean_opts *o = wr->opts;
    llm_error err;
    int line = ledger_inline(wr);
    if (account(wr, &wr->carried) < 0) {
        llm_msg("out of memory");
        return LLM_EXIT_FAILURE;
    }
    if (line) {
        llm_buf b;
        llm_buf_init(&b);
        llm_ledger_to_line(&wr->carried, &b);
        int failed = llm_buf_failed(&b) || fwrite(b.data, 1, b.len, wr->out) != b.len;
        llm_buf_free(&b);
        if (failed) {
            llm_msg("write error");
            return LLM_EXIT_FAILURE;
        }
    }
    if (o->ledger && llm_ledger_save_file(&wr->carried, o->ledger, &err) < 0) {
        llm_msg("%s", err.msg);
        return LLM_EXIT_FAILURE;
    }
    return 0;
}

/* ---- reading ---- */

typedef struct reader {
    llm_lines *lines;
    const char *name;
    int fd;
    clean_in format;
    int at_start;             /* nothing returned yet: a BOM may come */
    const char *held;         /* a line read ahead, not yet used */
    size_t held_len;
    uint64_t held_number;
    int held_stable;
    int stable;               /* the last line returned lies in the input's mapping */
    int eof;
} reader;

/* Next line, without '\n', a trailing '\r' or a leading BOM. 1, 0 at the end, -1 error. */
static int reader_next(reader *r, const char **line, size_t *len, uint64_t *number, llm_error *err)
{
    if (r->held) {
        *line = r->held;
        *len = r->held_len;
        *number = r->held_number;
        r->stable = r->held_stable;
        r->held = NULL;
        return 1;
    }
    int got = llm_lines_next(r->lines, line, len, err);
    if (got <= 0)
        return got;
    *number = llm_lines_number(r->lines);
    r->stable = llm_lines_stable(r->lines);
    if (r->at_start && *len >= 3 && memcmp(*line, "\xEF\xBB\xBF", 3) == 0) {
        *line += 3;
        *len -= 3;
    }
    r->at_start = 0;
    if (*len && (*line)[*len - 1] == '\r')
        --*len;
    return 1;
}

/* Whether line[0..len) has the shape of a JSON object: '{', a member's quoted key (or
 * '}' at once) and a closing '}', with JSON's whitespace around; every object on one line
 * has it. The first record of JSONL is told by its shape, not by whether it parses, so
 * that a bad first record (ill-formed UTF-8, a raw tab in a string) is a JSONL error like
 * any later one, not the sign of a text file; a text line such as "{not json}" has no key
 * and stays text. */
static int looks_like_object(const char *line, size_t len)
{
    static const char ws[] = " \t\r";
    size_t i = 0, end = len;
    while (i < len && strchr(ws, line[i]))
        i++;
    while (end > i && strchr(ws, line[end - 1]))
        end--;
    if (end - i < 2 || line[i] != '{' || line[end - 1] != '}')
        return 0;
    i++;
    while (i < end && strchr(ws, line[i]))
        i++;
    return line[i] == '"' || i == end - 1;
}

/* --in=auto: JSONL when the first line that is not blank has the shape of a JSON object.
 * Blank lines before it become empty documents if the input turns out to be text. */
static int detect_format(reader *r, uint64_t *blank_before, llm_error *err)
{
    const char *line;
    size_t len;
    uint64_t number;
    int got;
    *blank_before = 0;
    while ((got = reader_next(r, &line, &len, &number, err)) == 1 && is_blank(line, len))
        ++*blank_before;
    if (got < 0)
        return -1;
    r->format = CLEAN_IN_LINES;
    if (got == 0)
        return 0;
    r->held = line;
    r->held_len = len;
    r->held_number = number;
    r->held_stable = r->stable;
    if (looks_like_object(line, len))
        r->format = CLEAN_IN_JSONL;
    return 0;
}

/* Where a batch of whole lines ends in p[0..len): after the first '\n' at or past
 * BATCH_BYTES, else after the last one. 0 when there is none: a line longer than the
 * batch, or the input's last line without '\n', goes through fill_batch. */
static size_t find_cut(const char *p, size_t len)
{
    if (len > BATCH_BYTES) {
        const char *nl = memchr(p + BATCH_BYTES - 1, '\n', len - (BATCH_BYTES - 1));
        if (nl)
            return (size_t)(nl - p) + 1;
    }
    const char *last = memrchr(p, '\n', len < BATCH_BYTES ? len : BATCH_BYTES);
    return last ? (size_t)(last - p) + 1 : 0;
}

/* Gives b the next stretch of whole lines for its worker to split (see batch_split),
 * copied when it is not in the input's mapping. 1 when b got one, 0 when the next
 * documents must be read one by one (fill_batch), -1 on a read error. Paragraphs, and
 * the first line with its possible BOM, always go through fill_batch. */
static int reader_chunk(reader *r, batch *b, llm_error *err)
{
    if (r->format == CLEAN_IN_PARAGRAPHS || r->at_start || r->held)
        return 0;
    const char *p;
    size_t len;
    int stable;
    int got = llm_lines_peek(r->lines, BATCH_BYTES, &p, &len, &stable, err);
    if (got <= 0)
        return got;
    size_t cut = find_cut(p, len);
    if (cut == 0)
        return 0;
    b->chunk_line = llm_lines_number(r->lines);
    b->chunk_len = cut;
    b->chunk_mapped = stable;
    if (stable) {
        b->chunk = p;
    } else {
        static const char zeros[LLM_JSON_PADDING];
        llm_buf_append(&b->in, p, cut);
        llm_buf_append(&b->in, zeros, sizeof zeros);
        if (llm_buf_failed(&b->in))
            return llm_error_set(err, "out of memory");
        b->chunk = b->in.data;
    }
    llm_lines_skip(r->lines, cut);
    return 1;
}

/* Fills b with documents until it is full or the input ends. Returns 1 when b got
 * documents, 0 at the end of the input, -1 on a read error. */
static int fill_batch(reader *r, batch *b, llm_error *err)
{
    const char *line;
    size_t len;
    uint64_t number;
    int got;
    int in_paragraph = 0;
    while (b->bytes < BATCH_BYTES && b->n < BATCH_DOCS) {
        got = reader_next(r, &line, &len, &number, err);
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        if (r->format == CLEAN_IN_PARAGRAPHS) {
            if (is_blank(line, len)) {
                if (in_paragraph)
                    batch_seal(b);
                in_paragraph = 0;
                continue;
            }
            if (in_paragraph) {
                batch_append(b, "\n", 1);
            } else {
                if (batch_add(b, number) < 0)
                    return llm_error_set(err, "out of memory");
                in_paragraph = 1;
            }
            batch_append(b, line, len);
            continue;    /* a paragraph is never cut by the batch size */
        }
        if (r->format == CLEAN_IN_JSONL && is_blank(line, len))
            continue;    /* blank lines between records hold no document */
        if (batch_add(b, number) < 0)
            return llm_error_set(err, "out of memory");
        if (r->stable) {
            batch_refer(b, line, len);
            continue;
        }
        batch_append(b, line, len);
        batch_seal(b);
    }
    if (in_paragraph) {
        /* Keep reading the paragraph to its end before the batch closes. */
        while ((got = reader_next(r, &line, &len, &number, err)) == 1 && !is_blank(line, len)) {
            batch_append(b, "\n", 1);
            batch_append(b, line, len);
        }
        if (got < 0)
            return -1;
        batch_seal(b);
    }
    if (llm_buf_failed(&b->in))
        return llm_error_set(err, "out of memory");
    return b->n > 0;
}

/* ---- the run ---- */

typedef struct runner {
    const clean_opts *opts;
    clean_opts input_opts;     /* opts with this input's format */
    writer wr;
    llm_pool *pool;            /* batches in flight, in input order */
    batch *free_list;
    uint64_t bytes_before;     /* bytes read from the inputs before this one */
    llm_lines *lines;          /* this input's, for giving back what written batches mapped */
} runner;

static batch *runner_batch(runner *rn)
{
    batch *b = rn->free_list;
    if (b) {
        rn->free_list = b->next;
        batch_reset(b);
        return b;
    }
    return batch_new();
}

static void runner_recycle(runner *rn, batch *b)
{
    b->next = rn->free_list;
    rn->free_list = b;
}

/* Writes a finished batch and recycles it. Batches are written in input order, so the
 * mapped lines before this batch's last one are no longer needed. */
static int runner_write(runner *rn, batch *b)
{
    int status = write_batch(&rn->wr, b);
    if (b->mapped_end)
        llm_lines_release(rn->lines, b->mapped_end);
    runner_recycle(rn, b);
    return status;
}

/* Writes a batch the pool hands back. Returns 0 or an exit status. */
static int runner_finish(runner *rn, batch *b)
{
    if (llm_pool_failed(rn->pool) || b->failed) {
        llm_msg("out of memory");
        runner_recycle(rn, b);
        return LLM_EXIT_FAILURE;
    }
    return runner_write(rn, b);
}

/* Writes the oldest batch in flight once it is done, cleaning a batch no worker has
 * started meanwhile: the main thread is one of the -j threads. Returns 0 or an exit
 * status. */
static int runner_step(runner *rn)
{
    batch *b = llm_pool_take(rn->pool, 0);
    if (!b && llm_pool_help(rn->pool))
        return 0;
    if (!b)
        b = llm_pool_take(rn->pool, 1);
    return runner_finish(rn, b);
}

/* Writes every batch in flight, in order. */
static int runner_drain(runner *rn)
{
    int status = 0;
    while (status == 0 && llm_pool_pending(rn->pool))
        status = runner_step(rn);
    return status;
}

/* After an error: waits for every batch in flight and recycles it unwritten. The workers
 * may still be splitting or cleaning lines that lie in the input's mapping, so this comes
 * before the input is closed and unmapped. */
static void runner_discard(runner *rn)
{
    batch *b;
    while (rn->pool && (b = llm_pool_take(rn->pool, 1)) != NULL)
        runner_recycle(rn, b);
}

static int runner_submit(runner *rn, batch *b)
{
    int status = 0;
    while (status == 0 && llm_pool_full(rn->pool))
        status = runner_step(rn);
    if (status) {
        runner_recycle(rn, b);
        return status;
    }
    llm_pool_submit(rn->pool, b);
    /* Write whatever is finished already, so output flows while reading goes on. */
    while (status == 0 && (b = llm_pool_take(rn->pool, 0)) != NULL)
        status = runner_finish(rn, b);
    return status;
}

static int open_input(const char *path, int *fd)
{
    if (strcmp(path, "-") == 0) {
        *fd = STDIN_FILENO;
        return 0;
    }
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    return *fd < 0 ? -1 : 0;
}

/* Reads one input to its end. Returns 0 or an exit status. */
static int run_input(runner *rn, int input)
{
    const clean_opts *o = rn->opts;
    reader r = {.name = input_name(o, input), .at_start = 1, .format = o->in};
    llm_error err;
    if (open_input(o->inputs[input], &r.fd) < 0) {
        llm_msg("%s: %s", r.name, strerror(errno));
        return LLM_EXIT_FAILURE;
    }
    r.lines = rn->lines = llm_lines_open(r.fd);
    int status = 0;
    uint64_t blank_before = 0;
    if (!r.lines) {
        llm_msg("out of memory");
        status = LLM_EXIT_FAILURE;
    } else if (o->in == CLEAN_IN_AUTO && detect_format(&r, &blank_before, &err) < 0) {
        llm_msg("%s: %s", r.name, err.msg);
        status = LLM_EXIT_FAILURE;
    }
    /* Batches of one input share its options; a new input starts a new copy only once
     * the batches of the previous one are written. */
    if (status == 0)
        status = runner_drain(rn);
    rn->wr.line_offset = 0;
    rn->input_opts = *o;
    rn->input_opts.in = r.format;
    if (status == 0 && blank_before && r.format != CLEAN_IN_JSONL) {
        batch *b = runner_batch(rn);
        if (!b)
            status = LLM_EXIT_FAILURE;
        else
            b->opts = &rn->input_opts;
        for (uint64_t k = 1; status == 0 && k <= blank_before; k++) {
            if (batch_add(b, k) < 0)
                status = LLM_EXIT_FAILURE;
            else
                batch_seal(b);
        }
        if (b) {
            b->input = input;
            status = status ? status : runner_submit(rn, b);
        }
    }
    while (status == 0) {
        batch *b = runner_batch(rn);
        if (!b) {
            llm_msg("out of memory");
            status = LLM_EXIT_FAILURE;
            break;
        }
        b->opts = &rn->input_opts;
        b->input = input;
        int got = reader_chunk(&r, b, &err);
        if (got == 0)
            got = fill_batch(&r, b, &err);
        rn->wr.bytes_read = rn->bytes_before + llm_lines_bytes(r.lines);
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
    if (status == 0)
        status = runner_drain(rn);
    if (status != 0)
        runner_discard(rn);
    if (r.lines)
        rn->bytes_before += llm_lines_bytes(r.lines);
    llm_lines_close(r.lines);
    rn->lines = NULL;
    if (r.fd != STDIN_FILENO)
        close(r.fd);
    return status;
}

/* Opens stdout or -o FILE, and --rejects FILE, as buffered text outputs. */
static int open_outputs(const clean_opts *o, llm_output *out, llm_output *rej, writer *wr)
{
    llm_error err;
    if (llm_output_open(out, o->output, 0, 0, &err) < 0) {
        llm_msg("%s", err.msg);
        return -1;
    }
    if (o->rejects && llm_output_open(rej, o->rejects, 0, 0, &err) < 0) {
        llm_msg("%s", err.msg);
        llm_output_abort(out);
        return -1;
    }
    wr->out = llm_output_file(out);
    wr->rejects = o->rejects ? llm_output_file(rej) : NULL;
    if (!wr->out || (o->rejects && !wr->rejects)) {
        llm_msg("out of memory");
        llm_output_abort(rej);
        llm_output_abort(out);
        return -1;
    }
    return 0;
}

/* Flushes and renames the outputs into place; on failure removes them. */
static int close_outputs(const clean_opts *o, llm_output *out, llm_output *rej, int status)
{
    llm_error err;
    if (status != 0) {
        llm_output_abort(rej);
        if (out->fd == STDOUT_FILENO && out->fp)
            fflush(out->fp);     /* what was written to a pipe stays written */
        else
            llm_output_abort(out);
        return status;
    }
    if (o->rejects && llm_output_commit(rej, &err) < 0) {
        llm_msg("%s", err.msg);
        llm_output_abort(out);
        return LLM_EXIT_FAILURE;
    }
    if (llm_output_commit(out, &err) < 0) {
        llm_msg("%s", err.msg);
        return LLM_EXIT_FAILURE;
    }
    return 0;
}

int clean_run(const clean_opts *o)
{
    runner rn;
    memset(&rn, 0, sizeof rn);
    rn.opts = o;
    rn.wr.opts = o;
    llm_buf_init(&rn.wr.line);
    llm_ledger_init(&rn.wr.carried);
    llm_output out, rej;
    memset(&rej, 0, sizeof rej);
    rej.fd = -1;
    if (open_outputs(o, &out, &rej, &rn.wr) < 0)
        return LLM_EXIT_FAILURE;
    int status = 0;
    /* Workers see the options of the input being read; auto-detection needs the JSON
     * parser in every worker. */
    rn.input_opts = *o;
    clean_opts worker_opts = *o;
    if (worker_opts.in == CLEAN_IN_AUTO)
        worker_opts.in = CLEAN_IN_JSONL;
    llm_pool_fns fns = {worker_init, worker_run, worker_fini};
    llm_error err;
    if (!(rn.pool = llm_pool_new_helped(o->threads, 2 * (size_t)o->threads + 2, &fns, &worker_opts, &err))) {
        llm_msg("%s", err.msg);
        status = LLM_EXIT_FAILURE;
    }
    llm_progress_start(&rn.wr.progress, o->quiet, llm_inputs_size(o->inputs, o->n_inputs));
    for (int i = 0; i < o->n_inputs && status == 0; i++)
        status = run_input(&rn, i);
    llm_progress_end(&rn.wr.progress);
    llm_pool_free(rn.pool);    /* run_input left no batch in flight */
    llm_ledger *ledger = &rn.wr.carried;
    int carried = ledger->len > 0;
    if (status == 0 && (o->ledger_inline || o->ledger || o->max_drop >= 0 || carried))
        status = write_ledger(&rn.wr);
    if (status == 0 && carried && !ledger_inline(&rn.wr) && !o->ledger)
        llm_msg("note: the input's ledger goes no further: --out=lines has no ledger line (give --ledger FILE)");
    status = close_outputs(o, &out, &rej, status);
    if (!o->quiet)
        print_summary(&rn.wr);
    /* This run's stage is the last, once write_ledger added it. */
    if (status == 0 && o->max_drop >= 0 && llm_stage_max_drop(&ledger->stages[ledger->len - 1], o->max_drop))
        status = LLM_EXIT_FAILURE;
    llm_ledger_free(ledger);
    batch *b;
    while ((b = rn.free_list) != NULL) {
        rn.free_list = b->next;
        batch_free(b);
    }
    free(rn.wr.seen.slots);
    llm_buf_free(&rn.wr.line);
    return status;
}

/* The ordered feed of line batches (feed.h): batches filled by the calling thread, run on the
 * ordered pool, written back in order and kept on a free list for reuse. */
#include "feed.h"
#include "cli.h"
#include "json.h"
#include "pool.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- batches ---- */

int llm_feed_batch_begin(llm_feed_batch *b, uint64_t number)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        llm_feed_batch_line *lines = realloc(b->lines, cap * sizeof *lines);
        if (!lines)
            return -1;
        b->lines = lines;
        b->cap = cap;
    }
    b->lines[b->n++] = (llm_feed_batch_line){.off = b->text.len, .len = 0, .number = number};
    return 0;
}

void llm_feed_batch_append(llm_feed_batch *b, const char *p, size_t len)
{
    llm_buf_append(&b->text, p, len);
    b->lines[b->n - 1].len += len;
}

void llm_feed_batch_seal(llm_feed_batch *b)
{
    static const char zeros[LLM_JSON_PADDING];
    llm_buf_append(&b->text, zeros, sizeof zeros);
}

int llm_feed_batch_add(llm_feed_batch *b, const char *p, size_t len, uint64_t number)
{
    if (llm_feed_batch_begin(b, number) < 0)
        return -1;
    llm_feed_batch_append(b, p, len);
    llm_feed_batch_seal(b);
    return llm_buf_failed(&b->text) ? -1 : 0;
}

int llm_feed_batch_full(const llm_feed_batch *b)
{
    return b->text.len >= LLM_BATCH_BYTES || b->n >= LLM_BATCH_LINES;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\f\v", s[i]))
            return 0;
    return 1;
}

llm_ledger *llm_feed_ledger_target(const char *ledger_file, llm_ledger *stream, llm_ledger *aside)
{
    return ledger_file ? aside : stream;
}

void llm_feed_note_aside(const llm_ledger *aside, const char *ledger_file)
{
    if (aside->len)
        llm_msg("note: the ledger lines of the input were left out: --ledger %s gives the stages before", ledger_file);
}

int llm_feed_ledger_line(llm_ledger *ledger, const char *line, size_t len, uint64_t number, llm_error *err)
{
    if (!ledger)
        return 0;
    llm_error why;
    int rc = llm_ledger_from_line(ledger, line, len, &why);
    if (rc < 0)
        return llm_error_set(err, "line %" PRIu64 ": a ledger line that does not parse: %s", number, why.msg);
    return rc;
}

int llm_feed_batch_fill(llm_feed_batch *b, llm_lines *l, int flags, llm_ledger *ledger, llm_error *err)
{
    const char *line, *copied = NULL;
    size_t len;
    while (!llm_feed_batch_full(b)) {
        int got = llm_lines_next(l, &line, &len, err);
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        uint64_t number = llm_lines_number(l);
        copied = line + len;
        if (len && line[len - 1] == '\r')
            len--;
        if ((flags & LLM_FILL_STRIP_BOM) && number == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            len -= 3;
        }
        if ((flags & LLM_FILL_SKIP_BLANK) && is_blank(line, len))
            continue;
        int k = llm_feed_ledger_line(ledger, line, len, number, err);
        if (k < 0)
            return -1;
        if (k)
            continue;
        if (llm_feed_batch_add(b, line, len, number) < 0)
            return llm_error_set(err, "out of memory");
    }
    /* The batch holds copies: a mapped input's pages up to here can go, so that memory does
     * not grow with the input. */
    if (copied)
        llm_lines_release(l, copied);
    b->bytes_read = llm_lines_bytes(l);
    return b->n > 0;
}

/* ---- the feed ---- */

struct llm_feed {
    llm_feed_fns fns;
    void *ctx;
    llm_pool *pool;
    llm_feed_batch *free_list;
    int status;               /* the first failure, sticky */
};

typedef struct feed_worker {
    const llm_feed *f;
    void *state;
} feed_worker;

static void *worker_init(void *ctx)
{
    const llm_feed *f = ctx;
    feed_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->f = f;
    if (f->fns.init && !(w->state = f->fns.init(f->ctx))) {
        free(w);
        return NULL;
    }
    return w;
}

static void worker_run(void *state, void *job)
{
    feed_worker *w = state;
    w->f->fns.run(w->state, job);
}

static void worker_fini(void *state)
{
    feed_worker *w = state;
    if (w->f->fns.fini)
        w->f->fns.fini(w->state);
    free(w);
}

llm_feed *llm_feed_new(unsigned threads, const llm_feed_fns *fns, void *ctx, llm_error *err)
{
    llm_feed *f = calloc(1, sizeof *f);
    if (!f) {
        llm_error_set(err, "out of memory");
        return NULL;
    }
    f->fns = *fns;
    f->ctx = ctx;
    if (threads == 0)
        threads = 1;
    llm_pool_fns pfns = {worker_init, worker_run, worker_fini};
    if (!(f->pool = llm_pool_new(threads, 2 * (size_t)threads + 2, &pfns, f, err))) {
        free(f);
        return NULL;
    }
    return f;
}

static void batch_free(const llm_feed *f, llm_feed_batch *b)
{
    if (f->fns.user_free && b->user)
        f->fns.user_free(b->user);
    llm_buf_free(&b->text);
    free(b->lines);
    free(b);
}

void llm_feed_free(llm_feed *f)
{
    if (!f)
        return;
    llm_feed_batch *b;
    while ((b = llm_pool_take(f->pool, 1)) != NULL)    /* after an error: let them finish */
        llm_feed_recycle(f, b);
    llm_pool_free(f->pool);
    while ((b = f->free_list) != NULL) {
        f->free_list = b->next;
        batch_free(f, b);
    }
    free(f);
}

llm_feed_batch *llm_feed_get_batch(llm_feed *f)
{
    llm_feed_batch *b = f->free_list;
    if (b) {
        f->free_list = b->next;
        b->n = 0;
        b->input = 0;
        b->bytes_read = 0;
        llm_buf_clear(&b->text);
        if (f->fns.user_reset && b->user)
            f->fns.user_reset(b->user);
        return b;
    }
    if (!(b = calloc(1, sizeof *b)))
        return NULL;
    llm_buf_init(&b->text);
    if (f->fns.user_new && !(b->user = f->fns.user_new(f->ctx))) {
        free(b);
        return NULL;
    }
    return b;
}

void llm_feed_recycle(llm_feed *f, llm_feed_batch *b)
{
    b->next = f->free_list;
    f->free_list = b;
}

/* Writes a batch the pool handed back, then keeps it for reuse. */
static void write_done(llm_feed *f, llm_feed_batch *b)
{
    if (f->status == 0)
        f->status = llm_pool_failed(f->pool) ? LLM_FEED_WORKER_FAILED : f->fns.write(f->ctx, b);
    llm_feed_recycle(f, b);
}

int llm_feed_submit(llm_feed *f, llm_feed_batch *b)
{
    while (f->status == 0 && llm_pool_full(f->pool))
        write_done(f, llm_pool_take(f->pool, 1));
    if (f->status) {
        llm_feed_recycle(f, b);
        return f->status;
    }
    llm_pool_submit(f->pool, b);
    llm_feed_batch *done;
    while (f->status == 0 && (done = llm_pool_take(f->pool, 0)) != NULL)
        write_done(f, done);
    return f->status;
}

int llm_feed_drain(llm_feed *f)
{
    llm_feed_batch *done;
    while (f->status == 0 && (done = llm_pool_take(f->pool, 1)) != NULL)
        write_done(f, done);
    return f->status;
}

/* Writing an llm-stream: records gathered into whole zstd frames, the header first and,
 * on regular files, the index of frames last (layout in man/llm-stream.5). Frames may be
 * compressed on threads of their own (opts.threads): each is compressed alone with the same
 * parameters and written in order, so the bytes do not depend on the thread count. */
#include "stream.h"
#include "stream_format.h"
#include "buf.h"
#include "pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* A full frame: its records, then its compressed bytes. */
typedef struct frame_job {
    uint8_t *raw;
    size_t raw_len, raw_cap;
    uint8_t *z;
    size_t z_len, z_cap;
    uint32_t records, tokens;
    size_t zstd_error;         /* ZSTD_compress2's error code, or 0 */
    enum { JOB_WAITING, JOB_DONE, JOB_NO_MEMORY } state;
    struct frame_job *next;    /* in the free list */
} frame_job;

struct llm_writer {
    int fd;
    llm_header header;
    size_t frame_bytes;
    int want_index;
    int level;
    ZSTD_CCtx *cctx;

    uint8_t *raw;              /* records of the frame being gathered */
    size_t raw_len, raw_cap;
    uint32_t frame_records, frame_tokens;
    uint8_t *zbuf;             /* one compressed frame */
    size_t zcap;

    llm_pool *pool;            /* compressing threads, or NULL */
    frame_job *free_jobs;

    uint8_t *index;            /* LLM_INDEX_ENTRY bytes per frame written */
    size_t index_len, index_cap;

    uint64_t bytes;            /* written since the header, i.e. offset within the segment */
    uint64_t records, tokens, masked;
    int failed;
    char err[384];
};

/* An I/O or memory failure: the stream is broken and every later call fails. */
LLM_PRINTF(2, 3)
static int fail(llm_writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    w->failed = 1;
    return -1;
}

/* A record that cannot be written: it is left out and the stream stays usable, so a
 * program can count it as a skip. */
LLM_PRINTF(2, 3)
static int reject(llm_writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* write(2) until done: a short write or EINTR is not an error, everything else is. */
static int write_all(llm_writer *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = write(w->fd, b, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return fail(w, "write error: %s", strerror(errno));
        }
        b += k;
        n -= (size_t)k;
        w->bytes += (uint64_t)k;
    }
    return 0;
}

static int write_skippable(llm_writer *w, uint32_t magic, const void *payload, size_t n)
{
    uint8_t head[LLM_SKIPPABLE_HEAD];
    llm_store32(head, magic);
    llm_store32(head + 4, (uint32_t)n);
    return write_all(w, head, sizeof head) < 0 ? -1 : write_all(w, payload, n);
}

static int write_header(llm_writer *w)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_buf_append(&b, LLM_HEADER_TAG "\0\0\0\0", LLM_HEADER_PREFIX);
    llm_header_to_json(&w->header, &b);
    int rc;
    if (llm_buf_failed(&b))
        rc = fail(w, "out of memory");
    else if (b.len - LLM_HEADER_PREFIX > LLM_HEADER_MAX)
        rc = fail(w, "header of %zu bytes is above the limit of %u", b.len, LLM_HEADER_MAX);
    else {
        llm_store32(b.data + 4, llm_checksum32(b.data + LLM_HEADER_PREFIX, b.len - LLM_HEADER_PREFIX));
        rc = write_skippable(w, LLM_MAGIC_HEADER, b.data, b.len);
    }
    llm_buf_free(&b);
    return rc;
}

/* A compressing context with the stream's parameters: the content size (ZSTD_compress2 knows
 * it) and checksum make every frame self-verifying, and a reader refuses frames without them.
 * NULL when out of memory or the level is out of range. */
static ZSTD_CCtx *new_cctx(int level)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (c && (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) ||
              ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)))) {
        ZSTD_freeCCtx(c);
        c = NULL;
    }
    return c;
}

/* The compressing threads (llm_pool_fns): a context each. */
static void *job_init(void *ctx)
{
    return new_cctx(((const llm_writer *)ctx)->level);
}

static void job_run(void *state, void *job)
{
    frame_job *f = job;
    f->zstd_error = 0;
    if (llm_grow(&f->z, &f->z_cap, ZSTD_compressBound(f->raw_len)) < 0) {
        f->state = JOB_NO_MEMORY;
        return;
    }
    f->state = JOB_DONE;
    size_t z = ZSTD_compress2(state, f->z, f->z_cap, f->raw, f->raw_len);
    if (ZSTD_isError(z))
        f->zstd_error = z;
    else
        f->z_len = z;
}

static void job_fini(void *state)
{
    ZSTD_freeCCtx(state);
}

llm_writer *llm_writer_open(int fd, const llm_header *h, const llm_writer_opts *opts, llm_error *err)
{
    if (llm_header_validate(h, err) < 0)
        return NULL;
    llm_writer *w = calloc(1, sizeof *w);
    if (!w || llm_header_copy(&w->header, h) < 0) {
        free(w);
        llm_error_set(err, "out of memory");
        return NULL;
    }
    w->fd = fd;
    int level = opts && opts->level ? opts->level : LLM_DEFAULT_LEVEL;
    w->frame_bytes = opts && opts->frame_bytes ? opts->frame_bytes : LLM_DEFAULT_FRAME_BYTES;
    if (w->frame_bytes > LLM_FRAME_MAX_CONTENT)
        w->frame_bytes = LLM_FRAME_MAX_CONTENT;
    int index = opts ? opts->index : -1;
    if (index < 0) {
        struct stat st;
        index = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    }
    w->want_index = index;

    w->level = level;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
        llm_error_set(err, "zstd level %d is not supported (%d to %d)", level, ZSTD_minCLevel(),
                      ZSTD_maxCLevel());
        goto fail;
    }
    if (!(w->cctx = new_cctx(level))) {
        llm_error_set(err, "out of memory");
        goto fail;
    }
    unsigned threads = opts ? opts->threads : 0;
    llm_pool_fns fns = {job_init, job_run, job_fini};
    if (threads > 1 && !(w->pool = llm_pool_new(threads, 2 * (size_t)threads + 2, &fns, w, err)))
        goto fail;
    if (write_header(w) < 0) {
        llm_error_set(err, "%s", w->err);
        goto fail;
    }
    return w;
fail:
    llm_writer_free(w);
    return NULL;
}

/* Writes a compressed frame of `records` records and `tokens` tokens, and its index entry. */
static int write_frame(llm_writer *w, const uint8_t *z, size_t len, uint32_t records, uint32_t tokens)
{
    if (w->want_index) {    /* piped output has no index, and so no memory that grows with it */
        if (llm_grow(&w->index, &w->index_cap, w->index_len + LLM_INDEX_ENTRY) < 0)
            return fail(w, "out of memory");
        uint8_t *e = w->index + w->index_len;
        llm_store64(e, w->bytes);
        llm_store32(e + 8, records);
        llm_store32(e + 12, tokens);
        w->index_len += LLM_INDEX_ENTRY;
    }
    return write_all(w, z, len);
}

/* Writes a frame a thread has compressed, and keeps its memory for the next one. */
static int write_job(llm_writer *w, frame_job *f)
{
    int rc;
    if (f->state != JOB_DONE)   /* out of memory, or its thread has no context */
        rc = fail(w, "out of memory");
    else if (f->zstd_error)
        rc = fail(w, "zstd: %s", ZSTD_getErrorName(f->zstd_error));
    else
        rc = w->failed ? -1 : write_frame(w, f->z, f->z_len, f->records, f->tokens);
    f->next = w->free_jobs;
    w->free_jobs = f;
    return rc;
}

/* Writes the frames the threads have finished, in order: all of them when `wait`. */
static int write_done(llm_writer *w, int wait)
{
    frame_job *f;
    int rc = 0;
    while ((f = llm_pool_take(w->pool, wait)) != NULL)
        if (write_job(w, f) < 0)
            rc = -1;
    return rc;
}

/* Hands the gathered frame to the threads, its buffer swapped for a free one. */
static int submit_frame(llm_writer *w)
{
    frame_job *f = w->free_jobs;
    if (f)
        w->free_jobs = f->next;
    else if (!(f = calloc(1, sizeof *f)))
        return fail(w, "out of memory");
    uint8_t *raw = f->raw;
    size_t cap = f->raw_cap;
    f->raw = w->raw;
    f->raw_cap = w->raw_cap;
    f->raw_len = w->raw_len;
    w->raw = raw;
    w->raw_cap = cap;
    f->records = w->frame_records;
    f->tokens = w->frame_tokens;
    f->state = JOB_WAITING;
    int rc = 0;
    while (llm_pool_full(w->pool))
        if (write_job(w, llm_pool_take(w->pool, 1)) < 0)
            rc = -1;
    llm_pool_submit(w->pool, f);
    return write_done(w, 0) < 0 ? -1 : rc;
}

static int flush_frame(llm_writer *w)
{
    if (w->frame_records == 0)
        return 0;
    int rc;
    if (w->pool) {
        rc = submit_frame(w);
    } else {
        if (llm_grow(&w->zbuf, &w->zcap, ZSTD_compressBound(w->raw_len)) < 0)
            return fail(w, "out of memory");
        size_t z = ZSTD_compress2(w->cctx, w->zbuf, w->zcap, w->raw, w->raw_len);
        if (ZSTD_isError(z))
            return fail(w, "zstd: %s", ZSTD_getErrorName(z));
        rc = write_frame(w, w->zbuf, z, w->frame_records, w->frame_tokens);
    }
    w->raw_len = 0;
    w->frame_records = w->frame_tokens = 0;
    return rc;
}

static size_t record_bytes(const llm_record *r, int token_bytes)
{
    size_t n = LLM_RECORD_HEAD + llm_pad4((size_t)r->n_tokens * token_bytes);
    if (r->mask)
        n += llm_pad4(((size_t)r->n_tokens + 7) / 8);
    if (r->n_bounds)
        n += 4 + 4 * (size_t)r->n_bounds;
    return n;
}

/* Copies the tokens into dst at the stream's width; returns the largest id seen (checked
 * against the vocabulary by the caller, which also guards the narrowing to u16). */
static uint32_t put_tokens(uint8_t *dst, const llm_record *r, int width)
{
    size_t n = r->n_tokens;
    uint32_t max = r->token_bytes == 2 ? llm_max_u16(r->tokens, n) : llm_max_u32(r->tokens, n);
    if (r->token_bytes == width) {
        memcpy(dst, r->tokens, n * (size_t)width);
    } else if (width == 2) {
        const uint32_t *t = r->tokens;
        uint16_t *d = (uint16_t *)dst;
        for (size_t i = 0; i < n; i++)
            d[i] = (uint16_t)t[i];
    } else {
        const uint16_t *t = r->tokens;
        uint32_t *d = (uint32_t *)dst;
        for (size_t i = 0; i < n; i++)
            d[i] = t[i];
    }
    return max;
}

static int check_record(llm_writer *w, const llm_record *r)
{
    if (r->token_bytes != 2 && r->token_bytes != 4)
        return reject(w, "record %" PRIu64 ": token width %d is not 2 or 4", w->records, r->token_bytes);
    if (r->n_tokens > LLM_RECORD_MAX_TOKENS)
        return reject(w, "record %" PRIu64 ": %" PRIu32 " tokens is above the limit of %u", w->records,
                    r->n_tokens, (unsigned)LLM_RECORD_MAX_TOKENS);
    for (uint32_t i = 0; i < r->n_bounds; i++)
        if (r->bounds[i] >= r->n_tokens || (i > 0 && r->bounds[i] <= r->bounds[i - 1]))
            return reject(w, "record %" PRIu64 ": document starts must ascend and lie below %" PRIu32,
                        w->records, r->n_tokens);
    return 0;
}

int llm_writer_put(llm_writer *w, const llm_record *r)
{
    if (w->failed)
        return -1;
    if (check_record(w, r) < 0)
        return -1;
    int width = w->header.token_bytes;
    size_t need = record_bytes(r, width);
    if (need > LLM_FRAME_MAX_CONTENT)
        return reject(w, "record %" PRIu64 ": %zu bytes with its mask and document starts is above the "
                         "frame limit of %u", w->records, need, LLM_FRAME_MAX_CONTENT);
    if (w->raw_len + need > w->frame_bytes && flush_frame(w) < 0)
        return -1;
    if (llm_grow(&w->raw, &w->raw_cap, w->raw_len + need) < 0)
        return fail(w, "out of memory");

    uint8_t *p = w->raw + w->raw_len;
    uint32_t flags = (r->mask ? LLM_RECORD_HAS_MASK : 0) | (r->n_bounds ? LLM_RECORD_HAS_BOUNDS : 0);
    llm_store32(p, r->n_tokens);
    llm_store32(p + 4, flags);
    p += LLM_RECORD_HEAD;
    size_t tok = (size_t)r->n_tokens * width;
    uint32_t max = put_tokens(p, r, width);
    if (r->n_tokens && max >= w->header.vocab_size)
        return reject(w, "record %" PRIu64 ": token id %" PRIu32 " is not below the vocabulary size %" PRIu32,
                    w->records, max, w->header.vocab_size);
    memset(p + tok, 0, llm_pad4(tok) - tok);
    p += llm_pad4(tok);
    if (r->mask) {
        size_t mb = ((size_t)r->n_tokens + 7) / 8;
        memset(p, 0, llm_pad4(mb));
        uint32_t counted = 0;
        for (size_t i = 0; i < r->n_tokens; i++) {
            p[i >> 3] |= (uint8_t)((r->mask[i] != 0) << (i & 7));
            counted += r->mask[i] != 0;
        }
        w->masked += r->n_tokens - counted;
        p += llm_pad4(mb);
    }
    if (r->n_bounds) {
        llm_store32(p, r->n_bounds);
        memcpy(p + 4, r->bounds, 4 * (size_t)r->n_bounds);
    }
    w->raw_len += need;
    w->frame_records++;
    w->frame_tokens += r->n_tokens;
    w->records++;
    w->tokens += r->n_tokens;
    return 0;
}

static int write_index(llm_writer *w)
{
    if (llm_grow(&w->index, &w->index_cap, w->index_len + LLM_INDEX_FOOTER) < 0)
        return fail(w, "out of memory");
    uint8_t *foot = w->index + w->index_len;
    llm_store64(foot, w->bytes);
    llm_store64(foot + 8, w->records);
    llm_store64(foot + 16, w->tokens);
    llm_store32(foot + 24, (uint32_t)(w->index_len / LLM_INDEX_ENTRY));
    /* The checksum covers the entries and the footer fields before it. */
    llm_store32(foot + 28, llm_checksum32(w->index, w->index_len + 28));
    memcpy(foot + 32, LLM_INDEX_TAG, 4);
    return write_skippable(w, LLM_MAGIC_INDEX, w->index, w->index_len + LLM_INDEX_FOOTER);
}

static int write_ledger(llm_writer *w, const llm_ledger *l)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_ledger_to_json(l, &b);
    size_t json = b.len;
    llm_buf_append(&b, "\0\0\0\0\0\0\0\0" LLM_LEDGER_TAG, LLM_LEDGER_FOOTER);
    int rc;
    if (llm_buf_failed(&b))
        rc = fail(w, "out of memory");
    else if (json > LLM_HEADER_MAX)
        rc = fail(w, "ledger of %zu bytes is above the limit of %u", json, LLM_HEADER_MAX);
    else {
        llm_store32(b.data + json, (uint32_t)json);
        llm_store32(b.data + json + 4, llm_checksum32(b.data, json));
        rc = write_skippable(w, LLM_MAGIC_LEDGER, b.data, b.len);
    }
    llm_buf_free(&b);
    return rc;
}

int llm_writer_finish_ledger(llm_writer *w, const llm_ledger *ledger)
{
    if (w->failed || flush_frame(w) < 0 || (w->pool && write_done(w, 1) < 0))
        return -1;
    if (ledger && write_ledger(w, ledger) < 0)
        return -1;
    if (w->want_index && w->index_len / LLM_INDEX_ENTRY > UINT32_MAX)
        return fail(w, "too many frames for one index");
    return w->want_index ? write_index(w) : 0;
}

int llm_writer_finish(llm_writer *w) { return llm_writer_finish_ledger(w, NULL); }

void llm_writer_account(const llm_writer *w, llm_stage *s)
{
    s->has_written = 1;
    s->written_records = w->records;
    s->written_tokens = w->tokens;
    s->masked = w->masked;
}

void llm_writer_free(llm_writer *w)
{
    if (!w)
        return;
    if (w->pool) {
        frame_job *f;
        while ((f = llm_pool_take(w->pool, 1)) != NULL) {   /* unwritten: not finished */
            f->next = w->free_jobs;
            w->free_jobs = f;
        }
        llm_pool_free(w->pool);
    }
    while (w->free_jobs) {
        frame_job *f = w->free_jobs;
        w->free_jobs = f->next;
        free(f->raw);
        free(f->z);
        free(f);
    }
    ZSTD_freeCCtx(w->cctx);
    llm_header_free(&w->header);
    free(w->raw);
    free(w->zbuf);
    free(w->index);
    free(w);
}

const char *llm_writer_error(const llm_writer *w) { return w->err; }
uint64_t llm_writer_records(const llm_writer *w) { return w->records; }
uint64_t llm_writer_tokens(const llm_writer *w) { return w->tokens; }
uint64_t llm_writer_bytes(const llm_writer *w) { return w->bytes; }

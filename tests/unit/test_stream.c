/* Unit tests for the llm-stream writer and reader: header JSON, byte-exact round trips through
 * files and pipes, the frame and index layout on disk, concatenation, truncation and corruption. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "check.h"
#include "stream.h"
#include "stream_format.h"

/* ---- helpers: random records ------------------------------------------------------ */

/* splitmix64: every case seeds it, so a failure reproduces. LLM_TEST_SEED varies the seeds. */
static uint64_t rng_state, seed_salt;

static void rng_seed(uint64_t s) { rng_state = s ^ seed_salt; }

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t n) { return (uint32_t)(rng() % n); }

/* A record as the tests know it: ids as u32 whatever the stream's width. */
typedef struct trec {
    uint32_t n;
    uint32_t *tok;
    uint8_t *mask;     /* NULL, or n bytes where any nonzero byte means counted */
    uint32_t nb;
    uint32_t *bounds;
} trec;

enum { NEVER, ALWAYS, SOMETIMES };

typedef struct genopts {
    uint32_t vocab;
    int mask, bounds;  /* NEVER, ALWAYS or SOMETIMES */
    uint32_t maxlen;
} genopts;

static uint32_t gen_len(uint32_t maxlen)
{
    uint32_t k = rng_below(100), n;
    if (k < 10)
        n = 0;
    else if (k < 70)
        n = 1 + rng_below(64);
    else if (k < 95)
        n = 65 + rng_below(600);
    else
        n = 601 + rng_below(maxlen > 601 ? maxlen - 600 : 1);
    return n > maxlen ? maxlen : n;
}

static void gen_record(trec *t, const genopts *g)
{
    uint32_t n = gen_len(g->maxlen);
    memset(t, 0, sizeof *t);
    t->n = n;
    t->tok = malloc(((size_t)n + 1) * sizeof *t->tok);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = rng_below(8), v;
        if (k == 0)
            v = g->vocab - 1;                  /* the edges of the vocabulary */
        else if (k == 1)
            v = 0;
        else if (k < 4 && i > 0)
            v = prev;                          /* runs, so frames do compress */
        else
            v = rng_below(g->vocab);
        t->tok[i] = prev = v;
    }
    if (g->mask == ALWAYS || (g->mask == SOMETIMES && rng_below(2))) {
        t->mask = malloc((size_t)n + 1);
        uint32_t prompt = rng_below((uint64_t)n + 1);
        for (uint32_t i = 0; i < n; i++)
            t->mask[i] = i < prompt || rng_below(16) == 0 ? 0 : (uint8_t)(1 + rng_below(255));
    }
    if (n > 0 && (g->bounds == ALWAYS || (g->bounds == SOMETIMES && rng_below(2)))) {
        uint32_t want = 1 + rng_below(n < 16 ? n : 16), c = 0;
        t->bounds = malloc(want * sizeof *t->bounds);
        for (uint32_t i = 0; i < n && c < want; i++)     /* selection sampling: ascending, distinct */
            if (rng_below(n - i) < want - c)
                t->bounds[c++] = i;
        if (rng_below(2))
            t->bounds[0] = 0;
        t->nb = c;
    }
}

static trec *gen_records(size_t count, const genopts *g)
{
    trec *t = calloc(count + 1, sizeof *t);
    for (size_t i = 0; i < count; i++)
        gen_record(&t[i], g);
    return t;
}

static void free_records(trec *t, size_t count)
{
    if (!t)
        return;
    for (size_t i = 0; i < count; i++) {
        free(t[i].tok);
        free(t[i].mask);
        free(t[i].bounds);
    }
    free(t);
}

/* Hands one test record to the writer with tokens of the given width. */
static int put_trec(llm_writer *w, const trec *t, int width)
{
    void *buf = malloc((size_t)t->n * 4 + 4);
    if (width == 2)
        for (uint32_t i = 0; i < t->n; i++)
            ((uint16_t *)buf)[i] = (uint16_t)t->tok[i];
    else
        memcpy(buf, t->tok, (size_t)t->n * 4);
    llm_record r = {.n_tokens = t->n, .token_bytes = width, .tokens = buf, .mask = t->mask,
                    .n_bounds = t->nb, .bounds = t->bounds};
    int rc = llm_writer_put(w, &r);
    free(buf);
    return rc;
}

/* 1 when what the reader returned is exactly the test record at a stream width of `width`. */
static int rec_equal(const llm_record *g, const trec *t, int width)
{
    if (g->n_tokens != t->n || g->token_bytes != width || (t->n && !g->tokens))
        return 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (llm_record_token(g, i) != t->tok[i])
            return 0;
    if (!t->mask != !g->mask)
        return 0;
    for (uint32_t i = 0; t->mask && i < t->n; i++)
        if (g->mask[i] != (t->mask[i] != 0))
            return 0;
    if (g->n_bounds != t->nb || (t->nb && (!g->bounds || memcmp(g->bounds, t->bounds, 4 * (size_t)t->nb))))
        return 0;
    return 1;
}

/* The record's bytes inside a frame, written here independently of the library. */
static void encode_trec(llm_buf *b, const trec *t, int width)
{
    uint8_t w4[4];
    static const uint8_t zero[4];
    llm_store32(w4, t->n);
    llm_buf_append(b, w4, 4);
    llm_store32(w4, (t->mask ? LLM_RECORD_HAS_MASK : 0) | (t->nb ? LLM_RECORD_HAS_BOUNDS : 0));
    llm_buf_append(b, w4, 4);
    for (uint32_t i = 0; i < t->n; i++) {
        llm_store32(w4, t->tok[i]);
        llm_buf_append(b, w4, (size_t)width);
    }
    size_t tb = (size_t)t->n * width;
    llm_buf_append(b, zero, llm_pad4(tb) - tb);
    if (t->mask) {
        size_t mb = ((size_t)t->n + 7) / 8;
        for (size_t i = 0; i < mb; i++) {
            uint8_t byte = 0;
            for (size_t j = 0; j < 8 && 8 * i + j < t->n; j++)
                byte |= (uint8_t)((t->mask[8 * i + j] != 0) << j);
            llm_buf_append(b, &byte, 1);
        }
        llm_buf_append(b, zero, llm_pad4(mb) - mb);
    }
    if (t->nb) {
        llm_store32(w4, t->nb);
        llm_buf_append(b, w4, 4);
        llm_buf_append(b, t->bounds, 4 * (size_t)t->nb);
    }
}

static void make_header(llm_header *h, llm_kind kind, int width, uint32_t vocab, const char *tokenizer)
{
    llm_header_init(h);
    h->kind = kind;
    h->token_bytes = width;
    h->vocab_size = vocab;
    llm_header_set_tokenizer(h, tokenizer, "xxh64:0123456789abcdef");
    h->eos_id = vocab - 1;
}

static int contains(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

/* Errors met while reading must say where: "byte offset N" or the like. */
static int mentions_offset(const char *m)
{
    return (contains(m, "offset") || contains(m, "byte")) && strpbrk(m, "0123456789") != NULL;
}

/* ---- helpers: files, pipes, writing and reading ----------------------------------- */

static int mem_fd(void)
{
    int fd = memfd_create("llm-test", MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    return fd;
}

static void write_all_fd(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        b += k;
        n -= (size_t)k;
    }
}

/* Makes fd (a memfd or temporary file) hold exactly p[0..n), positioned at 0. */
static void fd_set_bytes(int fd, const void *p, size_t n)
{
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        abort();
    write_all_fd(fd, p, n);
    lseek(fd, 0, SEEK_SET);
}

static int mem_fd_with(const void *p, size_t n)
{
    int fd = mem_fd();
    fd_set_bytes(fd, p, n);
    return fd;
}

static uint8_t *read_until_eof(int fd, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *p = malloc(cap);
    for (;;) {
        if (n == cap)
            p = realloc(p, cap *= 2);
        ssize_t k = read(fd, p + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    *len = n;
    return p;
}

/* The whole content of a regular file, whatever its position. */
static uint8_t *fd_bytes(int fd, size_t *len)
{
    lseek(fd, 0, SEEK_SET);
    uint8_t *p = read_until_eof(fd, len);
    lseek(fd, 0, SEEK_SET);
    return p;
}

static int temp_file(char *path, size_t size)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, size, "%s/llm-test-stream.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        abort();
    }
    return fd;
}

/* A pipe whose read end delivers p[0..n), written by a child in random-sized pieces so the
 * reader meets short reads. Close the fd with pipe_done. */
static int pipe_from(const uint8_t *p, size_t n, pid_t *pid, uint64_t seed)
{
    int fds[2];
    if (pipe(fds) < 0)
        abort();
    fflush(stdout);
    fflush(stderr);
    *pid = fork();
    if (*pid < 0)
        abort();
    if (*pid == 0) {
        close(fds[0]);
        rng_seed(seed);
        for (size_t at = 0; at < n;) {
            size_t k = 1 + rng_below(rng_below(4) ? 4096 : 17);
            if (k > n - at)
                k = n - at;
            ssize_t w = write(fds[1], p + at, k);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                _exit(0);       /* the reader stopped early */
            at += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    return fds[0];
}

static void pipe_done(int fd, pid_t pid)
{
    close(fd);
    waitpid(pid, NULL, 0);
}

/* Writes records [0, n) as one stream on fd at put width `width`; checks the writer's counts.
 * Returns 0 or -1 (after a failed CHECK). */
static int write_recs(int fd, const llm_header *h, const llm_writer_opts *o, const trec *t, size_t n,
                      int width)
{
    llm_error err = {""};
    llm_writer *w = llm_writer_open(fd, h, o, &err);
    CHECKF(w != NULL, "llm_writer_open: %s", err.msg);
    if (!w)
        return -1;
    uint64_t tokens = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (put_trec(w, &t[i], width) < 0) {
            CHECKF(0, "llm_writer_put record %zu: %s", i, llm_writer_error(w));
            rc = -1;
        }
        tokens += t[i].n;
    }
    if (rc == 0 && llm_writer_finish(w) < 0) {
        CHECKF(0, "llm_writer_finish: %s", llm_writer_error(w));
        rc = -1;
    }
    if (rc == 0) {
        CHECK(llm_writer_records(w) == n);
        CHECK(llm_writer_tokens(w) == tokens);
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
            CHECKF((uint64_t)st.st_size == llm_writer_bytes(w), "file %jd bytes, writer says %" PRIu64,
                   (intmax_t)st.st_size, llm_writer_bytes(w));
    }
    llm_writer_free(w);
    return rc;
}

/* A whole stream in memory, written through a memfd (a regular file: index unless o says no). */
static uint8_t *make_stream(const llm_header *h, const llm_writer_opts *o, const trec *t, size_t n, int width,
                            size_t *len)
{
    int fd = mem_fd();
    uint8_t *p = NULL;
    *len = 0;
    if (write_recs(fd, h, o, t, n, width) == 0)
        p = fd_bytes(fd, len);
    close(fd);
    return p;
}

/* The same, written by a child process into a pipe (no index unless o forces one). */
static uint8_t *make_stream_piped(const llm_header *h, const llm_writer_opts *o, const trec *t, size_t n,
                                  int width, size_t *len)
{
    int fds[2];
    if (pipe(fds) < 0)
        abort();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        close(fds[0]);
        llm_error err = {""};
        llm_writer *w = llm_writer_open(fds[1], h, o, &err);
        int ok = w != NULL;
        for (size_t i = 0; ok && i < n; i++)
            ok = put_trec(w, &t[i], width) == 0;
        ok = ok && llm_writer_finish(w) == 0;
        if (!ok)
            fprintf(stderr, "writer in child: %s\n", w ? llm_writer_error(w) : err.msg);
        llm_writer_free(w);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    uint8_t *p = read_until_eof(fds[0], len);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer child status %d", status);
    return p;
}

typedef struct readres {
    int opened;        /* llm_reader_open succeeded */
    int rc;            /* the last llm_reader_next: 0 clean end, -1 error (also when open failed) */
    size_t records;    /* records returned */
    size_t bad;        /* of those, how many differ from the expected record at their position */
    size_t first_bad;
    uint64_t offset;   /* llm_reader_offset at the end */
    char msg[512];
} readres;

/* Reads every record of fd and compares each with want[i] at stream width `width`. When hwant
 * is given, the reader's first header must match it, provenance included. */
static void read_fd(int fd, const char *name, const trec *want, size_t nwant, int width,
                    const llm_header *hwant, readres *res)
{
    memset(res, 0, sizeof *res);
    res->rc = -1;
    llm_error err = {""};
    llm_reader *r = llm_reader_open(fd, name, &err);
    if (!r) {
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
        return;
    }
    res->opened = 1;
    if (hwant) {
        const llm_header *h = llm_reader_header(r);
        char why[256] = "";
        CHECKF(llm_header_compatible(hwant, h, why, sizeof why), "header read back differs: %s", why);
        CHECKF(strcmp(hwant->provenance, h->provenance) == 0, "provenance %s read back as %s",
               hwant->provenance, h->provenance);
    }
    llm_record rec;
    int rc;
    while ((rc = llm_reader_next(r, &rec)) == 1) {
        if (res->records >= nwant || !rec_equal(&rec, &want[res->records], width)) {
            if (res->bad++ == 0)
                res->first_bad = res->records;
        }
        if (++res->records > nwant + 1000)
            break;      /* a runaway reader: the count already tells */
    }
    res->rc = rc;
    if (rc < 0)
        snprintf(res->msg, sizeof res->msg, "%s", llm_reader_error(r));
    res->offset = llm_reader_offset(r);
    llm_reader_free(r);
}

/* Checks that fd reads back as exactly want[0..n), ending cleanly. */
static void expect_records(int fd, const char *name, const trec *want, size_t n, int width,
                           const llm_header *hwant, const char *what)
{
    readres res;
    read_fd(fd, name, want, n, width, hwant, &res);
    CHECKF(res.opened, "%s: open failed: %s", what, res.msg);
    CHECKF(res.rc == 0, "%s: read failed after %zu of %zu records: %s", what, res.records, n, res.msg);
    CHECKF(res.records == n, "%s: %zu records read, %zu written", what, res.records, n);
    CHECKF(res.bad == 0, "%s: %zu records differ, the first is record %zu", what, res.bad, res.first_bad);
}

/* ---- helpers: walking the bytes on disk ------------------------------------------- */

enum { FR_HEADER = 1, FR_DATA, FR_INDEX, FR_OTHER };

typedef struct frame_ent {
    int type;
    uint64_t offset, size;   /* the whole frame on disk */
    uint8_t *content;        /* data: decompressed content; skippable: the payload (owned) */
    size_t len;
} frame_ent;

typedef struct walk_t {
    frame_ent *f;
    size_t n;
} walk_t;

static void walk_free(walk_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->f[i].content);
    free(w->f);
    w->f = NULL;
    w->n = 0;
}

/* Splits a stream into its frames the way any zstd tool would, decompressing each data frame
 * on its own. Returns 0, or -1 with why. */
static int walk_stream(const uint8_t *p, size_t n, walk_t *w, char *why, size_t whylen)
{
    size_t at = 0, cap = 0;
    memset(w, 0, sizeof *w);
    while (at < n) {
        frame_ent e = {0};
        e.offset = at;
        if (n - at < 8) {
            snprintf(why, whylen, "%zu stray bytes at %zu", n - at, at);
            return -1;
        }
        uint32_t magic = llm_load32(p + at);
        if ((magic & LLM_MAGIC_SKIPPABLE_MASK) == LLM_MAGIC_SKIPPABLE) {
            uint32_t sz = llm_load32(p + at + 4);
            if (sz > n - at - 8) {
                snprintf(why, whylen, "skippable frame at %zu overruns the end", at);
                return -1;
            }
            e.type = magic == LLM_MAGIC_HEADER ? FR_HEADER : magic == LLM_MAGIC_INDEX ? FR_INDEX : FR_OTHER;
            e.size = 8 + (uint64_t)sz;
            e.len = sz;
            e.content = malloc(sz + 1);
            memcpy(e.content, p + at + 8, sz);
        } else if (magic == LLM_MAGIC_ZSTD) {
            size_t cs = ZSTD_findFrameCompressedSize(p + at, n - at);
            if (ZSTD_isError(cs)) {
                snprintf(why, whylen, "zstd frame at %zu: %s", at, ZSTD_getErrorName(cs));
                return -1;
            }
            unsigned long long ds = ZSTD_getFrameContentSize(p + at, cs);
            if (ds == ZSTD_CONTENTSIZE_ERROR || ds == ZSTD_CONTENTSIZE_UNKNOWN || ds > LLM_FRAME_MAX_CONTENT) {
                snprintf(why, whylen, "zstd frame at %zu: no usable content size", at);
                return -1;
            }
            if (!(p[at + 4] & 4) || cs < 4) {
                snprintf(why, whylen, "zstd frame at %zu has no content checksum", at);
                return -1;
            }
            e.type = FR_DATA;
            e.size = cs;
            e.len = (size_t)ds;
            e.content = malloc(e.len + 1);
            size_t got = ZSTD_decompress(e.content, e.len, p + at, cs);
            if (ZSTD_isError(got) || got != e.len) {
                snprintf(why, whylen, "zstd frame at %zu does not decompress on its own", at);
                free(e.content);
                return -1;
            }
            /* The frame's own checksum, recomputed: the low 32 bits of XXH64 of the content. */
            if (llm_load32(p + at + cs - 4) != (uint32_t)XXH64(e.content, e.len, 0)) {
                snprintf(why, whylen, "zstd frame at %zu: content checksum differs", at);
                free(e.content);
                return -1;
            }
        } else {
            snprintf(why, whylen, "unknown magic 0x%08" PRIx32 " at %zu", magic, at);
            return -1;
        }
        if (w->n == cap)
            w->f = realloc(w->f, (cap = cap ? 2 * cap : 16) * sizeof *w->f);
        w->f[w->n++] = e;
        at += (size_t)e.size;
    }
    return 0;
}

static int index_equal(const llm_index *a, const llm_index *b, char *why, size_t whylen)
{
    if (a->n_frames != b->n_frames || a->records != b->records || a->tokens != b->tokens) {
        snprintf(why, whylen, "%zu frames, %" PRIu64 " records, %" PRIu64 " tokens vs %zu, %" PRIu64 ", %" PRIu64,
                 a->n_frames, a->records, a->tokens, b->n_frames, b->records, b->tokens);
        return 0;
    }
    for (size_t i = 0; i < a->n_frames; i++) {
        const llm_frame_info *x = &a->frames[i], *y = &b->frames[i];
        if (x->offset != y->offset || x->first_record != y->first_record || x->records != y->records ||
            x->tokens != y->tokens) {
            snprintf(why, whylen,
                     "frame %zu: offset %" PRIu64 " first %" PRIu64 " records %" PRIu32 " tokens %" PRIu32
                     " vs %" PRIu64 " %" PRIu64 " %" PRIu32 " %" PRIu32,
                     i, x->offset, x->first_record, x->records, x->tokens, y->offset, y->first_record,
                     y->records, y->tokens);
            return 0;
        }
    }
    return 1;
}

/* Checks a stream's bytes against the records it should hold: every header payload, every data
 * frame holding whole records (its content is exactly their encoding) within frame_bytes (0: no
 * limit) unless it holds one record, and every index frame entry by entry. Fills *idx with the
 * data frames found (absolute offsets) and *all_indexed with whether every segment ends with an
 * index. Returns 0, or -1 after a failed CHECK. */
static int check_layout(const uint8_t *p, size_t n, const walk_t *w, const llm_header *h, const trec *want,
                        size_t nwant, size_t frame_bytes, llm_index *idx, int *all_indexed)
{
    const int width = h->token_bytes;
    size_t rec = 0, cap = 0, seg_first = 0;
    uint64_t seg_start = 0;
    int in_seg = 0, closed = 0, ok = 1;
    llm_buf b;
    llm_buf_init(&b);
    memset(idx, 0, sizeof *idx);
    *all_indexed = 1;
#define LAYOUT(cond, ...) do { if (!(cond)) { CHECKF(0, __VA_ARGS__); ok = 0; goto out; } } while (0)
    LAYOUT(w->n > 0 && w->f[0].type == FR_HEADER, "the stream does not start with a header frame");
    for (size_t i = 0; i < w->n; i++) {
        const frame_ent *e = &w->f[i];
        if (e->type == FR_HEADER) {
            LAYOUT(e->len >= 8 && memcmp(e->content, "LLMH", 4) == 0, "header frame at %" PRIu64 ": no LLMH tag",
                   e->offset);
            LAYOUT(llm_load32(e->content + 4) == (uint32_t)XXH64(e->content + 8, e->len - 8, 0),
                   "header frame at %" PRIu64 ": checksum", e->offset);
            llm_header hh;
            llm_error err = {""};
            LAYOUT(llm_header_from_json(&hh, (const char *)e->content + 8, e->len - 8, &err) == 0,
                   "header frame at %" PRIu64 ": %s", e->offset, err.msg);
            char why[256] = "";
            int same = llm_header_compatible(h, &hh, why, sizeof why);
            llm_header_free(&hh);
            LAYOUT(same, "header frame at %" PRIu64 ": %s", e->offset, why);
            if (in_seg && !closed)
                *all_indexed = 0;
            in_seg = 1;
            closed = 0;
            seg_start = e->offset;
            seg_first = idx->n_frames;
        } else if (e->type == FR_DATA) {
            LAYOUT(in_seg && !closed, "data frame at %" PRIu64 " outside a segment", e->offset);
            llm_buf_clear(&b);
            size_t k = 0;
            uint64_t tokens = 0;
            while (b.len < e->len && rec + k < nwant) {
                encode_trec(&b, &want[rec + k], width);
                tokens += want[rec + k].n;
                k++;
            }
            LAYOUT(k > 0 && b.len == e->len && memcmp(b.data, e->content, e->len) == 0,
                   "data frame at %" PRIu64 " (%zu bytes) is not whole records %zu.. as written", e->offset,
                   e->len, rec);
            LAYOUT(frame_bytes == 0 || e->len <= frame_bytes || k == 1,
                   "data frame at %" PRIu64 " holds %zu bytes in %zu records, above frame_bytes %zu", e->offset,
                   e->len, k, frame_bytes);
            if (idx->n_frames == cap)
                idx->frames = realloc(idx->frames, (cap = cap ? 2 * cap : 16) * sizeof *idx->frames);
            idx->frames[idx->n_frames++] = (llm_frame_info){.offset = e->offset, .first_record = rec,
                                                            .records = (uint32_t)k, .tokens = (uint32_t)tokens};
            idx->records += k;
            idx->tokens += tokens;
            rec += k;
        } else if (e->type == FR_INDEX) {
            LAYOUT(in_seg && !closed, "index frame at %" PRIu64 " outside a segment", e->offset);
            size_t entries = idx->n_frames - seg_first;
            LAYOUT(e->len == entries * LLM_INDEX_ENTRY + LLM_INDEX_FOOTER,
                   "index frame at %" PRIu64 ": %zu bytes for %zu frames", e->offset, e->len, entries);
            uint64_t records = 0, tokens = 0;
            for (size_t j = 0; j < entries; j++) {
                const uint8_t *q = e->content + j * LLM_INDEX_ENTRY;
                const llm_frame_info *f = &idx->frames[seg_first + j];
                LAYOUT(llm_load64(q) == f->offset - seg_start && llm_load32(q + 8) == f->records &&
                           llm_load32(q + 12) == f->tokens,
                       "index frame at %" PRIu64 ": entry %zu {%" PRIu64 ", %" PRIu32 ", %" PRIu32
                       "}, frame {%" PRIu64 ", %" PRIu32 ", %" PRIu32 "}",
                       e->offset, j, llm_load64(q), llm_load32(q + 8), llm_load32(q + 12), f->offset - seg_start,
                       f->records, f->tokens);
                records += f->records;
                tokens += f->tokens;
            }
            const uint8_t *foot = e->content + entries * LLM_INDEX_ENTRY;
            LAYOUT(llm_load64(foot) == e->offset - seg_start, "index frame at %" PRIu64 ": segment bytes %" PRIu64,
                   e->offset, llm_load64(foot));
            LAYOUT(llm_load64(foot + 8) == records && llm_load64(foot + 16) == tokens &&
                       llm_load32(foot + 24) == entries,
                   "index frame at %" PRIu64 ": footer totals", e->offset);
            LAYOUT(llm_load32(foot + 28) == (uint32_t)XXH64(e->content, e->len - 8, 0),
                   "index frame at %" PRIu64 ": checksum", e->offset);
            LAYOUT(memcmp(foot + 32, "LLMX", 4) == 0, "index frame at %" PRIu64 ": no LLMX tag", e->offset);
            closed = 1;
        } else {
            LAYOUT(0, "foreign skippable frame at %" PRIu64, e->offset);
        }
    }
    if (!closed)
        *all_indexed = 0;
    LAYOUT(rec == nwant, "the frames hold %zu records, %zu were written", rec, nwant);
    if (closed)
        LAYOUT(n >= 4 && memcmp(p + n - 4, "LLMX", 4) == 0, "an indexed file must end with LLMX");
#undef LAYOUT
out:
    llm_buf_free(&b);
    if (!ok)
        llm_index_free(idx);
    return ok ? 0 : -1;
}

/* walk_stream + check_layout, CHECKing both. */
static int layout_of(const uint8_t *p, size_t n, const llm_header *h, const trec *want, size_t nwant,
                     size_t frame_bytes, walk_t *w, llm_index *idx, int *all_indexed)
{
    char why[256] = "";
    memset(idx, 0, sizeof *idx);
    int rc = walk_stream(p, n, w, why, sizeof why);
    CHECKF(rc == 0, "walking the stream: %s", why);
    if (rc < 0)
        return -1;
    return check_layout(p, n, w, h, want, nwant, frame_bytes, idx, all_indexed);
}

/* Seeks to frame i of idx and checks that its records, then the first of the next frame (or a
 * clean end after the last), come out. Returns 0, or -1 when the reader reported an error. */
static int read_frame_at(llm_reader *r, const llm_index *idx, size_t i, const trec *want, size_t nwant,
                         int width, int check_next, const char *what)
{
    const llm_frame_info *f = &idx->frames[i];
    CHECKF(f->first_record + f->records <= nwant && (i + 1 == idx->n_frames || idx->frames[i + 1].first_record < nwant),
           "%s: frame %zu lists records past the %zu written", what, i, nwant);
    if (f->first_record + f->records > nwant || (i + 1 < idx->n_frames && idx->frames[i + 1].first_record >= nwant))
        return 0;
    if (llm_reader_seek(r, idx, i) < 0)
        return -1;
    llm_record rec;
    uint64_t tokens = 0;
    for (uint32_t j = 0; j < f->records; j++) {
        int rc = llm_reader_next(r, &rec);
        if (rc < 0)
            return -1;
        CHECKF(rc == 1, "%s: frame %zu ended after %" PRIu32 " of %" PRIu32 " records", what, i, j, f->records);
        if (rc != 1)
            return 0;
        CHECKF(rec_equal(&rec, &want[f->first_record + j], width), "%s: frame %zu record %" PRIu32 " differs",
               what, i, j);
        tokens += rec.n_tokens;
    }
    CHECKF(tokens == f->tokens, "%s: frame %zu has %" PRIu64 " tokens, index says %" PRIu32, what, i, tokens,
           f->tokens);
    if (check_next) {
        int rc = llm_reader_next(r, &rec);
        if (rc < 0)
            return -1;
        if (i + 1 < idx->n_frames)
            CHECKF(rc == 1 && rec_equal(&rec, &want[idx->frames[i + 1].first_record], width),
                   "%s: after frame %zu comes something else than frame %zu", what, i, i + 1);
        else
            CHECKF(rc == 0, "%s: no clean end after the last frame", what);
    }
    return 0;
}

/* Seeks to every frame in order, then to 200 random frames, on one reader. */
static void check_seeks(int fd, const char *name, const llm_index *idx, const trec *want, size_t nwant,
                        int width, const char *what)
{
    llm_error err = {""};
    lseek(fd, 0, SEEK_SET);
    llm_reader *r = llm_reader_open(fd, name, &err);
    CHECKF(r != NULL, "%s: %s", what, err.msg);
    if (!r)
        return;
    for (size_t i = 0; i < idx->n_frames; i++)
        if (read_frame_at(r, idx, i, want, nwant, width, 1, what) < 0) {
            CHECKF(0, "%s: frame %zu: %s", what, i, llm_reader_error(r));
            break;
        }
    for (int k = 0; k < 200 && idx->n_frames > 0; k++) {
        size_t i = rng_below(idx->n_frames);
        if (read_frame_at(r, idx, i, want, nwant, width, rng_below(2), what) < 0) {
            CHECKF(0, "%s: random seek to frame %zu: %s", what, i, llm_reader_error(r));
            break;
        }
    }
    llm_reader_free(r);
}

static int load_index_of(int fd, int scan, llm_index *idx, char *msg, size_t msglen)
{
    llm_error err = {""};
    lseek(fd, 0, SEEK_SET);
    memset(idx, 0, sizeof *idx);
    llm_reader *r = llm_reader_open(fd, "indexed.bin", &err);
    if (!r) {
        snprintf(msg, msglen, "open: %s", err.msg);
        return -2;
    }
    int rc = llm_reader_load_index(r, scan, idx);
    snprintf(msg, msglen, "%s", rc ? llm_reader_error(r) : "");
    llm_reader_free(r);
    return rc;
}

static int have_zstd_cli(void)
{
    static int have = -1;
    if (have < 0)
        have = system("command -v zstd >/dev/null 2>&1") == 0;
    return have;
}

/* `zstd -t` accepts the file and `zstd -dc` gives the records back to back. */
static void check_zstd_cli(const char *path, const trec *t, size_t n, int width)
{
    if (!have_zstd_cli())
        return;
    char cmd[8400], out[4100];
    snprintf(cmd, sizeof cmd, "zstd -q -t '%s'", path);
    CHECKF(system(cmd) == 0, "%s failed", cmd);
    snprintf(out, sizeof out, "%s.out", path);
    snprintf(cmd, sizeof cmd, "zstd -q -dc '%s' > '%s'", path, out);
    CHECKF(system(cmd) == 0, "%s failed", cmd);
    int fd = open(out, O_RDONLY);
    CHECK(fd >= 0);
    if (fd >= 0) {
        size_t len;
        uint8_t *got = read_until_eof(fd, &len);
        llm_buf b;
        llm_buf_init(&b);
        for (size_t i = 0; i < n; i++)
            encode_trec(&b, &t[i], width);
        CHECKF(len == b.len && (len == 0 || memcmp(got, b.data, len) == 0),
               "zstd -dc gives %zu bytes, the records are %zu", len, b.len);
        llm_buf_free(&b);
        free(got);
        close(fd);
    }
    unlink(out);
}

/* ---- the header ------------------------------------------------------------------- */

static char *json_of(const llm_header *h)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_header_to_json(h, &b);
    char *s = strndup(b.data ? b.data : "", b.len);
    llm_buf_free(&b);
    return s;
}

/* to_json, from_json, and the same JSON text again. */
static void check_header_round_trip(const llm_header *h)
{
    char *js = json_of(h);
    llm_header back;
    llm_error err = {""};
    int rc = llm_header_from_json(&back, js, strlen(js), &err);
    CHECKF(rc == 0, "%s: %s", js, err.msg);
    if (rc == 0) {
        CHECK(back.version == h->version && back.kind == h->kind && back.token_bytes == h->token_bytes);
        CHECK(back.vocab_size == h->vocab_size && back.block_size == h->block_size);
        CHECK(back.eos_id == h->eos_id && back.pad_id == h->pad_id && back.bos_id == h->bos_id);
        CHECK(strcmp(back.tokenizer_name, h->tokenizer_name) == 0);
        CHECK(strcmp(back.tokenizer_hash, h->tokenizer_hash) == 0);
        CHECKF(strcmp(back.provenance, h->provenance) == 0, "%s vs %s", back.provenance, h->provenance);
        CHECK(llm_header_compatible(h, &back, NULL, 0) == 1);
        char *again = json_of(&back);
        CHECKF(strcmp(js, again) == 0, "%s\nvs\n%s", js, again);
        free(again);
        llm_header_free(&back);
    }
    free(js);
}

static void test_header_json(void)
{
    llm_header h;
    CHECK(llm_header_init(&h) == 0);
    CHECK(h.version == LLM_STREAM_VERSION && h.kind == LLM_KIND_DOCS && h.token_bytes == 2);
    CHECK(h.eos_id == LLM_NO_TOKEN && h.pad_id == LLM_NO_TOKEN && h.bos_id == LLM_NO_TOKEN);
    CHECK(h.tokenizer_name && h.tokenizer_hash && strcmp(h.provenance, "[]") == 0);
    h.vocab_size = 50257;
    check_header_round_trip(&h);   /* every special absent */
    char *js = json_of(&h);
    CHECKF(contains(js, "\"eos\":null"), "%s", js);
    free(js);

    h.kind = LLM_KIND_BLOCKS;
    h.token_bytes = 4;
    h.vocab_size = 100277;
    h.block_size = 1024;
    h.eos_id = 100257;
    h.pad_id = 0;                  /* 0 is a token, not "absent" */
    CHECK(llm_header_set_tokenizer(&h, "cl100k_base", "xxh64:00ff00ff00ff00ff") == 0);
    char *argv1[] = {"llm-tokenize", "--field", "text", "quote\"back\\slash\nnewline\ttab", "\xc3\xbcn\xc3\xaf\xe2\x82\xac"};
    char *argv2[] = {"llm-pack", "-b", "1024"};
    CHECK(llm_header_add_step(&h, "llm-tokenize", 5, argv1) == 0);
    CHECK(llm_header_add_step(&h, "llm-pack", 3, argv2) == 0);
    CHECK(llm_header_add_step(&h, "llm-empty", 0, NULL) == 0);
    CHECKF(contains(h.provenance, "\"llm-tokenize\"") && contains(h.provenance, "\"1024\"") &&
               contains(h.provenance, "\"version\":\"" LLM_VERSION "\""), "%s", h.provenance);
    check_header_round_trip(&h);
    h.bos_id = 100276;             /* the last id */
    h.kind = LLM_KIND_DOCS;
    h.block_size = 0;
    check_header_round_trip(&h);

    /* Hand-written JSON: other field order, whitespace, specials left out. */
    static const char hand[] =
        " {\n \"provenance\" : [ {\"program\": \"x\", \"argv\": [\"a\", \"b\"]} ],\n"
        " \"special\": {}, \"block_size\": 0, \"tokenizer\": {\"hash\": \"h\", \"name\": \"gpt2\"},\n"
        " \"vocab_size\": 50257, \"token_bytes\": 2, \"kind\": \"docs\", \"version\": 1,\n"
        " \"format\": \"llm-stream\" }\n";
    llm_header g;
    llm_error err = {""};
    CHECKF(llm_header_from_json(&g, hand, sizeof hand - 1, &err) == 0, "%s", err.msg);
    if (!err.msg[0]) {
        CHECK(g.eos_id == LLM_NO_TOKEN && g.pad_id == LLM_NO_TOKEN && g.bos_id == LLM_NO_TOKEN);
        CHECK(strcmp(g.tokenizer_name, "gpt2") == 0 && strcmp(g.tokenizer_hash, "h") == 0);
        CHECKF(strcmp(g.provenance, "[{\"program\":\"x\",\"argv\":[\"a\",\"b\"]}]") == 0, "%s", g.provenance);
        check_header_round_trip(&g);
        llm_header_free(&g);
    }

    /* Copies own their strings. */
    llm_header c;
    CHECK(llm_header_copy(&c, &h) == 0);
    CHECK(c.tokenizer_name != h.tokenizer_name && c.provenance != h.provenance);
    CHECK(llm_header_set_tokenizer(&c, "other", "other-hash") == 0);
    CHECK(strcmp(h.tokenizer_name, "cl100k_base") == 0);
    llm_header_free(&c);
    llm_header_free(&c);           /* freeing twice is harmless */
    llm_header_free(NULL);

    /* Merging provenance appends the steps not already there, once. */
    llm_header a, b, want;
    make_header(&a, LLM_KIND_DOCS, 2, 50257, "gpt2");
    make_header(&b, LLM_KIND_DOCS, 2, 50257, "gpt2");
    make_header(&want, LLM_KIND_DOCS, 2, 50257, "gpt2");
    char *sa[] = {"llm-clean"}, *sb[] = {"llm-tokenize", "-j", "4"}, *sc[] = {"llm-tokenize", "-j", "8"};
    llm_header_add_step(&a, "llm-clean", 1, sa);
    llm_header_add_step(&a, "llm-tokenize", 3, sb);
    llm_header_add_step(&b, "llm-tokenize", 3, sb);
    llm_header_add_step(&b, "llm-tokenize", 3, sc);
    llm_header_add_step(&want, "llm-clean", 1, sa);
    llm_header_add_step(&want, "llm-tokenize", 3, sb);
    llm_header_add_step(&want, "llm-tokenize", 3, sc);
    CHECK(llm_header_merge_provenance(&a, &b) == 0);
    CHECKF(strcmp(a.provenance, want.provenance) == 0, "%s\nwanted\n%s", a.provenance, want.provenance);
    CHECK(llm_header_merge_provenance(&a, &b) == 0);
    CHECK(llm_header_merge_provenance(&a, &a) == 0);
    CHECKF(strcmp(a.provenance, want.provenance) == 0, "merging twice: %s", a.provenance);
    llm_header e;
    make_header(&e, LLM_KIND_DOCS, 2, 50257, "gpt2");
    CHECK(llm_header_merge_provenance(&e, &b) == 0);       /* into an empty list */
    CHECKF(strcmp(e.provenance, b.provenance) == 0, "%s vs %s", e.provenance, b.provenance);
    llm_header_free(&e);
    make_header(&e, LLM_KIND_DOCS, 2, 50257, "gpt2");
    CHECK(llm_header_merge_provenance(&a, &e) == 0);       /* from an empty list */
    CHECK(strcmp(a.provenance, want.provenance) == 0);
    check_header_round_trip(&a);
    llm_header_free(&a);
    llm_header_free(&b);
    llm_header_free(&e);
    llm_header_free(&want);
    llm_header_free(&h);

    CHECK(llm_token_bytes_for_vocab(1) == 2 && llm_token_bytes_for_vocab(65536) == 2);
    CHECK(llm_token_bytes_for_vocab(65537) == 4 && llm_token_bytes_for_vocab(UINT32_MAX) == 4);
    llm_kind k;
    CHECK(llm_kind_parse("docs", &k) == 0 && k == LLM_KIND_DOCS);
    CHECK(llm_kind_parse("blocks", &k) == 0 && k == LLM_KIND_BLOCKS);
    CHECK(llm_kind_parse("tokens", &k) == -1 && llm_kind_parse("", &k) == -1);
    CHECK(strcmp(llm_kind_name(LLM_KIND_DOCS), "docs") == 0 && strcmp(llm_kind_name(LLM_KIND_BLOCKS), "blocks") == 0);
}

/* One field changed from a valid header must make validation fail with a message. */
static void check_invalid(const llm_header *h, const char *what)
{
    llm_error err = {""};
    CHECKF(llm_header_validate(h, &err) == -1 && err.msg[0], "%s was accepted", what);
    /* The writer refuses it too. */
    int fd = mem_fd();
    err.msg[0] = '\0';
    llm_writer *w = llm_writer_open(fd, h, NULL, &err);
    CHECKF(w == NULL && err.msg[0], "llm_writer_open accepted %s", what);
    llm_writer_free(w);
    close(fd);
}

static void check_bad_json(const char *json, const char *what)
{
    llm_header h;
    llm_error err = {""};
    CHECKF(llm_header_from_json(&h, json, strlen(json), &err) == -1 && err.msg[0], "%s was accepted: %s", what,
           json);
}

static void test_header_validate(void)
{
    llm_header base, h;
    llm_error err = {""};
    make_header(&base, LLM_KIND_BLOCKS, 2, 50257, "gpt2");
    base.block_size = 1024;
    CHECKF(llm_header_validate(&base, &err) == 0, "%s", err.msg);

#define VARIANT(what, stmt) do { llm_header_copy(&h, &base); stmt; check_invalid(&h, what); llm_header_free(&h); } while (0)
    VARIANT("version 2", h.version = 2);
    VARIANT("version 0", h.version = 0);
    VARIANT("kind 3", h.kind = (llm_kind)3);
    VARIANT("kind 0", h.kind = (llm_kind)0);
    VARIANT("token_bytes 3", h.token_bytes = 3);
    VARIANT("token_bytes 1", h.token_bytes = 1);
    VARIANT("token_bytes 2 with vocab 70000", h.vocab_size = 70000; h.eos_id = 0);
    VARIANT("vocab 0", h.vocab_size = 0; h.eos_id = LLM_NO_TOKEN);
    VARIANT("eos == vocab", h.eos_id = 50257);
    VARIANT("pad above vocab", h.pad_id = 60000);
    VARIANT("bos -2", h.bos_id = -2);
    VARIANT("block size above the record limit", h.block_size = LLM_RECORD_MAX_TOKENS + 1);
#undef VARIANT

    /* The edges that are valid. */
    llm_header_copy(&h, &base);
    h.vocab_size = 65536;
    h.eos_id = 65535;
    CHECKF(llm_header_validate(&h, &err) == 0, "u16 with vocab 65536: %s", err.msg);
    h.token_bytes = 4;
    h.vocab_size = UINT32_MAX;
    h.eos_id = UINT32_MAX - 1;
    CHECKF(llm_header_validate(&h, &err) == 0, "u32 with vocab 2^32-1: %s", err.msg);
    llm_header_free(&h);
    llm_header_free(&base);

#define HJSON(ver, kind, tb, vocab, special, prov)                                                      \
    "{\"format\":\"llm-stream\",\"version\":" ver ",\"kind\":" kind ",\"token_bytes\":" tb                \
    ",\"vocab_size\":" vocab ",\"tokenizer\":{\"name\":\"gpt2\",\"hash\":\"h\"},\"special\":{" special      \
    "},\"block_size\":0,\"provenance\":" prov "}"
    llm_header ok;
    const char *good = HJSON("1", "\"docs\"", "2", "50257", "\"eos\":50256", "[]");
    CHECKF(llm_header_from_json(&ok, good, strlen(good), &err) == 0, "%s", err.msg);
    llm_header_free(&ok);
    check_bad_json(HJSON("2", "\"docs\"", "2", "50257", "", "[]"), "version 2");
    check_bad_json(HJSON("\"1\"", "\"docs\"", "2", "50257", "", "[]"), "version as a string");
    check_bad_json(HJSON("1", "3", "2", "50257", "", "[]"), "kind 3");
    check_bad_json(HJSON("1", "\"tokens\"", "2", "50257", "", "[]"), "kind tokens");
    check_bad_json(HJSON("1", "\"docs\"", "3", "50257", "", "[]"), "token_bytes 3");
    check_bad_json(HJSON("1", "\"docs\"", "2", "70000", "", "[]"), "token_bytes 2 with vocab 70000");
    check_bad_json(HJSON("1", "\"docs\"", "2", "0", "", "[]"), "vocab 0");
    check_bad_json(HJSON("1", "\"docs\"", "4", "-1", "", "[]"), "vocab -1");
    check_bad_json(HJSON("1", "\"docs\"", "4", "4294967296", "", "[]"), "vocab 2^32");
    check_bad_json(HJSON("1", "\"docs\"", "2", "50257", "\"eos\":50257", "[]"), "eos == vocab");
    check_bad_json(HJSON("1", "\"docs\"", "2", "50257", "\"pad\":-5", "[]"), "pad -5");
    check_bad_json(HJSON("1", "\"docs\"", "2", "50257", "\"bos\":\"x\"", "[]"), "bos a string");
    check_bad_json(HJSON("1", "\"docs\"", "2", "50257", "", "{}"), "provenance an object");
    check_bad_json(HJSON("1", "\"docs\"", "2", "50257", "", "[]") " x", "trailing garbage");
#undef HJSON
    check_bad_json("{\"format\":\"llm-stream\",\"version\":1,\"kind\":\"docs\",\"token_bytes\":2,"
                   "\"vocab_size\":50257,\"special\":{},\"block_size\":0,\"provenance\":[]}",
                   "missing tokenizer");
    check_bad_json("{\"format\":\"other\",\"version\":1,\"kind\":\"docs\",\"token_bytes\":2,"
                   "\"vocab_size\":50257,\"tokenizer\":{\"name\":\"gpt2\",\"hash\":\"h\"},\"special\":{},"
                   "\"block_size\":0,\"provenance\":[]}",
                   "format other");
    check_bad_json("{\"format\":\"llm-stream\",\"version\":1,\"kind\":\"docs\",\"token_bytes\":2,"
                   "\"vocab_size\":50257,\"tokenizer\":{\"name\":\"a\\u0001b\",\"hash\":\"h\"},\"special\":{},"
                   "\"block_size\":0,\"provenance\":[]}",
                   "control character in the tokenizer name");
    check_bad_json("[]", "an array");
    check_bad_json("{", "cut JSON");
    check_bad_json("", "nothing");
    check_bad_json("null", "null");
}

static llm_header variant_of(const llm_header *base)
{
    llm_header h;
    llm_header_copy(&h, base);
    return h;
}

/* Incompatible, and `why` names both sides. */
static void check_differ(const llm_header *a, const llm_header *b, const char *x, const char *y)
{
    char why[256] = "";
    CHECKF(llm_header_compatible(a, b, why, sizeof why) == 0, "%s vs %s: found compatible", x, y);
    CHECKF(contains(why, x) && contains(why, y), "why = \"%s\", wanted %s and %s", why, x, y);
}

static void test_header_compatible(void)
{
    llm_header a, b;
    make_header(&a, LLM_KIND_BLOCKS, 2, 50257, "gpt2");
    a.block_size = 1024;
    char *argv[] = {"llm-pack", "-b", "1024"};

    b = variant_of(&a);
    llm_header_add_step(&b, "llm-pack", 3, argv);
    CHECK(llm_header_compatible(&a, &b, NULL, 0) == 1);      /* provenance alone may differ */
    char why[64] = "unchanged";
    CHECK(llm_header_compatible(&a, &b, why, sizeof why) == 1);
    llm_header_free(&b);

    b = variant_of(&a);
    llm_header_set_tokenizer(&b, "cl100k_base", a.tokenizer_hash);
    check_differ(&a, &b, "gpt2", "cl100k_base");
    llm_header_free(&b);

    b = variant_of(&a);
    llm_header_set_tokenizer(&b, "gpt2", "xxh64:feedfeedfeedfeed");
    check_differ(&a, &b, "xxh64:0123456789abcdef", "xxh64:feedfeedfeedfeed");
    llm_header_free(&b);

    b = variant_of(&a);
    b.kind = LLM_KIND_DOCS;
    check_differ(&a, &b, "blocks", "docs");
    llm_header_free(&b);

    b = variant_of(&a);
    b.vocab_size = 50304;
    check_differ(&a, &b, "50257", "50304");
    llm_header_free(&b);

    b = variant_of(&a);
    b.token_bytes = 4;
    check_differ(&a, &b, "2", "4");
    llm_header_free(&b);

    b = variant_of(&a);
    b.block_size = 2048;
    check_differ(&a, &b, "1024", "2048");
    llm_header_free(&b);

    b = variant_of(&a);
    b.eos_id = 50000;
    check_differ(&a, &b, "50256", "50000");
    llm_header_free(&b);

    b = variant_of(&a);
    b.pad_id = 7;
    CHECK(llm_header_compatible(&a, &b, NULL, 0) == 0);
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    CHECK(llm_header_compatible(&a, &b, tiny, sizeof tiny) == 0);
    CHECK(memchr(tiny, '\0', sizeof tiny) != NULL);          /* cut short, still a string */
    llm_header_free(&b);
    llm_header_free(&a);
}

/* ---- round trips ------------------------------------------------------------------ */

typedef struct rt_config {
    const char *name;
    int width;            /* the stream's */
    int put_width;        /* the records handed to the writer */
    uint32_t vocab;
    int mask, bounds;
    size_t count;
    size_t frame_bytes;   /* 0: the default */
    int level;
} rt_config;

static void round_trip(const rt_config *c, uint64_t seed)
{
    rng_seed(seed);
    uint32_t gen_vocab = c->put_width == 2 && c->vocab > 65536 ? 65536 : c->vocab;
    genopts g = {gen_vocab, c->mask, c->bounds, 3000};
    trec *t = gen_records(c->count, &g);
    llm_header h;
    make_header(&h, LLM_KIND_DOCS, c->width, c->vocab, c->width == 2 ? "gpt2" : "o200k_base");
    char *argv[] = {"test_stream", (char *)c->name};
    llm_header_add_step(&h, "test_stream", 2, argv);
    llm_writer_opts o = {.level = c->level, .frame_bytes = c->frame_bytes, .index = -1};

    /* A temporary regular file: the writer adds an index by itself. */
    char path[4096];
    int fd = temp_file(path, sizeof path);
    if (write_recs(fd, &h, &o, t, c->count, c->put_width) == 0) {
        size_t len;
        uint8_t *file = fd_bytes(fd, &len);
        walk_t w;
        llm_index idx;
        int all_indexed = 0;
        uint64_t index_size = 0;
        if (layout_of(file, len, &h, t, c->count, c->frame_bytes ? c->frame_bytes : LLM_DEFAULT_FRAME_BYTES, &w,
                      &idx, &all_indexed) == 0) {
            CHECKF(all_indexed, "%s: a regular file got no index", c->name);
            index_size = w.f[w.n - 1].size;
            CHECKF(c->frame_bytes != 4096 || c->count < 100 || idx.n_frames > 10, "%s: only %zu frames",
                   c->name, idx.n_frames);
            llm_index got;
            char msg[512];
            int rc = load_index_of(fd, 0, &got, msg, sizeof msg);
            CHECKF(rc == 0, "%s: load_index: %d %s", c->name, rc, msg);
            if (rc == 0)
                CHECKF(index_equal(&got, &idx, msg, sizeof msg), "%s: load_index: %s", c->name, msg);
            llm_index_free(&got);
            llm_index_free(&idx);
            walk_free(&w);
        }
        lseek(fd, 0, SEEK_SET);
        expect_records(fd, path, t, c->count, c->width, &h, c->name);

        /* The same bytes through a pipe, delivered in pieces. */
        pid_t pid;
        int in = pipe_from(file, len, &pid, seed + 1);
        expect_records(in, "-", t, c->count, c->width, &h, c->name);
        pipe_done(in, pid);

        check_zstd_cli(path, t, c->count, c->width);

        /* Frames compressed on threads: the same bytes. */
        for (unsigned th = 2; th <= 3; th++) {
            llm_writer_opts to = o;
            to.threads = th;
            size_t tlen;
            uint8_t *threaded = make_stream(&h, &to, t, c->count, c->put_width, &tlen);
            CHECKF(threaded && tlen == len && memcmp(threaded, file, len) == 0, "%s: %u threads wrote other bytes",
                   c->name, th);
            free(threaded);
        }

        /* Written into a pipe: the same bytes without the index frame. */
        size_t plen;
        llm_writer_opts po = o;
        uint8_t *piped = make_stream_piped(&h, &po, t, c->count, c->put_width, &plen);
        walk_t pw;
        llm_index pidx;
        if (layout_of(piped, plen, &h, t, c->count, c->frame_bytes ? c->frame_bytes : LLM_DEFAULT_FRAME_BYTES,
                      &pw, &pidx, &all_indexed) == 0) {
            CHECKF(!all_indexed, "%s: piped output has an index", c->name);
            CHECKF(plen < len && memcmp(piped, file, plen) == 0 && len - plen == index_size,
                   "%s: piped output (%zu bytes) is not the file (%zu bytes) less its index", c->name, plen, len);
            llm_index_free(&pidx);
            walk_free(&pw);
        }
        in = pipe_from(piped, plen, &pid, seed + 2);
        expect_records(in, NULL, t, c->count, c->width, &h, c->name);
        pipe_done(in, pid);
        int m = mem_fd_with(piped, plen);
        expect_records(m, "piped.bin", t, c->count, c->width, &h, c->name);
        close(m);
        free(piped);
        free(file);
    }
    close(fd);
    unlink(path);
    free_records(t, c->count);
    llm_header_free(&h);
}

static void test_round_trip(void)
{
    static const rt_config configs[] = {
        {"u16", 2, 2, 50257, NEVER, NEVER, 2000, 4096, 0},
        {"u16 masks vocab 65536", 2, 2, 65536, ALWAYS, NEVER, 2000, 4096, 1},
        {"u16 masks bounds from u32 records", 2, 4, 50257, SOMETIMES, SOMETIMES, 2000, 4096, 3},
        {"u32 bounds", 4, 4, 100277, NEVER, ALWAYS, 2000, 4096, -1},
        {"u32 masks bounds vocab 2^32-1", 4, 4, UINT32_MAX, SOMETIMES, SOMETIMES, 2000, 4096, 9},
        {"u32 masks from u16 records", 4, 2, 200000, SOMETIMES, NEVER, 1500, 4096, 0},
        {"u16 one record per frame", 2, 2, 50257, SOMETIMES, SOMETIMES, 400, 1, 0},
        {"u32 default frame size", 4, 4, 128256, SOMETIMES, SOMETIMES, 1500, 0, 0},
        {"u16 empty stream", 2, 2, 50257, NEVER, NEVER, 0, 4096, 0},
        {"u32 one empty record", 4, 4, 100277, ALWAYS, NEVER, 1, 4096, 0},
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        round_trip(&configs[i], 1000 + i);

    /* Empty records with and without a mask, alone and mixed. */
    trec t[5] = {{0}};
    uint32_t tok[2] = {5, 6};
    uint8_t mask[2] = {0, 1};
    t[1].mask = mask;
    t[2].n = 2;
    t[2].tok = tok;
    t[2].mask = mask;
    t[4].mask = mask;
    llm_header h;
    make_header(&h, LLM_KIND_DOCS, 2, 10, "tiny");
    size_t len;
    uint8_t *p = make_stream(&h, NULL, t, 5, 2, &len);
    int fd = mem_fd_with(p, len);
    expect_records(fd, "empty-records.bin", t, 5, 2, &h, "empty records");
    close(fd);
    free(p);
    llm_header_free(&h);
}

/* ---- the writer refuses bad records and reports I/O errors ------------------------ */

static void test_writer_rejects(void)
{
    llm_header h;
    make_header(&h, LLM_KIND_DOCS, 2, 1000, "gpt2");
    int fd = mem_fd();
    llm_error err = {""};
    llm_writer *w = llm_writer_open(fd, &h, NULL, &err);
    CHECKF(w != NULL, "%s", err.msg);
    if (!w)
        return;
    uint16_t good[3] = {1, 2, 999}, bad[3] = {1, 1000, 2};
    uint32_t wide[2] = {5, 70000}, bounds_desc[2] = {2, 1}, bounds_past[2] = {0, 3};
    llm_record r = {.n_tokens = 3, .token_bytes = 2, .tokens = good};
    CHECK(llm_writer_put(w, &r) == 0);

    r.tokens = bad;
    CHECK(llm_writer_put(w, &r) == -1);
    CHECKF(contains(llm_writer_error(w), "1000"), "message: %s", llm_writer_error(w));

    llm_record rw = {.n_tokens = 2, .token_bytes = 4, .tokens = wide};  /* would wrap in a u16 */
    CHECK(llm_writer_put(w, &rw) == -1);
    CHECKF(contains(llm_writer_error(w), "70000"), "message: %s", llm_writer_error(w));

    r.tokens = good;
    r.n_bounds = 2;
    r.bounds = bounds_desc;
    CHECK(llm_writer_put(w, &r) == -1 && llm_writer_error(w)[0]);
    r.bounds = bounds_past;
    CHECK(llm_writer_put(w, &r) == -1 && llm_writer_error(w)[0]);
    r.n_bounds = 0;
    r.bounds = NULL;
    r.token_bytes = 3;
    CHECK(llm_writer_put(w, &r) == -1 && llm_writer_error(w)[0]);
    r.token_bytes = 2;
    r.n_tokens = LLM_RECORD_MAX_TOKENS + 1;     /* refused before its tokens are read */
    CHECK(llm_writer_put(w, &r) == -1 && llm_writer_error(w)[0]);
    r.n_tokens = 3;

    /* A refused record leaves the stream usable. */
    CHECK(llm_writer_put(w, &r) == 0);
    CHECK(llm_writer_finish(w) == 0);
    CHECK(llm_writer_records(w) == 2 && llm_writer_tokens(w) == 6);
    llm_writer_free(w);
    llm_writer_free(NULL);

    trec want[2] = {{.n = 3, .tok = (uint32_t[]){1, 2, 999}}, {.n = 3, .tok = (uint32_t[]){1, 2, 999}}};
    lseek(fd, 0, SEEK_SET);
    expect_records(fd, "rejects.bin", want, 2, 2, &h, "after refused records");
    close(fd);
    llm_header_free(&h);
}

static void test_writer_io_errors(void)
{
    llm_header h;
    make_header(&h, LLM_KIND_DOCS, 2, 50257, "gpt2");
    llm_error err = {""};

    int full = open("/dev/full", O_WRONLY);
    if (full >= 0) {
        llm_writer *w = llm_writer_open(full, &h, NULL, &err);
        CHECKF(w == NULL && err.msg[0], "/dev/full accepted the header");
        llm_writer_free(w);
        close(full);
    }
    /* A descriptor open for reading only. */
    char path[4096];
    int tmp = temp_file(path, sizeof path);
    int rdonly = open(path, O_RDONLY);
    err.msg[0] = '\0';
    llm_writer *w = llm_writer_open(rdonly, &h, NULL, &err);
    CHECKF(w == NULL && err.msg[0], "a read-only fd accepted the header");
    llm_writer_free(w);
    close(rdonly);
    close(tmp);
    unlink(path);

    /* A pipe whose reader goes away after the header: a later put or finish must fail. */
    int fds[2];
    if (pipe(fds) == 0) {
        w = llm_writer_open(fds[1], &h, &(llm_writer_opts){.frame_bytes = 1024}, &err);
        CHECKF(w != NULL, "%s", err.msg);
        close(fds[0]);
        int rc = 0;
        rng_seed(7);
        genopts g = {50257, NEVER, NEVER, 200};
        trec *t = gen_records(200, &g);
        for (size_t i = 0; w && i < 200 && rc == 0; i++)
            rc = put_trec(w, &t[i], 2);
        if (w && rc == 0)
            rc = llm_writer_finish(w);
        CHECKF(rc == -1, "writing into a closed pipe succeeded");
        if (w) {
            CHECKF(contains(llm_writer_error(w), "write"), "message: %s", llm_writer_error(w));
            CHECK(put_trec(w, &t[0], 2) == -1);     /* the failure sticks */
            CHECK(llm_writer_finish(w) == -1);
        }
        llm_writer_free(w);
        free_records(t, 200);
        close(fds[1]);
    }
    llm_header_free(&h);
}

/* Whatever the writer accepts, a reader reads back: a header field the reader refuses, or a
 * record too large for one frame, must be refused when written. */
static void test_writer_output_readable(void)
{
    static const char *const real[][2] = {{"gpt\n2", "xxh64:1"}, {"gpt2", "xxh64:\001"}, {"tab\there", "h"}};
    for (size_t i = 0; i < 3; i++) {
        llm_header h;
        make_header(&h, LLM_KIND_DOCS, 2, 1000, "x");
        llm_header_set_tokenizer(&h, real[i][0], real[i][1]);
        int fd = mem_fd();
        llm_error err = {""};
        llm_writer *w = llm_writer_open(fd, &h, NULL, &err);
        if (w) {
            CHECK(llm_writer_finish(w) == 0);
            llm_writer_free(w);
            lseek(fd, 0, SEEK_SET);
            llm_reader *r = llm_reader_open(fd, "odd-name.bin", &err);
            CHECKF(r != NULL, "the writer took tokenizer \"%s\"/\"%s\" but the reader refuses it: %s", real[i][0],
                   real[i][1], err.msg);
            llm_reader_free(r);
        }
        close(fd);
        llm_header_free(&h);
    }

    /* The largest record by token count, with a mask: more than LLM_FRAME_MAX_CONTENT in all.
     * calloc'd tokens that are only read stay on the zero page, so this costs little memory
     * once the writer refuses the record up front. */
    llm_header h;
    make_header(&h, LLM_KIND_DOCS, 4, 1000, "gpt2");
    const uint32_t n = LLM_RECORD_MAX_TOKENS;
    uint32_t *tok = calloc(n, 4);
    uint8_t *mask = calloc(n, 1);
    int fd = mem_fd();
    llm_error err = {""};
    llm_writer *w = llm_writer_open(fd, &h, &(llm_writer_opts){.level = 1}, &err);
    if (w && tok && mask) {
        llm_record r = {.n_tokens = n, .token_bytes = 4, .tokens = tok, .mask = mask};
        int put = llm_writer_put(w, &r);
        free(tok);
        free(mask);
        tok = NULL;
        mask = NULL;
        if (put == 0 && llm_writer_finish(w) == 0) {
            lseek(fd, 0, SEEK_SET);
            llm_reader *rd = llm_reader_open(fd, "big.bin", &err);
            llm_record rec;
            int rc = rd ? llm_reader_next(rd, &rec) : -1;
            CHECKF(rc == 1, "the writer took a record of %" PRIu32 " u32 tokens with a mask (%zu bytes), the "
                   "reader refuses it: %s", n, (size_t)8 + 4 * (size_t)n + llm_pad4(((size_t)n + 7) / 8),
                   rd ? llm_reader_error(rd) : err.msg);
            llm_reader_free(rd);
        } else {
            CHECKF(put == -1 && llm_writer_error(w)[0], "no message for a refused record");
        }
    }
    llm_writer_free(w);
    free(tok);
    free(mask);
    close(fd);
    llm_header_free(&h);
}

/* ---- frames, the index and random access ------------------------------------------ */

static void test_index_and_seek(void)
{
    rng_seed(2024);
    genopts g = {50257, SOMETIMES, SOMETIMES, 2000};
    const size_t n = 1500;
    trec *t = gen_records(n, &g);
    llm_header h;
    make_header(&h, LLM_KIND_BLOCKS, 2, 50257, "gpt2");
    llm_writer_opts with = {.frame_bytes = 4096, .index = 1}, without = {.frame_bytes = 4096, .index = 0};
    size_t la, lb;
    uint8_t *a = make_stream(&h, &with, t, n, 2, &la), *b = make_stream(&h, &without, t, n, 2, &lb);
    if (!a || !b)
        goto out;
    CHECKF(lb < la && memcmp(a, b, lb) == 0, "without an index (%zu bytes) is not a prefix of with (%zu)", lb, la);

    walk_t wa, wb;
    llm_index ia, ib;
    int all_a = 0, all_b = 1;
    if (layout_of(a, la, &h, t, n, 4096, &wa, &ia, &all_a) < 0)
        goto out;
    CHECK(all_a && wa.f[wa.n - 1].type == FR_INDEX && la - lb == wa.f[wa.n - 1].size);
    if (layout_of(b, lb, &h, t, n, 4096, &wb, &ib, &all_b) == 0) {
        CHECK(!all_b);
        char why[512];
        CHECKF(index_equal(&ia, &ib, why, sizeof why), "%s", why);
        llm_index_free(&ib);
        walk_free(&wb);
    }
    CHECKF(ia.n_frames > 50, "only %zu frames", ia.n_frames);

    int fa = mem_fd_with(a, la), fb = mem_fd_with(b, lb);
    llm_index got;
    char msg[512];
    int rc = load_index_of(fa, 0, &got, msg, sizeof msg);
    CHECKF(rc == 0 && index_equal(&got, &ia, msg, sizeof msg), "index read: %d %s", rc, msg);
    llm_index_free(&got);
    rc = load_index_of(fa, 1, &got, msg, sizeof msg);
    CHECKF(rc == 0 && index_equal(&got, &ia, msg, sizeof msg), "index read, scan allowed: %d %s", rc, msg);
    llm_index_free(&got);
    rc = load_index_of(fb, 0, &got, msg, sizeof msg);
    CHECKF(rc == 1 && got.n_frames == 0 && got.frames == NULL, "no index and no scan gave %d", rc);
    CHECKF(msg[0], "no message with the missing index");
    llm_index_free(&got);
    rc = load_index_of(fb, 1, &got, msg, sizeof msg);
    CHECKF(rc == 0 && index_equal(&got, &ia, msg, sizeof msg), "index scanned: %d %s", rc, msg);
    llm_index scanned = got;

    /* What a sequential read counts. */
    llm_error err = {""};
    lseek(fa, 0, SEEK_SET);
    llm_reader *r = llm_reader_open(fa, "a.bin", &err);
    CHECKF(r != NULL, "%s", err.msg);
    if (r) {
        llm_record rec;
        uint64_t records = 0, tokens = 0;
        while (llm_reader_next(r, &rec) == 1) {
            records++;
            tokens += rec.n_tokens;
        }
        CHECK(records == ia.records && tokens == ia.tokens && records == n);
        CHECK(llm_reader_offset(r) == la);
        llm_reader_free(r);
    }

    check_seeks(fa, "a.bin", &ia, t, n, 2, "indexed file");
    check_seeks(fb, "b.bin", &scanned, t, n, 2, "scanned file");
    llm_index_free(&scanned);

    /* Loading the index leaves the sequential position alone. */
    lseek(fa, 0, SEEK_SET);
    r = llm_reader_open(fa, "a.bin", &err);
    if (r) {
        llm_record rec;
        for (int i = 0; i < 10; i++)
            llm_reader_next(r, &rec);
        CHECK(llm_reader_load_index(r, 0, &got) == 0);
        CHECK(llm_reader_next(r, &rec) == 1 && rec_equal(&rec, &t[10], 2));
        CHECK(llm_reader_seek(r, &got, got.n_frames) == -1);    /* past the end */
        CHECKF(llm_reader_error(r)[0], "no message for a seek past the end");
        llm_index_free(&got);
        llm_index_free(&got);
        llm_index_free(NULL);
        llm_reader_free(r);
    }

    /* A pipe has no index to load. */
    pid_t pid;
    int in = pipe_from(a, la, &pid, 5);
    r = llm_reader_open(in, "-", &err);
    CHECKF(r != NULL, "%s", err.msg);
    if (r) {
        rc = llm_reader_load_index(r, 0, &got);
        CHECKF(rc != 0 && got.n_frames == 0, "load_index on a pipe gave %d", rc);
        llm_index_free(&got);
        llm_index dummy = {0};
        CHECK(llm_reader_seek(r, &ia, 0) == -1 || llm_reader_seek(r, &dummy, 0) == -1);
        llm_reader_free(r);
    }
    pipe_done(in, pid);

    close(fa);
    close(fb);
    llm_index_free(&ia);
    walk_free(&wa);
out:
    free(a);
    free(b);
    free_records(t, n);
    llm_header_free(&h);
}

/* An index that passes its own checksum but does not describe the data before it: the
 * sequential reader holds it against what it read; load_index at least finds it consistent. */
static void reseal_index(uint8_t *p, size_t len, size_t index_at)
{
    size_t payload = len - index_at - 8;
    llm_store32(p + len - 8, (uint32_t)XXH64(p + index_at + 8, payload - 8, 0));
}

static void test_index_lies(void)
{
    rng_seed(555);
    genopts g = {50257, SOMETIMES, SOMETIMES, 300};
    const size_t n = 200;
    trec *t = gen_records(n, &g);
    llm_header h;
    make_header(&h, LLM_KIND_DOCS, 2, 50257, "gpt2");
    size_t len;
    uint8_t *orig = make_stream(&h, &(llm_writer_opts){.frame_bytes = 2048, .index = 1}, t, n, 2, &len);
    walk_t w;
    llm_index idx;
    int all = 0;
    if (!orig || layout_of(orig, len, &h, t, n, 2048, &w, &idx, &all) < 0)
        goto out;
    size_t at = (size_t)w.f[w.n - 1].offset, entries = idx.n_frames;
    uint8_t *foot = NULL;
    uint8_t *p = malloc(len);
    int fd = mem_fd();
    for (int k = 0; k < 6; k++) {
        memcpy(p, orig, len);
        uint8_t *e = p + at + 8;
        foot = e + entries * LLM_INDEX_ENTRY;
        const char *what = "";
        switch (k) {
        case 0: /* one frame's records, and the total to match */
            what = "records of frame 1 off by one";
            llm_store32(e + LLM_INDEX_ENTRY + 8, llm_load32(e + LLM_INDEX_ENTRY + 8) + 1);
            llm_store64(foot + 8, llm_load64(foot + 8) + 1);
            break;
        case 1:
            what = "tokens of the last frame off by one";
            llm_store32(e + (entries - 1) * LLM_INDEX_ENTRY + 12, llm_load32(e + (entries - 1) * LLM_INDEX_ENTRY + 12) + 1);
            llm_store64(foot + 16, llm_load64(foot + 16) + 1);
            break;
        case 2:
            what = "records moved from frame 0 to frame 1";
            llm_store32(e + 8, llm_load32(e + 8) - 1);
            llm_store32(e + LLM_INDEX_ENTRY + 8, llm_load32(e + LLM_INDEX_ENTRY + 8) + 1);
            break;
        case 3:
            what = "offset of frame 2 moved";
            llm_store64(e + 2 * LLM_INDEX_ENTRY, llm_load64(e + 2 * LLM_INDEX_ENTRY) + 1);
            break;
        case 4:
            what = "footer total records only";
            llm_store64(foot + 8, llm_load64(foot + 8) + 1);
            break;
        case 5:
            what = "segment bytes";
            llm_store64(foot, llm_load64(foot) - 1);
            break;
        }
        reseal_index(p, len, at);
        fd_set_bytes(fd, p, len);
        readres res;
        read_fd(fd, "lying.bin", t, n, 2, NULL, &res);
        CHECKF(res.opened && res.rc == -1 && res.records == n && res.bad == 0 && mentions_offset(res.msg),
               "%s: rc %d after %zu records: %s", what, res.rc, res.records, res.msg);
        /* Random access never hands out a wrong record, whatever the index says. */
        llm_index got;
        char msg[512];
        int rc = load_index_of(fd, 0, &got, msg, sizeof msg);
        if (rc == 0) {
            llm_error err;
            lseek(fd, 0, SEEK_SET);
            llm_reader *r = llm_reader_open(fd, "lying.bin", &err);
            for (size_t i = 0; r && i < got.n_frames; i++) {
                const llm_frame_info *f = &got.frames[i];
                if (llm_reader_seek(r, &got, i) < 0)
                    break;
                llm_record rec;
                for (uint32_t j = 0; j < f->records; j++) {
                    int rr = llm_reader_next(r, &rec);
                    if (rr != 1)
                        break;
                    /* Where the index says a frame starts, the record there must be real: it is
                     * one of the originals (same content at some position). */
                    int found = 0;
                    for (size_t q = 0; q < n && !found; q++)
                        found = rec_equal(&rec, &t[q], 2);
                    CHECKF(found, "%s: seek to frame %zu gave a record that was never written", what, i);
                }
            }
            llm_reader_free(r);
        }
        llm_index_free(&got);
    }
    free(p);
    close(fd);
    llm_index_free(&idx);
    walk_free(&w);
out:
    free(orig);
    free_records(t, n);
    llm_header_free(&h);
}

/* ---- concatenation ---------------------------------------------------------------- */

static uint8_t *concat(const uint8_t *a, size_t la, const uint8_t *b, size_t lb, size_t *len)
{
    uint8_t *p = malloc(la + lb + 1);
    memcpy(p, a, la);
    memcpy(p + la, b, lb);
    *len = la + lb;
    return p;
}

static void test_concat(void)
{
    rng_seed(77);
    genopts g = {50257, SOMETIMES, SOMETIMES, 1500};
    const size_t na = 300, nb = 200;
    trec *t = gen_records(na + nb, &g);     /* a's records, then b's */
    llm_header ha, hb, he;
    make_header(&ha, LLM_KIND_DOCS, 2, 50257, "gpt2");
    make_header(&hb, LLM_KIND_DOCS, 2, 50257, "gpt2");
    make_header(&he, LLM_KIND_DOCS, 2, 50257, "gpt2");
    char *sa[] = {"llm-tokenize", "shard-a"}, *sb[] = {"llm-tokenize", "shard-b"};
    llm_header_add_step(&ha, "llm-tokenize", 2, sa);
    llm_header_add_step(&hb, "llm-tokenize", 2, sb);
    llm_writer_opts ix = {.frame_bytes = 4096, .index = 1}, nx = {.frame_bytes = 4096, .index = 0};
    size_t la, lb, le, lan, lbn, len;
    uint8_t *a = make_stream(&ha, &ix, t, na, 2, &la), *b = make_stream(&hb, &ix, t + na, nb, 2, &lb);
    uint8_t *e = make_stream(&he, &ix, NULL, 0, 2, &le);
    uint8_t *an = make_stream(&ha, &nx, t, na, 2, &lan), *bn = make_stream(&hb, &nx, t + na, nb, 2, &lbn);
    if (!a || !b || !e || !an || !bn)
        goto out;

    /* a, an empty stream, then b: all indexed. */
    uint8_t *ae = concat(a, la, e, le, &len);
    size_t lab;
    uint8_t *ab = concat(ae, len, b, lb, &lab);
    free(ae);
    walk_t w;
    llm_index want;
    int all = 0;
    if (layout_of(ab, lab, &ha, t, na + nb, 4096, &w, &want, &all) == 0) {
        CHECK(all);
        int fd = mem_fd_with(ab, lab);
        readres res;
        read_fd(fd, "ab.bin", t, na + nb, 2, &ha, &res);
        CHECKF(res.rc == 0 && res.records == na + nb && res.bad == 0, "a+b: %zu records, %zu bad: %s",
               res.records, res.bad, res.msg);
        lseek(fd, 0, SEEK_SET);
        llm_error err = {""};
        llm_reader *r = llm_reader_open(fd, "ab.bin", &err);
        if (r) {
            llm_record rec;
            while (llm_reader_next(r, &rec) == 1) {
            }
            const llm_header *m = llm_reader_merged_header(r);
            CHECKF(contains(m->provenance, "shard-a") && contains(m->provenance, "shard-b"), "merged %s",
                   m->provenance);
            CHECKF(!contains(llm_reader_header(r)->provenance, "shard-b"), "first %s",
                   llm_reader_header(r)->provenance);
            llm_reader_free(r);
        }
        /* The same provenance through the indexes, before any record. */
        lseek(fd, 0, SEEK_SET);
        if ((r = llm_reader_open(fd, "ab.bin", &err))) {
            int rc = llm_reader_load_provenance(r);
            const llm_header *m = llm_reader_merged_header(r);
            CHECKF(rc == 0 && contains(m->provenance, "shard-a") && contains(m->provenance, "shard-b"),
                   "through indexes: %d %s", rc, m->provenance);
            llm_reader_free(r);
        }
        llm_index got;
        char msg[512];
        int rc = load_index_of(fd, 0, &got, msg, sizeof msg);
        CHECKF(rc == 0 && index_equal(&got, &want, msg, sizeof msg), "chained indexes: %d %s", rc, msg);
        llm_index_free(&got);
        check_seeks(fd, "ab.bin", &want, t, na + nb, 2, "a+empty+b");

        pid_t pid;
        int in = pipe_from(ab, lab, &pid, 9);
        expect_records(in, "-", t, na + nb, 2, &ha, "a+empty+b through a pipe");
        pipe_done(in, pid);
        close(fd);
        llm_index_free(&want);
        walk_free(&w);
    }
    free(ab);

    /* Some part without an index: only a scan gives one. */
    const struct {
        const uint8_t *x;
        size_t lx;
        const uint8_t *y;
        size_t ly;
        const char *what;
    } parts[] = {{an, lan, b, lb, "unindexed a + b"}, {a, la, bn, lbn, "a + unindexed b"},
                 {an, lan, bn, lbn, "unindexed a + unindexed b"}};
    for (size_t k = 0; k < 3; k++) {
        uint8_t *p = concat(parts[k].x, parts[k].lx, parts[k].y, parts[k].ly, &len);
        int fd = mem_fd_with(p, len);
        expect_records(fd, "mixed.bin", t, na + nb, 2, &ha, parts[k].what);
        if (layout_of(p, len, &ha, t, na + nb, 4096, &w, &want, &all) == 0) {
            CHECK(!all);
            llm_index got;
            char msg[512];
            int rc = load_index_of(fd, 0, &got, msg, sizeof msg);
            CHECKF(rc == 1, "%s: no scan gave %d (%s)", parts[k].what, rc, msg);
            llm_index_free(&got);
            lseek(fd, 0, SEEK_SET);
            llm_error err = {""};
            llm_reader *r = llm_reader_open(fd, "mixed.bin", &err);
            CHECKF(r && llm_reader_load_provenance(r) == 1, "%s: provenance without every index", parts[k].what);
            llm_reader_free(r);
            rc = load_index_of(fd, 1, &got, msg, sizeof msg);
            CHECKF(rc == 0 && index_equal(&got, &want, msg, sizeof msg), "%s: scan: %d %s", parts[k].what, rc, msg);
            if (rc == 0)
                check_seeks(fd, "mixed.bin", &got, t, na + nb, 2, parts[k].what);
            llm_index_free(&got);
            llm_index_free(&want);
            walk_free(&w);
        }
        close(fd);
        free(p);
    }

    /* The same stream three times over. */
    {
        size_t l2, l3;
        uint8_t *p2 = concat(a, la, a, la, &l2), *p3 = concat(p2, l2, a, la, &l3);
        trec *t3 = calloc(3 * na, sizeof *t3);
        for (size_t i = 0; i < 3 * na; i++)
            t3[i] = t[i % na];
        int fd = mem_fd_with(p3, l3);
        expect_records(fd, "aaa.bin", t3, 3 * na, 2, &ha, "a+a+a");
        if (layout_of(p3, l3, &ha, t3, 3 * na, 4096, &w, &want, &all) == 0) {
            llm_index got;
            char msg[512];
            int rc = load_index_of(fd, 0, &got, msg, sizeof msg);
            CHECKF(rc == 0 && index_equal(&got, &want, msg, sizeof msg), "a+a+a: %d %s", rc, msg);
            CHECK(got.records == 3 * na);
            llm_index_free(&got);
            llm_index_free(&want);
            walk_free(&w);
        }
        close(fd);
        free(t3);
        free(p2);
        free(p3);
    }

    /* Different data: refused with both sides named, after a's records. */
    const struct {
        const char *name;
        llm_kind kind;
        int width;
        uint32_t vocab;
        const char *x, *y;
    } other[] = {{"cl100k_base", LLM_KIND_DOCS, 2, 50257, "gpt2", "cl100k_base"},
                 {"gpt2", LLM_KIND_BLOCKS, 2, 50257, "docs", "blocks"},
                 {"gpt2", LLM_KIND_DOCS, 2, 50304, "50257", "50304"}};
    for (size_t k = 0; k < 3; k++) {
        llm_header hc;
        make_header(&hc, other[k].kind, other[k].width, other[k].vocab, other[k].name);
        hc.eos_id = ha.eos_id;
        size_t lc;
        uint8_t *c = make_stream(&hc, &ix, t + na, nb, 2, &lc);
        uint8_t *p = concat(a, la, c, lc, &len);
        int fd = mem_fd_with(p, len);
        readres res;
        read_fd(fd, "ac.bin", t, na + nb, 2, &ha, &res);
        CHECKF(res.rc == -1 && res.records == na && res.bad == 0, "a + %s: rc %d after %zu records", other[k].x,
               res.rc, res.records);
        CHECKF(contains(res.msg, other[k].x) && contains(res.msg, other[k].y) && contains(res.msg, "ac.bin"),
               "message: %s", res.msg);
        char at[32];
        snprintf(at, sizeof at, "%zu", la);
        CHECKF(contains(res.msg, at), "message does not give offset %s: %s", at, res.msg);
        llm_index got;
        char msg[512];
        int rc = load_index_of(fd, 0, &got, msg, sizeof msg);
        CHECKF(rc == -1, "a + %s: load_index gave %d", other[k].x, rc);
        llm_index_free(&got);
        pid_t pid;
        int in = pipe_from(p, len, &pid, 11);
        read_fd(in, "-", t, na + nb, 2, &ha, &res);
        CHECKF(res.rc == -1 && res.records == na && res.bad == 0 && contains(res.msg, other[k].y),
               "a + %s through a pipe: %s", other[k].x, res.msg);
        pipe_done(in, pid);
        close(fd);
        free(p);
        free(c);
        llm_header_free(&hc);
    }

out:
    free(a);
    free(b);
    free(e);
    free(an);
    free(bn);
    free_records(t, na + nb);
    llm_header_free(&ha);
    llm_header_free(&hb);
    llm_header_free(&he);
}

/* ---- truncation and corruption ---------------------------------------------------- */

/* A small stream of several frames: u16 with masks and bounds, indexed, a few KB. */
typedef struct small_stream {
    trec *t;
    size_t n;
    llm_header h;
    uint8_t *p;
    size_t len;
    walk_t w;
    llm_index idx;
} small_stream;

static int small_stream_make(small_stream *s, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    rng_seed(seed);
    genopts g = {50257, SOMETIMES, SOMETIMES, 40};
    s->n = 36;
    s->t = gen_records(s->n, &g);
    for (size_t i = 0; i < s->n; i++)    /* short records: a few KB in all */
        if (s->t[i].n > 40)
            s->t[i].n = 40;
    make_header(&s->h, LLM_KIND_BLOCKS, 2, 50257, "gpt2");
    char *argv[] = {"llm-pack", "-b", "40"};
    llm_header_add_step(&s->h, "llm-pack", 3, argv);
    /* Bounds cut to the shortened records. */
    for (size_t i = 0; i < s->n; i++) {
        trec *t = &s->t[i];
        while (t->nb && t->bounds[t->nb - 1] >= t->n)
            t->nb--;
    }
    llm_writer_opts o = {.frame_bytes = 300, .index = 1};
    s->p = make_stream(&s->h, &o, s->t, s->n, 2, &s->len);
    int all = 0;
    if (!s->p || layout_of(s->p, s->len, &s->h, s->t, s->n, 300, &s->w, &s->idx, &all) < 0)
        return -1;
    CHECKF(s->idx.n_frames >= 5 && s->len < 8192, "%zu frames in %zu bytes", s->idx.n_frames, s->len);
    return 0;
}

static void small_stream_free(small_stream *s)
{
    free_records(s->t, s->n);
    llm_header_free(&s->h);
    free(s->p);
    walk_free(&s->w);
    llm_index_free(&s->idx);
}

/* Records in the data frames that end at or before byte L. */
static size_t records_before(const small_stream *s, size_t L, int *boundary)
{
    size_t records = 0, k = 0;
    *boundary = s->w.n > 0 && L == s->w.f[0].offset + s->w.f[0].size;
    for (size_t i = 0; i < s->w.n; i++) {
        const frame_ent *e = &s->w.f[i];
        if (e->type != FR_DATA)
            continue;
        if (e->offset + e->size <= L)
            records += s->idx.frames[k].records;   /* idx lists the data frames in walk order */
        if (e->offset + e->size == L)
            *boundary = 1;
        k++;
    }
    return records;
}

static void check_truncated(const small_stream *s, size_t L, readres *res, const char *how)
{
    int boundary;
    size_t complete = records_before(s, L, &boundary);
    size_t header_end = (size_t)s->w.f[0].size;
    CHECKF(res->bad == 0, "%s to %zu bytes: record %zu differs", how, L, res->first_bad);
    if (!res->opened) {
        CHECKF(L < header_end, "%s to %zu bytes: open failed with the header whole: %s", how, L, res->msg);
        CHECKF(contains(res->msg, "cut.bin") || contains(res->msg, "stdin"), "%s to %zu: message %s", how, L,
               res->msg);
        return;
    }
    CHECKF(L >= header_end, "%s to %zu bytes: opened with %zu header bytes missing", how, L, header_end - L);
    CHECKF(res->records == complete, "%s to %zu bytes: %zu records, %zu complete ones", how, L, res->records,
           complete);
    if (res->rc == 0) {
        CHECKF(boundary, "%s to %zu bytes: clean end inside a frame after %zu records", how, L, res->records);
        CHECKF(res->offset == L, "%s to %zu bytes: offset %" PRIu64 " at the end", how, L, res->offset);
    } else {
        CHECKF(res->rc == -1 && mentions_offset(res->msg), "%s to %zu bytes: rc %d, message %s", how, L, res->rc,
               res->msg);
    }
}

static void test_truncation(void)
{
    small_stream s;
    if (small_stream_make(&s, 31337) < 0) {
        small_stream_free(&s);
        return;
    }
    int fd = mem_fd();
    readres res;
    for (size_t L = 0; L < s.len; L++) {
        fd_set_bytes(fd, s.p, L);
        read_fd(fd, "cut.bin", s.t, s.n, 2, &s.h, &res);
        check_truncated(&s, L, &res, "cut");
        if (!res.opened)
            continue;
        /* The index is gone with the end of the file; a scan lists the complete frames. */
        llm_index idx;
        char msg[512];
        int boundary, rc = load_index_of(fd, 0, &idx, msg, sizeof msg);
        CHECKF(rc == 1, "cut to %zu bytes: load_index without a scan gave %d: %s", L, rc, msg);
        llm_index_free(&idx);
        rc = load_index_of(fd, 1, &idx, msg, sizeof msg);
        records_before(&s, L, &boundary);
        CHECKF(rc == (boundary ? 0 : -1), "cut to %zu bytes: scan gave %d: %s", L, rc, msg);
        if (rc == 0) {
            int same = idx.n_frames <= s.idx.n_frames;
            for (size_t i = 0; same && i < idx.n_frames; i++)
                same = idx.frames[i].offset == s.idx.frames[i].offset &&
                       idx.frames[i].records == s.idx.frames[i].records &&
                       idx.frames[i].tokens == s.idx.frames[i].tokens;
            CHECKF(same && idx.records == res.records, "cut to %zu bytes: scanned index differs", L);
        }
        llm_index_free(&idx);
    }
    /* Through a pipe: every frame edge and its neighbours, and a sample in between. */
    for (size_t L = 0; L < s.len; L++) {
        int near = 0;
        for (size_t i = 0; i < s.w.n; i++) {
            size_t edge = (size_t)(s.w.f[i].offset + s.w.f[i].size);
            near |= L + 1 >= edge && L <= edge + 1;
        }
        if (!near && L % 41 != 0)
            continue;
        pid_t pid;
        int in = pipe_from(s.p, L, &pid, L);
        read_fd(in, "-", s.t, s.n, 2, &s.h, &res);
        pipe_done(in, pid);
        check_truncated(&s, L, &res, "piped cut");
    }
    close(fd);
    small_stream_free(&s);
}

/* "data frame at 120, byte 4 of 300": where a damaged byte lies, for messages. */
static const char *frame_kind_at(const small_stream *s, size_t off)
{
    static char where[96];
    static const char *kinds[] = {"?", "header", "data", "index", "other"};
    snprintf(where, sizeof where, "past the end");
    for (size_t i = 0; i < s->w.n; i++)
        if (off >= s->w.f[i].offset && off < s->w.f[i].offset + s->w.f[i].size)
            snprintf(where, sizeof where, "%s frame at %" PRIu64 ", byte %" PRIu64 " of %" PRIu64,
                     kinds[s->w.f[i].type], s->w.f[i].offset, off - s->w.f[i].offset, s->w.f[i].size);
    return where;
}

/* Reads a damaged copy: every record that comes out is the original, and the damage is either
 * reported with an offset or harmless (all records, clean end). Then the same through the index.
 * Returns 1 when the damage went unnoticed. */
static int check_damaged(const small_stream *s, int fd, const uint8_t *p, const char *what)
{
    readres res;
    fd_set_bytes(fd, p, s->len);
    read_fd(fd, "damaged.bin", s->t, s->n, 2, &s->h, &res);
    CHECKF(res.bad == 0, "%s: record %zu differs from the original", what, res.first_bad);
    int unnoticed = 0;
    if (res.opened && res.rc == 0) {
        CHECKF(res.records == s->n, "%s: clean end after %zu of %zu records", what, res.records, s->n);
        unnoticed = 1;
    } else if (res.opened) {
        CHECKF(mentions_offset(res.msg), "%s: message without an offset: %s", what, res.msg);
    } else {
        CHECKF(res.msg[0], "%s: open failed without a message", what);
    }

    /* Random access must not hand out damaged records either. */
    llm_index idx;
    char msg[512];
    int rc = load_index_of(fd, 0, &idx, msg, sizeof msg);
    if (rc == -2)
        return unnoticed;
    int same = rc == 0 && index_equal(&idx, &s->idx, msg, sizeof msg);
    CHECKF(rc == -1 || rc == 1 || same, "%s: load_index gave %d: %s", what, rc, msg);
    if (same) {
        llm_reader *r = NULL;
        llm_error err;
        for (size_t i = 0; i < idx.n_frames; i++) {
            if (!r) {
                lseek(fd, 0, SEEK_SET);
                r = llm_reader_open(fd, "damaged.bin", &err);
                if (!r)
                    break;
            }
            if (read_frame_at(r, &idx, i, s->t, s->n, 2, 0, what) < 0) {
                CHECKF(mentions_offset(llm_reader_error(r)), "%s: seek to %zu: %s", what, i, llm_reader_error(r));
                llm_reader_free(r);
                r = NULL;
            }
        }
        llm_reader_free(r);
    }
    llm_index_free(&idx);
    return unnoticed;
}

static void test_corruption(void)
{
    small_stream s;
    if (small_stream_make(&s, 4242) < 0) {
        small_stream_free(&s);
        return;
    }
    int verbose = getenv("LLM_TEST_VERBOSE") != NULL;
    int fd = mem_fd();
    uint8_t *p = malloc(s.len);
    char what[128];
    size_t unnoticed = 0;
    for (size_t off = 0; off < s.len; off++) {
        memcpy(p, s.p, s.len);
        p[off] ^= 0xFF;
        snprintf(what, sizeof what, "byte %zu (%s) inverted", off, frame_kind_at(&s, off));
        if (check_damaged(&s, fd, p, what)) {
            unnoticed++;
            if (verbose)
                fprintf(stderr, "unnoticed: %s\n", what);
        }
    }
    /* Single bit flips, and a few multi-byte smudges. */
    rng_seed(99);
    size_t flips_unnoticed = 0;
    for (int k = 0; k < 3000; k++) {
        memcpy(p, s.p, s.len);
        size_t off = rng_below(s.len);
        int bit = (int)rng_below(8);
        p[off] ^= (uint8_t)(1u << bit);
        snprintf(what, sizeof what, "bit %d of byte %zu (%s) flipped", bit, off, frame_kind_at(&s, off));
        if (check_damaged(&s, fd, p, what)) {
            flips_unnoticed++;
            if (verbose)
                fprintf(stderr, "unnoticed: %s\n", what);
        }
    }
    for (int k = 0; k < 300; k++) {
        memcpy(p, s.p, s.len);
        size_t off = rng_below(s.len), n = 1 + rng_below(16);
        for (size_t i = off; i < off + n && i < s.len; i++)
            p[i] = (uint8_t)rng();
        snprintf(what, sizeof what, "bytes %zu..%zu (%s) replaced", off, off + n, frame_kind_at(&s, off));
        check_damaged(&s, fd, p, what);
    }
    if (verbose)
        fprintf(stderr, "%zu bytes: %zu inversions and %zu of 3000 bit flips unnoticed (all records intact)\n",
                s.len, unnoticed, flips_unnoticed);
    free(p);
    close(fd);
    small_stream_free(&s);
}

/* ---- hand-made frames the writer never produces ----------------------------------- */

static void append_frame(llm_buf *b, const void *content, size_t n, int checksum, int content_size)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, content_size);
    size_t cap = ZSTD_compressBound(n);
    uint8_t *z = malloc(cap);
    ZSTD_inBuffer in = {content, n, 0};
    ZSTD_outBuffer out = {z, cap, 0};
    size_t rc;
    if (content_size) {
        rc = ZSTD_compress2(c, z, cap, content, n);
        out.pos = ZSTD_isError(rc) ? 0 : rc;
    } else {
        do
            rc = ZSTD_compressStream2(c, &out, &in, ZSTD_e_end);
        while (rc != 0 && !ZSTD_isError(rc));
    }
    llm_buf_append(b, z, out.pos);
    free(z);
    ZSTD_freeCCtx(c);
}

/* The header frame of a u16 gpt2-like stream with a vocabulary of 1000. */
static void header_bytes(llm_buf *b, llm_header *h)
{
    make_header(h, LLM_KIND_DOCS, 2, 1000, "gpt2");
    size_t len;
    llm_writer_opts o = {.index = 0};
    uint8_t *p = make_stream(h, &o, NULL, 0, 2, &len);
    llm_buf_append(b, p, len);
    free(p);
}

/* Reading `b` must fail at next() with an offset in the message, after `records` records. */
static void expect_refused(const llm_buf *b, size_t records, const char *what, const char *word)
{
    int fd = mem_fd_with(b->data, b->len);
    llm_error err = {""};
    llm_reader *r = llm_reader_open(fd, "crafted.bin", &err);
    CHECKF(r != NULL, "%s: open: %s", what, err.msg);
    if (r) {
        llm_record rec;
        size_t k = 0;
        int rc;
        while ((rc = llm_reader_next(r, &rec)) == 1)
            k++;
        CHECKF(rc == -1 && k == records, "%s: rc %d after %zu records", what, rc, k);
        const char *m = llm_reader_error(r);
        CHECKF(rc != -1 || (mentions_offset(m) && contains(m, "crafted.bin")), "%s: message %s", what, m);
        CHECKF(rc != -1 || !word || contains(m, word), "%s: message %s lacks \"%s\"", what, m, word);
        llm_reader_free(r);
    }
    close(fd);
}

static void test_crafted_frames(void)
{
    llm_header h;
    llm_buf b, rec;
    llm_buf_init(&b);
    llm_buf_init(&rec);
    header_bytes(&b, &h);
    size_t head = b.len;
    uint32_t tok[3] = {1, 2, 999};
    trec good = {.n = 3, .tok = tok};
    encode_trec(&rec, &good, 2);

    /* A frame made here the way the writer would: read back. */
    append_frame(&b, rec.data, rec.len, 1, 1);
    int fd = mem_fd_with(b.data, b.len);
    expect_records(fd, "crafted.bin", &good, 1, 2, NULL, "hand-made frame");
    close(fd);

    b.len = head;
    append_frame(&b, rec.data, rec.len, 0, 1);
    expect_refused(&b, 0, "frame without a checksum", NULL);
    b.len = head;
    append_frame(&b, rec.data, rec.len, 1, 0);
    expect_refused(&b, 0, "frame without a content size", NULL);

    /* A frame header that claims more content than a reader may allocate. */
    b.len = head;
    static const uint8_t huge[] = {0x28, 0xB5, 0x2F, 0xFD, 0xA4, 0x00, 0x00, 0x00, 0x20,  /* 512 MiB */
                                   0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    llm_buf_append(&b, huge, sizeof huge);
    expect_refused(&b, 0, "frame above LLM_FRAME_MAX_CONTENT", "limit");

    /* Contents that are not whole valid records. */
    struct {
        const char *what;
        uint32_t words[8];
        size_t nbytes;
    } bad[] = {
        {"a record header cut short", {3, 0}, 5},
        {"tokens past the frame", {3, 0, 0x00020001}, 12},
        {"2^32-1 tokens", {0xFFFFFFFFu, 0, 1, 2}, 16},
        {"token id 1000 of 1000", {2, 0, 0x03E80001}, 12},
        {"unknown flag bit", {2, 4, 0x00020001}, 12},
        {"bounds descending", {2, 2, 0x00020001, 2, 1, 0}, 24},
        {"bound past the record", {2, 2, 0x00020001, 1, 2}, 20},
        {"more bounds than tokens", {1, 2, 0x00000001, 2, 0, 0}, 24},
        {"bounds cut short", {2, 2, 0x00020001, 3, 0}, 20},
        {"mask cut short", {2, 1, 0x00020001}, 12},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b.len = head;
        llm_buf content;
        llm_buf_init(&content);
        llm_buf_append(&content, rec.data, rec.len);               /* a good record first */
        llm_buf_append(&content, bad[i].words, bad[i].nbytes);
        append_frame(&b, content.data, content.len, 1, 1);
        expect_refused(&b, 0, bad[i].what, NULL);
        llm_buf_free(&content);
    }

    /* After a whole indexed stream, a bare data frame or stray bytes are errors. */
    llm_buf_clear(&b);
    llm_header_free(&h);
    make_header(&h, LLM_KIND_DOCS, 2, 1000, "gpt2");
    size_t len;
    uint8_t *p = make_stream(&h, &(llm_writer_opts){.index = 1}, &good, 1, 2, &len);
    llm_buf_append(&b, p, len);
    free(p);
    size_t whole = b.len;
    append_frame(&b, rec.data, rec.len, 1, 1);
    expect_refused(&b, 1, "a data frame after the index", NULL);
    b.len = whole;
    llm_buf_append(&b, "abc", 3);
    expect_refused(&b, 1, "3 stray bytes at the end", NULL);
    b.len = whole;
    llm_buf_append(&b, "\x28\xb5\x2f\xfd", 4);
    expect_refused(&b, 1, "a lone zstd magic at the end", NULL);

    /* Headers: a bad JSON under a good checksum, and a size beyond any limit. */
    static const char js[] = "{\"format\":\"llm-stream\",\"version\":7}";
    uint8_t frame[8 + 8 + sizeof js];
    llm_store32(frame, LLM_MAGIC_HEADER);
    llm_store32(frame + 4, 8 + sizeof js - 1);
    memcpy(frame + 8, "LLMH", 4);
    llm_store32(frame + 12, (uint32_t)XXH64(js, sizeof js - 1, 0));
    memcpy(frame + 16, js, sizeof js - 1);
    fd = mem_fd_with(frame, sizeof frame - 1);
    llm_error err = {""};
    llm_reader *r = llm_reader_open(fd, "crafted.bin", &err);
    CHECKF(r == NULL && contains(err.msg, "version") && contains(err.msg, "crafted.bin"), "message %s", err.msg);
    llm_reader_free(r);
    llm_store32(frame + 4, 0xFFFFFFF0u);
    fd_set_bytes(fd, frame, sizeof frame - 1);
    r = llm_reader_open(fd, "crafted.bin", &err);
    CHECKF(r == NULL && err.msg[0], "a header of 4 GiB was accepted");
    llm_reader_free(r);
    /* Plain zstd data, no header. */
    llm_buf_clear(&b);
    append_frame(&b, rec.data, rec.len, 1, 1);
    fd_set_bytes(fd, b.data, b.len);
    r = llm_reader_open(fd, "crafted.bin", &err);
    CHECKF(r == NULL && err.msg[0], "zstd data without a header was accepted");
    llm_reader_free(r);
    close(fd);

    llm_buf_free(&b);
    llm_buf_free(&rec);
    llm_header_free(&h);
}

/* ---- messages name their input ---------------------------------------------------- */

static void test_error_names(void)
{
    static const char junk[] = "this is not a stream at all";
    int fd = mem_fd_with(junk, sizeof junk - 1);
    llm_error err = {""};
    llm_reader *r = llm_reader_open(fd, "my-input.bin", &err);
    CHECKF(r == NULL && contains(err.msg, "my-input.bin"), "message: %s", err.msg);
    llm_reader_free(r);
    lseek(fd, 0, SEEK_SET);
    r = llm_reader_open(fd, NULL, &err);
    CHECKF(r == NULL && contains(err.msg, "stdin"), "message for NULL: %s", err.msg);
    llm_reader_free(r);
    lseek(fd, 0, SEEK_SET);
    r = llm_reader_open(fd, "-", &err);
    CHECKF(r == NULL && contains(err.msg, "stdin"), "message for -: %s", err.msg);
    llm_reader_free(r);
    close(fd);

    fd = mem_fd();
    r = llm_reader_open(fd, "empty.bin", &err);
    CHECKF(r == NULL && contains(err.msg, "empty.bin"), "message for an empty file: %s", err.msg);
    llm_reader_free(r);
    close(fd);

    /* A stream cut inside its data: next() names the input. */
    llm_header h;
    make_header(&h, LLM_KIND_DOCS, 2, 50257, "gpt2");
    rng_seed(5);
    genopts g = {50257, NEVER, NEVER, 100};
    trec *t = gen_records(50, &g);
    size_t len;
    uint8_t *p = make_stream(&h, NULL, t, 50, 2, &len);
    fd = mem_fd_with(p, len / 2);
    readres res;
    read_fd(fd, "half.bin", t, 50, 2, &h, &res);
    CHECKF(res.rc == -1 && contains(res.msg, "half.bin") && mentions_offset(res.msg), "message: %s", res.msg);
    close(fd);

    /* A damaged index: load_index names the input. */
    p[len - 10] ^= 1;
    fd = mem_fd_with(p, len);
    llm_index idx;
    char msg[512];
    int rc = load_index_of(fd, 0, &idx, msg, sizeof msg);
    CHECKF(rc == -1 && contains(msg, "indexed.bin"), "damaged index: %d %s", rc, msg);
    llm_index_free(&idx);
    close(fd);
    free(p);
    free_records(t, 50);
    llm_header_free(&h);
}

int main(void)
{
    const char *seed = getenv("LLM_TEST_SEED");
    if (seed)
        seed_salt = strtoull(seed, NULL, 0);
    signal(SIGPIPE, SIG_IGN);
    RUN(test_header_json);
    RUN(test_header_validate);
    RUN(test_header_compatible);
    RUN(test_round_trip);
    RUN(test_writer_rejects);
    RUN(test_writer_io_errors);
    RUN(test_writer_output_readable);
    RUN(test_index_and_seek);
    RUN(test_index_lies);
    RUN(test_concat);
    RUN(test_truncation);
    RUN(test_corruption);
    RUN(test_crafted_frames);
    RUN(test_error_names);
    CHECK_EXIT();
}

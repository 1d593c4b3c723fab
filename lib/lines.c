/* Line reader over a file descriptor: one growing buffer, lines returned in place with
 * LLM_JSON_PADDING readable bytes after each so simdjson can parse them without a copy.
 * A large regular file is mapped instead of read: its lines are handed out where they
 * lie, which saves the kernel's copy and lets callers keep them without one (see
 * llm_lines_stable). The lines that end too close to the mapping's end for the padding
 * go through the buffer as usual. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "lines.h"

#define LINES_START_SIZE (64 * 1024)
/* Smaller files are read: mapping costs more than copying them. */
#define LINES_MAP_MIN (1u << 20)
/* Pages of a mapping are given back in steps of this many bytes (see llm_lines_release). */
#define LINES_RELEASE_STEP (16u << 20)
#define LINES_POPULATE_STEP (4u << 20)

struct llm_lines {
    int fd;
    char *buf;         /* size + LLM_JSON_PADDING bytes */
    size_t size;       /* room for data, not counting the padding */
    size_t start;      /* first byte not yet returned */
    size_t scan;       /* bytes before this (from start) hold no '\n' */
    size_t end;        /* end of the bytes read */
    int eof;
    uint64_t number;
    uint64_t offset;
    uint64_t bytes;
    /* The mapping, when there is one: bytes [map_pos, map_len) of map are still to be
     * handed out; map_readable bytes of it may be read (the file rounded up to a page). */
    char *map_base;       /* as mmap returned it, page aligned */
    size_t map_base_len;
    const char *map;      /* the data from the fd's position on */
    size_t map_len, map_pos, map_readable;
    size_t released;      /* bytes of map_base whose pages were given back */
    size_t populated;     /* bytes of map whose page tables are filled in */
    off_t fd_start;       /* the fd's position when opened */
    int stable;           /* the last line returned lies in the mapping */
};

/* Maps fd when it is a large regular file, from its current position to its end. A
 * file that grows while it is read is read up to its size at the start; one that
 * shrinks makes its missing pages fault (SIGBUS), as with any mapped reader. */
static void lines_try_map(llm_lines *l)
{
    struct stat st;
    off_t pos = lseek(l->fd, 0, SEEK_CUR);
    if (pos < 0 || fstat(l->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size - pos < (off_t)LINES_MAP_MIN)
        return;
    long page = sysconf(_SC_PAGESIZE);
    off_t base = pos - pos % page;
    if ((uint64_t)(st.st_size - base) > SIZE_MAX - (size_t)page)
        return;
    size_t len = (size_t)(st.st_size - base);
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, l->fd, base);
    if (p == MAP_FAILED)
        return;
    /* Reading goes on after the mapped bytes, where the buffer takes over. */
    if (lseek(l->fd, st.st_size, SEEK_SET) < 0) {
        munmap(p, len);
        return;
    }
    madvise(p, len, MADV_SEQUENTIAL);
    l->map_base = p;
    l->map_base_len = len;
    l->map = (const char *)p + (pos - base);
    l->map_len = (size_t)(st.st_size - pos);
    l->map_readable = (len + (size_t)page - 1) / (size_t)page * (size_t)page - (size_t)(pos - base);
    l->fd_start = pos;
}

llm_lines *llm_lines_open(int fd)
{
    llm_lines *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->buf = malloc(LINES_START_SIZE + LLM_JSON_PADDING);
    if (l->buf == NULL) {
        free(l);
        return NULL;
    }
    l->fd = fd;
    l->size = LINES_START_SIZE;
    memset(l->buf, 0, LLM_JSON_PADDING);
    lines_try_map(l);
    return l;
}

void llm_lines_close(llm_lines *l)
{
    if (l == NULL)
        return;
    if (l->map_base) {
        munmap(l->map_base, l->map_base_len);
        /* Leave the fd where reading would have: after the bytes consumed. */
        lseek(l->fd, l->fd_start + (off_t)l->bytes, SEEK_SET);
    }
    free(l->buf);
    free(l);
}

/* Moves the unreturned bytes to the front; cheap because it is only done when the
 * tail is short, and then the pending bytes are one partial line. */
static void lines_compact(llm_lines *l)
{
    size_t pending = l->end - l->start;
    if (l->start == 0)
        return;
    memmove(l->buf, l->buf + l->start, pending);
    l->scan -= l->start;
    l->end = pending;
    l->start = 0;
}

static int lines_grow(llm_lines *l, llm_error *err)
{
    if (l->size > (SIZE_MAX - LLM_JSON_PADDING) / 2)
        return llm_error_set(err, "line too long (over %zu bytes)", l->size);
    size_t size = l->size * 2;
    /* realloc copies the whole buffer or remaps it; compacting first keeps that small. */
    char *buf = realloc(l->buf, size + LLM_JSON_PADDING);
    if (buf == NULL)
        return llm_error_set(err, "out of memory reading a line of over %zu bytes", l->end);
    l->buf = buf;
    l->size = size;
    return 0;
}

/* Makes sure a read can fetch at least a quarter of the buffer, so that each byte is
 * moved a bounded number of times however long its line is. */
static int lines_make_room(llm_lines *l, llm_error *err)
{
    if (l->start == l->end) {
        l->start = l->scan = l->end = 0;
    }
    if (l->size - l->end >= l->size / 4)
        return 0;
    lines_compact(l);
    if (l->size - l->end >= l->size / 4)
        return 0;
    return lines_grow(l, err);
}

/* Reads once more; returns 0 (l->eof set at end of input) or -1. */
static int lines_fill(llm_lines *l, llm_error *err)
{
    if (lines_make_room(l, err) < 0)
        return -1;
    ssize_t n;
    do {
        n = read(l->fd, l->buf + l->end, l->size - l->end);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return llm_error_set(err, "read error: %s", strerror(errno));
    if (n == 0)
        l->eof = 1;
    l->end += (size_t)n;
    /* The padding is never data, but zeroing it keeps valgrind and parsers calm. */
    memset(l->buf + l->end, 0, LLM_JSON_PADDING);
    return 0;
}

/* Hands out buf[start, start+len) and consumes `len + eol` bytes. */
static int lines_take(llm_lines *l, size_t len, size_t eol, const char **line, size_t *out_len)
{
    *line = l->buf + l->start;
    *out_len = len;
    l->number++;
    l->offset = l->bytes;
    l->bytes += len + eol;
    l->start += len + eol;
    l->scan = l->start;
    return 1;
}

/* The rest of the mapping goes to the buffer, which reads on from the fd's position
 * after it (the end of the file as it was mapped). */
static int lines_rest_to_buffer(llm_lines *l, llm_error *err)
{
    size_t rest = l->map_len - l->map_pos;
    while (l->size < rest)
        if (lines_grow(l, err) < 0)
            return -1;
    memcpy(l->buf, l->map + l->map_pos, rest);
    memset(l->buf + rest, 0, LLM_JSON_PADDING);
    l->start = l->scan = 0;
    l->end = rest;
    l->map_pos = l->map_len;
    return 0;
}

/* Fills in the page tables a stretch ahead of the reader in one call: cheaper than a
 * page fault every few pages. A kernel without MADV_POPULATE_READ faults as usual. */
static void lines_populate(llm_lines *l)
{
#ifdef MADV_POPULATE_READ
    if (l->map_pos + LINES_POPULATE_STEP / 2 < l->populated || l->populated >= l->map_len)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t to = l->map_pos + LINES_POPULATE_STEP < l->map_len ? l->map_pos + LINES_POPULATE_STEP : l->map_len;
    const char *a = l->map + l->populated;
    a -= (uintptr_t)a % page;
    if (madvise((void *)a, (size_t)(l->map + to - a), MADV_POPULATE_READ) < 0)
        to = l->map_len;   /* not supported: leave it to faults */
    l->populated = to;
#else
    (void)l;
#endif
}

/* Next line from the mapping: 1, or 0 when the next one must come from the buffer. */
static int lines_next_mapped(llm_lines *l, const char **line, size_t *len)
{
    lines_populate(l);
    const char *p = l->map + l->map_pos;
    size_t rest = l->map_len - l->map_pos;
    const char *nl = memchr(p, '\n', rest);
    size_t n = nl ? (size_t)(nl - p) : rest;
    if (rest == 0 || l->map_pos + n + LLM_JSON_PADDING > l->map_readable)
        return 0;
    *line = p;
    *len = n;
    l->number++;
    l->offset = l->bytes;
    l->bytes += n + (nl != NULL);
    l->map_pos += n + (nl != NULL);
    return 1;
}

int llm_lines_next(llm_lines *l, const char **line, size_t *len, llm_error *err)
{
    l->stable = 0;
    if (l->map_pos < l->map_len) {
        if (lines_next_mapped(l, line, len))
            return l->stable = 1;
        if (lines_rest_to_buffer(l, err) < 0)
            return -1;
    }
    for (;;) {
        if (l->scan < l->end) {
            const char *nl = memchr(l->buf + l->scan, '\n', l->end - l->scan);
            if (nl != NULL)
                return lines_take(l, (size_t)(nl - (l->buf + l->start)), 1, line, len);
            l->scan = l->end;
        }
        if (l->eof) {
            if (l->start == l->end)
                return 0;
            /* The last line lacks '\n'; the zeroed padding follows it. */
            return lines_take(l, l->end - l->start, 0, line, len);
        }
        if (lines_fill(l, err) < 0)
            return -1;
    }
}

/* Bytes of the mapping that can be handed out with their padding readable after them. */
static size_t lines_mapped_ready(const llm_lines *l)
{
    if (l->map_pos >= l->map_len || l->map_readable < LLM_JSON_PADDING)
        return 0;
    size_t limit = l->map_readable - LLM_JSON_PADDING;
    size_t end = l->map_len < limit ? l->map_len : limit;
    return end > l->map_pos ? end - l->map_pos : 0;
}

int llm_lines_peek(llm_lines *l, size_t want, const char **p, size_t *len, int *stable, llm_error *err)
{
    l->stable = 0;
    if (l->map_pos < l->map_len) {
        size_t ready = lines_mapped_ready(l);
        if (ready >= want || ready == l->map_len - l->map_pos) {
            lines_populate(l);
            *p = l->map + l->map_pos;
            *len = ready;
            *stable = 1;
            return 1;
        }
        /* The mapping's last bytes lack room for the padding: the buffer takes them. */
        if (lines_rest_to_buffer(l, err) < 0)
            return -1;
    }
    while (l->end - l->start < want && !l->eof)
        if (lines_fill(l, err) < 0)
            return -1;
    *p = l->buf + l->start;
    *len = l->end - l->start;
    *stable = 0;
    return *len > 0;
}

void llm_lines_skip(llm_lines *l, size_t n)
{
    l->bytes += n;
    if (l->map_pos < l->map_len) {
        l->map_pos += n;
        return;
    }
    l->start += n;
    l->scan = l->start;
}

int llm_lines_stable(const llm_lines *l)
{
    return l->stable;
}

void llm_lines_release(llm_lines *l, const char *upto)
{
    if (l->map_base == NULL || upto < l->map_base || upto > l->map_base + l->map_base_len)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t end = (size_t)(upto - l->map_base) / page * page;
    if (end < l->released + LINES_RELEASE_STEP)
        return;
    /* The pages stay in the page cache; only this process's mapping of them goes, which
     * keeps its resident size bounded however large the file. */
    madvise(l->map_base + l->released, end - l->released, MADV_DONTNEED);
    l->released = end;
}

uint64_t llm_lines_number(const llm_lines *l)
{
    return l->number;
}

uint64_t llm_lines_offset(const llm_lines *l)
{
    return l->offset;
}

uint64_t llm_lines_bytes(const llm_lines *l)
{
    return l->bytes;
}

/* Line reader over a file descriptor: one growing buffer, lines returned in place with
 * LLM_JSON_PADDING readable bytes after each so simdjson can parse them without a copy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "lines.h"

#define LINES_START_SIZE (64 * 1024)

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
};

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
    return l;
}

void llm_lines_close(llm_lines *l)
{
    if (l == NULL)
        return;
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

int llm_lines_next(llm_lines *l, const char **line, size_t *len, llm_error *err)
{
    for (;;) {
        if (l->scan < l->end) {
            char *nl = memchr(l->buf + l->scan, '\n', l->end - l->scan);
            if (nl != NULL) {
                /* The '\n' is consumed; a NUL in its place makes the line a C string. */
                *nl = '\0';
                return lines_take(l, (size_t)(nl - (l->buf + l->start)), 1, line, len);
            }
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

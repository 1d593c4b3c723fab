/* llm-cat --from=ids|raw: records from data tokenized elsewhere. ids is the JSONL that
 * --to=ids writes ({"input_ids":[...],"labels":[...]} with -100 for masked tokens); raw is a
 * flat little-endian token array such as nanoGPT's train.bin. */
#include "cat.h"
#include "json.h"
#include "lines.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REPORTED_SKIPS 5
#define HF_IGNORE_INDEX (-100)   /* Hugging Face's label for "not in the loss" */

struct cat_import {
    const cat_opts *o;
    const llm_header *h;
    const char *name;
    int fd;
    llm_lines *lines;
    llm_json_parser *json;

    uint8_t *raw;              /* --from=raw: unread bytes are raw[raw_pos..raw_len) */
    size_t raw_pos, raw_len;
    uint64_t raw_bytes;
    int raw_eof;

    uint32_t *tokens;
    uint8_t *mask;
    uint32_t *bounds;
    size_t cap, bounds_cap;
    uint64_t skipped;
};

enum { RAW_CHUNK = 1 << 20 };

cat_import *cat_import_open(const cat_opts *o, int fd, const char *name)
{
    cat_import *im = calloc(1, sizeof *im);
    if (!im)
        goto oom;
    im->o = o;
    im->h = &o->import;
    im->name = strcmp(name, "-") ? name : "(stdin)";
    im->fd = fd;
    if (o->from == CAT_FROM_IDS) {
        im->lines = llm_lines_open(fd);
        im->json = llm_json_parser_new();
        if (!im->lines || !im->json)
            goto oom;
    } else if (!(im->raw = malloc(RAW_CHUNK))) {
        goto oom;
    }
    return im;
oom:
    llm_msg("out of memory");
    cat_import_free(im);
    return NULL;
}

void cat_import_free(cat_import *im)
{
    if (!im)
        return;
    llm_lines_close(im->lines);
    llm_json_parser_free(im->json);
    free(im->raw);
    free(im->tokens);
    free(im->mask);
    free(im->bounds);
    free(im);
}

uint64_t cat_import_skipped(const cat_import *im) { return im->skipped; }

uint64_t cat_import_bytes(const cat_import *im)
{
    return im->lines ? llm_lines_bytes(im->lines) : im->raw_bytes;
}

static int reserve(cat_import *im, size_t n)
{
    if (n <= im->cap)
        return 0;
    size_t cap = im->cap ? im->cap : 1024;
    while (cap < n)
        cap *= 2;
    uint32_t *t = realloc(im->tokens, cap * sizeof *t);
    if (t)
        im->tokens = t;
    uint8_t *m = realloc(im->mask, cap);
    if (m)
        im->mask = m;
    if (!t || !m)
        return -1;
    im->cap = cap;
    return 0;
}

/* ---- ids -------------------------------------------------------------------------- */

/* Fills rec from one parsed line; returns 0, or -1 with why set. */
static int ids_record(cat_import *im, llm_json root, llm_record *rec, char *why, size_t whylen)
{
    llm_json ids, labels, starts, v;
    llm_json_iter it;
    uint64_t id;
    if (!llm_json_field(root, "input_ids", &ids) || llm_json_type_of(ids) != LLM_JSON_ARRAY)
        return snprintf(why, whylen, "no \"input_ids\" array"), -1;
    size_t n = llm_json_array_len(ids);
    if (n > LLM_RECORD_MAX_TOKENS)
        return snprintf(why, whylen, "%zu tokens is above the limit", n), -1;
    if (reserve(im, n ? n : 1) < 0)
        return snprintf(why, whylen, "out of memory"), -1;
    size_t i = 0;
    for (llm_json_array_begin(ids, &it); llm_json_array_next(&it, &v); i++)
        if (llm_json_get_uint64(v, &id) < 0 || id >= im->h->vocab_size)
            return snprintf(why, whylen, "input_ids[%zu] is not a token id below the vocabulary size %" PRIu32,
                            i, im->h->vocab_size), -1;
        else
            im->tokens[i] = (uint32_t)id;

    int masked = 0;
    if (llm_json_field(root, "labels", &labels) && llm_json_type_of(labels) != LLM_JSON_NULL) {
        if (llm_json_type_of(labels) != LLM_JSON_ARRAY || llm_json_array_len(labels) != n)
            return snprintf(why, whylen, "\"labels\" must be an array as long as \"input_ids\""), -1;
        i = 0;
        for (llm_json_array_begin(labels, &it); llm_json_array_next(&it, &v); i++) {
            int64_t label;
            if (llm_json_get_int64(v, &label) < 0 ||
                (label != HF_IGNORE_INDEX && label != (int64_t)im->tokens[i]))
                return snprintf(why, whylen, "labels[%zu] must be -100 or equal input_ids[%zu] "
                                             "(a stream keeps a loss mask, not separate labels)", i, i), -1;
            im->mask[i] = label != HF_IGNORE_INDEX;
            masked |= label == HF_IGNORE_INDEX;
        }
    }

    uint32_t nb = 0;
    if (llm_json_field(root, "doc_starts", &starts) && llm_json_type_of(starts) != LLM_JSON_NULL) {
        size_t m = llm_json_array_len(starts);
        if (llm_json_type_of(starts) != LLM_JSON_ARRAY)
            return snprintf(why, whylen, "\"doc_starts\" must be an array"), -1;
        if (m > im->bounds_cap) {
            uint32_t *b = realloc(im->bounds, m * sizeof *b);
            if (!b)
                return snprintf(why, whylen, "out of memory"), -1;
            im->bounds = b;
            im->bounds_cap = m;
        }
        for (llm_json_array_begin(starts, &it); llm_json_array_next(&it, &v); nb++) {
            if (llm_json_get_uint64(v, &id) < 0 || id >= n || (nb && id <= im->bounds[nb - 1]))
                return snprintf(why, whylen, "\"doc_starts\" must ascend and lie below %zu", n), -1;
            im->bounds[nb] = (uint32_t)id;
        }
    }
    rec->n_tokens = (uint32_t)n;
    rec->token_bytes = 4;
    rec->tokens = im->tokens;
    rec->mask = masked ? im->mask : NULL;   /* labels equal to the ids need no mask */
    rec->n_bounds = nb;
    rec->bounds = nb ? im->bounds : NULL;
    return 0;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* A bad line: an error, or with --on-error=skip a counted skip (the first few named). */
static int bad_line(cat_import *im, const char *why)
{
    uint64_t line = llm_lines_number(im->lines);
    if (!im->o->on_error_skip) {
        llm_msg("%s:%" PRIu64 ": %s", im->name, line, why);
        return -1;
    }
    if (++im->skipped <= MAX_REPORTED_SKIPS)
        llm_msg("%s:%" PRIu64 ": skipped: %s", im->name, line, why);
    return 0;
}

static int ids_next(cat_import *im, llm_record *rec)
{
    const char *line;
    size_t len;
    llm_error e;
    char why[sizeof e.msg];
    for (;;) {
        int rc = llm_lines_next(im->lines, &line, &len, &e);
        if (rc < 0) {
            llm_msg("%s: %s", im->name, e.msg);
            return -1;
        }
        if (rc == 0)
            return 0;
        if (llm_lines_number(im->lines) == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;    /* a UTF-8 byte-order mark, as some Windows tools write */
            len -= 3;
        }
        if (is_blank(line, len))
            continue;
        llm_json root;
        if (llm_json_parse(im->json, line, len, 1, &root, &e) < 0)
            snprintf(why, sizeof why, "%s", e.msg);
        else if (ids_record(im, root, rec, why, sizeof why) == 0)
            return 1;
        if (bad_line(im, why) < 0)
            return -1;
    }
}

/* ---- raw -------------------------------------------------------------------------- */

/* Makes at least one whole token available; returns 1, 0 at end of input, -1 on error. */
static int raw_fill(cat_import *im, size_t width)
{
    while (im->raw_len - im->raw_pos < width && !im->raw_eof) {
        memmove(im->raw, im->raw + im->raw_pos, im->raw_len - im->raw_pos);
        im->raw_len -= im->raw_pos;
        im->raw_pos = 0;
        ssize_t k = read(im->fd, im->raw + im->raw_len, RAW_CHUNK - im->raw_len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            llm_msg("%s: read error: %s", im->name, strerror(errno));
            return -1;
        }
        im->raw_eof = k == 0;
        im->raw_len += (size_t)k;
    }
    size_t left = im->raw_len - im->raw_pos;
    if (left && left < width) {
        llm_msg("%s: ends with %zu byte%s that do not make a whole %zu-byte token", im->name, left,
                left == 1 ? "" : "s", width);
        return -1;
    }
    return left > 0;
}

/* Records end after each EOS (docs) or every block_size tokens (blocks); the last record
 * takes whatever remains, so no token is lost. */
static int raw_next(cat_import *im, llm_record *rec)
{
    const llm_header *h = im->h;
    const size_t width = (size_t)h->token_bytes;
    size_t n = 0;
    for (;;) {
        int rc = raw_fill(im, width);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        uint32_t t = 0;
        memcpy(&t, im->raw + im->raw_pos, width);
        if (t >= h->vocab_size) {
            llm_msg("%s: token %" PRIu32 " at byte offset %" PRIu64 " is not below the vocabulary size %" PRIu32,
                    im->name, t, im->raw_bytes, h->vocab_size);
            return -1;
        }
        if (n == LLM_RECORD_MAX_TOKENS) {
            llm_msg("%s: no end of record within %zu tokens at byte offset %" PRIu64 " (check --eos)",
                    im->name, n, im->raw_bytes);
            return -1;
        }
        if (reserve(im, n + 1) < 0) {
            llm_msg("out of memory");
            return -1;
        }
        im->tokens[n++] = t;
        im->raw_pos += width;
        im->raw_bytes += width;
        if (h->kind == LLM_KIND_BLOCKS ? n == h->block_size : (int64_t)t == h->eos_id)
            break;
    }
    if (n == 0)
        return 0;
    memset(rec, 0, sizeof *rec);
    rec->n_tokens = (uint32_t)n;
    rec->token_bytes = 4;
    rec->tokens = im->tokens;
    return 1;
}

int cat_import_next(cat_import *im, llm_record *rec)
{
    return im->lines ? ids_next(im, rec) : raw_next(im, rec);
}

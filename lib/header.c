/* The stream header: defaults, validation, compatibility, provenance, and its JSON form. */
#include "json.h"
#include "stream.h"
#include "stream_format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

uint32_t llm_checksum32(const void *p, size_t n)
{
    return (uint32_t)XXH64(p, n, 0);
}

const char *llm_kind_name(llm_kind k)
{
    switch (k) {
    case LLM_KIND_DOCS: return "docs";
    case LLM_KIND_BLOCKS: return "blocks";
    }
    return "unknown";
}

int llm_kind_parse(const char *s, llm_kind *out)
{
    if (strcmp(s, "docs") == 0) { *out = LLM_KIND_DOCS; return 0; }
    if (strcmp(s, "blocks") == 0) { *out = LLM_KIND_BLOCKS; return 0; }
    return -1;
}

int llm_token_bytes_for_vocab(uint32_t vocab_size)
{
    return vocab_size <= 65536u ? 2 : 4;
}

int llm_header_init(llm_header *h)
{
    memset(h, 0, sizeof *h);
    h->version = LLM_STREAM_VERSION;
    h->kind = LLM_KIND_DOCS;
    h->token_bytes = 2;
    h->eos_id = h->pad_id = h->bos_id = LLM_NO_TOKEN;
    h->tokenizer_name = strdup("");
    h->tokenizer_hash = strdup("");
    h->provenance = strdup("[]");
    if (!h->tokenizer_name || !h->tokenizer_hash || !h->provenance) {
        llm_header_free(h);
        return -1;
    }
    return 0;
}

void llm_header_free(llm_header *h)
{
    if (!h)
        return;
    free(h->tokenizer_name);
    free(h->tokenizer_hash);
    free(h->provenance);
    h->tokenizer_name = h->tokenizer_hash = h->provenance = NULL;
}

/* Replaces *slot with a copy of s (s may alias *slot). */
static int replace_string(char **slot, const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    free(*slot);
    *slot = copy;
    return 0;
}

int llm_header_copy(llm_header *dst, const llm_header *src)
{
    *dst = *src;
    dst->tokenizer_name = strdup(src->tokenizer_name);
    dst->tokenizer_hash = strdup(src->tokenizer_hash);
    dst->provenance = strdup(src->provenance);
    if (!dst->tokenizer_name || !dst->tokenizer_hash || !dst->provenance) {
        llm_header_free(dst);
        return -1;
    }
    return 0;
}

int llm_header_set_tokenizer(llm_header *h, const char *name, const char *hash)
{
    if (replace_string(&h->tokenizer_name, name, strlen(name)) < 0)
        return -1;
    return replace_string(&h->tokenizer_hash, hash, strlen(hash));
}

/* Provenance is kept as JSON text so that steps written by other versions pass through
 * untouched; these helpers edit it as a list of minified elements. */
static int provenance_append(llm_header *h, const char *elem, size_t n)
{
    size_t old = strlen(h->provenance);    /* ends with ']' */
    int empty = old == 2;
    char *p = realloc(h->provenance, old + n + 2);
    if (!p)
        return -1;
    h->provenance = p;
    size_t at = old - 1;
    if (!empty)
        p[at++] = ',';
    memcpy(p + at, elem, n);
    at += n;
    p[at++] = ']';
    p[at] = '\0';
    return 0;
}

int llm_header_add_step(llm_header *h, const char *program, int argc, char *const argv[])
{
    llm_buf b;
    llm_buf_init(&b);
    llm_buf_puts(&b, "{\"program\":");
    llm_buf_json_string(&b, program, strlen(program));
    llm_buf_puts(&b, ",\"version\":\"" LLM_VERSION "\",\"argv\":[");
    /* The program's name stands for argv[0], so the bytes do not depend on where it is installed. */
    llm_buf_json_string(&b, program, strlen(program));
    for (int i = 1; i < argc; i++) {
        llm_buf_putc(&b, ',');
        llm_buf_json_string(&b, argv[i], strlen(argv[i]));
    }
    llm_buf_puts(&b, "]}");
    int rc = llm_buf_failed(&b) ? -1 : provenance_append(h, b.data, b.len);
    llm_buf_free(&b);
    return rc;
}

int llm_header_merge_provenance(llm_header *h, const llm_header *other)
{
    int rc = -1;
    llm_json_parser *mine = llm_json_parser_new(), *theirs = llm_json_parser_new();
    llm_buf have, elem;
    llm_buf_init(&have);
    llm_buf_init(&elem);
    llm_json a, b, x, y;
    llm_json_iter it, jt;
    if (!mine || !theirs)
        goto out;
    if (llm_json_parse(mine, h->provenance, strlen(h->provenance), 0, &a, NULL) < 0 ||
        llm_json_parse(theirs, other->provenance, strlen(other->provenance), 0, &b, NULL) < 0)
        goto out;
    for (llm_json_array_begin(b, &it); llm_json_array_next(&it, &y);) {
        llm_buf_clear(&elem);
        llm_json_minify(y, &elem);
        int seen = 0;
        for (llm_json_array_begin(a, &jt); !seen && llm_json_array_next(&jt, &x);) {
            llm_buf_clear(&have);
            llm_json_minify(x, &have);
            seen = have.len == elem.len && memcmp(have.data, elem.data, elem.len) == 0;
        }
        if (llm_buf_failed(&elem) || llm_buf_failed(&have))
            goto out;
        /* Appending does not disturb `a`: it lives in its parser, not in h->provenance. */
        if (!seen && provenance_append(h, elem.data, elem.len) < 0)
            goto out;
    }
    rc = 0;
out:
    llm_buf_free(&have);
    llm_buf_free(&elem);
    llm_json_parser_free(mine);
    llm_json_parser_free(theirs);
    return rc;
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return 1;
    return 0;
}

static int special_ok(int64_t id, uint32_t vocab)
{
    return id == LLM_NO_TOKEN || (id >= 0 && id < (int64_t)vocab);
}

int llm_header_validate(const llm_header *h, llm_error *err)
{
    if (h->version != LLM_STREAM_VERSION)
        return llm_error_set(err, "stream format version %d is not supported (this reads version %d)",
                             h->version, LLM_STREAM_VERSION);
    if (h->kind != LLM_KIND_DOCS && h->kind != LLM_KIND_BLOCKS)
        return llm_error_set(err, "unknown stream kind %d", (int)h->kind);
    if (h->token_bytes != 2 && h->token_bytes != 4)
        return llm_error_set(err, "token width must be 2 or 4 bytes, not %d", h->token_bytes);
    if (h->vocab_size == 0)
        return llm_error_set(err, "vocabulary size is 0");
    if (has_control(h->tokenizer_name) || has_control(h->tokenizer_hash))
        return llm_error_set(err, "tokenizer name and hash must not hold control characters");
    if (h->token_bytes == 2 && h->vocab_size > 65536u)
        return llm_error_set(err, "vocabulary of %" PRIu32 " does not fit 2-byte tokens", h->vocab_size);
    if (!special_ok(h->eos_id, h->vocab_size) || !special_ok(h->pad_id, h->vocab_size) ||
        !special_ok(h->bos_id, h->vocab_size))
        return llm_error_set(err, "special token ids must be below the vocabulary size %" PRIu32,
                             h->vocab_size);
    if (h->block_size > LLM_RECORD_MAX_TOKENS)
        return llm_error_set(err, "block size %" PRIu32 " is above the limit %u", h->block_size,
                             (unsigned)LLM_RECORD_MAX_TOKENS);
    return 0;
}

int llm_header_compatible(const llm_header *a, const llm_header *b, char *why, size_t whylen)
{
#define DIFFER(...) do { if (why && whylen) snprintf(why, whylen, __VA_ARGS__); return 0; } while (0)
    if (a->version != b->version)
        DIFFER("format version %d vs %d", a->version, b->version);
    if (a->kind != b->kind)
        DIFFER("kind %s vs %s", llm_kind_name(a->kind), llm_kind_name(b->kind));
    if (strcmp(a->tokenizer_name, b->tokenizer_name) != 0)
        DIFFER("tokenizer \"%s\" vs \"%s\"", a->tokenizer_name, b->tokenizer_name);
    if (strcmp(a->tokenizer_hash, b->tokenizer_hash) != 0)
        DIFFER("tokenizer hash %s vs %s", a->tokenizer_hash, b->tokenizer_hash);
    if (a->vocab_size != b->vocab_size)
        DIFFER("vocabulary size %" PRIu32 " vs %" PRIu32, a->vocab_size, b->vocab_size);
    if (a->token_bytes != b->token_bytes)
        DIFFER("token width %d vs %d bytes", a->token_bytes, b->token_bytes);
    if (a->eos_id != b->eos_id || a->pad_id != b->pad_id || a->bos_id != b->bos_id)
        DIFFER("special ids eos/pad/bos %" PRId64 "/%" PRId64 "/%" PRId64 " vs %" PRId64
               "/%" PRId64 "/%" PRId64, a->eos_id, a->pad_id, a->bos_id, b->eos_id, b->pad_id,
               b->bos_id);
    if (a->block_size != b->block_size)
        DIFFER("block size %" PRIu32 " vs %" PRIu32, a->block_size, b->block_size);
#undef DIFFER
    return 1;
}

static void put_special(llm_buf *out, const char *name, int64_t id)
{
    llm_buf_printf(out, "\"%s\":", name);
    if (id == LLM_NO_TOKEN)
        llm_buf_puts(out, "null");
    else
        llm_buf_i64(out, id);
}

void llm_header_to_json(const llm_header *h, llm_buf *out)
{
    llm_buf_printf(out, "{\"format\":\"llm-stream\",\"version\":%d,\"kind\":\"%s\",\"token_bytes\":%d,"
                        "\"vocab_size\":%" PRIu32 ",\"tokenizer\":{\"name\":",
                   h->version, llm_kind_name(h->kind), h->token_bytes, h->vocab_size);
    llm_buf_json_string(out, h->tokenizer_name, strlen(h->tokenizer_name));
    llm_buf_puts(out, ",\"hash\":");
    llm_buf_json_string(out, h->tokenizer_hash, strlen(h->tokenizer_hash));
    llm_buf_puts(out, "},\"special\":{");
    put_special(out, "eos", h->eos_id);
    llm_buf_putc(out, ',');
    put_special(out, "pad", h->pad_id);
    llm_buf_putc(out, ',');
    put_special(out, "bos", h->bos_id);
    llm_buf_printf(out, "},\"block_size\":%" PRIu32 ",\"provenance\":", h->block_size);
    llm_buf_puts(out, h->provenance);
    llm_buf_putc(out, '}');
}

/* Field readers for llm_header_from_json: each returns 0 or -1 with err naming the field. */
static int need_field(llm_json obj, const char *key, llm_json *v, llm_error *err)
{
    if (!llm_json_field(obj, key, v))
        return llm_error_set(err, "header: missing \"%s\"", key);
    return 0;
}

static int read_u32(llm_json obj, const char *key, uint32_t *out, llm_error *err)
{
    llm_json v;
    uint64_t x;
    if (need_field(obj, key, &v, err) < 0)
        return -1;
    if (llm_json_get_uint64(v, &x) < 0 || x > UINT32_MAX)
        return llm_error_set(err, "header: \"%s\" must be an integer from 0 to %" PRIu32, key,
                             UINT32_MAX);
    *out = (uint32_t)x;
    return 0;
}

/* A string without NUL or control characters, copied into *slot. */
static int read_name(llm_json obj, const char *key, char **slot, llm_error *err)
{
    llm_json v;
    const char *s;
    size_t n;
    if (need_field(obj, key, &v, err) < 0)
        return -1;
    if (llm_json_get_string(v, &s, &n) < 0)
        return llm_error_set(err, "header: \"%s\" must be a string", key);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return llm_error_set(err, "header: \"%s\" holds a control character", key);
    if (replace_string(slot, s, n) < 0)
        return llm_error_set(err, "out of memory");
    return 0;
}

static int read_special(llm_json special, const char *key, int64_t *out, llm_error *err)
{
    llm_json v;
    if (!llm_json_field(special, key, &v) || llm_json_type_of(v) == LLM_JSON_NULL) {
        *out = LLM_NO_TOKEN;
        return 0;
    }
    if (llm_json_get_int64(v, out) < 0 || *out < 0)
        return llm_error_set(err, "header: special \"%s\" must be a token id or null", key);
    return 0;
}

static int header_from_root(llm_header *h, llm_json root, llm_error *err)
{
    llm_json v, tok, special;
    const char *s;
    size_t n;
    int64_t version;
    uint32_t width = 0;   /* set by read_u32; gcc -O3 cannot see that */

    if (llm_json_type_of(root) != LLM_JSON_OBJECT)
        return llm_error_set(err, "header: not a JSON object");
    if (need_field(root, "format", &v, err) < 0)
        return -1;
    if (llm_json_get_string(v, &s, &n) < 0 || n != 10 || memcmp(s, "llm-stream", 10) != 0)
        return llm_error_set(err, "header: \"format\" is not \"llm-stream\"");
    if (need_field(root, "version", &v, err) < 0)
        return -1;
    if (llm_json_get_int64(v, &version) < 0)
        return llm_error_set(err, "header: \"version\" must be an integer");
    if (version != LLM_STREAM_VERSION)
        return llm_error_set(err, "stream format version %" PRId64 " is not supported (this reads version %d)",
                             version, LLM_STREAM_VERSION);
    if (need_field(root, "kind", &v, err) < 0)
        return -1;
    char kind[16] = "";
    if (llm_json_get_string(v, &s, &n) == 0 && n < sizeof kind)
        memcpy(kind, s, n);
    if (llm_kind_parse(kind, &h->kind) < 0)
        return llm_error_set(err, "header: \"kind\" must be \"docs\" or \"blocks\"");
    if (read_u32(root, "token_bytes", &width, err) < 0 || read_u32(root, "vocab_size", &h->vocab_size, err) < 0 ||
        read_u32(root, "block_size", &h->block_size, err) < 0)
        return -1;
    if (width != 2 && width != 4)
        return llm_error_set(err, "header: \"token_bytes\" must be 2 or 4");
    h->token_bytes = (int)width;
    if (need_field(root, "tokenizer", &tok, err) < 0 || read_name(tok, "name", &h->tokenizer_name, err) < 0 ||
        read_name(tok, "hash", &h->tokenizer_hash, err) < 0)
        return -1;
    if (need_field(root, "special", &special, err) < 0)
        return -1;
    if (read_special(special, "eos", &h->eos_id, err) < 0 || read_special(special, "pad", &h->pad_id, err) < 0 ||
        read_special(special, "bos", &h->bos_id, err) < 0)
        return -1;
    if (need_field(root, "provenance", &v, err) < 0)
        return -1;
    if (llm_json_type_of(v) != LLM_JSON_ARRAY)
        return llm_error_set(err, "header: \"provenance\" must be an array");
    llm_buf prov;
    llm_buf_init(&prov);
    llm_json_minify(v, &prov);
    int rc = llm_buf_failed(&prov) ? -1 : replace_string(&h->provenance, prov.data, prov.len);
    llm_buf_free(&prov);
    if (rc < 0)
        return llm_error_set(err, "out of memory");
    return llm_header_validate(h, err);
}

int llm_header_from_json(llm_header *h, const char *json, size_t len, llm_error *err)
{
    llm_json root;
    if (llm_header_init(h) < 0)
        return llm_error_set(err, "out of memory");
    llm_json_parser *p = llm_json_parser_new();
    if (!p) {
        llm_header_free(h);
        return llm_error_set(err, "out of memory");
    }
    int rc = llm_json_parse(p, json, len, 0, &root, err);
    if (rc == 0)
        rc = header_from_root(h, root, err);
    llm_json_parser_free(p);
    if (rc < 0)
        llm_header_free(h);
    return rc;
}

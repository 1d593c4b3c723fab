/* One document through llm-clean's steps, in the order the man page gives: UTF-8 repair
 * and controls, markup, normalization, whitespace, pattern rules, emptiness and length,
 * quality preset, then the output line. Each step reads the previous one's buffer, and
 * a step with nothing to do passes its input on without a copy. */
#include "clean.h"
#include "ledger.h"
#include "markup.h"
#include "quality.h"
#include "simd.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

const char CLEAN_REASON_MALFORMED[] = "malformed-json";
const char CLEAN_REASON_NO_FIELD[] = "missing-field";
const char CLEAN_REASON_NO_MEMORY[] = "out-of-memory";
const char CLEAN_REASON_LEDGER[] = "ledger-line";

/* The scratch buffers: each step writes its own, so its input stays intact. */
enum { BUF_RECORD, BUF_SANITIZE, BUF_MARKUP, BUF_NORMALIZE, BUF_WHITESPACE, BUF_RULES, BUF_RULES_2, BUF_QUALITY };
_Static_assert(BUF_QUALITY + 1 == CLEAN_TMP_BUFS, "one scratch buffer per step");

int clean_worker_init(clean_worker *w, const clean_opts *o)
{
    memset(w, 0, sizeof *w);
    for (int i = 0; i < CLEAN_TMP_BUFS; i++)
        llm_buf_init(&w->tmp[i]);
    if (o->in == CLEAN_IN_JSONL && !(w->json = llm_json_parser_new()))
        return -1;
    if (o->n_rules && clean_matcher_init(&w->matcher) < 0) {
        llm_json_parser_free(w->json);
        return -1;
    }
    return 0;
}

void clean_worker_free(clean_worker *w)
{
    for (int i = 0; i < CLEAN_TMP_BUFS; i++)
        llm_buf_free(&w->tmp[i]);
    llm_json_parser_free(w->json);
    clean_matcher_free(&w->matcher);
}

/* ---- JSONL records ---- */

static void set_error(clean_result *res, const char *reason, const char *msg)
{
    res->reason = reason;
    res->error = strdup(msg);
}

/* Parses the record at *doc. simdjson refuses ill-formed UTF-8 anywhere in a record; the
 * UTF-8 step repairs it in text (U+FFFD), so such a record is parsed again with it
 * repaired the same way, and *doc and *len then point at the repair, which is what the
 * output is made of. *invalid counts the repairs. 0, or -1 with e set. */
static int parse_record(clean_worker *w, const char **doc, size_t *len, llm_json *root, size_t *invalid,
                        llm_error *e)
{
    static const char padding[LLM_JSON_PADDING];
    *invalid = 0;
    if (llm_json_parse(w->json, *doc, *len, 1, root, e) == 0)
        return 0;
    if (llm_utf8_valid(*doc, *len))
        return -1;
    llm_buf *b = &w->tmp[BUF_RECORD];
    llm_buf_clear(b);
    *invalid = clean_repair_utf8(*doc, *len, b);
    size_t n = b->len;
    llm_buf_append(b, padding, sizeof padding);
    if (llm_buf_failed(b))
        return llm_error_set(e, "out of memory");
    *doc = b->data;
    *len = n;
    return llm_json_parse(w->json, *doc, *len, 1, root, e);
}

/* Finds the string member `field` of the record (*doc and *len may move to its repair:
 * see parse_record); returns its position among the members, or -1 with res set to the
 * error. */
static long record_text(const clean_opts *o, clean_worker *w, const char **doc, size_t *len, const char **text,
                        size_t *n, size_t *invalid, clean_result *res)
{
    llm_json root, val;
    llm_error e;
    if (parse_record(w, doc, len, &root, invalid, &e) < 0) {
        set_error(res, llm_buf_failed(&w->tmp[BUF_RECORD]) ? CLEAN_REASON_NO_MEMORY : CLEAN_REASON_MALFORMED, e.msg);
        return -1;
    }
    if (llm_json_type_of(root) != LLM_JSON_OBJECT) {
        llm_error_set(&e, "expected a JSON object, got %s", llm_json_type_name(llm_json_type_of(root)));
        set_error(res, CLEAN_REASON_MALFORMED, e.msg);
        return -1;
    }
    llm_json_iter it;
    const char *key;
    size_t keylen, flen = strlen(o->field);
    llm_json_object_begin(root, &it);
    for (long index = 0; llm_json_object_next(&it, &key, &keylen, &val); index++) {
        if (keylen != flen || memcmp(key, o->field, flen) != 0)
            continue;
        if (llm_json_get_string(val, text, n) == 0)
            return index;
        llm_error_set(&e, "field \"%s\" is %s, not a string", o->field, llm_json_type_name(llm_json_type_of(val)));
        set_error(res, CLEAN_REASON_NO_FIELD, e.msg);
        return -1;
    }
    llm_error_set(&e, "no field \"%s\"", o->field);
    set_error(res, CLEAN_REASON_NO_FIELD, e.msg);
    return -1;
}

/* Raw scanning of a record that simdjson has already validated: finds where each
 * member's key and value lie, so every other field is copied byte for byte. */
static size_t skip_space(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, n);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return n;
    }
    while (i < n && !strchr(",}] \t\n\r", s[i]))
        i++;
    return i;
}

/* Appends a validated value on one line: a raw newline in it can only be whitespace between
 * tokens (JSON strings cannot hold one), and it would split the JSONL record. Lines read from
 * input never hold one; a record handed over whole might. */
static void put_value(llm_buf *out, const char *v, size_t n)
{
    size_t at = out->len;
    llm_buf_append(out, v, n);
    if (llm_buf_failed(out) || !memchr(v, '\n', n))
        return;
    for (size_t i = at; i < out->len; i++)
        if (out->data[i] == '\n')
            out->data[i] = ' ';
}

/* Appends the record with member number `index` replaced by text as a JSON string. */
static void put_record(const char *s, size_t n, long index, const char *text, size_t len, llm_buf *out)
{
    size_t i = skip_space(s, 0, n) + 1;    /* past '{' */
    llm_buf_putc(out, '{');
    for (long member = 0;; member++) {
        i = skip_space(s, i, n);
        if (i >= n || s[i] == '}')
            break;
        size_t key = i;
        i = skip_string(s, i, n);
        if (member)
            llm_buf_putc(out, ',');
        llm_buf_append(out, s + key, i - key);
        llm_buf_putc(out, ':');
        i = skip_space(s, i, n) + 1;       /* past ':' */
        i = skip_space(s, i, n);
        size_t value = i;
        i = skip_value(s, i, n);
        if (member == index)
            llm_buf_json_utf8(out, text, len);
        else
            put_value(out, s + value, i - value);
        i = skip_space(s, i, n);
        if (i < n && s[i] == ',')
            i++;
    }
    llm_buf_puts(out, "}\n");
}

/* ---- the steps ---- */

/* Whether s[0..n) has a '<' or '&', without which markup has nothing to do: one pass for
 * both bytes, as most documents have neither. */
static int may_have_markup(const char *s, size_t n)
{
#ifdef LLM_SIMD
    if (n >= LLM_VEC_BYTES) {
        /* The last load ends at n, overlapping the one before rather than reading on. */
        for (size_t i = 0;; i += LLM_VEC_BYTES) {
            if (i > n - LLM_VEC_BYTES)
                i = n - LLM_VEC_BYTES;
            llm_vec v = llm_vec_load(s + i);
            if (llm_vec_mask(llm_vec_or(llm_vec_eq_byte(v, '<'), llm_vec_eq_byte(v, '&'))))
                return 1;
            if (i == n - LLM_VEC_BYTES)
                return 0;
        }
    }
#endif
    for (size_t i = 0; i < n; i++)
        if (s[i] == '<' || s[i] == '&')
            return 1;
    return 0;
}

/* Steps up to whitespace: never drop anything except for invalid UTF-8 on request. The
 * whitespace step appends its text to ws_out. */
static const char *clean_characters(const clean_opts *o, clean_worker *w, const char **text, size_t *n,
                                    int valid_utf8, llm_buf *ws_out)
{
    size_t invalid;
    int markup;
    clean_ws_hint hint;    /* holds for the text as long as no step changes it */
    const char *original = *text;
    llm_buf *b = &w->tmp[BUF_SANITIZE];
    llm_buf_clear(b);
    if (clean_sanitize(*text, *n, valid_utf8, b, &invalid, &markup, &hint)) {
        if (invalid && o->invalid_drop)
            return "invalid-utf8";
        *text = b->data;
        *n = b->len;
    }
    if (o->markup && markup && may_have_markup(*text, *n)) {
        b = &w->tmp[BUF_MARKUP];
        llm_buf_clear(b);
        if (clean_markup_strip(*text, *n, b)) {
            *text = b->data;
            *n = b->len;
        }
    }
    if (o->norm != LLM_NORM_NONE && llm_utf8_ascii_prefix(*text, *n) < *n) {
        b = &w->tmp[BUF_NORMALIZE];
        llm_buf_clear(b);
        if (llm_normalize(o->norm, *text, *n, b) > 0) {
            *text = b->data;
            *n = b->len;
        }
    }
    size_t at = ws_out->len;
    if (clean_whitespace(*text, *n, o->collapse_newlines, o->max_blank_lines, *text == original ? &hint : NULL,
                         ws_out)) {
        *text = ws_out->data + at;
        *n = ws_out->len - at;
    }
    return NULL;
}

/* Steps that may drop the document: rules, emptiness, length, quality. */
static const char *clean_filters(const clean_opts *o, clean_worker *w, const char **text, size_t *n,
                                 clean_result *res)
{
    const char *reason;
    if (o->n_rules &&
        (reason = clean_rules_apply(o->rules, o->n_rules, &w->matcher, text, n, &w->tmp[BUF_RULES], &res->rule)))
        return reason;
    if (*n == 0)
        return "empty";
    /* A character takes 1 to 4 bytes, so the byte count often settles it uncounted. */
    int settled = *n / 4 >= o->min_chars && (!o->max_chars || *n <= o->max_chars);
    if (!settled && (o->min_chars || o->max_chars)) {
        size_t chars = llm_utf8_count(*text, *n);
        if (chars < o->min_chars)
            return "min-chars";
        if (o->max_chars && chars > o->max_chars)
            return "max-chars";
    }
    if (o->quality == CLEAN_QUALITY_GOPHER)
        return clean_quality_gopher(*text, *n);
    if (o->quality == CLEAN_QUALITY_C4) {
        llm_buf *b = &w->tmp[BUF_QUALITY];
        llm_buf_clear(b);
        if ((reason = clean_quality_c4(*text, *n, b)))
            return reason;
        *text = b->data;
        *n = b->len;
    }
    return NULL;
}

void clean_document(const clean_opts *o, clean_worker *w, const char *doc, size_t len, llm_buf *out,
                    clean_result *res)
{
    clean_document_utf8(o, w, doc, len, 0, out, res);
}

void clean_document_utf8(const clean_opts *o, clean_worker *w, const char *doc, size_t len, int valid_utf8,
                         llm_buf *out, clean_result *res)
{
    memset(res, 0, sizeof *res);
    const char *text = doc;
    size_t n = len;
    long index = -1;
    if (o->in == CLEAN_IN_JSONL) {
        if (llm_ledger_from_line(NULL, doc, len, NULL) == 1) {
            res->reason = CLEAN_REASON_LEDGER;    /* the writer reads it, in input order */
            return;
        }
        size_t invalid;
        if ((index = record_text(o, w, &doc, &len, &text, &n, &invalid, res)) < 0)
            return;
        if (invalid && o->invalid_drop) {
            res->reason = "invalid-utf8";
            return;
        }
    }
    /* With plain lines out, whitespace writes the text where its line goes in out, which
     * spares a copy of every byte kept; a dropped document is cut off again. */
    size_t start = out->len;
    llm_buf *ws_out = o->out == CLEAN_OUT_LINES ? out : &w->tmp[BUF_WHITESPACE];
    if (ws_out != out)
        llm_buf_clear(ws_out);
    res->reason = clean_characters(o, w, &text, &n, valid_utf8 && index < 0, ws_out);
    if (!res->reason)
        res->reason = clean_filters(o, w, &text, &n, res);
    int out_of_memory = out->failed || (res->reason && strcmp(res->reason, CLEAN_REASON_NO_MEMORY) == 0);
    for (int i = 0; i < CLEAN_TMP_BUFS; i++)
        out_of_memory |= w->tmp[i].failed;
    if (out_of_memory || res->reason)
        out->len = start;
    if (out_of_memory) {
        set_error(res, CLEAN_REASON_NO_MEMORY, "out of memory");
        return;
    }
    if (res->reason)
        return;
    if (o->dedup) {
        XXH128_hash_t h = XXH3_128bits(text, n);
        res->hash[0] = h.low64;
        res->hash[1] = h.high64;
    }
    res->out_off = start;
    if (o->out == CLEAN_OUT_LINES) {
        /* no step wrote it there, or a later one rewrote or shortened it */
        if (text != out->data + start || n != out->len - start) {
            out->len = start;
            llm_buf_append(out, text, n);
        }
        llm_buf_putc(out, '\n');
    } else if (index >= 0) {
        put_record(doc, len, index, text, n, out);
    } else {
        llm_buf_puts(out, "{\"text\":");
        llm_buf_json_utf8(out, text, n);
        llm_buf_puts(out, "}\n");
    }
    res->out_len = out->len - res->out_off;
}

/* A small C API over simdjson's DOM parser: parse a document, then walk it with
 * value handles. The one C++ file in the library; everything else sees only this. */
#ifndef LLM_JSON_H
#define LLM_JSON_H

#include "buf.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* simdjson reads up to this many bytes past the end of the input. */
#define LLM_JSON_PADDING 64

typedef struct llm_json_parser llm_json_parser;

typedef enum llm_json_type {
    LLM_JSON_NULL,
    LLM_JSON_BOOL,
    LLM_JSON_INT,     /* fits int64 */
    LLM_JSON_UINT,    /* above INT64_MAX, fits uint64 */
    LLM_JSON_DOUBLE,
    LLM_JSON_STRING,
    LLM_JSON_ARRAY,
    LLM_JSON_OBJECT
} llm_json_type;

/* A value inside the parser's current document. Handles are plain values (copy freely)
 * and stay valid until that parser parses again or is freed. */
typedef struct llm_json {
    uint64_t opaque[2];
} llm_json;

typedef struct llm_json_iter {
    uint64_t opaque[4];
} llm_json_iter;

/* Returns a parser (NULL when out of memory); free with llm_json_parser_free (NULL ok). */
llm_json_parser *llm_json_parser_new(void);
void llm_json_parser_free(llm_json_parser *p);

/* Parses buf[0..len) as one JSON document. When `padded` is nonzero the caller promises
 * LLM_JSON_PADDING readable bytes after buf+len and no copy is made. Strings returned
 * later point into the parser, not into buf. An escaped surrogate that is not half of a
 * pair ("\ud800", "\udc00", "\ud800\u0041") is read as U+FFFD, as JSON.parse followed by a
 * conversion to UTF-8 reads it. Returns 0, or -1 with err set (the message names simdjson's
 * reason). */
int llm_json_parse(llm_json_parser *p, const char *buf, size_t len, int padded, llm_json *root,
                   llm_error *err);

llm_json_type llm_json_type_of(llm_json v);
const char *llm_json_type_name(llm_json_type t);   /* "null", "integer", "string", ... */

/* Object member lookup: 1 and *out set when obj is an object holding key, else 0. */
int llm_json_field(llm_json obj, const char *key, llm_json *out);

/* Scalars: 0 on success, -1 when the value has another type or does not fit. */
int llm_json_get_int64(llm_json v, int64_t *out);
int llm_json_get_uint64(llm_json v, uint64_t *out);
int llm_json_get_double(llm_json v, double *out);   /* any number */
int llm_json_get_bool(llm_json v, int *out);
/* The string's bytes (NUL-terminated, may contain NUL) live in the parser. */
int llm_json_get_string(llm_json v, const char **s, size_t *len);

/* Arrays: element count (0 for non-arrays), and iteration in order. */
size_t llm_json_array_len(llm_json arr);
void llm_json_array_begin(llm_json arr, llm_json_iter *it);
int llm_json_array_next(llm_json_iter *it, llm_json *out);     /* 1 got one, 0 at end */

/* Objects: members in document order. */
void llm_json_object_begin(llm_json obj, llm_json_iter *it);
int llm_json_object_next(llm_json_iter *it, const char **key, size_t *keylen, llm_json *val);

/* Appends v as minified JSON text to out (used to carry values through unchanged). */
void llm_json_minify(llm_json v, llm_buf *out);
/* Appends v to out as Python's json.dumps(v, ensure_ascii=False) writes it, which is what the
 * tojson filter of chat templates writes: ", " between items, ": " after keys, members in
 * document order, strings escaped as JSON.stringify escapes them (non-ASCII as it is), integers
 * exactly, and other numbers as Python's repr of the double: 1.0, 100.0 for 1e2, 1e-05,
 * 1e+16. A failed allocation marks out failed. */
void llm_json_dump(llm_json v, llm_buf *out);

#ifdef __cplusplus
}
#endif
#endif

/* A growable byte buffer for building output text (JSON lines, headers) without a
 * printf per value. Allocation failure is sticky: later appends do nothing and
 * llm_buf_failed() reports it once, so call sites stay flat. */
#ifndef LLM_BUF_H
#define LLM_BUF_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm_buf {
    char *data;   /* owned; NUL-terminated whenever len < cap */
    size_t len;
    size_t cap;
    int failed;   /* an allocation failed; contents are incomplete */
} llm_buf;

/* Grows the allocation at *pp (any pointer type) to hold need bytes, doubling;
 * -1 on overflow or allocation failure, leaving *pp and *cap as they were. */
int llm_grow(void *pp, size_t *cap, size_t need);

void llm_buf_init(llm_buf *b);
void llm_buf_free(llm_buf *b);                 /* frees data; b may be reused after init */
static inline void llm_buf_clear(llm_buf *b) { b->len = 0; }
static inline int llm_buf_failed(const llm_buf *b) { return b->failed; }

/* Makes room for `extra` more bytes (plus a NUL). Returns 0, or -1 and sets failed. */
int llm_buf_reserve(llm_buf *b, size_t extra);
void llm_buf_append(llm_buf *b, const void *p, size_t n);
void llm_buf_puts(llm_buf *b, const char *s);
void llm_buf_putc(llm_buf *b, char c);
void llm_buf_printf(llm_buf *b, const char *fmt, ...) LLM_PRINTF(2, 3);
void llm_buf_u64(llm_buf *b, uint64_t v);     /* decimal, fast path for large outputs */
void llm_buf_i64(llm_buf *b, int64_t v);
/* Appends s[0..n) as a quoted JSON string. Valid UTF-8 passes through; control characters,
 * '"' and '\\' are escaped; each byte of an invalid UTF-8 sequence becomes \ufffd. */
void llm_buf_json_string(llm_buf *b, const char *s, size_t n);
/* The same for text known to be valid UTF-8 (checked by the caller): faster on
 * non-ASCII text, which is copied without a second check. */
void llm_buf_json_utf8(llm_buf *b, const char *s, size_t n);

/* A rejects file has one shape in every program: {"reason", "file" (left out when standard
 * input is the only input), "line", the program's own members, then the record as read:
 * "record", a JSON line as it is, or "raw", a line that is not JSON, as a string}. */
void llm_buf_reject_begin(llm_buf *b, const char *reason, char *const inputs[], int n_inputs, int input,
                          uint64_t line);
/* Appends the line as read: ,"record": the line as it is, without the white space after it,
 * when it parsed as JSON (valid UTF-8, checked by the caller), else ,"raw": it as a string. */
void llm_buf_reject_line(llm_buf *b, const char *line, size_t len, int parsed);

#ifdef __cplusplus
}
#endif
#endif

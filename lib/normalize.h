/* Unicode normalization (NFC, NFKC) over utf8proc, with a fast path: text made only of
 * characters that normalization can never touch (ASCII, most CJK, precomposed Latin) is
 * copied after one table lookup per character, and utf8proc sees only the short
 * stretches around the rest. */
#ifndef LLM_NORMALIZE_H
#define LLM_NORMALIZE_H

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum llm_norm { LLM_NORM_NONE, LLM_NORM_NFC, LLM_NORM_NFKC } llm_norm;

/* "none", "nfc", "nfkc" (any case): 0 and *out set, or -1. */
int llm_norm_parse(const char *name, llm_norm *out);
const char *llm_norm_name(llm_norm form);

/* Appends form(s[0..n)) to out; s must be valid UTF-8. Returns 1 when the text changed,
 * 0 when it was already normalized, -1 when out of memory. Thread-safe: the tables are
 * built once, on first use. */
int llm_normalize(llm_norm form, const char *s, size_t n, llm_buf *out);

#ifdef __cplusplus
}
#endif

#endif

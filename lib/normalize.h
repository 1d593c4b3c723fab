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

/* The fast path's table: one bit per code point (LLM_NORM_CODE_POINTS / 8 bytes, bit
 * cp & 7 of byte cp >> 3), set for the characters that normalization to the form cannot
 * change or join with what precedes them. llm_normalize loads it from the ranges of
 * lib/normalize_inert.h when those were made from the Unicode version of the utf8proc it
 * runs with, and otherwise computes it. */
#define LLM_NORM_CODE_POINTS 0x110000u
const uint8_t *llm_normalize_inert(llm_norm form);    /* NFC or NFKC */
/* Computes both tables from utf8proc itself, which takes milliseconds: what
 * scripts/gen-normalize-inert.c writes the ranges from, and what the tests compare the
 * loaded tables with. 0, or -1 when out of memory, with both tables all zeros. */
int llm_normalize_inert_compute(uint8_t *nfc_bits, uint8_t *nfkc_bits);

#ifdef __cplusplus
}
#endif

#endif

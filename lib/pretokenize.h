/* Pre-tokenization: splitting text into the pieces that BPE then encodes one at a time, with
 * a regular expression run by PCRE2 (JIT, UTF + UCP), the way tiktoken's and Hugging Face's
 * regexes split it. Internal to libllm. The compiled pattern is shared by threads; each
 * thread matches with its own llm_pretok_matcher. */
#ifndef LLM_PRETOKENIZE_H
#define LLM_PRETOKENIZE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tiktoken's patterns. For these (and Qwen's below) a hand-written scanner finds the pieces of ASCII text
 * and hands anything it cannot decide from ASCII alone to PCRE2, so the split is PCRE2's. */
#define LLM_PRETOK_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define LLM_PRETOK_CL100K                                                                          \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define LLM_PRETOK_O200K                                                                               \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"             \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"                                                                   \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"            \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"                                                                   \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Qwen2/2.5/3's tokenizer.json Split regex: cl100k's with single digits. */
#define LLM_PRETOK_QWEN                                                                            \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct llm_pretok llm_pretok;
typedef struct llm_pretok_matcher llm_pretok_matcher;

/* Compiles pattern (NUL-terminated, PCRE2 syntax, which the tiktoken patterns are written in
 * too). Returns NULL with err set ("bad regex at offset N: reason", or out of memory). */
llm_pretok *llm_pretok_new(const char *pattern, llm_error *err);
void llm_pretok_free(llm_pretok *p);          /* NULL-safe */
const char *llm_pretok_pattern(const llm_pretok *p);
int llm_pretok_jit(const llm_pretok *p);      /* 1 when PCRE2's JIT compiled it */
/* Turns the scanner of a known pattern off (on: 1) before any matcher is made, so tests can
 * compare it with PCRE2 alone. Returns 1 when the pattern has a scanner. */
int llm_pretok_set_scanner(llm_pretok *p, int on);

/* Per-thread match state; NULL when out of memory. */
llm_pretok_matcher *llm_pretok_matcher_new(const llm_pretok *p);
void llm_pretok_matcher_free(llm_pretok_matcher *m);   /* NULL-safe */

/* The next piece of text[0..n) (valid UTF-8: not checked again) that starts at or after
 * `pos`: 1 with [*start, *end) set, 0 when there is none, -1 with err set when the matcher
 * fails (its stack or match limit). Empty matches are never returned: like a regex's
 * find-all, the search goes on one character later. Text between pieces (none with the
 * tiktoken patterns, which match every character) is the caller's to handle. */
int llm_pretok_next(llm_pretok_matcher *m, const char *text, size_t n, size_t pos, size_t *start,
                    size_t *end, llm_error *err);

#ifdef __cplusplus
}
#endif
#endif

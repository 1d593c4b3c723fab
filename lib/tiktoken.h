/* tiktoken's encodings: the rank file format ("base64(token) rank" per line) and what each
 * known encoding adds to its ranks, its pre-tokenizer regex and its special tokens. Internal
 * to libllm; lib/tokenizer.c builds tokenizers from these. */
#ifndef LLM_TIKTOKEN_H
#define LLM_TIKTOKEN_H

#include "bpe.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm_tiktoken_special {
    const char *text;
    uint32_t id;
} llm_tiktoken_special;

typedef struct llm_tiktoken_encoding {
    const char *name;
    const char *pattern;                     /* PCRE2 syntax */
    const llm_tiktoken_special *specials;
    size_t n_specials;
    uint32_t n_vocab;                        /* tiktoken's explicit_n_vocab; 0 when it has none */
} llm_tiktoken_encoding;

/* The encoding called name (gpt2, r50k_base, p50k_base, p50k_edit, cl100k_base, o200k_base),
 * or NULL. */
const llm_tiktoken_encoding *llm_tiktoken_find(const char *name);
/* The i-th known encoding, NULL past the end (for listing them). */
const llm_tiktoken_encoding *llm_tiktoken_at(size_t i);

/* Adds every token of a rank file, data[0..n), to b (whose ranks are the token ids).
 * Returns 0, or -1 with err set naming the line: "line 7: bad base64". */
int llm_tiktoken_parse(llm_bpe *b, const char *data, size_t n, llm_error *err);

#ifdef __cplusplus
}
#endif
#endif

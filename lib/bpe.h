/* Byte-pair encoding against a rank table: the vocabulary (id <-> bytes) and the merges
 * ((left id, right id) -> rank and merged id), and the merge loop itself. Internal to libllm:
 * the tokenizer front ends (tiktoken rank files, later tokenizer.json) fill one and encode
 * through it. Immutable once built, so threads share it; the scratch is per thread. */
#ifndef LLM_BPE_H
#define LLM_BPE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLM_BPE_MAX_IDS (1u << 24)   /* ids are below this; bounds what a file can make us allocate */
#define LLM_BPE_NONE UINT32_MAX      /* "no such pair" / "no such token" */

typedef struct llm_bpe llm_bpe;

/* An empty table; NULL when out of memory. Free with llm_bpe_free (NULL ok). */
llm_bpe *llm_bpe_new(void);
void llm_bpe_free(llm_bpe *b);

/* Adds token `id` with the given bytes (len >= 1, id < LLM_BPE_MAX_IDS). Ids may come in any
 * order and leave gaps. Returns 0, or -1 with err set (duplicate id, empty token, memory). */
int llm_bpe_add_token(llm_bpe *b, uint32_t id, const void *bytes, size_t len, llm_error *err);
/* Called once after the last llm_bpe_add_token: builds the bytes -> id map. Fails when two
 * ids have the same bytes, or when a single byte has no token (byte-level BPE needs all 256). */
int llm_bpe_index(llm_bpe *b, llm_error *err);
/* The same without the need for all 256 bytes, for vocabularies of UTF-8 text
 * (SentencePiece-style BPE); llm_bpe_byte_id is LLM_BPE_NONE for the bytes without a token. */
int llm_bpe_index_text(llm_bpe *b, llm_error *err);
/* tiktoken's rule: merging two parts gives the token spelled by their bytes, and its rank
 * is its id. Adds every (left, right) whose concatenation is a token. After llm_bpe_index. */
int llm_bpe_derive_merges(llm_bpe *b, llm_error *err);
/* An explicit merge (tokenizer.json's "merges"): left + right -> merged, lower rank first.
 * A pair added twice keeps its first rank. After llm_bpe_index. */
int llm_bpe_add_merge(llm_bpe *b, uint32_t left, uint32_t right, uint32_t rank, uint32_t merged,
                      llm_error *err);

uint32_t llm_bpe_n_ids(const llm_bpe *b);     /* highest token id + 1 */
size_t llm_bpe_n_tokens(const llm_bpe *b);    /* ids that have a token */
size_t llm_bpe_n_merges(const llm_bpe *b);
size_t llm_bpe_memory(const llm_bpe *b);      /* bytes allocated by the tables */
/* The bytes of token id (pointing into the table), or NULL when id has none. */
const unsigned char *llm_bpe_token(const llm_bpe *b, uint32_t id, size_t *len);
/* The id spelled by s[0..n), or LLM_BPE_NONE. */
uint32_t llm_bpe_lookup(const llm_bpe *b, const void *s, size_t n);
/* The id of the one-byte token c (after llm_bpe_index). */
uint32_t llm_bpe_byte_id(const llm_bpe *b, unsigned char c);
/* The merge of (left, right): its rank, and *merged set; LLM_BPE_NONE when there is none. */
uint32_t llm_bpe_pair(const llm_bpe *b, uint32_t left, uint32_t right, uint32_t *merged);

/* Where s[0..n) may be cut: the end of its first part, n when it has no cut. A piece's
 * merges never cross a cut, so its BPE is its parts' one after another, and a part (mostly
 * one character of CJK text) can be merged, or cached, on its own. Cuts fall only between
 * two multi-byte UTF-8 characters that no token of the vocabulary spans; a vocabulary of
 * characters (llm_bpe_index_text), or a merge whose token is not its parts' bytes, has none.
 * After the merges are added. */
size_t llm_bpe_cut(const llm_bpe *b, const unsigned char *s, size_t n);

/* Per-thread working memory of the merge loop; grows to the longest piece seen. */
typedef struct llm_bpe_scratch {
    uint32_t *next, *prev;
    uint64_t *heap;
    size_t cap, heap_cap;
} llm_bpe_scratch;

void llm_bpe_scratch_init(llm_bpe_scratch *s);
void llm_bpe_scratch_free(llm_bpe_scratch *s);

/* Merges ids[0..n) in place: repeatedly the adjacent pair with the lowest rank, the leftmost
 * of equals, until no pair merges (tiktoken's and Hugging Face's rule). Returns the new
 * count, or (size_t)-1 when out of memory (long inputs only). `linear_max`: inputs up to
 * this length use the quadratic scan, longer ones a heap; 0 means the default. Both give
 * the same answer; the parameter exists so tests can prove it. */
size_t llm_bpe_merge(const llm_bpe *b, uint32_t *ids, size_t n, llm_bpe_scratch *s, size_t linear_max);

#ifdef __cplusplus
}
#endif
#endif

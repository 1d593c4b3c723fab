/* Hugging Face tokenizer.json with a BPE model: the parsed definition (normalizers,
 * pre-tokenizers, added tokens, post-processor template, decoders) and the pipeline that
 * turns text into pre-tokens the way the `tokenizers` crate does. Internal to libllm:
 * lib/tokenizer.c wraps it in an llm_tokenizer, and does the BPE of each pre-token itself
 * (lib/bpe.c, with the encoder's cache). */
#ifndef LLM_HF_TOKENIZER_H
#define LLM_HF_TOKENIZER_H

#include "bpe.h"
#include "buf.h"
#include "pretokenize.h"
#include "tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { HF_NORM_NFC, HF_NORM_NFKC, HF_NORM_PREPEND, HF_NORM_REPLACE } llm_hf_norm_kind;

typedef struct llm_hf_norm {
    llm_hf_norm_kind kind;
    char *a, *b;            /* Prepend: a; Replace: a -> b (literal strings) */
    size_t alen, blen;
} llm_hf_norm;

typedef enum { HF_PRE_SPLIT, HF_PRE_BYTELEVEL, HF_PRE_DIGITS } llm_hf_pre_kind;
/* Split's SplitDelimiterBehavior. */
typedef enum {
    HF_SPLIT_REMOVED, HF_SPLIT_ISOLATED, HF_SPLIT_PREVIOUS, HF_SPLIT_NEXT, HF_SPLIT_CONTIGUOUS
} llm_hf_split;

typedef struct llm_hf_pre {
    llm_hf_pre_kind kind;
    llm_pretok *re;         /* Split's pattern, ByteLevel's GPT-2 regex when use_regex */
    llm_hf_split behavior;
    int invert;
    int add_prefix_space;   /* ByteLevel */
    int individual;         /* Digits: individual_digits */
} llm_hf_pre;

typedef struct llm_hf_added {
    char *text;             /* content, as matched: normalized when `normalized` */
    size_t len;
    char *content;          /* the content as the file has it, when normalizing changed it;
                             * NULL when it is `text` */
    size_t content_len;
    uint32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} llm_hf_added;

typedef enum { HF_DEC_REPLACE, HF_DEC_STRIP } llm_hf_dec_kind;

/* The components kept as JSON, in this order in `config`. */
typedef enum { HF_PART_NORMALIZER, HF_PART_PRE_TOKENIZER, HF_PART_POST_PROCESSOR, HF_PART_DECODER,
               HF_PART_N } llm_hf_part;

typedef struct llm_hf_dec {
    llm_hf_dec_kind kind;
    char *a, *b;            /* Replace: a -> b; Strip: a is the character */
    size_t alen, blen;
    size_t start, stop;     /* Strip */
} llm_hf_dec;

typedef struct llm_hf {
    llm_bpe *bpe;           /* token bytes: raw bytes when byte_level, else UTF-8 text */
    int byte_level;         /* a ByteLevel pre-tokenizer maps bytes to the vocabulary's alphabet */
    int ignore_merges;      /* a pre-token that is a whole token skips the merges */
    int byte_fallback, fuse_unk;
    uint32_t unk;           /* LLM_BPE_NONE when none */
    uint32_t fallback[256]; /* <0xXX> tokens, LLM_BPE_NONE where missing */
    llm_hf_norm *norm;
    size_t n_norm;
    llm_hf_pre *pre;
    size_t n_pre;
    int fast_split;         /* pre is one Isolated Split (and a ByteLevel without regex or
                             * prefix): the regex's matches are the pre-tokens */
    llm_hf_added *added;    /* sorted by id */
    size_t n_added;
    unsigned char added_first[256];   /* bytes that start some added token */
    uint32_t *added_slots;  /* hash of each added token's first character -> its bucket: an
                             * index into added_order + 1 (0: empty); added_mask + 1 slots */
    size_t added_mask;
    uint32_t *added_order;  /* indexes into added, grouped by first character, each group
                             * longest first and ended by UINT32_MAX */
    llm_hf_added *extra;    /* vocabulary entries outside the byte-level alphabet: never
                             * produced from text, kept for decoding and the hash; by id */
    size_t n_extra;
    uint32_t (*merges)[2];  /* (left, right) in rank order */
    size_t n_merges;
    int merges_as_pairs;    /* the file lists merges as ["a", "b"] rather than "a b" */
    llm_hf_dec *dec;
    size_t n_dec;
    int dec_byte_fallback;
    int64_t bos, eos;       /* the post-processor's template, -1 when none */
    char *config;           /* normalizer, pre-tokenizer, post-processor and decoder as minified
                             * JSON, hashed into the definition */
    size_t config_len;
    size_t part_off[HF_PART_N], part_len[HF_PART_N];   /* each one's JSON in config; len 0:
                                                         * the file has none (null) */
} llm_hf;

/* Parses tokenizer.json text data[0..n). Returns NULL with err set: malformed JSON, a missing
 * field, or an unsupported component, which the message names ("unsupported pre-tokenizer
 * 'Whitespace'"). */
llm_hf *llm_hf_parse(const char *data, size_t n, llm_error *err);
void llm_hf_free(llm_hf *h);                 /* NULL-safe */

/* Appends the normalizers' output for s[0..n) (valid UTF-8) to out. 0, or -1 (memory). */
int llm_hf_normalize(const llm_hf *h, const char *s, size_t n, llm_buf *out);

/* The added token with this id, or NULL. */
const llm_hf_added *llm_hf_added_by_id(const llm_hf *h, uint32_t id);

/* The longest added token that s[0..n) starts with, among those matched in this phase (the
 * `normalized` ones, or the others) and, unless allow_special, not special; NULL when none.
 * The crate's leftmost-longest search calls this at each position whose byte is in
 * added_first. */
const llm_hf_added *llm_hf_added_at(const llm_hf *h, const unsigned char *s, size_t n, int normalized,
                                    int allow_special);

/* The vocabulary string of id as tokenizer.json spells it (byte-level: the bytes in GPT-2's
 * printable alphabet) appended to out; the model's tokens and the extra entries, not the
 * added tokens. Returns 0, or -1 when id has none. */
int llm_hf_vocab_string(const llm_hf *h, uint32_t id, llm_buf *out);
/* The id of a vocabulary string as tokenizer.json spells it, or LLM_BPE_NONE. */
uint32_t llm_hf_vocab_id(const llm_hf *h, const char *s, size_t n);
/* Appends GPT-2's alphabet spelling of bytes s[0..n) (bytes_to_unicode) to out. */
void llm_hf_byte_alphabet(const unsigned char *s, size_t n, llm_buf *out);

/* The tables behind a tokenizer (lib/tokenizer.c), for lib/tokenizer_json.c: its BPE, and
 * its tokenizer.json definition (NULL for a tiktoken encoding). */
const llm_bpe *llm_tokenizer_bpe(const llm_tokenizer *t);
const llm_hf *llm_tokenizer_hf(const llm_tokenizer *t);

/* Per-thread state of the pipeline: scratch buffers and regex matchers. */
typedef struct llm_hf_state llm_hf_state;
llm_hf_state *llm_hf_state_new(const llm_hf *h);   /* NULL when out of memory */
void llm_hf_state_free(llm_hf_state *s);           /* NULL-safe */

/* Encodes one pre-token (raw bytes when byte-level, else normalized UTF-8) into out. */
typedef int (*llm_hf_piece_fn)(void *ctx, const unsigned char *s, size_t n, llm_ids *out,
                               llm_error *err);

/* The tokenizers crate's encode(text, add_special_tokens=false): added tokens (the special
 * ones only when allow_special), normalizers, pre-tokenizers, and `piece` for each pre-token.
 * Invalid UTF-8 (which a Rust string cannot hold) is kept: each ill-formed subsequence is a
 * pre-token of its own and the valid runs around it are encoded run by run. Returns 0, or -1
 * with err set. */
int llm_hf_encode(const llm_hf *h, llm_hf_state *st, const char *text, size_t n, int allow_special,
                  llm_hf_piece_fn piece, void *ctx, llm_ids *out, llm_error *err);

/* The model's first symbols for a pre-token of a text (not byte-level) vocabulary: each
 * character's token, else its <0xXX> byte tokens (byte_fallback), else unk (consecutive ones
 * fused with fuse_unk); characters without any are dropped, as the crate does. ids has room
 * for n. Returns the count. */
size_t llm_hf_symbols(const llm_hf *h, const unsigned char *s, size_t n, uint32_t *ids);

/* Appends the text of ids[0..n) as the decoders say (byte-level: the token bytes; otherwise
 * Replace, ByteFallback and Strip over the joined tokens). Added tokens give their content.
 * Returns 0, or -1 with err set (an id without a token, out of memory). */
int llm_hf_decode(const llm_hf *h, const uint32_t *ids, size_t n, llm_buf *out, llm_error *err);

#ifdef __cplusplus
}
#endif
#endif

/* BPE tokenizers: text -> token ids and back, byte-exact with the reference encoders:
 * tiktoken's encodings (gpt2, r50k_base, p50k_base, p50k_edit, cl100k_base, o200k_base) and
 * Hugging Face tokenizer.json files with a BPE model (byte-level like Qwen and LLaMA-3, or
 * SentencePiece-style like LLaMA-2), as the `tokenizers` crate encodes them.
 *
 * A tokenizer is immutable once loaded and shared by every thread; each thread encodes with
 * its own llm_encoder, which holds the regex match state, scratch memory and a bounded cache
 * of pre-token -> ids. Nothing here prints or exits. */
#ifndef LLM_TOKENIZER_H
#define LLM_TOKENIZER_H

#include "buf.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm_tokenizer llm_tokenizer;
typedef struct llm_encoder llm_encoder;

/* A growable array of token ids. Zero-initialised (or llm_ids_init) is empty. */
typedef struct llm_ids {
    uint32_t *data;   /* owned */
    size_t len;
    size_t cap;
} llm_ids;

void llm_ids_init(llm_ids *v);
void llm_ids_free(llm_ids *v);                     /* v may be reused after init */
static inline void llm_ids_clear(llm_ids *v) { v->len = 0; }
/* Makes room for `extra` more ids: 0, or -1 when out of memory (v unchanged). */
int llm_ids_reserve(llm_ids *v, size_t extra);
int llm_ids_push(llm_ids *v, uint32_t id);        /* 0, or -1 when out of memory */

/* ---- loading ---- */

/* Loads a tokenizer by name or path.
 * - A tiktoken name ("gpt2", "cl100k_base", ...) is looked up as NAME.tiktoken in the
 *   tokenizer directory: $LLM_TOKENIZER_DIR when set, else the first of
 *   EXE/../data/tokenizers, EXE/../share/llm-tools/tokenizers (EXE: the running program's
 *   folder) and ./data/tokenizers that holds the file. Any other name ("qwen3", "llama3")
 *   is NAME.json, a tokenizer.json, in the same places. `make tokenizers` fills data/tokenizers.
 * - A path ending in .json, or a folder (which must hold tokenizer.json), is a tokenizer.json;
 *   its name is the file's without .json, or the folder's for a file called tokenizer.json.
 * - Another path (it contains '/' or ends in .tiktoken) is read as a rank file; its basename
 *   without .tiktoken must name a known encoding, which gives the regex and special tokens
 *   (llm_tokenizer_load_tiktoken takes the encoding separately).
 * Returns NULL with err set (file not found, with the places searched; malformed file). */
llm_tokenizer *llm_tokenizer_load(const char *name_or_path, llm_error *err);
/* A tiktoken rank file at path, with the regex and special tokens of `encoding`. */
llm_tokenizer *llm_tokenizer_load_tiktoken(const char *path, const char *encoding, llm_error *err);
/* The same from a rank file already in memory (data[0..n) is copied from, not kept). */
llm_tokenizer *llm_tokenizer_from_tiktoken(const char *data, size_t n, const char *encoding,
                                           llm_error *err);
/* A Hugging Face tokenizer.json at path (BPE model), called `name`. */
llm_tokenizer *llm_tokenizer_load_hf(const char *path, const char *name, llm_error *err);
/* The same from the file's text data[0..n) (copied from, not kept). Fails with a message that
 * names what it cannot do ("unsupported pre-tokenizer 'Metaspace'") rather than encode
 * differently from the tokenizers crate. */
llm_tokenizer *llm_tokenizer_from_hf_json(const char *data, size_t n, const char *name,
                                          llm_error *err);
void llm_tokenizer_free(llm_tokenizer *t);         /* NULL-safe */

/* The encoding's name, e.g. "cl100k_base". */
const char *llm_tokenizer_name(const llm_tokenizer *t);
/* Every token id (ordinary or special) is below this: tiktoken's n_vocab. */
uint32_t llm_tokenizer_vocab_size(const llm_tokenizer *t);
/* XXH3-64 of the definition: each id's bytes in id order, the regex and the special tokens.
 * The same tokenizer gives the same hash whatever file it came from. */
uint64_t llm_tokenizer_hash(const llm_tokenizer *t);
/* "xxh3:" and the hash as 16 hex digits, as the stream header records it. */
void llm_tokenizer_hash_string(const llm_tokenizer *t, char out[22]);
/* The end-of-text token, or -1 when the tokenizer has none: tiktoken's <|endoftext|>; for a
 * tokenizer.json the token its post-processor appends, else the added token called
 * <|endoftext|>, <|end_of_text|>, </s> or <eos> (the first found). */
int64_t llm_tokenizer_eos(const llm_tokenizer *t);
/* The beginning-of-text token the same way (<|begin_of_text|>, <s>, <bos>), or -1. */
int64_t llm_tokenizer_bos(const llm_tokenizer *t);
/* The padding token: a tokenizer.json's added token called <|pad|>, <pad>, [PAD] or
 * <|padding|> (the first found), or -1 when it has none (tiktoken encodings never do). */
int64_t llm_tokenizer_pad(const llm_tokenizer *t);
/* What the post-processor's template (TemplateProcessing) puts around one text: *bos before
 * and *eos after it, -1 for none. What Hugging Face's encode(text, add_special_tokens=True)
 * adds; tiktoken encodings add nothing. */
void llm_tokenizer_template(const llm_tokenizer *t, int64_t *bos, int64_t *eos);
/* Special tokens: how many, the i-th (its text, *id set), and lookup by text (-1: none).
 * For a tokenizer.json, its added tokens marked "special". */
size_t llm_tokenizer_n_special(const llm_tokenizer *t);
const char *llm_tokenizer_special(const llm_tokenizer *t, size_t i, uint32_t *id);
int64_t llm_tokenizer_special_id(const llm_tokenizer *t, const char *text);
/* The bytes that token id stands for in the text it was encoded from, *len set: a token's
 * bytes, a special or added token's text. NULL when the id has none, or when the tokenizer's
 * tokens spell another alphabet than the text's bytes (SentencePiece-style tokenizer.json),
 * so that the bytes of encoded ids need not add up to their text. Points into t. */
const char *llm_tokenizer_token_bytes(const llm_tokenizer *t, uint32_t id, size_t *len);
/* The pre-tokenizer's regex (a tokenizer.json's first one, "" when it has none). */
const char *llm_tokenizer_pattern(const llm_tokenizer *t);

/* ---- encoding and decoding ---- */

/* An encoder for one thread, with a pre-token cache of about cache_bytes (0: the default,
 * 4 MiB; the cache never grows past it), and 1 MiB more for the parts that CJK pieces are
 * cut into (see llm_bpe_cut). NULL when out of memory. */
llm_encoder *llm_encoder_new(const llm_tokenizer *t, size_t cache_bytes);
void llm_encoder_free(llm_encoder *e);             /* NULL-safe */

/* Appends the ids of text[0..n) to out (which is not cleared first). Special-token strings
 * in the text are ordinary text unless allow_special is nonzero, when each becomes its id
 * (the leftmost occurrence first, the longest of those starting there). A tokenizer.json's
 * added tokens that are not special are always matched, as the crate does; the post-
 * processor's BOS/EOS are not added (see llm_tokenizer_template).
 * Valid UTF-8 is encoded exactly as tiktoken's encode_ordinary / encode does. Invalid UTF-8
 * is encoded too, losslessly: each maximal ill-formed subsequence is a piece of its own
 * (byte-level BPE over its bytes) and the valid text around it is pre-tokenized run by run,
 * so decode(encode(x)) == x for any bytes.
 * Returns 0, or -1 with err set (out of memory, the regex engine's limits); on failure out
 * keeps the ids appended so far. */
int llm_encode(llm_encoder *e, const char *text, size_t n, int allow_special, llm_ids *out,
               llm_error *err);

/* Pre-token cache counters since llm_encoder_new (pieces looked up, found). */
void llm_encoder_stats(const llm_encoder *e, uint64_t *lookups, uint64_t *hits);

/* Appends the bytes of ids[0..n) to out: each token's bytes, a special token's text. Returns
 * 0, or -1 with err set when an id is not in the vocabulary or out of memory. */
int llm_decode(const llm_tokenizer *t, const uint32_t *ids, size_t n, llm_buf *out, llm_error *err);

/* ---- extending, and saving as tokenizer.json ---- */

/* What llm_tokenizer_add_tokens did with the tokens it was given. */
typedef struct llm_added_count {
    size_t added;           /* new ids: first_id, first_id + 1, ... in the order given */
    uint32_t first_id;
    size_t in_vocab;        /* already in the model's vocabulary: now added tokens too, with
                             * their own ids, so matched whole before the pre-tokenizer */
    size_t skipped;         /* empty, already an added token (left as it is), or given before */
} llm_added_count;

/* A new tokenizer: t with tokens[i] (lens[i] bytes of UTF-8 each) added as Hugging Face's
 * tokenizer.add_tokens([...]) adds them: not special, normalized, ids after the highest
 * (the crate's rule), matched whole wherever they occur, before the pre-tokenizer splits the
 * text. A token already in the model's vocabulary keeps its id (the crate does the same);
 * one that is already an added token is skipped (the crate would redefine it with these
 * flags, which can turn a special token into an ordinary one). A tiktoken encoding is first
 * turned into its tokenizer.json (llm_tokenizer_to_json), whose encoding is the same. The
 * result is what loading its llm_tokenizer_to_json gives, hash included; it is called name
 * (NULL: t's name). t is unchanged. Returns NULL with err set (a token that is not UTF-8,
 * ids past LLM_BPE_MAX_IDS, out of memory). */
llm_tokenizer *llm_tokenizer_add_tokens(const llm_tokenizer *t, const char *const *tokens, const size_t *lens,
                                        size_t n, const char *name, llm_added_count *count, llm_error *err);
/* Appends t as a Hugging Face tokenizer.json to out: what the tokenizers crate (and
 * llm_tokenizer_load) loads to the same ids for any text. A tokenizer.json gives back its own
 * definition (loading it again gives the same hash); a tiktoken encoding is written as byte-
 * level BPE: its regex as a Split, every pair of tokens whose bytes join into a token as a
 * merge ranked by that token, whole pieces first (ignore_merges), its special tokens as
 * special added tokens (in the vocabulary too, at their ids). Returns 0, or -1 with err set. */
int llm_tokenizer_to_json(const llm_tokenizer *t, llm_buf *out, llm_error *err);

/* ---- the embedded default ---- */

/* GPT-2's tokenizer (the tiktoken gpt2 encoding), built into the library so that it needs no
 * file: the same definition and hash as gpt2.tiktoken. A new tokenizer each call (free it).
 * Returns NULL with err set (out of memory). */
llm_tokenizer *llm_tokenizer_load_embedded(llm_error *err);
/* What a program's --tokenizer gives: llm_tokenizer_load(name_or_path), except that NULL is
 * the embedded default and the name "gpt2" falls back to it when no rank file is found. */
llm_tokenizer *llm_tokenizer_load_default(const char *name_or_path, llm_error *err);

#ifdef __cplusplus
}
#endif
#endif

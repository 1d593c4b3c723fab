/* The llm-stream format (man/llm-stream.5): a zstd stream of token records with a JSON
 * header in a skippable frame and, on regular files, an index of frames at the end.
 * Writers and readers here are the only code that knows the byte layout. */
#ifndef LLM_STREAM_H
#define LLM_STREAM_H

#include "buf.h"
#include "common.h"
#include "ledger.h"

#include <stdio.h>

#define LLM_STREAM_VERSION 1

/* Frame limits a reader enforces before allocating, so corrupt sizes cannot exhaust memory. */
#define LLM_FRAME_MAX_CONTENT (256u << 20)  /* decompressed bytes of one data frame */
#define LLM_HEADER_MAX (16u << 20)          /* bytes of header JSON */
#define LLM_RECORD_MAX_TOKENS ((LLM_FRAME_MAX_CONTENT - 64) / 4)
#define LLM_DEFAULT_FRAME_BYTES (1u << 20)  /* target decompressed size of a data frame */
#define LLM_DEFAULT_LEVEL 3                 /* zstd's own default */

typedef enum llm_kind {
    LLM_KIND_DOCS = 1,   /* one record per document */
    LLM_KIND_BLOCKS = 2  /* training examples: packed blocks or collated SFT samples */
} llm_kind;

const char *llm_kind_name(llm_kind k);      /* "docs", "blocks" */
int llm_kind_parse(const char *s, llm_kind *out); /* 0, or -1 for an unknown name */

#define LLM_NO_TOKEN (-1)  /* a special id the tokenizer does not have */

/* What every stream says about itself. Strings are owned (llm_header_free). */
typedef struct llm_header {
    int version;             /* LLM_STREAM_VERSION */
    llm_kind kind;
    int token_bytes;         /* 2 (u16) or 4 (u32) */
    uint32_t vocab_size;     /* every token id is below this */
    char *tokenizer_name;    /* e.g. "gpt2"; never NULL after init */
    char *tokenizer_hash;    /* hash of the tokenizer's definition, e.g. "xxh64:..." */
    int64_t eos_id, pad_id, bos_id;   /* LLM_NO_TOKEN when absent */
    uint32_t block_size;     /* 0 when records have no fixed length */
    char *provenance;        /* JSON array of producing steps, carried forward unchanged */
} llm_header;

/* Sets defaults (docs, u16, no specials, provenance "[]"). Returns 0, -1 when out of memory. */
int llm_header_init(llm_header *h);
void llm_header_free(llm_header *h);        /* NULL-safe; leaves h re-initialisable */
int llm_header_copy(llm_header *dst, const llm_header *src);  /* dst uninitialised */
int llm_header_set_tokenizer(llm_header *h, const char *name, const char *hash);
/* The narrowest token width for a vocabulary: 2 when every id fits u16, else 4. */
int llm_token_bytes_for_vocab(uint32_t vocab_size);

/* Appends one step {"program","version","argv":[...]} to the provenance. */
int llm_header_add_step(llm_header *h, const char *program, int argc, char *const argv[]);
/* Appends the steps of `other` that h does not already hold (merging inputs). */
int llm_header_merge_provenance(llm_header *h, const llm_header *other);

/* Checks the fields a reader relies on (width fits vocab, specials below vocab...). */
int llm_header_validate(const llm_header *h, llm_error *err);
/* 1 when a and b describe the same data (all fields but provenance equal), else 0 with
 * `why` naming the first difference, e.g. "tokenizer gpt2 vs cl100k_base". */
int llm_header_compatible(const llm_header *a, const llm_header *b, char *why, size_t whylen);

/* Header <-> JSON text (the payload of the header frame). */
void llm_header_to_json(const llm_header *h, llm_buf *out);
int llm_header_from_json(llm_header *h, const char *json, size_t len, llm_error *err);

/* One record. Tokens are little-endian u16 or u32 as `token_bytes` says; the reader hands
 * out pointers into its frame buffer, valid until the next call on that reader. */
typedef struct llm_record {
    uint32_t n_tokens;
    int token_bytes;
    const void *tokens;
    /* NULL when every token counts in the loss; else one byte per token, 1 = counted,
     * 0 = masked (label -100 in the Hugging Face convention). */
    const uint8_t *mask;
    /* Positions where a document starts inside the record, strictly ascending, each
     * below n_tokens; n_bounds == 0 when the record carries none. */
    uint32_t n_bounds;
    const uint32_t *bounds;
} llm_record;

static inline uint32_t llm_record_token(const llm_record *r, size_t i)
{
    return r->token_bytes == 2 ? ((const uint16_t *)r->tokens)[i] : ((const uint32_t *)r->tokens)[i];
}

/* ---- writing ---------------------------------------------------------------------- */

typedef struct llm_writer_opts {
    int level;               /* zstd level; 0 means LLM_DEFAULT_LEVEL */
    size_t frame_bytes;      /* target decompressed frame size; 0 means the default */
    int index;               /* 1 always, 0 never, -1 (default) when fd is a regular file */
    unsigned threads;        /* frames compressed on this many threads, written in order;
                              * 0 or 1: in the calling thread. The bytes are the same for any. */
} llm_writer_opts;

typedef struct llm_writer llm_writer;

/* Starts a stream on fd (not closed by the writer) and writes its header. The header is
 * copied. Returns NULL with err set. */
llm_writer *llm_writer_open(int fd, const llm_header *h, const llm_writer_opts *opts, llm_error *err);
/* Adds one record; it goes out with its frame, whole. Token width may differ from the
 * stream's (converted); ids must be below vocab_size. Returns 0 or -1 (llm_writer_error). */
int llm_writer_put(llm_writer *w, const llm_record *r);
/* Writes the last frame and the index. Returns 0 or -1. Frees nothing: call _free. */
int llm_writer_finish(llm_writer *w);
/* The same, with the ledger (NULL: none) in a trailer frame before the index. */
int llm_writer_finish_ledger(llm_writer *w, const llm_ledger *ledger);
/* Fills a stage's "written" counts from what this writer took so far (padding is the
 * caller's to set). */
void llm_writer_account(const llm_writer *w, llm_stage *s);
void llm_writer_free(llm_writer *w);        /* NULL-safe; does not finish */
const char *llm_writer_error(const llm_writer *w);
uint64_t llm_writer_records(const llm_writer *w);
uint64_t llm_writer_tokens(const llm_writer *w);
uint64_t llm_writer_bytes(const llm_writer *w);   /* compressed bytes written so far */

/* ---- reading ---------------------------------------------------------------------- */

typedef struct llm_reader llm_reader;

/* One data frame of a stream, as the index lists it. */
typedef struct llm_frame_info {
    uint64_t offset;         /* of the frame's first byte in the file */
    uint64_t first_record;   /* number of records before this frame */
    uint32_t records;
    uint32_t tokens;
} llm_frame_info;

typedef struct llm_index {
    size_t n_frames;
    llm_frame_info *frames;  /* owned */
    uint64_t records, tokens;
} llm_index;

void llm_index_free(llm_index *idx);        /* frees frames; NULL-safe */

/* Reads the header from fd (not closed by the reader). `name` is used in messages
 * ("-" or NULL for stdin). Returns NULL with err set, e.g. "not an llm-stream". */
llm_reader *llm_reader_open(int fd, const char *name, llm_error *err);
void llm_reader_free(llm_reader *r);        /* NULL-safe */
const llm_header *llm_reader_header(const llm_reader *r);

/* The next record: 1 and *rec filled, 0 at a clean end, -1 on corrupt or truncated input
 * (llm_reader_error says what and at which byte offset). Later headers of concatenated
 * streams must be compatible with the first and are checked; indexes met on the way are
 * checked against what was read. */
int llm_reader_next(llm_reader *r, llm_record *rec);
const char *llm_reader_error(const llm_reader *r);
uint64_t llm_reader_offset(const llm_reader *r);  /* bytes of input consumed */
/* Every header met so far merged: the first one, plus the provenance of later ones. */
const llm_header *llm_reader_merged_header(const llm_reader *r);
/* The ledgers of the segments read so far from their start, summed stage by stage. */
const llm_ledger *llm_reader_ledger(const llm_reader *r);
/* Segments begun so far, and how many of them ended in a ledger: when they differ after the
 * last record, part of the input carries no account. */
uint64_t llm_reader_segments(const llm_reader *r);
uint64_t llm_reader_ledgers(const llm_reader *r);

/* Random access (seekable regular files). Loads the index from the end of the file,
 * following the chain of indexes of concatenated streams; when some part has no index
 * and `scan` is nonzero, builds it by reading that part. Returns 0 with *out filled
 * (caller frees), 1 when the input has no usable index and scan is 0, -1 on error. */
int llm_reader_load_index(llm_reader *r, int scan, llm_index *out);
/* The summed ledgers of a seekable file, found through its indexes without reading the
 * data (llm-train, llm-cat --ledger). Returns 0 with *out replaced, 1 when some part of the
 * file has no index or no ledger (out then holds those found), -1 on error. */
int llm_reader_load_ledger(llm_reader *r, llm_ledger *out);
/* Merges the provenance of every segment of a seekable file, found through its indexes
 * without reading the data, into the merged header, so that it holds all of them before
 * the first record. Returns 0, 1 when some part of the file has no index (the segments
 * that part holds are merged only as reading meets them), -1 on error. */
int llm_reader_load_provenance(llm_reader *r);
/* The whole ledger of the stream on fd: through its indexes, else by reading it all.
 * *unaccounted: concatenated streams in it that carry none. 0, or -1 with err set. */
int llm_stream_ledger(int fd, const char *name, llm_ledger *out, uint64_t *unaccounted, llm_error *err);
/* Positions the reader at the start of frame `i` of idx (a data frame). Returns 0 or -1. */
int llm_reader_seek(llm_reader *r, const llm_index *idx, size_t i);

#endif

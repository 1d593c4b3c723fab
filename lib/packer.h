/* Sequences (documents, or fine-tuning examples) into fixed-size training blocks, the two
 * ways the recipes do it:
 *   concat  run_clm.py's group_texts: everything concatenated and cut every block_size
 *           tokens, the short remainder dropped (or padded and masked); or, with a stride,
 *           windows that overlap, as the sliding-window perplexity recipe evaluates;
 *   fit     whole sequences bin-packed into blocks, best fit decreasing within a window of
 *           sequences so it streams; the rest of each block is masked padding and every
 *           sequence's start is recorded, so attention and positions can restart there.
 * Blocks go out through a callback in a deterministic order that depends only on the
 * sequences and the options. llm-pack and llm-collate --pack use it. */
#ifndef LLM_PACKER_H
#define LLM_PACKER_H

#include "stream.h"

typedef enum llm_pack_mode { LLM_PACK_CONCAT, LLM_PACK_FIT } llm_pack_mode;

typedef struct llm_packer_opts {
    llm_pack_mode mode;
    uint32_t block_size;
    uint32_t pad_id;          /* fills padding; its positions are always masked */
    int pad_remainder;        /* concat: pad the last short block instead of dropping it */
    int boundaries;           /* concat: record where sequences start inside each block */
    uint64_t group;           /* concat: cut the remainder off after every `group` sequences,
                               * as run_clm.py's map(batched=True) does per 1000; 0: never */
    uint32_t stride;          /* concat: a window starts every `stride` tokens (1 to block_size),
                               * its first block_size - stride tokens the previous one's end,
                               * masked, so each token counts once; the last window is kept,
                               * padded. 0: no overlap. Not with group. */
    int drop_long;            /* fit: drop a sequence longer than a block, not split it */
    size_t window;            /* fit: sequences sorted and packed together (0: 1024) */
} llm_packer_opts;

/* Receives each finished block (u32 tokens, block_size of them); the record is valid only
 * during the call. Returns 0, or -1 to stop the packer: that -1 is passed back up, and
 * the callback reports its own error (the packer's err is left as it is). */
typedef int (*llm_block_fn)(void *ctx, const llm_record *block);

/* What went in and what came out; tokens in = tokens in blocks + dropped (both reasons). */
typedef struct llm_packer_stats {
    uint64_t sequences, tokens;          /* added */
    uint64_t blocks, block_tokens;       /* written: real tokens in blocks, padding not counted */
    uint64_t pad_tokens;                 /* padding written */
    uint64_t masked_tokens;              /* real tokens written with their mask bit 0 */
    uint64_t remainder_tokens, remainders; /* concat: dropped short tails (one a group) */
    uint64_t remainder_sequences;        /* concat: sequences all of whose tokens were in one */
    uint64_t remainder_cut;              /* concat: sequences whose tail was in one */
    uint64_t context_tokens;             /* concat with a stride: tokens written again, masked */
    uint64_t long_split, long_pieces;    /* fit: sequences longer than a block, and their pieces */
    uint64_t long_dropped, long_dropped_tokens;
} llm_packer_stats;

typedef struct llm_packer llm_packer;

/* NULL with err set for bad options or no memory. */
llm_packer *llm_packer_new(const llm_packer_opts *o, llm_block_fn fn, void *ctx, llm_error *err);
void llm_packer_free(llm_packer *p);          /* NULL-safe */
/* Adds one sequence (any token width, optional mask; its starts are ignored). Returns 0,
 * or -1: out of memory (err set) or the callback's -1. */
int llm_packer_add(llm_packer *p, const llm_record *seq, llm_error *err);
/* Packs what is held and handles the remainder. Returns 0 or -1 as _add. */
int llm_packer_finish(llm_packer *p, llm_error *err);
const llm_packer_stats *llm_packer_stats_get(const llm_packer *p);

#endif

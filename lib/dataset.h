/* The data of llm-train and llm-eval: a `blocks` stream file (llm-pack, llm-collate) read
 * through its frame index, in file order for an evaluation or shuffled for training, and
 * rows of such records put together into the batches of lib/model.h.
 *
 * Shuffling goes through the index, so the data never has to fit in memory: each epoch
 * permutes the frames with (seed, epoch), takes them in groups of about `window` tokens, and
 * permutes the records of each group. A data set no bigger than the window is shuffled
 * whole, as Hugging Face's RandomSampler does. Where a run stands is three words (epoch,
 * group, record within the group) that a checkpoint saves: the same seed and words give the
 * same records in the same order. */
#ifndef LLM_DATASET_H
#define LLM_DATASET_H

#include "model.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm_dataset llm_dataset;

/* Opens a stream file of kind blocks (a docs stream is refused with the llm-pack hint) and
 * loads its index, scanning the file when it has none. Standard input and pipes are
 * refused: shuffling and repeated evaluations need a file. NULL with err set. */
llm_dataset *llm_dataset_open(const char *path, llm_error *err);
void llm_dataset_free(llm_dataset *d);        /* NULL-safe */
const llm_header *llm_dataset_header(const llm_dataset *d);
uint64_t llm_dataset_records(const llm_dataset *d);
uint64_t llm_dataset_tokens(const llm_dataset *d);

/* File order, for an evaluation: llm_dataset_rewind, then llm_dataset_next until it
 * returns 0. 1 with the record (valid until the next call), 0 after the last, -1 with err
 * set on a corrupt file. */
int llm_dataset_rewind(llm_dataset *d, llm_error *err);
int llm_dataset_next(llm_dataset *d, llm_record *rec, llm_error *err);

/* ---- shuffled, for training --------------------------------------------------------- */

#define LLM_SAMPLER_WORDS 3     /* epoch, group, record: what a checkpoint saves */
#define LLM_SAMPLER_WINDOW (64u << 20)   /* default tokens per shuffled group */

typedef struct llm_sampler llm_sampler;

/* A sampler over d (borrowed; do not use llm_dataset_next while it is in use) at the start
 * of epoch 0. window: tokens per group, 0 for LLM_SAMPLER_WINDOW. NULL with err set. */
llm_sampler *llm_sampler_new(llm_dataset *d, uint64_t seed, size_t window, llm_error *err);
void llm_sampler_free(llm_sampler *s);        /* NULL-safe */
/* Hugging Face's group_by_length (LengthGroupedSampler) for batches of `batch` records, 0 to
 * turn it off; set it before the first record is taken. Within each group the shuffled
 * records are cut into megabatches of min(records / (4 x batch), 50) x batch records (at
 * least one batch), each sorted by length, longest first and ties in shuffled order; then
 * the first record of the first megabatch that holds the group's longest trades places with
 * the group's first record. Consecutive batches so hold records of like lengths, and the
 * longest batch comes first, so that a lack of memory shows at once. */
void llm_sampler_group_by_length(llm_sampler *s, size_t batch);
/* The next record (valid until the next call); after the last record of an epoch the next
 * epoch begins. 1, or -1 with err set. */
int llm_sampler_next(llm_sampler *s, llm_record *rec, llm_error *err);
/* 1 when the record last taken was its epoch's last: the next one begins another epoch. */
int llm_sampler_epoch_done(const llm_sampler *s);
/* Epochs done, with the share of the current one, as Hugging Face logs "epoch". */
double llm_sampler_epoch(const llm_sampler *s);
/* The position, to save; and to go back to it (-1 with err set when the words do not fit
 * this data set). */
void llm_sampler_tell(const llm_sampler *s, uint64_t words[LLM_SAMPLER_WORDS]);
int llm_sampler_seek(llm_sampler *s, const uint64_t words[LLM_SAMPLER_WORDS], llm_error *err);

/* ---- batches ------------------------------------------------------------------------ */

/* Rows of records padded to the longest, with the labels of the Hugging Face recipes:
 * position t's target is the token at t + 1 when that token counts (its mask byte is 1, or
 * the record has no mask), else -1; the last token of a row has none. With document
 * attention, each document's positions restart at 0 and attend inside it only, and the
 * first token of a document is not a target of the one before it (as
 * DataCollatorWithFlattening masks it); without, positions run 0..T-1 across documents, as
 * run_clm.py's packed blocks do. Padding is pad_id with target -1. */
typedef struct llm_batcher {
    int max_B, max_T;
    int32_t pad_id;
    int doc_attention;
    int rows, width;                 /* rows added; the longest row */
    int32_t *tokens, *targets, *pos; /* max_B x max_T, rows at stride max_T until built */
    uint64_t truncated;              /* records cut to max_T tokens */
    uint64_t tokens_cut;             /* their tokens past max_T */
    uint64_t tokens_added;           /* tokens of the rows (after cutting) */
} llm_batcher;

/* 0, or -1 with err set (out of memory, sizes not positive). */
int llm_batcher_init(llm_batcher *b, int max_B, int max_T, int32_t pad_id, int doc_attention,
                     llm_error *err);
void llm_batcher_free(llm_batcher *b);
/* Empties the batch (counters are kept). */
void llm_batcher_clear(llm_batcher *b);
/* Adds rec as the next row (rows < max_B); a longer record keeps its first max_T tokens
 * and is counted in truncated. An empty record adds nothing and returns 0; else 1. */
int llm_batcher_add(llm_batcher *b, const llm_record *rec);
/* The batch of the rows so far (B = rows, T = width), compacted in place: add nothing more
 * before llm_batcher_clear. */
void llm_batcher_build(llm_batcher *b, llm_batch *out);

/* ---- evaluation --------------------------------------------------------------------- */

/* The sums of an evaluation, and what the data held. */
typedef struct llm_eval_sums {
    llm_loss_stats stats;         /* over the counted positions: loss = loss_sum / count */
    uint64_t records;             /* every record read, the empty ones too */
    uint64_t empty;               /* records without a token */
    uint64_t with_bounds;         /* records that carry document starts */
    uint64_t truncated;           /* records cut to the batcher's max_T */
    uint64_t tokens_in;           /* tokens of every record */
    uint64_t tokens_cut;          /* of those, beyond max_T */
    /* Trainer's eval_loss: the mean of each batch's loss (over the batch's counted
     * positions), a batch weighing as many as its records, as evaluation_loop repeats a
     * batch's loss and gather_for_metrics cuts the last batch's copies to its records. A
     * batch that counts no position (whose loss is NaN there) is left out and counted;
     * NAN when every one is. Equal to stats' mean when every record counts as many. */
    double trainer_loss;
    uint64_t batches;             /* batches of llm_eval_opts.batch_records records */
    uint64_t batches_uncounted;   /* of those, the ones left out of trainer_loss */
} llm_eval_sums;

typedef struct llm_eval_opts {
    /* Trainer's per_device_eval_batch_size: the records of a batch of trainer_loss (0: the
     * batcher's max_B). Forwards take at most the batcher's max_B rows of one batch. */
    uint64_t batch_records;
    uint64_t max_batches;         /* stop after this many batches; 0: the whole data set */
    /* 1: plan m for inference as the rows need it (twice the longest so far, at most
     * max_T), for a model used for nothing else; 0: m is planned for the batcher's
     * max_B x max_T already (a training plan serves). */
    int plan_as_needed;
    /* Called after each forward when not NULL (a progress line). */
    void (*progress)(void *ctx, const llm_eval_sums *sums);
    void *ctx;
} llm_eval_opts;

/* Runs m over the records of d in file order, batch by batch, into *out (zeroed here). The
 * batcher is cleared before and after; its counters go on. 0, or -1 with err set. */
int llm_dataset_evaluate(llm_dataset *d, llm_model *m, llm_batcher *b, const llm_eval_opts *opts,
                         llm_eval_sums *out, llm_error *err);

#ifdef __cplusplus
}
#endif
#endif

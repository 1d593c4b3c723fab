/* Batches of input lines run on the ordered pool (pool.h) and handed back in input order: the
 * pipeline that llm-tokenize and llm-collate share. The calling thread fills batches with
 * lines and submits them; a worker processes a whole batch; finished batches come back, oldest
 * first, to the caller's write function on the calling thread, and are then reused. So the
 * output is the same bytes for any thread count, and memory is bounded by the batches in
 * flight (two per thread, and two more). Nothing here prints: failures are statuses. */
#ifndef LLM_FEED_H
#define LLM_FEED_H

#include "buf.h"
#include "common.h"
#include "ledger.h"
#include "lines.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A batch closes at this much text or this many lines; a longer line makes a batch of its own. */
#define LLM_BATCH_BYTES (1u << 20)
#define LLM_BATCH_LINES 8192

typedef struct llm_feed_batch_line {
    size_t off, len;          /* in the batch's text */
    uint64_t number;          /* its line number in its input (1-based) */
} llm_feed_batch_line;

typedef struct llm_feed_batch {
    llm_buf text;             /* the lines, each followed by LLM_JSON_PADDING zero bytes */
    llm_feed_batch_line *lines;
    size_t n, cap;
    int input;                /* the caller's number for the input the lines came from */
    uint64_t bytes_read;      /* input bytes read when the batch closed, for a progress line */
    void *user;               /* the caller's state for this batch (llm_feed_fns.user_new) */
    struct llm_feed_batch *next;   /* the feed's free list */
} llm_feed_batch;

/* Line i's text: len bytes, then LLM_JSON_PADDING readable bytes (after llm_feed_batch_seal). */
static inline const char *llm_feed_batch_text(const llm_feed_batch *b, size_t i) { return b->text.data + b->lines[i].off; }

/* Starts an empty line numbered `number` at the end of the text. 0, or -1 when out of memory. */
int llm_feed_batch_begin(llm_feed_batch *b, uint64_t number);
/* Appends p[0..len) to the last line (llm_buf_failed(&b->text) says whether it fit). */
void llm_feed_batch_append(llm_feed_batch *b, const char *p, size_t len);
/* Ends the last line with the padding simdjson reads past the end. */
void llm_feed_batch_seal(llm_feed_batch *b);
/* begin + append + seal. 0, or -1 when out of memory. */
int llm_feed_batch_add(llm_feed_batch *b, const char *p, size_t len, uint64_t number);
/* 1 when the batch holds LLM_BATCH_BYTES of text or LLM_BATCH_LINES lines. */
int llm_feed_batch_full(const llm_feed_batch *b);

/* What llm_feed_batch_fill does with each line. */
enum {
    LLM_FILL_SKIP_BLANK = 1,  /* leave out lines of spaces and tabs only (between JSONL records) */
    LLM_FILL_STRIP_BOM = 2    /* remove a UTF-8 byte order mark from the start of line 1 */
};

/* Adds the next lines of l to b until b is full or the input ends: each without its '\n' and
 * a '\r' before it, as `flags` says. The lines are copied, so the pages of a mapped input
 * before them are released (llm_lines_release). With a ledger, the ledger lines of JSONL
 * from llm-clean --ledger-inline are summed into it instead of joining b. Sets
 * b->bytes_read. Returns 1 when b holds lines, 0 when it holds none at the end of the input,
 * -1 with err set (a read error, out of memory, a ledger line that does not parse). */
int llm_feed_batch_fill(llm_feed_batch *b, llm_lines *l, int flags, llm_ledger *ledger, llm_error *err);
/* Where a JSONL input's ledger lines go. --ledger FILE is the account of the stages before,
 * and llm-clean writes the same account inline too (always, once its input had one):
 * summing both would count every stage before twice, so with a file the lines are checked
 * and set aside; without one they are the stream's. */
llm_ledger *llm_feed_ledger_target(const char *ledger_file, llm_ledger *stream, llm_ledger *aside);
/* The note for ledger lines set aside (nothing when there were none). */
void llm_feed_note_aside(const llm_ledger *aside, const char *ledger_file);
/* 1 when line `number` is a ledger line, summed into ledger; 0 when it is not; -1 with err
 * set when it is one but does not parse. */
int llm_feed_ledger_line(llm_ledger *ledger, const char *line, size_t len, uint64_t number, llm_error *err);

typedef struct llm_feed llm_feed;

/* The caller's side. ctx is llm_feed_new's. */
typedef struct llm_feed_fns {
    void *(*init)(void *ctx);                /* a worker's state; NULL when it cannot make one */
    void (*run)(void *state, llm_feed_batch *b);  /* processes b, on a worker thread */
    void (*fini)(void *state);               /* may be NULL */
    void *(*user_new)(void *ctx);            /* a new batch's b->user; may be NULL (no state) */
    void (*user_reset)(void *user);          /* before a batch is filled again; may be NULL */
    void (*user_free)(void *user);           /* may be NULL */
    /* Each processed batch, in submission order, on the calling thread: 0 to go on, or a
     * status (> 0) that stops the feed and that submit and drain return. */
    int (*write)(void *ctx, llm_feed_batch *b);
} llm_feed_fns;

/* A feed on `threads` workers (1: the batches run in the calling thread). fns is copied.
 * Returns NULL with err set. */
llm_feed *llm_feed_new(unsigned threads, const llm_feed_fns *fns, void *ctx, llm_error *err);
/* Waits for the batches in flight without writing them, stops the workers, frees every batch.
 * NULL-safe. */
void llm_feed_free(llm_feed *f);

/* An empty batch, reused or new (its user state reset or made). NULL when out of memory. */
llm_feed_batch *llm_feed_get_batch(llm_feed *f);
/* Gives back a batch that will not be submitted. */
void llm_feed_recycle(llm_feed *f, llm_feed_batch *b);

#define LLM_FEED_WORKER_FAILED (-1)   /* a worker could not make its state (out of memory) */

/* Hands b to the workers (the feed owns it now), after writing the batches that are done, and
 * waiting for the oldest when too many are in flight. Returns 0, the first nonzero status of
 * write, or LLM_FEED_WORKER_FAILED; after a failure every later call returns it too. */
int llm_feed_submit(llm_feed *f, llm_feed_batch *b);
/* Waits for every batch in flight and writes it. Returns as llm_feed_submit does. */
int llm_feed_drain(llm_feed *f);

#ifdef __cplusplus
}
#endif
#endif

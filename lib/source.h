/* Several stream inputs read in order as one: the headers merged (every input must match
 * the first but for provenance), records handed out one by one, bytes counted for the
 * progress line. Pipes and standard input are read once: their reader is kept from the
 * header pass. */
#ifndef LLM_SOURCE_H
#define LLM_SOURCE_H

#include "stream.h"

typedef struct llm_source llm_source;

/* Opens names[0..n) ("-" is standard input) far enough to merge their headers. NULL with
 * err set ("FILE: not an llm-stream", "b.bin: does not match a.bin: ..."). */
llm_source *llm_source_open(char *const *names, int n, llm_error *err);
void llm_source_free(llm_source *s);          /* NULL-safe */
/* The merged header: the first input's, with the provenance of all. */
const llm_header *llm_source_header(const llm_source *s);
/* 1 with the next record (valid until the next call), 0 after the last, -1 with err set. */
int llm_source_next(llm_source *s, llm_record *rec, llm_error *err);
/* The ledgers of the inputs read to their end, summed stage by stage (complete after the
 * last record), and how many streams among them carried none. */
const llm_ledger *llm_source_ledger(const llm_source *s);
uint64_t llm_source_unaccounted(const llm_source *s);
/* Inputs in which reading met steps of provenance that the merged header lacks: streams
 * concatenated in a pipe, or in a file part of which has no index. */
uint64_t llm_source_provenance_missed(const llm_source *s);
uint64_t llm_source_bytes(const llm_source *s);        /* compressed bytes read so far */
uint64_t llm_source_total_bytes(const llm_source *s);  /* of the regular files; 0 unknown */

/* The pieces, for a reader of its own (llm-cat): folds the header of input `name`, read by
 * r, into *merged: copied when it is the first, else checked against it and its provenance
 * merged; a seekable file adds the provenance of its later segments, found through its
 * indexes. 0, or -1 with err set. */
int llm_source_fold_header(llm_header *merged, int first, llm_reader *r, const char *name, const char *first_name,
                           llm_error *err);
/* After r was read: adds 1 to *inputs when the segments it met hold steps of provenance
 * that `written` lacks. 0, or -1 out of memory. */
int llm_source_count_unwritten(const llm_header *written, const llm_reader *r, uint64_t *inputs);
/* The notes an output's writer owes: streams without a ledger among those whose ledgers
 * were summed into one of `ledger_stages` stages, inputs with provenance the output header
 * lacks (llm_source_provenance_missed). Nothing when both counts are 0. */
void llm_source_notes(uint64_t unaccounted, size_t ledger_stages, uint64_t provenance_missed);

#endif

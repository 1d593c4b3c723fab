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
uint64_t llm_source_bytes(const llm_source *s);        /* compressed bytes read so far */
uint64_t llm_source_total_bytes(const llm_source *s);  /* of the regular files; 0 unknown */

#endif

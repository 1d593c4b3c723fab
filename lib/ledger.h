/* The ledger: every stage's account of its records, carried with the data from the first
 * program that wrote one to the trainer (man/llm-stream.5, "Ledger").
 *
 * A stage is one program run: what it read (in), what reached its output (out), what it
 * dropped by reason, what it sent to another output (split: a validation file, other
 * shards), and what it wrote. For every stage
 *
 *     in = out + sum(dropped) + sum(split)
 *
 * in records, and in tokens when the stage counts its input in tokens. Tokens cut from a
 * record that is kept (truncation, a packing remainder) are dropped tokens with no dropped
 * record; `truncated` counts those records.
 *
 * A stream carries its ledger in a trailer frame; programs read the ledgers of their
 * inputs, sum those of concatenated or merged inputs stage by stage, append their own stage
 * and write the result. Stages written by other versions keep their argv and counts. */
#ifndef LLM_LEDGER_H
#define LLM_LEDGER_H

#include "buf.h"
#include "common.h"

#include <stdio.h>

#define LLM_NO_COUNT UINT64_MAX   /* a count the stage does not keep (tokens of text input) */

typedef struct llm_tally {
    uint64_t records;
    uint64_t tokens;              /* LLM_NO_COUNT when not counted */
} llm_tally;

typedef struct llm_reason {
    char *name;                   /* "too-short", "remainder", ... */
    llm_tally n;
} llm_reason;

typedef struct llm_reasons {
    size_t len, cap;              /* cap in bytes (llm_grow) */
    llm_reason *items;
} llm_reasons;

typedef struct llm_stage {
    char *program;
    char *version;
    char *argv;                   /* a JSON array, carried as text */
    uint64_t runs;                /* program runs summed into this stage */
    char *unit;                   /* what a record of the input is: "documents", "lines"... */
    llm_tally in, out;
    llm_reasons dropped, split;
    uint64_t truncated;           /* records kept with tokens cut */
    int has_written;              /* the stage wrote a stream: */
    uint64_t written_records, written_tokens;  /* blocks or documents, every token in them */
    uint64_t padding;             /* pad tokens among written_tokens */
    uint64_t masked;              /* tokens with loss mask 0, padding included */
} llm_stage;

typedef struct llm_ledger {
    size_t len, cap;              /* cap in bytes (llm_grow) */
    llm_stage *stages;            /* oldest first */
} llm_ledger;

void llm_ledger_init(llm_ledger *l);
void llm_ledger_free(llm_ledger *l);              /* leaves l empty and reusable */
int llm_ledger_copy(llm_ledger *dst, const llm_ledger *src);   /* dst initialised; replaced */

/* Appends a stage for this run: program, version and argv as llm_header_add_step writes
 * them, runs 1, no counts. Returns it (valid until the ledger changes), NULL when out of
 * memory. */
llm_stage *llm_ledger_add_stage(llm_ledger *l, const char *program, const char *unit, int argc,
                                char *const argv[]);
/* Adds to a reason of a stage's dropped or split list, creating it. 0, or -1. */
int llm_reasons_add(llm_reasons *r, const char *name, uint64_t records, uint64_t tokens);
uint64_t llm_reasons_records(const llm_reasons *r);
uint64_t llm_reasons_tokens(const llm_reasons *r);   /* LLM_NO_COUNT when none counts tokens */

/* Sums `other` into l stage by stage: the k-th run of a program in one history meets the
 * k-th run of it in the other; a stage only one side has keeps its place. 0, or -1. */
int llm_ledger_merge(llm_ledger *l, const llm_ledger *other);

/* JSON: an array of stage objects (man/llm-stream.5). */
void llm_ledger_to_json(const llm_ledger *l, llm_buf *out);
/* Replaces l with the ledger in json[0..len). 0, or -1 with err set. */
int llm_ledger_from_json(llm_ledger *l, const char *json, size_t len, llm_error *err);

/* Checks in = out + dropped + split for one stage; 0, or -1 with `why` saying which count
 * is off. */
int llm_stage_check(const llm_stage *s, char *why, size_t whylen);
/* The share of its input a stage dropped: the larger of the record and token shares. */
double llm_stage_drop_share(const llm_stage *s);
/* The share of the first stage's input lost on the way through every stage:
 * 1 - prod(1 - share of each stage). */
double llm_ledger_drop_share(const llm_ledger *l);
/* "dropped 12.50% of its input (remainder 900 tokens, too-long 2 documents)" into buf. */
void llm_stage_describe_drops(const llm_stage *s, char *buf, size_t len);

/* The --max-drop check of a program's own stage: 0 when within max_pct (a percentage; a
 * negative one means no limit), else 1 after printing why on stderr. */
int llm_stage_max_drop(const llm_stage *s, double max_pct);

/* The history as a table, one line per stage and one for each reason, for people. */
void llm_ledger_print_table(const llm_ledger *l, FILE *f);
/* The summary llm-train prints at start: stages, and the share lost overall. */
void llm_ledger_print_summary(const llm_ledger *l, const char *what, FILE *f);

/* Reads a ledger written by `llm-clean --ledger FILE`, or a JSON array as llm-cat
 * --ledger --json prints it, from a file. 0, or -1 with err set. */
int llm_ledger_load_file(llm_ledger *l, const char *path, llm_error *err);
/* Writes it there, atomically (temporary file + rename). 0, or -1 with err set. */
int llm_ledger_save_file(const llm_ledger *l, const char *path, llm_error *err);

/* The JSONL line llm-clean --ledger-inline appends and llm-tokenize recognises:
 * {"llm_ledger":[...]} followed by a newline. */
#define LLM_LEDGER_LINE_KEY "{\"llm_ledger\":"
void llm_ledger_to_line(const llm_ledger *l, llm_buf *out);
/* 1 when line[0..len) is such a line (and l, when not NULL, has its ledger merged in), 0
 * when it is not, -1 when it is but does not parse (err set). */
int llm_ledger_from_line(llm_ledger *l, const char *line, size_t len, llm_error *err);

#endif

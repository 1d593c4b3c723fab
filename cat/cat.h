/* llm-cat's parts: options, the record sources it reads, and the sinks it writes. */
#ifndef LLM_CAT_H
#define LLM_CAT_H

#include "cli.h"
#include "stream.h"

typedef enum { CAT_FROM_STREAM, CAT_FROM_IDS, CAT_FROM_RAW } cat_from;
typedef enum { CAT_TO_STREAM, CAT_TO_IDS, CAT_TO_RAW, CAT_TO_NPY, CAT_TO_HEADER, CAT_TO_STATS, CAT_TO_DECODE, CAT_TO_LEDGER } cat_to;
/* --decode's output: JSONL {"text": ...}, each text and a newline, or the texts back to back. */
typedef enum { CAT_DECODE_JSONL, CAT_DECODE_TEXT, CAT_DECODE_RAW } cat_decode_format;

typedef struct cat_opts {
    cat_from from;
    cat_to to;
    char **inputs;            /* "-" is stdin */
    int n_inputs;
    const char *output;       /* NULL: stdout */
    int force, quiet, json, on_error_skip;
    llm_writer_opts writer;
    uint64_t skip, head;      /* head 0: no limit */
    int has_head;
    uint64_t shard_k, shard_n;
    llm_header import;        /* header fields for --from=ids|raw */
    cat_decode_format decode;
    const char *tokenizer;    /* --tokenizer with --decode: NULL, the stream's own */
    int argc;                 /* the command line, for the provenance */
    char **argv;
} cat_opts;

/* Reads records from the inputs in order, applying --shard, --skip and --head. */
typedef struct cat_source cat_source;

/* Opens every input far enough to know the merged header (refusing inputs that do not
 * match the first). Prints its own errors; returns NULL on failure. */
cat_source *cat_source_open(const cat_opts *o);
void cat_source_free(cat_source *s);
const llm_header *cat_source_header(const cat_source *s);
/* 1 with a record, 0 at the end, -1 after printing an error. */
int cat_source_next(cat_source *s, llm_record *rec);
/* The inputs' ledgers summed (complete once the last record is read, or the input closed
 * early by --head), with this run's stage appended, into out (initialised). 0, or -1 after
 * a message. */
int cat_source_ledger(cat_source *s, llm_ledger *out);
/* Prints the summary line that accounts for every input record. */
void cat_source_summary(const cat_source *s, const char *what_out);
/* Prints each input's header as a line of JSON (--header). Returns an exit status. */
int cat_print_headers(const cat_opts *o);
/* --ledger: the inputs' ledgers summed stage by stage, as a table (or JSON with --json).
 * Returns an exit status. */
int cat_print_ledger(const cat_opts *o);

/* Record importers for --from=ids and --from=raw, used by cat_source. */
typedef struct cat_import cat_import;
cat_import *cat_import_open(const cat_opts *o, int fd, const char *name);
void cat_import_free(cat_import *im);
/* 1 with a record, 0 at end, -1 after printing an error. Malformed lines are an error, or
 * with --on-error=skip a counted skip. */
int cat_import_next(cat_import *im, llm_record *rec);
uint64_t cat_import_skipped(const cat_import *im);
uint64_t cat_import_bytes(const cat_import *im);

/* Writes the selected records in the --to format. Returns an exit status. */
int cat_write(const cat_opts *o, cat_source *src);
/* --stats over the selected records. Returns an exit status. */
int cat_stats(const cat_opts *o, cat_source *src);
/* --decode: the selected records back to text with the stream's tokenizer (or --tokenizer,
 * whose hash must be the stream's). Returns an exit status. */
int cat_decode(const cat_opts *o, cat_source *src);

#endif

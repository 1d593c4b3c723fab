/* llm-tokenize's internals: the options (main.c parses them), one document's encoding
 * (document.c) and the driver that reads, encodes on threads and writes a docs stream in
 * input order (run.c). */
#ifndef LLM_TOKENIZE_H
#define LLM_TOKENIZE_H

#include "json.h"
#include "stream.h"
#include "tokenizer.h"

typedef enum tok_in { TOK_IN_AUTO, TOK_IN_JSONL, TOK_IN_LINES, TOK_IN_WHOLE } tok_in;

typedef struct tok_opts {
    tok_in in;
    const char *field;          /* JSONL member holding the text */
    const char *tokenizer;      /* --tokenizer NAME|PATH; NULL: the embedded default */
    const char *add_tokens;     /* --add-tokens FILE: tokens to add, one a line */
    const char *save_tokenizer; /* --save-tokenizer FILE: write the tokenizer.json there */
    int eos;                    /* append the end-of-text token (default) */
    int bos;                    /* prepend the beginning-of-text token: 1 --bos, 0 --no-bos,
                                 * -1 as the tokenizer's post-processor says (default) */
    int allow_special;          /* --special=allow */
    int on_error_skip;
    int force, quiet;
    int level;                  /* zstd level; 0: the stream's default */
    unsigned threads;
    const char *ledger;         /* --ledger FILE: the account of the stages before */
    double max_drop;            /* --max-drop percentage; -1: no limit */
    const char *output;
    char **inputs;
    int n_inputs;
    int argc;                   /* the command line as typed, for the provenance */
    char **argv;
} tok_opts;

/* What every document gets around its text, decided once from the options and tokenizer. */
typedef struct tok_plan {
    const tok_opts *opts;
    const llm_tokenizer *tokenizer;
    int64_t bos_id, eos_id;     /* prepended / appended ids; -1: none */
} tok_plan;

/* The beginning-of-text id --bos prepends: the tokenizer's own when it has one, else (the
 * tiktoken encodings, as GPT-2 does) its end-of-text token. -1 when it has neither. */
int64_t tok_bos_id(const llm_tokenizer *t);

/* ---- document.c: one document ---- */

/* A worker's state: its encoder and JSON parser, reused from document to document. */
typedef struct tok_worker {
    llm_encoder *enc;
    llm_json_parser *json;
} tok_worker;

int tok_worker_init(tok_worker *w, const tok_plan *p);
void tok_worker_free(tok_worker *w);

/* What became of one document. */
typedef struct tok_result {
    uint32_t n_text;            /* tokens of the text alone; 0: an empty document */
    size_t ids_off, n_ids;      /* its record (BOS, text, EOS) in the batch's ids */
    char *error;                /* malformed input or a failed encode: the detail (owned) */
    int fatal;                  /* the error is no fault of the input (out of memory) */
} tok_result;

/* Encodes doc[0..len) (a line, a JSONL record or a whole input; LLM_JSON_PADDING readable
 * bytes follow it, `jsonl` says which) and appends its record's ids to ids. */
void tok_document(const tok_plan *p, tok_worker *w, int jsonl, const char *doc, size_t len, llm_ids *ids,
                  tok_result *res);

/* ---- vocab.c: the tokenizer ---- */

/* Loads --tokenizer, adds the tokens of --add-tokens (saying what it did unless quiet) and
 * writes --save-tokenizer. Returns the tokenizer (owned), or NULL after a message. */
llm_tokenizer *tok_tokenizer(const tok_opts *o);

/* ---- run.c ---- */

/* Loads the tokenizer, reads every input, writes the stream, prints the summary. Returns the
 * exit status. */
int tok_run(const tok_opts *o);

#endif

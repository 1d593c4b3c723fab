/* llm-eval's internals: the options (main.c parses them), the evaluation of a model over a
 * blocks stream (score.c), generation from prompts (generate.c, sampling in lib/sample.c)
 * and the model both load (load.c). */
#ifndef LLM_EVAL_H
#define LLM_EVAL_H

#include "dataset.h"
#include "model_cuda.h"
#include "model_io.h"
#include "sample.h"
#include "tokenizer.h"

typedef enum ev_doc_attention {
    EV_DOC_AUTO = 0,   /* documents kept apart where a record records their starts */
    EV_DOC_ON,         /* the same, and a note when no record has any */
    EV_DOC_OFF,        /* one sequence per record, positions 0..n-1, as run_clm.py */
} ev_doc_attention;

typedef struct ev_opts {
    const char *model;          /* --model DIR */
    const char *data;           /* --data FILE (evaluation) */
    int batch_size;             /* records a batch: Trainer's per_device_eval_batch_size */
    ev_doc_attention doc_attention;
    double label_smoothing;     /* --label-smoothing: Trainer's label_smoothing_factor */

    int generate;               /* --generate */
    const char **prompts;       /* --prompt TEXT, each */
    int n_prompts;
    const char *prompts_file;   /* --prompts FILE (JSONL) */
    const char *tokenizer;      /* --tokenizer; NULL: the model's */
    int max_new_tokens;
    llm_sample_config sample;
    uint64_t seed;

    llm_device device;          /* --device: where --data is evaluated (generation: the CPU) */
    const char *output;         /* -o FILE; NULL: stdout */
    unsigned threads;
    int quiet;
} ev_opts;

/* ---- load.c ---- */

/* The model of o->model with its config.json and the folder read (free it), threads set.
 * NULL after a message. */
/* Moves m to the device --device names (a no-op for the CPU; auto says on stderr when it
 * falls back to the CPU, unless quiet). 0, or -1 after a message. */
int ev_choose_device(const ev_opts *o, llm_model *m);
llm_model *ev_load_model(const ev_opts *o, llm_hf_config *hf, char **dir);

/* ---- score.c ---- */

/* An evaluation's sums, and whether document starts were honoured (in at least one record). */
typedef struct ev_score {
    llm_eval_sums sums;
    int doc_attention;
} ev_score;

/* Evaluates m over the records of data in file order, in batches of batch_size records (a
 * forward takes a batch, or as many rows of it as fit), into sc (zeroed here). Returns 0,
 * or -1 with err set. */
int ev_score_dataset(llm_model *m, llm_dataset *data, int batch_size, ev_doc_attention doc,
                     int quiet, ev_score *sc, llm_error *err);

/* --data: loads, evaluates, prints the JSON object and the summary. The exit status. */
int ev_run_score(const ev_opts *o);

/* ---- generate.c ---- */

/* --generate: the exit status. */
int ev_run_generate(const ev_opts *o);

#endif

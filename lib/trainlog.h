/* The training log of llm-train: one JSON line per step and per evaluation appended to
 * RUN/log.jsonl, and RUN/loss.svg, a self-contained chart of the train and validation loss
 * against tokens seen. Memory stays bounded however long the run: each curve keeps at most
 * LLM_TRAINLOG_POINTS points, neighbours averaged together as the run grows.
 *
 *   {"step":10,"epoch":0.0125,"tokens":81920,"loss":9.87654305,"lr":6.00000028e-05,
 *    "grad_norm":1.25,"tokens_per_s":40960.5,"elapsed_s":2,"mfu":0.31}
 *   {"step":100,"epoch":0.125,"tokens":819200,"val_loss":5.5,"val_perplexity":244.691932,
 *    "val_accuracy":0.25,"val_tokens":65536,"elapsed_s":20}
 *
 * Numbers are written so that they read back as the same float ("%.9g"); a value that JSON
 * cannot hold (NaN, an infinity: a diverged run) is written as null. */
#ifndef LLM_TRAINLOG_H
#define LLM_TRAINLOG_H

#include "buf.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLM_TRAINLOG_POINTS 512

/* One optimizer step. mfu is NaN when not measured (then left out of the line). */
typedef struct llm_log_step {
    uint64_t step;
    double epoch;
    uint64_t tokens;          /* tokens trained on so far, the chart's x */
    float loss, lr, grad_norm;
    double tokens_per_s, elapsed_s, mfu;
} llm_log_step;

/* One evaluation over the validation set; the perplexity is exp(val_loss). */
typedef struct llm_log_eval {
    uint64_t step;
    double epoch;
    uint64_t tokens;
    float val_loss, val_accuracy;
    uint64_t val_tokens;      /* tokens whose label counted */
    double elapsed_s;
} llm_log_eval;

typedef struct llm_trainlog llm_trainlog;

/* Opens RUN/log.jsonl (RUN must exist). A fresh run (resume 0) starts the log empty. A resumed
 * run (resume 1) keeps the lines of steps up to resume_step, the checkpoint's, and drops the
 * rest (steps a killed run logged after its last checkpoint, and a torn last line), so the log
 * reads as one run; the kept lines seed the chart. Returns the log (llm_trainlog_close), or
 * NULL with err set. */
llm_trainlog *llm_trainlog_open(const char *run, int resume, uint64_t resume_step, llm_error *err);
/* Closes the file; NULL-safe. Does not rewrite the chart (llm_trainlog_write_svg). */
void llm_trainlog_close(llm_trainlog *l);

/* Appends the line (one write, so a crash leaves whole lines) and adds the point. 0, or -1
 * with err set. */
int llm_trainlog_step(llm_trainlog *l, const llm_log_step *s, llm_error *err);
/* The same for an evaluation; then rewrites RUN/loss.svg. */
int llm_trainlog_eval(llm_trainlog *l, const llm_log_eval *e, llm_error *err);

/* Appends the chart's SVG text. */
void llm_trainlog_svg(const llm_trainlog *l, llm_buf *out);
/* Writes it to RUN/loss.svg atomically. 0, or -1 with err set. */
int llm_trainlog_write_svg(const llm_trainlog *l, llm_error *err);

/* The appended text of one line, for callers that print it too (to stderr). */
void llm_trainlog_step_json(const llm_log_step *s, llm_buf *out);
void llm_trainlog_eval_json(const llm_log_eval *e, llm_buf *out);

#ifdef __cplusplus
}
#endif
#endif

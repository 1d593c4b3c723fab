/* llm-eval --data: the mean cross-entropy, perplexity and next-token accuracy of a model over
 * the counted positions of a blocks stream, the compute_metrics of the Hugging Face recipes. */
#include "buf.h"
#include "cli.h"
#include "eval.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The progress line on a terminal: records and tokens so far, of the index's totals. */
typedef struct progress {
    int enabled, drawn;
    double start, last;
    uint64_t records, tokens;
} progress;

static void progress_draw(progress *p, const llm_eval_sums *sc)
{
    if (!p->enabled)
        return;
    double t = now_seconds();
    if (t - p->last < 0.25)
        return;
    p->last = t;
    double rate = (double)sc->tokens_in / (t - p->start);
    fprintf(stderr, "\r%s: %" PRIu64 " of %" PRIu64 " records, %.0f tokens/s", llm_cli_program(), sc->records,
            p->records, rate);
    if (p->tokens > sc->tokens_in && rate > 0) {
        double eta = (double)(p->tokens - sc->tokens_in) / rate;
        fprintf(stderr, ", ETA %d:%02d", (int)eta / 60, (int)eta % 60);
    }
    fputs("\033[K", stderr);
    p->drawn = 1;
}

static void progress_hook(void *ctx, const llm_eval_sums *sums)
{
    progress_draw(ctx, sums);
}

int ev_score_dataset(llm_model *m, llm_dataset *data, int batch_size, ev_doc_attention doc, int quiet,
                     ev_score *sc, llm_error *err)
{
    memset(sc, 0, sizeof *sc);
    const llm_header *h = llm_dataset_header(data);
    int V = m->cfg.vocab_size;
    /* Padding is never counted; any valid id does. */
    int32_t pad = h->pad_id >= 0 && h->pad_id < V ? (int32_t)h->pad_id
                  : h->eos_id >= 0 && h->eos_id < V ? (int32_t)h->eos_id : 0;
    /* A pass takes no more rows than the records, nor than it can; the batches of
     * eval_loss keep -b records whatever the passes (padding changes no number). */
    uint64_t records = llm_dataset_records(data);
    int rows = batch_size, most = llm_model_max_rows(m, m->cfg.block_size);
    if (records && (uint64_t)rows > records)
        rows = (int)records;
    if (rows > most && most > 0) {
        if (!quiet)
            llm_msg("-b %d: on the CPU a pass takes at most %d rows of %d tokens; a batch takes several", batch_size,
                    most, m->cfg.block_size);
        rows = most;
    }
    llm_batcher b;
    if (llm_batcher_init(&b, rows, m->cfg.block_size, pad, doc != EV_DOC_OFF, err) < 0)
        return -1;
    progress p = {.enabled = !quiet && isatty(STDERR_FILENO), .records = llm_dataset_records(data),
                  .tokens = llm_dataset_tokens(data)};
    p.start = p.last = now_seconds();
    llm_eval_opts eo = {.batch_records = (uint64_t)batch_size, .plan_as_needed = 1, .progress = progress_hook,
                        .ctx = &p};
    int rc = llm_dataset_evaluate(data, m, &b, &eo, &sc->sums, err);
    if (p.drawn)
        fputs("\r\033[K", stderr);
    sc->doc_attention = doc != EV_DOC_OFF && sc->sums.with_bounds > 0;
    llm_batcher_free(&b);
    return rc;
}

/* A double for JSON: null when it is not a finite number (no counted position, or a
 * perplexity past a double's range). */
static void put_number(llm_buf *b, double v)
{
    if (isfinite(v))
        llm_buf_printf(b, "%.9g", v);
    else
        llm_buf_puts(b, "null");
}

static void score_json(const ev_score *sc, const ev_opts *o, const char *dir, llm_buf *b)
{
    double n = (double)sc->sums.stats.count, loss = sc->sums.stats.loss_sum / n;
    llm_buf_printf(b, "{\"tokens\":%" PRId64 ",\"loss\":", sc->sums.stats.count);
    put_number(b, n > 0 ? loss : NAN);
    llm_buf_puts(b, ",\"perplexity\":");
    put_number(b, n > 0 ? exp(loss) : NAN);
    llm_buf_puts(b, ",\"accuracy\":");
    put_number(b, n > 0 ? (double)sc->sums.stats.correct / n : NAN);
    llm_buf_puts(b, ",\"eval_loss\":");
    put_number(b, sc->sums.trainer_loss);
    llm_buf_printf(b, ",\"batch_size\":%d", o->batch_size);
    if (o->label_smoothing > 0)    /* the losses above are the smoothed ones */
        llm_buf_printf(b, ",\"label_smoothing\":%.9g", o->label_smoothing);
    llm_buf_printf(b, ",\"records\":%" PRIu64 ",\"truncated\":%" PRIu64 ",\"doc_attention\":%s,\"model\":",
                   sc->sums.records, sc->sums.truncated, sc->doc_attention ? "true" : "false");
    llm_buf_json_string(b, dir, strlen(dir));
    llm_buf_puts(b, ",\"data\":");
    llm_buf_json_string(b, o->data, strlen(o->data));
    llm_buf_puts(b, "}\n");
}

static void summary(const ev_opts *o, const ev_score *sc, int block_size, double seconds)
{
    llm_msg("%" PRIu64 " records, %" PRIu64 " tokens, %" PRId64 " counted in the loss; %.1f s, %.0f tokens/s",
            sc->sums.records, sc->sums.tokens_in, sc->sums.stats.count, seconds,
            seconds > 0 ? (double)(sc->sums.tokens_in - sc->sums.tokens_cut) / seconds : 0.0);
    if (sc->sums.truncated)
        llm_msg("%" PRIu64 " records longer than the model's context of %d tokens were cut to it: "
                "%" PRIu64 " tokens not evaluated",
                sc->sums.truncated, block_size, sc->sums.tokens_cut);
    if (sc->sums.empty)
        llm_msg("%" PRIu64 " empty records", sc->sums.empty);
    if (o->doc_attention == EV_DOC_ON && !sc->sums.with_bounds)
        llm_msg("--doc-attention=on: no record records document starts; each was one sequence");
    if (!sc->sums.stats.count)
        llm_msg("%s: no position counts in the loss: loss, perplexity, accuracy and eval_loss are null", o->data);
    else if (sc->sums.batches_uncounted)
        llm_msg("%" PRIu64 " of the %" PRIu64 " batches of %d records count no position (every label masked): "
                "eval_loss leaves them out, where Trainer's would be NaN", sc->sums.batches_uncounted,
                sc->sums.batches, o->batch_size);
}

int ev_run_score(const ev_opts *o)
{
    llm_error err;
    llm_hf_config hf;
    char *dir = NULL;
    llm_dataset *data = NULL;
    llm_output out = {.fd = -1};
    llm_buf json;
    llm_buf_init(&json);
    int status = LLM_EXIT_FAILURE;
    double start = now_seconds();

    llm_model *m = ev_load_model(o, &hf, &dir);
    if (!m || ev_choose_device(o, m) < 0)
        goto done;
    m->label_smoothing = (float)o->label_smoothing;
    if (!(data = llm_dataset_open(o->data, &err)) ||
        llm_model_check_data(&hf, llm_dataset_header(data), o->data, &err) < 0) {
        llm_msg("%s", err.msg);
        goto done;
    }
    /* Open the output before the work, so that a bad -o fails at once. */
    if (llm_output_open(&out, o->output, 0, 0, &err) < 0) {
        llm_msg("%s", err.msg);
        goto done;
    }
    ev_score sc;
    if (ev_score_dataset(m, data, o->batch_size, o->doc_attention, o->quiet, &sc, &err) < 0) {
        llm_msg("%s", err.msg);
        goto done;
    }
    if (sc.sums.stats.count && !isfinite(sc.sums.stats.loss_sum)) {
        llm_msg("%s: the loss is %g: the model's outputs are not finite numbers (a diverged or damaged "
                "checkpoint)", dir, sc.sums.stats.loss_sum);
        goto done;
    }
    score_json(&sc, o, dir, &json);
    if (llm_buf_failed(&json)) {
        llm_msg("out of memory");
        goto done;
    }
    FILE *fp = llm_output_file(&out);
    if (!fp) {
        llm_msg("out of memory");
        goto done;
    }
    fwrite(json.data, 1, json.len, fp);
    if (llm_output_commit(&out, &err) < 0) {
        llm_msg("%s", err.msg);
        goto done;
    }
    if (!o->quiet)
        summary(o, &sc, m->cfg.block_size, now_seconds() - start);
    status = LLM_EXIT_OK;
done:
    if (status != LLM_EXIT_OK)
        llm_output_abort(&out);
    llm_buf_free(&json);
    llm_dataset_free(data);
    llm_model_free(m);
    free(dir);
    return status;
}

/* Our side of bench/train_cpu_bench.sh: training steps of a GPT-2 on the CPU (forward,
 * backward, clipping, AdamW) on random tokens, timed after one warm-up step. Prints
 * key=value lines: steps_per_s, tokens_per_s, loss (first and last step).
 *   train_bench THREADS STEPS B T LAYERS HEADS WIDTH VOCAB */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "adamw.h"
#include "model.h"
#include "rng.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: train_bench THREADS STEPS B T LAYERS HEADS WIDTH VOCAB\n");
        return 2;
    }
    int a[8];
    for (int i = 0; i < 8; i++)
        if ((a[i] = atoi(argv[i + 1])) < 1) {
            fprintf(stderr, "train_bench: arguments must be positive\n");
            return 2;
        }
    int threads = a[0], steps = a[1], B = a[2], T = a[3];
    llm_model_config cfg = {LLM_FAMILY_GPT2, a[4], a[5], a[6], T, a[7]};
    llm_adamw_config oc = {0.9f, 0.999f, 1e-8f, 0.1f};
    llm_error err;
    llm_model *m = llm_model_new(&cfg, &err);
    llm_adamw *opt = m ? llm_adamw_new(&oc, m->n_params, &err) : NULL;
    int32_t *tok = malloc(sizeof(int32_t) * B * (T + 1));
    if (!m || !opt || !tok)
        goto fail;
    llm_model_set_threads(m, threads);
    llm_model_init(m, 1);
    if (llm_model_plan(m, B, T, 1, &err))
        goto fail;
    llm_rng r;
    llm_rng_seed(&r, 7);
    double t0 = 0, first = 0, last = 0;
    for (int s = 0; s <= steps; s++) {
        if (s == 1)
            t0 = now();    /* step 0 warms caches and pages */
        for (int i = 0; i < B * (T + 1); i++)
            tok[i] = (int32_t)llm_rng_below(&r, (uint64_t)cfg.vocab_size);
        /* row b: tokens tok[b*(T+1) ..], targets one further: rows of T + 1 as in a block */
        int32_t *in = malloc(sizeof(int32_t) * B * T * 2);
        if (!in)
            goto fail;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                in[b * T + t] = tok[b * (T + 1) + t];
                in[B * T + b * T + t] = tok[b * (T + 1) + t + 1];
            }
        llm_batch batch = {B, T, in, in + B * T, NULL, 0};
        llm_loss_stats st;
        llm_model_zero_grad(m);
        int bad = llm_model_forward(m, &batch, &st, &err) || llm_model_backward(m, (double)st.count, &err);
        free(in);
        if (bad)
            goto fail;
        llm_clip_grad_norm(m->grads, m->n_params, 1.0);
        llm_adamw_step(opt, m->params, m->grads, m->tensors, m->n_tensors, 1e-4);
        if (s == 0)
            first = st.loss_sum / (double)st.count;
        last = st.loss_sum / (double)st.count;
    }
    double dt = now() - t0;
    printf("steps_per_s=%.4f tokens_per_s=%.1f loss_first=%.4f loss_last=%.4f params=%zu\n",
           steps / dt, steps * (double)B * T / dt, first, last, m->n_params);
    llm_adamw_free(opt);
    llm_model_free(m);
    free(tok);
    return 0;
fail:
    fprintf(stderr, "train_bench: %s\n", err.msg);
    llm_adamw_free(opt);
    llm_model_free(m);
    free(tok);
    return 1;
}

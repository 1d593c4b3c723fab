/* Writes what tests/train/gpt2_reference.py checks against PyTorch: a small GPT-2's
 * parameters, batches (masked labels, padding, document boundaries), our logits, loss sums
 * and gradients (plain, with NEFTune's noise and label-smoothed), the logits of cached generation, then ten AdamW
 * steps with warmup + cosine, clipping, label smoothing and gradient accumulation over
 * micro-batches of different sizes. Raw little-endian arrays plus
 * config.txt and tensors.txt in DIR.
 *   gpt2_driver DIR [THREADS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adamw.h"
#include "model.h"
#include "rng.h"

enum { B = 3, T = 12, STEPS = 10, ACCUM = 2 };
static const llm_model_config CFG = {LLM_FAMILY_GPT2, 2, 4, 32, 16, 67};
static const llm_adamw_config OPT = {0.9f, 0.95f, 1e-8f, 0.1f};
static const llm_lr_schedule SCHED = {
    .kind = LLM_LR_COSINE, .peak = 1e-2, .min_lr = 1e-3, .warmup_steps = 3, .total_steps = STEPS};
static const double MAX_NORM = 0.8;    /* some steps clip, some do not */
static const float SMOOTHING = 0.1f;   /* the "smooth" case and training: Trainer's label_smoothing_factor */
static const float NEFTUNE = 5.0f;     /* the "neftune" case: Trainer's neftune_noise_alpha */
static const uint64_t NOISE_KEY = 20231010;
static const int PAD = 66;

static const char *dir;

static int save(const char *name, const void *p, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

/* A batch of the kinds the trainer sees: row 0 one document with a masked prompt; row 1
 * three documents; row 2 two documents then padding. `salt` varies the tokens and cuts. */
static void make_batch(llm_rng *r, int salt, int32_t *tokens, int32_t *targets, int32_t *pos)
{
    for (int i = 0; i < B * T; i++)
        tokens[i] = (int32_t)llm_rng_below(r, 66);
    uint32_t b1[2] = {(uint32_t)(3 + salt % 3), 9}, b2[1] = {4};
    int pad_from = 8 + salt % 3;
    llm_positions_from_bounds(pos, T, NULL, 0);
    llm_positions_from_bounds(pos + T, T, b1, 2);
    llm_positions_from_bounds(pos + 2 * T, T, b2, 1);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            targets[i] = t + 1 < T ? tokens[i + 1] : -1;
            if (b == 0 && t < 2 + salt % 4)
                targets[i] = -1;                          /* prompt */
            if (b == 2 && t >= pad_from) {
                tokens[i] = PAD;
                targets[i] = -1;
            }
            if (b == 2 && t == pad_from - 1)
                targets[i] = -1;                          /* last real token */
            if (t + 1 < T && pos[i + 1] == 0)
                targets[i] = -1;                          /* no label across documents */
        }
}

static int run_case(llm_model *m, const char *name, const llm_batch *batch)
{
    llm_error err;
    llm_loss_stats st;
    char file[256];
    llm_model_zero_grad(m);
    if (llm_model_forward(m, batch, &st, &err) != 0) {
        fprintf(stderr, "gpt2_driver: %s: %s\n", name, err.msg);
        return -1;
    }
    snprintf(file, sizeof file, "%s_logits.f32", name);
    if (save(file, llm_model_logits(m), sizeof(float) * B * T * CFG.vocab_size))
        return -1;
    if (llm_model_backward(m, (double)st.count, &err) != 0) {
        fprintf(stderr, "gpt2_driver: %s: %s\n", name, err.msg);
        return -1;
    }
    snprintf(file, sizeof file, "%s_grads.f32", name);
    if (save(file, m->grads, sizeof(float) * m->n_params))
        return -1;
    char text[256];
    int n = snprintf(text, sizeof text, "%.9g %lld %lld\n", st.loss_sum, (long long)st.count,
                     (long long)st.correct);
    snprintf(file, sizeof file, "%s_stats.txt", name);
    if (save(file, text, (size_t)n))
        return -1;
#define SAVE_I32(suffix, p)                                                              \
    do {                                                                                 \
        snprintf(file, sizeof file, "%s_" suffix ".i32", name);                          \
        if ((p) && save(file, (p), sizeof(int32_t) * B * T))                            \
            return -1;                                                                   \
    } while (0)
    SAVE_I32("tokens", batch->tokens);
    SAVE_I32("targets", batch->targets);
    SAVE_I32("pos", batch->pos);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gpt2_driver DIR [THREADS]\n");
        return 2;
    }
    dir = argv[1];
    llm_error err;
    llm_model *m = llm_model_new(&CFG, &err);
    if (!m) {
        fprintf(stderr, "gpt2_driver: %s\n", err.msg);
        return 1;
    }
    if (argc > 2)
        llm_model_set_threads(m, atoi(argv[2]));
    llm_model_init(m, 1234);
    /* biases and norm weights away from 0 and 1, so the forward uses them */
    llm_rng r;
    llm_rng_seed(&r, 99);
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].ndim == 1)
            for (size_t j = 0; j < llm_tensor_numel(&m->tensors[i]); j++)
                m->params[m->tensors[i].offset + j] += (float)(llm_rng_double(&r) - 0.5) * 0.2f;

    int rc = 1;
    int32_t tokens[B * T], targets[B * T], pos[B * T];
    int32_t *tt = malloc(sizeof(int32_t) * B * T * STEPS * ACCUM * 3);
    float *log = malloc(sizeof(float) * STEPS * 3);
    llm_adamw *opt = llm_adamw_new(&OPT, m->n_params, &err);
    FILE *tf = NULL;
    char path[4096];
    if (!tt || !log || !opt || llm_model_plan(m, B, T, 1, &err) != 0) {
        fprintf(stderr, "gpt2_driver: %s\n", err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/tensors.txt", dir);
    if (!(tf = fopen(path, "w")))
        goto done;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const llm_tensor_desc *t = &m->tensors[i];
        fprintf(tf, "%s %zu %lld %lld %d\n", t->name, t->offset, (long long)t->shape[0],
                (long long)t->shape[1], t->decay);
    }
    if (fclose(tf) != 0)
        goto done;
    char conf[512];
    int n = snprintf(conf, sizeof conf,
                     "n_layer=%d n_head=%d n_embd=%d block_size=%d vocab_size=%d B=%d T=%d "
                     "steps=%d accum=%d lr=%g min_lr=%g warmup=%lld beta1=%g beta2=%g eps=%g "
                     "wd=%g max_norm=%g smoothing=%g neftune=%g noise_key=%llu n_params=%zu\n",
                     CFG.n_layer, CFG.n_head, CFG.n_embd, CFG.block_size, CFG.vocab_size, B, T,
                     STEPS, ACCUM, SCHED.peak, SCHED.min_lr, (long long)SCHED.warmup_steps,
                     OPT.beta1, OPT.beta2, OPT.eps, OPT.weight_decay, MAX_NORM, SMOOTHING, NEFTUNE,
                     (unsigned long long)NOISE_KEY, m->n_params);
    if (save("config.txt", conf, (size_t)n) || save("params0.f32", m->params, sizeof(float) * m->n_params))
        goto done;

    /* forward + backward: documents, masks, padding; and the plain causal case */
    make_batch(&r, 0, tokens, targets, pos);
    llm_batch doc = {B, T, tokens, targets, pos, 0};
    if (run_case(m, "doc", &doc))
        goto done;
    for (int i = 0; i < B * T; i++)
        targets[i] = (i + 1) % T ? tokens[i + 1] : -1;
    llm_batch plain = {B, T, tokens, targets, NULL, 0};
    if (run_case(m, "plain", &plain))
        goto done;
    m->neftune_alpha = NEFTUNE;
    plain.noise_key = NOISE_KEY;
    if (run_case(m, "neftune", &plain))
        goto done;
    m->neftune_alpha = 0;
    plain.noise_key = 0;
    m->label_smoothing = SMOOTHING;
    if (run_case(m, "smooth", &plain))
        goto done;

    /* generation: row 0 of the plain case through the key/value cache, a prompt of 4 then
     * one token at a time; the logits of every position from 3 on */
    float *dec = malloc(sizeof(float) * (T - 3) * CFG.vocab_size);
    if (!dec)
        goto done;
    int bad = llm_model_decode(m, tokens, 4, 0, dec, &err);
    for (int t = 4; t < T && !bad; t++)
        bad = llm_model_decode(m, tokens + t, 1, t, dec + (size_t)(t - 3) * CFG.vocab_size, &err);
    if (bad || save("decode_logits.f32", dec, sizeof(float) * (T - 3) * CFG.vocab_size)) {
        fprintf(stderr, "gpt2_driver: decode: %s\n", bad ? err.msg : "write failed");
        free(dec);
        goto done;
    }
    free(dec);

    /* training: ACCUM micro-batches per step, normalised by the step's counted labels */
    for (int s = 0; s < STEPS; s++) {
        llm_batch mb[ACCUM];
        int64_t total = 0;
        for (int k = 0; k < ACCUM; k++) {
            int32_t *p = tt + (size_t)(s * ACCUM + k) * 3 * B * T;
            make_batch(&r, s + k, p, p + B * T, p + 2 * B * T);
            mb[k] = (llm_batch){B, T, p, p + B * T, p + 2 * B * T, 0};
            total += llm_batch_count(&mb[k]);
        }
        double loss = 0.0;
        llm_model_zero_grad(m);
        for (int k = 0; k < ACCUM; k++) {
            llm_loss_stats st;
            if (llm_model_forward(m, &mb[k], &st, &err) || llm_model_backward(m, (double)total, &err)) {
                fprintf(stderr, "gpt2_driver: step %d: %s\n", s, err.msg);
                goto done;
            }
            loss += st.loss_sum;
        }
        double lr = llm_lr_at(&SCHED, s);
        double norm = llm_clip_grad_norm(m->grads, m->n_params, MAX_NORM);
        llm_adamw_step(opt, m->params, m->grads, m->tensors, m->n_tensors, lr);
        log[s * 3] = (float)(loss / (double)total);
        log[s * 3 + 1] = (float)lr;
        log[s * 3 + 2] = (float)norm;
    }
    if (save("train_batches.i32", tt, sizeof(int32_t) * B * T * STEPS * ACCUM * 3) ||
        save("train_log.f32", log, sizeof(float) * STEPS * 3) ||
        save("params_final.f32", m->params, sizeof(float) * m->n_params))
        goto done;
    rc = 0;
done:
    llm_adamw_free(opt);
    free(log);
    free(tt);
    llm_model_free(m);
    return rc;
}

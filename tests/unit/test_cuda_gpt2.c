/* The whole GPT-2 step on the GPU against the CPU's fp32 reference (lib/model.h through
 * lib/model_cuda.h): loss, every tensor's gradient, the gradient norm and the weights after
 * one AdamW step, with and without --recompute (that one with the classifier in five
 * chunks), a batch with padding, masked labels and several documents per row; an inference
 * plan gives the training plan's loss; weights go to the device and back unchanged
 * (checkpoints); generation's logits are the CPU's.
 * Tolerances: bf16 products all along the chain, so 2e-2 relative (loss), 5e-2 per
 * gradient tensor; after one AdamW step (an update of about lr times the gradient's sign)
 * each weight within 2.5 lr of the CPU's and the updates within 25%. Without a GPU: one
 * "skipped: no GPU" line. */
#include <stdlib.h>
#include <string.h>

#include "adamw.h"
#include "cuda_check.h"

#if LLM_CUDA
static const llm_model_config CFG = {LLM_FAMILY_GPT2, 2, 4, 64, 32, 101};    /* odd vocabulary: padded rows */
enum { B = 3, T = 32 };

static int32_t tokens[B * T], targets[B * T], pos[B * T];
static llm_error err;

#define OK(call) CHECKF((call) == 0, "%s", err.msg)

/* A model with random weights everywhere (biases and norms too, never the init's zeros and
 * ones only), the same for the same seed. */
static llm_model *random_model(uint64_t seed)
{
    llm_model *m = llm_model_new(&CFG, &err);
    llm_model_init(m, seed);
    llm_rng_seed(&cuda_rng, seed);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const llm_tensor_desc *t = &m->tensors[i];
        float *p = m->params + t->offset;
        if (t->ndim == 1)
            for (size_t j = 0; j < llm_tensor_numel(t); j++)
                p[j] += (float)((llm_rng_double(&cuda_rng) * 2.0 - 1.0) * 0.1);
    }
    return m;
}

static void random_batch(llm_batch *b)
{
    llm_rng_seed(&cuda_rng, 99);
    for (int r = 0; r < B; r++)
        for (int t = 0, p = 0; t < T; t++, p++) {
            int i = r * T + t;
            if (t > 0 && llm_rng_below(&cuda_rng, 8) == 0)
                p = 0;
            pos[i] = p;
            tokens[i] = (int32_t)llm_rng_below(&cuda_rng, CFG.vocab_size);
            targets[i] = (t == T - 1 || llm_rng_below(&cuda_rng, 6) == 0) ? -1
                         : (int32_t)llm_rng_below(&cuda_rng, CFG.vocab_size);
        }
    *b = (llm_batch){B, T, tokens, targets, pos, 0};
}

static void step_against_cpu(int recompute, int chunk_rows, float label_smoothing, float neftune_alpha)
{
    llm_cuda_classifier_rows(chunk_rows);
    llm_batch b;
    random_batch(&b);
    llm_model *cpu = random_model(5), *gpu = random_model(5);
    cpu->label_smoothing = gpu->label_smoothing = label_smoothing;
    cpu->neftune_alpha = gpu->neftune_alpha = neftune_alpha;
    OK(llm_model_cuda_attach(gpu, recompute, &err));
    OK(llm_model_plan(cpu, B, T, 1, &err));
    OK(llm_model_plan(gpu, B, T, 1, &err));
    llm_model_zero_grad(cpu);
    llm_model_zero_grad(gpu);
    llm_loss_stats sc, sg;
    double clean = 0;
    if (neftune_alpha > 0) {    /* the noise must move the loss, or both could leave it out */
        OK(llm_model_forward(cpu, &b, &sc, &err));
        clean = sc.loss_sum / (double)sc.count;
        b.noise_key = 4242;
    }
    OK(llm_model_forward(cpu, &b, &sc, &err));
    if (neftune_alpha > 0)
        CHECKF(fabs(sc.loss_sum / (double)sc.count - clean) > 1e-2, "loss %.6f with noise, %.6f without",
               sc.loss_sum / (double)sc.count, clean);
    OK(llm_model_forward(gpu, &b, &sg, &err));
    CHECK(sc.count == sg.count && sc.count > 0);
    double lc = sc.loss_sum / (double)sc.count, lg = sg.loss_sum / (double)sg.count;
    CHECKF(fabs(lc - lg) <= 2e-2 * lc, "loss %.6f on the GPU, %.6f on the CPU", lg, lc);
    CHECKF(llabs((long long)(sc.correct - sg.correct)) <= 1, "correct %lld vs %lld", (long long)sg.correct,
           (long long)sc.correct);
    OK(llm_model_backward(cpu, (double)sc.count, &err));
    OK(llm_model_backward(gpu, (double)sg.count, &err));

    float *grads = malloc(gpu->n_params * sizeof *grads);
    OK(llm_cuda_download(gpu->cuda, NULL, NULL, NULL, grads, &err));
    for (size_t i = 0; i < cpu->n_tensors; i++) {
        const llm_tensor_desc *t = &cpu->tensors[i];
        double e = rel_err(grads + t->offset, cpu->grads + t->offset, llm_tensor_numel(t));
        CHECKF(e <= 5e-2, "%s gradient: relative error %.3g", t->name, e);
    }
    CHECK_CLOSE("all gradients", grads, cpu->grads, cpu->n_params, 3e-2);

    /* one optimizer step each */
    llm_adamw_config ac = {0.9f, 0.95f, 1e-8f, 0.1f};
    llm_adamw *oc = llm_adamw_new(&ac, cpu->n_params, &err), *og = llm_adamw_new(&ac, gpu->n_params, &err);
    double lr = 1e-3, max_norm = 0.5;
    double nc = llm_clip_grad_norm(cpu->grads, cpu->n_params, max_norm);
    float *before = malloc(cpu->n_params * sizeof *before), *du = malloc(cpu->n_params * sizeof *du);
    memcpy(before, cpu->params, cpu->n_params * sizeof *before);
    llm_adamw_step(oc, cpu->params, cpu->grads, cpu->tensors, cpu->n_tensors, lr);
    float ng = 0;
    OK(llm_model_cuda_step(gpu, og, lr, max_norm, &ng, &err));
    CHECKF(fabs(ng - nc) <= 3e-2 * nc, "gradient norm %.6g on the GPU, %.6g on the CPU", (double)ng, nc);
    CHECK(og->step == 1);
    OK(llm_model_cuda_download(gpu, og, &err));
    /* Adam's first step moves each weight by about lr times the sign of its gradient: where a
     * gradient is near 0 the two signs may differ, so each weight is within 2.5 lr of the CPU's,
     * and the updates agree to 25% overall (a wrong update is off by 100% or more) */
    double worst = 0.0;
    for (size_t j = 0; j < cpu->n_params; j++) {
        worst = fmax(worst, fabs((double)gpu->params[j] - cpu->params[j]));
        du[j] = gpu->params[j] - before[j];
        before[j] = cpu->params[j] - before[j];
    }
    CHECKF(worst <= 2.5 * lr, "a weight %.3g away from the CPU's after one step of lr %g", worst, lr);
    CHECK_CLOSE("updates of one step", du, before, cpu->n_params, 0.25);
    free(before);
    free(du);
    CHECK_CLOSE("first moments", og->m, oc->m, cpu->n_params, 5e-2);

    llm_adamw_free(oc);
    llm_adamw_free(og);
    free(grads);
    llm_model_free(cpu);
    llm_model_free(gpu);
    llm_cuda_classifier_rows(0);
}

static void step_matches_cpu(void) { step_against_cpu(0, 0, 0.0f, 0.0f); }
/* the classifier in chunks of 20, 20, 20, 20 and 16 rows */
static void step_matches_cpu_recompute_chunks(void) { step_against_cpu(1, 20, 0.0f, 0.0f); }
static void step_matches_cpu_label_smoothing(void) { step_against_cpu(0, 0, 0.1f, 0.0f); }
/* NEFTune's noise, the same on both: recomputing keeps the embeddings it was added to */
static void step_matches_cpu_neftune(void) { step_against_cpu(1, 0, 0.0f, 15.0f); }

/* An inference plan (evaluation) computes the training plan's loss. */
static void inference_plan_same_loss(void)
{
    llm_batch b;
    random_batch(&b);
    llm_model *m = random_model(8);
    OK(llm_model_cuda_attach(m, 0, &err));
    llm_loss_stats st, se;
    OK(llm_model_plan(m, B, T, 1, &err));
    OK(llm_model_forward(m, &b, &st, &err));
    OK(llm_model_plan(m, B, T, 0, &err));
    OK(llm_model_forward(m, &b, &se, &err));
    CHECK(st.count == se.count && st.correct == se.correct);
    CHECKF(fabs(st.loss_sum - se.loss_sum) <= 1e-6 * fabs(st.loss_sum), "%.9g vs %.9g", st.loss_sum, se.loss_sum);
    llm_model_free(m);
}

/* Weights and moments go up and come back bit for bit (a checkpoint saved on the GPU is
 * the one loaded). */
static void upload_download_exact(void)
{
    llm_model *m = random_model(11);
    llm_adamw_config ac = {0.9f, 0.999f, 1e-8f, 0.0f};
    llm_adamw *o = llm_adamw_new(&ac, m->n_params, &err);
    cuda_fill(o->m, m->n_params, 1e-2);
    cuda_fill(o->v, m->n_params, 1e-2);
    OK(llm_model_cuda_attach(m, 0, &err));
    OK(llm_model_cuda_upload(m, o, &err));
    float *p = malloc(m->n_params * 4), *mm = malloc(m->n_params * 4), *vv = malloc(m->n_params * 4);
    OK(llm_cuda_download(m->cuda, p, mm, vv, NULL, &err));
    CHECK(memcmp(p, m->params, m->n_params * 4) == 0);
    CHECK(memcmp(mm, o->m, m->n_params * 4) == 0);
    CHECK(memcmp(vv, o->v, m->n_params * 4) == 0);
    free(p), free(mm), free(vv);
    llm_adamw_free(o);
    llm_model_free(m);
}

/* Generation on the GPU (its own key/value cache) gives the CPU's logits within bf16's
 * 2e-2: a prompt at once, then token by token, then a new sequence over the old cache;
 * a start past the cached positions or the block is refused. */
static void decode_matches_cpu(void)
{
    enum { STEPS = 8 };
    static const int n_at[STEPS] = {10, 1, 1, 1, 1, 1, 3, 1}, start_at[STEPS] = {0, 10, 11, 12, 13, 14, 0, 3};
    int32_t seq[32];
    float *cpu = malloc((size_t)STEPS * CFG.vocab_size * sizeof(float));
    float *gpu = malloc((size_t)CFG.vocab_size * sizeof(float));
    llm_rng_seed(&cuda_rng, 5);
    for (int i = 0; i < 32; i++)
        seq[i] = (int32_t)llm_rng_below(&cuda_rng, CFG.vocab_size);
    llm_model *m = random_model(21);
    for (int k = 0; k < STEPS; k++)
        OK(llm_model_decode(m, seq + start_at[k], n_at[k], start_at[k], cpu + (size_t)k * CFG.vocab_size, &err));
    OK(llm_model_cuda_attach(m, 0, &err));
    for (int k = 0; k < STEPS; k++) {
        OK(llm_model_decode(m, seq + start_at[k], n_at[k], start_at[k], gpu, &err));
        char what[64];
        snprintf(what, sizeof what, "decode step %d (%d at %d)", k, n_at[k], start_at[k]);
        CHECK_CLOSE(what, gpu, cpu + (size_t)k * CFG.vocab_size, (size_t)CFG.vocab_size, 2e-2);
    }
    CHECK(llm_model_decode(m, seq, 1, 5, gpu, &err) < 0 && strstr(err.msg, "4 positions are cached"));
    CHECK(llm_model_decode(m, seq, 2, 31, gpu, &err) < 0);
    OK(llm_model_decode(m, seq, 32, 0, gpu, &err));    /* a whole block at once */
    free(cpu);
    free(gpu);
    llm_model_free(m);
}

/* --micro-batch auto: some rows fit, and the answer's plan can be made. */
static void max_batch_plans(void)
{
    llm_model *m = random_model(3);
    OK(llm_model_cuda_attach(m, 0, &err));
    int n = llm_model_cuda_max_batch(m, T, 1, 64, &err);
    CHECKF(n >= 1 && n <= 64, "max batch %d: %s", n, err.msg);
    if (n >= 1)
        OK(llm_model_plan(m, n, T, 1, &err));
    llm_model_free(m);
}
#endif

int main(void)
{
    if (cuda_skip())
        return 0;
#if LLM_CUDA
    RUN(step_matches_cpu);
    RUN(step_matches_cpu_recompute_chunks);
    RUN(step_matches_cpu_label_smoothing);
    RUN(step_matches_cpu_neftune);
    RUN(inference_plan_same_loss);
    RUN(upload_download_exact);
    RUN(max_batch_plans);
    RUN(decode_matches_cpu);
#endif
    CHECK_EXIT();
}

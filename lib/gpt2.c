/* GPT-2 on the CPU: the Hugging Face tensor table, its init, and the forward and backward
 * passes over the ops of ops_cpu.h. Pre-LayerNorm blocks (eps 1e-5), GELU tanh, learned
 * positions, the output head tied to the token embeddings. */
#include "gpt2.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_cpu.h"
#include "rng.h"

#define LN_EPS 1e-5f

/* ---- tensors --------------------------------------------------------------------------- */

enum { LAYER_TENSORS = 12, HEAD_TENSORS = 2 };    /* per block; wte, wpe before them */

static void add_tensor(llm_tensor_desc *out, size_t *n, size_t *offset, const char *name,
                       int64_t d0, int64_t d1, int decay)
{
    if (out) {
        llm_tensor_desc *t = &out[*n];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s", name);
        t->ndim = d1 ? 2 : 1;
        t->shape[0] = d0;
        t->shape[1] = d1;
        t->offset = *offset;
        t->decay = decay;
    }
    *offset += (size_t)d0 * (size_t)(d1 ? d1 : 1);
    (*n)++;
}

size_t llm_gpt2_tensors(const llm_model_config *cfg, llm_tensor_desc *out)
{
    int64_t C = cfg->n_embd;
    size_t n = 0, off = 0;
    char name[64];
    add_tensor(out, &n, &off, "transformer.wte.weight", cfg->vocab_size, C, 1);
    add_tensor(out, &n, &off, "transformer.wpe.weight", cfg->block_size, C, 1);
    static const struct { const char *suffix; int d0, d1, decay; } layer[LAYER_TENSORS] = {
        /* shapes in multiples of C: Conv1D weights are (in, out) */
        {"ln_1.weight", 1, 0, 0},        {"ln_1.bias", 1, 0, 0},
        {"attn.c_attn.weight", 1, 3, 1}, {"attn.c_attn.bias", 3, 0, 0},
        {"attn.c_proj.weight", 1, 1, 1}, {"attn.c_proj.bias", 1, 0, 0},
        {"ln_2.weight", 1, 0, 0},        {"ln_2.bias", 1, 0, 0},
        {"mlp.c_fc.weight", 1, 4, 1},    {"mlp.c_fc.bias", 4, 0, 0},
        {"mlp.c_proj.weight", 4, 1, 1},  {"mlp.c_proj.bias", 1, 0, 0},
    };
    for (int l = 0; l < cfg->n_layer; l++)
        for (int k = 0; k < LAYER_TENSORS; k++) {
            snprintf(name, sizeof name, "transformer.h.%d.%s", l, layer[k].suffix);
            add_tensor(out, &n, &off, name, layer[k].d0 * C, layer[k].d1 * C, layer[k].decay);
        }
    add_tensor(out, &n, &off, "transformer.ln_f.weight", C, 0, 0);
    add_tensor(out, &n, &off, "transformer.ln_f.bias", C, 0, 0);
    return n;
}

/* Pointers into a buffer laid out as the tensor table says: the parameters, or the
 * gradients (same offsets). */
typedef struct gpt2_layer {
    float *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} gpt2_layer;

static float *tensor_at(const llm_model *m, float *base, size_t i) { return base + m->tensors[i].offset; }

static gpt2_layer layer_at(const llm_model *m, float *base, int l)
{
    size_t i = 2 + (size_t)l * LAYER_TENSORS;    /* the fields in tensor-table order */
    gpt2_layer L = {
        tensor_at(m, base, i + 0), tensor_at(m, base, i + 1), tensor_at(m, base, i + 2),
        tensor_at(m, base, i + 3), tensor_at(m, base, i + 4), tensor_at(m, base, i + 5),
        tensor_at(m, base, i + 6), tensor_at(m, base, i + 7), tensor_at(m, base, i + 8),
        tensor_at(m, base, i + 9), tensor_at(m, base, i + 10), tensor_at(m, base, i + 11),
    };
    return L;
}

static float *lnf_at(const llm_model *m, float *base, int k)
{
    return tensor_at(m, base, 2 + (size_t)m->cfg.n_layer * LAYER_TENSORS + k);
}

/* ---- init ------------------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Normal(0, std) by Box-Muller, a fresh pair of uniforms per number so the sequence does not
 * depend on where tensors start. */
static float normal(llm_rng *r, double std)
{
    double u1 = 1.0 - llm_rng_double(r), u2 = llm_rng_double(r);    /* u1 in (0, 1] */
    return (float)(std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void llm_gpt2_init(llm_model *m, uint64_t seed)
{
    llm_rng r;
    llm_rng_seed(&r, seed);
    double proj_std = 0.02 / sqrt(2.0 * m->cfg.n_layer);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const llm_tensor_desc *t = &m->tensors[i];
        float *p = m->params + t->offset;
        size_t n = llm_tensor_numel(t);
        if (ends_with(t->name, ".bias")) {
            memset(p, 0, n * sizeof *p);
        } else if (t->ndim == 1) {    /* LayerNorm weights */
            for (size_t j = 0; j < n; j++)
                p[j] = 1.0f;
        } else {
            double std = ends_with(t->name, "c_proj.weight") ? proj_std : 0.02;
            for (size_t j = 0; j < n; j++)
                p[j] = normal(&r, std);
        }
    }
}

/* ---- activations ----------------------------------------------------------------------- */

typedef struct layer_acts {
    float *res_in;                       /* (N, C), the previous layer's res_out */
    float *ln1, *ln1_mean, *ln1_rstd;    /* (N, C), (N), (N) */
    float *qkv;                          /* (N, 3C) */
    float *att;                          /* (B, NH, T, T) probabilities; NULL in inference */
    float *atty;                         /* (N, C) attention output before c_proj */
    float *res_mid;                      /* (N, C) res_in + attention */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fch_gelu;               /* (N, 4C) */
    float *res_out;                      /* (N, C) res_mid + MLP */
} layer_acts;

struct llm_acts {
    int max_B, max_T, train, threads;
    int B, T, has_targets;               /* of the last forward */
    float *mem;                          /* every float buffer below */
    layer_acts *layer;
    float *res0;                         /* (N, C) embeddings */
    float *lnf, *lnf_mean, *lnf_rstd;
    float *logits;                       /* (N, V) */
    float *lse, *losses;                 /* (N) */
    uint8_t *correct;                    /* (N) */
    int32_t *tokens, *targets, *pos;     /* (N) copies of the batch */
    float *att_scratch;                  /* threads * T * T: the attention's working rows */
    float *dres, *dc, *d4c;              /* backward scratch (train only) */
};

/* Carves n floats from the plan; with mem NULL only counts. */
static float *carve(float *mem, size_t *used, size_t n)
{
    float *p = mem ? mem + *used : NULL;
    *used += (n + 15) & ~(size_t)15;    /* 64-byte aligned buffers */
    return p;
}

/* Lays the plan out over mem (NULL: count) and returns the floats it needs. Training keeps
 * every layer; inference shares one layer's buffers and alternates two residuals. */
static size_t layout(llm_acts *a, const llm_model_config *cfg, float *mem)
{
    size_t N = (size_t)a->max_B * a->max_T, C = cfg->n_embd, V = cfg->vocab_size, used = 0;
    size_t att = (size_t)a->max_B * cfg->n_head * a->max_T * a->max_T;
    a->res0 = carve(mem, &used, N * C);
    float *res_b[2] = {NULL, NULL};
    if (!a->train) {
        res_b[0] = carve(mem, &used, N * C);
        res_b[1] = carve(mem, &used, N * C);
    }
    layer_acts shared = {0};
    for (int l = 0; l < cfg->n_layer; l++) {
        layer_acts *L = mem ? &a->layer[l] : &shared;
        if (a->train || l == 0) {
            L->ln1 = carve(mem, &used, N * C);
            L->ln1_mean = carve(mem, &used, N);
            L->ln1_rstd = carve(mem, &used, N);
            L->qkv = carve(mem, &used, N * 3 * C);
            L->att = a->train ? carve(mem, &used, att) : NULL;    /* kept for the backward */
            L->atty = carve(mem, &used, N * C);
            L->res_mid = carve(mem, &used, N * C);
            L->ln2 = carve(mem, &used, N * C);
            L->ln2_mean = carve(mem, &used, N);
            L->ln2_rstd = carve(mem, &used, N);
            L->fch = carve(mem, &used, N * 4 * C);
            L->fch_gelu = carve(mem, &used, N * 4 * C);
            L->res_out = a->train ? carve(mem, &used, N * C) : res_b[0];
        } else if (mem) {
            *L = a->layer[0];
            L->res_out = res_b[l % 2];
        }
        if (mem)
            L->res_in = l == 0 ? a->res0 : a->layer[l - 1].res_out;
    }
    a->lnf = carve(mem, &used, N * C);
    a->lnf_mean = carve(mem, &used, N);
    a->lnf_rstd = carve(mem, &used, N);
    a->logits = carve(mem, &used, N * V);
    a->lse = carve(mem, &used, N);
    a->losses = carve(mem, &used, N);
    a->correct = (uint8_t *)carve(mem, &used, N / 4 + 1);
    a->tokens = (int32_t *)carve(mem, &used, N);
    a->targets = (int32_t *)carve(mem, &used, N);
    a->pos = (int32_t *)carve(mem, &used, N);
    a->att_scratch = carve(mem, &used, (size_t)llm_attention_scratch(a->max_T, a->threads));
    if (a->train) {
        a->dres = carve(mem, &used, N * C);
        a->dc = carve(mem, &used, N * C);
        a->d4c = carve(mem, &used, N * 4 * C);
    }
    return used;
}

llm_acts *llm_gpt2_plan(const llm_model_config *cfg, int max_B, int max_T, int train,
                        int threads, llm_error *err)
{
    llm_acts *a = calloc(1, sizeof *a);
    if (!a) {
        llm_error_set(err, "out of memory");
        return NULL;
    }
    a->max_B = max_B;
    a->max_T = max_T;
    a->train = train;
    a->threads = threads;
    size_t n = layout(a, cfg, NULL);
    a->layer = calloc((size_t)cfg->n_layer, sizeof *a->layer);
    a->mem = aligned_alloc(64, n * sizeof(float));
    if (!a->layer || !a->mem) {
        llm_error_set(err, "out of memory for the activations of %d x %d tokens (%.1f GiB)",
                      max_B, max_T, (double)n * sizeof(float) / (1 << 30));
        llm_gpt2_acts_free(a);
        return NULL;
    }
    layout(a, cfg, a->mem);
    return a;
}

void llm_gpt2_acts_free(llm_acts *a)
{
    if (!a)
        return;
    free(a->mem);
    free(a->layer);
    free(a);
}

int llm_gpt2_acts_fit(const llm_acts *a, int B, int T, int train)
{
    return a && B <= a->max_B && T <= a->max_T && (!train || a->train);
}

int llm_gpt2_acts_ready(const llm_acts *a) { return a && a->train && a->has_targets; }
const float *llm_gpt2_logits(const llm_acts *a) { return a ? a->logits : NULL; }

/* ---- forward --------------------------------------------------------------------------- */

void llm_gpt2_forward(llm_model *m, const llm_batch *batch, float noise_scale, llm_loss_stats *stats)
{
    llm_acts *a = m->acts;
    const llm_model_config *cfg = &m->cfg;
    int B = batch->B, T = batch->T, N = B * T, C = cfg->n_embd, V = cfg->vocab_size;
    a->B = B;
    a->T = T;
    a->has_targets = batch->targets != NULL;
    memcpy(a->tokens, batch->tokens, (size_t)N * sizeof *a->tokens);
    for (int n = 0; n < N; n++) {
        a->pos[n] = batch->pos ? batch->pos[n] : n % T;
        a->targets[n] = batch->targets ? batch->targets[n] : -1;
    }
    /* the attention's scratch holds a->threads tasks at once */
    omp_set_num_threads(m->threads < a->threads ? m->threads : a->threads);

    float *wte = tensor_at(m, m->params, 0), *wpe = tensor_at(m, m->params, 1);
    llm_embed_forward(a->res0, a->tokens, a->pos, wte, wpe, N, T, C, noise_scale, batch->noise_key);
    for (int l = 0; l < cfg->n_layer; l++) {
        gpt2_layer P = layer_at(m, m->params, l);
        layer_acts *L = &a->layer[l];
        llm_layernorm_forward(L->ln1, L->ln1_mean, L->ln1_rstd, L->res_in, P.ln1w, P.ln1b, N, C, LN_EPS);
        llm_linear_forward(L->qkv, L->ln1, P.qkvw, P.qkvb, N, C, 3 * C);
        llm_attention_forward(L->atty, L->att, a->att_scratch, L->qkv, a->pos, B, T, C, cfg->n_head);
        llm_residual_linear_forward(L->res_mid, L->res_in, L->atty, P.projw, P.projb, N, C, C);
        llm_layernorm_forward(L->ln2, L->ln2_mean, L->ln2_rstd, L->res_mid, P.ln2w, P.ln2b, N, C, LN_EPS);
        llm_linear_forward(L->fch, L->ln2, P.fcw, P.fcb, N, C, 4 * C);
        llm_gelu_forward(L->fch_gelu, L->fch, N * 4 * C);
        llm_residual_linear_forward(L->res_out, L->res_mid, L->fch_gelu, P.fcprojw, P.fcprojb, N, 4 * C, C);
    }
    float *res = a->layer[cfg->n_layer - 1].res_out;
    llm_layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, res, lnf_at(m, m->params, 0),
                          lnf_at(m, m->params, 1), N, C, LN_EPS);
    llm_gemm(0, 1, N, V, C, a->lnf, C, wte, C, 0.0f, a->logits, V);    /* tied head */

    if (!batch->targets)
        return;
    llm_crossentropy_forward(a->losses, a->lse, a->correct, a->logits, a->targets, m->label_smoothing, N, V);
    if (stats) {
        memset(stats, 0, sizeof *stats);
        for (int n = 0; n < N; n++)    /* in order: the same sum for any thread count */
            if (a->targets[n] >= 0) {
                stats->loss_sum += a->losses[n];
                stats->count++;
                stats->correct += a->correct[n];
            }
    }
}

/* ---- backward -------------------------------------------------------------------------- */

void llm_gpt2_backward(llm_model *m, float scale)
{
    llm_acts *a = m->acts;
    const llm_model_config *cfg = &m->cfg;
    int B = a->B, T = a->T, N = B * T, C = cfg->n_embd, V = cfg->vocab_size;
    /* the attention's scratch holds a->threads tasks at once */
    omp_set_num_threads(m->threads < a->threads ? m->threads : a->threads);

    float *wte = tensor_at(m, m->params, 0), *dwte = tensor_at(m, m->grads, 0);
    float *dlogits = a->logits;
    llm_crossentropy_backward(dlogits, a->lse, a->targets, m->label_smoothing, scale, N, V);
    llm_gemm(0, 0, N, C, V, dlogits, V, wte, C, 0.0f, a->dc, C);          /* d lnf */
    llm_gemm(1, 0, V, C, N, dlogits, V, a->lnf, C, 1.0f, dwte, C);        /* d wte (head) */
    memset(a->dres, 0, (size_t)N * C * sizeof *a->dres);
    llm_layernorm_backward_acc(a->dres, lnf_at(m, m->grads, 0), lnf_at(m, m->grads, 1), a->dc,
                               a->layer[cfg->n_layer - 1].res_out, a->lnf_mean, a->lnf_rstd,
                               lnf_at(m, m->params, 0), N, C);
    for (int l = cfg->n_layer - 1; l >= 0; l--) {
        gpt2_layer P = layer_at(m, m->params, l), G = layer_at(m, m->grads, l);
        layer_acts *L = &a->layer[l];
        /* dres is d res_out; the residual passes it through to res_mid and res_in */
        llm_linear_backward(a->d4c, G.fcprojw, G.fcprojb, a->dres, L->fch_gelu, P.fcprojw, N, 4 * C, C);
        llm_gelu_backward(a->d4c, L->fch, a->d4c, N * 4 * C);
        llm_linear_backward(a->dc, G.fcw, G.fcb, a->d4c, L->ln2, P.fcw, N, C, 4 * C);
        llm_layernorm_backward_acc(a->dres, G.ln2w, G.ln2b, a->dc, L->res_mid, L->ln2_mean,
                                   L->ln2_rstd, P.ln2w, N, C);
        llm_linear_backward(a->dc, G.projw, G.projb, a->dres, L->atty, P.projw, N, C, C);
        float *dqkv = a->d4c;
        llm_attention_backward(dqkv, a->dc, L->qkv, L->att, a->att_scratch, B, T, C, cfg->n_head);
        llm_linear_backward(a->dc, G.qkvw, G.qkvb, dqkv, L->ln1, P.qkvw, N, C, 3 * C);
        llm_layernorm_backward_acc(a->dres, G.ln1w, G.ln1b, a->dc, L->res_in, L->ln1_mean,
                                   L->ln1_rstd, P.ln1w, N, C);
    }
    llm_embed_backward(dwte, tensor_at(m, m->grads, 1), a->dres, a->tokens, a->pos, N, T, C);
    a->has_targets = 0;    /* the logits are gradients now */
}

/* ---- generation with a key/value cache -------------------------------------------------- */

struct llm_kv {
    int len, threads;
    float *mem;
    float *k, *v;                  /* (n_layer, block, C) each */
    float *x, *ln, *qkv, *atty, *fch, *mean, *rstd, *scratch;    /* up to a block of rows */
    int32_t *pos;
};

/* Lays the cache out over mem (NULL: count); returns its floats. */
static size_t kv_layout(llm_kv *kv, const llm_model_config *cfg, float *mem)
{
    size_t T = (size_t)cfg->block_size, C = (size_t)cfg->n_embd, used = 0;
    kv->k = carve(mem, &used, (size_t)cfg->n_layer * T * C);
    kv->v = carve(mem, &used, (size_t)cfg->n_layer * T * C);
    kv->x = carve(mem, &used, T * C);
    kv->ln = carve(mem, &used, T * C);
    kv->qkv = carve(mem, &used, T * 3 * C);
    kv->atty = carve(mem, &used, T * C);
    kv->fch = carve(mem, &used, T * 4 * C);
    kv->mean = carve(mem, &used, T);
    kv->rstd = carve(mem, &used, T);
    kv->pos = (int32_t *)carve(mem, &used, T);
    kv->scratch = carve(mem, &used, (size_t)kv->threads * T * T);
    return used;
}

llm_kv *llm_gpt2_kv_new(const llm_model_config *cfg, llm_error *err)
{
    llm_kv *kv = calloc(1, sizeof *kv);
    if (kv) {
        kv->threads = omp_get_max_threads();
        size_t n = kv_layout(kv, cfg, NULL);
        kv->mem = aligned_alloc(64, n * sizeof(float));
        if (kv->mem) {
            kv_layout(kv, cfg, kv->mem);
            return kv;
        }
    }
    llm_gpt2_kv_free(kv);
    llm_error_set(err, "out of memory for the key/value cache");
    return NULL;
}

void llm_gpt2_kv_free(llm_kv *kv)
{
    if (!kv)
        return;
    free(kv->mem);
    free(kv);
}

int llm_gpt2_kv_len(const llm_kv *kv) { return kv ? kv->len : 0; }

void llm_gpt2_decode(llm_model *m, const int32_t *tokens, int n, int start, float *logits)
{
    llm_kv *kv = m->kv;
    const llm_model_config *cfg = &m->cfg;
    int C = cfg->n_embd, T = cfg->block_size, V = cfg->vocab_size;
    omp_set_num_threads(m->threads < kv->threads ? m->threads : kv->threads);
    float *wte = tensor_at(m, m->params, 0), *wpe = tensor_at(m, m->params, 1);
    for (int i = 0; i < n; i++)
        kv->pos[i] = start + i;
    llm_embed_forward(kv->x, tokens, kv->pos, wte, wpe, n, n, C, 0.0f, 0);
    for (int l = 0; l < cfg->n_layer; l++) {
        gpt2_layer P = layer_at(m, m->params, l);
        float *K = kv->k + (size_t)l * T * C, *Vc = kv->v + (size_t)l * T * C;
        llm_layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, P.ln1w, P.ln1b, n, C, LN_EPS);
        llm_linear_forward(kv->qkv, kv->ln, P.qkvw, P.qkvb, n, C, 3 * C);
        for (int i = 0; i < n; i++) {
            memcpy(K + (size_t)(start + i) * C, kv->qkv + (size_t)i * 3 * C + C, (size_t)C * sizeof(float));
            memcpy(Vc + (size_t)(start + i) * C, kv->qkv + (size_t)i * 3 * C + 2 * C, (size_t)C * sizeof(float));
        }
        llm_attention_cached(kv->atty, kv->qkv, 3 * C, K, Vc, n, start, C, cfg->n_head, kv->scratch);
        llm_residual_linear_forward(kv->x, kv->x, kv->atty, P.projw, P.projb, n, C, C);
        llm_layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, P.ln2w, P.ln2b, n, C, LN_EPS);
        llm_linear_forward(kv->fch, kv->ln, P.fcw, P.fcb, n, C, 4 * C);
        llm_gelu_forward(kv->fch, kv->fch, n * 4 * C);
        llm_residual_linear_forward(kv->x, kv->x, kv->fch, P.fcprojw, P.fcprojb, n, 4 * C, C);
    }
    /* only the last position's logits are wanted */
    llm_layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x + (size_t)(n - 1) * C,
                          lnf_at(m, m->params, 0), lnf_at(m, m->params, 1), 1, C, LN_EPS);
    llm_gemm(0, 1, 1, V, C, kv->ln, C, wte, C, 0.0f, logits, V);
    kv->len = start + n;
}

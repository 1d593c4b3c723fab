/* GPT-2 on one CUDA device: the backend of lib/model_cuda.h. The same passes as lib/gpt2.c
 * over the ops of lib/ops_cuda.h, in bf16 mixed precision:
 *   - fp32 master weights, gradients and AdamW moments; a bf16 copy of the weights for the
 *     matrix products, rewritten by each optimizer step;
 *   - the residual stream, LayerNorm statistics, softmax, loss and the gradient flowing
 *     back through the residual stream in fp32; LayerNorm outputs, qkv, attention output
 *     and the MLP's hidden layer in bf16;
 *   - the classifier in chunks of rows: the bf16 logits of one chunk at a time (as autocast
 *     leaves them in PyTorch), their cross-entropy with the softmax in fp32 and (training)
 *     their gradient written over them, which the forward turns at once into the gradients
 *     of the final LayerNorm output and of the tied embedding for a unit scale; the
 *     backward scales those by 1 / normaliser (known only then, as on the CPU).
 * All activation memory is planned once (llm_cuda_plan); a step allocates nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "model_cuda.h"
#include "ops_cuda.h"

#define LN_EPS 1e-5f

enum { LAYER_TENSORS = 12 };
/* Rows x padded vocabulary of one classifier chunk, at most (bf16 logits, then their
 * gradient): 512 MiB, 4 chunks of 4096 rows for GPT-2 at 16 x 1024. Each chunk reads the
 * tied embedding twice and adds its gradient into the fp32 (V, C) sum once, 0.45 GB for
 * GPT-2 whatever its rows, so small chunks would cost more than their products. */
static const size_t CHUNK_ELEMS = (size_t)256 << 20;
static int chunk_rows_wanted;    /* llm_cuda_classifier_rows; 0: from CHUNK_ELEMS */

extern "C" void llm_cuda_classifier_rows(int rows) { chunk_rows_wanted = rows > 0 ? rows : 0; }

typedef struct layer_acts {
    float *res_mid;                    /* (N, C) fp32 */
    bf16 *ln1, *ln2;                   /* (N, C); shared scratch under recompute */
    float *ln1_mean, *ln1_rstd, *ln2_mean, *ln2_rstd;    /* (N) */
    bf16 *qkv;                         /* (N, 3C) */
    bf16 *atty;                        /* (N, C) */
    float *lse;                        /* (B, NH, T) the attention's */
    bf16 *fch, *fch_gelu;              /* (N, 4C); fch_gelu shared under recompute */
} layer_acts;

struct llm_cuda {
    llm_model_config cfg;
    size_t n_params, n_tensors;
    llm_tensor_desc *tensors;          /* host copy of the table */
    int recompute;
    float *params, *grads, *m, *v;     /* fp32, n_params each (grads, m, v: once training) */
    bf16 *params_bf;
    double *sumsq, *norm_parts;
    uint64_t *ranges;                  /* n_tensors + 1 offsets of the tensors, for AdamW */
    uint8_t *decays;                   /* n_tensors: weight decay on the tensor or not */
    size_t fixed_bytes, peak_bytes;

    /* the plan */
    int max_B, max_T, train;
    void *mem;                         /* every activation below */
    size_t mem_bytes;
    layer_acts *layer;
    float **resid;                     /* n_layer + 1 of them: resid[l] is layer l's input */
    bf16 *lnf;
    float *lnf_mean, *lnf_rstd;
    int chunk_rows, Vp;                /* classifier chunk: rows, padded row length */
    bf16 *logits;                      /* (chunk_rows, Vp); training: then their gradient */
    float *losses, *lse;               /* (N) */
    uint8_t *correct;                  /* (N) */
    int32_t *tokens, *targets, *pos;   /* (N) on the device */
    /* the rows grouped by token and by position (llm_cuda_group_rows), for the embeddings'
     * backward: rows (N), start (N + 1), id (N) each */
    int32_t *tok_rows, *tok_start, *tok_id, *pos_rows, *pos_start, *pos_id;
    int tok_groups, pos_groups;
    float *dlnf;                       /* (N, C) gradient of lnf for a unit scale, training */
    float *dwte_head;                  /* (V, C) the head's share of dwte, unit scale, training */
    float *dres, *dc;                  /* (N, C) backward scratch */
    bf16 *dres_bf, *datty;             /* (N, C) */
    bf16 *d4c;                         /* (N, 4C) */
    bf16 *dqkv;                        /* (N, 3C) */
    float *delta;                      /* (B, NH, T) */
    float *colsum;                     /* scratch of the bias and LayerNorm gradients */

    /* generation (llm_cuda_decode), apart from the plan: each layer's qkv rows of the
     * sequence so far (its key/value cache) and one block's scratch, made by the first call */
    void *dec_mem;
    size_t dec_bytes;
    bf16 **dec_qkv;                    /* n_layer of (block_size, 3C) */
    layer_acts dec_acts;               /* one layer's buffers for block_size rows, shared */
    float *dec_res[2];                 /* (block_size, C) */
    float *dec_logits;                 /* (V) */
    int32_t *dec_tokens, *dec_pos;     /* (block_size); dec_pos[i] = i */
    int dec_len;                       /* positions cached */

    /* host side of the last forward */
    int B, T, has_targets;
    int32_t *h_targets, *h_pos;        /* (N) */
    int32_t *h_groups;                 /* host twins of the six group arrays, then the count */
    float *h_losses;
    uint8_t *h_correct;
};

/* ---- availability ------------------------------------------------------------------------ */

extern "C" int llm_cuda_available(char *name, size_t n, llm_error *err)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (name && n)
        name[0] = '\0';
    if (e != cudaSuccess) {
        llm_error_set(err, "no usable GPU (%s)", cudaGetErrorString(e));
        return 0;
    }
    if (count == 0) {
        llm_error_set(err, "no GPU found");
        return 0;
    }
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) {
        llm_error_set(err, "no usable GPU (%s)", cudaGetErrorString(e));
        return 0;
    }
    if (prop.major < 8) {
        llm_error_set(err, "the GPU (%s, compute capability %d.%d) has no bf16 tensor cores; 8.0 or later is "
                      "needed", prop.name, prop.major, prop.minor);
        return 0;
    }
    if (llm_cuda_blas_open(err) < 0)
        return 0;
    if (name && n)
        snprintf(name, n, "%s", prop.name);
    return 1;
}

/* ---- parameters -------------------------------------------------------------------------- */

static void note_bytes(llm_cuda *g)
{
    size_t now = g->fixed_bytes + g->mem_bytes + g->dec_bytes;
    if (now > g->peak_bytes)
        g->peak_bytes = now;
}

/* The tensor table as AdamW reads it on the device: where each tensor starts, and whether
 * it is decayed. */
static int upload_table(llm_cuda *g, llm_error *err)
{
    uint64_t *ranges = (uint64_t *)malloc((g->n_tensors + 1) * sizeof *ranges);
    uint8_t *decays = (uint8_t *)malloc(g->n_tensors);
    int rc = -1;
    if (!ranges || !decays) {
        llm_error_set(err, "out of memory");
    } else {
        for (size_t i = 0; i < g->n_tensors; i++) {
            ranges[i] = g->tensors[i].offset;
            decays[i] = (uint8_t)(g->tensors[i].decay != 0);
        }
        ranges[g->n_tensors] = g->tensors[g->n_tensors - 1].offset + llm_tensor_numel(&g->tensors[g->n_tensors - 1]);
        if (llm_cu_put_bytes(g->ranges, ranges, (g->n_tensors + 1) * sizeof *ranges, err) == 0 &&
            llm_cu_put_bytes(g->decays, decays, g->n_tensors, err) == 0)
            rc = 0;
    }
    free(ranges);
    free(decays);
    return rc;
}

extern "C" llm_cuda *llm_cuda_new(const llm_model_config *cfg, const llm_tensor_desc *tensors, size_t n_tensors,
                                  size_t n_params, const float *params, int recompute, llm_error *err)
{
    if (!llm_cuda_available(NULL, 0, err))
        return NULL;
    if (cfg->family != LLM_FAMILY_GPT2 || n_tensors != 2 + (size_t)cfg->n_layer * LAYER_TENSORS + 2) {
        llm_error_set(err, "the GPU backend knows GPT-2 only");
        return NULL;
    }
    if ((cfg->n_embd / cfg->n_head) > 128) {
        llm_error_set(err, "the GPU backend takes heads of at most 128 (width %d, %d heads)", cfg->n_embd,
                      cfg->n_head);
        return NULL;
    }
    llm_cuda *g = (llm_cuda *)calloc(1, sizeof *g);
    if (!g) {
        llm_error_set(err, "out of memory");
        return NULL;
    }
    g->cfg = *cfg;
    g->n_params = n_params;
    g->n_tensors = n_tensors;
    g->recompute = recompute;
    g->tensors = (llm_tensor_desc *)malloc(n_tensors * sizeof *g->tensors);
    if (!g->tensors) {
        llm_error_set(err, "out of memory");
        goto fail;
    }
    memcpy(g->tensors, tensors, n_tensors * sizeof *tensors);
    if (!(g->params = (float *)llm_cu_alloc(n_params * sizeof(float), err)) ||
        !(g->params_bf = (bf16 *)llm_cu_alloc(n_params * sizeof(bf16), err)) ||
        !(g->sumsq = (double *)llm_cu_alloc(sizeof(double), err)) ||
        !(g->norm_parts = (double *)llm_cu_alloc((size_t)llm_cuda_norm_parts() * sizeof(double), err)) ||
        !(g->ranges = (uint64_t *)llm_cu_alloc((n_tensors + 1) * sizeof(uint64_t), err)) ||
        !(g->decays = (uint8_t *)llm_cu_alloc(n_tensors, err)) || upload_table(g, err) < 0)
        goto fail;
    g->fixed_bytes = n_params * (sizeof(float) + sizeof(bf16));
    note_bytes(g);
    if (llm_cuda_upload(g, params, NULL, NULL, err) < 0)
        goto fail;
    return g;
fail:
    llm_cuda_free(g);
    return NULL;
}

static void free_plan(llm_cuda *g)
{
    llm_cu_free(g->mem);
    g->mem = NULL;
    g->mem_bytes = 0;
    free(g->layer);
    free(g->resid);
    free(g->h_targets);
    free(g->h_pos);
    free(g->h_losses);
    free(g->h_correct);
    free(g->h_groups);
    g->h_groups = NULL;
    g->layer = NULL;
    g->resid = NULL;
    g->h_targets = g->h_pos = NULL;
    g->h_losses = NULL;
    g->h_correct = NULL;
    g->max_B = g->max_T = 0;
    g->has_targets = 0;
}

extern "C" void llm_cuda_free(llm_cuda *g)
{
    if (!g)
        return;
    llm_cu_prof_report();
    free_plan(g);
    llm_cu_free(g->dec_mem);
    free(g->dec_qkv);
    llm_cu_free(g->params);
    llm_cu_free(g->params_bf);
    llm_cu_free(g->grads);
    llm_cu_free(g->m);
    llm_cu_free(g->v);
    llm_cu_free(g->sumsq);
    llm_cu_free(g->norm_parts);
    llm_cu_free(g->ranges);
    llm_cu_free(g->decays);
    free(g->tensors);
    free(g);
}

/* Gradients and moments, the first time a training plan is made. */
static int alloc_training(llm_cuda *g, llm_error *err)
{
    if (g->grads)
        return 0;
    size_t bytes = g->n_params * sizeof(float);
    if (!(g->grads = (float *)llm_cu_alloc(bytes, err)) || !(g->m = (float *)llm_cu_alloc(bytes, err)) ||
        !(g->v = (float *)llm_cu_alloc(bytes, err)))
        return -1;
    CU_CHECK(cudaMemset(g->grads, 0, bytes));
    CU_CHECK(cudaMemset(g->m, 0, bytes));
    CU_CHECK(cudaMemset(g->v, 0, bytes));
    g->fixed_bytes += 3 * bytes;
    note_bytes(g);
    return 0;
}

extern "C" int llm_cuda_upload(llm_cuda *g, const float *params, const float *m, const float *v, llm_error *err)
{
    if (params && (llm_cu_put_f32(g->params, params, g->n_params, err) < 0 ||
                   llm_cuda_to_bf16(g->params_bf, g->params, 1.0f, g->n_params, NULL, err) < 0))
        return -1;
    if ((m || v) && alloc_training(g, err) < 0)
        return -1;
    if (m && llm_cu_put_f32(g->m, m, g->n_params, err) < 0)
        return -1;
    if (v && llm_cu_put_f32(g->v, v, g->n_params, err) < 0)
        return -1;
    return llm_cu_sync(err);
}

extern "C" int llm_cuda_download(llm_cuda *g, float *params, float *m, float *v, float *grads, llm_error *err)
{
    if (llm_cu_sync(err) < 0)
        return -1;
    if (params && llm_cu_get_f32(params, g->params, g->n_params, err) < 0)
        return -1;
    if ((m || v || grads) && !g->grads)
        return llm_error_set(err, "no optimizer state on the GPU: the model was never planned for training");
    if (m && llm_cu_get_f32(m, g->m, g->n_params, err) < 0)
        return -1;
    if (v && llm_cu_get_f32(v, g->v, g->n_params, err) < 0)
        return -1;
    if (grads && llm_cu_get_f32(grads, g->grads, g->n_params, err) < 0)
        return -1;
    return 0;
}

extern "C" size_t llm_cuda_peak_bytes(const llm_cuda *g) { return g ? g->peak_bytes : 0; }

extern "C" double llm_cuda_peak_flops(const llm_cuda *g)
{
    (void)g;
    int dev = 0, major = 0, minor = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
        return 0.0;
    if (major == 8 && minor == 0)
        return 312e12 * sms / 108;    /* A100 SXM: 108 multiprocessors */
    if (major == 9 && minor == 0)
        return 989e12 * sms / 132;    /* H100 SXM: 132 */
    return 0.0;
}

/* ---- the plan ---------------------------------------------------------------------------- */

/* Carves n elements of T from the plan (64-byte aligned); with base NULL only counts. */
template <typename T> static T *carve(char *base, size_t *used, size_t n)
{
    T *p = base ? (T *)(base + *used) : NULL;
    *used += (n * sizeof(T) + 63) & ~(size_t)63;
    return p;
}

/* Lays the plan out over base (NULL: count) for max_B x max_T; returns its bytes. Training
 * keeps every layer's activations (but LayerNorm outputs and GELU under recompute);
 * inference shares one layer's buffers and alternates two residuals. */
static size_t layout(llm_cuda *g, int max_B, int max_T, int train, char *base)
{
    const llm_model_config *c = &g->cfg;
    size_t N = (size_t)max_B * max_T, C = c->n_embd, V = c->vocab_size, L = c->n_layer, used = 0;
    size_t heads = (size_t)max_B * c->n_head * max_T;
    int Vp = (int)((V + 63) & ~(size_t)63);
    size_t most = chunk_rows_wanted ? (size_t)chunk_rows_wanted : CHUNK_ELEMS / (size_t)Vp;
    most = most < 1 ? 1 : most > N ? N : most;
    size_t chunks = (N + most - 1) / most, rows = (N + chunks - 1) / chunks;    /* no small last chunk */
    if (base) {
        g->Vp = Vp;
        g->chunk_rows = (int)rows;
    }
    for (size_t l = 0; l <= L; l++) {
        float *r = train || l < 2 ? carve<float>(base, &used, N * C) : NULL;
        if (base)
            g->resid[l] = train || l < 2 ? r : g->resid[l % 2];
    }
    int keep_all = train && !g->recompute;
    layer_acts shared = {};
    for (size_t l = 0; l < L; l++) {
        layer_acts *A = base ? &g->layer[l] : &shared;
        if (train || l == 0) {
            A->res_mid = carve<float>(base, &used, N * C);
            A->ln1_mean = carve<float>(base, &used, N);
            A->ln1_rstd = carve<float>(base, &used, N);
            A->ln2_mean = carve<float>(base, &used, N);
            A->ln2_rstd = carve<float>(base, &used, N);
            A->qkv = carve<bf16>(base, &used, N * 3 * C);
            A->atty = carve<bf16>(base, &used, N * C);
            A->lse = carve<float>(base, &used, heads);
            A->fch = carve<bf16>(base, &used, N * 4 * C);
            if (keep_all || l == 0) {
                A->ln1 = carve<bf16>(base, &used, N * C);
                A->ln2 = carve<bf16>(base, &used, N * C);
                A->fch_gelu = carve<bf16>(base, &used, N * 4 * C);
            } else if (base) {    /* recompute: one layer's, shared */
                A->ln1 = g->layer[0].ln1;
                A->ln2 = g->layer[0].ln2;
                A->fch_gelu = g->layer[0].fch_gelu;
            }
        } else if (base) {
            *A = g->layer[0];
        }
    }
    g->lnf = carve<bf16>(base, &used, N * C);
    g->lnf_mean = carve<float>(base, &used, N);
    g->lnf_rstd = carve<float>(base, &used, N);
    g->logits = carve<bf16>(base, &used, rows * Vp);
    g->losses = carve<float>(base, &used, N);
    g->lse = carve<float>(base, &used, N);
    g->correct = carve<uint8_t>(base, &used, N);
    g->tokens = carve<int32_t>(base, &used, N);
    g->targets = carve<int32_t>(base, &used, N);
    g->pos = carve<int32_t>(base, &used, N);
    g->tok_rows = carve<int32_t>(base, &used, N);
    g->tok_start = carve<int32_t>(base, &used, N + 1);
    g->tok_id = carve<int32_t>(base, &used, N);
    g->pos_rows = carve<int32_t>(base, &used, N);
    g->pos_start = carve<int32_t>(base, &used, N + 1);
    g->pos_id = carve<int32_t>(base, &used, N);
    if (train) {
        g->dlnf = carve<float>(base, &used, N * C);
        g->dwte_head = carve<float>(base, &used, V * C);
        g->dres = carve<float>(base, &used, N * C);
        g->dc = carve<float>(base, &used, N * C);
        g->dres_bf = carve<bf16>(base, &used, N * C);
        g->datty = carve<bf16>(base, &used, N * C);
        g->d4c = carve<bf16>(base, &used, N * 4 * C);
        g->dqkv = carve<bf16>(base, &used, N * 3 * C);
        g->delta = carve<float>(base, &used, heads);
        g->colsum = carve<float>(base, &used, llm_cuda_colsum_scratch((int)N, 4 * (int)C));    /* the widest */
    } else if (base) {
        g->dlnf = g->dwte_head = g->dres = g->dc = g->delta = g->colsum = NULL;
        g->dres_bf = g->datty = g->d4c = g->dqkv = NULL;
    }
    return used;
}

extern "C" int llm_cuda_plan(llm_cuda *g, int max_B, int max_T, int train, llm_error *err)
{
    free_plan(g);
    if (train && alloc_training(g, err) < 0)
        return -1;
    size_t N = (size_t)max_B * max_T, bytes = layout(g, max_B, max_T, train, NULL);
    g->layer = (layer_acts *)calloc((size_t)g->cfg.n_layer, sizeof *g->layer);
    g->resid = (float **)calloc((size_t)g->cfg.n_layer + 1, sizeof *g->resid);
    g->h_targets = (int32_t *)malloc(N * sizeof(int32_t));
    g->h_pos = (int32_t *)malloc(N * sizeof(int32_t));
    g->h_losses = (float *)malloc(N * sizeof(float));
    g->h_correct = (uint8_t *)malloc(N);
    size_t count = (size_t)(g->cfg.vocab_size > g->cfg.block_size ? g->cfg.vocab_size : g->cfg.block_size) + 1;
    g->h_groups = (int32_t *)malloc((6 * N + 2 + count) * sizeof(int32_t));
    if (!g->layer || !g->resid || !g->h_targets || !g->h_pos || !g->h_losses || !g->h_correct || !g->h_groups) {
        free_plan(g);
        return llm_error_set(err, "out of memory");
    }
    if (!(g->mem = llm_cu_alloc(bytes, err))) {
        free_plan(g);
        return llm_error_set(err, "out of GPU memory for the activations of %d x %d tokens (%.2f GiB); a smaller "
                             "--micro-batch, --micro-batch auto or --recompute", max_B, max_T,
                             (double)bytes / (1 << 30));
    }
    g->mem_bytes = bytes;
    layout(g, max_B, max_T, train, (char *)g->mem);
    g->max_B = max_B;
    g->max_T = max_T;
    g->train = train;
    note_bytes(g);
    return 0;
}

extern "C" int llm_cuda_max_batch(llm_cuda *g, int max_T, int train, int cap, llm_error *err)
{
    size_t free_b = 0, total = 0;
    free_plan(g);
    if (train && alloc_training(g, err) < 0)
        return 0;
    cudaError_t e = cudaMemGetInfo(&free_b, &total);
    if (e != cudaSuccess) {
        cu_fail(err, e, "cudaMemGetInfo", __FILE__, __LINE__);
        return 0;
    }
    /* a margin for cuBLASLt, the runtime and fragmentation */
    size_t margin = total / 32 + ((size_t)256 << 20), budget = free_b > margin ? free_b - margin : 0;
    int lo = 0, hi = cap;
    while (lo < hi) {    /* the largest B whose plan fits: plans grow with B */
        int mid = lo + (hi - lo + 1) / 2;
        if (layout(g, mid, max_T, train, NULL) <= budget)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == 0)
        llm_error_set(err, "not even one row of %d tokens fits the GPU's %.1f GiB free", max_T,
                      (double)free_b / (1 << 30));
    return lo;
}

/* ---- the passes -------------------------------------------------------------------------- */

/* Pointers of tensor i into the fp32 masters, their bf16 copy, or the gradients. */
static float *P(const llm_cuda *g, size_t i) { return g->params + g->tensors[i].offset; }
static bf16 *PB(const llm_cuda *g, size_t i) { return g->params_bf + g->tensors[i].offset; }
static float *G(const llm_cuda *g, size_t i) { return g->grads + g->tensors[i].offset; }
/* Tensor k (0..11, in the order of lib/gpt2.c's table) of layer l. */
static size_t LT(int l, int k) { return 2 + (size_t)l * LAYER_TENSORS + k; }
enum { LN1W, LN1B, QKVW, QKVB, PROJW, PROJB, LN2W, LN2B, FCW, FCB, FCPROJW, FCPROJB };
static size_t LNF(const llm_cuda *g, int k) { return 2 + (size_t)g->cfg.n_layer * LAYER_TENSORS + k; }

/* Row-major products of the layers; see llm_cu_gemm. mm_gelu's aux is GELU's input. */
static int mm_gelu(void *D, int d_fp32, const bf16 *A, int ta, const bf16 *B, int tb, int M, int N, int K,
                   const void *bias, const float *Cadd, float beta, int gelu, bf16 *aux, llm_error *err)
{
    llm_cu_gemm m = {};
    m.M = M;
    m.N = N;
    m.K = K;
    m.trans_a = ta;
    m.trans_b = tb;
    m.A = A;
    m.B = B;
    m.lda = ta ? M : K;
    m.ldb = tb ? K : N;
    m.D = D;
    m.ldd = N;
    m.d_fp32 = d_fp32;
    m.C = Cadd;
    m.beta = beta;
    m.bias = bias;
    m.gelu = gelu;
    m.aux = aux;
    return llm_cuda_matmul(&m, NULL, err);
}

static int mm(void *D, int d_fp32, const bf16 *A, int ta, const bf16 *B, int tb, int M, int N, int K, const void *bias,
              const float *Cadd, float beta, llm_error *err)
{
    return mm_gelu(D, d_fp32, A, ta, B, tb, M, N, K, bias, Cadd, beta, LLM_CU_GELU_NONE, NULL, err);
}

#define TRY(call)            \
    do {                     \
        if ((call) < 0)      \
            return -1;       \
    } while (0)

/* TRY for one stage of the passes, timed under LLM_CUDA_PROFILE (profile.cu). */
#define STAGE(name, call)            \
    do {                             \
        llm_cu_prof_begin(name);     \
        int stage_rc_ = (call);      \
        llm_cu_prof_end();           \
        if (stage_rc_ < 0)           \
            return -1;               \
    } while (0)

/* One layer over N = B x T rows, res_in to res_out through A's buffers. Attention: over the
 * rows' own (B, T) when first == 0; in generation (B = 1) with first > 0, A->qkv continues
 * the layer's cache, whose rows 0 .. first - 1 precede it, and its queries see those too. */
static int layer_forward(llm_cuda *g, int l, const layer_acts *A, int B, int T, int first, const int32_t *pos,
                         const float *res_in, float *res_out, llm_error *err)
{
    const llm_model_config *c = &g->cfg;
    int N = B * T, C = c->n_embd;
    STAGE("fwd layernorm", llm_cuda_layernorm_forward(A->ln1, A->ln1_mean, A->ln1_rstd, res_in, P(g, LT(l, LN1W)),
                                                      P(g, LT(l, LN1B)), N, C, LN_EPS, NULL, err));
    STAGE("fwd matmul qkv", mm(A->qkv, 0, A->ln1, 0, PB(g, LT(l, QKVW)), 0, N, 3 * C, C, PB(g, LT(l, QKVB)), NULL, 0,
                               err));
    if (first == 0)
        STAGE("fwd attention", llm_cuda_attention_forward(A->atty, A->lse, A->qkv, pos, B, T, C, c->n_head, NULL, err));
    else
        STAGE("fwd attention (decode)",
              llm_cuda_attention_queries(A->atty, A->lse, A->qkv - (size_t)first * 3 * C, pos, first + T, first, C,
                                         c->n_head, NULL, err));
    /* the residual add rides in the product's epilogue: res_mid = res_in + atty W + b */
    STAGE("fwd matmul attn proj", mm(A->res_mid, 1, A->atty, 0, PB(g, LT(l, PROJW)), 0, N, C, C, P(g, LT(l, PROJB)),
                                     res_in, 1.0f, err));
    STAGE("fwd layernorm", llm_cuda_layernorm_forward(A->ln2, A->ln2_mean, A->ln2_rstd, A->res_mid, P(g, LT(l, LN2W)),
                                                      P(g, LT(l, LN2B)), N, C, LN_EPS, NULL, err));
    STAGE("fwd matmul fc + gelu", mm_gelu(A->fch_gelu, 0, A->ln2, 0, PB(g, LT(l, FCW)), 0, N, 4 * C, C,
                                          PB(g, LT(l, FCB)), NULL, 0, LLM_CU_GELU_FORWARD, A->fch, err));
    STAGE("fwd matmul fc proj", mm(res_out, 1, A->fch_gelu, 0, PB(g, LT(l, FCPROJW)), 0, N, C, 4 * C,
                                   P(g, LT(l, FCPROJB)), A->res_mid, 1.0f, err));
    return 0;
}

/* The classifier in chunks of rows: logits, loss and, when training, the unit-scale
 * gradients of lnf (dlnf) and of the tied embedding (dwte_head). */
static int classifier(llm_cuda *g, int N, float label_smoothing, llm_error *err)
{
    int C = g->cfg.n_embd, V = g->cfg.vocab_size, R = g->chunk_rows;
    for (int r0 = 0; r0 < N; r0 += R) {
        int rows = N - r0 < R ? N - r0 : R;
        const bf16 *x = g->lnf + (size_t)r0 * C;
        llm_cu_gemm m = {};
        m.M = rows;
        m.N = V;
        m.K = C;
        m.trans_b = 1;
        m.A = x;
        m.lda = C;
        m.B = PB(g, 0);    /* wte (V, C) */
        m.ldb = C;
        m.D = g->logits;
        m.ldd = g->Vp;
        STAGE("fwd matmul classifier", llm_cuda_matmul(&m, NULL, err));
        STAGE("fwd cross-entropy", llm_cuda_crossentropy(g->losses + r0, g->lse + r0, g->correct + r0, g->logits,
                                                         g->train, g->targets + r0, label_smoothing, rows, V, g->Vp,
                                                         NULL, err));
        if (!g->train)
            continue;
        /* The logits are now their gradient: dlnf (rows, C) = dlogits wte and
         * dwte_head (V, C) (+)= dlogits^T lnf. */
        llm_cu_gemm d = {};
        d.M = rows;
        d.N = C;
        d.K = V;
        d.A = g->logits;
        d.lda = g->Vp;
        d.B = PB(g, 0);
        d.ldb = C;
        d.D = g->dlnf + (size_t)r0 * C;
        d.ldd = C;
        d.d_fp32 = 1;
        STAGE("bwd matmul classifier", llm_cuda_matmul(&d, NULL, err));
        llm_cu_gemm w = {};
        w.M = V;
        w.N = C;
        w.K = rows;
        w.trans_a = 1;
        w.A = g->logits;
        w.lda = g->Vp;
        w.B = x;
        w.ldb = C;
        w.D = g->dwte_head;
        w.ldd = C;
        w.d_fp32 = 1;
        w.C = r0 ? g->dwte_head : NULL;
        w.beta = 1.0f;
        STAGE("bwd matmul classifier weight", llm_cuda_matmul(&w, NULL, err));
    }
    return 0;
}

/* The rows grouped by token and by position on the host (a counting sort), for the
 * embeddings' backward: group_rows fills h_groups, send_groups copies them over. h_groups
 * holds, for tokens (which 0) and then positions (1), the rows (N), each group's start
 * (groups + 1) and id (groups), then the sort's counts. */
struct host_groups {
    int32_t *rows, *start, *id;
};

static host_groups groups_of(const llm_cuda *g, int N, int which)
{
    int32_t *h = g->h_groups + (size_t)which * (3 * N + 1);
    return host_groups{h, h + N, h + 2 * N + 1};
}

static void group_rows(llm_cuda *g, const int32_t *tokens, int N)
{
    int32_t *count = g->h_groups + 2 * (3 * N + 1);
    host_groups t = groups_of(g, N, 0), p = groups_of(g, N, 1);
    llm_cuda_group_rows(tokens, N, g->cfg.vocab_size, count, t.rows, t.start, t.id, &g->tok_groups);
    llm_cuda_group_rows(g->h_pos, N, g->cfg.block_size, count, p.rows, p.start, p.id, &g->pos_groups);
}

static int send_groups(llm_cuda *g, int N, llm_error *err)
{
    host_groups t = groups_of(g, N, 0), p = groups_of(g, N, 1);
    size_t n = (size_t)N * sizeof(int32_t), one = sizeof(int32_t);
    CU_CHECK(cudaMemcpy(g->tok_rows, t.rows, n, cudaMemcpyHostToDevice));
    CU_CHECK(cudaMemcpy(g->tok_start, t.start, ((size_t)g->tok_groups + 1) * one, cudaMemcpyHostToDevice));
    CU_CHECK(cudaMemcpy(g->tok_id, t.id, (size_t)g->tok_groups * one, cudaMemcpyHostToDevice));
    CU_CHECK(cudaMemcpy(g->pos_rows, p.rows, n, cudaMemcpyHostToDevice));
    CU_CHECK(cudaMemcpy(g->pos_start, p.start, ((size_t)g->pos_groups + 1) * one, cudaMemcpyHostToDevice));
    CU_CHECK(cudaMemcpy(g->pos_id, p.id, (size_t)g->pos_groups * one, cudaMemcpyHostToDevice));
    return 0;
}

extern "C" int llm_cuda_forward(llm_cuda *g, const llm_batch *batch, float label_smoothing, float noise_scale,
                                llm_loss_stats *stats, llm_error *err)
{
    int B = batch->B, T = batch->T, N = B * T, C = g->cfg.n_embd;
    if (!g->mem || B > g->max_B || T > g->max_T)
        return llm_error_set(err, "batch of %d x %d tokens does not fit the plan", B, T);
    g->B = B;
    g->T = T;
    g->has_targets = 0;
    /* the host's share first: it overlaps the previous backward, which does not wait for
     * the device; the copies below queue behind it */
    for (int n = 0; n < N; n++) {
        g->h_pos[n] = batch->pos ? batch->pos[n] : n % T;
        g->h_targets[n] = batch->targets ? batch->targets[n] : -1;
    }
    int grouped = g->train && batch->targets;
    if (grouped)
        group_rows(g, batch->tokens, N);
    CU_CHECK(cudaMemcpy(g->tokens, batch->tokens, (size_t)N * sizeof(int32_t), cudaMemcpyHostToDevice));
    CU_CHECK(cudaMemcpy(g->pos, g->h_pos, (size_t)N * sizeof(int32_t), cudaMemcpyHostToDevice));
    CU_CHECK(cudaMemcpy(g->targets, g->h_targets, (size_t)N * sizeof(int32_t), cudaMemcpyHostToDevice));
    if (grouped && send_groups(g, N, err) < 0)
        return -1;

    STAGE("fwd embedding", llm_cuda_embed_forward(g->resid[0], g->tokens, g->pos, P(g, 0), P(g, 1), N, C, noise_scale,
                                                  batch->noise_key, NULL, err));
    for (int l = 0; l < g->cfg.n_layer; l++)
        TRY(layer_forward(g, l, &g->layer[l], B, T, 0, g->pos, g->resid[l], g->resid[l + 1], err));
    float *last = g->resid[g->cfg.n_layer];
    STAGE("fwd layernorm", llm_cuda_layernorm_forward(g->lnf, g->lnf_mean, g->lnf_rstd, last, P(g, LNF(g, 0)),
                                                      P(g, LNF(g, 1)), N, C, LN_EPS, NULL, err));
    if (!batch->targets)
        return llm_cu_sync(err);
    TRY(classifier(g, N, label_smoothing, err));
    CU_CHECK(cudaMemcpy(g->h_losses, g->losses, (size_t)N * sizeof(float), cudaMemcpyDeviceToHost));
    CU_CHECK(cudaMemcpy(g->h_correct, g->correct, (size_t)N, cudaMemcpyDeviceToHost));
    TRY(llm_cu_sync(err));
    g->has_targets = 1;
    if (stats) {
        memset(stats, 0, sizeof *stats);
        for (int n = 0; n < N; n++)    /* in order, as the CPU */
            if (g->h_targets[n] >= 0) {
                stats->loss_sum += g->h_losses[n];
                stats->count++;
                stats->correct += g->h_correct[n];
            }
    }
    return 0;
}

static int layer_backward(llm_cuda *g, int l, int B, int T, llm_error *err)
{
    const llm_model_config *c = &g->cfg;
    int N = B * T, C = c->n_embd;
    layer_acts *A = &g->layer[l];
    float *res_in = g->resid[l];
    size_t n4 = (size_t)N * 4 * C;
    if (g->recompute) {
        STAGE("bwd recompute", llm_cuda_gelu_forward(A->fch_gelu, A->fch, n4, NULL, err));
        STAGE("bwd recompute", llm_cuda_layernorm_apply(A->ln2, A->ln2_mean, A->ln2_rstd, A->res_mid, P(g, LT(l, LN2W)),
                                                        P(g, LT(l, LN2B)), N, C, NULL, err));
        STAGE("bwd recompute", llm_cuda_layernorm_apply(A->ln1, A->ln1_mean, A->ln1_rstd, res_in, P(g, LT(l, LN1W)),
                                                        P(g, LT(l, LN1B)), N, C, NULL, err));
    }
    /* dres is d res_out, the residual passes it to res_mid and res_in; dres_bf, its bf16
     * copy, comes with it from each LayerNorm's backward */
    STAGE("bwd matmul fc proj + dgelu", mm_gelu(g->d4c, 0, g->dres_bf, 0, PB(g, LT(l, FCPROJW)), 1, N, 4 * C, C, NULL,
                                                NULL, 0, LLM_CU_GELU_BACKWARD, A->fch, err));
    STAGE("bwd matmul fc proj weight", mm(G(g, LT(l, FCPROJW)), 1, A->fch_gelu, 1, g->dres_bf, 0, 4 * C, C, N, NULL,
                                          G(g, LT(l, FCPROJW)), 1.0f, err));
    STAGE("bwd bias", llm_cuda_bias_backward_f32(G(g, LT(l, FCPROJB)), g->dres, N, C, g->colsum, NULL, err));
    STAGE("bwd matmul fc", mm(g->dc, 1, g->d4c, 0, PB(g, LT(l, FCW)), 1, N, C, 4 * C, NULL, NULL, 0, err));
    STAGE("bwd matmul fc weight",
          mm(G(g, LT(l, FCW)), 1, A->ln2, 1, g->d4c, 0, C, 4 * C, N, NULL, G(g, LT(l, FCW)), 1.0f, err));
    STAGE("bwd bias", llm_cuda_bias_backward(G(g, LT(l, FCB)), g->d4c, N, 4 * C, g->colsum, NULL, err));
    STAGE("bwd layernorm",
          llm_cuda_layernorm_backward(g->dres, g->dres_bf, G(g, LT(l, LN2W)), G(g, LT(l, LN2B)), g->dc, 1.0f,
                                      A->res_mid, A->ln2_mean, A->ln2_rstd, P(g, LT(l, LN2W)), N, C, g->colsum, NULL,
                                      err));

    STAGE("bwd matmul attn proj", mm(g->datty, 0, g->dres_bf, 0, PB(g, LT(l, PROJW)), 1, N, C, C, NULL, NULL, 0, err));
    STAGE("bwd matmul attn proj weight",
          mm(G(g, LT(l, PROJW)), 1, A->atty, 1, g->dres_bf, 0, C, C, N, NULL, G(g, LT(l, PROJW)), 1.0f, err));
    STAGE("bwd bias", llm_cuda_bias_backward_f32(G(g, LT(l, PROJB)), g->dres, N, C, g->colsum, NULL, err));
    STAGE("bwd attention", llm_cuda_attention_backward(g->dqkv, g->delta, g->datty, A->atty, A->lse, A->qkv, g->pos, B,
                                                       T, C, c->n_head, NULL, err));
    STAGE("bwd matmul qkv", mm(g->dc, 1, g->dqkv, 0, PB(g, LT(l, QKVW)), 1, N, C, 3 * C, NULL, NULL, 0, err));
    STAGE("bwd matmul qkv weight",
          mm(G(g, LT(l, QKVW)), 1, A->ln1, 1, g->dqkv, 0, C, 3 * C, N, NULL, G(g, LT(l, QKVW)), 1.0f, err));
    STAGE("bwd bias", llm_cuda_bias_backward(G(g, LT(l, QKVB)), g->dqkv, N, 3 * C, g->colsum, NULL, err));
    STAGE("bwd layernorm", llm_cuda_layernorm_backward(g->dres, l > 0 ? g->dres_bf : NULL, G(g, LT(l, LN1W)),
                                                       G(g, LT(l, LN1B)), g->dc, 1.0f, res_in, A->ln1_mean,
                                                       A->ln1_rstd, P(g, LT(l, LN1W)), N, C, g->colsum, NULL, err));
    return 0;
}

extern "C" int llm_cuda_backward(llm_cuda *g, double normaliser, llm_error *err)
{
    if (!g->train || !g->has_targets)
        return llm_error_set(err, "backward needs a training plan and a forward with targets");
    int B = g->B, T = g->T, N = B * T, C = g->cfg.n_embd, L = g->cfg.n_layer;
    float scale = (float)(1.0 / normaliser);
    STAGE("bwd embedding (head)",
          llm_cuda_axpy(G(g, 0), scale, g->dwte_head, (size_t)g->cfg.vocab_size * C, NULL, err));
    CU_CHECK(cudaMemset(g->dres, 0, (size_t)N * C * sizeof(float)));
    STAGE("bwd layernorm",
          llm_cuda_layernorm_backward(g->dres, g->dres_bf, G(g, LNF(g, 0)), G(g, LNF(g, 1)), g->dlnf, scale,
                                      g->resid[L], g->lnf_mean, g->lnf_rstd, P(g, LNF(g, 0)), N, C, g->colsum, NULL,
                                      err));
    for (int l = L - 1; l >= 0; l--)
        TRY(layer_backward(g, l, B, T, err));
    STAGE("bwd embedding",
          llm_cuda_embed_backward(G(g, 0), g->dres, g->tok_rows, g->tok_start, g->tok_id, g->tok_groups, C, NULL, err));
    STAGE("bwd embedding",
          llm_cuda_embed_backward(G(g, 1), g->dres, g->pos_rows, g->pos_start, g->pos_id, g->pos_groups, C, NULL, err));
    g->has_targets = 0;
    /* no wait for the device here: the host goes on to the next micro-batch while the
     * kernels run, and an error of theirs shows at the next copy or synchronisation */
    CU_LAUNCHED();
    return 0;
}

extern "C" int llm_cuda_zero_grad(llm_cuda *g, llm_error *err)
{
    if (g->grads)
        CU_CHECK(cudaMemset(g->grads, 0, g->n_params * sizeof(float)));
    return 0;
}

extern "C" int llm_cuda_step(llm_cuda *g, const llm_adamw_config *c, int64_t step, double lr, double max_norm,
                             float *grad_norm, llm_error *err)
{
    if (!g->grads)
        return llm_error_set(err, "an optimizer step needs a training plan");
    STAGE("step gradient norm", llm_cuda_grad_sumsq(g->sumsq, g->norm_parts, g->grads, g->n_params, NULL, err));
    /* as lib/adamw.c: the corrections in double, applied in float */
    double bc1 = 1.0 - pow(c->beta1, (double)step), bc2 = 1.0 - pow(c->beta2, (double)step);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - lr * c->weight_decay);
    STAGE("step adamw", llm_cuda_adamw(g->params, g->params_bf, g->grads, g->m, g->v, g->n_params, g->ranges, g->decays,
                                       (int)g->n_tensors, g->sumsq, (float)max_norm, c->beta1, c->beta2, c->eps, decay,
                                       step_size, bc2_sqrt, NULL, err));
    double sumsq = 0.0;
    CU_CHECK(cudaMemcpy(&sumsq, g->sumsq, sizeof sumsq, cudaMemcpyDeviceToHost));
    *grad_norm = (float)sqrt(sumsq);
    return 0;
}

/* ---- generation ---------------------------------------------------------------------------- */

/* Lays generation's memory out over base (NULL: count); returns its bytes. */
static size_t decode_layout(llm_cuda *g, char *base)
{
    size_t T = (size_t)g->cfg.block_size, C = g->cfg.n_embd, used = 0;
    for (int l = 0; l < g->cfg.n_layer; l++) {
        bf16 *q = carve<bf16>(base, &used, T * 3 * C);
        if (base)
            g->dec_qkv[l] = q;
    }
    layer_acts *A = &g->dec_acts;
    g->dec_res[0] = carve<float>(base, &used, T * C);
    g->dec_res[1] = carve<float>(base, &used, T * C);
    A->res_mid = carve<float>(base, &used, T * C);
    A->ln1 = A->ln2 = carve<bf16>(base, &used, T * C);
    A->atty = carve<bf16>(base, &used, T * C);
    A->fch = carve<bf16>(base, &used, T * 4 * C);
    A->fch_gelu = carve<bf16>(base, &used, T * 4 * C);
    A->ln1_mean = A->ln2_mean = carve<float>(base, &used, T);
    A->ln1_rstd = A->ln2_rstd = carve<float>(base, &used, T);
    A->lse = carve<float>(base, &used, (size_t)g->cfg.n_head * T);
    g->dec_logits = carve<float>(base, &used, (size_t)g->cfg.vocab_size);
    g->dec_tokens = carve<int32_t>(base, &used, T);
    g->dec_pos = carve<int32_t>(base, &used, T);
    return used;
}

static int decode_alloc(llm_cuda *g, llm_error *err)
{
    int T = g->cfg.block_size;
    size_t bytes = decode_layout(g, NULL);
    if (!g->dec_qkv && !(g->dec_qkv = (bf16 **)calloc((size_t)g->cfg.n_layer, sizeof *g->dec_qkv)))
        return llm_error_set(err, "out of memory");
    if (!(g->dec_mem = llm_cu_alloc(bytes, err)))
        return -1;
    decode_layout(g, (char *)g->dec_mem);
    g->dec_bytes = bytes;
    note_bytes(g);
    int32_t *pos = (int32_t *)malloc((size_t)T * sizeof(int32_t));
    if (!pos)
        return llm_error_set(err, "out of memory");
    for (int i = 0; i < T; i++)
        pos[i] = i;
    cudaError_t e = cudaMemcpy(g->dec_pos, pos, (size_t)T * sizeof(int32_t), cudaMemcpyHostToDevice);
    free(pos);
    CU_CHECK(e);
    return 0;
}

extern "C" int llm_cuda_decoded(const llm_cuda *g) { return g ? g->dec_len : 0; }

/* n and start are llm_model_decode's, checked there against llm_cuda_decoded. */
extern "C" int llm_cuda_decode(llm_cuda *g, const int32_t *tokens, int n, int start, float *logits, llm_error *err)
{
    int C = g->cfg.n_embd, V = g->cfg.vocab_size;
    if (!g->dec_mem && decode_alloc(g, err) < 0)
        return -1;
    g->dec_len = start;    /* what follows start is overwritten */
    CU_CHECK(cudaMemcpy(g->dec_tokens, tokens, (size_t)n * sizeof(int32_t), cudaMemcpyHostToDevice));
    TRY(llm_cuda_embed_forward(g->dec_res[0], g->dec_tokens, g->dec_pos + start, P(g, 0), P(g, 1), n, C, 0.0f, 0,
                               NULL, err));
    layer_acts A = g->dec_acts;
    for (int l = 0; l < g->cfg.n_layer; l++) {
        A.qkv = g->dec_qkv[l] + (size_t)start * 3 * C;    /* the new rows join the cache */
        TRY(layer_forward(g, l, &A, 1, n, start, g->dec_pos, g->dec_res[l % 2], g->dec_res[(l + 1) % 2], err));
    }
    /* the logits of the last row only */
    const float *last = g->dec_res[g->cfg.n_layer % 2] + (size_t)(n - 1) * C;
    TRY(llm_cuda_layernorm_forward(A.ln1, A.ln1_mean, A.ln1_rstd, last, P(g, LNF(g, 0)), P(g, LNF(g, 1)), 1, C, LN_EPS,
                                   NULL, err));
    TRY(mm(g->dec_logits, 1, A.ln1, 0, PB(g, 0), 1, 1, V, C, NULL, NULL, 0, err));
    CU_CHECK(cudaMemcpy(logits, g->dec_logits, (size_t)V * sizeof(float), cudaMemcpyDeviceToHost));
    llm_cu_prof_collect();    /* the copy waited for the token's stages */
    g->dec_len = start + n;
    return 0;
}

/* The family-independent half of lib/model.h: presets, the parameter buffer and its table,
 * planning, checking a batch before a family's passes run on it, vocabulary growth. */
#include "model.h"

#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gpt2.h"
#include "model_cuda.h"
#include "noise.h"

static const struct {
    const char *name;
    int n_layer, n_head, n_embd;
} presets[] = {
    {"gpt2", 12, 12, 768},
    {"gpt2-medium", 24, 16, 1024},
    {"gpt2-large", 36, 20, 1280},
    {"gpt2-xl", 48, 25, 1600},
};

int llm_model_preset(const char *name, llm_model_config *cfg)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(name, presets[i].name) == 0) {
            *cfg = (llm_model_config){LLM_FAMILY_GPT2, presets[i].n_layer, presets[i].n_head,
                                      presets[i].n_embd, 1024, 50257};
            return 0;
        }
    return -1;
}

int llm_model_config_check(const llm_model_config *cfg, llm_error *err)
{
    if (cfg->family != LLM_FAMILY_GPT2)
        return llm_error_set(err, "unknown model family %d", (int)cfg->family);
    if (cfg->n_layer < 1 || cfg->n_head < 1 || cfg->n_embd < 1 || cfg->block_size < 1 ||
        cfg->vocab_size < 1)
        return llm_error_set(err, "model sizes must be positive (layers %d, heads %d, width %d, "
                             "block %d, vocabulary %d)", cfg->n_layer, cfg->n_head, cfg->n_embd,
                             cfg->block_size, cfg->vocab_size);
    if (cfg->n_embd % cfg->n_head)
        return llm_error_set(err, "width %d is not a multiple of the %d heads", cfg->n_embd, cfg->n_head);
    /* every offset and product fits an int: (N, V) logits are the largest per batch */
    if ((int64_t)cfg->n_embd * 4 * cfg->n_embd > INT32_MAX || cfg->n_layer > 4096)
        return llm_error_set(err, "model too large (width %d, %d layers)", cfg->n_embd, cfg->n_layer);
    return 0;
}

size_t llm_model_tensors(const llm_model_config *cfg, llm_tensor_desc *out)
{
    return llm_gpt2_tensors(cfg, out);
}

size_t llm_model_param_count(const llm_model_config *cfg)
{
    size_t n = llm_model_tensors(cfg, NULL);
    llm_tensor_desc *t = malloc(n * sizeof *t);
    if (!t)
        return 0;
    llm_model_tensors(cfg, t);
    size_t count = t[n - 1].offset + llm_tensor_numel(&t[n - 1]);
    free(t);
    return count;
}

/* The table and a zeroed buffer for cfg, into the out parameters. */
static int alloc_params(const llm_model_config *cfg, llm_tensor_desc **tensors, size_t *n_tensors,
                        float **params, size_t *n_params, llm_error *err)
{
    *n_tensors = llm_model_tensors(cfg, NULL);
    *tensors = malloc(*n_tensors * sizeof **tensors);
    if (!*tensors)
        return llm_error_set(err, "out of memory");
    llm_model_tensors(cfg, *tensors);
    const llm_tensor_desc *last = &(*tensors)[*n_tensors - 1];
    *n_params = last->offset + llm_tensor_numel(last);
    *params = calloc(*n_params, sizeof **params);
    if (!*params) {
        free(*tensors);
        *tensors = NULL;
        return llm_error_set(err, "out of memory for %zu parameters", *n_params);
    }
    return 0;
}

llm_model *llm_model_new(const llm_model_config *cfg, llm_error *err)
{
    if (llm_model_config_check(cfg, err))
        return NULL;
    llm_model *m = calloc(1, sizeof *m);
    if (!m) {
        llm_error_set(err, "out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    m->threads = omp_get_max_threads();
    if (alloc_params(cfg, &m->tensors, &m->n_tensors, &m->params, &m->n_params, err)) {
        free(m);
        return NULL;
    }
    return m;
}

void llm_model_free(llm_model *m)
{
    if (!m)
        return;
    llm_cuda_free(m->cuda);
    llm_gpt2_acts_free(m->acts);
    llm_gpt2_kv_free(m->kv);
    free(m->params);
    free(m->grads);
    free(m->tensors);
    free(m);
}

void llm_model_init(llm_model *m, uint64_t seed) { llm_gpt2_init(m, seed); }

void llm_model_set_threads(llm_model *m, int threads) { m->threads = threads > 0 ? threads : 1; }

int llm_model_max_rows(const llm_model *m, int T)
{
    /* the GPU never holds (N, V) logits nor (T, T) scores: those limits are the CPU's */
    if (m->cuda || T < 1)
        return INT_MAX;
    int64_t by_logits = INT32_MAX / ((int64_t)T * m->cfg.vocab_size);
    int64_t by_scores = INT32_MAX / ((int64_t)m->cfg.n_head * T * T);
    return (int)(by_logits < by_scores ? by_logits : by_scores);
}

int llm_model_plan(llm_model *m, int max_B, int max_T, int train, llm_error *err)
{
    if (max_B < 1 || max_T < 1 || max_T > m->cfg.block_size)
        return llm_error_set(err, "batch of %d x %d tokens: rows must be 1 to %d tokens long",
                             max_B, max_T, m->cfg.block_size);
    if (m->cuda)
        return llm_cuda_plan(m->cuda, max_B, max_T, train, err);
    if (max_B > llm_model_max_rows(m, max_T))
        return llm_error_set(err, "batch of %d x %d tokens: on the CPU a pass takes at most %d rows of %d tokens "
                             "(its logits are indexed in 32 bits)", max_B, max_T, llm_model_max_rows(m, max_T),
                             max_T);
    if (train && !m->grads) {
        m->grads = calloc(m->n_params, sizeof *m->grads);
        if (!m->grads)
            return llm_error_set(err, "out of memory for the gradients");
    }
    llm_gpt2_acts_free(m->acts);
    m->acts = llm_gpt2_plan(&m->cfg, max_B, max_T, train, m->threads, err);
    return m->acts ? 0 : -1;
}

/* Ids in range, and positions that are offsets in documents: 0, or one more than before. */
static int check_batch(const llm_model *m, const llm_batch *b, llm_error *err)
{
    int V = m->cfg.vocab_size;
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t < b->T; t++) {
            size_t i = (size_t)r * b->T + t;
            if (b->tokens[i] < 0 || b->tokens[i] >= V)
                return llm_error_set(err, "row %d, position %d: token %d outside the vocabulary (%d)",
                                     r, t, (int)b->tokens[i], V);
            if (b->targets && (b->targets[i] < -1 || b->targets[i] >= V))
                return llm_error_set(err, "row %d, position %d: target %d outside the vocabulary (%d)",
                                     r, t, (int)b->targets[i], V);
            if (b->pos && b->pos[i] != 0 && (t == 0 || b->pos[i] != b->pos[i - 1] + 1))
                return llm_error_set(err, "row %d, position %d: position id %d does not follow %d",
                                     r, t, (int)b->pos[i], t ? (int)b->pos[i - 1] : -1);
        }
    return 0;
}

/* NEFTune's bound for a forward over batch: 0 when it adds no noise. */
static float neftune_scale(const llm_model *m, const llm_batch *batch)
{
    return m->neftune_alpha > 0 && batch->noise_key ? llm_noise_scale(m->neftune_alpha, batch->T, m->cfg.n_embd) : 0;
}

int llm_model_forward(llm_model *m, const llm_batch *batch, llm_loss_stats *stats, llm_error *err)
{
    if (m->cuda)
        return check_batch(m, batch, err) ? -1 : llm_cuda_forward(m->cuda, batch, m->label_smoothing,
                                                                  neftune_scale(m, batch), stats, err);
    if (!llm_gpt2_acts_fit(m->acts, batch->B, batch->T, 0))
        return llm_error_set(err, "batch of %d x %d tokens does not fit the plan", batch->B, batch->T);
    if (check_batch(m, batch, err))
        return -1;
    llm_gpt2_forward(m, batch, neftune_scale(m, batch), stats);
    return 0;
}

const float *llm_model_logits(const llm_model *m) { return m->cuda ? NULL : llm_gpt2_logits(m->acts); }

int llm_model_backward(llm_model *m, double normaliser, llm_error *err)
{
    if (m->cuda)
        return normaliser > 0 ? llm_cuda_backward(m->cuda, normaliser, err)
                              : llm_error_set(err, "backward: the loss normaliser must be positive");
    if (!m->grads || !llm_gpt2_acts_ready(m->acts))
        return llm_error_set(err, "backward needs a training plan and a forward with targets");
    if (!(normaliser > 0))
        return llm_error_set(err, "backward: the loss normaliser must be positive");
    llm_gpt2_backward(m, (float)(1.0 / normaliser));
    return 0;
}

void llm_model_zero_grad(llm_model *m)
{
    if (m->cuda)
        llm_cuda_zero_grad(m->cuda, NULL);    /* fails only with a broken device, seen at the next call */
    if (m->grads)
        memset(m->grads, 0, m->n_params * sizeof *m->grads);
}

int llm_model_resize_vocab(llm_model *m, int new_vocab, llm_error *err)
{
    if (new_vocab < m->cfg.vocab_size)
        return llm_error_set(err, "vocabulary of %d cannot shrink to %d", m->cfg.vocab_size, new_vocab);
    if (m->cuda)
        return llm_error_set(err, "the vocabulary grows before the model moves to the GPU");
    llm_model_config cfg = m->cfg;
    cfg.vocab_size = new_vocab;
    if (llm_model_config_check(&cfg, err))
        return -1;
    llm_tensor_desc *tensors;
    size_t n_tensors, n_params;
    float *params;
    if (alloc_params(&cfg, &tensors, &n_tensors, &params, &n_params, err))
        return -1;
    /* Same family, same table order: a tensor whose first dimension changed is indexed by
     * the vocabulary; its new rows are the mean of its old ones. */
    for (size_t i = 0; i < n_tensors; i++) {
        const llm_tensor_desc *o = &m->tensors[i], *t = &tensors[i];
        size_t old_n = llm_tensor_numel(o), row = old_n / (size_t)o->shape[0];
        float *dst = params + t->offset;
        const float *src = m->params + o->offset;
        memcpy(dst, src, old_n * sizeof *dst);
        if (t->shape[0] == o->shape[0])
            continue;
        for (size_t c = 0; c < row; c++) {
            double s = 0.0;
            for (int64_t r = 0; r < o->shape[0]; r++)
                s += src[(size_t)r * row + c];
            float mean = (float)(s / (double)o->shape[0]);
            for (int64_t r = o->shape[0]; r < t->shape[0]; r++)
                dst[(size_t)r * row + c] = mean;
        }
    }
    free(m->params);
    free(m->tensors);
    free(m->grads);
    llm_gpt2_acts_free(m->acts);
    llm_gpt2_kv_free(m->kv);
    m->kv = NULL;
    m->cfg = cfg;
    m->params = params;
    m->tensors = tensors;
    m->n_tensors = n_tensors;
    m->n_params = n_params;
    m->grads = NULL;
    m->acts = NULL;
    return 0;
}

int llm_model_decode(llm_model *m, const int32_t *tokens, int n, int start, float *logits,
                     llm_error *err)
{
    int cached = m->cuda ? llm_cuda_decoded(m->cuda) : llm_gpt2_kv_len(m->kv);
    if (n < 1 || start < 0 || start > cached || start + n > m->cfg.block_size)
        return llm_error_set(err, "decode: %d tokens at position %d: %d positions are cached and "
                             "a sequence holds %d", n, start, cached, m->cfg.block_size);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab_size)
            return llm_error_set(err, "decode: token %d outside the vocabulary (%d)", (int)tokens[i],
                                 m->cfg.vocab_size);
    if (m->cuda)
        return llm_cuda_decode(m->cuda, tokens, n, start, logits, err);
    if (!m->kv && !(m->kv = llm_gpt2_kv_new(&m->cfg, err)))
        return -1;
    llm_gpt2_decode(m, tokens, n, start, logits);
    return 0;
}

int64_t llm_batch_count(const llm_batch *batch)
{
    int64_t n = 0;
    if (batch->targets)
        for (size_t i = 0; i < (size_t)batch->B * batch->T; i++)
            n += batch->targets[i] >= 0;
    return n;
}

void llm_positions_from_bounds(int32_t *pos, int T, const uint32_t *bounds, uint32_t n_bounds)
{
    uint32_t k = 0;
    int32_t p = 0;
    for (int t = 0; t < T; t++, p++) {
        while (k < n_bounds && bounds[k] < (uint32_t)t)
            k++;
        if (k < n_bounds && bounds[k] == (uint32_t)t)
            p = 0;
        pos[t] = p;
    }
}

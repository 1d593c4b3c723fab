/* Transformer language models on the CPU: configuration, the parameter buffer and its tensor
 * table, forward (logits, loss, accuracy) and backward over a batch, for llm-train and
 * llm-eval. The CPU path is the reference a GPU backend is checked against.
 *
 * A model is one contiguous float buffer of parameters in the Hugging Face layouts (see
 * lib/tensor.h), a gradient buffer of the same size, and activation memory planned once for
 * the largest batch (B, T) it will see. Only the GPT-2 family exists now; a family adds its
 * tensor table, init and layer passes in its own file (lib/gpt2.c for GPT-2) and reuses
 * the ops of lib/ops_cpu.h.
 *
 * Typical training step with gradient accumulation over N micro-batches:
 *
 *     llm_model_zero_grad(m);
 *     int64_t total = 0;                                   // counted labels of the whole step
 *     for (i = 0; i < N; i++) total += llm_batch_count(&mb[i]);
 *     for (i = 0; i < N; i++) {
 *         llm_model_forward(m, &mb[i], &stats, &err);      // stats.loss_sum, stats.count
 *         llm_model_backward(m, (double)total, &err);      // grads += d(loss_sum_i) / total
 *     }
 *     loss = sum(stats.loss_sum) / total;                  // the step's loss
 *     norm = llm_clip_grad_norm(m->grads, m->n_params, max_norm);       (lib/adamw.h)
 *     llm_adamw_step(opt, m->params, m->grads, m->tensors, m->n_tensors, llm_lr_at(&sched, step));
 *
 * That normaliser is the one of Hugging Face Trainer since transformers 4.46
 * (num_items_in_batch): the step's gradient is that of (sum of the cross-entropies of every
 * counted label of the N micro-batches) / (number of those labels), the same as one big
 * batch. The older Trainer (mean per micro-batch, divided by N) is
 * llm_model_backward(m, N * stats_i.count) for micro-batch i; a plain mean over one batch is
 * llm_model_backward(m, stats.count). A micro-batch with no counted label (all masked)
 * contributes nothing (its backward adds zeros and may be skipped).
 *
 * Evaluation over a data set (llm-eval), with an inference plan (no gradients, one layer's
 * activations):
 *
 *     llm_model_plan(m, B, T, 0, &err);
 *     for each batch: llm_model_forward(m, &batch, &st, &err); add st's three sums up;
 *     loss = loss_sum / count; perplexity = exp(loss); accuracy = correct / count.
 *
 * Rows shorter than T are padded (any valid token id, e.g. the pad or eos id) with targets
 * -1 there: a padded position never changes the loss, the accuracy or a gradient. Generation
 * uses llm_model_decode below. */
#ifndef LLM_MODEL_H
#define LLM_MODEL_H

#include "common.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum llm_family {
    LLM_FAMILY_GPT2 = 0,      /* learned positions, LayerNorm, GELU (tanh), tied embeddings */
} llm_family;

/* The sizes of a model, as Hugging Face's config.json names them for GPT-2 (n_layer,
 * n_head, n_embd, n_positions, vocab_size). Fields a later family needs (key/value heads,
 * MLP width, RoPE base, norm eps, tied head) go at the end, 0 meaning the family's
 * default, so that existing initializers keep their meaning. */
typedef struct llm_model_config {
    llm_family family;
    int n_layer;
    int n_head;
    int n_embd;        /* C */
    int block_size;    /* most positions (n_positions) */
    int vocab_size;    /* V: from the data stream's header, not padded */
} llm_model_config;

/* The named sizes: "gpt2" (12 layers, 12 heads, 768), "gpt2-medium" (24/16/1024), "gpt2-large"
 * (36/20/1280), "gpt2-xl" (48/25/1600), block 1024, vocabulary 50257 (GPT-2's; a trainer
 * sets vocab_size from the data stream's header). Returns 0, or -1 when the name is unknown. */
int llm_model_preset(const char *name, llm_model_config *cfg);
/* Checks the sizes (n_embd divisible by n_head, all positive...). 0, or -1 with err set. */
int llm_model_config_check(const llm_model_config *cfg, llm_error *err);

/* Fills out[0..n) with the model's tensors in Hugging Face order (out may be NULL to count)
 * and returns n. The offsets are consecutive: the buffer holds
 * llm_model_param_count(cfg) floats. */
size_t llm_model_tensors(const llm_model_config *cfg, llm_tensor_desc *out);
size_t llm_model_param_count(const llm_model_config *cfg);

/* What the forward reads. Positions are the learned-position ids and, at once, the document
 * structure: pos[b,t] is t's offset in its document, 0 where a document starts, and
 * position t attends to t - pos[b,t] .. t only (causal inside the document). NULL means
 * one document per row: pos[b,t] = t. llm_positions_from_bounds fills a row from a record's
 * document starts. */
typedef struct llm_batch {
    int B, T;
    const int32_t *tokens;    /* (B, T) input ids, each in [0, V) */
    /* (B, T) the label of each position, already shifted: targets[b,t] is the token that
     * should follow position t (tokens[b,t+1] inside a block), or -1 where the position is
     * not counted (the -100 of the Hugging Face recipes: masked prompt tokens, padding, the
     * last position of a row). NULL: logits only, no loss, no backward. */
    const int32_t *targets;
    const int32_t *pos;       /* (B, T) or NULL, see above */
    /* A training pass's NEFTune noise (lib/noise.h) when llm_model's neftune_alpha is above 0:
     * nonzero, the key of its numbers; 0 (evaluation, generation): none. */
    uint64_t noise_key;
} llm_batch;

/* Sums over the counted positions of one forward, to add up over a data set:
 * loss = loss_sum / count, perplexity = exp(loss), accuracy = correct / count. */
typedef struct llm_loss_stats {
    double loss_sum;     /* sum of the cross-entropies (nats; label-smoothed, see llm_model) */
    int64_t count;       /* positions with a target */
    int64_t correct;     /* of those, where the argmax of the logits is the target */
} llm_loss_stats;

typedef struct llm_acts llm_acts;
typedef struct llm_kv llm_kv;

typedef struct llm_model {
    llm_model_config cfg;
    size_t n_params;              /* floats in params (and grads) */
    float *params;                /* owned; Hugging Face layouts, see tensors */
    float *grads;                 /* owned; NULL until planned for training */
    size_t n_tensors;
    llm_tensor_desc *tensors;     /* owned */
    int threads;                  /* OpenMP threads of every pass */
    /* Trainer's label_smoothing_factor e (0: none, the default): each counted label's loss
     * is (1 - e) * its cross-entropy + e * the mean over the vocabulary of -log p, in the
     * loss sums, their gradient and evaluations alike, as Trainer's LabelSmoother. */
    float label_smoothing;
    /* Trainer's neftune_noise_alpha (0: none, the default): a forward over a batch with a
     * noise key adds to each token embedding alpha / sqrt(T x C) x uniform [-1, 1) numbers
     * (lib/noise.h); the backward is the same function's. */
    float neftune_alpha;
    llm_acts *acts;               /* planned activation memory, private */
    llm_kv *kv;                   /* generation's key/value cache, private; see llm_model_decode */
    /* The GPU backend when attached (lib/model_cuda.h), else NULL: plan, forward, backward,
     * zero_grad and generation (llm_model_decode) then run there, and grads and the logits
     * stay on the device (NULL here). */
    struct llm_cuda *cuda;
} llm_model;

/* A model with zeroed parameters and no activations. Returns NULL with err set. */
llm_model *llm_model_new(const llm_model_config *cfg, llm_error *err);
/* NULL-safe. */
void llm_model_free(llm_model *m);

/* Hugging Face's init: weights normal(0, 0.02), the residual projections (c_proj) normal(0,
 * 0.02 / sqrt(2 * n_layer)), biases 0, norm weights 1; the same seed gives the same
 * parameters on every machine. */
void llm_model_init(llm_model *m, uint64_t seed);

/* Threads for the passes (OpenBLAS is set to one thread, process-wide, and runs inside
 * them); results are the same bits for a given thread count. Default: OpenMP's default. Set
 * it before llm_model_plan: a backward uses at most the threads of its plan. */
void llm_model_set_threads(llm_model *m, int threads);

/* The most rows of T tokens one pass can take: on the CPU its (rows x T x V) logits and
 * (rows x heads x T x T) scores are indexed in 32 bits; on the GPU no such bound (INT_MAX). */
int llm_model_max_rows(const llm_model *m, int T);

/* Plans activation memory for batches up to max_B x max_T (max_T <= block_size), once;
 * `train` also keeps every layer's activations for the backward and allocates grads
 * (zeroed). Planning again frees the old plan (grads are kept). Returns 0, or -1 with err
 * set. */
int llm_model_plan(llm_model *m, int max_B, int max_T, int train, llm_error *err);

/* Forward over a batch (B <= max_B, T <= max_T): fills the logits and, when the batch has
 * targets, stats (which may be NULL). Returns 0, or -1 with err set on a token, target or
 * position out of range. */
int llm_model_forward(llm_model *m, const llm_batch *batch, llm_loss_stats *stats, llm_error *err);
/* The last forward's logits, (B, T, V) row-major; valid until the next forward or backward
 * (the backward turns them into their gradients in place). NULL on the GPU, which never
 * keeps them whole. */
const float *llm_model_logits(const llm_model *m);

/* Accumulates into m->grads the gradient of (sum of the last forward's counted
 * cross-entropies) / normaliser; see the top of this file for the normaliser of gradient
 * accumulation. Needs a training plan and a forward with targets. Returns 0, or -1 with
 * err set. */
int llm_model_backward(llm_model *m, double normaliser, llm_error *err);
void llm_model_zero_grad(llm_model *m);

/* Grows the vocabulary to new_vocab (>= the current one) like Hugging Face's
 * resize_token_embeddings without mean_resizing's sampling: the new rows of every
 * vocabulary-sized tensor are the mean of the old rows. Reallocates params, drops the grads
 * and the plan (plan again); an optimizer's state must be made anew for the new size.
 * Returns 0, or -1 with err set (the model is then unchanged). */
int llm_model_resize_vocab(llm_model *m, int new_vocab, llm_error *err);

/* Generation with a key/value cache, one sequence: runs the n tokens at positions
 * start .. start + n - 1 (start + n <= block_size) over the cached keys and values of
 * positions 0 .. start - 1, caches theirs, and writes the logits of the last of them (V
 * floats) to logits. start = 0 begins a new sequence (the prompt: n of them at once); then
 * one token at a time with start = the tokens so far. Each token costs one pass over
 * the cache instead of a forward over the whole prefix. The cache (2 * n_layer * block_size
 * * n_embd floats and one block's scratch) is allocated by the first call and kept; it is
 * separate from the plan. Returns 0, or -1 with err set (bad token, start beyond the cached
 * positions, out of memory). */
int llm_model_decode(llm_model *m, const int32_t *tokens, int n, int start, float *logits,
                     llm_error *err);

/* Counted positions of a batch (targets >= 0), to compute the normaliser before the
 * forwards of an accumulation. */
int64_t llm_batch_count(const llm_batch *batch);
/* One row of positions (T of them) from a record's document starts (ascending, each < T;
 * any start at 0 may be left out): offsets restart at 0 at each start. */
void llm_positions_from_bounds(int32_t *pos, int T, const uint32_t *bounds, uint32_t n_bounds);

#ifdef __cplusplus
}
#endif
#endif

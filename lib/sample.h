/* The next token of a generation from a model's logits: greedy (argmax), or sampled with
 * temperature, top-k and top-p (nucleus) applied in that order, as Hugging Face's generate
 * applies its logits warpers. Deterministic: the same logits, settings and llm_rng state
 * give the same token on every machine. */
#ifndef LLM_SAMPLE_H
#define LLM_SAMPLE_H

#include "common.h"
#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm_sample_config {
    double temperature;   /* logits are divided by it; 0 (or less): greedy */
    int top_k;            /* keep the k most likely tokens; 0: all of them */
    double top_p;         /* keep the fewest most likely tokens whose probabilities add up
                           * to p or more (at least one); 1: all of them */
} llm_sample_config;

/* A sampler for a vocabulary of n_vocab logits, with its scratch memory. */
typedef struct llm_sample_state {
    llm_sample_config cfg;
    int n_vocab;
    struct llm_sample_cand *cand;   /* n_vocab candidates, private */
} llm_sample_state;

/* The id of the largest of logits[0..n) (n > 0); the lowest id among equal ones. NaN never
 * wins. */
int llm_sample_argmax(const float *logits, int n);

/* 1 when cfg samples nothing: temperature 0 or top_k 1, where every draw is the argmax. */
int llm_sample_is_greedy(const llm_sample_config *cfg);

/* Checks cfg (temperature finite and >= 0, top_k >= 0, 0 < top_p <= 1) and allocates the
 * scratch. Returns 0, or -1 with err set; free with llm_sample_free (also after a failure). */
int llm_sample_init(llm_sample_state *s, int n_vocab, const llm_sample_config *cfg, llm_error *err);
void llm_sample_free(llm_sample_state *s);

/* The next token from logits[0..n_vocab): the argmax when greedy (rng untouched), else one
 * draw of rng from the warped distribution. Ties in the order of top-k and top-p go to
 * the lower id. */
int llm_sample_next(llm_sample_state *s, const float *logits, llm_rng *rng);

#ifdef __cplusplus
}
#endif
#endif

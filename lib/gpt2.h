/* The GPT-2 family behind lib/model.h: its tensor table, init, activation plan and passes.
 * Only lib/model.c calls these; programs use lib/model.h. The model's arguments are checked
 * there (batch within the plan, ids and positions in range). */
#ifndef LLM_GPT2_H
#define LLM_GPT2_H

#include "model.h"

size_t llm_gpt2_tensors(const llm_model_config *cfg, llm_tensor_desc *out);
void llm_gpt2_init(llm_model *m, uint64_t seed);

/* Activation memory for batches up to max_B x max_T; `train` keeps every layer's
 * activations and the backward's scratch for up to `threads` threads. NULL with err set. */
llm_acts *llm_gpt2_plan(const llm_model_config *cfg, int max_B, int max_T, int train,
                        int threads, llm_error *err);
void llm_gpt2_acts_free(llm_acts *a);
int llm_gpt2_acts_fit(const llm_acts *a, int B, int T, int train);   /* 1 when planned for it */
int llm_gpt2_acts_ready(const llm_acts *a);    /* 1 after a forward with targets */
const float *llm_gpt2_logits(const llm_acts *a);

llm_kv *llm_gpt2_kv_new(const llm_model_config *cfg, llm_error *err);
void llm_gpt2_kv_free(llm_kv *kv);
int llm_gpt2_kv_len(const llm_kv *kv);    /* positions cached */
/* n tokens at positions start.. (checked by the caller: start <= cached, start + n <= block) */
void llm_gpt2_decode(llm_model *m, const int32_t *tokens, int n, int start, float *logits);

/* noise_scale: NEFTune's bound for the batch (lib/noise.h), 0 for no noise. */
void llm_gpt2_forward(llm_model *m, const llm_batch *batch, float noise_scale, llm_loss_stats *stats);
void llm_gpt2_backward(llm_model *m, float scale);

#endif

/* A model and its Hugging Face folder: the config.json fields of a model's sizes, and a
 * model loaded whole from a checkpoint (ours) or a Hugging Face GPT-2 folder, for llm-eval
 * and llm-train --init / --resume. */
#ifndef LLM_MODEL_IO_H
#define LLM_MODEL_IO_H

#include "checkpoint.h"
#include "model.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The sizes config.json describes. -1 with err set when the family or a size is not one
 * this build runs (layer_norm_eps other than 1e-5...). */
int llm_model_config_from_hf(const llm_hf_config *hf, llm_model_config *cfg, llm_error *err);
/* config.json's fields for cfg, with the tokenizer and special ids of the data's header h
 * (NULL: none). */
void llm_model_config_to_hf(const llm_model_config *cfg, const llm_header *h, llm_hf_config *hf);

/* Loads the model of path: a checkpoint folder, or a run folder (its latest checkpoint,
 * lib/checkpoint.h's llm_run_latest). hf gets its config.json; dir, when not NULL, the
 * folder read (malloc'd). NULL with err set ("PATH: why"). */
llm_model *llm_model_load(const char *path, llm_hf_config *hf, char **dir, llm_error *err);

/* Checks that a model can read the data of header h: the same tokenizer when both name
 * one, and every id of the data below the model's vocabulary. 0, or -1 with err set. */
int llm_model_check_data(const llm_hf_config *hf, const llm_header *h, const char *data_name,
                         llm_error *err);
/* Checks that the data of header h, whose vocabulary is larger than the model's, can grow
 * it: its tokenizer is the model's with tokens added. llm-tokenize --add-tokens keeps the
 * name (--save-tokenizer gives its file's), so another tiktoken encoding's name (cl100k_base
 * data for a gpt2 model) is another tokenizer. 0, or -1 with err set. */
int llm_model_check_growth(const llm_hf_config *hf, const llm_header *h, const char *data_name,
                           llm_error *err);

#ifdef __cplusplus
}
#endif
#endif

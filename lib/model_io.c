/* Models and their Hugging Face folders (see model_io.h). */
#include "model_io.h"
#include "tiktoken.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int llm_model_config_from_hf(const llm_hf_config *hf, llm_model_config *cfg, llm_error *err)
{
    if (strcmp(hf->family, "gpt2") != 0)
        return llm_error_set(err, "model_type \"%s\" is not supported (this build knows gpt2)", hf->family);
    /* The layers hard-wire GPT-2's epsilon; another would change every number. */
    if (fabs(hf->layer_norm_eps - 1e-5) > 1e-12)
        return llm_error_set(err, "layer_norm_epsilon %g is not supported (GPT-2's is 1e-05)", hf->layer_norm_eps);
    memset(cfg, 0, sizeof *cfg);
    cfg->family = LLM_FAMILY_GPT2;
    cfg->n_layer = hf->n_layer;
    cfg->n_head = hf->n_head;
    cfg->n_embd = hf->n_embd;
    cfg->block_size = hf->n_positions;
    cfg->vocab_size = hf->vocab_size;
    return llm_model_config_check(cfg, err);
}

void llm_model_config_to_hf(const llm_model_config *cfg, const llm_header *h, llm_hf_config *hf)
{
    llm_hf_config_init(hf);
    hf->n_layer = cfg->n_layer;
    hf->n_head = cfg->n_head;
    hf->n_embd = cfg->n_embd;
    hf->n_positions = cfg->block_size;
    hf->vocab_size = cfg->vocab_size;
    if (!h)
        return;
    hf->bos_id = h->bos_id;
    hf->eos_id = h->eos_id;
    hf->pad_id = h->pad_id;
    snprintf(hf->tokenizer_name, sizeof hf->tokenizer_name, "%s", h->tokenizer_name);
    snprintf(hf->tokenizer_hash, sizeof hf->tokenizer_hash, "%s", h->tokenizer_hash);
}

llm_model *llm_model_load(const char *path, llm_hf_config *hf, char **dir_out, llm_error *err)
{
    char *dir = NULL;
    llm_model *m = NULL;
    int rc = llm_run_latest(path, &dir, err);
    struct stat st;
    if (rc == 1 && stat(path, &st) != 0)
        llm_error_set(err, "%s: %s", path, strerror(errno));
    else if (rc == 1)
        llm_error_set(err, "%s: no checkpoint there (no config.json, no checkpoint-<step> folder)", path);
    if (rc != 0)
        goto out;
    llm_model_config cfg;
    llm_error e;
    if (llm_checkpoint_read_config(dir, hf, err) < 0)
        goto out;
    if (llm_model_config_from_hf(hf, &cfg, &e) < 0) {
        llm_error_set(err, "%s/config.json: %s", dir, e.msg);
        goto out;
    }
    if (!(m = llm_model_new(&cfg, err)))
        goto out;
    if (llm_checkpoint_load_model(dir, m->tensors, (int)m->n_tensors, m->params, err) < 0) {
        llm_model_free(m);
        m = NULL;
    }
out:
    if (m && dir_out)
        *dir_out = dir;
    else
        free(dir);
    return m;
}

int llm_model_check_data(const llm_hf_config *hf, const llm_header *h, const char *data_name,
                         llm_error *err)
{
    if (hf->tokenizer_name[0] && h->tokenizer_name[0] && hf->tokenizer_hash[0] && h->tokenizer_hash[0] &&
        strcmp(hf->tokenizer_hash, h->tokenizer_hash) != 0)
        return llm_error_set(err, "%s: tokenized with %s (%s), but the model was trained on %s (%s)", data_name,
                             h->tokenizer_name, h->tokenizer_hash, hf->tokenizer_name, hf->tokenizer_hash);
    if (h->vocab_size > (uint32_t)hf->vocab_size)
        return llm_error_set(err, "%s: vocabulary of %u tokens, more than the model's %d", data_name,
                             h->vocab_size, hf->vocab_size);
    return 0;
}

int llm_model_check_growth(const llm_hf_config *hf, const llm_header *h, const char *data_name,
                           llm_error *err)
{
    if (hf->tokenizer_name[0] && h->tokenizer_name[0] && strcmp(hf->tokenizer_name, h->tokenizer_name) != 0 &&
        llm_tiktoken_find(h->tokenizer_name))
        return llm_error_set(err, "%s: tokenized with %s, but the model was trained on %s; a larger vocabulary "
                             "is taken only from the model's tokenizer with tokens added (llm-tokenize "
                             "--add-tokens)", data_name, h->tokenizer_name, hf->tokenizer_name);
    return 0;
}

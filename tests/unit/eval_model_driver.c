/* Writes a small random GPT-2 checkpoint folder for llm-eval's tests (tests/cli/eval_*.sh),
 * with the tokenizer, vocabulary and special ids of a blocks stream's header, as llm-train
 * would. The weights are Hugging Face's init times SCALE, and the biases and norm parameters
 * random too, so that logits are far from uniform and every tensor matters.
 *   eval_model_driver DIR DATA.bin|VOCAB N_LAYER N_HEAD N_EMBD BLOCK SEED SCALE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dataset.h"
#include "model_io.h"
#include "rng.h"

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: %s DIR DATA.bin|VOCAB N_LAYER N_HEAD N_EMBD BLOCK SEED SCALE\n", argv[0]);
        return 2;
    }
    llm_error err;
    llm_dataset *d = NULL;
    llm_model_config cfg = {LLM_FAMILY_GPT2, atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), 0};
    uint64_t seed = strtoull(argv[7], NULL, 10);
    float scale = strtof(argv[8], NULL);
    const llm_header *h = NULL;
    if (strspn(argv[2], "0123456789") == strlen(argv[2])) {
        cfg.vocab_size = atoi(argv[2]);
    } else {
        if (!(d = llm_dataset_open(argv[2], &err))) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        h = llm_dataset_header(d);
        cfg.vocab_size = (int)h->vocab_size;
    }
    llm_model *m = llm_model_new(&cfg, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    llm_model_init(m, seed);
    llm_rng rng;
    llm_rng_seed(&rng, seed ^ 0x5eed);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const llm_tensor_desc *t = &m->tensors[i];
        float *p = m->params + t->offset;
        size_t n = llm_tensor_numel(t);
        int norm = strstr(t->name, "ln_") != NULL, bias = strstr(t->name, ".bias") != NULL;
        for (size_t k = 0; k < n; k++) {
            float u = (float)llm_rng_double(&rng) - 0.5f;
            if (norm && !bias)
                p[k] = 1.0f + 0.4f * u;
            else if (bias)
                p[k] = 0.2f * u;
            else
                p[k] *= scale;
        }
    }
    llm_hf_config hf;
    llm_model_config_to_hf(&cfg, h, &hf);
    llm_checkpoint c = {&hf, m->tensors, (int)m->n_tensors, m->params, NULL, NULL, NULL, NULL};
    int rc = llm_checkpoint_save(argv[1], &c, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    llm_model_free(m);
    llm_dataset_free(d);
    return rc < 0;
}

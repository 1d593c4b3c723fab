/* The table that describes a model's parameters: one entry per tensor of the single float
 * buffer, with its Hugging Face name and shape, so the checkpoint code (safetensors) and the
 * optimizer can walk every tensor without knowing the model family. */
#ifndef LLM_TENSOR_H
#define LLM_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct llm_tensor_desc {
    char name[64];       /* e.g. "transformer.h.0.attn.c_attn.weight", NUL-terminated */
    int ndim;            /* 1 or 2 */
    int64_t shape[2];    /* shape[1] is 0 when ndim == 1; row-major, as Hugging Face stores it */
    size_t offset;       /* in floats, into the parameter buffer */
    int decay;           /* 1: AdamW weight decay applies (matrices, embeddings);
                          * 0: biases and norm weights (Hugging Face Trainer's split) */
} llm_tensor_desc;

/* Number of floats in the tensor. */
static inline size_t llm_tensor_numel(const llm_tensor_desc *t)
{
    return (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
}

#endif

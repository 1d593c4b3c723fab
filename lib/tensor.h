/* One parameter tensor of a model: its Hugging Face name and shape, and where its values
 * sit in the model's one float buffer. */
#ifndef LLM_TENSOR_H
#define LLM_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct llm_tensor_desc {
    char name[64];        /* the Hugging Face name, "transformer.h.0.attn.c_attn.weight" */
    int ndim;             /* 1 or 2 */
    int64_t shape[2];
    size_t offset;        /* in floats, into the parameter buffer */
    int decay;            /* 1: AdamW weight decay applies (matrices, embeddings); 0: biases, norms */
} llm_tensor_desc;

#endif

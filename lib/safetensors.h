/* The safetensors file format (Hugging Face's model.safetensors): a writer for a model's one
 * float buffer described by a tensor list, and a strict reader that never trusts the file.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 *   {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"format": "pt", ...}}
 * (padded with spaces so the data starts 8-byte aligned), then the data, tensors back to back
 * with offsets relative to the data's start. */
#ifndef LLM_SAFETENSORS_H
#define LLM_SAFETENSORS_H

#include "common.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The element types of the format; only the float ones convert to float on load. */
typedef enum llm_dtype {
    LLM_DTYPE_F32,
    LLM_DTYPE_F16,
    LLM_DTYPE_BF16,
    LLM_DTYPE_F64,
    LLM_DTYPE_I64,
    LLM_DTYPE_I32,
    LLM_DTYPE_I16,
    LLM_DTYPE_I8,
    LLM_DTYPE_U64,
    LLM_DTYPE_U32,
    LLM_DTYPE_U16,
    LLM_DTYPE_U8,
    LLM_DTYPE_BOOL,
    LLM_DTYPE_F8_E4M3,
    LLM_DTYPE_F8_E5M2,
    LLM_DTYPE_COUNT
} llm_dtype;

const char *llm_dtype_name(llm_dtype t);   /* "F32", "BF16", ... */
size_t llm_dtype_size(llm_dtype t);         /* bytes per element */

/* Element conversions (bf16 rounds to nearest even; NaN stays NaN). */
float llm_f16_to_f32(uint16_t h);
float llm_bf16_to_f32(uint16_t h);
uint16_t llm_f32_to_bf16(float f);

/* ---- writing ---------------------------------------------------------------------------- */

/* One buffer to write under the tensor list, each name prefixed ("" for the model, "m." and
 * "v." for optimizer moments): tensors[i] is written from data + tensors[i].offset. */
typedef struct llm_safetensors_part {
    const char *prefix;
    const float *data;
} llm_safetensors_part;

/* Writes tensors[0..n) once per part, in that order, as dtype (LLM_DTYPE_F32, bit-exact, or
 * LLM_DTYPE_BF16), to path: a temporary file beside it, fsynced, then renamed onto it, so path
 * is either the old file or the whole new one. metadata is NULL or a NULL-terminated list of
 * key, value strings added to "__metadata__" after "format": "pt". Returns 0, or -1 with err
 * set ("PATH: reason"). */
int llm_safetensors_write(const char *path, const llm_tensor_desc *tensors, int n,
                          const llm_safetensors_part *parts, int n_parts, llm_dtype dtype,
                          const char *const *metadata, llm_error *err);

/* ---- reading ---------------------------------------------------------------------------- */

#define LLM_SAFETENSORS_MAX_DIMS 8

/* One tensor as the file describes it; begin and end are byte offsets into the data. */
typedef struct llm_safetensors_tensor {
    const char *name;
    llm_dtype dtype;
    int ndim;
    int64_t shape[LLM_SAFETENSORS_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;
} llm_safetensors_tensor;

typedef struct llm_safetensors llm_safetensors;

/* Maps path and validates all of it: the header length against the file size, the JSON, each
 * tensor's dtype, shape and offsets (shape product times element size equals end - begin,
 * offsets inside the data, tensors back to back without gaps or overlap, as the reference
 * implementation requires), unique names, "__metadata__" a map of strings. Returns the file
 * (close with llm_safetensors_close), or NULL with err set to "PATH: what is wrong". */
llm_safetensors *llm_safetensors_open(const char *path, llm_error *err);
/* The same over bytes in memory (not copied: they must outlive the result); name is used in
 * messages. */
llm_safetensors *llm_safetensors_from_memory(const void *bytes, size_t len, const char *name,
                                             llm_error *err);
void llm_safetensors_close(llm_safetensors *f);    /* NULL-safe */

size_t llm_safetensors_count(const llm_safetensors *f);
/* Tensors sorted by name (i < count); NULL when out of range. */
const llm_safetensors_tensor *llm_safetensors_at(const llm_safetensors *f, size_t i);
const llm_safetensors_tensor *llm_safetensors_find(const llm_safetensors *f, const char *name);
/* A "__metadata__" value, or NULL when the key is absent. */
const char *llm_safetensors_metadata(const llm_safetensors *f, const char *key);

/* Converts one float tensor (F32, F16, BF16, F64) to float at dst (t->numel floats). Returns 0,
 * or -1 with err set when the dtype is not a float type. */
int llm_safetensors_read(const llm_safetensors *f, const llm_safetensors_tensor *t, float *dst,
                         llm_error *err);

/* How llm_safetensors_load matches the file's names with the tensor list's (flags). */
enum {
    /* Names exactly as prefix + list name, and nothing else in the file. */
    LLM_SAFETENSORS_EXACT = 0,
    /* Hugging Face checkpoints: a name matches with or without "transformer." (OpenAI's
     * converted gpt2 uses "h.0.attn..." and "wte.weight"); the attention mask buffers
     * "*.attn.bias" and "*.attn.masked_bias" are skipped, and so is "lm_head.weight" when it
     * has the shape of "*wte.weight" (a tied head). */
    LLM_SAFETENSORS_HF_NAMES = 1,
    /* Tensors of the file that the list does not name are left alone (a file holding several
     * parts, loaded one prefix at a time). */
    LLM_SAFETENSORS_OTHERS = 2
};

/* Fills data + tensors[i].offset for every tensor of the list from the file, by name
 * (prefix + name), converting to float. Every listed tensor must be there with its shape, and
 * every tensor of the file must be used (unless skipped by the flags above): otherwise -1 with err naming the missing
 * tensors, the first shape mismatch or the unexpected tensor. Returns 0. */
int llm_safetensors_load(const llm_safetensors *f, const llm_tensor_desc *tensors, int n,
                         const char *prefix, int mode, float *data, llm_error *err);

#ifdef __cplusplus
}
#endif
#endif

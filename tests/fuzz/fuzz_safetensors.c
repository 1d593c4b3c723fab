/* libFuzzer target for the safetensors reader: whatever llm_safetensors_from_memory accepts must
 * hold together: every tensor found by its name, inside the data, and every float tensor
 * readable, one at a time and through a tensor list built from the file itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llm_error err;
    llm_safetensors *f = llm_safetensors_from_memory(data, size, "fuzz", &err);
    if (!f) {
        promise(err.msg[0] != '\0');
        return 0;
    }
    size_t n = llm_safetensors_count(f), total = 0;
    llm_tensor_desc *list = calloc(n ? n : 1, sizeof *list);
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        const llm_safetensors_tensor *t = llm_safetensors_at(f, i);
        promise(llm_safetensors_find(f, t->name) == t);
        promise(t->begin <= t->end && t->end <= size);
        promise(t->end - t->begin == t->numel * llm_dtype_size(t->dtype));
        int is_float = t->dtype == LLM_DTYPE_F32 || t->dtype == LLM_DTYPE_F16 || t->dtype == LLM_DTYPE_BF16 ||
                       t->dtype == LLM_DTYPE_F64;
        /* numel <= size: the bytes are in the input, so these buffers stay small. */
        float *one = malloc((t->numel ? t->numel : 1) * sizeof *one);
        promise(llm_safetensors_read(f, t, one, &err) == (is_float ? 0 : -1));
        free(one);
        if (is_float && (t->ndim == 1 || t->ndim == 2) && strlen(t->name) < sizeof list[0].name) {
            llm_tensor_desc *d = &list[k++];
            strcpy(d->name, t->name);
            d->ndim = t->ndim;
            d->shape[0] = t->shape[0];
            d->shape[1] = t->ndim == 2 ? t->shape[1] : 0;
            d->offset = total;
            total += t->numel;
        }
    }
    float *buf = malloc((total ? total : 1) * sizeof *buf);
    promise(llm_safetensors_load(f, list, k, "", LLM_SAFETENSORS_OTHERS, buf, &err) == 0);
    /* HF name matching may pair a name with its "transformer." twin instead; it must not crash. */
    llm_safetensors_load(f, list, k, "", LLM_SAFETENSORS_HF_NAMES, buf, &err);
    (void)llm_safetensors_metadata(f, "format");
    free(buf);
    free(list);
    llm_safetensors_close(f);
    return 0;
}

/* The device choice and the model-level calls of lib/model_cuda.h, over the backend
 * (lib/cuda/ or lib/model_cuda_none.c). */
#include "model_cuda.h"

#include <stdlib.h>

#include "gpt2.h"

int llm_device_resolve(llm_device want, llm_device *got, llm_error *why, llm_error *err)
{
    llm_error none;
    *got = LLM_DEVICE_CPU;
    if (want == LLM_DEVICE_CPU)
        return 0;
    if (llm_cuda_available(NULL, 0, &none)) {
        *got = LLM_DEVICE_CUDA;
        return 0;
    }
    if (want == LLM_DEVICE_CUDA)
        return llm_error_set(err, "--device cuda: %s", none.msg);
    if (why)
        *why = none;
    return 0;
}

int llm_model_cuda_attach(llm_model *m, int recompute, llm_error *err)
{
    if (m->cuda)
        return 0;
    llm_cuda *g = llm_cuda_new(&m->cfg, m->tensors, m->n_tensors, m->n_params, m->params, recompute, err);
    if (!g)
        return -1;
    /* The CPU plan and gradients would only hold memory now. */
    llm_gpt2_acts_free(m->acts);
    m->acts = NULL;
    free(m->grads);
    m->grads = NULL;
    m->cuda = g;
    return 0;
}

static int attached(const llm_model *m, llm_error *err)
{
    return m->cuda ? 0 : llm_error_set(err, "the model is not on the GPU");
}

int llm_model_cuda_max_batch(llm_model *m, int max_T, int train, int cap, llm_error *err)
{
    if (attached(m, err) < 0)
        return 0;
    return llm_cuda_max_batch(m->cuda, max_T, train, cap, err);
}

int llm_model_cuda_step(llm_model *m, llm_adamw *opt, double lr, double max_norm, float *grad_norm,
                        llm_error *err)
{
    if (attached(m, err) < 0 ||
        llm_cuda_step(m->cuda, &opt->cfg, opt->step + 1, lr, max_norm, grad_norm, err) < 0)
        return -1;
    opt->step++;
    return 0;
}

int llm_model_cuda_download(llm_model *m, llm_adamw *opt, llm_error *err)
{
    if (attached(m, err) < 0)
        return -1;
    return llm_cuda_download(m->cuda, m->params, opt ? opt->m : NULL, opt ? opt->v : NULL, NULL, err);
}

int llm_model_cuda_upload(llm_model *m, const llm_adamw *opt, llm_error *err)
{
    if (attached(m, err) < 0)
        return -1;
    return llm_cuda_upload(m->cuda, m->params, opt ? opt->m : NULL, opt ? opt->v : NULL, err);
}

size_t llm_model_cuda_peak_bytes(const llm_model *m) { return m->cuda ? llm_cuda_peak_bytes(m->cuda) : 0; }

double llm_model_cuda_peak_flops(const llm_model *m) { return m->cuda ? llm_cuda_peak_flops(m->cuda) : 0.0; }

/* The GPU backend of a build without nvcc (CUDA=0): every call fails with the same reason,
 * so programs need no #ifdef and --device auto falls back to the CPU. */
#include "model_cuda.h"

#define NO_CUDA "built without CUDA (nvcc was not found, or CUDA=0)"

int llm_cuda_available(char *name, size_t n, llm_error *err)
{
    if (name && n)
        name[0] = '\0';
    llm_error_set(err, NO_CUDA);
    return 0;
}

llm_cuda *llm_cuda_new(const llm_model_config *cfg, const llm_tensor_desc *tensors, size_t n_tensors,
                       size_t n_params, const float *params, int recompute, llm_error *err)
{
    (void)cfg, (void)tensors, (void)n_tensors, (void)n_params, (void)params, (void)recompute;
    llm_error_set(err, NO_CUDA);
    return NULL;
}

void llm_cuda_free(llm_cuda *g) { (void)g; }

int llm_cuda_plan(llm_cuda *g, int max_B, int max_T, int train, llm_error *err)
{
    (void)g, (void)max_B, (void)max_T, (void)train;
    return llm_error_set(err, NO_CUDA);
}

int llm_cuda_forward(llm_cuda *g, const llm_batch *batch, float label_smoothing, float noise_scale,
                     llm_loss_stats *stats, llm_error *err)
{
    (void)g, (void)batch, (void)label_smoothing, (void)noise_scale, (void)stats;
    return llm_error_set(err, NO_CUDA);
}

int llm_cuda_backward(llm_cuda *g, double normaliser, llm_error *err)
{
    (void)g, (void)normaliser;
    return llm_error_set(err, NO_CUDA);
}

int llm_cuda_zero_grad(llm_cuda *g, llm_error *err)
{
    (void)g;
    return llm_error_set(err, NO_CUDA);
}

int llm_cuda_max_batch(llm_cuda *g, int max_T, int train, int cap, llm_error *err)
{
    (void)g, (void)max_T, (void)train, (void)cap;
    llm_error_set(err, NO_CUDA);
    return 0;
}

int llm_cuda_step(llm_cuda *g, const llm_adamw_config *c, int64_t step, double lr, double max_norm,
                  float *grad_norm, llm_error *err)
{
    (void)g, (void)c, (void)step, (void)lr, (void)max_norm, (void)grad_norm;
    return llm_error_set(err, NO_CUDA);
}

int llm_cuda_download(llm_cuda *g, float *params, float *m, float *v, float *grads, llm_error *err)
{
    (void)g, (void)params, (void)m, (void)v, (void)grads;
    return llm_error_set(err, NO_CUDA);
}

int llm_cuda_upload(llm_cuda *g, const float *params, const float *m, const float *v, llm_error *err)
{
    (void)g, (void)params, (void)m, (void)v;
    return llm_error_set(err, NO_CUDA);
}

int llm_cuda_decode(llm_cuda *g, const int32_t *tokens, int n, int start, float *logits, llm_error *err)
{
    (void)g, (void)tokens, (void)n, (void)start, (void)logits;
    return llm_error_set(err, NO_CUDA);
}

int llm_cuda_decoded(const llm_cuda *g)
{
    (void)g;
    return 0;
}

size_t llm_cuda_peak_bytes(const llm_cuda *g)
{
    (void)g;
    return 0;
}

double llm_cuda_peak_flops(const llm_cuda *g)
{
    (void)g;
    return 0.0;
}

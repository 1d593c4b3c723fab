/* The GPU backend of lib/model.h: the same forward, backward and optimizer step as the CPU
 * passes, on one CUDA device, in bf16 mixed precision (lib/cuda/). A build without nvcc
 * (CUDA=0) links lib/model_cuda_none.c instead, whose calls all say "built without CUDA",
 * so programs call these functions unconditionally.
 *
 * Precision: matrix products take bf16 operands on the tensor cores (cuBLASLt) and
 * accumulate in fp32; LayerNorm statistics, softmax, attention scores, the loss, the
 * residual stream, the gradients, AdamW's moments and the master weights are fp32. The
 * bf16 copy of the weights is rewritten from the fp32 masters after every step.
 *
 * The same binary runs where there is no GPU, driver or CUDA library: the CUDA runtime is
 * linked statically and cuBLASLt is opened with dlopen when a device is asked for.
 *
 * Use (llm-train): llm_model_cuda_attach moves a model's passes to the GPU; from then on
 * llm_model_plan, llm_model_forward, llm_model_backward and llm_model_zero_grad run there
 * (m->grads stays NULL: the gradients live on the device), the optimizer step is
 * llm_cuda_step, and llm_cuda_download copies the master weights (and moments) back into
 * the host buffers before a checkpoint is written. */
#ifndef LLM_MODEL_CUDA_H
#define LLM_MODEL_CUDA_H

#include "adamw.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum llm_device {
    LLM_DEVICE_AUTO = 0,    /* the GPU when one is usable, else the CPU */
    LLM_DEVICE_CPU,
    LLM_DEVICE_CUDA,
} llm_device;

/* 1 when a CUDA device and cuBLASLt are usable (the device's name in name, up to n bytes,
 * when name is not NULL); 0 with err saying why not (no driver, no device, built without
 * CUDA, libcublasLt.so not found). */
int llm_cuda_available(char *name, size_t n, llm_error *err);

/* Turns the device option into the one to use: AUTO becomes CUDA when llm_cuda_available
 * says so, else CPU, with *why (when not NULL) set to the reason there is no GPU. CUDA when
 * none is usable is an error: -1 with err set. */
int llm_device_resolve(llm_device want, llm_device *got, llm_error *why, llm_error *err);

/* Moves m's passes to the GPU: uploads its parameters (fp32 masters and their bf16 copy)
 * and frees its CPU plan and gradients. `recompute` keeps fewer activations for the
 * backward (LayerNorm outputs and GELU) and recomputes them there. Returns 0, or -1 with
 * err set (m unchanged). */
int llm_model_cuda_attach(llm_model *m, int recompute, llm_error *err);

/* The largest micro-batch of max_T-token rows whose training (train = 1) or inference plan
 * fits the device's free memory, at most cap; 0 with err set when not even one row fits.
 * Needs an attached model. */
int llm_model_cuda_max_batch(llm_model *m, int max_T, int train, int cap, llm_error *err);

/* One optimizer step on the device over the gradients of the backwards since the last zero:
 * the gradient norm (returned in *grad_norm) and clipping to max_norm (<= 0: none) in one
 * pass, then AdamW as llm_adamw_step with opt's settings and step count (opt->step is
 * incremented; opt->m and opt->v on the host are NOT kept current: llm_cuda_download).
 * Returns 0, or -1 with err set. */
int llm_model_cuda_step(llm_model *m, llm_adamw *opt, double lr, double max_norm, float *grad_norm,
                        llm_error *err);

/* Copies the device's fp32 master weights into m->params and, when opt is not NULL, its
 * moments into opt->m and opt->v (for a checkpoint). Returns 0, or -1 with err set. */
int llm_model_cuda_download(llm_model *m, llm_adamw *opt, llm_error *err);
/* The other way (after --resume loaded a checkpoint into the host buffers): m->params and,
 * when opt is not NULL, its moments go to the device. Returns 0, or -1 with err set. */
int llm_model_cuda_upload(llm_model *m, const llm_adamw *opt, llm_error *err);

/* Peak device memory the process has held since the backend started, in bytes (0 without
 * one). */
size_t llm_model_cuda_peak_bytes(const llm_model *m);
/* The GPU's dense bf16 tensor-core rate, flop/s, for MFU: the data sheet's figure for the
 * A100 (compute capability 8.0) and the H100/H200 (9.0), scaled by the multiprocessors;
 * 0 for other GPUs or without one. */
double llm_model_cuda_peak_flops(const llm_model *m);

/* ---- the backend itself: lib/cuda/ (or lib/model_cuda_none.c); lib/model.c and the
 * functions above call these, programs call the ones above ---- */

typedef struct llm_cuda llm_cuda;
/* A backend for a model of cfg: uploads params (the tensor table's n_params floats).
 * NULL with err set. */
llm_cuda *llm_cuda_new(const llm_model_config *cfg, const llm_tensor_desc *tensors, size_t n_tensors,
                       size_t n_params, const float *params, int recompute, llm_error *err);
void llm_cuda_free(llm_cuda *g);    /* NULL-safe */
/* As llm_model_plan, llm_model_forward, llm_model_backward, llm_model_zero_grad; the
 * backward returns once its kernels are queued (what reads its gradients waits for them). */
int llm_cuda_plan(llm_cuda *g, int max_B, int max_T, int train, llm_error *err);
/* noise_scale: NEFTune's bound for this batch (llm_noise_scale), 0 for none. */
int llm_cuda_forward(llm_cuda *g, const llm_batch *batch, float label_smoothing, float noise_scale,
                     llm_loss_stats *stats, llm_error *err);
int llm_cuda_backward(llm_cuda *g, double normaliser, llm_error *err);
int llm_cuda_zero_grad(llm_cuda *g, llm_error *err);
int llm_cuda_max_batch(llm_cuda *g, int max_T, int train, int cap, llm_error *err);
/* Clipping and AdamW (step: the count after this step, as llm_adamw's after its step). */
int llm_cuda_step(llm_cuda *g, const llm_adamw_config *c, int64_t step, double lr, double max_norm,
                  float *grad_norm, llm_error *err);
/* Host copies of n_params floats each; a NULL pointer is skipped. */
int llm_cuda_download(llm_cuda *g, float *params, float *m, float *v, float *grads, llm_error *err);
int llm_cuda_upload(llm_cuda *g, const float *params, const float *m, const float *v, llm_error *err);
/* As llm_model_decode, on the device with its own key/value cache; llm_cuda_decoded is the
 * positions it holds. */
int llm_cuda_decode(llm_cuda *g, const int32_t *tokens, int n, int start, float *logits, llm_error *err);
int llm_cuda_decoded(const llm_cuda *g);
size_t llm_cuda_peak_bytes(const llm_cuda *g);
double llm_cuda_peak_flops(const llm_cuda *g);
/* Rows of the classifier's chunks in the plans made from now on, at most (0: as many as
 * 512 MiB of bf16 logits hold); for the tests, which need several chunks of a tiny batch. */
void llm_cuda_classifier_rows(int rows);

#ifdef __cplusplus
}
#endif
#endif

/* Matrix products through cuBLASLt, opened with dlopen so that a binary linked here runs
 * on a machine without the CUDA libraries (the CPU path then): bf16 operands, fp32
 * accumulation, the bias of a linear layer fused in the epilogue, and C = A B + beta C for
 * the residual add and gradient accumulation. cuBLASLt is column-major; a row-major
 * product D = op(A) op(B) is the column-major D^T = op(B)^T op(A)^T, so A and B swap. */
#include <cublasLt.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "ops_cuda.h"

#define WORKSPACE_BYTES ((size_t)32 << 20)

static struct {
    void *lib;
    cublasLtHandle_t handle;
    void *workspace;
    decltype(&cublasLtCreate) create;
    decltype(&cublasLtDestroy) destroy;
    decltype(&cublasLtMatmul) matmul;
    decltype(&cublasLtMatmulDescCreate) desc_create;
    decltype(&cublasLtMatmulDescDestroy) desc_destroy;
    decltype(&cublasLtMatmulDescSetAttribute) desc_set;
    decltype(&cublasLtMatrixLayoutCreate) layout_create;
    decltype(&cublasLtMatrixLayoutDestroy) layout_destroy;
    decltype(&cublasLtMatmulPreferenceCreate) pref_create;
    decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy;
    decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set;
    decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic;
} lt;

template <typename F> static int load(F *out, const char *name, llm_error *err)
{
    *out = (F)dlsym(lt.lib, name);
    return *out ? 0 : llm_error_set(err, "libcublasLt.so has no %s", name);
}

int llm_cuda_blas_open(llm_error *err)
{
    if (lt.handle)
        return 0;
    /* the loader's paths first, then the toolkit's usual places (not always in ld.so.conf) */
    static const char *const names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
    const char *env_home = getenv("CUDA_HOME");
    const char *dirs[] = {NULL, env_home && *env_home ? env_home : NULL, "/usr/local/cuda"};
    char path[4096];
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0] && !lt.lib; d++)
        for (size_t i = 0; i < sizeof names / sizeof names[0] && !lt.lib; i++) {
            if (d > 0 && !dirs[d])
                break;
            if (d > 0)
                snprintf(path, sizeof path, "%s/lib64/%s", dirs[d], names[i]);
            lt.lib = dlopen(d > 0 ? path : names[i], RTLD_NOW | RTLD_LOCAL);
        }
    if (!lt.lib)
        return llm_error_set(err, "cuBLASLt not found (libcublasLt.so, also under $CUDA_HOME/lib64 and "
                             "/usr/local/cuda/lib64)");
    if (load(&lt.create, "cublasLtCreate", err) || load(&lt.destroy, "cublasLtDestroy", err) ||
        load(&lt.matmul, "cublasLtMatmul", err) || load(&lt.desc_create, "cublasLtMatmulDescCreate", err) ||
        load(&lt.desc_destroy, "cublasLtMatmulDescDestroy", err) ||
        load(&lt.desc_set, "cublasLtMatmulDescSetAttribute", err) ||
        load(&lt.layout_create, "cublasLtMatrixLayoutCreate", err) ||
        load(&lt.layout_destroy, "cublasLtMatrixLayoutDestroy", err) ||
        load(&lt.pref_create, "cublasLtMatmulPreferenceCreate", err) ||
        load(&lt.pref_destroy, "cublasLtMatmulPreferenceDestroy", err) ||
        load(&lt.pref_set, "cublasLtMatmulPreferenceSetAttribute", err) ||
        load(&lt.heuristic, "cublasLtMatmulAlgoGetHeuristic", err))
        goto fail;
    if (lt.create(&lt.handle) != CUBLAS_STATUS_SUCCESS) {
        llm_error_set(err, "cublasLtCreate failed (no usable GPU?)");
        goto fail;
    }
    if (cudaMalloc(&lt.workspace, WORKSPACE_BYTES) != cudaSuccess) {
        llm_error_set(err, "out of device memory for cuBLASLt's workspace");
        goto fail;
    }
    return 0;
fail:
    llm_cuda_blas_close();
    return -1;
}

void llm_cuda_blas_close(void)
{
    if (lt.workspace)
        cudaFree(lt.workspace);
    if (lt.handle)
        lt.destroy(lt.handle);
    if (lt.lib)
        dlclose(lt.lib);
    memset(&lt, 0, sizeof lt);
}

/* The largest power of two, up to 256, that p's address is a multiple of: cuBLASLt's
 * heuristic assumes 256-byte operands unless told, and pointers into the parameter buffer
 * or a chunk of rows are often less aligned. */
static uint32_t alignment(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && a % al)
        al >>= 1;
    return al;
}

#define LT_CHECK(call, what)                                                             \
    do {                                                                                 \
        cublasStatus_t st_ = (call);                                                     \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                              \
            llm_error_set(err, "%s:%d: cuBLASLt %s failed (status %d)", __FILE__, __LINE__, \
                          what, (int)st_);                                               \
            goto out;                                                                    \
        }                                                                                \
    } while (0)

int llm_cuda_matmul(const llm_cu_gemm *g, llm_cu_stream s, llm_error *err)
{
    if (!lt.handle)
        return llm_error_set(err, "cuBLASLt is not open");
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t algo;
    int found = 0, rc = -1;
    /* column-major: m = N, n = M; the first operand is B, the second A */
    int m = g->N, n = g->M, k = g->K;
    cublasOperation_t op_first = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_second = g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cudaDataType_t dt = g->d_fp32 ? CUDA_R_32F : CUDA_R_16BF;
    float alpha = 1.0f, beta = g->C ? g->beta : 0.0f;
    const void *C = g->C ? (const void *)g->C : g->D;
    size_t ws = WORKSPACE_BYTES;

    if (g->C && !g->d_fp32)
        return llm_error_set(err, "matmul: an added C needs an fp32 output");
    LT_CHECK(lt.desc_create(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor");
    LT_CHECK(lt.desc_set(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first), "transa");
    LT_CHECK(lt.desc_set(desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second), "transb");
    if (g->bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        LT_CHECK(lt.desc_set(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "epilogue");
        LT_CHECK(lt.desc_set(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &dt, sizeof dt), "bias type");
        LT_CHECK(lt.desc_set(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias), "bias");
    }
    /* stored shapes (rows, cols, ld) of each column-major operand */
    LT_CHECK(lt.layout_create(&la, CUDA_R_16BF, g->trans_b ? k : m, g->trans_b ? m : k, g->ldb), "layout B");
    LT_CHECK(lt.layout_create(&lb, CUDA_R_16BF, g->trans_a ? n : k, g->trans_a ? k : n, g->lda), "layout A");
    LT_CHECK(lt.layout_create(&lc, dt, m, n, g->ldd), "layout D");
    LT_CHECK(lt.pref_create(&pref), "preference");
    LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), "workspace");
    {
        uint32_t al_a = alignment(g->B), al_b = alignment(g->A), al_c = alignment(C), al_d = alignment(g->D);
        LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a), "align A");
        LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b), "align B");
        LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c), "align C");
        LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d), "align D");
    }
    LT_CHECK(lt.heuristic(lt.handle, desc, la, lb, lc, lc, pref, 1, &algo, &found), "heuristic");
    if (!found) {
        llm_error_set(err, "cuBLASLt has no algorithm for a %d x %d x %d product", g->M, g->N, g->K);
        goto out;
    }
    LT_CHECK(lt.matmul(lt.handle, desc, &alpha, g->B, la, g->A, lb, &beta, C, lc, g->D, lc, &algo.algo,
                       lt.workspace, ws, s), "matmul");
    rc = 0;
out:
    if (pref)
        lt.pref_destroy(pref);
    if (lc)
        lt.layout_destroy(lc);
    if (lb)
        lt.layout_destroy(lb);
    if (la)
        lt.layout_destroy(la);
    if (desc)
        lt.desc_destroy(desc);
    return rc;
}

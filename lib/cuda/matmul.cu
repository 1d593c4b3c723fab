/* Matrix products through cuBLASLt, opened with dlopen so that a binary linked here runs
 * on a machine without the CUDA libraries (the CPU path then): bf16 operands, fp32
 * accumulation, the bias of a linear layer and the GELU after it fused in the epilogue,
 * and C = A B + beta C for the residual add and gradient accumulation. cuBLASLt is
 * column-major; a row-major product D = op(A) op(B) is the column-major
 * D^T = op(B)^T op(A)^T, so A and B swap. */
#include <cublasLt.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "ops_cuda.h"

#define WORKSPACE_BYTES ((size_t)32 << 20)
#define LT_SONAME_(major) "libcublasLt.so." #major
#define LT_SONAME(major) LT_SONAME_(major)

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
    /* the loader's paths first, then the toolkit's usual places (not always in ld.so.conf);
     * the major version built against first, since another's ABI may differ */
    static const char *const names[] = {LT_SONAME(CUBLAS_VER_MAJOR), "libcublasLt.so"};
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

static void plans_clear(void);

void llm_cuda_blas_close(void)
{
    plans_clear();
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

/* What a product's descriptors and algorithm depend on: a step repeats a few dozen shapes,
 * so each is described and given to the heuristic once. The bias and aux pointers change
 * from layer to layer and are set on every call; the heuristic reads their alignment from
 * the first call's, so that is part of the key too. */
typedef struct plan_key {
    int M, N, K, trans_a, trans_b, lda, ldb, ldd, d_fp32, has_c, has_bias, gelu;
    uint32_t align[6];    /* A, B, C, D as cuBLASLt names them, the bias, the aux */
} plan_key;

typedef struct lt_plan {
    plan_key key;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} lt_plan;

enum { PLANS = 128 };
static lt_plan plans[PLANS];
static int n_plans, next_evict;

static void plan_destroy(lt_plan *p)
{
    if (p->lc)
        lt.layout_destroy(p->lc);
    if (p->lb)
        lt.layout_destroy(p->lb);
    if (p->la)
        lt.layout_destroy(p->la);
    if (p->desc)
        lt.desc_destroy(p->desc);
    memset(p, 0, sizeof *p);
}

static void plans_clear(void)
{
    for (int i = 0; i < n_plans; i++)
        plan_destroy(&plans[i]);
    n_plans = next_evict = 0;
}

static cublasLtEpilogue_t epilogue_of(const plan_key *key)
{
    if (key->gelu == LLM_CU_GELU_FORWARD)
        return key->has_bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
    if (key->gelu == LLM_CU_GELU_BACKWARD)
        return CUBLASLT_EPILOGUE_DGELU;
    return key->has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
}

/* Sets the pointers of g's epilogue on p's descriptor. */
static int plan_point(lt_plan *p, const llm_cu_gemm *g, llm_error *err)
{
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    if (g->bias)
        st = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias);
    if (st == CUBLAS_STATUS_SUCCESS && p->key.gelu)
        st = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &g->aux, sizeof g->aux);
    if (st != CUBLAS_STATUS_SUCCESS)
        return llm_error_set(err, "cuBLASLt epilogue pointers failed (status %d)", (int)st);
    return 0;
}

/* Describes the product of key (g's, whose epilogue pointers the heuristic sees) into p and
 * picks its algorithm. 0, or with err set (p then holds nothing) LLM_CU_NO_ALGORITHM when
 * cuBLASLt has none for it, else -1. */
static int plan_make(lt_plan *p, const plan_key *key, const llm_cu_gemm *g, llm_error *err)
{
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t algo;
    int found = 0, rc = -1;
    /* column-major: m = N, n = M; the first operand is B, the second A */
    int m = key->N, n = key->M, k = key->K;
    cublasOperation_t op_first = key->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_second = key->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cudaDataType_t dt = key->d_fp32 ? CUDA_R_32F : CUDA_R_16BF;
    size_t ws = WORKSPACE_BYTES;
    memset(p, 0, sizeof *p);
    p->key = *key;
    LT_CHECK(lt.desc_create(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor");
    LT_CHECK(lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first), "transa");
    LT_CHECK(lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second), "transb");
    {
        cublasLtEpilogue_t epi = epilogue_of(key);
        LT_CHECK(lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "epilogue");
    }
    if (key->has_bias)
        LT_CHECK(lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &dt, sizeof dt), "bias type");
    if (key->gelu) {    /* the aux matrix has D's shape, type and leading dimension */
        int64_t ld = key->ldd;
        LT_CHECK(lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld), "aux ld");
    }
    if (plan_point(p, g, err) < 0)
        goto out;
    /* stored shapes (rows, cols, ld) of each column-major operand */
    LT_CHECK(lt.layout_create(&p->la, CUDA_R_16BF, key->trans_b ? k : m, key->trans_b ? m : k, key->ldb), "layout B");
    LT_CHECK(lt.layout_create(&p->lb, CUDA_R_16BF, key->trans_a ? n : k, key->trans_a ? k : n, key->lda), "layout A");
    LT_CHECK(lt.layout_create(&p->lc, dt, m, n, key->ldd), "layout D");
    LT_CHECK(lt.pref_create(&pref), "preference");
    LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), "workspace");
    {    /* split-K partial sums added in place may come in any order: not those */
        uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE |
                           CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE;
        LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes, sizeof schemes),
                 "reduction schemes");
    }
    LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &key->align[0], sizeof(uint32_t)),
             "align A");
    LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &key->align[1], sizeof(uint32_t)),
             "align B");
    LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &key->align[2], sizeof(uint32_t)),
             "align C");
    LT_CHECK(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &key->align[3], sizeof(uint32_t)),
             "align D");
    {    /* "no algorithm" comes as NOT_SUPPORTED */
        cublasStatus_t st = lt.heuristic(lt.handle, p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, &algo, &found);
        if (st != CUBLAS_STATUS_NOT_SUPPORTED)
            LT_CHECK(st, "heuristic");
    }
    if (!found) {
        llm_error_set(err, "cuBLASLt has no algorithm for a %d x %d x %d product%s", key->M, key->N, key->K,
                      key->gelu ? " with GELU" : "");
        rc = LLM_CU_NO_ALGORITHM;
        goto out;
    }
    p->algo = algo.algo;
    rc = 0;
out:
    if (pref)
        lt.pref_destroy(pref);
    if (rc < 0)
        plan_destroy(p);
    return rc;
}

/* The cached plan of key, made when new (the oldest evicted when the cache is full); NULL
 * with *rc the error of plan_make. */
static lt_plan *plan_for(const plan_key *key, const llm_cu_gemm *g, int *rc, llm_error *err)
{
    for (int i = 0; i < n_plans; i++)
        if (memcmp(&plans[i].key, key, sizeof *key) == 0)
            return &plans[i];
    lt_plan *p;
    if (n_plans < PLANS) {
        p = &plans[n_plans];
    } else {
        p = &plans[next_evict];
        next_evict = (next_evict + 1) % PLANS;
        plan_destroy(p);
    }
    if ((*rc = plan_make(p, key, g, err)) < 0)
        return NULL;
    if (p == &plans[n_plans])
        n_plans++;
    return p;
}

/* -1: not decided yet (LLM_CUDA_GELU is read at the first product with GELU). */
static int gelu_fused = -1;

void llm_cuda_gelu_fusion(int on) { gelu_fused = on ? 1 : 0; }

static int gelu_fusion_wanted(void)
{
    if (gelu_fused < 0) {
        const char *e = getenv("LLM_CUDA_GELU");
        gelu_fused = !(e && strcmp(e, "kernel") == 0);
    }
    return gelu_fused;
}

/* The product of g through cuBLASLt as it is, epilogue and all. */
static int lt_matmul(const llm_cu_gemm *g, llm_cu_stream s, llm_error *err)
{
    float alpha = 1.0f, beta = g->C ? g->beta : 0.0f;
    const void *C = g->C ? (const void *)g->C : g->D;
    plan_key key;
    memset(&key, 0, sizeof key);    /* compared with memcmp: no stray padding */
    key.M = g->M;
    key.N = g->N;
    key.K = g->K;
    key.trans_a = g->trans_a;
    key.trans_b = g->trans_b;
    key.lda = g->lda;
    key.ldb = g->ldb;
    key.ldd = g->ldd;
    key.d_fp32 = g->d_fp32;
    key.has_c = g->C != NULL;
    key.has_bias = g->bias != NULL;
    key.gelu = g->gelu;
    key.align[0] = alignment(g->B);    /* cuBLASLt's A is our B (see the top) */
    key.align[1] = alignment(g->A);
    key.align[2] = alignment(C);
    key.align[3] = alignment(g->D);
    key.align[4] = g->bias ? alignment(g->bias) : 0;
    key.align[5] = g->gelu ? alignment(g->aux) : 0;
    int rc = -1;
    lt_plan *p = plan_for(&key, g, &rc, err);
    if (!p)
        return rc;
    if (plan_point(p, g, err) < 0)
        return -1;
    cublasStatus_t st = lt.matmul(lt.handle, p->desc, &alpha, g->B, p->la, g->A, p->lb, &beta, C, p->lc, g->D,
                                  p->lc, &p->algo, lt.workspace, WORKSPACE_BYTES, s);
    if (st != CUBLAS_STATUS_SUCCESS)
        return llm_error_set(err, "cuBLASLt matmul of %d x %d x %d failed (status %d)", g->M, g->N, g->K, (int)st);
    return 0;
}

/* The product without GELU in its epilogue, then the GELU kernel over D. */
static int matmul_then_gelu(const llm_cu_gemm *g, llm_cu_stream s, llm_error *err)
{
    llm_cu_gemm plain = *g;
    llm_bf16 *D = (llm_bf16 *)g->D;
    size_t n = (size_t)g->M * g->N;
    plain.gelu = LLM_CU_GELU_NONE;
    if (g->gelu == LLM_CU_GELU_FORWARD)
        plain.D = g->aux;    /* GELU's input, kept */
    if (lt_matmul(&plain, s, err) < 0)
        return -1;
    if (g->gelu == LLM_CU_GELU_FORWARD)
        return llm_cuda_gelu_forward(D, g->aux, n, s, err);
    return llm_cuda_gelu_backward(D, g->aux, D, n, s, err);
}

int llm_cuda_matmul(const llm_cu_gemm *g, llm_cu_stream s, llm_error *err)
{
    if (!lt.handle)
        return llm_error_set(err, "cuBLASLt is not open");
    if (g->C && !g->d_fp32)
        return llm_error_set(err, "matmul: an added C needs an fp32 output");
    if (!g->gelu)
        return lt_matmul(g, s, err);
    if (g->d_fp32 || g->ldd != g->N || !g->aux || (g->gelu == LLM_CU_GELU_BACKWARD && (g->bias || g->C)))
        return llm_error_set(err, "matmul: GELU needs a bf16 D of N columns, an aux, and backward no bias or C");
    if (gelu_fusion_wanted() && g->ldd % 8 == 0) {    /* cuBLASLt's aux rows: a multiple of 8 */
        int rc = lt_matmul(g, s, err);
        if (rc != LLM_CU_NO_ALGORITHM)
            return rc;
        gelu_fused = 0;    /* this cuBLASLt cannot: the kernel from now on */
    }
    return matmul_then_gelu(g, s, err);
}

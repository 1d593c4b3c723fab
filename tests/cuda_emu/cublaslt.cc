/* cuBLASLt on the host, for the CPU emulator of the CUDA execution model: built as
 * libcublasLt.so.13, the name lib/cuda/matmul.cu opens, it does the products matmul.cu asks
 * for and, above all, checks its use of the API against NVIDIA's documented rules: shapes
 * after the transposes, leading dimensions, type combinations, the bias epilogue, the
 * workspace, and the operand alignments promised to the heuristic (a cached plan used with
 * a less aligned pointer is a wrong answer or a fault on a GPU, and silently fine on a CPU
 * unless checked). What is refused gets one line on stderr saying why.
 *
 * Everything is column-major as in cuBLASLt: D (m, n) = alpha op(A) (m, k) op(B) (k, n)
 * + beta C (m, n) [+ bias (m), one value per row of D], then the epilogue's GELU (the tanh
 * form, as cuBLASLt's) with its input kept in the aux matrix, or the product times the
 * GELU's derivative at the aux matrix's values (DGELU). Operands are bf16 or fp32, each
 * sum is accumulated in fp32 in k order, so that results depend on the inputs alone (build
 * with -ffp-contract=off, else the compiler may fuse some products and sums), and bf16
 * results are rounded to nearest even. Device pointers are host pointers. */
#include <cublasLt.h>
#include <cuda_bf16.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <vector>

struct cublasLtContext {
    int unused;
};

struct cublasLtMatmulDescOpaque_t {
    cublasComputeType_t compute;
    cudaDataType_t scale;
    int32_t trans_a, trans_b;
    uint32_t epilogue;
    const void *bias;
    int32_t bias_type;    /* -1: the type of D */
    void *aux;            /* GELU's input, of D's type and shape */
    int64_t aux_ld;
};

struct cublasLtMatrixLayoutOpaque_t {
    cudaDataType_t type;
    uint64_t rows, cols;
    int64_t ld;
};

struct cublasLtMatmulPreferenceOpaque_t {
    uint64_t max_workspace;
    uint32_t reduction_mask;
    uint32_t min_align[4];    /* of A, B, C, D */
};

/* What the heuristic writes in cublasLtMatmulAlgo_t::data, read back by cublasLtMatmul. */
enum {
    ALGO_MAGIC_SLOT = 0,
    ALGO_ALIGN_SLOT = 1,    /* 1..4: the minimum alignments of A, B, C, D */
    ALGO_WORKSPACE_SLOT = 5,
    ALGO_BIAS_ALIGN_SLOT = 6,    /* the alignments the bias and aux pointers had then */
    ALGO_AUX_ALIGN_SLOT = 7,
};
static const uint64_t ALGO_MAGIC = 0x4c54454d55414c47ull;    /* "LTEMUALG" */
static const uint32_t DEFAULT_ALIGNMENT = 256;    /* cuBLASLt's assumption when not told */
static const uintptr_t WORKSPACE_ALIGNMENT = 256; /* documented for cublasLtMatmul */
/* The widest load an epilogue vector is assumed to take: the heuristic reads the bias and
 * aux pointers' alignment up to this (a NULL pointer promises all of it). */
static const uintptr_t EPILOGUE_ALIGNMENT = 16;

static const char *const operand_name[4] = {"A", "B", "C", "D"};

/* Prints "cublasLt emulator: <why>" and returns st, so that checks read `return fail(...)`. */
__attribute__((format(printf, 2, 3))) static cublasStatus_t fail(cublasStatus_t st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cublasLt emulator: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return st;
}

/* ---- types and layouts ---- */

static size_t type_size(cudaDataType_t t)
{
    switch (t) {
    case CUDA_R_16BF:
        return 2;
    case CUDA_R_32F:
        return 4;
    default:
        return 0;    /* not emulated */
    }
}

static const char *type_name(int t)
{
    switch (t) {
    case CUDA_R_16BF:
        return "CUDA_R_16BF";
    case CUDA_R_32F:
        return "CUDA_R_32F";
    case CUDA_R_16F:
        return "CUDA_R_16F";
    case CUDA_R_64F:
        return "CUDA_R_64F";
    default:
        return "an unsupported type";
    }
}

static float load(const void *p, cudaDataType_t t, size_t i)
{
    if (t == CUDA_R_16BF)
        return (float)((const __nv_bfloat16 *)p)[i];
    return ((const float *)p)[i];
}

static void store(void *p, cudaDataType_t t, size_t i, float v)
{
    if (t == CUDA_R_16BF)
        ((__nv_bfloat16 *)p)[i] = __nv_bfloat16(v);    /* nearest even, as the GPU */
    else
        ((float *)p)[i] = v;
}

/* Bytes from a matrix's first element to one past its last. */
static uint64_t layout_extent(const cublasLtMatrixLayoutOpaque_t *l)
{
    if (l->rows == 0 || l->cols == 0)
        return 0;
    return ((l->cols - 1) * (uint64_t)l->ld + l->rows) * type_size(l->type);
}

static bool overlap(const void *p, uint64_t p_bytes, const void *q, uint64_t q_bytes)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return p_bytes && q_bytes && a < b + q_bytes && b < a + p_bytes;
}

static bool layouts_equal(const cublasLtMatrixLayoutOpaque_t *x, const cublasLtMatrixLayoutOpaque_t *y)
{
    return x->type == y->type && x->rows == y->rows && x->cols == y->cols && x->ld == y->ld;
}

/* ---- handle ---- */

extern "C" cublasStatus_t cublasLtCreate(cublasLtHandle_t *lightHandle)
{
    if (!lightHandle)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasLtCreate: NULL handle pointer");
    *lightHandle = NULL;
    /* lets tests take the path of a machine whose driver or GPU is missing */
    if (getenv("LLM_CUDA_EMU_NO_BLAS"))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    *lightHandle = new (std::nothrow) cublasLtContext();
    return *lightHandle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

extern "C" cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle)
{
    if (!lightHandle)
        return fail(CUBLAS_STATUS_NOT_INITIALIZED, "cublasLtDestroy: NULL handle");
    delete lightHandle;
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- matmul descriptor ---- */

extern "C" cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc, cublasComputeType_t computeType,
                                                   cudaDataType_t scaleType)
{
    if (!matmulDesc)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulDescCreate: NULL descriptor pointer");
    cublasLtMatmulDesc_t d = new (std::nothrow) cublasLtMatmulDescOpaque_t();
    if (!(*matmulDesc = d))
        return CUBLAS_STATUS_ALLOC_FAILED;
    d->compute = computeType;
    d->scale = scaleType;
    d->trans_a = d->trans_b = CUBLAS_OP_N;
    d->epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    d->bias = NULL;
    d->bias_type = -1;
    d->aux = NULL;
    d->aux_ld = 0;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc)
{
    delete matmulDesc;
    return CUBLAS_STATUS_SUCCESS;
}

/* The real library takes an attribute only in its exact size. */
static cublasStatus_t check_attribute(const char *who, int attr, const void *buf, size_t size, size_t want)
{
    if (!buf)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: attribute %d: NULL buffer", who, attr);
    if (size != want)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: attribute %d takes %zu bytes, given %zu", who, attr, want,
                    size);
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc,
                                                         cublasLtMatmulDescAttributes_t attr, const void *buf,
                                                         size_t sizeInBytes)
{
    static const char who[] = "cublasLtMatmulDescSetAttribute";
    if (!matmulDesc)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: NULL descriptor", who);
    void *field;
    size_t size;
    switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
        field = &matmulDesc->trans_a, size = sizeof matmulDesc->trans_a;
        break;
    case CUBLASLT_MATMUL_DESC_TRANSB:
        field = &matmulDesc->trans_b, size = sizeof matmulDesc->trans_b;
        break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
        field = &matmulDesc->epilogue, size = sizeof matmulDesc->epilogue;
        break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
        field = &matmulDesc->bias, size = sizeof matmulDesc->bias;
        break;
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
        field = &matmulDesc->bias_type, size = sizeof matmulDesc->bias_type;
        break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER:
        field = &matmulDesc->aux, size = sizeof matmulDesc->aux;
        break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD:
        field = &matmulDesc->aux_ld, size = sizeof matmulDesc->aux_ld;
        break;
    default:
        return fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: attribute %d is not emulated", who, (int)attr);
    }
    cublasStatus_t st = check_attribute(who, (int)attr, buf, sizeInBytes, size);
    if (st == CUBLAS_STATUS_SUCCESS)
        memcpy(field, buf, size);    /* values are checked where they are used */
    return st;
}

/* ---- matrix layouts ---- */

extern "C" cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout, cudaDataType_t type,
                                                     uint64_t rows, uint64_t cols, int64_t ld)
{
    if (!matLayout)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatrixLayoutCreate: NULL layout pointer");
    cublasLtMatrixLayout_t l = new (std::nothrow) cublasLtMatrixLayoutOpaque_t();
    if (!(*matLayout = l))
        return CUBLAS_STATUS_ALLOC_FAILED;
    l->type = type;
    l->rows = rows;
    l->cols = cols;
    l->ld = ld;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout)
{
    delete matLayout;
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- preferences ---- */

extern "C" cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref)
{
    if (!pref)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulPreferenceCreate: NULL preference pointer");
    cublasLtMatmulPreference_t p = new (std::nothrow) cublasLtMatmulPreferenceOpaque_t();
    if (!(*pref = p))
        return CUBLAS_STATUS_ALLOC_FAILED;
    p->max_workspace = 0;
    p->reduction_mask = CUBLASLT_REDUCTION_SCHEME_MASK;
    for (int i = 0; i < 4; i++)
        p->min_align[i] = DEFAULT_ALIGNMENT;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref)
{
    delete pref;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                               cublasLtMatmulPreferenceAttributes_t attr,
                                                               const void *buf, size_t sizeInBytes)
{
    static const char who[] = "cublasLtMatmulPreferenceSetAttribute";
    if (!pref)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: NULL preference", who);
    void *field;
    size_t size;
    switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
        field = &pref->max_workspace, size = sizeof pref->max_workspace;
        break;
    case CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK:
        field = &pref->reduction_mask, size = sizeof pref->reduction_mask;
        break;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: {
        int i = (int)attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES;
        field = &pref->min_align[i], size = sizeof pref->min_align[i];
        break;
    }
    default:
        return fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: attribute %d is not emulated", who, (int)attr);
    }
    cublasStatus_t st = check_attribute(who, (int)attr, buf, sizeInBytes, size);
    if (st == CUBLAS_STATUS_SUCCESS)
        memcpy(field, buf, size);
    return st;
}

/* ---- the problem ---- */

/* A product's descriptors, checked, with its sizes. */
struct problem {
    const cublasLtMatmulDescOpaque_t *op;
    const cublasLtMatrixLayoutOpaque_t *layout[4];    /* A, B, C, D */
    uint64_t m, n, k;
    bool has_bias, gelu_aux, dgelu;                    /* what the epilogue does */
    cudaDataType_t bias_type;                          /* with a bias */
};

static cublasStatus_t check_layout(const char *who, int which, const cublasLtMatrixLayoutOpaque_t *l)
{
    if (l->ld < 1 || (uint64_t)l->ld < l->rows)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: %s has %llu rows but a leading dimension of %lld", who,
                    operand_name[which], (unsigned long long)l->rows, (long long)l->ld);
    if (!type_size(l->type))
        return fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: %s is of type %d (%s); only CUDA_R_16BF and CUDA_R_32F "
                    "are emulated", who, operand_name[which], (int)l->type, type_name(l->type));
    return CUBLAS_STATUS_SUCCESS;
}

/* The checks that the heuristic and the product share: everything but the pointers. */
static cublasStatus_t check_problem(const char *who, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t A,
                                    cublasLtMatrixLayout_t B, cublasLtMatrixLayout_t C, cublasLtMatrixLayout_t D,
                                    problem *pb)
{
    if (!op)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: NULL matmul descriptor", who);
    if (!A || !B || !C || !D)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: NULL layout for %s", who,
                    !A ? "A" : !B ? "B" : !C ? "C" : "D");
    pb->op = op;
    pb->layout[0] = A, pb->layout[1] = B, pb->layout[2] = C, pb->layout[3] = D;
    cublasStatus_t st;
    for (int i = 0; i < 4; i++)
        if ((st = check_layout(who, i, pb->layout[i])) != CUBLAS_STATUS_SUCCESS)
            return st;

    if (op->compute != CUBLAS_COMPUTE_32F || op->scale != CUDA_R_32F)
        return fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: compute type %d with scale type %d; only CUBLAS_COMPUTE_32F "
                    "with CUDA_R_32F is emulated", who, (int)op->compute, (int)op->scale);
    for (int i = 0; i < 2; i++) {
        int32_t t = i ? op->trans_b : op->trans_a;
        if (t != CUBLAS_OP_N && t != CUBLAS_OP_T)
            return fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: TRANS%s is %d; only CUBLAS_OP_N and CUBLAS_OP_T are "
                        "emulated", who, i ? "B" : "A", (int)t);
    }

    /* the shapes after the transposes: op(A) (m, k), op(B) (k, n), C and D (m, n) */
    bool ta = op->trans_a == CUBLAS_OP_T, tb = op->trans_b == CUBLAS_OP_T;
    uint64_t am = ta ? A->cols : A->rows, ak = ta ? A->rows : A->cols;
    uint64_t bk = tb ? B->cols : B->rows, bn = tb ? B->rows : B->cols;
    pb->m = D->rows, pb->n = D->cols, pb->k = ak;
    if (am != pb->m || bn != pb->n || bk != ak)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: op(A) is %llu x %llu and op(B) %llu x %llu, D is %llu x %llu",
                    who, (unsigned long long)am, (unsigned long long)ak, (unsigned long long)bk,
                    (unsigned long long)bn, (unsigned long long)pb->m, (unsigned long long)pb->n);
    if (C->rows != D->rows || C->cols != D->cols)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: C is %llu x %llu but D %llu x %llu", who,
                    (unsigned long long)C->rows, (unsigned long long)C->cols, (unsigned long long)D->rows,
                    (unsigned long long)D->cols);

    /* the combinations of cublasLtMatmul's table that are emulated: CUBLAS_COMPUTE_32F with
     * A = B and C = D, bf16 x bf16 -> bf16 or fp32, fp32 x fp32 -> fp32 */
    if (A->type != B->type || C->type != D->type || (A->type == CUDA_R_32F && D->type != CUDA_R_32F))
        return fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: no algorithm for A %s, B %s, C %s, D %s", who,
                    type_name(A->type), type_name(B->type), type_name(C->type), type_name(D->type));

    switch (op->epilogue) {
    case CUBLASLT_EPILOGUE_DEFAULT:
    case CUBLASLT_EPILOGUE_BIAS:
    case CUBLASLT_EPILOGUE_GELU_AUX:
    case CUBLASLT_EPILOGUE_GELU_AUX_BIAS:
    case CUBLASLT_EPILOGUE_DGELU:
        break;
    default:
        return fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: epilogue %u is not emulated (only DEFAULT, BIAS, GELU_AUX, "
                    "GELU_AUX_BIAS and DGELU)", who, (unsigned)op->epilogue);
    }
    pb->has_bias = op->epilogue & CUBLASLT_EPILOGUE_BIAS;
    pb->gelu_aux = op->epilogue == CUBLASLT_EPILOGUE_GELU_AUX || op->epilogue == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    pb->dgelu = op->epilogue == CUBLASLT_EPILOGUE_DGELU;
    /* the bias is of D's type (the documented default; the exceptions are int8 and fp8) */
    pb->bias_type = op->bias_type == -1 ? D->type : (cudaDataType_t)op->bias_type;
    if (pb->has_bias && pb->bias_type != D->type)
        return fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: bias of type %s with D of type %s", who,
                    type_name(pb->bias_type), type_name(D->type));
    /* the aux matrix: D's rows, in elements of D's type */
    if ((pb->gelu_aux || pb->dgelu) && (op->aux_ld % 8 || op->aux_ld < (int64_t)pb->m))
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: EPILOGUE_AUX_LD is %lld: it must be a multiple of 8 and at "
                    "least D's %llu rows", who, (long long)op->aux_ld, (unsigned long long)pb->m);
    return CUBLAS_STATUS_SUCCESS;
}

/* The alignment an epilogue pointer promises the heuristic, up to EPILOGUE_ALIGNMENT. */
static uint64_t epilogue_alignment(const void *p)
{
    uintptr_t a = (uintptr_t)p, al = EPILOGUE_ALIGNMENT;
    while (al > 1 && a % al)
        al >>= 1;
    return al;
}

/* Bytes of the aux matrix (D's type, aux_ld apart). */
static uint64_t aux_extent(const problem *pb)
{
    if (pb->m == 0 || pb->n == 0)
        return 0;
    return ((pb->n - 1) * (uint64_t)pb->op->aux_ld + pb->m) * type_size(pb->layout[3]->type);
}

static bool power_of_two(uint32_t x) { return x && !(x & (x - 1)); }

extern "C" cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t lightHandle,
                                                         cublasLtMatmulDesc_t operationDesc,
                                                         cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                                                         cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                                                         cublasLtMatmulPreference_t preference,
                                                         int requestedAlgoCount,
                                                         cublasLtMatmulHeuristicResult_t heuristicResultsArray[],
                                                         int *returnAlgoCount)
{
    static const char who[] = "cublasLtMatmulAlgoGetHeuristic";
    if (!lightHandle)
        return fail(CUBLAS_STATUS_NOT_INITIALIZED, "%s: NULL handle", who);
    if (!preference || !heuristicResultsArray || !returnAlgoCount)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: NULL %s", who,
                    !preference ? "preference" : !returnAlgoCount ? "returnAlgoCount" : "result array");
    if (requestedAlgoCount <= 0)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: requestedAlgoCount is %d", who, requestedAlgoCount);
    *returnAlgoCount = 0;
    problem pb;
    if (check_problem(who, operationDesc, Adesc, Bdesc, Cdesc, Ddesc, &pb) != CUBLAS_STATUS_SUCCESS)
        return CUBLAS_STATUS_NOT_SUPPORTED;    /* no algorithm for what is not a valid problem */
    /* every kernel loads whole elements: an operand promised less than that has none */
    for (int i = 0; i < 4; i++) {
        uint32_t al = preference->min_align[i];
        if (!power_of_two(al) || al < type_size(pb.layout[i]->type))
            return fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: no algorithm for %s aligned to %u bytes", who,
                        operand_name[i], (unsigned)al);
    }
    /* the one algorithm needs no workspace, and reduces nothing (scheme NONE, which no mask
     * excludes), so every preference of those admits it */
    cublasLtMatmulHeuristicResult_t *r = &heuristicResultsArray[0];
    memset(r, 0, sizeof *r);
    r->algo.data[ALGO_MAGIC_SLOT] = ALGO_MAGIC;
    for (int i = 0; i < 4; i++)
        r->algo.data[ALGO_ALIGN_SLOT + i] = preference->min_align[i];
    r->algo.data[ALGO_WORKSPACE_SLOT] = 0;
    r->algo.data[ALGO_BIAS_ALIGN_SLOT] = epilogue_alignment(pb.op->bias);
    r->algo.data[ALGO_AUX_ALIGN_SLOT] = epilogue_alignment(pb.op->aux);
    r->workspaceSize = 0;
    r->state = CUBLAS_STATUS_SUCCESS;
    r->wavesCount = 1.0f;
    *returnAlgoCount = 1;
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- the product ---- */

/* An epilogue's pointer (set by its attribute): present, aligned to its elements, and as
 * aligned as it was when the heuristic chose the algorithm (slot: where that was kept). */
static cublasStatus_t check_epilogue_pointer(const char *who, const char *name, const char *attr, const void *p,
                                             uint64_t elem, const cublasLtMatmulAlgo_t *algo, int slot)
{
    if (!p)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: the epilogue has no %s (%s)", who, name, attr);
    if ((uintptr_t)p % elem)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: %s at %p is not aligned to its elements", who, name, p);
    if (algo && (uintptr_t)p % algo->data[slot])
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: %s at %p is less aligned than the heuristic was told "
                    "(%llu bytes: set %s before it)", who, name, p, (unsigned long long)algo->data[slot], attr);
    return CUBLAS_STATUS_SUCCESS;
}

/* The pointer checks of cublasLtMatmul: present, element-aligned, as aligned as the
 * algorithm was chosen for, and D overlapping no input but C itself (in place). */
static cublasStatus_t check_pointers(const char *who, const problem *pb, const void *const ptr[4], float beta,
                                     const cublasLtMatmulAlgo_t *algo)
{
    const cublasLtMatrixLayoutOpaque_t *const *l = pb->layout;
    bool empty_k = pb->k == 0, empty_d = pb->m == 0 || pb->n == 0;
    for (int i = 0; i < 4; i++) {
        bool needed = !empty_d && (i == 3 || (i == 2 ? beta != 0.0f : !empty_k));
        if (!ptr[i] && needed)
            return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: NULL %s", who, operand_name[i]);
        uintptr_t a = (uintptr_t)ptr[i];
        uint64_t want = type_size(l[i]->type);
        if (algo && algo->data[ALGO_ALIGN_SLOT + i] > want)
            want = algo->data[ALGO_ALIGN_SLOT + i];
        if (a % want && want == type_size(l[i]->type))
            return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: %s at %p is not aligned to its elements", who,
                        operand_name[i], ptr[i]);
        if (a % want)
            return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: %s at %p is not %llu-byte aligned, as the algorithm "
                        "was chosen for (MIN_ALIGNMENT_%s_BYTES)", who, operand_name[i], ptr[i],
                        (unsigned long long)want, operand_name[i]);
    }
    if (ptr[2] == ptr[3] && !layouts_equal(l[2], l[3]))
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: C is D (in place) but its layout differs from D's", who);
    uint64_t d_bytes = layout_extent(l[3]);
    for (int i = 0; i < 3; i++)
        if ((i < 2 || ptr[2] != ptr[3]) && overlap(ptr[3], d_bytes, ptr[i], layout_extent(l[i])))
            return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: D overlaps %s", who, operand_name[i]);
    cublasStatus_t st;
    if (pb->has_bias) {
        const void *bias = pb->op->bias;
        if ((st = check_epilogue_pointer(who, "bias", "BIAS_POINTER", bias, type_size(pb->bias_type), algo,
                                         ALGO_BIAS_ALIGN_SLOT)) != CUBLAS_STATUS_SUCCESS)
            return st;
        if (overlap(ptr[3], d_bytes, bias, pb->m * type_size(pb->bias_type)))
            return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: D overlaps the bias", who);
    }
    if (pb->gelu_aux || pb->dgelu) {
        const void *aux = pb->op->aux;
        if ((st = check_epilogue_pointer(who, "aux", "EPILOGUE_AUX_POINTER", aux, type_size(l[3]->type), algo,
                                         ALGO_AUX_ALIGN_SLOT)) != CUBLAS_STATUS_SUCCESS)
            return st;
        for (int i = 0; i < 4; i++)
            if ((i != 2 || beta != 0.0f) && overlap(aux, aux_extent(pb), ptr[i], layout_extent(l[i])))
                return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: the aux matrix overlaps %s", who, operand_name[i]);
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* GELU, tanh form, and its derivative. */
static const float GELU_K = 0.7978845608028654f;    /* sqrt(2 / pi) */
static float gelu(float x) { return 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x))); }
static float gelu_grad(float x)
{
    float t = tanhf(GELU_K * (x + 0.044715f * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
}

/* op(X) in floats, column after column: out[c op_rows + r] = op(X) (r, c), which is
 * X[r + c ld], or X[c + r ld] when transposed. Converted once, read contiguously after. */
static void op_columns(std::vector<float> &out, const void *x, const cublasLtMatrixLayoutOpaque_t *l,
                       bool transposed)
{
    uint64_t op_rows = transposed ? l->cols : l->rows, op_cols = transposed ? l->rows : l->cols;
    uint64_t ld = (uint64_t)l->ld;
    out.resize(op_rows * op_cols);
    for (uint64_t c = 0; c < op_cols; c++)
        for (uint64_t r = 0; r < op_rows; r++)
            out[c * op_rows + r] = load(x, l->type, transposed ? c + r * ld : r + c * ld);
}

/* The epilogue of column j of D, its sums in s: C is not read when beta is 0 (it need not
 * hold numbers then), and the bias comes after beta C as in cuBLASLt. */
static void finish_column(const problem *pb, uint64_t j, const float *s, float alpha, float beta, const void *C,
                          void *D)
{
    const cublasLtMatrixLayoutOpaque_t *lc = pb->layout[2], *ld = pb->layout[3];
    const void *bias = pb->has_bias ? pb->op->bias : NULL;
    uint64_t aux_at = j * (uint64_t)pb->op->aux_ld;
    for (uint64_t i = 0; i < pb->m; i++) {
        float v = alpha * s[i];
        if (beta != 0.0f)
            v += beta * load(C, lc->type, i + j * (uint64_t)lc->ld);
        if (bias)
            v += load(bias, pb->bias_type, i);
        if (pb->gelu_aux) {
            store(pb->op->aux, ld->type, aux_at + i, v);
            v = gelu(v);
        } else if (pb->dgelu) {
            v *= gelu_grad(load(pb->op->aux, ld->type, aux_at + i));
        }
        store(D, ld->type, i + j * (uint64_t)ld->ld, v);
    }
}

/* s_c[i] += a[i] b_c for four columns c at once. The sums share no memory (restrict), so
 * the compiler keeps them in vector registers: each element still adds its own products
 * one at a time, in k order, whatever the vector width. */
static void add_scaled4(uint64_t m, const float *__restrict a, float b0, float b1, float b2, float b3,
                        float *__restrict s0, float *__restrict s1, float *__restrict s2, float *__restrict s3)
{
    uint64_t i = 0;
    for (; i + 8 <= m; i += 8)    /* fixed-length groups: vectorized at -O2 by gcc too */
        for (uint64_t v = i; v < i + 8; v++) {
            s0[v] += a[v] * b0;
            s1[v] += a[v] * b1;
            s2[v] += a[v] * b2;
            s3[v] += a[v] * b3;
        }
    for (; i < m; i++) {
        s0[i] += a[i] * b0;
        s1[i] += a[i] * b1;
        s2[i] += a[i] * b2;
        s3[i] += a[i] * b3;
    }
}

static void add_scaled(uint64_t m, const float *__restrict a, float b, float *__restrict s)
{
    for (uint64_t i = 0; i < m; i++)
        s[i] += a[i] * b;
}

/* D = alpha op(A) op(B) + beta C [+ bias], four columns of D at a time. op(A) is held by
 * columns, so that a column of D is a sum of op(A)'s columns scaled by op(B)'s: each
 * element sums its k products in k order, the inner loop runs over contiguous memory, and
 * each column of op(A) read serves four columns of D. */
static void multiply(const problem *pb, float alpha, const void *A, const void *B, float beta, const void *C,
                     void *D)
{
    uint64_t m = pb->m, n = pb->n, k = pb->k;
    if (m == 0 || n == 0)
        return;
    std::vector<float> a_cols, b_cols, acc(4 * m);
    op_columns(a_cols, A, pb->layout[0], pb->op->trans_a == CUBLAS_OP_T);    /* k columns of m */
    op_columns(b_cols, B, pb->layout[1], pb->op->trans_b == CUBLAS_OP_T);    /* n columns of k */
    float *s = acc.data();
    for (uint64_t j = 0; j < n;) {
        uint64_t cols = n - j >= 4 ? 4 : 1;
        const float *b = b_cols.data() + j * k;
        for (uint64_t x = 0; x < cols * m; x++)
            s[x] = 0.0f;
        for (uint64_t p = 0; p < k; p++) {
            const float *a = a_cols.data() + p * m;
            if (cols == 4)
                add_scaled4(m, a, b[p], b[k + p], b[2 * k + p], b[3 * k + p], s, s + m, s + 2 * m, s + 3 * m);
            else
                add_scaled(m, a, b[p], s);
        }
        for (uint64_t c = 0; c < cols; c++)
            finish_column(pb, j + c, &s[c * m], alpha, beta, C, D);
        j += cols;
    }
}

extern "C" cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc,
                                         const void *alpha, const void *A, cublasLtMatrixLayout_t Adesc,
                                         const void *B, cublasLtMatrixLayout_t Bdesc, const void *beta,
                                         const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
                                         cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo,
                                         void *workspace, size_t workspaceSizeInBytes, cudaStream_t stream)
{
    static const char who[] = "cublasLtMatmul";
    (void)stream;    /* the emulator's launches are synchronous: so is this */
    if (!lightHandle)
        return fail(CUBLAS_STATUS_NOT_INITIALIZED, "%s: NULL handle", who);
    problem pb;
    cublasStatus_t st = check_problem(who, computeDesc, Adesc, Bdesc, Cdesc, Ddesc, &pb);
    if (st != CUBLAS_STATUS_SUCCESS)
        return st;
    if (!alpha || !beta)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: NULL %s", who, !alpha ? "alpha" : "beta");
    /* a NULL algo lets the library choose for these very pointers: nothing to hold them to */
    if (algo && algo->data[ALGO_MAGIC_SLOT] != ALGO_MAGIC)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: the algo does not come from cublasLtMatmulAlgoGetHeuristic",
                    who);
    if (!workspace && workspaceSizeInBytes)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: NULL workspace of %zu bytes", who, workspaceSizeInBytes);
    if ((uintptr_t)workspace % WORKSPACE_ALIGNMENT)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: workspace at %p is not 256-byte aligned", who, workspace);
    if (algo && workspaceSizeInBytes < algo->data[ALGO_WORKSPACE_SLOT])
        return fail(CUBLAS_STATUS_INVALID_VALUE, "%s: workspace of %zu bytes, the algo needs %llu", who,
                    workspaceSizeInBytes, (unsigned long long)algo->data[ALGO_WORKSPACE_SLOT]);
    /* the scale type is CUDA_R_32F and the pointer mode host: alpha and beta are floats */
    float alpha_f = *(const float *)alpha, beta_f = *(const float *)beta;
    const void *const ptr[4] = {A, B, C, D};
    if ((st = check_pointers(who, &pb, ptr, beta_f, algo)) != CUBLAS_STATUS_SUCCESS)
        return st;
    try {
        multiply(&pb, alpha_f, A, B, beta_f, C, D);
    } catch (const std::bad_alloc &) {
        return fail(CUBLAS_STATUS_ALLOC_FAILED, "%s: out of host memory for a %llu x %llu x %llu product", who,
                    (unsigned long long)pb.m, (unsigned long long)pb.n, (unsigned long long)pb.k);
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* What every file of the GPU backend shares: the check macros that turn a CUDA error into
 * the llm_error of the call (file, line and CUDA's text), bf16 helpers, launch sizes. */
#ifndef LLM_CUDA_COMMON_CUH
#define LLM_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef __nv_bfloat16 bf16;

/* Records a failed CUDA call in err; returns -1 so callers can `return cu_fail(...)`. */
int cu_fail(llm_error *err, cudaError_t e, const char *what, const char *file, int line);

/* Evaluates a CUDA runtime call; on failure sets err (in scope) and returns -1. */
#define CU_CHECK(call)                                                              \
    do {                                                                            \
        cudaError_t cu_e_ = (call);                                                 \
        if (cu_e_ != cudaSuccess)                                                   \
            return cu_fail(err, cu_e_, #call, __FILE__, __LINE__);                  \
    } while (0)

/* After a kernel launch: the launch's own error (bad configuration), not its completion. */
#define CU_LAUNCHED() CU_CHECK(cudaGetLastError())

/* The time of each stage of the passes on the GPU, with LLM_CUDA_PROFILE=1 (profile.cu):
 * begin and end bracket one stage (name: a string literal); collect reads the finished
 * stages after a synchronisation; report prints the table on stderr and frees the events. */
void llm_cu_prof_begin(const char *name);
void llm_cu_prof_end(void);
void llm_cu_prof_collect(void);
void llm_cu_prof_report(void);

static inline unsigned cu_blocks(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

__device__ __forceinline__ float bf(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 to_bf(float x) { return __float2bfloat16_rn(x); }

/* Eight bf16 in one 16-byte access, the widest a thread has: an eighth of the instructions
 * of element-wise copies. p must be 16-byte aligned; the device faults otherwise, and the
 * emulator (tests/cuda_emu) stops with a message. */
#ifndef LLM_CU_CHECK_ALIGNED16
#define LLM_CU_CHECK_ALIGNED16(p) ((void)0)
#endif
__device__ __forceinline__ uint4 load8(const bf16 *p)
{
    LLM_CU_CHECK_ALIGNED16(p);
    return *(const uint4 *)p;
}
__device__ __forceinline__ void store8(bf16 *p, uint4 v)
{
    LLM_CU_CHECK_ALIGNED16(p);
    *(uint4 *)p = v;
}
/* d (16 x 8, fp32) += a (16 x 16) b (16 x 8), bf16 operands: one warp-wide mma.sync, each
 * lane holding its elements in the layout the PTX ISA fixes for m16n8k16 (groupID g =
 * lane / 4, t = lane % 4): a's registers hold rows g, g + 8, g, g + 8 at columns 2t, 2t + 1
 * (+ 8 for the last two), b's hold rows 2t, 2t + 1 (+ 8 for the second) of column g, and
 * d's four are rows g, g, g + 8, g + 8 at columns 2t, 2t + 1. A register's lower half is
 * the element of lower index. The emulator (tests/cuda_emu) supplies its own. */
__device__ __forceinline__ void mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2])
{
#ifdef LLM_CU_MMA_M16N8K16
    LLM_CU_MMA_M16N8K16(d, a, b);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

/* Four 8 x 8 matrices of bf16 from shared memory in one warp-wide ldmatrix: lane l gives
 * the address of row l % 8 of matrix l / 8 (16 bytes, 16-byte aligned) and gets in r[i]
 * row l / 4, columns 2 (l % 4) and 2 (l % 4) + 1 of matrix i: the layout of mma_m16n8k16's
 * operands, one instruction where four 32-bit loads were. The _trans form gets column
 * l / 4, rows 2 (l % 4) and 2 (l % 4) + 1 instead: an operand read across the rows it is
 * stored in, with no transposed copy. The emulator supplies its own. */
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const bf16 *row)
{
#ifdef LLM_CU_LDMATRIX_X4
    LLM_CU_LDMATRIX_X4(r, row, false);
#else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"((unsigned)__cvta_generic_to_shared(row)));
#endif
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const bf16 *row)
{
#ifdef LLM_CU_LDMATRIX_X4
    LLM_CU_LDMATRIX_X4(r, row, true);
#else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"((unsigned)__cvta_generic_to_shared(row)));
#endif
}

/* Copies from global to shared memory that run while the thread goes on (cp.async, sm_80
 * on): bytes of src to dst, or zeros where valid is false (src must still be a readable
 * address). They land in groups: copy_async_commit closes the group of the copies issued
 * since the last one, copy_async_wait<n> returns once at most n groups are still in
 * flight. Other threads see the data after a barrier that follows the wait. The emulator
 * lands each copy at once or at the wait, at random, so that a read before the wait, or a
 * refill of a buffer with no barrier after its last reads, goes wrong there too. */
__device__ __forceinline__ void copy_async16(void *dst, const void *src, bool valid)
{
#ifdef LLM_CU_CP_ASYNC
    LLM_CU_CP_ASYNC(dst, src, 16, valid);
#else
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)),
                 "l"(src), "r"(valid ? 16 : 0)
                 : "memory");
#endif
}
__device__ __forceinline__ void copy_async4(void *dst, const void *src, bool valid)
{
#ifdef LLM_CU_CP_ASYNC
    LLM_CU_CP_ASYNC(dst, src, 4, valid);
#else
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)),
                 "l"(src), "r"(valid ? 4 : 0)
                 : "memory");
#endif
}
__device__ __forceinline__ void copy_async_commit(void)
{
#ifdef LLM_CU_CP_ASYNC_COMMIT
    LLM_CU_CP_ASYNC_COMMIT();
#else
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N> __device__ __forceinline__ void copy_async_wait(void)
{
#ifdef LLM_CU_CP_ASYNC_WAIT
    LLM_CU_CP_ASYNC_WAIT(N);
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

/* 2^x in one instruction of the special-function unit (ex2.approx.ftz: within 2 ulp, and
 * results below FLT_MIN flushed to zero), what exp2f becomes under --use_fast_math. exp2f
 * itself spends several more instructions keeping subnormal results, which a softmax,
 * whose exponents are at most 0, has no use for; in attention's inner loops those
 * instructions compete with the tensor cores' for issue slots. */
__device__ __forceinline__ float exp2_fast(float x)
{
#ifdef LLM_CU_EX2_APPROX
    return LLM_CU_EX2_APPROX(x);
#else
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
#endif
}

/* Sum and max over a warp; every lane gets the result. */
__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif

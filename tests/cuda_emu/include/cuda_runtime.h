/* The CUDA runtime and device builtins, emulated on the CPU (tests/cuda_emu/runtime.cc):
 * enough of them for the .cu files of lib/cuda to build with a host C++ compiler and run its kernels,
 * one fiber per CUDA thread, so the GPU code is tested where there is no GPU. Device memory
 * is host memory; kernels run when launched (a launch is synchronous).
 *
 * The emulator is strict where the hardware's behaviour is undefined: a warp-synchronous
 * call (__shfl_*_sync, __syncwarp, mma.sync, ldmatrix) whose mask names an exited lane, a
 * __syncthreads that not every live thread reaches, a launch outside the limits of an
 * sm_90 device, dynamic shared memory over the kernel's limit, a copy that runs off its
 * allocation, a 16-byte access (load8/store8 of lib/cuda/cuda_common.cuh) off a 16-byte
 * boundary, an ldmatrix or cp.async outside shared memory or off its alignment, and a
 * thread that ends with cp.async copies it never waited for, stop the program with a
 * message that names the kernel or the call. Where timing is free on the device, the
 * emulator picks at random (seeded, so runs repeat): the order threads run in, whether a
 * warp through a warp barrier runs ahead of the block, when a cp.async lands. */
#ifndef LLM_CUDA_EMU_CUDA_RUNTIME_H
#define LLM_CUDA_EMU_CUDA_RUNTIME_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "library_types.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
/* Blocks of a launch may run at once on several host threads, one block per host thread
 * at a time: shared memory is a per-host-thread static. */
#define __shared__ static thread_local

struct uint3 {
    unsigned x, y, z;
};
struct __align__(16) uint4 {
    unsigned x, y, z, w;
};
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
} cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
};

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    size_t sharedMemPerBlockOptin;
    int major, minor;
    int multiProcessorCount;
    int maxThreadsPerBlock;
    int warpSize;
};

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMalloc(void **p, size_t n);
template <typename T> cudaError_t cudaMalloc(T **p, size_t n) { return cudaMalloc((void **)p, n); }
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind);
cudaError_t cudaMemset(void *p, int value, size_t n);
cudaError_t cudaDeviceSynchronize(void);
/* Events hold the host's clock when recorded: launches are synchronous here, so an event
 * recorded after a kernel is recorded after it finished. */
cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorString(cudaError_t e);

namespace emu {

/* The current CUDA thread's coordinates: set by the scheduler before it resumes a fiber. */
extern thread_local uint3 thread_idx, block_idx;
extern thread_local dim3 block_dim, grid_dim;

struct launch_config {
    dim3 grid, block;
    size_t shared;
};

/* Runs body once for every thread of every block of cfg; name is the kernel's, for errors. */
void run_grid(const void *kernel, const char *name, const launch_config &cfg, const std::function<void()> &body);
cudaError_t set_func_attribute(const void *kernel, cudaFuncAttribute attr, int value);

/* Device-side services of the current CUDA thread. */
void *dynamic_shared(void);
void syncthreads(void);
void warp_barrier(unsigned mask, const char *what);
uint64_t warp_exchange(unsigned mask, uint64_t value, int src_lane, const char *what);
int lane_id(void);
int warp_id(void);
float *warp_stage(void);    /* 3 x 256 floats of the warp's current bank, for mma.sync's operands */
[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Stops the program unless p is 16-byte aligned, as the device would fault. */
void check_aligned16(const void *p, const char *what);
/* mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 of the whole warp: d (16 x 8) +=
 * a (16 x 16) b (16 x 8), each lane holding its part of each operand in the fragment
 * layout the PTX ISA gives for that shape (lib/cuda/cuda_common.cuh, mma_m16n8k16). */
void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2]);
/* ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16 of the whole warp: each lane gives the
 * shared-memory address of one 16-byte row and gets its four registers (cuda_common.cuh,
 * ldmatrix_x4). */
void ldmatrix_x4(uint32_t r[4], const void *row, bool trans);
/* ex2.approx.ftz.f32: 2^x with results below FLT_MIN flushed to zero, as the device does
 * (its result is within 2 ulp of exp2f's where that is normal). */
static inline float ex2_approx_ftz(float x)
{
    float y = exp2f(x);
    return y < FLT_MIN ? 0.0f : y;
}
/* cp.async: the copy lands at once or waits in the thread's list until a copy_async_wait
 * lets fewer groups than it be in flight, at random; bytes past src_bytes are zeros. A
 * thread that ends with copies still waiting stops the program. */
void copy_async(void *dst, const void *src, int bytes, int src_bytes);
void copy_async_commit(void);
void copy_async_wait(int groups_in_flight);

/* `kernel<<<grid, block, shared, stream>>>(args)` becomes `launcher(grid, block, shared,
 * stream)(kernel, "kernel", args)` (tests/cuda_emu/cu2cc.py). */
struct launcher {
    launch_config cfg;
    launcher(dim3 grid, dim3 block, size_t shared = 0, cudaStream_t stream = 0) : cfg{grid, block, shared}
    {
        (void)stream;
    }
    template <typename... P, typename... A> void operator()(void (*kernel)(P...), const char *name, A &&...args)
    {
        static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
        /* the arguments converted once to the parameters' types, as the launch does */
        std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
        run_grid(reinterpret_cast<const void *>(kernel), name, cfg, [&] { std::apply(kernel, params); });
    }
};

template <typename T> T shuffle(unsigned mask, T v, int src_lane, const char *what)
{
    static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable<T>::value, "shuffle of a large type");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = warp_exchange(mask, bits, src_lane, what);
    T out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

} // namespace emu

#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)
static const int warpSize = 32;

template <typename F> cudaError_t cudaFuncSetAttribute(F *kernel, cudaFuncAttribute attr, int value)
{
    return emu::set_func_attribute(reinterpret_cast<const void *>(kernel), attr, value);
}

#define LLM_CU_CHECK_ALIGNED16(p) ::emu::check_aligned16(p, #p)
#define LLM_CU_MMA_M16N8K16(d, a, b) ::emu::mma_m16n8k16_bf16(d, a, b)
#define LLM_CU_LDMATRIX_X4(r, row, trans) ::emu::ldmatrix_x4(r, row, trans)
#define LLM_CU_EX2_APPROX(x) ::emu::ex2_approx_ftz(x)
#define LLM_CU_CP_ASYNC(dst, src, bytes, valid) ::emu::copy_async(dst, src, bytes, (valid) ? (bytes) : 0)
#define LLM_CU_CP_ASYNC_COMMIT() ::emu::copy_async_commit()
#define LLM_CU_CP_ASYNC_WAIT(n) ::emu::copy_async_wait(n)

static inline void __syncthreads(void) { emu::syncthreads(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::warp_barrier(mask, "__syncwarp"); }

/* Lanes outside [base, base + width) of the caller's segment read the caller's own value
 * for xor, and wrap for an indexed source, as on the device. */
template <typename T> T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32)
{
    int lane = emu::lane_id(), base = lane & ~(width - 1);
    return emu::shuffle(mask, v, base + (src_lane & (width - 1)), "__shfl_sync");
}
template <typename T> T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    int lane = emu::lane_id(), base = lane & ~(width - 1), src = lane ^ lane_mask;
    return emu::shuffle(mask, v, src < base + width ? src : lane, "__shfl_xor_sync");
}
template <typename T> T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    int lane = emu::lane_id(), base = lane & ~(width - 1), src = lane + (int)delta;
    return emu::shuffle(mask, v, src < base + width ? src : lane, "__shfl_down_sync");
}

static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
/* Rounded products never fused into an add: the host's, built with -ffp-contract=off. */
static inline float __fmul_rn(float a, float b) { return a * b; }
/* The device's integer min and max, as lib/cuda uses them. */
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }

#endif

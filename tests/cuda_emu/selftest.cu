/* The CUDA emulator's own test: the device semantics lib/cuda relies on (indices, barriers,
 * shuffles, mma.sync, ldmatrix, cp.async, shared memory, launch limits, fresh memory) come
 * out as on a GPU, and the mistakes it exists to catch are caught: a race between lanes or
 * between warps (a warp runs ahead past its own barrier), a deadlock, a shuffle with an
 * exited lane, a write past an allocation, a misaligned 16-byte access (load8 of
 * lib/cuda/cuda_common.cuh), a cp.async never waited for. Written in CUDA and built
 * through cu2cc.py like lib/cuda; each mistake runs in a child process that must die with
 * the emulator's message. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "cuda_common.cuh"

static int failures;

static void check(bool ok, const char *name, const char *detail)
{
    printf("%s %s\n", ok ? "ok" : "FAIL", name);
    if (!ok) {
        printf("  %s\n", detail);
        failures++;
    }
}

template <typename T> static T *device(size_t n)
{
    void *p = NULL;
    if (cudaMalloc(&p, n * sizeof(T)) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc failed\n");
        exit(1);
    }
    return (T *)p;
}

/* ---- semantics -------------------------------------------------------------------------- */

__global__ static void ids_kernel(int *out, int n)
{
    int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int id = block * blockDim.x * blockDim.y * blockDim.z + thread;
    if (id < n)
        out[id] += id + 1;
}

static void test_indices(void)
{
    const int n = 3 * 2 * 2 * 64;
    int *d = device<int>(n), h[n];
    cudaMemset(d, 0, n * sizeof(int));
    ids_kernel<<<dim3(3, 2, 2), dim3(8, 4, 2)>>>(d, n);
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    bool ok = cudaGetLastError() == cudaSuccess;
    for (int i = 0; i < n; i++)
        ok = ok && h[i] == i + 1;    /* every thread once, none twice */
    check(ok, "indices-3d", "some thread of a 3-D grid of 3-D blocks ran twice or not at all");
    cudaFree(d);
}

__global__ static void shuffle_kernel(int *out)
{
    int lane = threadIdx.x % 32;
    int sum = lane;
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    int from7 = __shfl_sync(0xffffffffu, lane * 10, 7);
    int half = __shfl_xor_sync(0xffffffffu, lane, 8, 16);       /* within 16-lane segments */
    int wrap = __shfl_sync(0xffffffffu, lane, 17, 16);          /* 17 % 16 = 1 of each segment */
    int down = __shfl_down_sync(0xffffffffu, lane, 4);
    out[threadIdx.x * 5 + 0] = sum;
    out[threadIdx.x * 5 + 1] = from7;
    out[threadIdx.x * 5 + 2] = half;
    out[threadIdx.x * 5 + 3] = wrap;
    out[threadIdx.x * 5 + 4] = down;
}

static void test_shuffles(void)
{
    int *d = device<int>(64 * 5), h[64 * 5];
    shuffle_kernel<<<1, 64>>>(d);
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    bool ok = true;
    for (int t = 0; t < 64; t++) {
        int lane = t % 32;
        ok = ok && h[t * 5] == 496 && h[t * 5 + 1] == 70 && h[t * 5 + 2] == (lane ^ 8) &&
             h[t * 5 + 3] == (lane & ~15) + 1 && h[t * 5 + 4] == (lane + 4 < 32 ? lane + 4 : lane);
    }
    check(ok, "shuffles", "xor, indexed, width 16 or down shuffles gave a wrong lane's value");
    cudaFree(d);
}

__global__ static void block_sum_kernel(float *out, const float *in)
{
    __shared__ float part[8];
    int t = threadIdx.x + blockDim.x * threadIdx.y, lane = t % 32, warp = t / 32;
    float v = in[blockIdx.x * 256 + t];
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    if (t == 0) {
        float s = 0.0f;
        for (int w = 0; w < 8; w++)
            s += part[w];
        out[blockIdx.x] = s;
    }
}

static void test_block_sum(void)
{
    float h_in[4 * 256], h_out[4];
    for (int i = 0; i < 4 * 256; i++)
        h_in[i] = (float)(i % 7);
    float *in = device<float>(4 * 256), *out = device<float>(4);
    cudaMemcpy(in, h_in, sizeof h_in, cudaMemcpyHostToDevice);
    block_sum_kernel<<<4, dim3(32, 8)>>>(out, in);
    cudaMemcpy(h_out, out, sizeof h_out, cudaMemcpyDeviceToHost);
    bool ok = true;
    for (int b = 0; b < 4; b++) {
        float want = 0.0f;
        for (int i = 0; i < 256; i++)
            want += h_in[b * 256 + i];
        ok = ok && h_out[b] == want;
    }
    check(ok, "block-sum", "a reduction over 8 warps through shared memory and __syncthreads went wrong");
    cudaFree(in);
    cudaFree(out);
}

/* d (16 x 8) += a (16 x 16) b (16 x 8), all row-major in memory, each lane taking its
 * elements where the PTX ISA's formulas for mma.m16n8k16 put them, element by element
 * (lib/cuda packs them two at a time from shared memory instead). */
__global__ static void mma_kernel(float *d, const __nv_bfloat16 *a, const __nv_bfloat16 *b)
{
    int group = threadIdx.x >> 2, tig = threadIdx.x % 4;
    __nv_bfloat16 ea[8], eb[4];
    float ed[4];
    for (int i = 0; i < 8; i++) {
        int row = (i < 2 || (i >= 4 && i < 6)) ? group : group + 8;
        int col = tig * 2 + (i & 1) + (i >= 4 ? 8 : 0);
        ea[i] = a[row * 16 + col];
    }
    for (int i = 0; i < 4; i++) {
        int row = tig * 2 + (i & 1) + (i >= 2 ? 8 : 0);
        eb[i] = b[row * 8 + group];
    }
    for (int i = 0; i < 4; i++)
        ed[i] = d[(i < 2 ? group : group + 8) * 8 + tig * 2 + (i & 1)];
    uint32_t ra[4], rb[2];
    memcpy(ra, ea, sizeof ra);    /* elements low to high: the lower index in the lower half */
    memcpy(rb, eb, sizeof rb);
    mma_m16n8k16(ed, ra, rb);
    for (int i = 0; i < 4; i++)
        d[(i < 2 ? group : group + 8) * 8 + tig * 2 + (i & 1)] = ed[i];
}

static void test_mma(void)
{
    __nv_bfloat16 ha[256], hb[128];
    float hd[128], want[128];
    for (int i = 0; i < 256; i++)
        ha[i] = __float2bfloat16_rn((float)(i % 13) - 6.0f);
    for (int i = 0; i < 128; i++) {
        hb[i] = __float2bfloat16_rn((float)(i % 7) * 0.5f - 1.0f);
        hd[i] = (float)i;
    }
    for (int r = 0; r < 16; r++)
        for (int col = 0; col < 8; col++) {
            float s = hd[r * 8 + col];
            for (int k = 0; k < 16; k++)
                s += (float)ha[r * 16 + k] * (float)hb[k * 8 + col];
            want[r * 8 + col] = s;
        }
    __nv_bfloat16 *a = device<__nv_bfloat16>(256), *b = device<__nv_bfloat16>(128);
    float *d = device<float>(128);
    cudaMemcpy(a, ha, sizeof ha, cudaMemcpyHostToDevice);
    cudaMemcpy(b, hb, sizeof hb, cudaMemcpyHostToDevice);
    cudaMemcpy(d, hd, sizeof hd, cudaMemcpyHostToDevice);
    mma_kernel<<<1, 32>>>(d, a, b);
    cudaMemcpy(hd, d, sizeof hd, cudaMemcpyDeviceToHost);
    check(memcmp(hd, want, sizeof want) == 0, "mma.sync.m16n8k16", "a 16 x 8 x 16 product differs from the host's");
    cudaFree(a);
    cudaFree(b);
    cudaFree(d);
}

/* Each lane reads a 16 x 16 matrix of bf16 (row-major in shared memory, rows 24 apart)
 * with ldmatrix.x4, plain and transposed, pointing at rows as mma's a operand wants them;
 * out gets every lane's registers, element by element. */
__global__ static void ldmatrix_kernel(uint16_t *out, const uint16_t *m)
{
    extern __shared__ __align__(16) uint16_t tile[];
    int lane = threadIdx.x;
    for (int i = lane; i < 256; i += 32)
        tile[i / 16 * 24 + i % 16] = m[i];
    __syncwarp();
    uint32_t r[4], t[4];
    const __nv_bfloat16 *row = (const __nv_bfloat16 *)tile + (lane % 16) * 24 + lane / 16 * 8;
    ldmatrix_x4(r, row);
    ldmatrix_x4_trans(t, row);
    for (int i = 0; i < 4; i++) {
        out[(lane * 4 + i) * 2] = (uint16_t)r[i], out[(lane * 4 + i) * 2 + 1] = (uint16_t)(r[i] >> 16);
        out[256 + (lane * 4 + i) * 2] = (uint16_t)t[i], out[256 + (lane * 4 + i) * 2 + 1] = (uint16_t)(t[i] >> 16);
    }
}

static void test_ldmatrix(void)
{
    uint16_t hm[256], got[512];
    for (int i = 0; i < 256; i++)
        hm[i] = (uint16_t)(i * 7 + 3);
    uint16_t *m = device<uint16_t>(256), *out = device<uint16_t>(512);
    cudaMemcpy(m, hm, sizeof hm, cudaMemcpyHostToDevice);
    ldmatrix_kernel<<<1, 32, 16 * 24 * 2>>>(out, m);
    cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost);
    bool plain = true, trans = true;
    for (int lane = 0; lane < 32; lane++)    /* register i: matrix i, rows (i & 1) 8, columns (i >> 1) 8 on */
        for (int i = 0; i < 4; i++)
            for (int h = 0; h < 2; h++) {
                int r0 = (i & 1) * 8, c0 = (i >> 1) * 8, g = lane / 4, t = lane % 4 * 2 + h;
                plain = plain && got[(lane * 4 + i) * 2 + h] == hm[(r0 + g) * 16 + c0 + t];
                trans = trans && got[256 + (lane * 4 + i) * 2 + h] == hm[(r0 + t) * 16 + c0 + g];
            }
    check(plain, "ldmatrix.x4", "a lane's registers are not row lane / 4, columns 2 (lane % 4) on");
    check(trans, "ldmatrix.x4.trans", "a lane's registers are not column lane / 4, rows 2 (lane % 4) on");
    cudaFree(m);
    cudaFree(out);
}

/* cp.async: 16 bytes of src (or zeros) into shared memory per thread, in two groups; what
 * the thread reads before and after each wait goes to out. */
__global__ static void copy_async_kernel(uint32_t *out, const uint32_t *src)
{
    extern __shared__ __align__(16) uint32_t sh[];
    int i = threadIdx.x;
    sh[8 * i] = sh[8 * i + 4] = 0xdeadbeefu;
    copy_async16(sh + 8 * i, src + 4 * i, true);
    copy_async_commit();
    copy_async16(sh + 8 * i + 4, src, false);
    copy_async_commit();
    out[3 * i] = sh[8 * i];    /* before any wait: the old word or the new */
    copy_async_wait<1>();
    out[3 * i + 1] = sh[8 * i];    /* the first group has landed */
    copy_async_wait<0>();
    out[3 * i + 2] = sh[8 * i + 4 + 3];    /* zeros, src_size 0 */
}

static void test_copy_async(void)
{
    uint32_t hs[128], got[96];
    for (int i = 0; i < 128; i++)
        hs[i] = (uint32_t)i * 2654435761u;
    uint32_t *src = device<uint32_t>(128), *out = device<uint32_t>(96);
    cudaMemcpy(src, hs, sizeof hs, cudaMemcpyHostToDevice);
    copy_async_kernel<<<1, 32, 32 * 32>>>(out, src);
    cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost);
    bool ok = cudaGetLastError() == cudaSuccess;
    int early = 0, late = 0;
    for (int i = 0; i < 32; i++) {
        early += got[3 * i] == hs[4 * i];
        late += got[3 * i] == 0xdeadbeefu;
        ok = ok && got[3 * i + 1] == hs[4 * i] && got[3 * i + 2] == 0;
    }
    check(ok && early + late == 32, "cp.async", "a copy had not landed by its wait_group, or src_size 0 did not "
                                                "write zeros");
    check(early > 0 && late > 0, "cp.async-lands-early-or-late",
          "of 32 copies, not some landed before the wait and some at it");
    cudaFree(src);
    cudaFree(out);
}

__global__ static void big_shared_kernel(float *out)
{
    extern __shared__ float sh[];
    sh[threadIdx.x * 512] = (float)threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = sh[(31 - threadIdx.x) * 512];
}

static void test_launch_limits(void)
{
    float *d = device<float>(32), h[32];
    big_shared_kernel<<<1, 32, 64 << 10>>>(d);
    bool refused = cudaGetLastError() == cudaErrorInvalidValue;
    cudaFuncSetAttribute(big_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 << 10);
    big_shared_kernel<<<1, 32, 64 << 10>>>(d);
    bool ran = cudaGetLastError() == cudaSuccess;
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    for (int i = 0; i < 32; i++)
        ran = ran && h[i] == (float)(31 - i);
    check(refused && ran, "dynamic-shared-limit", "64 KiB of dynamic shared memory: not refused by default, or "
                                                  "not allowed once raised");
    ids_kernel<<<1, 2048>>>((int *)d, 0);
    check(cudaGetLastError() == cudaErrorInvalidConfiguration && cudaGetLastError() == cudaSuccess,
          "bad-block-size", "a block of 2048 threads was not an invalid configuration (read once)");
    cudaFree(d);
}

static void test_memory(void)
{
    unsigned char *d = device<unsigned char>(1000), h[1000];
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    bool nan = true;
    for (int i = 0; i < 1000; i++)
        nan = nan && h[i] == 0xff;
    check(nan, "fresh-memory-is-nan", "cudaMalloc's memory is not filled with 0xff");
    check(cudaMemcpy(h, d + 1, sizeof h, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue &&
              cudaMemcpy(d, h, sizeof h, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
          "copy-bounds", "a copy past an allocation, or from host memory as device memory, was allowed");
    cudaGetLastError();
    cudaFree(d);
}

/* ---- mistakes it must catch ------------------------------------------------------------- */

/* Each lane reads its neighbour's value from shared memory, with or without the barrier. */
__global__ static void neighbour_kernel(int *out, int with_barrier)
{
    __shared__ int v[32];
    v[threadIdx.x] = (int)threadIdx.x * 3;
    if (with_barrier)
        __syncwarp();
    out[threadIdx.x] = v[(threadIdx.x + 1) % 32];
}

static void test_race_caught(void)
{
    int *d = device<int>(32), h[32];
    int wrong[2] = {0, 0};
    for (int with = 0; with <= 1; with++) {
        neighbour_kernel<<<1, 32>>>(d, with);
        cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
        for (int i = 0; i < 32; i++)
            wrong[with] += h[i] != (i + 1) % 32 * 3;
    }
    check(wrong[0] > 0 && wrong[1] == 0, "race-caught",
          "the shuffled thread order did not expose a read of another lane's write without __syncwarp");
    cudaFree(d);
}

/* Each thread reads the value of its lane in the other warp, after __syncthreads or after
 * only __syncwarp, which orders nothing between warps. */
__global__ static void other_warp_kernel(int *out, int with_barrier)
{
    extern __shared__ int v[];
    v[threadIdx.x] = (int)threadIdx.x * 3;
    if (with_barrier)
        __syncthreads();
    else
        __syncwarp();
    out[blockIdx.x * 64 + threadIdx.x] = v[(threadIdx.x + 32) % 64];
}

static void test_race_between_warps_caught(void)
{
    int *d = device<int>(8 * 64), h[8 * 64];
    int wrong[2] = {0, 0};
    for (int with = 0; with <= 1; with++) {
        other_warp_kernel<<<8, 64, 64 * sizeof(int)>>>(d, with);
        cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
        for (int i = 0; i < 8 * 64; i++)
            wrong[with] += h[i] != (i % 64 + 32) % 64 * 3;
    }
    check(wrong[0] > 0 && wrong[1] == 0, "race-between-warps-caught",
          "a warp through __syncwarp never ran ahead of the other warp's writes");
    cudaFree(d);
}

__global__ static void deadlock_kernel(void)
{
    if (threadIdx.x < 16)
        __syncwarp();
    else
        __syncthreads();
}

__global__ static void exited_lane_kernel(int *out)
{
    if (threadIdx.x >= 16)
        return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1);
}

__global__ static void past_end_kernel(float *p, int n) { p[n + threadIdx.x] = 1.0f; }

__global__ static void misaligned_vector_kernel(const __nv_bfloat16 *a, __nv_bfloat16 *out) { store8(out, load8(a + 4)); }

/* Runs what() in a child that must die of `sig` with `message` in its stderr. */
static void expect_death(const char *name, void (*what)(void), int sig, const char *message)
{
    char path[] = "/tmp/llm-emu-selftest.XXXXXX";
    int fd = mkstemp(path);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 2);
        alarm(20);    /* a hang is a failure too */
        what();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char err[4096] = "";
    ssize_t got = pread(fd, err, sizeof err - 1, 0);
    err[got > 0 ? got : 0] = '\0';
    close(fd);
    unlink(path);
    bool ok = WIFSIGNALED(status) && WTERMSIG(status) == sig && (!message || strstr(err, message));
    char detail[4300];
    snprintf(detail, sizeof detail, "wanted signal %d%s%s; got status 0x%x, stderr: %s", sig,
             message ? " and " : "", message ? message : "", status, err);
    check(ok, name, detail);
}

static void run_deadlock(void) { deadlock_kernel<<<1, 64>>>(); }
static void run_exited_lane(void) { exited_lane_kernel<<<1, 32>>>(device<int>(32)); }
static void run_past_end(void) { past_end_kernel<<<1, 32>>>(device<float>(1024), 1024); }
/* 32 copies, so that some are still waiting whichever way each lands */
__global__ static void unwaited_copy_kernel(const float *src)
{
    extern __shared__ __align__(16) float sh[];
    for (int i = 0; i < 32; i++)
        copy_async16(sh + 4 * i, src + 4 * i, true);
    copy_async_commit();
}
static void run_unwaited_copy(void) { unwaited_copy_kernel<<<1, 1, 512>>>(device<float>(128)); }
static void run_misaligned_vector(void)
{
    misaligned_vector_kernel<<<1, 1>>>(device<__nv_bfloat16>(64), device<__nv_bfloat16>(64));
}

int main(void)
{
    /* one host thread: the children of fork() have no helper threads */
    setenv("LLM_CUDA_EMU_THREADS", "1", 1);
    test_indices();
    test_shuffles();
    test_block_sum();
    test_mma();
    test_ldmatrix();
    test_copy_async();
    test_launch_limits();
    test_memory();
    test_race_caught();
    test_race_between_warps_caught();
    expect_death("deadlock-caught", run_deadlock, SIGABRT, "deadlock");
    expect_death("exited-lane-caught", run_exited_lane, SIGABRT, "has exited");
    expect_death("write-past-allocation-caught", run_past_end, SIGSEGV, NULL);
    expect_death("misaligned-16-byte-access-caught", run_misaligned_vector, SIGABRT, "off a 16-byte boundary");
    expect_death("unwaited-cp.async-caught", run_unwaited_copy, SIGABRT, "never waited for");
    return failures ? 1 : 0;
}

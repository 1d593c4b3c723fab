/* The CUDA emulator's runtime (see include/cuda_runtime.h): device memory, the runtime
 * calls, and kernel launches that run every CUDA thread of a block as a fiber on one host
 * thread, switching at __syncthreads and the warp-synchronous calls. Blocks of a launch
 * are spread over host threads (LLM_CUDA_EMU_THREADS, default the CPU count, at most 16).
 *
 * Environment: LLM_CUDA_EMU_NO_DEVICE makes cudaGetDeviceCount fail (the no-GPU paths);
 * LLM_CUDA_EMU_MEMORY_MIB sets the device's memory (default 8192). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "cuda_runtime.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>    /* tells valgrind the fiber stacks are stacks; free outside it */
#else
#define VALGRIND_STACK_REGISTER(start, end) 0
#endif

#if !defined(__x86_64__)
#error "the CUDA emulator switches fibers with x86-64 code"
#endif

namespace emu {

thread_local uint3 thread_idx, block_idx;
thread_local dim3 block_dim, grid_dim;

[[noreturn]] void fail(const char *fmt, ...);

/* ---- the device ------------------------------------------------------------------------- */

enum {
    MAX_THREADS = 1024,
    WARPS = MAX_THREADS / 32,
    DEFAULT_SHARED = 48 << 10,    /* dynamic shared memory a kernel gets unless raised */
    OPTIN_SHARED = 227 << 10,     /* the most it can be raised to on sm_90 */
    SM_COUNT = 132,
};

static size_t device_memory(void)
{
    const char *s = getenv("LLM_CUDA_EMU_MEMORY_MIB");
    long mib = s && *s ? atol(s) : 8192;
    return (size_t)(mib > 0 ? mib : 8192) << 20;
}

static std::mutex state_lock;                 /* what follows, shared by the host threads */
static cudaError_t last_error = cudaSuccess;
static std::map<uintptr_t, size_t> allocations;    /* start -> bytes asked for */
static size_t allocated;
static std::map<const void *, int> shared_limit;   /* kernel -> dynamic shared bytes allowed */

static cudaError_t record(cudaError_t e)
{
    if (e != cudaSuccess) {
        std::lock_guard<std::mutex> g(state_lock);
        last_error = e;
    }
    return e;
}

/* ---- fibers ----------------------------------------------------------------------------- */

/* Saves the callee-saved registers on the current stack, stores its pointer in *from and
 * resumes the stack `to` (a fiber's or the scheduler's). */
extern "C" void emu_switch(void **from, void *to);
asm(".text\n"
    ".globl emu_switch\n"
    ".type emu_switch,@function\n"
    "emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size emu_switch,.-emu_switch\n");

enum fiber_state { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, EXITED };

/* A cp.async not yet performed: it belongs to the group-th group the thread commits. */
struct async_copy {
    void *dst;
    const void *src;
    int bytes, src_bytes;
    unsigned group;
};

struct fiber {
    void *sp;
    fiber_state state;
    unsigned mask;    /* at a warp barrier: the lanes it waits for */
    const char *what;
    uint3 idx;
    std::vector<async_copy> copies;
    unsigned committed;    /* cp.async groups committed */
};

enum { STACK_BYTES = 256 << 10, GUARD_BYTES = 4096 };

/* One host thread's share of a launch: its fibers, their stacks and the block's memory. */
struct worker {
    void *sched_sp;
    fiber fibers[MAX_THREADS];
    char *stacks;
    int n_threads;
    fiber *cur;
    const std::function<void()> *body;
    const char *kernel;
    unsigned char *shared;    /* dynamic shared memory, OPTIN_SHARED bytes */
    /* Two banks per warp, flipped each time the warp passes a barrier: a lane that has read
     * a shuffle's values may write the next one's while slower lanes still read. */
    uint64_t exchange[WARPS][2][32];
    float stage[WARPS][2][3 * 256];
    unsigned char bank[WARPS] = {};
    uint64_t copy_rng;    /* when each cp.async lands (copy_async) */

    worker()
    {
        size_t per = STACK_BYTES + GUARD_BYTES, total = per * MAX_THREADS;
        void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            fail("no memory for fiber stacks: %s", strerror(errno));
        stacks = (char *)m;
        for (int i = 0; i < MAX_THREADS; i++) {    /* a stack overflow faults, not corrupts */
            mprotect(stacks + i * per, GUARD_BYTES, PROT_NONE);
            (void)VALGRIND_STACK_REGISTER(stacks + i * per + GUARD_BYTES, stacks + (i + 1) * per);
        }
        shared = (unsigned char *)aligned_alloc(1024, OPTIN_SHARED);
    }
    ~worker()
    {
        munmap(stacks, (size_t)(STACK_BYTES + GUARD_BYTES) * MAX_THREADS);
        free(shared);
    }
};

static thread_local worker *self;

static worker *this_worker(void)
{
    if (!self)
        self = new worker;    /* a helper's is deleted when it ends; the launcher's lives on */
    return self;
}

[[noreturn]] static void fiber_main(void)
{
    worker *w = self;
    (*w->body)();
    if (!w->cur->copies.empty())
        fail("kernel %s: a thread ended with %zu cp.async copies it never waited for", w->kernel,
             w->cur->copies.size());
    w->cur->state = EXITED;
    emu_switch(&w->cur->sp, w->sched_sp);
    __builtin_unreachable();
}

static void fiber_start(worker *w, int i)
{
    /* the stack as emu_switch leaves it: six saved registers, then fiber_main as the return
     * address, with the stack 16-byte aligned at the call as the ABI wants */
    char *top = w->stacks + (size_t)(i + 1) * (STACK_BYTES + GUARD_BYTES);
    /* tops at the same offset in a page would share a handful of cache sets */
    void **sp = (void **)(top - 64 - (i % 61) * 64);
    memset(sp, 0, 64);
    sp[6] = (void *)fiber_main;
    w->fibers[i].sp = sp;
    w->fibers[i].state = RUNNABLE;
    w->fibers[i].copies.clear();
    w->fibers[i].committed = 0;
}

static void park(fiber_state why, unsigned mask, const char *what)
{
    worker *w = self;
    if (!w || !w->cur)
        fail("%s called outside a kernel", what);
    w->cur->state = why;
    w->cur->mask = mask;
    w->cur->what = what;
    emu_switch(&w->cur->sp, w->sched_sp);
}

static int linear_id(const uint3 &t) { return (int)(t.x + block_dim.x * (t.y + block_dim.y * t.z)); }

int lane_id(void) { return linear_id(thread_idx) % 32; }
int warp_id(void) { return linear_id(thread_idx) / 32; }
float *warp_stage(void) { return self->stage[warp_id()][self->bank[warp_id()]]; }

void syncthreads(void) { park(AT_BLOCK_BARRIER, 0, "__syncthreads"); }

void check_aligned16(const void *p, const char *what)
{
    if ((uintptr_t)p % 16)
        fail("kernel %s: a 16-byte access to %s at %p, off a 16-byte boundary (the device faults: misaligned "
             "address)", self && self->kernel ? self->kernel : "?", what, p);
}

/* The element of a register holding two bf16: the lower index in the lower half. */
static float bf16_half(uint32_t reg, int upper)
{
    uint32_t u = (upper ? reg >> 16 : reg & 0xffffu) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Each lane puts its elements of a and b where the PTX ISA's layout places them (groupID =
 * lane / 4, threadID_in_group = lane % 4), then computes its own four of d from the whole
 * warp's operands. */
void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2])
{
    float *sa = warp_stage(), *sb = sa + 16 * 16;    /* a row-major 16 x 16, b row-major 16 x 8 */
    int lane = lane_id(), group = lane / 4, tig = lane % 4;
    for (int i = 0; i < 8; i++) {    /* a0 .. a7: rows group and group + 8, columns 2 tig (+ 8) */
        int row = group + ((i >> 1) & 1) * 8, col = tig * 2 + (i & 1) + (i >= 4) * 8;
        sa[row * 16 + col] = bf16_half(a[i / 2], i & 1);
    }
    for (int i = 0; i < 4; i++) {    /* b0 .. b3: rows 2 tig (+ 8), column group */
        int row = tig * 2 + (i & 1) + (i >= 2) * 8;
        sb[row * 8 + group] = bf16_half(b[i / 2], i & 1);
    }
    warp_barrier(0xffffffffu, "mma.sync.m16n8k16");
    for (int i = 0; i < 4; i++) {    /* c0 .. c3: rows group and group + 8, columns 2 tig */
        int row = group + (i >= 2) * 8, col = tig * 2 + (i & 1);
        float acc = d[i];
        for (int k = 0; k < 16; k++)
            acc += sa[row * 16 + k] * sb[k * 8 + col];
        d[i] = acc;
    }
}

/* Stops the program unless p..p + bytes lies in the block's dynamic shared memory,
 * aligned to align. */
static void check_shared(const void *p, size_t bytes, size_t align, const char *what)
{
    const unsigned char *s = self->shared, *q = (const unsigned char *)p;
    if (q < s || q + bytes > s + OPTIN_SHARED || (uintptr_t)q % align)
        fail("kernel %s: %s at %p: not %zu bytes of shared memory on a %zu-byte boundary", self->kernel, what, p,
             bytes, align);
}

void ldmatrix_x4(uint32_t r[4], const void *row, bool trans)
{
    const char *what = trans ? "ldmatrix.x4.trans" : "ldmatrix.x4";
    check_shared(row, 16, 16, what);
    worker *w = self;
    int warp = warp_id(), lane = lane_id(), bank = w->bank[warp];
    w->exchange[warp][bank][lane] = (uintptr_t)row;
    warp_barrier(0xffffffffu, what);
    const uint64_t *rows = w->exchange[warp][bank];    /* row j of matrix i: lane 8 i + j's */
    for (int i = 0; i < 4; i++) {
        uint16_t lo, hi;
        if (trans) {    /* column lane / 4 of rows 2 (lane % 4) and the next */
            memcpy(&lo, (const uint16_t *)rows[8 * i + lane % 4 * 2] + lane / 4, 2);
            memcpy(&hi, (const uint16_t *)rows[8 * i + lane % 4 * 2 + 1] + lane / 4, 2);
        } else {    /* row lane / 4, columns 2 (lane % 4) and the next */
            memcpy(&lo, (const uint16_t *)rows[8 * i + lane / 4] + lane % 4 * 2, 2);
            memcpy(&hi, (const uint16_t *)rows[8 * i + lane / 4] + lane % 4 * 2 + 1, 2);
        }
        r[i] = (uint32_t)lo | (uint32_t)hi << 16;
    }
}

static uint64_t mix(uint64_t x)    /* splitmix64's finaliser */
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t next_random(uint64_t *rng)    /* xorshift64 */
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return *rng;
}

static void perform(const async_copy &c)
{
    memcpy(c.dst, c.src, (size_t)c.src_bytes);
    memset((char *)c.dst + c.src_bytes, 0, (size_t)(c.bytes - c.src_bytes));
}

/* A copy lands at once or at the wait that covers it, at random (seeded by launch and
 * block, so a run repeats itself): a read before the wait sees the old bytes, and a copy
 * into a buffer that other threads still read, for want of a barrier before it, spoils
 * what they read. Either way the kernel's results go wrong. */
void copy_async(void *dst, const void *src, int bytes, int src_bytes)
{
    worker *w = self;
    check_shared(dst, (size_t)bytes, (size_t)bytes, "cp.async's destination");
    if ((uintptr_t)src % (uintptr_t)bytes)
        fail("kernel %s: cp.async of %d bytes from %p, off a %d-byte boundary", w->kernel, bytes, src, bytes);
    fiber *f = w->cur;
    async_copy c = {dst, src, bytes, src_bytes, f->committed};
    if (next_random(&w->copy_rng) >> 63)
        perform(c);
    else
        f->copies.push_back(c);
}

void copy_async_commit(void) { self->cur->committed++; }

void copy_async_wait(int groups_in_flight)
{
    fiber *f = self->cur;
    size_t kept = 0;
    for (const async_copy &c : f->copies) {
        if (c.group + (unsigned)groups_in_flight >= f->committed) {    /* still in flight, or not committed */
            f->copies[kept++] = c;
            continue;
        }
        perform(c);
    }
    f->copies.resize(kept);
}

void warp_barrier(unsigned mask, const char *what)
{
    if (!(mask >> lane_id() & 1u))
        fail("kernel %s: %s from lane %d, which its mask 0x%08x leaves out", self->kernel, what, lane_id(), mask);
    park(AT_WARP_BARRIER, mask, what);
}

uint64_t warp_exchange(unsigned mask, uint64_t value, int src_lane, const char *what)
{
    worker *w = self;
    int warp = warp_id(), lane = lane_id(), bank = w->bank[warp];
    if (src_lane < 0 || src_lane > 31 || !(mask >> src_lane & 1u))
        fail("kernel %s: %s reads lane %d, outside the mask 0x%08x", w->kernel, what, src_lane, mask);
    w->exchange[warp][bank][lane] = value;
    warp_barrier(mask, what);
    return w->exchange[warp][bank][src_lane];
}

void *dynamic_shared(void) { return self->shared; }

/* Fiber i has just stopped at a warp barrier: if that was its last lane to get there, all
 * its lanes become runnable, listed in out. Returns how many. */
static int release_warp(worker *w, int i, int *out)
{
    int base = i / 32 * 32, lanes = w->n_threads - base < 32 ? w->n_threads - base : 32, n = 0;
    fiber *f = &w->fibers[base];
    unsigned mask = w->fibers[i].mask;
    for (int l = 0; l < 32; l++)
        if (mask >> l & 1u && (l >= lanes || f[l].state != AT_WARP_BARRIER || f[l].mask != mask))
            return 0;
    for (int l = 0; l < 32; l++)
        if (mask >> l & 1u) {
            f[l].state = RUNNABLE;
            out[n++] = base + l;
        }
    w->bank[base / 32] ^= 1;
    return n;
}

/* With nothing left to run: stops the program if a warp barrier waits for a lane that does
 * not exist or has exited (the deadlock that follows would hide why). */
static void check_warp_barriers(worker *w)
{
    for (int i = 0; i < w->n_threads; i++) {
        const fiber &f = w->fibers[i];
        if (f.state != AT_WARP_BARRIER)
            continue;
        int base = i / 32 * 32;
        for (int l = 0; l < 32; l++) {
            if (!(f.mask >> l & 1u))
                continue;
            bool missing = base + l >= w->n_threads;
            if (missing || w->fibers[base + l].state == EXITED)
                fail("kernel %s, block (%u,%u,%u): %s with mask 0x%08x in warp %d, whose lane %d %s", w->kernel,
                     block_idx.x, block_idx.y, block_idx.z, f.what, f.mask, base / 32, l,
                     missing ? "does not exist" : "has exited");
        }
    }
}

/* The order threads run in: shuffled between two barriers, so that a thread reading what
 * another writes without a barrier between them sees stale memory (or the NaN of fresh
 * memory) and the result goes wrong, instead of lane 0 always writing first and hiding
 * the race. A warp whose lanes all reach a warp barrier (a shuffle, __syncwarp, mma.sync,
 * ldmatrix) goes on at once or after the threads waiting to run, at random: at once, it
 * runs ahead of warps that have not yet done what a missing __syncthreads would have
 * waited for. Seeded by launch and block: a run repeats itself exactly.
 * LLM_CUDA_EMU_ORDER=forward runs threads in index order, warps taking turns. */
static bool shuffled_order(void)
{
    static int on = -1;
    if (on < 0) {
        const char *s = getenv("LLM_CUDA_EMU_ORDER");
        on = !(s && strcmp(s, "forward") == 0);
    }
    return on;
}

static void shuffle(int *run, int n, uint64_t *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)((next_random(rng) >> 32) * (uint64_t)(i + 1) >> 32), t = run[i];
        run[i] = run[j];
        run[j] = t;
    }
}

/* The fibers waiting to run, first to run at head; each is in it at most once. */
struct run_queue {
    int slot[MAX_THREADS];
    int head = 0, count = 0;
    void push_back(int i) { slot[(head + count++) % MAX_THREADS] = i; }
    void push_front(int i)
    {
        head = (head + MAX_THREADS - 1) % MAX_THREADS;
        slot[head] = i;
        count++;
    }
    int pop_front(void)
    {
        int i = slot[head];
        head = (head + 1) % MAX_THREADS;
        count--;
        return i;
    }
};

/* Makes the n fibers of ids runnable: shuffled, and (for a warp, ahead) before the rest. */
static void enqueue(run_queue *q, int *ids, int n, bool ahead, uint64_t *rng)
{
    if (shuffled_order())
        shuffle(ids, n, rng);
    for (int k = 0; k < n; k++)
        if (ahead)
            q->push_front(ids[n - 1 - k]);
        else
            q->push_back(ids[k]);
}

static void run_block(worker *w, unsigned long long launch_no, unsigned bx, unsigned by, unsigned bz)
{
    int ids[MAX_THREADS], n = w->n_threads;
    run_queue q;
    block_idx = {bx, by, bz};
    for (int i = 0; i < n; i++) {
        fiber_start(w, i);
        w->fibers[i].idx = {i % block_dim.x, i / block_dim.x % block_dim.y, i / (block_dim.x * block_dim.y)};
        ids[i] = i;
    }
    uint64_t rng = mix(launch_no * 0x100000001b3ull ^ mix(((uint64_t)bz << 42) ^ ((uint64_t)by << 21) ^ bx)) | 1;
    w->copy_rng = mix(rng) | 1;
    enqueue(&q, ids, n, false, &rng);
    for (;;) {
        while (q.count) {
            fiber *f = &w->fibers[q.pop_front()];
            w->cur = f;
            thread_idx = f->idx;
            emu_switch(&w->sched_sp, f->sp);
            int released;
            if (f->state == AT_WARP_BARRIER && (released = release_warp(w, (int)(f - w->fibers), ids)) > 0)
                enqueue(&q, ids, released, shuffled_order() && next_random(&rng) >> 63, &rng);
        }
        w->cur = NULL;
        int live = 0, at_block = 0;
        for (int i = 0; i < n; i++) {
            live += w->fibers[i].state != EXITED;
            if (w->fibers[i].state == AT_BLOCK_BARRIER)
                ids[at_block++] = i;
        }
        if (!live)
            return;
        if (at_block == live) {
            for (int k = 0; k < at_block; k++)
                w->fibers[ids[k]].state = RUNNABLE;
            enqueue(&q, ids, at_block, false, &rng);
            continue;
        }
        check_warp_barriers(w);
        int i = 0;
        while (w->fibers[i].state == EXITED)
            i++;
        fail("kernel %s, block (%u,%u,%u): deadlock: thread (%u,%u,%u) waits at %s, and not every thread it "
             "waits for can get there",
             w->kernel, bx, by, bz, w->fibers[i].idx.x, w->fibers[i].idx.y, w->fibers[i].idx.z, w->fibers[i].what);
    }
}

/* ---- launches ----------------------------------------------------------------------------- */

struct launch {
    const launch_config *cfg;
    const char *name;
    const std::function<void()> *body;
    unsigned long long number;    /* launches so far: seeds the thread order */
    unsigned long long blocks;
    std::atomic<unsigned long long> next;
    std::atomic<int> working;
};

/* Takes blocks of l until none are left. */
static void work_on(launch *l)
{
    worker *w = this_worker();
    w->body = l->body;
    w->kernel = l->name;
    block_dim = l->cfg->block;
    grid_dim = l->cfg->grid;
    w->n_threads = (int)(block_dim.x * block_dim.y * block_dim.z);
    const dim3 &g = l->cfg->grid;
    for (unsigned long long b; (b = l->next.fetch_add(1)) < l->blocks;) {
        /* what a kernel reads of shared memory before it writes is a NaN */
        memset(w->shared, 0xff, l->cfg->shared);
        run_block(w, l->number, (unsigned)(b % g.x), (unsigned)(b / g.x % g.y), (unsigned)(b / ((unsigned long long)g.x * g.y)));
    }
}

/* Host threads that help with the blocks of a launch; the launching thread works too. A
 * launch offers `claims` places; a helper that wakes to find none left goes back to sleep. */
struct helper_pool {
    std::mutex lock;
    std::condition_variable wake, done;
    launch *job;
    unsigned long long generation;
    int claims, busy;
    bool quit;
    std::vector<std::thread> threads;
};
/* Never destroyed (a destructor at exit could run before stop_helpers). */
static helper_pool &pool = *new helper_pool();

static void helper_main(void)
{
    unsigned long long seen = 0;
    std::unique_lock<std::mutex> g(pool.lock);
    for (;;) {
        pool.wake.wait(g, [&] { return pool.generation != seen || pool.quit; });
        if (pool.quit)
            break;
        seen = pool.generation;
        if (pool.claims == 0)
            continue;
        pool.claims--;
        pool.busy++;
        launch *l = pool.job;
        g.unlock();
        work_on(l);
        g.lock();
        if (--pool.busy == 0 && pool.claims == 0)
            pool.done.notify_all();
    }
    g.unlock();
    delete self;
    self = NULL;
}

/* At exit: the helpers end and are joined, so nothing of theirs is left behind. */
static void stop_helpers(void)
{
    {
        std::lock_guard<std::mutex> g(pool.lock);
        pool.quit = true;
    }
    pool.wake.notify_all();
    for (std::thread &t : pool.threads)
        t.join();
    pool.threads.clear();
}

static int helper_count(void)
{
    static int n = -1;
    if (n < 0) {
        const char *s = getenv("LLM_CUDA_EMU_THREADS");
        long want = s && *s ? atol(s) : (long)std::thread::hardware_concurrency();
        n = (int)(want < 1 ? 0 : want > 16 ? 15 : want - 1);
    }
    return n;
}

static cudaError_t check_config(const launch_config &c, const void *kernel, const char *name)
{
    unsigned long long threads = (unsigned long long)c.block.x * c.block.y * c.block.z;
    if (!threads || threads > MAX_THREADS || c.block.z > 64 || !c.grid.x || !c.grid.y || !c.grid.z ||
        c.grid.x > 0x7fffffffu || c.grid.y > 65535 || c.grid.z > 65535) {
        fprintf(stderr, "cuda emulator: kernel %s launched with grid (%u,%u,%u) and block (%u,%u,%u)\n", name,
                c.grid.x, c.grid.y, c.grid.z, c.block.x, c.block.y, c.block.z);
        return cudaErrorInvalidConfiguration;
    }
    int limit = DEFAULT_SHARED;
    {
        std::lock_guard<std::mutex> g(state_lock);
        auto it = shared_limit.find(kernel);
        if (it != shared_limit.end())
            limit = it->second;
    }
    if (c.shared > (size_t)limit) {
        fprintf(stderr, "cuda emulator: kernel %s asks for %zu bytes of dynamic shared memory, above its %d\n", name,
                c.shared, limit);
        return cudaErrorInvalidValue;
    }
    return cudaSuccess;
}

void run_grid(const void *kernel, const char *name, const launch_config &cfg, const std::function<void()> &body)
{
    if (record(check_config(cfg, kernel, name)) != cudaSuccess)
        return;
    launch l;
    l.cfg = &cfg;
    l.name = name;
    l.body = &body;
    static std::atomic<unsigned long long> launches;
    l.number = launches++;
    l.blocks = (unsigned long long)cfg.grid.x * cfg.grid.y * cfg.grid.z;
    l.next = 0;
    int helpers = (int)(l.blocks - 1 < (unsigned long long)helper_count() ? l.blocks - 1 : helper_count());
    std::unique_lock<std::mutex> g(pool.lock);
    if (helpers > 0) {
        if (pool.threads.empty())
            atexit(stop_helpers);
        while ((int)pool.threads.size() < helpers)
            pool.threads.emplace_back(helper_main);
        pool.job = &l;
        pool.claims = helpers;
        pool.generation++;
        pool.wake.notify_all();
    }
    g.unlock();
    work_on(&l);
    g.lock();
    /* every helper that took l has finished with it before it goes out of scope */
    pool.done.wait(g, [] { return pool.claims == 0 && pool.busy == 0; });
    pool.job = NULL;
}

cudaError_t set_func_attribute(const void *kernel, cudaFuncAttribute attr, int value)
{
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > OPTIN_SHARED)
        return record(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> g(state_lock);
    shared_limit[kernel] = value;
    return cudaSuccess;
}

void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cuda emulator: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ---- memory --------------------------------------------------------------------------------- */

/* Each allocation ends 256-aligned at an inaccessible page, so a kernel that runs off the
 * end of one faults. */
static const size_t PAGE = 4096;

static size_t rounded(size_t n, size_t to) { return (n + to - 1) / to * to; }

static void *device_alloc(size_t n)
{
    size_t body = rounded(n ? n : 1, 256), span = rounded(body, PAGE) + PAGE;
    char *m = (char *)mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    mprotect(m + span - PAGE, PAGE, PROT_NONE);
    char *p = m + span - PAGE - body;
    memset(p, 0xff, body);    /* fresh device memory is not zeros: a read of it is a NaN */
    return p;
}

static void device_release(void *p, size_t n)
{
    size_t body = rounded(n ? n : 1, 256), span = rounded(body, PAGE) + PAGE;
    munmap((char *)p + body + PAGE - span, span);
}

/* Whether [p, p + n) lies inside one allocation. */
static bool on_device(const void *p, size_t n)
{
    std::lock_guard<std::mutex> g(state_lock);
    auto it = allocations.upper_bound((uintptr_t)p);
    if (it == allocations.begin())
        return false;
    --it;
    return (uintptr_t)p + n <= it->first + it->second;
}

} // namespace emu

using namespace emu;

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 0;
    if (getenv("LLM_CUDA_EMU_NO_DEVICE"))
        return record(cudaErrorNoDevice);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device)
{
    if (device != 0)
        return record(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "CUDA emulator (tests/cuda_emu, sm_90)");
    prop->totalGlobalMem = device_memory();
    prop->sharedMemPerBlock = DEFAULT_SHARED;
    prop->sharedMemPerBlockOptin = OPTIN_SHARED;
    prop->major = 9;
    prop->minor = 0;
    prop->multiProcessorCount = SM_COUNT;
    prop->maxThreadsPerBlock = MAX_THREADS;
    prop->warpSize = 32;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device)
{
    if (device != 0)
        return record(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = MAX_THREADS; break;
    case cudaDevAttrMultiProcessorCount: *value = SM_COUNT; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = OPTIN_SHARED; break;
    default: return record(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    std::lock_guard<std::mutex> g(state_lock);
    *total_bytes = device_memory();
    *free_bytes = allocated < *total_bytes ? *total_bytes - allocated : 0;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t n)
{
    *p = NULL;
    {
        std::lock_guard<std::mutex> g(state_lock);
        if (n > device_memory() - allocated)
            return last_error = cudaErrorMemoryAllocation;
    }
    void *m = device_alloc(n);
    if (!m)
        return record(cudaErrorMemoryAllocation);
    std::lock_guard<std::mutex> g(state_lock);
    allocations[(uintptr_t)m] = n;
    allocated += n;
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    if (!p)
        return cudaSuccess;
    size_t n;
    {
        std::lock_guard<std::mutex> g(state_lock);
        auto it = allocations.find((uintptr_t)p);
        if (it == allocations.end()) {
            fprintf(stderr, "cuda emulator: cudaFree(%p) of no allocation\n", p);
            return last_error = cudaErrorInvalidValue;
        }
        n = it->second;
        allocated -= n;
        allocations.erase(it);
    }
    device_release(p, n);
    return cudaSuccess;
}

static cudaError_t check_range(const void *p, size_t n, bool device, const char *call, const char *which)
{
    if (!n || on_device(p, n) == device)
        return cudaSuccess;
    fprintf(stderr, "cuda emulator: %s: %s [%p, +%zu) is %s\n", call, which, p, n,
            device ? "not inside one device allocation" : "device memory where host memory is expected");
    return record(cudaErrorInvalidValue);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    cudaError_t e = check_range(dst, n, dst_dev, "cudaMemcpy", "destination");
    if (e == cudaSuccess)
        e = check_range(src, n, src_dev, "cudaMemcpy", "source");
    if (e == cudaSuccess && n)
        memmove(dst, src, n);
    return e;
}

cudaError_t cudaMemset(void *p, int value, size_t n)
{
    cudaError_t e = check_range(p, n, true, "cudaMemset", "destination");
    if (e == cudaSuccess && n)
        memset(p, value, n);
    return e;
}

/* Launches run to completion, and a kernel's faults stop the program: nothing is left to
 * report here (a bad launch is cudaGetLastError's). */
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

struct CUevent_st {
    bool recorded;
    std::chrono::steady_clock::time_point at;
};

cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    if (!event)
        return cudaErrorInvalidValue;
    *event = new (std::nothrow) CUevent_st();
    return *event ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    delete event;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    (void)stream;
    if (!event)
        return cudaErrorInvalidResourceHandle;
    event->recorded = true;
    event->at = std::chrono::steady_clock::now();
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    if (!ms)
        return cudaErrorInvalidValue;
    if (!start || !end || !start->recorded || !end->recorded)
        return cudaErrorInvalidResourceHandle;
    *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
    std::lock_guard<std::mutex> g(state_lock);
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    }
    return "unknown error";
}

/* An ordered work pool: jobs go to N worker threads and come back in the order they were
 * submitted, so a program's output is the same bytes for any thread count. The caller owns
 * the jobs; the pool only runs them. With one thread the job runs inside llm_pool_submit. */
#ifndef LLM_POOL_H
#define LLM_POOL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm_pool llm_pool;

/* What a worker does. init makes one thread's state (scratch memory, an encoder) from ctx,
 * NULL when it cannot; run does one job with it; fini frees it (may be NULL). */
typedef struct llm_pool_fns {
    void *(*init)(void *ctx);
    void (*run)(void *state, void *job);
    void (*fini)(void *state);
} llm_pool_fns;

/* A pool of `threads` workers (1: none, jobs run in the caller) holding at most `depth`
 * jobs in flight. fns is copied; ctx is passed to init. Returns NULL with err set. */
llm_pool *llm_pool_new(unsigned threads, size_t depth, const llm_pool_fns *fns, void *ctx, llm_error *err);
/* A pool whose caller is one of `threads` threads: threads - 1 workers, and the caller
 * runs jobs too, through llm_pool_help, instead of waiting. Where the caller has little
 * else to do, N threads then share N cores without an (N+1)-th one preempting them.
 * threads 1 is llm_pool_new(1, ...). */
llm_pool *llm_pool_new_helped(unsigned threads, size_t depth, const llm_pool_fns *fns, void *ctx, llm_error *err);
/* Waits for the jobs in flight (they are not returned: the caller still owns them), stops
 * the workers and frees the pool. NULL-safe. */
void llm_pool_free(llm_pool *p);

/* 1 when `depth` jobs are in flight: take one before submitting another. */
int llm_pool_full(const llm_pool *p);
/* Jobs submitted and not yet taken. */
size_t llm_pool_pending(const llm_pool *p);
/* Hands job to the workers. The pool must not be full. */
void llm_pool_submit(llm_pool *p, void *job);
/* The oldest job in flight once it is done: waits for it when `wait`, else returns NULL
 * when it is still running. NULL when nothing is in flight. */
void *llm_pool_take(llm_pool *p, int wait);
/* Runs the oldest job no worker has started, in the calling thread, with a worker state
 * of the caller's own (made on first use). 1 when it ran one, 0 when there was none (or
 * the pool has no threads: submit runs jobs then). */
int llm_pool_help(llm_pool *p);
/* 1 when a worker could not make its state: its jobs come back done but not run. */
int llm_pool_failed(const llm_pool *p);

#ifdef __cplusplus
}
#endif
#endif

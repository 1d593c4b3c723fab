/* The ordered work pool (pool.h): a ring of jobs in submission order; workers start them in
 * that order and mark them done, the caller takes them from the front. */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct slot {
    void *job;
    int done;
} slot;

struct llm_pool {
    llm_pool_fns fns;
    void *ctx;
    slot *ring;
    size_t cap, head, len;   /* jobs in flight: ring[head .. head+len) */
    size_t started;          /* of those, how many a worker has picked up */
    int stop, failed;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *threads;
    unsigned n_threads;
    /* The caller's worker state: made at the start when jobs run inline (one thread),
     * else when the caller first helps (llm_pool_help). */
    void *caller_state;
    int caller_ready;        /* 1 made, -1 could not be made, 0 not yet */
};

static int caller_state_ready(llm_pool *p)
{
    if (p->caller_ready == 0) {
        p->caller_state = p->fns.init ? p->fns.init(p->ctx) : NULL;
        p->caller_ready = !p->fns.init || p->caller_state ? 1 : -1;
    }
    return p->caller_ready > 0;
}

static void *worker_main(void *arg)
{
    llm_pool *p = arg;
    void *state = p->fns.init ? p->fns.init(p->ctx) : NULL;
    int ok = !p->fns.init || state != NULL;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->started == p->len && !p->stop)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->started == p->len)
            break;
        slot *s = &p->ring[(p->head + p->started) % p->cap];
        p->started++;
        pthread_mutex_unlock(&p->mu);
        if (ok)
            p->fns.run(state, s->job);
        pthread_mutex_lock(&p->mu);
        if (!ok)
            p->failed = 1;
        s->done = 1;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    if (ok && p->fns.fini)
        p->fns.fini(state);
    return NULL;
}

/* A pool of `workers` threads, or none with jobs run inline. */
static llm_pool *pool_new(unsigned workers, int run_inline, size_t depth, const llm_pool_fns *fns, void *ctx,
                          llm_error *err)
{
    llm_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->ring = calloc(depth ? depth : 1, sizeof *p->ring))) {
        free(p);
        llm_error_set(err, "out of memory");
        return NULL;
    }
    p->fns = *fns;
    p->ctx = ctx;
    p->cap = depth ? depth : 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    if (run_inline) {
        caller_state_ready(p);
        return p;
    }
    if (!(p->threads = calloc(workers, sizeof *p->threads))) {
        llm_error_set(err, "out of memory");
        llm_pool_free(p);
        return NULL;
    }
    for (; p->n_threads < workers; p->n_threads++)
        if (pthread_create(&p->threads[p->n_threads], NULL, worker_main, p) != 0)
            break;
    if (p->n_threads == 0) {
        llm_error_set(err, "cannot start %u threads", workers);
        llm_pool_free(p);
        return NULL;
    }
    return p;
}

llm_pool *llm_pool_new(unsigned threads, size_t depth, const llm_pool_fns *fns, void *ctx, llm_error *err)
{
    return pool_new(threads, threads <= 1, depth, fns, ctx, err);
}

llm_pool *llm_pool_new_helped(unsigned threads, size_t depth, const llm_pool_fns *fns, void *ctx, llm_error *err)
{
    return pool_new(threads - 1, threads <= 1, depth, fns, ctx, err);
}

void llm_pool_free(llm_pool *p)
{
    if (!p)
        return;
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;    /* workers finish what is queued, then leave */
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        for (unsigned i = 0; i < p->n_threads; i++)
            pthread_join(p->threads[i], NULL);
        free(p->threads);
    }
    if (p->caller_ready > 0 && p->fns.fini)
        p->fns.fini(p->caller_state);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p->ring);
    free(p);
}

int llm_pool_full(const llm_pool *p) { return p->len == p->cap; }
size_t llm_pool_pending(const llm_pool *p) { return p->len; }
int llm_pool_failed(const llm_pool *p) { return p->failed; }

void llm_pool_submit(llm_pool *p, void *job)
{
    if (!p->threads) {
        slot *s = &p->ring[(p->head + p->len) % p->cap];
        s->job = job;
        if (p->caller_ready > 0)
            p->fns.run(p->caller_state, job);
        else
            p->failed = 1;
        s->done = 1;
        p->len++;
        p->started++;
        return;
    }
    pthread_mutex_lock(&p->mu);
    slot *s = &p->ring[(p->head + p->len) % p->cap];
    s->job = job;
    s->done = 0;
    p->len++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

int llm_pool_help(llm_pool *p)
{
    if (!p->threads)
        return 0;
    pthread_mutex_lock(&p->mu);
    if (p->started == p->len) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    /* The slot stays put: only the caller takes jobs out of the ring, and it is here. */
    slot *s = &p->ring[(p->head + p->started) % p->cap];
    p->started++;
    pthread_mutex_unlock(&p->mu);
    int ok = caller_state_ready(p);
    if (ok)
        p->fns.run(p->caller_state, s->job);
    pthread_mutex_lock(&p->mu);
    if (!ok)
        p->failed = 1;
    s->done = 1;
    pthread_mutex_unlock(&p->mu);
    return 1;
}

void *llm_pool_take(llm_pool *p, int wait)
{
    void *job = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->len) {
        slot *s = &p->ring[p->head];
        while (wait && !s->done)
            pthread_cond_wait(&p->done, &p->mu);
        if (s->done) {
            job = s->job;
            p->head = (p->head + 1) % p->cap;
            p->len--;
            p->started--;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return job;
}

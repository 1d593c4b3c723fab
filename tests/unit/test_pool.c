/* The ordered work pool (lib/pool.c): jobs come back in submission order whatever order the
 * workers finish them in, for one thread and for several, and with the caller helping; a
 * worker that cannot make its state is reported. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "pool.h"

typedef struct job {
    int n, result, delay_us;
    pthread_t ran_on;
} job;

static void *init_ok(void *ctx) { return ctx; }
static void *init_fail(void *ctx) { (void)ctx; return NULL; }
static void fini(void *state) { (void)state; }

static void run(void *state, void *arg)
{
    job *j = arg;
    struct timespec ts = {0, (long)j->delay_us * 1000};
    nanosleep(&ts, NULL);
    j->result = j->n * *(int *)state;
    j->ran_on = pthread_self();
}

/* The oldest job once done; a helped pool's caller runs a waiting job first if any. */
static job *next_done(llm_pool *p, int helped)
{
    job *j;
    while (!(j = llm_pool_take(p, 0)) && helped && llm_pool_help(p))
        ;
    return j ? j : llm_pool_take(p, 1);
}

static void ordered(unsigned threads, int helped)
{
    int factor = 3;
    llm_pool_fns fns = {init_ok, run, fini};
    llm_error err;
    llm_pool *p = helped ? llm_pool_new_helped(threads, 5, &fns, &factor, &err)
                         : llm_pool_new(threads, 5, &fns, &factor, &err);
    CHECKF(p != NULL, "%s", err.msg);
    if (!p)
        return;
    enum { N = 200 };
    job *jobs = calloc(N, sizeof *jobs);
    int next = 0;
    srand(1);
    for (int i = 0; i < N; i++) {
        jobs[i].n = i;
        jobs[i].delay_us = rand() % 300;    /* later jobs often finish first */
        while (llm_pool_full(p)) {
            job *j = next_done(p, helped);
            CHECK(j == &jobs[next] && j->result == 3 * next);
            next++;
        }
        llm_pool_submit(p, &jobs[i]);
        job *j;
        while ((j = llm_pool_take(p, 0)) != NULL) {
            CHECK(j == &jobs[next] && j->result == 3 * next);
            next++;
        }
    }
    job *j;
    while ((j = next_done(p, helped)) != NULL) {
        CHECK(j == &jobs[next] && j->result == 3 * next);
        next++;
    }
    CHECK(next == N);
    CHECK(llm_pool_pending(p) == 0 && !llm_pool_failed(p));
    int by_caller = 0;
    for (int i = 0; i < N; i++)
        by_caller += pthread_equal(jobs[i].ran_on, pthread_self()) != 0;
    /* Inline, the caller runs all; helping, some (it helps whenever the ring is full). */
    if (threads <= 1)
        CHECK(by_caller == N);
    else if (helped)
        CHECKF(by_caller > 0 && by_caller < N, "the caller ran %d of %d", by_caller, N);
    else
        CHECK(by_caller == 0);
    llm_pool_free(p);
    free(jobs);
}

static void test_pool_one_thread(void) { ordered(1, 0); }
static void test_pool_four_threads(void) { ordered(4, 0); }
static void test_pool_helped_one_thread(void) { ordered(1, 1); }
static void test_pool_helped_two_threads(void) { ordered(2, 1); }
static void test_pool_helped_four_threads(void) { ordered(4, 1); }

static void test_pool_free_with_jobs_in_flight(void)
{
    int factor = 1;
    llm_pool_fns fns = {init_ok, run, fini};
    llm_pool *p = llm_pool_new(3, 4, &fns, &factor, NULL);
    CHECK(p != NULL);
    job jobs[4] = {{1, 0, 2000, 0}, {2, 0, 0, 0}, {3, 0, 1000, 0}, {4, 0, 0, 0}};
    for (int i = 0; i < 4; i++)
        llm_pool_submit(p, &jobs[i]);
    llm_pool_free(p);    /* waits for them: every job ran */
    for (int i = 0; i < 4; i++)
        CHECK(jobs[i].result == i + 1);
}

static void test_pool_init_failure(void)
{
    for (unsigned threads = 1; threads <= 2; threads++) {
        llm_pool_fns fns = {init_fail, run, fini};
        llm_pool *p = llm_pool_new(threads, 2, &fns, NULL, NULL);
        CHECK(p != NULL);
        job j = {5, -1, 0, 0};
        llm_pool_submit(p, &j);
        CHECK(llm_pool_take(p, 1) == &j);
        CHECK(llm_pool_failed(p) && j.result == -1);
        llm_pool_free(p);
    }
    /* A helping caller that cannot make its state: its job comes back not run. */
    llm_pool_fns fns = {init_fail, run, fini};
    llm_pool *p = llm_pool_new_helped(2, 2, &fns, NULL, NULL);
    CHECK(p != NULL);
    job j = {5, -1, 0, 0};
    llm_pool_submit(p, &j);
    llm_pool_help(p);
    CHECK(llm_pool_take(p, 1) == &j);
    CHECK(llm_pool_failed(p) && j.result == -1);
    llm_pool_free(p);
}

int main(void)
{
    RUN(test_pool_one_thread);
    RUN(test_pool_four_threads);
    RUN(test_pool_helped_one_thread);
    RUN(test_pool_helped_two_threads);
    RUN(test_pool_helped_four_threads);
    RUN(test_pool_free_with_jobs_in_flight);
    RUN(test_pool_init_failure);
    CHECK_EXIT();
}

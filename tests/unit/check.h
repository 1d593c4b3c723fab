/* A tiny test harness: CHECK(cond) records a failure and goes on; RUN(fn) runs one case and
 * prints "ok NAME" or "FAIL NAME" on stdout, which tests/run.sh counts. */
#ifndef LLM_CHECK_H
#define LLM_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_case_failed;
static int check_cases_failed;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            check_case_failed = 1;                                                      \
        }                                                                               \
    } while (0)

/* CHECK with a printf-style explanation of what was seen. */
#define CHECKF(cond, ...)                                                               \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
            check_case_failed = 1;                                                      \
        }                                                                               \
    } while (0)

static inline void check_run(const char *name, void (*fn)(void))
{
    check_case_failed = 0;
    fn();
    printf("%s %s\n", check_case_failed ? "FAIL" : "ok", name);
    fflush(stdout);
    check_cases_failed += check_case_failed;
}

#define RUN(fn) check_run(#fn, fn)
#define CHECK_EXIT() return check_cases_failed ? 1 : 0

#endif

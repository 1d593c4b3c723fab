/* Shared basics of libllm: the error record that every fallible call fills, and the version. */
#ifndef LLM_COMMON_H
#define LLM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLM_VERSION "0.1.0"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "llm-tools reads and writes little-endian data in place; big-endian hosts are not supported"
#endif

#if defined(__GNUC__)
#define LLM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LLM_PRINTF(f, a)
#endif

/* The library never prints: a failing call returns -1 (or NULL) and leaves a one-line
 * description here, which the program turns into "llm-xxx: FILE: msg". */
typedef struct llm_error {
    char msg[384];
} llm_error;

/* Formats into err->msg (truncating); err may be NULL. Always returns -1 so that
 * `return llm_error_set(err, ...)` reads naturally. */
int llm_error_set(llm_error *err, const char *fmt, ...) LLM_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif

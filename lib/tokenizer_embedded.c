/* The default tokenizer built into the library: GPT-2's byte-level BPE, so that a program
 * needs no data file. Its ranks are lib/gpt2.tokens.zst (scripts/make-embedded-tokenizer.sh
 * writes it from the npm tiktoken package), linked in with .incbin. */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "tokenizer.h"

/* The Makefile passes the file's absolute path, so the assembler finds it from any folder. */
#ifndef LLM_EMBEDDED_TOKENS
#error "LLM_EMBEDDED_TOKENS (the path of lib/gpt2.tokens.zst) must be defined by the build"
#endif

#define EMBEDDED_MAGIC "LLMTOK1\n"
#define EMBEDDED_N_TOKENS 50256u    /* gpt2's ranks; <|endoftext|> comes after them */

__asm__(".pushsection .rodata.llm_embedded_tokens,\"a\"\n"
        ".balign 16\n"
        ".globl llm_embedded_tokens_start\n"
        ".hidden llm_embedded_tokens_start\n"
        "llm_embedded_tokens_start:\n"
        ".incbin \"" LLM_EMBEDDED_TOKENS "\"\n"
        ".globl llm_embedded_tokens_end\n"
        ".hidden llm_embedded_tokens_end\n"
        "llm_embedded_tokens_end:\n"
        ".popsection\n");

extern const unsigned char llm_embedded_tokens_start[];
extern const unsigned char llm_embedded_tokens_end[];

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Appends the base64 of s[0..n) at out; returns the end. */
static char *base64(char *out, const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *out++ = b64[v >> 18];
        *out++ = b64[(v >> 12) & 63];
        *out++ = b64[(v >> 6) & 63];
        *out++ = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *out++ = b64[v >> 18];
        *out++ = b64[(v >> 12) & 63];
        *out++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    return out;
}

/* The embedded tokens as a tiktoken rank file ("base64(token) rank" lines), which the
 * public constructor reads: one definition, one loader, the same hash as gpt2.tiktoken. */
static char *rank_file(const unsigned char *raw, size_t n, size_t *len, llm_error *err)
{
    if (n < 12 || memcmp(raw, EMBEDDED_MAGIC, 8) != 0) {
        llm_error_set(err, "embedded tokenizer: bad magic");
        return NULL;
    }
    uint32_t count = (uint32_t)raw[8] | (uint32_t)raw[9] << 8 | (uint32_t)raw[10] << 16 | (uint32_t)raw[11] << 24;
    if (count != EMBEDDED_N_TOKENS) {
        llm_error_set(err, "embedded tokenizer: %u tokens, want %u", count, EMBEDDED_N_TOKENS);
        return NULL;
    }
    /* Each token of k bytes becomes at most 4(k+2)/3 + 1 + 10 + 1 characters. */
    char *text = malloc(2 * n + 16 * (size_t)count + 1);
    if (text == NULL) {
        llm_error_set(err, "out of memory");
        return NULL;
    }
    char *o = text;
    size_t at = 12;
    for (uint32_t rank = 0; rank < count; rank++) {
        size_t k = at < n ? raw[at] : 0;
        if (k == 0 || k > n - at - 1) {
            free(text);
            llm_error_set(err, "embedded tokenizer: token %u is truncated", rank);
            return NULL;
        }
        o = base64(o, raw + at + 1, k);
        at += 1 + k;
        *o++ = ' ';
        char digits[12];
        int d = 0;
        uint32_t v = rank;
        do
            digits[d++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        while (d)
            *o++ = digits[--d];
        *o++ = '\n';
    }
    if (at != n) {
        free(text);
        llm_error_set(err, "embedded tokenizer: %zu bytes after the last token", n - at);
        return NULL;
    }
    *len = (size_t)(o - text);
    return text;
}

llm_tokenizer *llm_tokenizer_load_embedded(llm_error *err)
{
    const unsigned char *z = llm_embedded_tokens_start;
    size_t zn = (size_t)(llm_embedded_tokens_end - llm_embedded_tokens_start);
    unsigned long long n = ZSTD_getFrameContentSize(z, zn);
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n > (64u << 20)) {
        llm_error_set(err, "embedded tokenizer: not a zstd frame with its size");
        return NULL;
    }
    unsigned char *raw = malloc((size_t)n + 1);
    if (raw == NULL) {
        llm_error_set(err, "out of memory");
        return NULL;
    }
    size_t got = ZSTD_decompress(raw, (size_t)n, z, zn);
    if (ZSTD_isError(got) || got != n) {
        llm_error_set(err, "embedded tokenizer: %s", ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
        free(raw);
        return NULL;
    }
    size_t len = 0;
    char *text = rank_file(raw, got, &len, err);
    free(raw);
    if (text == NULL)
        return NULL;
    llm_tokenizer *t = llm_tokenizer_from_tiktoken(text, len, "gpt2", err);
    free(text);
    return t;
}

llm_tokenizer *llm_tokenizer_load_default(const char *name_or_path, llm_error *err)
{
    if (name_or_path == NULL)
        return llm_tokenizer_load_embedded(err);
    llm_tokenizer *t = llm_tokenizer_load(name_or_path, err);
    if (t == NULL && strcmp(name_or_path, "gpt2") == 0)
        t = llm_tokenizer_load_embedded(err);
    return t;
}

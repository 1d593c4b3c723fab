/* Unit tests for llm_bpe_cut (lib/bpe.c): the BPE of a piece is the BPE of the parts it is cut
 * into, on random strings of characters that tokens join whole, in part, or not at all, for
 * a hand-made vocabulary and, when `make tokenizers` has written data/tokenizers, for the
 * real ones (tiktoken rank files and the Qwen3 and LLaMA-3 tokenizer.json). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "check.h"
#include "hf_tokenizer.h"
#include "tiktoken.h"
#include "utf8.h"

static const char *tokenizer_dir(void)
{
    const char *env = getenv("LLM_TOKENIZER_DIR");
    return env && *env ? env : "data/tokenizers";
}

/* The merges of s[0..n) from its bytes, into ids; returns the count. */
static size_t merge_all(const llm_bpe *b, const unsigned char *s, size_t n, uint32_t *ids, llm_bpe_scratch *sc)
{
    for (size_t i = 0; i < n; i++)
        ids[i] = llm_bpe_byte_id(b, s[i]);
    return llm_bpe_merge(b, ids, n, sc, 0);
}

/* Compares the whole piece's merges with its parts' on `rounds` random strings of 1 to 16
 * characters from alphabet[]; returns how many cuts were made. */
static size_t same_as_parts(const llm_bpe *b, const char *const *alphabet, size_t n_alpha, int rounds,
                            unsigned seed)
{
    unsigned char s[16 * 8];
    uint32_t whole[sizeof s], parts[sizeof s];
    llm_bpe_scratch sc;
    llm_bpe_scratch_init(&sc);
    size_t cuts = 0;
    for (int r = 0; r < rounds && !check_case_failed; r++) {
        size_t n = 0, chars = 1 + (size_t)rand_r(&seed) % 16;
        for (size_t i = 0; i < chars; i++) {
            const char *a = alphabet[(size_t)rand_r(&seed) % n_alpha];
            memcpy(s + n, a, strlen(a));
            n += strlen(a);
        }
        size_t k = merge_all(b, s, n, whole, &sc), m = 0;
        for (size_t pos = 0; pos < n;) {
            size_t end = pos + llm_bpe_cut(b, s + pos, n - pos);
            CHECK(end > pos && end <= n);
            cuts += end < n;
            m += merge_all(b, s + pos, end - pos, parts + m, &sc);
            pos = end;
        }
        CHECKF(k == m && memcmp(whole, parts, k * sizeof *whole) == 0, "'%.*s'", (int)n, (const char *)s);
    }
    llm_bpe_scratch_free(&sc);
    return cuts;
}

/* A vocabulary of the 256 bytes and extra tokens (ids from 256 on), its merges derived the
 * tiktoken way. */
static llm_bpe *tiny(const char *const *extra, size_t n_extra)
{
    llm_error err;
    llm_bpe *b = llm_bpe_new();
    for (int c = 0; c < 256; c++) {
        unsigned char byte = (unsigned char)c;
        CHECK(llm_bpe_add_token(b, (uint32_t)c, &byte, 1, &err) == 0);
    }
    for (size_t i = 0; i < n_extra; i++)
        CHECKF(llm_bpe_add_token(b, 256 + (uint32_t)i, extra[i], strlen(extra[i]), &err) == 0, "%s", err.msg);
    CHECK(llm_bpe_index(b, &err) == 0);
    CHECK(llm_bpe_derive_merges(b, &err) == 0);
    return b;
}

/* Tokens that hold two characters whole (中国), that start or end inside one (the last byte
 * of 人 with the first of 大; 大 with the first two bytes of 小), inside one character alone,
 * and across ASCII: cuts only where none of them reaches. */
static void test_tiny(void)
{
    static const char *const extra[] = {
        "\xe4\xb8", "\xe4\xb8\xad", "\xe5\x9b\xbd", "\xe4\xb8\xad\xe5\x9b\xbd", /* 中, 国, 中国 */
        "\xe4\xba\xba", "\xba\xe5", "\xe5\xa4\xa7", "\xe5\xa4\xa7\xe5\xb0",     /* 人, ·大, 大+小 */
        "\xe5\xb0\x8f", "\xef\xbc\x8c", " \xe4\xb8\xad", "a\xe4\xba\xba",      /* 小, ，, " 中", a人 */
    };
    static const char *const alphabet[] = {"\xe4\xb8\xad", "\xe5\x9b\xbd", "\xe4\xba\xba", "\xe5\xa4\xa7",
                                           "\xe5\xb0\x8f", "\xef\xbc\x8c", "a", " ", "\xc3\xa9",
                                           "\xf0\x9f\x98\x80", "\xe5\xb1\xb1" /* 山 */};
    llm_bpe *b = tiny(extra, sizeof extra / sizeof extra[0]);
    const unsigned char *zhongguo = (const unsigned char *)"\xe4\xb8\xad\xe5\x9b\xbd";
    const unsigned char *rendai = (const unsigned char *)"\xe4\xba\xba\xe5\xa4\xa7";
    const unsigned char *daxiao = (const unsigned char *)"\xe5\xa4\xa7\xe5\xb0\x8f";
    const unsigned char *zhongren = (const unsigned char *)"\xe4\xb8\xad\xe4\xba\xba";
    CHECK(llm_bpe_cut(b, zhongguo, 6) == 6);       /* a token holds both */
    CHECK(llm_bpe_cut(b, rendai, 6) == 6);         /* a token holds the bytes around the boundary */
    CHECK(llm_bpe_cut(b, daxiao, 6) == 6);         /* ... and one character whole */
    CHECK(llm_bpe_cut(b, zhongren, 6) == 3);       /* none does */
    CHECK(llm_bpe_cut(b, zhongguo, 5) == 5);       /* 国 cut off by the end: no cut */
    CHECK(llm_bpe_cut(b, (const unsigned char *)"a\xe4\xba\xba", 4) == 4);   /* after ASCII: no cut */
    CHECK(same_as_parts(b, alphabet, sizeof alphabet / sizeof alphabet[0], 20000, 3) > 0);
    llm_bpe_free(b);
}

/* A merge whose token is not the bytes of its parts turns cuts off. */
static void test_not_concat(void)
{
    static const char *const extra[] = {"\xe4\xb8\xad", "\xe4\xba\xba", "xy"};
    llm_bpe *b = tiny(extra, 3);
    const unsigned char *zhongren = (const unsigned char *)"\xe4\xb8\xad\xe4\xba\xba";
    CHECK(llm_bpe_cut(b, zhongren, 6) == 3);
    llm_error err;
    CHECK(llm_bpe_add_merge(b, 'x', 'y', 1000, 256, &err) == 0);
    CHECK(llm_bpe_cut(b, zhongren, 6) == 6);
    llm_bpe_free(b);
}

/* Reads a whole file into a malloc'd buffer, or NULL. */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = size > 0 ? malloc((size_t)size) : NULL;
    *n = data && fread(data, 1, (size_t)size, f) == (size_t)size ? (size_t)size : 0;
    fclose(f);
    if (*n == 0) {
        free(data);
        return NULL;
    }
    return data;
}

/* The characters of a vocabulary's tokens that hold two or more multi-byte characters (the
 * ones that keep pieces whole), up to cap, as NUL-terminated strings in chars[][5]. */
static size_t joined_chars(const llm_bpe *b, char (*chars)[5], size_t cap)
{
    size_t n = 0;
    for (uint32_t id = 0; id < llm_bpe_n_ids(b) && n < cap; id++) {
        size_t len, multi = 0;
        const unsigned char *t = llm_bpe_token(b, id, &len);
        if (t == NULL || !llm_utf8_valid((const char *)t, len))
            continue;
        for (size_t i = 0; i < len; i += llm_utf8_lead_len(t[i]))
            multi += t[i] >= 0xC0;
        if (multi < 2 || id % 7 != 0)    /* a spread of them */
            continue;
        for (size_t i = 0; i < len && n < cap; i += llm_utf8_lead_len(t[i]))
            if (t[i] >= 0xC0) {
                size_t k = llm_utf8_lead_len(t[i]);
                memcpy(chars[n], t + i, k);
                chars[n++][k] = '\0';
            }
    }
    return n;
}

/* Random strings of the characters that tokens join, common CJK characters and punctuation,
 * for each real vocabulary there is. */
static void test_real(void)
{
    static char chars[600][5];
    static const char *alphabet[700];
    static const char *const common[] = {"\xe7\x9a\x84", "\xe4\xb8\x80", "\xe6\x98\xaf", "\xe4\xba\x86",
                                         "\xe6\x88\x91", "\xe4\xb8\x8d", "\xe4\xba\xba", "\xe5\x9c\xa8",
                                         "\xef\xbc\x8c", "\xe3\x80\x82", "\xe3\x80\x8a", " ", "a",
                                         "\xd0\xbf", "\xd1\x80", "\xf0\x9f\x98\x80", "\xe3\x81\x82"};
    const char *names[] = {"gpt2.tiktoken", "cl100k_base.tiktoken", "o200k_base.tiktoken", "qwen3.json",
                           "llama3.json"};
    int tested = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", tokenizer_dir(), names[i]);
        size_t size;
        char *data = slurp(path, &size);
        if (data == NULL)
            continue;
        llm_error err;
        llm_bpe *b = NULL;
        llm_hf *h = NULL;
        if (strstr(names[i], ".json")) {
            h = llm_hf_parse(data, size, &err);
            CHECKF(h != NULL, "%s: %s", names[i], err.msg);
            b = h ? h->bpe : NULL;
        } else {
            b = llm_bpe_new();
            CHECKF(llm_tiktoken_parse(b, data, size, &err) == 0 && llm_bpe_index(b, &err) == 0 &&
                       llm_bpe_derive_merges(b, &err) == 0, "%s: %s", names[i], err.msg);
        }
        free(data);
        if (b != NULL && !check_case_failed) {
            size_t n = joined_chars(b, chars, sizeof chars / sizeof chars[0]), k = 0;
            for (; k < n; k++)
                alphabet[k] = chars[k];
            for (size_t c = 0; c < sizeof common / sizeof common[0]; c++)
                alphabet[k++] = common[c];
            size_t cuts = same_as_parts(b, alphabet, k, 20000, 7 + (unsigned)i);
            CHECKF(cuts > 0, "%s: no cuts", names[i]);
            tested++;
        }
        if (h)
            llm_hf_free(h);
        else
            llm_bpe_free(b);
    }
    if (tested == 0)
        printf("# test_real: no tokenizers in %s (make tokenizers)\n", tokenizer_dir());
}

int main(void)
{
    RUN(test_tiny);
    RUN(test_not_concat);
    RUN(test_real);
    CHECK_EXIT();
}

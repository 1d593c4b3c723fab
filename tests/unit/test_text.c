/* Unit tests for lib/utf8.c and lib/normalize.c: UTF-8 rules against Unicode's tables,
 * and the normalization fast path against utf8proc run on the whole text. */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <utf8proc.h>

#include "check.h"
#include "normalize.h"
#include "utf8.h"

static void test_seq_len(void)
{
    struct { const char *s; size_t len; } cases[] = {
        {"A", 1}, {"\xC3\xA9", 2}, {"\xE4\xB8\xAD", 3}, {"\xF0\x9F\x98\x80", 4},
        {"\xC0\x80", 0},          /* overlong NUL */
        {"\xC1\xBF", 0},          /* overlong */
        {"\xE0\x80\x80", 0},      /* overlong 3-byte */
        {"\xED\xA0\x80", 0},      /* surrogate U+D800 */
        {"\xF4\x90\x80\x80", 0},  /* above U+10FFFF */
        {"\xF5\x80\x80\x80", 0}, {"\x80", 0}, {"\xFF", 0},
        {"\xE4\xB8", 0},          /* truncated */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s);
        CHECKF(llm_utf8_seq_len((const unsigned char *)cases[i].s, n) == cases[i].len, "case %zu", i);
    }
}

/* Maximal subparts, as in Unicode's example table 3-8. */
static void test_invalid_len(void)
{
    struct { const char *s; size_t len; } cases[] = {
        {"\xC0\xAF", 1}, {"\xE0\x80\xAF", 1}, {"\xED\xA0\x80", 1}, {"\xF4\x90\x80\x80", 1},
        {"\xE4\xB8", 2}, {"\xE4\xB8" "A", 2}, {"\xF0\x9F\x98", 3}, {"\xF0\x9F" "A", 2},
        {"\x80", 1}, {"\xFF", 1}, {"\xC3", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s);
        CHECKF(llm_utf8_invalid_len((const unsigned char *)cases[i].s, n) == cases[i].len, "case %zu", i);
    }
}

static void test_count_and_encode(void)
{
    const char *s = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80 long enough to use the word loop";
    CHECK(llm_utf8_count(s, strlen(s)) == 4 + strlen(" long enough to use the word loop"));
    char out[4];
    for (uint32_t cp = 0; cp < 0x110000; cp += 7) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        size_t len = llm_utf8_encode(cp, out);
        CHECK(llm_utf8_seq_len((unsigned char *)out, len) == len);
        CHECK(llm_utf8_decode((unsigned char *)out, len) == cp);
    }
    CHECK(llm_utf8_ascii_prefix("abcdefghij\xC3\xA9", 12) == 10);
}

/* The longest well-formed prefix, a character at a time. */
static size_t ref_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (size_t k; i < n && (k = llm_utf8_seq_len(s + i, n - i)) != 0;)
        i += k;
    return i;
}

/* Texts past several of the validator's doubling blocks (64, 128, 256... bytes), characters
 * of every length straddling their ends, and an error (or none) anywhere. */
static void test_valid_prefix_random(void)
{
    static const char *const pieces[] = {"a", " ", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80"};
    static const char *const errors[] = {"\x80", "\xBF\xBF\xBF\xBF", "\xC3", "\xE4\xB8", "\xF0\x9F\x98",
                                         "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF"};
    uint64_t seed = 777;
    char s[3000];
    for (int iter = 0; iter < 20000 && !check_case_failed; iter++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = 0, want = (seed >> 33) % 2500, bad = (seed >> 20) % 3 ? (seed >> 8) % 9 : 9;
        while (n < want) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            const char *p = pieces[(seed >> 40) % 5];
            memcpy(s + n, p, strlen(p));
            n += strlen(p);
        }
        if (bad < 9) {   /* an error at the end or in the middle, then more text */
            size_t at = (seed >> 45) % (n + 1), len = strlen(errors[bad]);
            memmove(s + at + len, s + at, n - at);
            memcpy(s + at, errors[bad], len);
            n += len;
        }
        size_t got = llm_utf8_valid_prefix(s, n), ref = ref_valid_prefix((unsigned char *)s, n);
        CHECKF(got == ref, "iteration %d: %zu bytes, prefix %zu, got %zu", iter, n, ref, got);
    }
}

static sigjmp_buf fault_jump;

static void on_fault(int sig)
{
    (void)sig;
    siglongjmp(fault_jump, 1);
}

/* What llm_utf8_valid_prefix reads stays near the prefix it returns: the encoders call it for
 * the rest of a document at every ill-formed sequence, and it once validated all of that each
 * time (quadratic: 44 s for a megabyte of continuation bytes). The text here is readable for a
 * few pages and then a long unreadable reservation, counted in n: reading that far faults. */
static void test_valid_prefix_reads_little(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), readable = 4 * page, n = readable + (64u << 20);
    char *s = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(s != MAP_FAILED && mprotect(s, readable, PROT_READ | PROT_WRITE) == 0);
    if (s == MAP_FAILED)
        return;
    struct sigaction fault = {.sa_handler = on_fault}, old_segv, old_bus;
    sigemptyset(&fault.sa_mask);
    sigaction(SIGSEGV, &fault, &old_segv);
    sigaction(SIGBUS, &fault, &old_bus);
    /* Prefixes of ASCII and of 3-byte characters, up to a third of the readable part. */
    for (size_t k = 0; k <= readable / 3 && !check_case_failed; k += 1 + k / 8) {
        for (size_t i = 0; i < k; i++)
            s[i] = k % 2 ? "\xE4\xB8\xAD"[i % 3] : (char)('a' + i % 26);
        size_t prefix = k % 2 ? k - k % 3 : k;
        memset(s + prefix, 0x80, readable - prefix);   /* continuation bytes to the end */
        volatile size_t got = SIZE_MAX;
        if (sigsetjmp(fault_jump, 1) == 0)
            got = llm_utf8_valid_prefix(s, n);
        CHECKF(got == prefix, "a prefix of %zu bytes: %s", prefix,
               got == SIZE_MAX ? "read past the readable pages" : "wrong length");
    }
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    munmap(s, n);
}

/* The reference: utf8proc on the whole text. */
static char *reference(llm_norm form, const char *s, size_t n, size_t *m)
{
    utf8proc_option_t opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | (form == LLM_NORM_NFKC ? UTF8PROC_COMPAT : 0);
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &out, opts);
    *m = r < 0 ? 0 : (size_t)r;
    return (char *)out;
}

static void check_form(llm_norm form, const char *s, size_t n)
{
    llm_buf out;
    llm_buf_init(&out);
    int changed = llm_normalize(form, s, n, &out);
    size_t m;
    char *ref = reference(form, s, n, &m);
    CHECKF(out.len == m && memcmp(out.data, ref, m) == 0, "%s of '%.*s'", llm_norm_name(form), (int)n, s);
    CHECK(changed == (m != n || memcmp(ref, s, n) != 0));
    free(ref);
    llm_buf_free(&out);
}

static void test_normalize_table(void)
{
    const char *cases[] = {
        "plain ascii", "e\xCC\x81", "caf\xC3\xA9", "A\xCC\x8A\xCC\x81",      /* A + ring + acute */
        "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8",                                /* Hangul jamo L V T */
        "\xEA\xB0\x80\xE1\x86\xA8",                                            /* LV syllable + T */
        "\xEF\xBC\xA1\xEF\xBC\x91",                                            /* fullwidth A 1 */
        "\xEF\xAC\x81", "\xE2\x84\xAB", "\xE2\x84\xA6",                        /* fi ligature, Angstrom, Ohm */
        "q\xCC\xA3\xCC\x87", "q\xCC\x87\xCC\xA3",                              /* marks reordered */
        "\xE4\xB8\xAD\xE6\x96\x87\xEF\xBC\x8C\xE3\x80\x82",                    /* CJK + fullwidth punct */
        "\xE3\x81\x8B\xE3\x82\x99",                                            /* ka + voiced mark */
        "\xCC\x81 leading mark", "x\xC3\xA9\xCC\x81y", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
        "\xE0\xAD\x87\xE0\xAC\xBE",                                            /* Oriya vowel sign pair */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_form(LLM_NORM_NFC, cases[i], strlen(cases[i]));
        check_form(LLM_NORM_NFKC, cases[i], strlen(cases[i]));
    }
}

/* Random text from a pool rich in characters that interact. */
static void test_normalize_random(void)
{
    static const uint32_t pool[] = {
        'a', 'e', 'A', ' ', 'q', 0xE9, 0xC5, 0x300, 0x301, 0x323, 0x327, 0x30A, 0x345, 0x1100, 0x1161,
        0x11A8, 0xAC00, 0xAC01, 0x4E2D, 0x3001, 0x304B, 0x3099, 0x309A, 0xFF21, 0xFB01, 0x212B, 0x2126,
        0x1E0A, 0x0B47, 0x0B3E, 0x0B57, 0x0DD9, 0x0DCF, 0x0F73, 0x1F600, 0x1F3FD, 0x2460, 0x00A0, 0x3000,
        0xFDFA, 0x1D15E, 0x0344, 0x0F77, 0x2ADC, 0x05B7, 0x05D0,
    };
    unsigned seed = 12345;
    char s[512];
    for (int round = 0; round < 20000; round++) {
        size_t n = 0;
        int len = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 24;
        for (int k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            n += llm_utf8_encode(pool[(seed >> 16) % (sizeof pool / sizeof pool[0])], s + n);
        }
        check_form(LLM_NORM_NFC, s, n);
        check_form(LLM_NORM_NFKC, s, n);
        if (check_case_failed)
            break;
    }
}

/* Every character, alone and after a base letter, against utf8proc. */
static void test_normalize_every_char(void)
{
    char s[16];
    for (uint32_t cp = 0x80; cp < 0x30000 && !check_case_failed; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        s[0] = 'a';
        size_t n = 1 + llm_utf8_encode(cp, s + 1);
        s[n++] = 0x301 >> 6 | 0xC0;
        s[n++] = (char)(0x80 | (0x301 & 0x3F));
        check_form(LLM_NORM_NFC, s, n);
        check_form(LLM_NORM_NFKC, s, n);
    }
}

/* The tables llm_normalize loads from lib/normalize_inert.h are the ones utf8proc gives,
 * bit for bit; with another Unicode version it computes them instead, the same way. */
static void test_inert_tables(void)
{
    uint8_t *nfc = malloc(LLM_NORM_CODE_POINTS / 8), *nfkc = malloc(LLM_NORM_CODE_POINTS / 8);
    CHECK(nfc && nfkc && llm_normalize_inert_compute(nfc, nfkc) == 0);
    if (nfc && nfkc) {
        const uint8_t *forms[2] = {nfc, nfkc};
        for (int f = 0; f < 2; f++) {
            const uint8_t *loaded = llm_normalize_inert(f ? LLM_NORM_NFKC : LLM_NORM_NFC);
            size_t k = 0;
            while (k < LLM_NORM_CODE_POINTS / 8 && loaded[k] == forms[f][k])
                k++;
            CHECKF(k == LLM_NORM_CODE_POINTS / 8, "%s: code points U+%04zX.. differ (make normalize-inert)",
                   f ? "NFKC" : "NFC", k * 8);
        }
        /* Spot checks that the computation itself can be trusted. */
        CHECK(nfc[0x4E2D >> 3] >> (0x4E2D & 7) & 1);          /* 中 */
        CHECK(!(nfc[0x0301 >> 3] >> (0x0301 & 7) & 1));      /* combining acute */
        CHECK(nfc[0xFF21 >> 3] >> (0xFF21 & 7) & 1);          /* Ａ: NFC keeps it */
        CHECK(!(nfkc[0xFF21 >> 3] >> (0xFF21 & 7) & 1));      /* NFKC makes it A */
    }
    free(nfc);
    free(nfkc);
}

int main(void)
{
    RUN(test_seq_len);
    RUN(test_invalid_len);
    RUN(test_count_and_encode);
    RUN(test_valid_prefix_random);
    RUN(test_valid_prefix_reads_little);
    RUN(test_inert_tables);
    RUN(test_normalize_table);
    RUN(test_normalize_random);
    RUN(test_normalize_every_char);
    CHECK_EXIT();
}

/* NFC/NFKC with a per-character "inert" table in front of utf8proc.
 *
 * A character is inert for a form when it has combining class 0, the form maps it to
 * itself, and it never composes with a character before it. Such a character is a
 * boundary that normalization cannot move across, so text between two inert characters
 * normalizes on its own: only the stretch from the last inert character before a
 * non-inert one to the next inert one goes through utf8proc. */
#include "normalize.h"
#include "normalize_inert.h"
#include "utf8.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

static uint8_t inert_nfc[LLM_NORM_CODE_POINTS / 8];
static uint8_t inert_nfkc[LLM_NORM_CODE_POINTS / 8];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static int bit_get(const uint8_t *bits, uint32_t cp) { return bits[cp >> 3] >> (cp & 7) & 1; }
static void bit_set(uint8_t *bits, uint32_t cp) { bits[cp >> 3] |= (uint8_t)(1u << (cp & 7)); }

/* 1 when the form (NFC or NFKC options) maps the single character cp to itself, given
 * its decomposition d[0..len) under the form's decomposition. */
static int maps_to_itself(uint32_t cp, const utf8proc_int32_t *d, utf8proc_ssize_t len, utf8proc_option_t form)
{
    if (len == 1 && (uint32_t)d[0] == cp)
        return 1;
    /* It decomposes; precomposed letters (é) recompose to themselves under the form. */
    char in[4];
    size_t n = llm_utf8_encode(cp, in);
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)n, &out, form);
    int same = m == (utf8proc_ssize_t)n && memcmp(out, in, n) == 0;
    free(out);
    return same;
}

int llm_normalize_inert_compute(uint8_t *nfc_bits, uint8_t *nfkc_bits)
{
    memset(nfc_bits, 0, LLM_NORM_CODE_POINTS / 8);
    memset(nfkc_bits, 0, LLM_NORM_CODE_POINTS / 8);
    const utf8proc_option_t nfc = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    const utf8proc_option_t nfkc = nfc | UTF8PROC_COMPAT;
    /* The second halves of compositions, found on the way and cleared at the end. */
    uint8_t *seconds = calloc(LLM_NORM_CODE_POINTS / 8, 1);
    if (!seconds)
        return -1;
    utf8proc_int32_t d[32];
    int boundclass;
    for (uint32_t cp = 0; cp < LLM_NORM_CODE_POINTS; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
        /* Unassigned code points and private use never change; skip the slow checks. */
        if (p->category == UTF8PROC_CATEGORY_CN || p->category == UTF8PROC_CATEGORY_CO) {
            bit_set(nfc_bits, cp);
            bit_set(nfkc_bits, cp);
            continue;
        }
        boundclass = 0;
        utf8proc_ssize_t len = utf8proc_decompose_char((utf8proc_int32_t)cp, d, 32, UTF8PROC_DECOMPOSE, &boundclass);
        /* The last character of a canonical decomposition composes with what precedes it
         * (Hangul's vowel and trailing jamo too). Marking more than needed only sends more
         * text to utf8proc. */
        if (len >= 2 && len <= 32)
            bit_set(seconds, (uint32_t)d[len - 1]);
        if (p->combining_class != 0 || len < 1 || len > 32 || !maps_to_itself(cp, d, len, nfc))
            continue;
        bit_set(nfc_bits, cp);
        boundclass = 0;
        len = utf8proc_decompose_char((utf8proc_int32_t)cp, d, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &boundclass);
        if (len >= 1 && len <= 32 && maps_to_itself(cp, d, len, nfkc))
            bit_set(nfkc_bits, cp);
    }
    for (size_t i = 0; i < LLM_NORM_CODE_POINTS / 8; i++) {
        nfc_bits[i] &= (uint8_t)~seconds[i];
        nfkc_bits[i] &= (uint8_t)~seconds[i];
    }
    free(seconds);
    return 0;
}

/* Sets the bits of every code point in the ranges: whole bytes at a time, since one
 * range alone (unassigned planes 4 to 13) covers 655360 of them. */
static void set_ranges(uint8_t *bits, const uint32_t (*ranges)[2], size_t n)
{
    for (size_t r = 0; r < n; r++) {
        uint32_t cp = ranges[r][0], last = ranges[r][1];
        for (; cp <= last && (cp & 7); cp++)
            bit_set(bits, cp);
        if (cp + 7 <= last) {
            memset(bits + cp / 8, 0xFF, (last + 1 - cp) / 8);
            cp += (last + 1 - cp) & ~7u;
        }
        for (; cp <= last; cp++)
            bit_set(bits, cp);
    }
}

/* Computing the tables takes 8 ms, a stall that every process would pay on its first
 * non-ASCII character, and that its other threads would wait for; the committed ranges
 * take microseconds. They are used only when made from the Unicode version utf8proc has.
 * Out of memory computing them, no character is inert: utf8proc then sees all the text,
 * which is slower and as correct. */
static void build_tables(void)
{
    if (strcmp(utf8proc_unicode_version(), inert_unicode_version) != 0) {
        (void)llm_normalize_inert_compute(inert_nfc, inert_nfkc);
        return;
    }
    set_ranges(inert_nfc, inert_nfc_ranges, sizeof inert_nfc_ranges / sizeof inert_nfc_ranges[0]);
    set_ranges(inert_nfkc, inert_nfkc_ranges, sizeof inert_nfkc_ranges / sizeof inert_nfkc_ranges[0]);
}

const uint8_t *llm_normalize_inert(llm_norm form)
{
    pthread_once(&tables_once, build_tables);
    return form == LLM_NORM_NFKC ? inert_nfkc : inert_nfc;
}

int llm_norm_parse(const char *name, llm_norm *out)
{
    static const char *const names[] = {"none", "nfc", "nfkc"};
    for (int i = 0; i < 3; i++)
        if (strcasecmp(name, names[i]) == 0) {
            *out = (llm_norm)i;
            return 0;
        }
    return -1;
}

const char *llm_norm_name(llm_norm form)
{
    return form == LLM_NORM_NFC ? "nfc" : form == LLM_NORM_NFKC ? "nfkc" : "none";
}

/* Normalizes one stretch with utf8proc and appends it. */
static int normalize_slow(llm_norm form, const char *s, size_t n, llm_buf *out)
{
    utf8proc_option_t opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    if (form == LLM_NORM_NFKC)
        opts |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res, opts);
    if (m < 0) {
        free(res);
        if (m == UTF8PROC_ERROR_NOMEM)
            return -1;
        llm_buf_append(out, s, n);   /* invalid input breaks the contract; keep it as it was */
        return 0;
    }
    int changed = (size_t)m != n || memcmp(res, s, n) != 0;
    llm_buf_append(out, res, (size_t)m);
    free(res);
    return changed;
}

int llm_normalize(llm_norm form, const char *s, size_t n, llm_buf *out)
{
    if (form == LLM_NORM_NONE) {
        llm_buf_append(out, s, n);
        return llm_buf_failed(out) ? -1 : 0;
    }
    const uint8_t *inert = NULL;    /* ASCII never needs the tables */
    const unsigned char *u = (const unsigned char *)s;
    size_t copied = 0;      /* s[0..copied) is in out already */
    size_t boundary = 0;    /* start of the last inert character seen */
    int changed = 0;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i += llm_utf8_ascii_prefix(s + i, n - i);
            boundary = i - 1;
            continue;
        }
        if (!inert)
            inert = llm_normalize_inert(form);
        /* Three-byte characters (CJK, its punctuation, fullwidth forms) in a loop of
         * their own: most such text is one inert character after another. */
        while (n - i >= 3 && (u[i] & 0xF0) == 0xE0 && bit_get(inert, llm_utf8_decode(u + i, 3))) {
            boundary = i;
            i += 3;
        }
        if (i >= n || u[i] < 0x80)
            continue;
        size_t len = llm_utf8_lead_len(u[i]);
        if (len > n - i)
            len = n - i;
        uint32_t cp = llm_utf8_decode(u + i, len);
        if (bit_get(inert, cp)) {
            boundary = i;
            i += len;
            continue;
        }
        /* A stretch that needs utf8proc: from the last boundary to the next inert char. */
        size_t end = i + len;
        while (end < n) {
            size_t l = llm_utf8_lead_len(u[end]);
            if (l > n - end)
                l = n - end;
            if (bit_get(inert, llm_utf8_decode(u + end, l)))
                break;
            end += l;
        }
        size_t start = boundary >= copied ? boundary : copied;
        llm_buf_append(out, s + copied, start - copied);
        int r = normalize_slow(form, s + start, end - start, out);
        if (r < 0)
            return -1;
        changed |= r;
        copied = end;
        i = end;
    }
    llm_buf_append(out, s + copied, n - copied);
    return llm_buf_failed(out) ? -1 : changed;
}

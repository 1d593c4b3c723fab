/* Unit tests for clean/text.c: the vector scanners of the whitespace and UTF-8 repair steps
 * against plain one-character-at-a-time references, on random text built from the
 * characters those scanners must tell apart (ASCII spaces and controls, the Unicode
 * spaces, CJK punctuation and curly quotes that share their lead bytes, BOM, LS/PS, C1
 * controls, invalid bytes), at every length around the vector widths and at every offset
 * of the end of the text; and one document through clean/document.c's steps into plain
 * lines. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clean.h"
#include "simd.h"
#include "utf8.h"

/* ---- the references ---- */

static int is_horizontal_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Decodes the valid UTF-8 character at s (n > 0 bytes left); *len its length. */
static uint32_t decode(const unsigned char *s, size_t n, size_t *len)
{
    size_t l = llm_utf8_seq_len(s, n);
    CHECK(l > 0);
    *len = l ? l : 1;
    if (*len == 1)
        return s[0];
    uint32_t cp = s[0] & (0x7F >> *len);
    for (size_t k = 1; k < *len; k++)
        cp = cp << 6 | (s[k] & 0x3F);
    return cp;
}

/* Whitespace as the man page says it: words are what is not whitespace; between two words
 * on one line one space; a line break is kept with up to max_blank blank lines after it,
 * or becomes one space when collapsing; nothing at either end. */
static size_t reference_whitespace(const char *str, size_t n, int collapse, unsigned max_blank, char *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t w = 0, i = 0, newlines = 0;
    int space = 0, started = 0;
    while (i < n) {
        size_t len;
        uint32_t cp = decode(s + i, n - i, &len);
        if (cp == '\n') {
            if (newlines < 1 + (size_t)max_blank)
                newlines++;
            space = 0;
        } else if (is_horizontal_space(cp)) {
            space = 1;
        } else {
            if (started && newlines && !collapse)
                for (size_t k = 0; k < newlines; k++)
                    out[w++] = '\n';
            else if (started && (newlines || space))
                out[w++] = ' ';
            started = 1;
            space = 0;
            newlines = 0;
            memcpy(out + w, s + i, len);
            w += len;
        }
        i += len;
    }
    return w;
}

/* ---- random text ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Pieces chosen for their bytes: each is the edge of some class in text.c. */
static const char *const PIECES[] = {
    "a", "b", "word", " ", " ", "  ", "\t", "\n", "\n\n",
    "\xC2\xA0",          /* NBSP */
    "\xC2\xA9",          /* ©: same lead byte, not a space */
    "\xE1\x9A\x80",      /* Ogham space */
    "\xE1\x9A\x81",      /* Ogham letter */
    "\xE2\x80\x80", "\xE2\x80\x8A", "\xE2\x80\xAF", /* U+2000, U+200A, U+202F */
    "\xE2\x80\x8B",      /* U+200B: not a space */
    "\xE2\x80\x9C", "\xE2\x80\x9D", "\xE2\x80\xA6", /* “ ” … */
    "\xE2\x81\x9F",      /* U+205F */
    "\xE2\x81\xA0",      /* U+2060 word joiner: not a space */
    "\xE3\x80\x80",      /* ideographic space */
    "\xE3\x80\x81", "\xE3\x80\x82", "\xE3\x80\x8C", /* 、。「 */
    "\xE4\xB8\xAD", "\xE6\x96\x87", /* 中文 */
    "\xEF\xBC\x8C",      /* fullwidth comma */
    "\xF0\x9F\x98\x80",  /* emoji */
};

/* Sanitize's business besides those: controls, BOM, LS/PS, C1, invalid bytes. */
static const char *const RAW_PIECES[] = {
    "\r", "\r\n", "\x01", "\x7F", "\x0B", "\x0C", "\xEF\xBB\xBF", "\xE2\x80\xA8", "\xE2\x80\xA9",
    "\xC2\x85", "\xC2\x80", "\xC2\x9F", "\xFF", "\xC3", "\xE4\xB8", "\xED\xA0\x80", "\xF4\x90\x80\x80",
};

#define NPIECES (sizeof PIECES / sizeof PIECES[0])
#define NRAW (sizeof RAW_PIECES / sizeof RAW_PIECES[0])

/* CJK text, whose lead bytes E3 and EF sanitize's scan tells apart from U+3000 and
 * U+FEFF by all three bytes, for texts with none of the rarer lead bytes C2, E1, E2. */
static const char *const CJK_PIECES[] = {
    "\xE4\xB8\xAD", "\xE6\x96\x87", "\xE3\x80\x81", "\xE3\x80\x82", "\xE3\x80\x80", "\xE3\x81\x80",
    "\xEF\xBC\x8C", "\xEF\xBB\xBF", "\xEF\xBB\x80", "\xEF\xBF\xBD", " ", "a",
};
#define NCJK (sizeof CJK_PIECES / sizeof CJK_PIECES[0])

/* ASCII whitespace, for texts that are mostly long runs of it. */
static const char *const WS_PIECES[] = {" ", "\t", "\n", "   ", "\n\n\n", " \n "};
#define NWS (sizeof WS_PIECES / sizeof WS_PIECES[0])

/* Appends random pieces until the text is exactly `len` bytes or a piece would not fit:
 * kind 1 mixes in sanitize's pieces, kind 2 is mostly whitespace runs, kind 3 has the odd
 * '<' or '&' that sanitize reports as possible markup, kind 4 is mostly CJK. */
static size_t random_text(char *buf, size_t len, int kind)
{
    size_t n = 0;
    for (int tries = 0; tries < 1000 && n < len; tries++) {
        const char *p = kind == 1 && rng() % 4 == 0    ? RAW_PIECES[rng() % NRAW]
                        : kind == 2 && rng() % 8 != 0  ? WS_PIECES[rng() % NWS]
                        : kind == 3 && rng() % 32 == 0 ? (rng() % 2 ? "<" : "&")
                        : kind == 4 && rng() % 16 != 0 ? CJK_PIECES[rng() % NCJK]
                                                       : PIECES[rng() % NPIECES];
        size_t l = strlen(p);
        if (n + l <= len) {
            memcpy(buf + n, p, l);
            n += l;
        }
    }
    return n;
}

static void test_whitespace_matches_reference(void)
{
    char text[300], want[300];
    llm_buf got;
    llm_buf_init(&got);
    int failures = 0;
    for (size_t len = 0; len < 200 && failures < 5; len++) {
        for (int round = 0; round < 60 && failures < 5; round++) {
            size_t n = random_text(text, len, round % 2 ? 2 : 0);
            for (int mode = 0; mode < 3; mode++) {
                int collapse = mode == 0;
                unsigned max_blank = mode == 2 ? 0 : 1;
                size_t wn = reference_whitespace(text, n, collapse, max_blank, want);
                llm_buf_clear(&got);
                int changed = clean_whitespace(text, n, collapse, max_blank, NULL, &got);
                const char *res = changed ? got.data : text;
                size_t rn = changed ? got.len : n;
                int same = rn == wn && (wn == 0 || memcmp(res, want, wn) == 0);
                CHECKF(same, "len %zu mode %d: got %zu bytes, want %zu", n, mode, rn, wn);
                failures += !same;
            }
        }
    }
    llm_buf_free(&got);
}

/* --collapse-newlines without a hint (text that markup changed): a run of whitespace,
 * multi-byte spaces among it, at every offset across the 32-byte chunks, before more
 * text or at the very end, and a character that only shares a space's lead byte. */
static void test_collapse_at_chunk_edges(void)
{
    static const char *const runs[] = {
        " ", "  ", "\n", " \t\n ", "\xC2\xA0", "\xE3\x80\x80", "\xE2\x80\x8A\n", " \xE1\x9A\x80 ",
        "\xE2\x81\x9F\xC2\xA0", "\xC2\xA9", "\xE3\x80\x81",
    };
    char text[200], want[200];
    llm_buf got;
    llm_buf_init(&got);
    int failures = 0;
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        for (size_t at = 0; at < 100 && failures < 5; at++) {
            for (size_t after = 0; after <= 40; after += 20) {
                size_t len = strlen(runs[r]), n = at + len + after;
                memset(text, 'a', at);
                memcpy(text + at, runs[r], len);
                memset(text + at + len, 'b', after);
                size_t wn = reference_whitespace(text, n, 1, 1, want);
                llm_buf_clear(&got);
                int changed = clean_whitespace(text, n, 1, 1, NULL, &got);
                const char *res = changed ? got.data : text;
                size_t rn = changed ? got.len : n;
                int same = rn == wn && memcmp(res, want, wn) == 0;
                CHECKF(same, "run %zu at %zu, %zu after: got %zu bytes, want %zu", r, at, after, rn, wn);
                failures += !same;
            }
        }
    }
    llm_buf_free(&got);
}

/* The reference repair: one character at a time, as clean.h says. */
static size_t reference_sanitize(const char *str, size_t n, char *out, size_t *invalid)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t w = 0, i = 0;
    *invalid = 0;
    while (i < n) {
        size_t len = llm_utf8_seq_len(s + i, n - i);
        if (!len) {
            memcpy(out + w, LLM_UTF8_REPLACEMENT, 3);
            w += 3;
            ++*invalid;
            i += llm_utf8_invalid_len(s + i, n - i);
            continue;
        }
        uint32_t cp = decode(s + i, n - i, &len);
        if (cp == '\r') {
            if (!(i + 1 < n && s[i + 1] == '\n'))
                out[w++] = '\n';
        } else if (cp == 0x0B || cp == 0x0C || cp == 0x85 || cp == 0x2028 || cp == 0x2029) {
            out[w++] = '\n';
        } else if ((cp < 0x20 && cp != '\t' && cp != '\n') || (cp >= 0x7F && cp <= 0x9F) || cp == 0xFEFF) {
            /* removed */
        } else {
            memcpy(out + w, s + i, len);
            w += len;
        }
        i += len;
    }
    return w;
}

static void test_sanitize_matches_reference(void)
{
    char text[300], want[1000];
    llm_buf got;
    llm_buf_init(&got);
    int failures = 0;
    for (size_t len = 0; len < 200 && failures < 5; len++) {
        for (int round = 0; round < 60 && failures < 5; round++) {
            size_t n = random_text(text, len, round % 3 == 2 ? 4 : round % 2 ? 1 : 3), want_invalid, got_invalid;
            size_t wn = reference_sanitize(text, n, want, &want_invalid);
            llm_buf_clear(&got);
            int markup;
            const char *res = clean_sanitize(text, n, 0, &got, &got_invalid, &markup, NULL) ? got.data : text;
            size_t rn = res == text ? n : got.len;
            /* Unchanged text: the markup flag says exactly whether a '<' or '&' is in it. */
            int want_markup = res != text || memchr(text, '<', n) || memchr(text, '&', n);
            int same = rn == wn && (wn == 0 || memcmp(res, want, wn) == 0) && got_invalid == want_invalid &&
                       markup == want_markup;
            CHECKF(same, "len %zu: got %zu bytes (%zu invalid, markup %d), want %zu (%zu, %d)", n, rn, got_invalid,
                   markup, wn, want_invalid, want_markup);
            failures += !same;
        }
    }
    llm_buf_free(&got);
}

/* Where clean_whitespace's runs of words end, one character at a time: whitespace other
 * than a space followed by a word, the end of the text counting as whitespace. */
static void reference_breaks(const char *str, size_t n, size_t *first, size_t *last)
{
    const unsigned char *s = (const unsigned char *)str;
    *first = n;
    *last = 0;
    for (size_t i = 0, len; i < n; i += len) {
        uint32_t cp = decode(s + i, n - i, &len);
        if (cp != '\n' && !is_horizontal_space(cp))
            continue;
        if (cp == ' ' && i + 1 < n) {
            size_t next_len;
            uint32_t next = decode(s + i + 1, n - i - 1, &next_len);
            if (next != '\n' && !is_horizontal_space(next))
                continue;
        }
        if (*first == n)
            *first = i;
        *last = i + 1;
    }
}

/* What sanitize's scan learns of the whitespace is exactly where the runs end, and the
 * whitespace step given it writes the same bytes as without it; a text known to be valid
 * UTF-8 is sanitized as one checked. Each text lies in a block of its own size, so that a
 * sanitizer build sees any read past its end. */
static void test_hint_matches_reference(void)
{
    char text[300], want[300];
    llm_buf got, with_hint, san;
    llm_buf_init(&got);
    llm_buf_init(&with_hint);
    llm_buf_init(&san);
    int failures = 0, known = 0;
    for (size_t len = 0; len < 260 && failures < 5; len++) {
        for (int round = 0; round < 80 && failures < 5; round++) {
            int kind = round % 5;
            size_t n = random_text(text, len, kind);
            char *exact = malloc(n ? n : 1);
            CHECK(exact != NULL);
            memcpy(exact, text, n);
            size_t invalid;
            int markup;
            clean_ws_hint hint;
            llm_buf_clear(&san);
            int changed = clean_sanitize(exact, n, 0, &san, &invalid, &markup, &hint);
            if (kind != 1) {    /* valid UTF-8: the same with the validation skipped */
                llm_buf_clear(&got);
                clean_ws_hint hint2;
                int markup2;
                size_t invalid2;
                int changed2 = clean_sanitize(exact, n, 1, &got, &invalid2, &markup2, &hint2);
                int same = changed2 == changed && markup2 == markup && invalid2 == invalid &&
                           hint2.known == hint.known && (!changed || (got.len == san.len &&
                                                                      memcmp(got.data, san.data, got.len) == 0)) &&
                           (!hint.known || (hint2.first == hint.first && hint2.last == hint.last));
                CHECKF(same, "len %zu kind %d: valid_utf8 1 differs", n, kind);
                failures += !same;
            }
            if (changed || !hint.known) {
                CHECKF(!changed || !hint.known, "len %zu: hint known for a changed text", n);
                free(exact);
                continue;
            }
            known++;
            size_t first, last;
            reference_breaks(exact, n, &first, &last);
            int same = hint.first == first && hint.last == last;
            CHECKF(same, "len %zu kind %d: hint first %zu last %zu, want %zu %zu", n, kind, hint.first, hint.last,
                   first, last);
            failures += !same;
            for (int mode = 0; mode < 3; mode++) {
                int collapse = mode == 0;
                unsigned max_blank = mode == 2 ? 0 : 1;
                size_t wn = reference_whitespace(exact, n, collapse, max_blank, want);
                llm_buf_clear(&got);
                llm_buf_clear(&with_hint);
                int c1 = clean_whitespace(exact, n, collapse, max_blank, NULL, &got);
                int c2 = clean_whitespace(exact, n, collapse, max_blank, &hint, &with_hint);
                const char *res = c2 ? with_hint.data : exact;
                size_t rn = c2 ? with_hint.len : n;
                same = c1 == c2 && (!c1 || (got.len == with_hint.len && memcmp(got.data, with_hint.data, got.len) == 0)) &&
                       rn == wn && (wn == 0 || memcmp(res, want, wn) == 0);
                CHECKF(same, "len %zu mode %d: with the hint got %zu bytes, want %zu", n, mode, rn, wn);
                failures += !same;
            }
            free(exact);
        }
    }
#ifdef LLM_SIMD    /* the scalar build learns nothing on the way */
    CHECKF(known > 1000, "only %d texts came with a hint", known);
#endif
    llm_buf_free(&got);
    llm_buf_free(&with_hint);
    llm_buf_free(&san);
}

/* A document's steps with plain lines out: whitespace writes its text straight into the
 * output, so a document dropped after it must leave the output as it found it, a step
 * that rewrites the text after it must leave its text alone in the line, and an output
 * buffer that ran out of memory makes every later document an error. */
static void test_document_lines_out(void)
{
    clean_opts o = {.in = CLEAN_IN_LINES, .out = CLEAN_OUT_LINES, .norm = LLM_NORM_NONE, .markup = 1,
                    .collapse_newlines = 1, .max_blank_lines = 1, .min_chars = 11};
    clean_worker w;
    CHECK(clean_worker_init(&w, &o) == 0);
    llm_buf out;
    llm_buf_init(&out);
    llm_buf_puts(&out, "before\n");
    clean_result res;

    static const char short_doc[] = "a  <b>short</b>  tx";    /* 10 characters once cleaned */
    clean_document(&o, &w, short_doc, strlen(short_doc), &out, &res);
    CHECK(res.reason && strcmp(res.reason, "min-chars") == 0);
    CHECK(out.len == 7 && memcmp(out.data, "before\n", 7) == 0);

    static const char kept[] = "  a <i>longer</i>\ttext here ";
    clean_document(&o, &w, kept, strlen(kept), &out, &res);
    CHECK(res.reason == NULL);
    CHECK(res.out_off == 7 && res.out_len == 19);
    CHECK(out.len == 26 && memcmp(out.data, "before\na longer text here\n", 26) == 0);

    static const char plain[] = "one run of words already";    /* no step changes it */
    clean_document(&o, &w, plain, strlen(plain), &out, &res);
    CHECK(res.reason == NULL && res.out_off == 26 && res.out_len == 25);
    CHECK(out.len == 51 && memcmp(out.data + 26, "one run of words already\n", 25) == 0);

    /* A rule that rewrites the text after whitespace wrote it into out: the line holds
     * the rewritten text alone. */
    clean_rule rule;
    llm_error err;
    CHECK(clean_rule_compile(&rule, CLEAN_RULE_REPLACE, "longer=much longer", &err) == 0);
    clean_opts with_rule = o;
    with_rule.rules = &rule;
    with_rule.n_rules = 1;
    clean_worker wr;
    CHECK(clean_worker_init(&wr, &with_rule) == 0);
    clean_document(&with_rule, &wr, kept, strlen(kept), &out, &res);
    CHECK(res.reason == NULL && res.out_off == 51 && res.out_len == 24);
    CHECK(out.len == 75 && memcmp(out.data + 51, "a much longer text here\n", 24) == 0);
    clean_worker_free(&wr);
    clean_rule_free(&rule);

    out.failed = 1;
    clean_document(&o, &w, kept, strlen(kept), &out, &res);
    CHECK(res.reason == CLEAN_REASON_NO_MEMORY && res.error);
    free(res.error);
    llm_buf_free(&out);
    clean_worker_free(&w);
}

/* clean_repair_utf8, for JSONL records: ill-formed UTF-8 becomes U+FFFD, one for each
 * maximal subpart, exactly where clean_sanitize puts them; controls and everything else
 * stay, since a record's raw controls are JSON's to judge. */
static void test_repair_utf8(void)
{
    static const struct {
        const char *in, *want;
        size_t invalid;
    } cases[] = {
        {"{\"text\":\"caf\xe9\"}", "{\"text\":\"caf\xef\xbf\xbd\"}", 1},
        {"plain \t\x01 ascii", "plain \t\x01 ascii", 0},
        {"\xe4\xb8\xad ok", "\xe4\xb8\xad ok", 0},
        {"a\xf0\x9f\x98" "b\xed\xa0\x80" "c", "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "c", 4},
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", 2},
        {"end\xe4\xb8", "end\xef\xbf\xbd", 1},
        {"", "", 0},
    };
    llm_buf out;
    llm_buf_init(&out);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llm_buf_clear(&out);
        size_t invalid = clean_repair_utf8(cases[i].in, strlen(cases[i].in), &out);
        CHECKF(invalid == cases[i].invalid, "case %zu: %zu replacements", i, invalid);
        CHECKF(out.len == strlen(cases[i].want) && memcmp(out.data, cases[i].want, out.len) == 0, "case %zu", i);
        CHECK(llm_utf8_valid(out.data, out.len));
    }
    llm_buf_free(&out);
}

int main(void)
{
    RUN(test_whitespace_matches_reference);
    RUN(test_collapse_at_chunk_edges);
    RUN(test_sanitize_matches_reference);
    RUN(test_hint_matches_reference);
    RUN(test_document_lines_out);
    RUN(test_repair_utf8);
    CHECK_EXIT();
}

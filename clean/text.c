/* The character-level steps of llm-clean: UTF-8 repair with control removal, and
 * whitespace cleaning. Both are single passes with a fast path for plain ASCII, since
 * they see every byte of the corpus. */
#include "clean.h"
#include "simd.h"
#include "utf8.h"

#include <string.h>


/* Length of the leading run of printable ASCII, tab and newline: the bytes sanitize
 * passes through untouched. */
static size_t plain_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef LLM_SIMD
    for (; i + LLM_VEC_BYTES <= n; i += LLM_VEC_BYTES) {
        llm_vec v = llm_vec_load(s + i);
        llm_vec printable = llm_vec_in_range(v, 0x20, 0x7E);
        llm_vec fine = llm_vec_or(printable, llm_vec_or(llm_vec_eq_byte(v, '\t'), llm_vec_eq_byte(v, '\n')));
        uint64_t bad = ~llm_vec_mask(fine) & LLM_VEC_ALL;
        if (bad)
            return i + (size_t)__builtin_ctzll(bad);
    }
#else
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        if ((((v - ones * 0x20) & ~v) | (v + ones) | v) & highs)
            break;
    }
#endif
    for (; i < n; i++) {
        unsigned char c = s[i];
        if ((c < 0x20 && c != '\t' && c != '\n') || c >= 0x7F)
            break;
    }
    return i;
}

/* Length of the leading run of three-byte characters that need no second look (most
 * CJK text): lead bytes E1..EC, EE and EF take any two continuation bytes, and only
 * U+2028, U+2029 and U+FEFF among them are characters sanitize changes. */
static size_t three_byte_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i + 3 <= n) {
        unsigned char c = s[i], c1 = s[i + 1], c2 = s[i + 2];
        if (c < 0xE1 || c == 0xED || c > 0xEF || (c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80)
            break;
        if ((c == 0xE2 && c1 == 0x80 && (c2 == 0xA8 || c2 == 0xA9)) || (c == 0xEF && c1 == 0xBB && c2 == 0xBF))
            break;
        i += 3;
    }
    return i;
}

/* What sanitize does with the character at s (len bytes, valid): 0 keep it, 1 drop it,
 * 2 turn it into a newline. */
static int control_action(const unsigned char *s, size_t len)
{
    if (len == 1)
        return s[0] == '\t' || s[0] == '\n' || (s[0] >= 0x20 && s[0] < 0x7F) ? 0
               : s[0] == '\v' || s[0] == '\f'                                ? 2
                                                                             : 1;
    if (len == 2 && s[0] == 0xC2 && s[1] < 0xA0)
        return s[1] == 0x85 ? 2 : 1;                          /* C1 controls; NEL */
    if (len == 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
        return 1;                                             /* U+FEFF */
    if (len == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9))
        return 2;                                             /* LS, PS */
    return 0;
}

#ifdef LLM_SIMD
/* In valid UTF-8: 1 when the character starting at s[i] is one sanitize changes (a C0
 * control but tab and newline, DEL, a C1 control, U+FEFF, U+2028, U+2029). */
static int changes_at(const unsigned char *s, size_t n, size_t i)
{
    unsigned char c = s[i];
    if (c < 0x80)
        return (c < 0x20 && c != '\t' && c != '\n') || c == 0x7F;
    if (c == 0xC2)
        return i + 1 < n && s[i + 1] < 0xA0;
    if (i + 2 >= n)
        return 0;
    return (c == 0xEF && s[i + 1] == 0xBB && s[i + 2] == 0xBF) ||
           (c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9));
}

/* The positions k of s[0..LLM_VEC_BYTES) where changes_at holds, as bits: each of those
 * characters is recognised by its first two or three bytes, compared in place. Reads
 * s[0..LLM_VEC_BYTES + 2). The positions of '<' and '&' go to *markup: the markup step
 * need not look at a text this scan has seen whole without them. With the same loads and
 * compares, *ws and *spaces get what ws_starts (below) gives for these positions. */
static inline __attribute__((always_inline)) uint64_t changes_in(const unsigned char *s, uint64_t *markup, uint64_t *ws, uint64_t *spaces)
{
    llm_vec v = llm_vec_load(s);
    llm_vec tab_nl = llm_vec_or(llm_vec_eq_byte(v, '\t'), llm_vec_eq_byte(v, '\n'));
    llm_vec space = llm_vec_eq_byte(v, ' ');
    llm_vec m = llm_vec_or(llm_vec_andnot(tab_nl, llm_vec_le_u8(v, 0x1F)), llm_vec_eq_byte(v, 0x7F));
    llm_vec w = llm_vec_or(space, tab_nl);
    *markup |= llm_vec_mask(llm_vec_or(llm_vec_eq_byte(v, '<'), llm_vec_eq_byte(v, '&')));
    *spaces = llm_vec_mask(space);
    if (!llm_vec_mask(v)) {    /* all ASCII: no C1 control, BOM, separator or Unicode space */
        *ws = llm_vec_mask(w);
        return llm_vec_mask(m);
    }
    llm_vec v1 = llm_vec_load(s + 1), v2 = llm_vec_load(s + 2);
    llm_vec v1_80 = llm_vec_eq_byte(v1, 0x80), v2_80 = llm_vec_eq_byte(v2, 0x80);
    llm_vec bom = llm_vec_and(llm_vec_and(llm_vec_eq_byte(v, 0xEF), llm_vec_eq_byte(v1, 0xBB)),
                              llm_vec_eq_byte(v2, 0xBF));
    llm_vec ideographic = llm_vec_and(llm_vec_and(llm_vec_eq_byte(v, 0xE3), v1_80), v2_80);
    w = llm_vec_or(w, ideographic);
    m = llm_vec_or(m, bom);
    /* The other characters start with C2, E1 or E2, which most non-ASCII text (CJK, whose
     * punctuation starts with E3 and EF) lacks: half the work is skipped then. */
    llm_vec c2 = llm_vec_eq_byte(v, 0xC2), e1_e2 = llm_vec_in_range(v, 0xE1, 0xE2);
    if (!llm_vec_mask(llm_vec_or(c2, e1_e2))) {
        *ws = llm_vec_mask(w);
        return llm_vec_mask(m);
    }
    llm_vec e2 = llm_vec_eq_byte(v, 0xE2), e2_80 = llm_vec_and(e2, v1_80);
    llm_vec c1 = llm_vec_and(c2, llm_vec_le_u8(v1, 0x9F));
    llm_vec sep = llm_vec_and(e2_80, llm_vec_or(llm_vec_eq_byte(v2, 0xA8), llm_vec_eq_byte(v2, 0xA9)));
    /* The Unicode spaces, as ws_starts finds them. */
    llm_vec nbsp = llm_vec_and(c2, llm_vec_eq_byte(v1, 0xA0));
    llm_vec ogham = llm_vec_and(llm_vec_and(llm_vec_eq_byte(v, 0xE1), llm_vec_eq_byte(v1, 0x9A)), v2_80);
    llm_vec general = llm_vec_and(e2_80, llm_vec_or(llm_vec_le_u8(v2, 0x8A), llm_vec_eq_byte(v2, 0xAF)));
    llm_vec math = llm_vec_and(llm_vec_and(e2, llm_vec_eq_byte(v1, 0x81)), llm_vec_eq_byte(v2, 0x9F));
    w = llm_vec_or(llm_vec_or(w, llm_vec_or(nbsp, ogham)), llm_vec_or(general, math));
    *ws = llm_vec_mask(w);
    return llm_vec_mask(llm_vec_or(m, llm_vec_or(c1, sep)));
}

/* Where a word run ends ("a break": whitespace other than a space between two words) in
 * a classified stretch, given which positions start whitespace, which are spaces and
 * which are followed by whitespace. 0: none. */
static inline uint64_t breaks_of(uint64_t ws, uint64_t spaces, uint64_t followed)
{
    return ws & ~(spaces & ~followed);
}

/* Notes the breaks t (bits, nonzero) of the stretch at base in *hint. */
static inline void note_breaks(clean_ws_hint *hint, size_t base, uint64_t t)
{
    if (hint->first == SIZE_MAX)
        hint->first = base + (size_t)__builtin_ctzll(t);
    hint->last = base + 64 - (size_t)__builtin_clzll(t);
}

/* The first i where changes_at holds, or n; *markup nonzero when a '<' or '&' comes
 * before it. When it is n and the text has neither '<' nor '&' (markup would most
 * likely change the text, so the whitespace step could not use it), the same pass has
 * found the text's breaks for the whitespace step: hint->first and hint->last as clean.h
 * says, else hint->first is SIZE_MAX. The loads never pass n: the last stretch is read
 * through the window that ends there, and its final two positions, where only one- and
 * two-byte characters fit, are looked at one by one; a text too short for that is read
 * through a copy padded with newlines, which the valid UTF-8 before them cannot take for
 * a part of a character, and which break at n as the end of the text does. A chunk of W
 * positions knows its breaks once whether whitespace starts right after it is known:
 * from the next chunk, or from the window at the end. */
static size_t next_change(const unsigned char *s, size_t n, uint64_t *markup, clean_ws_hint *hint)
{
    enum { W = LLM_VEC_BYTES };
    uint64_t ws, spaces, prev_ws = 0, prev_spaces = 0, mk = 0;
    hint->first = SIZE_MAX;
    hint->last = 0;
    if (n < W + 2) {
        unsigned char pad[2 * W + 2];
        memset(pad, '\n', sizeof pad);
        if (n)    /* an empty text may come as NULL */
            memcpy(pad, s, n);
        uint64_t ws2, spaces2;
        uint64_t change = changes_in(pad, &mk, &ws, &spaces);
        change |= changes_in(pad + W, &mk, &ws2, &spaces2) << W;
        change &= (1ull << n) - 1;
        *markup = mk;
        if (change)
            return (size_t)__builtin_ctzll(change);
        /* pad[2W] is a newline too. */
        uint64_t t = (breaks_of(ws, spaces, (ws >> 1) | (ws2 << (W - 1))) & LLM_VEC_ALL) |
                     breaks_of(ws2, spaces2, (ws2 >> 1) | (1ull << (W - 1))) << W;
        t &= (2ull << n) - 1;    /* bit n: the end */
        hint->first = (size_t)__builtin_ctzll(t);
        t &= (1ull << n) - 1;
        if (t)
            note_breaks(hint, 0, t);
        return n;
    }
    size_t i = 0;
    for (; i + W + 2 <= n; i += W) {
        uint64_t change = changes_in(s + i, &mk, &ws, &spaces);
        if (change) {
            *markup = mk;
            return i + (size_t)__builtin_ctzll(change);
        }
        if (i) {
            uint64_t t = breaks_of(prev_ws, prev_spaces, (prev_ws >> 1) | (ws << (W - 1))) & LLM_VEC_ALL;
            if (t)
                note_breaks(hint, i - W, t);
        }
        prev_ws = ws;
        prev_spaces = spaces;
        if (__builtin_expect(mk != 0, 0)) {
            i += W;
            goto without_breaks;
        }
    }
    if (0) {
    without_breaks:
        for (; i + W + 2 <= n; i += W) {
            uint64_t change = changes_in(s + i, &mk, &ws, &spaces);
            if (change) {
                *markup = mk;
                return i + (size_t)__builtin_ctzll(change);
            }
        }
    }
    /* Now base < i <= base + W. */
    size_t base = n - W - 2;
    uint64_t change = changes_in(s + base, &mk, &ws, &spaces) & (~0ull << (i - base));
    if (change) {
        *markup = mk;
        return base + (size_t)__builtin_ctzll(change);
    }
    for (size_t k = n - 2; k < n; k++) {
        if (changes_at(s, n, k)) {
            *markup = mk;
            return k;
        }
        mk |= s[k] == '<' || s[k] == '&';
    }
    *markup = mk;
    if (mk) {
        hint->first = SIZE_MAX;
        return n;
    }
    unsigned char a = s[n - 2], b = s[n - 1];    /* only one- or two-byte spaces fit here */
    ws |= (uint64_t)(a == ' ' || a == '\t' || a == '\n' || (a == 0xC2 && b == 0xA0)) << W;
    ws |= (uint64_t)(b == ' ' || b == '\t' || b == '\n') << (W + 1);
    ws |= 1ull << (W + 2);
    spaces |= (uint64_t)(a == ' ') << W | (uint64_t)(b == ' ') << (W + 1);
    uint64_t next = ws >> (i - base) & 1;
    uint64_t t = breaks_of(prev_ws, prev_spaces, (prev_ws >> 1) | (next << (W - 1))) & LLM_VEC_ALL;
    if (t)
        note_breaks(hint, i - W, t);
    t = breaks_of(ws, spaces, ws >> 1) & (~0ull << (i - base));
    if (hint->first == SIZE_MAX)
        hint->first = base + (size_t)__builtin_ctzll(t);    /* n at the latest */
    t &= ~(1ull << (W + 2));
    if (t)
        note_breaks(hint, base, t);
    return n;
}

/* Valid UTF-8 needs sanitizing only from its first character that sanitize changes:
 * found with one validation and one scan, both SIMD. Returns that offset, or n with
 * *hint known. */
static size_t first_change(const unsigned char *s, size_t n, int valid_utf8, int *markup, clean_ws_hint *hint)
{
    hint->known = 0;
    if (!valid_utf8 && !llm_utf8_valid((const char *)s, n)) {
        *markup = 1;
        return 0;
    }
    uint64_t seen;
    size_t i = next_change(s, n, &seen, hint);
    *markup = seen != 0;
    hint->known = i == n && hint->first != SIZE_MAX;
    return i;
}
#else
static size_t first_change(const unsigned char *s, size_t n, int valid_utf8, int *markup, clean_ws_hint *hint)
{
    (void)s;
    (void)n;
    (void)valid_utf8;
    *markup = n != 0;
    hint->known = 0;
    return 0;    /* the careful loop does it all */
}
#endif

int clean_sanitize(const char *str, size_t n, int valid_utf8, llm_buf *out, size_t *invalid, int *markup,
                   clean_ws_hint *hint)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t copied = 0;   /* s[0..copied) has been dealt with */
    int changed = 0;
    *invalid = 0;
    clean_ws_hint scratch;
    if (!hint)
        hint = &scratch;
    size_t i = first_change(s, n, valid_utf8, markup, hint);
    if (i == n)
        return 0;
    hint->known = 0;
    *markup = 1;    /* the text changes: the markup step looks for itself */
    while (i < n) {
        if (s[i] < 0x80) {   /* non-ASCII text comes in runs: stay in this loop for them */
            i += plain_prefix(s + i, n - i);
            if (i == n)
                break;
        }
        if (s[i] >= 0xE1) {
            size_t k = three_byte_prefix(s + i, n - i);
            if (k) {
                i += k;
                continue;
            }
        }
        size_t len = llm_utf8_seq_len(s + i, n - i);
        const char *replacement = NULL;
        size_t skip = len;
        if (len == 0) {
            skip = llm_utf8_invalid_len(s + i, n - i);
            replacement = LLM_UTF8_REPLACEMENT;
            ++*invalid;
        } else {
            int action = control_action(s + i, len);
            if (action == 0) {
                i += len;
                continue;
            }
            if (action == 2)
                replacement = "\n";
            else if (s[i] == '\r')
                /* CRLF is one newline; a lone CR is one too (old Mac text). */
                replacement = i + 1 < n && s[i + 1] == '\n' ? "" : "\n";
            else
                replacement = "";
        }
        if (!changed) {
            changed = 1;
            llm_buf_reserve(out, n + 16);
        }
        llm_buf_append(out, s + copied, i - copied);
        llm_buf_puts(out, replacement);
        i += skip;
        copied = i;
    }
    if (!changed) {    /* only where first_change leaves it all to this loop */
        *markup = memchr(s, '<', n) || memchr(s, '&', n);
        return 0;
    }
    llm_buf_append(out, s + copied, n - copied);
    return 1;
}

size_t clean_repair_utf8(const char *str, size_t n, llm_buf *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t copied = 0, i = 0, invalid = 0;    /* s[0..copied) is in out */
    while (i < n) {
        i += llm_utf8_ascii_prefix(str + i, n - i);
        if (i == n)
            break;
        size_t len = llm_utf8_seq_len(s + i, n - i);
        if (len) {
            i += len;
            continue;
        }
        llm_buf_append(out, str + copied, i - copied);
        llm_buf_puts(out, LLM_UTF8_REPLACEMENT);
        i += llm_utf8_invalid_len(s + i, n - i);
        copied = i;
        invalid++;
    }
    llm_buf_append(out, str + copied, n - copied);
    return invalid;
}

/* ---- whitespace ---- */

/* Byte length of the horizontal space at s, or 0: space, tab, and the Unicode spaces
 * (NBSP, Ogham, U+2000..200A, narrow NBSP, medium math space, ideographic space). */
static size_t space_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c == ' ' || c == '\t')
        return 1;
    if (c < 0xC2)
        return 0;
    if (c == 0xC2)
        return n >= 2 && s[1] == 0xA0 ? 2 : 0;
    if (n < 3)
        return 0;
    if (c == 0xE1)
        return s[1] == 0x9A && s[2] == 0x80 ? 3 : 0;
    if (c == 0xE2) {
        if (s[1] == 0x80)
            return s[2] <= 0x8A || s[2] == 0xAF ? 3 : 0;
        return s[1] == 0x81 && s[2] == 0x9F ? 3 : 0;
    }
    if (c == 0xE3)
        return s[1] == 0x80 && s[2] == 0x80 ? 3 : 0;
    return 0;
}

#ifndef LLM_SIMD
/* Byte length of the whitespace character at s (a horizontal space or a newline), or 0. */
static size_t ws_len(const unsigned char *s, size_t n)
{
    return s[0] == '\n' ? 1 : space_len(s, n);
}
#else
/* The bits of the positions of s[0..LLM_VEC_BYTES) where a whitespace character starts,
 * with *spaces the bits of plain spaces. The Unicode spaces are recognised by all their
 * bytes in place, so that CJK punctuation (U+3001, U+300C, ...) and curly quotes
 * (U+201C, ...), which share lead bytes with them, do not interrupt the scan. Reads
 * s[0..LLM_VEC_BYTES + 2). */
static inline uint64_t ws_starts(const unsigned char *s, uint64_t *spaces)
{
    llm_vec v = llm_vec_load(s);
    llm_vec space = llm_vec_eq_byte(v, ' ');
    llm_vec m = llm_vec_or(space, llm_vec_or(llm_vec_eq_byte(v, '\t'), llm_vec_eq_byte(v, '\n')));
    *spaces = llm_vec_mask(space);
    if (!llm_vec_mask(v))    /* all ASCII: no Unicode space starts here */
        return llm_vec_mask(m);
    llm_vec v1 = llm_vec_load(s + 1), v2 = llm_vec_load(s + 2);
    llm_vec e2 = llm_vec_eq_byte(v, 0xE2), v1_80 = llm_vec_eq_byte(v1, 0x80), v2_80 = llm_vec_eq_byte(v2, 0x80);
    llm_vec nbsp = llm_vec_and(llm_vec_eq_byte(v, 0xC2), llm_vec_eq_byte(v1, 0xA0));
    llm_vec ogham = llm_vec_and(llm_vec_and(llm_vec_eq_byte(v, 0xE1), llm_vec_eq_byte(v1, 0x9A)), v2_80);
    llm_vec general = llm_vec_and(llm_vec_and(e2, v1_80),                      /* U+2000..200A, 202F */
                                  llm_vec_or(llm_vec_le_u8(v2, 0x8A), llm_vec_eq_byte(v2, 0xAF)));
    llm_vec math = llm_vec_and(llm_vec_and(e2, llm_vec_eq_byte(v1, 0x81)), llm_vec_eq_byte(v2, 0x9F));
    llm_vec ideographic = llm_vec_and(llm_vec_and(llm_vec_eq_byte(v, 0xE3), v1_80), v2_80);
    m = llm_vec_or(llm_vec_or(m, llm_vec_or(nbsp, ogham)), llm_vec_or(general, llm_vec_or(math, ideographic)));
    return llm_vec_mask(m);
}

/* The same for the last W + 2 positions of s[0..n) (n >= W + 2, W = LLM_VEC_BYTES): bit
 * k for position n - W - 2 + k, and bit W + 2 for the end of the text, which counts as
 * whitespace: a word runs up to it, and a space before it is no space between words. */
static inline uint64_t ws_starts_at_end(const unsigned char *s, size_t n, uint64_t *spaces)
{
    const size_t w = LLM_VEC_BYTES;
    uint64_t sp, ws = ws_starts(s + n - w - 2, &sp);
    unsigned char a = s[n - 2], b = s[n - 1];    /* only one- or two-byte spaces fit here */
    ws |= (uint64_t)(a == ' ' || a == '\t' || a == '\n' || (a == 0xC2 && b == 0xA0)) << w;
    ws |= (uint64_t)(b == ' ' || b == '\t' || b == '\n') << (w + 1);
    ws |= 1ull << (w + 2);
    *spaces = sp | (uint64_t)(a == ' ') << w | (uint64_t)(b == ' ') << (w + 1);
    return ws;
}
#endif

/* End of the run of word bytes that starts at s[i] (not whitespace), with the single
 * spaces between words left in it: they are clean already, and copying whole runs is
 * what makes this step fast. */
static size_t word_run(const unsigned char *s, size_t i, size_t n)
{
#ifdef LLM_SIMD
    enum { W = LLM_VEC_BYTES };
    if (n < W + 2) {
        /* Too short for the vectors: a copy padded with newlines, which end the run at n
         * as the text's end does. */
        unsigned char pad[2 * W + 2];
        memset(pad, '\n', sizeof pad);
        memcpy(pad, s, n);
        uint64_t spaces, ws = ws_starts(pad, &spaces), next_spaces, next = ws_starts(pad + W, &next_spaces);
        uint64_t first = breaks_of(ws, spaces, (ws >> 1) | (next << (W - 1))) & LLM_VEC_ALL & (~0ull << i);
        if (first)
            return (size_t)__builtin_ctzll(first);
        /* pad[2W] is a newline too; the second chunk breaks at n at the latest. */
        uint64_t second = breaks_of(next, next_spaces, (next >> 1) | (1ull << (W - 1)));
        return W + (size_t)__builtin_ctzll(second);
    }
    /* A chunk of W positions at i is settled once whether whitespace starts right after
     * it is known: from the next chunk, or, near the end, from the window that ends at n
     * (loads never pass n). */
    uint64_t spaces = 0, ws = 0;
    if (n - i >= W + 2) {
        ws = ws_starts(s + i, &spaces);
        /* Most runs are short: a break before the chunk's last position needs no more. */
        uint64_t t = breaks_of(ws, spaces, ws >> 1) & (LLM_VEC_ALL >> 1);
        if (t)
            return i + (size_t)__builtin_ctzll(t);
    }
    while (n - i >= 2 * W + 2) {
        uint64_t next_spaces, next = ws_starts(s + i + W, &next_spaces);
        uint64_t t = breaks_of(ws, spaces, (ws >> 1) | (next << (W - 1))) & LLM_VEC_ALL;
        if (t)
            return i + (size_t)__builtin_ctzll(t);
        i += W;
        ws = next;
        spaces = next_spaces;
    }
    size_t base = n - W - 2;
    uint64_t end_spaces, end_ws = ws_starts_at_end(s, n, &end_spaces);
    if (n - i >= W + 2) {
        uint64_t next = end_ws >> (i + W - base) & 1;
        uint64_t t = breaks_of(ws, spaces, (ws >> 1) | (next << (W - 1))) & LLM_VEC_ALL;
        if (t)
            return i + (size_t)__builtin_ctzll(t);
        i += W;
    }
    /* Now base < i <= n, and the end bit makes t nonzero. */
    uint64_t t = breaks_of(end_ws, end_spaces, end_ws >> 1) & (~0ull << (i - base));
    return base + (size_t)__builtin_ctzll(t);
#else
    while (i < n) {
        if (!ws_len(s + i, n - i)) {
            i += s[i] < 0xC0 ? 1 : llm_utf8_lead_len(s[i]);
            continue;
        }
        if (s[i] == ' ' && i + 1 < n && !ws_len(s + i + 1, n - i - 1))
            i++;
        else
            return i;
    }
    return n;
#endif
}

#define SHORT_COPY 32

/* Copies a run of len bytes (room bytes may be read from src, and len + SHORT_COPY
 * written at dst): a short run is one fixed-size move, where memcpy's choice of a way
 * by the length is a mispredicted branch for runs of every length. */
static inline void copy_run(char *dst, const unsigned char *src, size_t len, size_t room)
{
    if (len <= SHORT_COPY && room >= SHORT_COPY)
        memcpy(dst, src, SHORT_COPY);
    else
        memcpy(dst, src, len);
}

#if defined(LLM_SIMD) && LLM_VEC_BYTES == 32 && defined(__BMI2__)
#define LLM_COLLAPSE_COMPACT 1
#include <immintrin.h>

/* --collapse-newlines on text that an earlier step changed (markup's output is mostly
 * short words between runs of whitespace, where word_run and skip_whitespace take a
 * mispredicted branch or two per word): each chunk of bytes is classified once, and the
 * bytes to keep are packed down with BMI2's pext, without a branch per word. A byte is
 * kept when it is no whitespace, or when it starts a run of whitespace, as a space; the
 * run at the start has whitespace before it (nothing is kept of it), and the space of
 * the run at the end is taken back. */
typedef struct ws_chunk {
    llm_vec text;      /* the chunk, with the first byte of each whitespace character a space */
    uint64_t starts;   /* where whitespace characters start */
    uint64_t bytes;    /* every byte of those characters: bits W and W + 1 for the next chunk */
} ws_chunk;

/* Classifies s[0..W), reading s[0..W + 2): the characters are those of ws_starts. */
static inline void ws_chunk_load(const unsigned char *s, ws_chunk *c)
{
    llm_vec v = llm_vec_load(s);
    llm_vec all = llm_vec_or(llm_vec_eq_byte(v, ' '), llm_vec_or(llm_vec_eq_byte(v, '\t'), llm_vec_eq_byte(v, '\n')));
    uint64_t two = 0, three = 0;
    if (llm_vec_mask(v)) {
        llm_vec v1 = llm_vec_load(s + 1), v2 = llm_vec_load(s + 2);
        llm_vec e2 = llm_vec_eq_byte(v, 0xE2), v1_80 = llm_vec_eq_byte(v1, 0x80), v2_80 = llm_vec_eq_byte(v2, 0x80);
        llm_vec nbsp = llm_vec_and(llm_vec_eq_byte(v, 0xC2), llm_vec_eq_byte(v1, 0xA0));
        llm_vec ogham = llm_vec_and(llm_vec_and(llm_vec_eq_byte(v, 0xE1), llm_vec_eq_byte(v1, 0x9A)), v2_80);
        llm_vec general = llm_vec_and(llm_vec_and(e2, v1_80), llm_vec_or(llm_vec_le_u8(v2, 0x8A), llm_vec_eq_byte(v2, 0xAF)));
        llm_vec math = llm_vec_and(llm_vec_and(e2, llm_vec_eq_byte(v1, 0x81)), llm_vec_eq_byte(v2, 0x9F));
        llm_vec ideographic = llm_vec_and(llm_vec_and(llm_vec_eq_byte(v, 0xE3), v1_80), v2_80);
        llm_vec wide = llm_vec_or(llm_vec_or(ogham, general), llm_vec_or(math, ideographic));
        two = llm_vec_mask(nbsp);
        three = llm_vec_mask(wide);
        all = llm_vec_or(all, llm_vec_or(nbsp, wide));
    }
    c->starts = llm_vec_mask(all);
    c->bytes = c->starts | two << 1 | three << 1 | three << 2;
    c->text = llm_vec_or(llm_vec_andnot(all, v), llm_vec_and(all, llm_vec_splat(' ')));
}

/* Appends the bytes of text whose bits are set in keep at d; returns the new end. Writes
 * up to 8 bytes past it. */
static inline char *pack_bytes(char *d, llm_vec text, uint64_t keep)
{
    unsigned char b[LLM_VEC_BYTES];
    llm_vec_store(b, text);
    for (int k = 0; k < LLM_VEC_BYTES; k += 8) {
        uint64_t x, bits = keep >> k & 0xFF;
        memcpy(&x, b + k, 8);
        x = _pext_u64(x, _pdep_u64(bits, 0x0101010101010101ull) * 0xFF);
        memcpy(d, &x, 8);
        d += __builtin_popcountll(bits);
    }
    return d;
}

/* The chunk at s with the state between chunks (*carry: bytes of this chunk that a
 * character before it holds; *prev_ws: the byte before it is whitespace). */
static inline char *collapse_chunk(char *d, const unsigned char *s, uint64_t *carry, uint64_t *prev_ws)
{
    enum { W = LLM_VEC_BYTES };
    ws_chunk c;
    ws_chunk_load(s, &c);
    uint64_t ws = (c.bytes | *carry) & LLM_VEC_ALL;
    uint64_t keep = (~ws | (c.starts & ~(ws << 1 | *prev_ws))) & LLM_VEC_ALL;
    *carry = c.bytes >> W;
    *prev_ws = ws >> (W - 1);
    return pack_bytes(d, c.text, keep);
}

/* Writes s[0..n) with every run of whitespace one space, trimmed, at dst, which has room
 * for n + 2 * LLM_VEC_BYTES bytes. Returns the length. */
static size_t collapse_compact(const unsigned char *s, size_t n, char *dst)
{
    enum { W = LLM_VEC_BYTES };
    uint64_t carry = 0, prev_ws = 1;
    char *d = dst;
    size_t i = 0;
    for (; n - i >= W + 2; i += W)
        d = collapse_chunk(d, s + i, &carry, &prev_ws);
    /* The rest through a copy padded with newlines: whitespace, which the end trims. */
    unsigned char pad[2 * W + 2];
    memset(pad, '\n', sizeof pad);
    memcpy(pad, s + i, n - i);
    d = collapse_chunk(d, pad, &carry, &prev_ws);
    if (n - i > W)
        d = collapse_chunk(d, pad + W, &carry, &prev_ws);
    if (d > dst && d[-1] == ' ')
        d--;
    return (size_t)(d - dst);
}
#endif

/* The whitespace step's state between words. */
typedef struct ws_state {
    char *dst;
    size_t w;                  /* bytes written to dst */
    int started;               /* a word has been written */
    int space;                 /* a space is owed before the next word */
    size_t newlines;           /* newlines owed before the next word */
    int collapse;
} ws_state;

/* Writes what is owed before the next word: nothing at the very start (so the text is
 * trimmed), newlines (or one space when collapsing), or a space. */
static void ws_before_word(ws_state *st)
{
    if (st->started) {
        if (st->newlines && !st->collapse) {
            memset(st->dst + st->w, '\n', st->newlines);
            st->w += st->newlines;
        } else if (st->newlines || st->space) {
            st->dst[st->w++] = ' ';
        }
    }
    st->started = 1;
    st->space = 0;
    st->newlines = 0;
}

/* Takes the whitespace run at s[i] into the state; returns where the next word starts. */
static size_t skip_whitespace(const unsigned char *s, size_t i, size_t n, size_t max_newlines, ws_state *st)
{
    while (i < n) {
#ifdef LLM_SIMD
        /* Runs of ASCII whitespace (indentation, blank lines, what tags left) a vector at
         * a time: what counts is how many newlines there are, and whether a space or tab
         * follows the last of them. */
        if (n - i >= LLM_VEC_BYTES) {
            llm_vec v = llm_vec_load(s + i);
            uint64_t nl = llm_vec_mask(llm_vec_eq_byte(v, '\n'));
            uint64_t hs = llm_vec_mask(llm_vec_or(llm_vec_eq_byte(v, ' '), llm_vec_eq_byte(v, '\t')));
            uint64_t other = ~(nl | hs) & LLM_VEC_ALL;
            size_t k = other ? (size_t)__builtin_ctzll(other) : LLM_VEC_BYTES;
            if (k) {
                uint64_t in_run = k == 64 ? ~0ull : (1ull << k) - 1;
                nl &= in_run;
                hs &= in_run;
                size_t count = (size_t)__builtin_popcountll(nl);
                st->newlines = st->newlines + count < max_newlines ? st->newlines + count : max_newlines;
                /* hs and nl share no bit: hs is the larger when a space or tab follows
                 * the last newline (or there is none). */
                st->space = hs > nl;
                i += k;
                if (k < LLM_VEC_BYTES && s[i] < 0xC2)    /* no Unicode space starts here */
                    return i;
                continue;
            }
        }
#endif
        unsigned char c = s[i];
        size_t len;
        if (c == ' ' || c == '\t') {
            st->space = 1;
            i++;
        } else if (c == '\n') {
            /* One newline for the line break, plus the blank lines up to the cap; spaces
             * at the end of the line are dropped with the owed space. */
            if (st->newlines < max_newlines)
                st->newlines++;
            st->space = 0;
            i++;
        } else if (c >= 0xC2 && (len = space_len(s + i, n - i)) != 0) {
            st->space = 1;
            i += len;
        } else {
            break;
        }
    }
    return i;
}

/* word_run, or what the hint already knows of it: the first break at or after i. */
static inline size_t next_break(const unsigned char *s, size_t i, size_t n, const clean_ws_hint *hint)
{
    if (hint) {
        if (i <= hint->first)
            return hint->first;
        if (i >= hint->last)
            return n;
    }
    return word_run(s, i, n);
}

int clean_whitespace(const char *str, size_t n, int collapse_newlines, unsigned max_blank, const clean_ws_hint *hint,
                     llm_buf *out)
{
    const unsigned char *s = (const unsigned char *)str;
    ws_state st = {.collapse = collapse_newlines};
    if (hint && !hint->known)
        hint = NULL;
    /* One run of words, which the hint does not end at a single space before the first
     * word: clean already. */
    if (hint && hint->first == n && (n == 0 || s[0] != ' '))
        return 0;
    size_t i = skip_whitespace(s, 0, n, 1 + (size_t)max_blank, &st);
    /* Most documents are one run already: no copy then. */
    size_t run = i < n ? next_break(s, i, n, hint) : n;
    if (i == 0 && run == n)
        return 0;
#ifdef LLM_COLLAPSE_COMPACT
    if (collapse_newlines && !hint) {
        if (llm_buf_reserve(out, n + 2 * LLM_VEC_BYTES) < 0)
            return 1;
        out->len += collapse_compact(s, n, out->data + out->len);
        out->data[out->len] = '\0';
        return 1;
    }
#endif
    if (llm_buf_reserve(out, n + SHORT_COPY) < 0)
        return 1;
    /* Built in place in out's storage: whitespace only shrinks, so n bytes suffice, and
     * SHORT_COPY more take copy_run's overshoot. */
    st.dst = out->data + out->len;
    while (i < n) {
        ws_before_word(&st);
        copy_run(st.dst + st.w, s + i, run - i, n - i);
        st.w += run - i;
        i = skip_whitespace(s, run, n, 1 + (size_t)max_blank, &st);
        if (i < n)
            run = next_break(s, i, n, hint);
    }
    out->len += st.w;
    out->data[out->len] = '\0';
    return 1;
}
